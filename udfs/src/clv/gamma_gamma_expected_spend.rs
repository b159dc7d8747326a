//! `gamma_gamma_expected_spend(params, frequency, monetary)`: a customer's expected mean spend
//! per transaction.

use std::sync::{Arc, LazyLock, OnceLock};

use datafusion::logical_expr::{Documentation, ScalarUDF};

use super::gamma_gamma::GammaGamma;
use super::model_fn::ModelScalar;
use super::{DOC_SECTION, GG_FIELDS};

/// Shared instance of `gamma_gamma_expected_spend`.
pub fn gamma_gamma_expected_spend_udf() -> Arc<ScalarUDF> {
    static INSTANCE: OnceLock<Arc<ScalarUDF>> = OnceLock::new();
    INSTANCE
        .get_or_init(|| {
            ModelScalar::new(
                "gamma_gamma_expected_spend",
                &DOC,
                "gamma_gamma_fit",
                &GG_FIELDS,
                apply,
            )
        })
        .clone()
}

fn apply(p: &[f64], v: &[f64]) -> Option<f64> {
    GammaGamma {
        p: p[0],
        q: p[1],
        v: p[2],
    }
    .expected_spend(v[0], v[1])
}

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION,
        "The mean spend per transaction a customer is expected to have, given their frequency and \
         mean spend so far, under parameters from gamma_gamma_fit: a weighted mean of the \
         population's mean spend and the customer's own, weighted towards the customer's the more \
         purchases they made. For a customer without repeat purchases it is the population mean.",
        "gamma_gamma_expected_spend(params, frequency, monetary)",
    )
    .with_argument("params", "The struct gamma_gamma_fit returns.")
    .with_argument("frequency", "Repeat purchases.")
    .with_argument("monetary", "Mean value of the repeat purchases.")
    .with_sql_example(
        "WITH g AS (SELECT gamma_gamma_fit(x, zbar) AS g FROM cdnow_summary)\nSELECT \"ID\", gamma_gamma_expected_spend(g.g, x, zbar) FROM cdnow_summary, g;",
    )
    .build()
});
