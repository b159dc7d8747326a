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
        let arrays: Vec<ArrayRef> = crate::args::arrays(&args.args, args.number_rows)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::Field;
    use datafusion::common::ScalarValue;
    use datafusion::common::config::ConfigOptions;

    /// Regression: a scalar argument over a batch of several rows read past the end of a
    /// one-row array and panicked (seen on tag_loyalty_level over 100k customers).
    #[test]
    fn scalar_argument_over_many_rows_does_not_panic() {
        let args = ScalarFunctionArgs {
            args: vec![ColumnarValue::Scalar(ScalarValue::Float64(Some(1500.0)))],
            arg_fields: vec![Arc::new(Field::new("p", DataType::Float64, true))],
            number_rows: 3,
            return_field: Arc::new(Field::new("l", DataType::Utf8, true)),
            config_options: Arc::new(ConfigOptions::new()),
        };
        let out = loyalty_level_udf().invoke_with_args(args).unwrap();
        let ColumnarValue::Array(a) = out else {
            panic!("an array")
        };
        assert_eq!(a.len(), 3);
    }
}
