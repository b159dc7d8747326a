//! `pareto_nbd_fit(frequency, recency, T)`: fits the Pareto/NBD model over the rows it
//! aggregates.

use std::sync::{Arc, LazyLock, OnceLock};

use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{AggregateUDF, Documentation};

use super::model_fn::FitAggregate;
use super::sample::fit_struct;
use super::{DOC_SECTION, bgnbd_fit, pareto_nbd};

/// Shared instance of `pareto_nbd_fit`.
pub fn pareto_nbd_fit_udaf() -> Arc<AggregateUDF> {
    static INSTANCE: OnceLock<Arc<AggregateUDF>> = OnceLock::new();
    INSTANCE
        .get_or_init(|| {
            FitAggregate::new(
                "pareto_nbd_fit",
                &DOC,
                &["x", "t_x", "t"],
                &FIELDS,
                bgnbd_fit::keep,
                finish,
            )
        })
        .clone()
}

/// Pareto/NBD parameters and fit quality, the fields of `pareto_nbd_fit`'s struct.
pub const FIELDS: [&str; 5] = ["r", "alpha", "s", "beta", "log_likelihood"];

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION,
        "Fits the Pareto/NBD model of repeat buying (Schmittlein, Morrison & Colombo 1987) by \
         maximum likelihood over the rows it aggregates, one row per customer. Unlike BG/NBD, \
         customers may drop out at any time, not only after a purchase. Returns a struct \
         {r, alpha, s, beta, log_likelihood, converged}; pass it to pareto_nbd_expected_purchases \
         and pareto_nbd_p_alive. Rows with a NULL or a negative value, or recency above T, are left \
         out. The shapes r and s are searched up to 100 (a spread of rates of 10%): where the \
         customers' purchase or dropout rates look all equal, the likelihood keeps rising as a \
         shape grows, and the fit stops at 100 with converged false.",
        "pareto_nbd_fit(frequency, recency, T)",
    )
    .with_argument("frequency", "Repeat purchases: the number of purchase periods after the first.")
    .with_argument("recency", "Time from the first to the last purchase.")
    .with_argument("T", "Time from the first purchase to the end of the observation.")
    .with_sql_example(
        "SELECT pareto_nbd_fit(x, t_x, \"T\") AS p FROM cdnow_summary;\n-- {r: 0.5533, alpha: 10.5776, s: 0.6062, beta: 11.6679, log_likelihood: -9594.97, converged: true}",
    )
    .build()
});

fn finish(rows: &[f64], width: usize) -> Result<ScalarValue> {
    let data: Vec<(f64, f64, f64)> = rows
        .chunks_exact(width)
        .map(|r| (r[0], r[1], r[2]))
        .collect();
    let fit = pareto_nbd::fit(&data).map(|f| {
        let p = f.params;
        (
            vec![p.r, p.alpha, p.s, p.beta, f.log_likelihood],
            f.converged,
        )
    });
    fit_struct(&FIELDS, fit)
}
