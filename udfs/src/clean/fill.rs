//! Filling gaps in ordered data: `locf` (last observation carried forward) and
//! `interpolate_linear`, window functions over `OVER (PARTITION BY … ORDER BY …)`.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, ArrayRef, Float64Array, UInt32Array};
use datafusion::arrow::compute::take;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, plan_err};
use datafusion::logical_expr::function::{PartitionEvaluatorArgs, WindowUDFFieldArgs};
use datafusion::logical_expr::{
    Documentation, LimitEffect, PartitionEvaluator, Signature, WindowUDFImpl,
};
use datafusion::physical_expr::PhysicalExpr;

use super::DOC_SECTION;

crate::user_defined_udwf!(LocfFunc, locf_udwf, "`locf`.");
crate::user_defined_udwf!(
    InterpolateLinearFunc,
    interpolate_linear_udwf,
    "`interpolate_linear`."
);

static LOCF_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION,
        "Window function: last observation carried forward. Each NULL becomes the latest \
         non-NULL value before it in the window's order within its partition; NULLs before \
         the first value stay NULL. Works on any type (numbers, decimals, text, dates, \
         timestamps) and returns the same type. For other fills use the built-in window \
         aggregates: the group median with coalesce(x, median(x) OVER (PARTITION BY g)), the \
         group mean with avg, and the group mode with a subquery (see the example).",
        "locf(x) OVER (PARTITION BY customer ORDER BY ts)",
    )
    .with_argument("x", "The column with gaps.")
    .with_sql_example(
        "SELECT customer_id, ts,\n\
         \x20      locf(city) OVER (PARTITION BY customer_id ORDER BY ts) AS city\n\
         FROM events;\n\n\
         -- Group median fill:\n\
         SELECT coalesce(amount, median(amount) OVER (PARTITION BY city)) FROM orders;\n\n\
         -- Group mode fill:\n\
         SELECT o.order_id, coalesce(o.channel, m.channel) AS channel\n\
         FROM orders o LEFT JOIN (\n\
         \x20   SELECT city, channel FROM (\n\
         \x20       SELECT city, channel, row_number() OVER (PARTITION BY city ORDER BY count(*) DESC, channel) AS r\n\
         \x20       FROM orders WHERE channel IS NOT NULL GROUP BY city, channel)\n\
         \x20   WHERE r = 1) m USING (city);",
    )
    .build()
});

static INTERPOLATE_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION,
        "Window function: linear interpolation of NULLs by row position. A NULL between two \
         non-NULL values in the window's order within its partition becomes the point on the \
         line between them (rows are taken as equally spaced); NULLs before the first or after \
         the last value stay NULL. x is numeric; the result is Float64.",
        "interpolate_linear(x) OVER (PARTITION BY customer ORDER BY ts)",
    )
    .with_argument("x", "A numeric column with gaps.")
    .with_sql_example(
        "SELECT day, interpolate_linear(weight) OVER (PARTITION BY customer_id ORDER BY day)\n\
         FROM measurements;\n\
         -- 10, NULL, NULL, 16 → 10, 12, 14, 16",
    )
    .build()
});

/// The index of the latest non-null row at or before each row, NULL before the first.
fn carried_indices(values: &dyn Array) -> UInt32Array {
    let mut last: Option<u32> = None;
    (0..values.len())
        .map(|i| {
            if values.is_valid(i) {
                last = Some(i as u32);
            }
            last
        })
        .collect()
}

#[derive(Debug)]
struct LocfEvaluator;

impl PartitionEvaluator for LocfEvaluator {
    fn evaluate_all(&mut self, values: &[ArrayRef], _num_rows: usize) -> Result<ArrayRef> {
        let indices = carried_indices(values[0].as_ref());
        Ok(take(values[0].as_ref(), &indices, None)?)
    }
}

/// Linear interpolation over a partition.
pub fn interpolate(values: &Float64Array) -> Float64Array {
    let n = values.len();
    let mut out: Vec<Option<f64>> = values.iter().collect();
    let mut prev: Option<usize> = None;
    for i in 0..n {
        if values.is_null(i) {
            continue;
        }
        if let Some(p) = prev
            && i > p + 1
        {
            let (a, b) = (values.value(p), values.value(i));
            let span = (i - p) as f64;
            for (k, slot) in out.iter_mut().enumerate().take(i).skip(p + 1) {
                *slot = Some(a + (b - a) * (k - p) as f64 / span);
            }
        }
        prev = Some(i);
    }
    Float64Array::from(out)
}

#[derive(Debug)]
struct InterpolateEvaluator;

impl PartitionEvaluator for InterpolateEvaluator {
    fn evaluate_all(&mut self, values: &[ArrayRef], _num_rows: usize) -> Result<ArrayRef> {
        let floats = crate::args::floats(&values[0])?;
        Ok(Arc::new(interpolate(&floats)))
    }
}

impl WindowUDFImpl for LocfFunc {
    fn name(&self) -> &str {
        "locf"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types {
            [t] => Ok(vec![t.clone()]),
            _ => plan_err!("locf takes 1 argument, got {}", arg_types.len()),
        }
    }

    fn partition_evaluator(
        &self,
        _args: PartitionEvaluatorArgs,
    ) -> Result<Box<dyn PartitionEvaluator>> {
        Ok(Box::new(LocfEvaluator))
    }

    fn field(&self, field_args: WindowUDFFieldArgs) -> Result<FieldRef> {
        let t = field_args
            .input_fields()
            .first()
            .map_or(DataType::Null, |f| f.data_type().clone());
        Ok(Arc::new(Field::new(field_args.name(), t, true)))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&LOCF_DOC)
    }

    fn limit_effect(&self, _args: &[Arc<dyn PhysicalExpr>]) -> LimitEffect {
        LimitEffect::Unknown
    }
}

impl WindowUDFImpl for InterpolateLinearFunc {
    fn name(&self) -> &str {
        "interpolate_linear"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types {
            [t] if t.is_numeric() || t.is_null() => Ok(vec![DataType::Float64]),
            [t] => plan_err!("interpolate_linear takes a numeric argument, got {t}"),
            _ => plan_err!(
                "interpolate_linear takes 1 argument, got {}",
                arg_types.len()
            ),
        }
    }

    fn partition_evaluator(
        &self,
        _args: PartitionEvaluatorArgs,
    ) -> Result<Box<dyn PartitionEvaluator>> {
        Ok(Box::new(InterpolateEvaluator))
    }

    fn field(&self, field_args: WindowUDFFieldArgs) -> Result<FieldRef> {
        Ok(Arc::new(Field::new(
            field_args.name(),
            DataType::Float64,
            true,
        )))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&INTERPOLATE_DOC)
    }

    fn limit_effect(&self, _args: &[Arc<dyn PhysicalExpr>]) -> LimitEffect {
        LimitEffect::Unknown
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::StringArray;

    #[test]
    fn clean_locf_carries_the_last_value() {
        let v = StringArray::from(vec![None, Some("a"), None, None, Some("b"), None]);
        let out = LocfEvaluator.evaluate_all(&[Arc::new(v)], 6).unwrap();
        let out = out.as_any().downcast_ref::<StringArray>().unwrap();
        let got: Vec<Option<&str>> = out.iter().collect();
        assert_eq!(
            got,
            vec![None, Some("a"), Some("a"), Some("a"), Some("b"), Some("b")]
        );
    }

    #[test]
    fn clean_interpolation_between_values_only() {
        let v = Float64Array::from(vec![None, Some(10.0), None, None, Some(16.0), None]);
        let got: Vec<Option<f64>> = interpolate(&v).iter().collect();
        assert_eq!(
            got,
            vec![None, Some(10.0), Some(12.0), Some(14.0), Some(16.0), None]
        );
        let empty = Float64Array::from(Vec::<Option<f64>>::new());
        assert_eq!(interpolate(&empty).len(), 0);
    }
}
