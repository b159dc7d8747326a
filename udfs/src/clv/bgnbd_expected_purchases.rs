//! `bgnbd_expected_purchases(params, t, frequency, recency, T)`: expected purchases in the next
//! `t` time units.

use std::sync::LazyLock;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::bgnbd::BgNbd;
use super::{BGNBD_FIELDS, DOC_SECTION, apply_model, coerce_documented};
use crate::make_udf_function;

make_udf_function!(BgNbdExpectedPurchasesFunc, bgnbd_expected_purchases_udf);

/// E[purchases in (T, T + t] | x, t_x, T] under fitted BG/NBD parameters (eq. 10 of the paper).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct BgNbdExpectedPurchasesFunc {
    signature: Signature,
}

impl Default for BgNbdExpectedPurchasesFunc {
    fn default() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
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

impl ScalarUDFImpl for BgNbdExpectedPurchasesFunc {
    fn name(&self) -> &str {
        "bgnbd_expected_purchases"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce_documented(
            self.name(),
            &DOC,
            arg_types,
            Some(("bgnbd_fit", &BGNBD_FIELDS)),
        )
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        apply_model(&args.args, args.number_rows, &BGNBD_FIELDS, |p, v| {
            BgNbd {
                r: p[0],
                alpha: p[1],
                a: p[2],
                b: p[3],
            }
            .expected_purchases(v[0], v[1], v[2], v[3])
        })
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}
