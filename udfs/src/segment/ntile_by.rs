//! `ntile_by(n, value, tiebreak…) OVER (…)`: `NTILE(n) OVER (ORDER BY value, tiebreak…)`
//! computed from the sort keys alone.
//!
//! Scoring customers into quantiles is the core of RFM, and every dimension is another
//! `NTILE` window. As a window with an ORDER BY each one sorts whole rows (every column of the
//! customer table, converted to DataFusion's row format) on one core. Here the window has no
//! ORDER BY: the partition's key columns are sorted to row indices (arrow's lexicographic
//! sort, primitive comparisons), and each row's bucket follows from its position. Three
//! dimensions in one `OVER ()` share one pass over the partition.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{ArrayRef, UInt32Array, UInt64Array};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::compute::{SortColumn, SortOptions, lexsort_to_indices, sort_to_indices};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::logical_expr::function::{
    ExpressionArgs, PartitionEvaluatorArgs, WindowUDFFieldArgs,
};
use datafusion::logical_expr::{
    Documentation, LimitEffect, PartitionEvaluator, Signature, WindowUDFImpl,
};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Literal;

use super::DOC_SECTION;

crate::user_defined_udwf!(NtileByFunc, ntile_by_udwf, "`ntile_by`.");

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION,
        "Window function: the bucket (1..n) of each row when the window partition is ordered \
         by value, then by each tiebreak, ascending with NULLs last, and cut into n buckets \
         whose sizes differ by at most one, the larger first: NTILE(n) OVER (ORDER BY value, \
         tiebreak...) without sorting the rows themselves. Order descending by negating the \
         value (-recency_days). Several ntile_by over the same OVER () share one pass.",
        "ntile_by(n, value [, tiebreak ...]) OVER ([PARTITION BY ...])",
    )
    .with_argument("n", "The number of buckets, a positive constant.")
    .with_argument(
        "value",
        "What the rows are ordered by: a number, date, time or text.",
    )
    .with_argument(
        "tiebreak",
        "Further sort keys for rows with equal values, e.g. the customer id.",
    )
    .with_sql_example(
        "SELECT customer_id,\n\
         \x20      ntile_by(5, -days_since_last_order, customer_id) OVER () AS r,\n\
         \x20      ntile_by(5, orders, customer_id) OVER () AS f\n\
         FROM customer_orders WHERE orders > 0;",
    )
    .build()
});

/// The bucket (from 1) of the row at `position` (from 0) of `rows` cut into `n` buckets, as
/// NTILE: the first `rows % n` buckets hold one row more.
pub fn bucket(position: u64, rows: u64, n: u64) -> u64 {
    if n >= rows {
        return position + 1;
    }
    let (size, larger) = (rows / n, rows % n);
    if position < larger * (size + 1) {
        position / (size + 1) + 1
    } else {
        (position - larger) / size + 1
    }
}

#[derive(Debug)]
struct NtileByEvaluator {
    n: u64,
}

impl PartitionEvaluator for NtileByEvaluator {
    fn evaluate_all(&mut self, values: &[ArrayRef], num_rows: usize) -> Result<ArrayRef> {
        let options = Some(SortOptions {
            descending: false,
            nulls_first: false,
        });
        let order = if let Some(order) = native_order(values) {
            order
        } else if let [only] = values {
            sort_to_indices(only.as_ref(), options, None)?
        } else {
            let columns: Vec<SortColumn> = values
                .iter()
                .map(|v| SortColumn {
                    values: Arc::clone(v),
                    options,
                })
                .collect();
            lexsort_to_indices(&columns, None)?
        };
        let mut out = vec![0u64; num_rows];
        let rows = num_rows as u64;
        for (position, &row) in order.values().iter().enumerate() {
            out[row as usize] = bucket(position as u64, rows, self.n);
        }
        Ok(Arc::new(UInt64Array::from(out)))
    }
}

/// A sort key: whether the value is NULL (NULLs last), then the value as an unsigned number
/// that orders as the value does.
type Key = (bool, u128);

/// A key column: its values as unsigned numbers that order as the values do (64 bits for
/// all but decimals, which take 128), and where it is NULL.
struct KeyColumn {
    values: KeyValues,
    nulls: Option<NullBuffer>,
}

enum KeyValues {
    Narrow(Vec<u64>),
    Wide(Vec<u128>),
}

impl KeyColumn {
    fn is_null(&self, row: usize) -> bool {
        self.nulls.as_ref().is_some_and(|n| n.is_null(row))
    }

    fn value(&self, row: usize) -> u128 {
        match &self.values {
            KeyValues::Narrow(v) => u128::from(v[row]),
            KeyValues::Wide(v) => v[row],
        }
    }

    fn key(&self, row: usize) -> Key {
        if self.is_null(row) {
            (true, 0)
        } else {
            (false, self.value(row))
        }
    }

    fn len(&self) -> usize {
        match &self.values {
            KeyValues::Narrow(v) => v.len(),
            KeyValues::Wide(v) => v.len(),
        }
    }
}

/// A column as a [`KeyColumn`], for the number, date and time types; None for others.
fn order_keys(array: &ArrayRef) -> Option<KeyColumn> {
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::{
        Date32Type, Date64Type, Decimal128Type, Float32Type, Float64Type, Int8Type, Int16Type,
        Int32Type, Int64Type, TimestampMicrosecondType, TimestampMillisecondType,
        TimestampNanosecondType, TimestampSecondType, UInt8Type, UInt16Type, UInt32Type,
        UInt64Type,
    };
    let signed = |v: i64| (v as u64) ^ (1 << 63);
    // IEEE 754 bits flipped so that unsigned order is numeric order (f64::total_cmp).
    let float = |v: f64| {
        let b = v.to_bits();
        if b >> 63 == 1 { !b } else { b | 1 << 63 }
    };
    macro_rules! keys {
        ($t:ty, $f:expr) => {{
            let a = array.as_primitive::<$t>();
            KeyValues::Narrow(a.values().iter().map(|&v| $f(v)).collect())
        }};
    }
    let values = match array.data_type() {
        DataType::Int8 => keys!(Int8Type, |v: i8| signed(v.into())),
        DataType::Int16 => keys!(Int16Type, |v: i16| signed(v.into())),
        DataType::Int32 => keys!(Int32Type, |v: i32| signed(v.into())),
        DataType::Int64 => keys!(Int64Type, signed),
        DataType::UInt8 => keys!(UInt8Type, u64::from),
        DataType::UInt16 => keys!(UInt16Type, u64::from),
        DataType::UInt32 => keys!(UInt32Type, u64::from),
        DataType::UInt64 => keys!(UInt64Type, |v: u64| v),
        DataType::Float32 => keys!(Float32Type, |v: f32| float(v.into())),
        DataType::Float64 => keys!(Float64Type, float),
        DataType::Decimal128(_, _) => {
            let a = array.as_primitive::<Decimal128Type>();
            KeyValues::Wide(
                a.values()
                    .iter()
                    .map(|&v| (v as u128) ^ (1 << 127))
                    .collect(),
            )
        }
        DataType::Date32 => keys!(Date32Type, |v: i32| signed(v.into())),
        DataType::Date64 => keys!(Date64Type, signed),
        DataType::Timestamp(unit, _) => {
            use datafusion::arrow::datatypes::TimeUnit;
            match unit {
                TimeUnit::Second => keys!(TimestampSecondType, signed),
                TimeUnit::Millisecond => keys!(TimestampMillisecondType, signed),
                TimeUnit::Microsecond => keys!(TimestampMicrosecondType, signed),
                TimeUnit::Nanosecond => keys!(TimestampNanosecondType, signed),
            }
        }
        _ => return None,
    };
    Some(KeyColumn {
        values,
        nulls: array.logical_nulls().filter(|n| n.null_count() > 0),
    })
}

/// Row indices in key order when every key is of a type [`order_keys`] reads.
///
/// Most key sets fit one integer per row: each key as its offset from the key's minimum
/// (NULL one past the maximum, so last), then the row index, packed most significant first
/// (RFM's day counts, order counts and customer ids take 10 to 25 bits each). Sorting those
/// integers is several times faster than sorting tuples of wide keys; wider key sets sort as
/// tuples.
fn native_order(values: &[ArrayRef]) -> Option<UInt32Array> {
    let columns: Vec<KeyColumn> = values.iter().map(order_keys).collect::<Option<_>>()?;
    let rows = columns.first()?.len();
    let index_bits = bits(rows.saturating_sub(1) as u128);
    let fields: Option<Vec<Field64>> = columns.iter().map(Field64::of).collect();
    let Some(fields) = fields else {
        return wide_order(&columns).map(UInt32Array::from);
    };
    let width = index_bits + fields.iter().map(|f| f.bits).sum::<u32>();
    // Column by column: each key shifts in below the ones before it, then the row index.
    macro_rules! packed_order {
        ($p:ty) => {{
            let mut packed = vec![0 as $p; rows];
            for (f, c) in fields.iter().zip(&columns) {
                let low = f.low as $p;
                match (&c.values, &c.nulls) {
                    (KeyValues::Narrow(v), None) => {
                        for (p, &x) in packed.iter_mut().zip(v) {
                            *p = *p << f.bits | (x as $p).wrapping_sub(low);
                        }
                    }
                    _ => {
                        for (row, p) in packed.iter_mut().enumerate() {
                            *p = *p << f.bits | f.code(c.key(row)) as $p;
                        }
                    }
                }
            }
            for (row, p) in packed.iter_mut().enumerate() {
                *p = *p << index_bits | row as $p;
            }
            packed.sort_unstable();
            let mask: $p = ((1 as $p) << index_bits) - 1;
            packed.into_iter().map(|p| (p & mask) as u32).collect()
        }};
    }
    let order: Vec<u32> = if width <= 64 {
        packed_order!(u64)
    } else if width <= 128 {
        packed_order!(u128)
    } else {
        wide_order(&columns)?
    };
    Some(UInt32Array::from(order))
}

/// The bits an unsigned number up to `max` takes.
fn bits(max: u128) -> u32 {
    128 - max.leading_zeros()
}

/// How one key column packs: values as offsets from `low`, NULL as `null`.
struct Field64 {
    low: u128,
    null: u128,
    bits: u32,
}

impl Field64 {
    /// None when the column's span (plus NULL) does not fit 128 bits.
    fn of(column: &KeyColumn) -> Option<Self> {
        let (mut low, mut high) = (u128::MAX, 0u128);
        let nulls = column.nulls.is_some();
        match (&column.values, nulls) {
            (KeyValues::Narrow(v), false) => {
                let (l, h) = v
                    .iter()
                    .fold((u64::MAX, 0u64), |(l, h), &x| (l.min(x), h.max(x)));
                (low, high) = (u128::from(l), u128::from(h));
            }
            _ => {
                for row in 0..column.len() {
                    if let (false, v) = column.key(row) {
                        low = low.min(v);
                        high = high.max(v);
                    }
                }
            }
        }
        if low > high {
            (low, high) = (0, 0);
        }
        let null = (high - low).checked_add(1)?;
        let top = if nulls { null } else { high - low };
        Some(Self {
            low,
            null,
            bits: bits(top),
        })
    }

    fn code(&self, (null, v): Key) -> u128 {
        if null { self.null } else { v - self.low }
    }
}

/// Row indices in key order for one or two keys as tuples, when they do not pack.
fn wide_order(columns: &[KeyColumn]) -> Option<Vec<u32>> {
    let rows = columns.first()?.len() as u32;
    Some(match columns {
        [a] => {
            let mut keys: Vec<(Key, u32)> = (0..rows).map(|r| (a.key(r as usize), r)).collect();
            keys.sort_unstable();
            keys.into_iter().map(|r| r.1).collect()
        }
        [a, b] => {
            let mut keys: Vec<(Key, Key, u32)> = (0..rows)
                .map(|r| (a.key(r as usize), b.key(r as usize), r))
                .collect();
            keys.sort_unstable();
            keys.into_iter().map(|r| r.2).collect()
        }
        _ => return None,
    })
}

/// The constant bucket count of a call.
fn buckets(e: Option<&Arc<dyn PhysicalExpr>>) -> Result<u64> {
    let value = e
        .and_then(|e| e.downcast_ref::<Literal>())
        .map(|l| l.value().clone());
    match value.as_ref().map(|v| v.cast_to(&DataType::Int64)) {
        Some(Ok(ScalarValue::Int64(Some(n)))) if n > 0 => Ok(n as u64),
        Some(Ok(ScalarValue::Int64(Some(n)))) => {
            plan_err!("ntile_by: n must be a positive number of buckets, got {n}")
        }
        _ => plan_err!("ntile_by: n must be a constant number of buckets"),
    }
}

impl WindowUDFImpl for NtileByFunc {
    fn name(&self) -> &str {
        "ntile_by"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() < 2 {
            return plan_err!(
                "ntile_by takes the number of buckets and at least one value to order by, got {} arguments",
                arg_types.len()
            );
        }
        if !(arg_types[0].is_integer() || arg_types[0].is_null()) {
            return plan_err!(
                "ntile_by: n must be an integer number of buckets, got {}",
                arg_types[0]
            );
        }
        let mut types = vec![DataType::Int64];
        for t in &arg_types[1..] {
            if t.is_nested() {
                return plan_err!("ntile_by: cannot order by a value of type {t}");
            }
            types.push(t.clone());
        }
        Ok(types)
    }

    /// Only the sort keys are evaluated per row; n is read at planning.
    fn expressions(&self, expr_args: ExpressionArgs) -> Vec<Arc<dyn PhysicalExpr>> {
        expr_args.input_exprs()[1..].to_vec()
    }

    fn partition_evaluator(
        &self,
        args: PartitionEvaluatorArgs,
    ) -> Result<Box<dyn PartitionEvaluator>> {
        Ok(Box::new(NtileByEvaluator {
            n: buckets(args.input_exprs().first())?,
        }))
    }

    fn field(&self, field_args: WindowUDFFieldArgs) -> Result<FieldRef> {
        Ok(Arc::new(Field::new(
            field_args.name(),
            DataType::UInt64,
            false,
        )))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }

    fn limit_effect(&self, _args: &[Arc<dyn PhysicalExpr>]) -> LimitEffect {
        LimitEffect::Unknown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_keys_order_as_arrow_sorts() {
        use datafusion::arrow::array::{Decimal128Array, Float64Array, Int64Array};
        let floats: ArrayRef = Arc::new(Float64Array::from(vec![
            Some(2.5),
            None,
            Some(-1.0),
            Some(0.0),
            Some(-0.5),
            Some(f64::INFINITY),
            Some(-3.0e10),
        ]));
        let ints: ArrayRef = Arc::new(Int64Array::from(vec![3, 1, 2, 5, 9, -4, 0]));
        let decimals: ArrayRef = Arc::new(
            Decimal128Array::from(vec![
                Some(-5),
                Some(12),
                None,
                Some(12),
                Some(0),
                Some(-5),
                Some(7),
            ])
            .with_precision_and_scale(22, 2)
            .unwrap(),
        );
        let options = Some(SortOptions {
            descending: false,
            nulls_first: false,
        });
        let sparse: ArrayRef = Arc::new(Int64Array::from(vec![
            Some(7),
            None,
            Some(-2),
            None,
            Some(i64::MAX),
            Some(i64::MIN),
            Some(7),
        ]));
        // Spans the whole of i128: with a second key it no longer packs into 128 bits.
        let huge: ArrayRef = Arc::new(
            Decimal128Array::from(vec![
                Some(i128::MAX),
                Some(i128::MIN),
                None,
                Some(0),
                Some(i128::MAX),
                Some(-1),
                Some(1),
            ])
            .with_precision_and_scale(38, 0)
            .unwrap(),
        );
        // Sorted natively: packed in 64 bits, in 128 bits, as tuples (the span of a whole i128
        // with a NULL), and packed with three keys.
        for keys in [
            vec![Arc::clone(&sparse), Arc::clone(&ints)],
            vec![Arc::clone(&huge), Arc::clone(&ints)],
            vec![
                Arc::clone(&decimals),
                Arc::clone(&sparse),
                Arc::clone(&ints),
            ],
            vec![Arc::clone(&floats)],
            vec![Arc::clone(&ints)],
            vec![Arc::clone(&decimals), Arc::clone(&ints)],
            vec![Arc::clone(&ints), Arc::clone(&floats)],
        ] {
            let columns: Vec<SortColumn> = keys
                .iter()
                .map(|v| SortColumn {
                    values: Arc::clone(v),
                    options,
                })
                .collect();
            let want = lexsort_to_indices(&columns, None).unwrap();
            assert_eq!(native_order(&keys).unwrap(), want, "{keys:?}");
        }
    }

    #[test]
    fn buckets_are_as_ntile_cuts_them() {
        // 7 rows into 3 buckets: 3, 2, 2.
        let got: Vec<u64> = (0..7).map(|p| bucket(p, 7, 3)).collect();
        assert_eq!(got, [1, 1, 1, 2, 2, 3, 3]);
        // More buckets than rows: one row each.
        assert_eq!(
            (0..3).map(|p| bucket(p, 3, 5)).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        // Every bucket size differs by at most one and they never decrease in position.
        for rows in 1..60u64 {
            for n in 1..9u64 {
                let b: Vec<u64> = (0..rows).map(|p| bucket(p, rows, n)).collect();
                assert!(b.windows(2).all(|w| w[0] <= w[1] && w[1] - w[0] <= 1));
                assert_eq!(*b.last().unwrap(), n.min(rows));
            }
        }
    }
}
