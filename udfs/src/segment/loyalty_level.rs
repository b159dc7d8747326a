//! `loyalty_level(points)`: the loyalty level a points balance reaches under
//! `persona.loyalty.levels`.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, ArrayRef, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::{DOC_SECTION, options};
use crate::args::floats;
use crate::user_defined_udf;

user_defined_udf!(
    LoyaltyLevelFunc,
    loyalty_level_udf,
    Volatility::Stable,
    "`loyalty_level`."
);

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION,
        "The highest loyalty level whose minimum the points reach, from persona.loyalty.levels \
         ('name:min_points,...'; by default 普通会员 0, 银卡会员 1000, 金卡会员 5000, 钻石会员 20000, \
         or Member, Silver, Gold, Diamond when persona.lang is 'en'). NULL below the first level.",
        "loyalty_level(points)",
    )
    .with_argument("points", "A points balance.")
    .with_sql_example("SELECT loyalty_level(6200);\n-- 金卡会员")
    .build()
});

impl ScalarUDFImpl for LoyaltyLevelFunc {
    fn name(&self) -> &str {
        "loyalty_level"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types {
            [t] if t.is_numeric() || t.is_null() => Ok(vec![DataType::Float64]),
            _ => plan_err!("loyalty_level takes one argument, a number of points"),
        }
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let levels = options(&args.config_options).loyalty_levels();
        let arrays: Vec<ArrayRef> = ColumnarValue::values_to_arrays(&args.args)?;
        let points = floats(&arrays[0])?;
        let out: StringArray = (0..args.number_rows)
            .map(|i| {
                if points.is_null(i) {
                    return None;
                }
                let p = points.value(i);
                levels
                    .iter()
                    .rev()
                    .find(|(_, min)| p >= *min)
                    .map(|(name, _)| name.as_str())
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}
