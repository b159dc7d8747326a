//! `bgnbd_expected_purchases(params, t, frequency, recency, T)`: expected purchases in the next
//! `t` time units.

use std::sync::{Arc, LazyLock, OnceLock};

use datafusion::logical_expr::{Documentation, ScalarUDF};

use super::bgnbd::BgNbd;
use super::model_fn::ModelScalar;
use super::{BGNBD_FIELDS, DOC_SECTION};

/// Shared instance of `bgnbd_expected_purchases`.
pub fn bgnbd_expected_purchases_udf() -> Arc<ScalarUDF> {
    static INSTANCE: OnceLock<Arc<ScalarUDF>> = OnceLock::new();
    INSTANCE
        .get_or_init(|| {
            ModelScalar::new(
                "bgnbd_expected_purchases",
                &DOC,
                "bgnbd_fit",
                &BGNBD_FIELDS,
                apply,
            )
        })
        .clone()
}

fn apply(p: &[f64], v: &[f64]) -> Option<f64> {
    let model = BgNbd {
        r: p[0],
        alpha: p[1],
        a: p[2],
        b: p[3],
    };
    model.expected_purchases(v[0], v[1], v[2], v[3])
}

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION,
        "The number of purchases a customer is expected to make in the next t time units, given \
         their frequency, recency and T, under BG/NBD parameters from bgnbd_fit (the conditional \
         expectation, eq. 10 of Fader, Hardie & Lee 2005). t is in the unit the model was fitted in.",
        "bgnbd_expected_purchases(params, t, frequency, recency, T)",
    )
    .with_argument("params", "The struct bgnbd_fit returns.")
    .with_argument("t", "The horizon, in the model's time unit.")
    .with_argument("frequency", "Repeat purchases.")
    .with_argument("recency", "Time from the first to the last purchase.")
    .with_argument("T", "Time from the first purchase to the end of the observation.")
    .with_sql_example(
        "WITH p AS (SELECT bgnbd_fit(x, t_x, \"T\") AS p FROM cdnow_summary)\nSELECT bgnbd_expected_purchases(p.p, 39, 2, 30.43, 38.86) FROM p;\n-- 1.226",
    )
    .build()
});
