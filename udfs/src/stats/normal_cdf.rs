//! `normal_cdf(x [, mean, sd])`: the cumulative distribution function of the normal
//! distribution, through `erfc` so that far tails keep their relative precision (a p-value of
//! 1e-12 is not rounded to 0 as `1 - Φ(x)` would round it).

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, ArrayRef, Float64Array};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::DOC_SECTION;
use crate::args::floats;
use crate::user_defined_udf;

user_defined_udf!(
    NormalCdfFunc,
    normal_cdf_udf,
    Volatility::Immutable,
    "`normal_cdf`."
);

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION,
        "The probability that a normal variable is at most x (mean 0 and standard deviation 1 \
         unless given). A two-sided p-value of a z statistic is 2 * normal_cdf(-abs(z)). NULL \
         when an argument is NULL or the standard deviation is not positive.",
        "normal_cdf(x [, mean, sd])",
    )
    .with_argument("x", "The value.")
    .with_argument("mean", "The mean (default 0).")
    .with_argument("sd", "The standard deviation (default 1).")
    .with_sql_example("SELECT round(2 * normal_cdf(-1.96), 4);\n-- 0.05")
    .build()
});

/// Φ((x - mean) / sd).
pub fn normal_cdf(x: f64, mean: f64, sd: f64) -> f64 {
    0.5 * libm::erfc(-(x - mean) / (sd * std::f64::consts::SQRT_2))
}

impl ScalarUDFImpl for NormalCdfFunc {
    fn name(&self) -> &str {
        "normal_cdf"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if matches!(arg_types.len(), 1 | 3)
            && arg_types.iter().all(|t| t.is_numeric() || t.is_null())
        {
            Ok(vec![DataType::Float64; arg_types.len()])
        } else {
            plan_err!("normal_cdf takes a number, and optionally a mean and a standard deviation")
        }
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays: Vec<ArrayRef> = crate::args::arrays(&args.args, args.number_rows)?;
        let x = floats(&arrays[0])?;
        let out: Float64Array = if arrays.len() == 1 {
            x.iter()
                .map(|v| v.map(|v| normal_cdf(v, 0.0, 1.0)))
                .collect()
        } else {
            let (mean, sd) = (floats(&arrays[1])?, floats(&arrays[2])?);
            (0..x.len())
                .map(|i| {
                    if x.is_null(i) || mean.is_null(i) || sd.is_null(i) || sd.value(i) <= 0.0 {
                        return None;
                    }
                    Some(normal_cdf(x.value(i), mean.value(i), sd.value(i)))
                })
                .collect()
        };
        Ok(ColumnarValue::Array(Arc::new(out)))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}

#[cfg(test)]
mod tests {
    use super::normal_cdf;

    /// Reference values from R's pnorm.
    #[test]
    fn matches_published_values() {
        for (x, p) in [
            (0.0, 0.5),
            (1.959963984540054, 0.975),
            (-1.0, 0.15865525393145707),
            (-8.0, 6.22096057427178e-16),
            (3.0, 0.9986501019683699),
        ] {
            let got = normal_cdf(x, 0.0, 1.0);
            assert!((got - p).abs() <= 1e-14 + p * 1e-12, "{x}: {got} vs {p}");
        }
        assert!((normal_cdf(110.0, 100.0, 10.0) - 0.8413447460685429).abs() < 1e-14);
    }
}
