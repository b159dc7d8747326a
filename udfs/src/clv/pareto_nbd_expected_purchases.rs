//! `pareto_nbd_expected_purchases(params, t, frequency, recency, T)`: expected purchases in the
//! next `t` time units under Pareto/NBD.

use std::sync::{Arc, LazyLock, OnceLock};

use datafusion::logical_expr::{Documentation, ScalarUDF};

use super::model_fn::ModelScalar;
use super::pareto_nbd::ParetoNbd;
use super::{DOC_SECTION, PARETO_FIELDS};

/// Shared instance of `pareto_nbd_expected_purchases`.
pub fn pareto_nbd_expected_purchases_udf() -> Arc<ScalarUDF> {
    static INSTANCE: OnceLock<Arc<ScalarUDF>> = OnceLock::new();
    INSTANCE
        .get_or_init(|| {
            ModelScalar::new(
                "pareto_nbd_expected_purchases",
                &DOC,
                "pareto_nbd_fit",
                &PARETO_FIELDS,
                apply,
            )
        })
        .clone()
}

fn apply(p: &[f64], v: &[f64]) -> Option<f64> {
    ParetoNbd::from_slice(p).expected_purchases(v[0], v[1], v[2], v[3])
}

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION,
        "The number of purchases a customer is expected to make in the next t time units, given \
         their frequency, recency and T, under Pareto/NBD parameters from pareto_nbd_fit (eq. 25 \
         of Fader & Hardie's note on the model). t is in the unit the model was fitted in.",
        "pareto_nbd_expected_purchases(params, t, frequency, recency, T)",
    )
    .with_argument("params", "The struct pareto_nbd_fit returns.")
    .with_argument("t", "The horizon, in the model's time unit.")
    .with_argument("frequency", "Repeat purchases.")
    .with_argument("recency", "Time from the first to the last purchase.")
    .with_argument("T", "Time from the first purchase to the end of the observation.")
    .with_sql_example(
        "WITH p AS (SELECT pareto_nbd_fit(x, t_x, \"T\") AS p FROM cdnow_summary)\nSELECT pareto_nbd_expected_purchases(p.p, 39, 2, 30.43, 38.86) FROM p;",
    )
    .build()
});
