//! `bgnbd_p_alive(params, frequency, recency, T)`: the probability a customer is still active.

use std::sync::{Arc, LazyLock, OnceLock};

use datafusion::logical_expr::{Documentation, ScalarUDF};

use super::bgnbd::BgNbd;
use super::model_fn::ModelScalar;
use super::{BGNBD_FIELDS, DOC_SECTION};

/// Shared instance of `bgnbd_p_alive`.
pub fn bgnbd_p_alive_udf() -> Arc<ScalarUDF> {
    static INSTANCE: OnceLock<Arc<ScalarUDF>> = OnceLock::new();
    INSTANCE
        .get_or_init(|| ModelScalar::new("bgnbd_p_alive", &DOC, "bgnbd_fit", &BGNBD_FIELDS, apply))
        .clone()
}

fn apply(p: &[f64], v: &[f64]) -> Option<f64> {
    let model = BgNbd {
        r: p[0],
        alpha: p[1],
        a: p[2],
        b: p[3],
    };
    Some(model.p_alive(v[0], v[1], v[2]))
}

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION,
        "The probability that a customer is still active (has not dropped out) given their \
         frequency, recency and T, under BG/NBD parameters from bgnbd_fit. 1 for customers \
         without repeat purchases, as the model defines it. Churn risk is 1 minus this.",
        "bgnbd_p_alive(params, frequency, recency, T)",
    )
    .with_argument("params", "The struct bgnbd_fit returns.")
    .with_argument("frequency", "Repeat purchases.")
    .with_argument("recency", "Time from the first to the last purchase.")
    .with_argument("T", "Time from the first purchase to the end of the observation.")
    .with_sql_example(
        "WITH p AS (SELECT bgnbd_fit(x, t_x, \"T\") AS p FROM cdnow_summary)\nSELECT \"ID\", bgnbd_p_alive(p.p, x, t_x, \"T\") FROM cdnow_summary, p;",
    )
    .build()
});
