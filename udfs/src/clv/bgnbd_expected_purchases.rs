//! `bgnbd_expected_purchases(params, t, frequency, recency, T)`: expected purchases in the next
//! `t` time units.

use std::sync::LazyLock;

use datafusion::arrow::array::{Array, ArrayRef, Float64Array};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::{DOC_SECTION, bgnbd_params, check_params, coerce_numeric, floats};
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
        if arg_types.len() != 5 {
            return plan_err!(
                "bgnbd_expected_purchases takes 5 arguments (params, t, frequency, recency, T), got {}",
                arg_types.len()
            );
        }
        check_params(
            self.name(),
            "bgnbd_fit",
            &arg_types[0],
            &["r", "alpha", "a", "b"],
        )?;
        coerce_numeric(self.name(), arg_types, 1)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        let arrays: Vec<ArrayRef> = ColumnarValue::values_to_arrays(&args.args)?;
        let params = bgnbd_params(&arrays[0])?;
        let h = floats(&arrays[1])?;
        let (x, t_x, t) = (
            floats(&arrays[2])?,
            floats(&arrays[3])?,
            floats(&arrays[4])?,
        );
        let out: Float64Array = (0..n)
            .map(|i| {
                let p = params.get(i).copied().flatten()?;
                let valid = h.is_valid(i) && x.is_valid(i) && t_x.is_valid(i) && t.is_valid(i);
                if !valid {
                    return None;
                }
                p.expected_purchases(h.value(i), x.value(i), t_x.value(i), t.value(i))
            })
            .collect();
        Ok(ColumnarValue::Array(std::sync::Arc::new(out)))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}
