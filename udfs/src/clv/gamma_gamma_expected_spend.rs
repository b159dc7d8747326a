//! `gamma_gamma_expected_spend(params, frequency, monetary)`: a customer's expected mean spend
//! per transaction.

use std::sync::LazyLock;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::gamma_gamma::GammaGamma;
use super::{DOC_SECTION, GG_FIELDS, apply_model, coerce_documented};
use crate::make_udf_function;

make_udf_function!(GammaGammaExpectedSpendFunc, gamma_gamma_expected_spend_udf);

/// E[mean spend | x, m] under fitted Gamma-Gamma parameters.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct GammaGammaExpectedSpendFunc {
    signature: Signature,
}

impl Default for GammaGammaExpectedSpendFunc {
    fn default() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
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

impl ScalarUDFImpl for GammaGammaExpectedSpendFunc {
    fn name(&self) -> &str {
        "gamma_gamma_expected_spend"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce_documented(
            self.name(),
            &DOC,
            arg_types,
            Some(("gamma_gamma_fit", &GG_FIELDS)),
        )
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        apply_model(&args.args, args.number_rows, &GG_FIELDS, |p, v| {
            GammaGamma {
                p: p[0],
                q: p[1],
                v: p[2],
            }
            .expected_spend(v[0], v[1])
        })
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}
