//! `bgnbd_p_alive(params, frequency, recency, T)`: the probability a customer is still active.

use std::sync::LazyLock;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::bgnbd::BgNbd;
use super::{BGNBD_FIELDS, DOC_SECTION, apply_model, coerce_documented};
use crate::make_udf_function;

make_udf_function!(BgNbdPAliveFunc, bgnbd_p_alive_udf);

/// P(alive | x, t_x, T) under fitted BG/NBD parameters.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct BgNbdPAliveFunc {
    signature: Signature,
}

impl Default for BgNbdPAliveFunc {
    fn default() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
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

impl ScalarUDFImpl for BgNbdPAliveFunc {
    fn name(&self) -> &str {
        "bgnbd_p_alive"
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
            Some(
                BgNbd {
                    r: p[0],
                    alpha: p[1],
                    a: p[2],
                    b: p[3],
                }
                .p_alive(v[0], v[1], v[2]),
            )
        })
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}
