//! `bgnbd_fit(frequency, recency, T)`: fits the BG/NBD model over the rows it aggregates.

use std::sync::{Arc, LazyLock, OnceLock};

use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{AggregateUDF, Documentation};

use super::model_fn::FitAggregate;
use super::sample::fit_struct;
use super::{DOC_SECTION, bgnbd};

/// Shared instance of `bgnbd_fit`.
pub fn bgnbd_fit_udaf() -> Arc<AggregateUDF> {
    static INSTANCE: OnceLock<Arc<AggregateUDF>> = OnceLock::new();
    INSTANCE
        .get_or_init(|| {
            FitAggregate::new("bgnbd_fit", &DOC, &["x", "t_x", "t"], &FIELDS, keep, finish)
        })
        .clone()
}

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION,
        "Fits the BG/NBD model of repeat buying (Fader, Hardie & Lee 2005) by maximum likelihood over \
         the rows it aggregates, one row per customer. Returns a struct {r, alpha, a, b, log_likelihood, \
         converged}; pass it to bgnbd_expected_purchases and bgnbd_p_alive. Rows with a NULL or a \
         negative value, or recency above T, are left out. converged is false when the optimiser \
         stopped before the likelihood settled.",
        "bgnbd_fit(frequency, recency, T)",
    )
    .with_argument("frequency", "Repeat purchases: the number of purchase periods after the first.")
    .with_argument("recency", "Time from the first to the last purchase.")
    .with_argument("T", "Time from the first purchase to the end of the observation.")
    .with_sql_example(
        "SELECT bgnbd_fit(x, t_x, \"T\") AS p FROM cdnow_summary;\n-- {r: 0.2426, alpha: 4.4135, a: 0.7929, b: 2.4258, log_likelihood: -9582.43, converged: true}",
    )
    .build()
});

/// BG/NBD parameters and fit quality, the fields of `bgnbd_fit`'s struct.
pub const FIELDS: [&str; 5] = ["r", "alpha", "a", "b", "log_likelihood"];

/// Keeps rows that are a possible (x, t_x, T): none negative, t_x ≤ T, T > 0.
pub fn keep(row: &[f64]) -> bool {
    let (x, t_x, t) = (row[0], row[1], row[2]);
    x >= 0.0 && t_x >= 0.0 && t_x <= t && t > 0.0
}

fn finish(rows: &[f64], width: usize) -> Result<ScalarValue> {
    let data: Vec<(f64, f64, f64)> = rows
        .chunks_exact(width)
        .map(|r| (r[0], r[1], r[2]))
        .collect();
    let fit = bgnbd::fit(&data).map(|f| {
        let p = f.params;
        (vec![p.r, p.alpha, p.a, p.b, f.log_likelihood], f.converged)
    });
    fit_struct(&FIELDS, fit)
}
