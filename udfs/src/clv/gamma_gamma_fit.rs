//! `gamma_gamma_fit(frequency, monetary)`: fits the Gamma-Gamma spend model over the rows it
//! aggregates.

use std::sync::{Arc, LazyLock, OnceLock};

use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{AggregateUDF, Documentation};

use super::model_fn::FitAggregate;
use super::sample::fit_struct;
use super::{DOC_SECTION, gamma_gamma};

/// Shared instance of `gamma_gamma_fit`.
pub fn gamma_gamma_fit_udaf() -> Arc<AggregateUDF> {
    static INSTANCE: OnceLock<Arc<AggregateUDF>> = OnceLock::new();
    INSTANCE
        .get_or_init(|| {
            FitAggregate::new("gamma_gamma_fit", &DOC, &["x", "m"], &FIELDS, keep, finish)
        })
        .clone()
}

/// The fields of `gamma_gamma_fit`'s struct (followed by `converged`).
pub const FIELDS: [&str; 4] = ["p", "q", "v", "log_likelihood"];

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION,
        "Fits the Gamma-Gamma model of spend per transaction (Fader, Hardie & Lee 2005) by maximum \
         likelihood over the rows it aggregates, one row per customer. Only customers with repeat \
         purchases (frequency > 0) and a positive mean spend carry information; other rows are left \
         out. Returns a struct {p, q, v, log_likelihood, converged} for gamma_gamma_expected_spend.",
        "gamma_gamma_fit(frequency, monetary)",
    )
    .with_argument("frequency", "Repeat purchases.")
    .with_argument("monetary", "Mean value of the repeat purchases.")
    .with_sql_example(
        "SELECT gamma_gamma_fit(x, zbar) FROM cdnow_summary;\n-- {p: 6.2488, q: 3.7446, v: 15.4477, log_likelihood: -4055.92, converged: true}",
    )
    .build()
});

fn keep(row: &[f64]) -> bool {
    row[0] > 0.0 && row[1] > 0.0
}

fn finish(rows: &[f64], width: usize) -> Result<ScalarValue> {
    let data: Vec<(f64, f64)> = rows.chunks_exact(width).map(|r| (r[0], r[1])).collect();
    let fit = gamma_gamma::fit(&data).map(|f| {
        (
            vec![f.params.p, f.params.q, f.params.v, f.log_likelihood],
            f.converged,
        )
    });
    fit_struct(&FIELDS, fit)
}
