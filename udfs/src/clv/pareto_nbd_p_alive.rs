//! `pareto_nbd_p_alive(params, frequency, recency, T)`: the probability a customer is still
//! active under Pareto/NBD.

use std::sync::{Arc, LazyLock, OnceLock};

use datafusion::logical_expr::{Documentation, ScalarUDF};

use super::model_fn::ModelScalar;
use super::pareto_nbd::ParetoNbd;
use super::{DOC_SECTION, PARETO_FIELDS};

/// Shared instance of `pareto_nbd_p_alive`.
pub fn pareto_nbd_p_alive_udf() -> Arc<ScalarUDF> {
    static INSTANCE: OnceLock<Arc<ScalarUDF>> = OnceLock::new();
    INSTANCE
        .get_or_init(|| {
            ModelScalar::new(
                "pareto_nbd_p_alive",
                &DOC,
                "pareto_nbd_fit",
                &PARETO_FIELDS,
                apply,
            )
        })
        .clone()
}

fn apply(p: &[f64], v: &[f64]) -> Option<f64> {
    ParetoNbd::from_slice(p).p_alive(v[0], v[1], v[2])
}

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION,
        "The probability that a customer is still active given their frequency, recency and T, \
         under Pareto/NBD parameters from pareto_nbd_fit (eq. 18 of Fader & Hardie's note on the \
         model). 1 for a customer whose last purchase is at the end of the observation.",
        "pareto_nbd_p_alive(params, frequency, recency, T)",
    )
    .with_argument("params", "The struct pareto_nbd_fit returns.")
    .with_argument("frequency", "Repeat purchases.")
    .with_argument("recency", "Time from the first to the last purchase.")
    .with_argument("T", "Time from the first purchase to the end of the observation.")
    .with_sql_example(
        "WITH p AS (SELECT pareto_nbd_fit(x, t_x, \"T\") AS p FROM cdnow_summary)\nSELECT \"ID\", pareto_nbd_p_alive(p.p, x, t_x, \"T\") FROM cdnow_summary, p;",
    )
    .build()
});
