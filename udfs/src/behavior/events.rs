//! What the behaviour functions share: event times as plain `i64` ticks, constant arguments read
//! from the plan, and the per-group event lists of `window_funnel` and `sequence_*`.
//!
//! Times are ticks so every function compares integers: microseconds for timestamps and dates,
//! the value itself for integer columns. Windows and gaps follow ClickHouse: a plain number is
//! seconds for timestamps (and raw units for integer times); an INTERVAL is accepted too.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array};
use datafusion::arrow::buffer::BooleanBuffer;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type, TimeUnit, TimestampMicrosecondType};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Literal;

/// Ticks per second of a time type: 1,000,000 for timestamps and dates, 1 for integers.
pub fn ticks_per_second(t: &DataType) -> i64 {
    if t.is_integer() { 1 } else { 1_000_000 }
}

/// Whether a type can be an event time.
pub fn is_time(t: &DataType) -> bool {
    t.is_null()
        || t.is_integer()
        || matches!(
            t,
            DataType::Timestamp(_, _) | DataType::Date32 | DataType::Date64
        )
}

/// The type an event-time argument is coerced to, or a planning error naming the function.
pub fn coerce_time(function: &str, position: usize, t: &DataType) -> Result<DataType> {
    match t {
        DataType::Timestamp(_, _) | DataType::Date32 | DataType::Date64 => {
            Ok(DataType::Timestamp(TimeUnit::Microsecond, None))
        }
        t if t.is_integer() || t.is_null() => Ok(DataType::Int64),
        t => plan_err!(
            "Unexpected argument type to '{function}' at position {position}, expected a timestamp, date or integer time, got {t}"
        ),
    }
}

/// Event times as ticks (the argument has been coerced by [`coerce_time`]): the values
/// themselves, without a copy, for the usual microsecond timestamps and integers.
pub fn ticks(array: &ArrayRef) -> Result<Int64Array> {
    Ok(match array.data_type() {
        DataType::Int64 => array.as_primitive::<Int64Type>().clone(),
        DataType::Timestamp(TimeUnit::Microsecond, _) => array
            .as_primitive::<TimestampMicrosecondType>()
            .reinterpret_cast::<Int64Type>(),
        _ => cast(array, &DataType::Int64)?
            .as_primitive::<Int64Type>()
            .clone(),
    })
}

/// A condition argument as the rows where it is true (NULL counts as false), with the
/// aggregate's filter applied.
pub fn true_rows(array: &ArrayRef, filter: Option<&BooleanArray>) -> Result<BooleanBuffer> {
    let Some(b) = array.as_boolean_opt() else {
        return exec_err!("a condition must be boolean, got {}", array.data_type());
    };
    let mut rows = match b.nulls() {
        Some(n) => b.values() & n.inner(),
        None => b.values().clone(),
    };
    if let Some(f) = filter {
        let keep = match f.nulls() {
            Some(n) => f.values() & n.inner(),
            None => f.values().clone(),
        };
        rows = &rows & &keep;
    }
    Ok(rows)
}

/// The rows an aggregate's filter keeps (all of them without a filter).
pub fn kept_rows(len: usize, filter: Option<&BooleanArray>) -> BooleanBuffer {
    match filter {
        Some(f) => match f.nulls() {
            Some(n) => f.values() & n.inner(),
            None => f.values().clone(),
        },
        None => BooleanBuffer::new_set(len),
    }
}

/// The rows an aggregate's filter keeps whose `values` are not NULL.
pub fn kept_valid_rows(values: &dyn Array, filter: Option<&BooleanArray>) -> BooleanBuffer {
    let keep = kept_rows(values.len(), filter);
    match values.logical_nulls() {
        Some(nulls) => &keep & nulls.inner(),
        None => keep,
    }
}

/// The literal value of a planned expression, if it is one.
pub fn literal(e: &Arc<dyn PhysicalExpr>) -> Option<&ScalarValue> {
    e.downcast_ref::<Literal>().map(Literal::value)
}

/// A constant text argument (a literal), or `None` when NULL.
pub fn literal_text(
    function: &str,
    what: &str,
    e: &Arc<dyn PhysicalExpr>,
) -> Result<Option<String>> {
    match literal(e) {
        Some(v) if v.is_null() => Ok(None),
        Some(
            ScalarValue::Utf8(Some(s))
            | ScalarValue::LargeUtf8(Some(s))
            | ScalarValue::Utf8View(Some(s)),
        ) => Ok(Some(s.clone())),
        _ => plan_err!("{function}: {what} must be a string constant"),
    }
}

/// A constant duration argument in ticks of a time type: a number (seconds for timestamps and
/// dates, raw units for integer times) or an INTERVAL without months.
pub fn literal_duration(
    function: &str,
    what: &str,
    e: &Arc<dyn PhysicalExpr>,
    time_type: &DataType,
) -> Result<i64> {
    let per_second = ticks_per_second(time_type);
    let ticks = match literal(e) {
        Some(ScalarValue::IntervalMonthDayNano(Some(v))) if v.months == 0 => Some(
            i64::from(v.days) * 86_400 * per_second + v.nanoseconds * per_second / 1_000_000_000,
        ),
        Some(ScalarValue::IntervalDayTime(Some(v))) => {
            Some((i64::from(v.days) * 86_400_000 + i64::from(v.milliseconds)) * per_second / 1000)
        }
        Some(v) if !v.is_null() && v.data_type().is_integer() => {
            match v.cast_to(&DataType::Int64)? {
                ScalarValue::Int64(Some(n)) => n.checked_mul(per_second),
                _ => None,
            }
        }
        Some(v) if !v.is_null() && v.data_type().is_floating() => {
            match v.cast_to(&DataType::Float64)? {
                ScalarValue::Float64(Some(x)) if x.is_finite() => {
                    Some((x * per_second as f64).round() as i64)
                }
                _ => None,
            }
        }
        Some(
            ScalarValue::IntervalMonthDayNano(Some(_)) | ScalarValue::IntervalYearMonth(Some(_)),
        ) => {
            return plan_err!(
                "{function}: {what} cannot be in months or years (their length varies); give days or seconds"
            );
        }
        _ => {
            return plan_err!(
                "{function}: {what} must be a constant number of seconds or an INTERVAL"
            );
        }
    };
    match ticks {
        Some(t) if t >= 0 => Ok(t),
        _ => plan_err!("{function}: {what} must be zero or more"),
    }
}

/// Events of one group: (time, condition index from 1, or 0 for a row that met none) pairs.
pub type Events = Vec<(i64, u8)>;
