//! DataFusion's `date_trunc`, with whole arrays of zone-less timestamps truncated to the
//! week, month, quarter or year by a table of days instead of a calendar per value.
//!
//! Cohorts, retention and monthly reports truncate every event's time to its month.
//! DataFusion 55 does that one value at a time through a fallible path (scaling to
//! nanoseconds with overflow checks, a calendar conversion, scaling back): 16 ns a value,
//! the largest single cost of a retention query over 20M events (measured). Here the day of
//! each value is found by one division by a constant, and the start of its week, month,
//! quarter or year by a look-up of that day in a table covering 1800 to 2158, built once
//! per granularity from the same calendar arithmetic DataFusion uses. Values outside the table,
//! time zones, finer granularities, `Time` values and scalars are DataFusion's own code, so an
//! answer is never different from DataFusion's: the tests compare them.

use std::sync::{Arc, OnceLock};

use datafusion::arrow::array::{Array, ArrayRef, ArrowPrimitiveType, AsArray, PrimitiveArray};
use datafusion::arrow::datatypes::{
    DataType, FieldRef, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType,
};
use datafusion::common::{Result, ScalarValue};
use datafusion::functions::datetime::date_trunc::DateTruncFunc;
use datafusion::logical_expr::sort_properties::{ExprProperties, SortProperties};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature,
};

/// `date_trunc` as persona registers it, over DataFusion's.
pub fn date_trunc_udf() -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(DateTrunc {
        inner: DateTruncFunc::new(),
    }))
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct DateTrunc {
    inner: DateTruncFunc,
}

/// The granularities computed here: those DataFusion computes through a calendar per value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Coarse {
    Week,
    Month,
    Quarter,
    Year,
}

impl Coarse {
    /// The granularity named by `date_trunc`'s first argument, when it is one of these.
    fn parse(arg: &ColumnarValue) -> Option<Self> {
        let ColumnarValue::Scalar(name) = arg else {
            return None;
        };
        Self::named(name)?
    }

    /// `Some(None)` for "day", `Some(Some(_))` for the granularities computed here.
    fn named(name: &ScalarValue) -> Option<Option<Self>> {
        let (ScalarValue::Utf8(Some(name))
        | ScalarValue::Utf8View(Some(name))
        | ScalarValue::LargeUtf8(Some(name))) = name
        else {
            return None;
        };
        match name.to_ascii_lowercase().as_str() {
            "day" => Some(None),
            "week" => Some(Some(Self::Week)),
            "month" => Some(Some(Self::Month)),
            "quarter" => Some(Some(Self::Quarter)),
            "year" => Some(Some(Self::Year)),
            _ => None,
        }
    }
}

/// `date_trunc` of a zone-less timestamp to the day or coarser, as a map from the value's day
/// to the first day of its period: the truncation depends on the day alone, so a caller can
/// decide a comparison of the truncated value once per day rather than once per value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayTruncation(Option<Coarse>);

impl DayTruncation {
    /// The days (since 1970-01-01) whose truncation [`DayTruncation::start`] gives: 1800 to
    /// 2158. Outside them, `date_trunc` is DataFusion's own code, errors included.
    pub const DAYS: std::ops::Range<i64> = OFFSETS_FROM..OFFSETS_FROM + OFFSETS_LEN as i64;

    /// The truncation a call of `udf` with this first argument makes, when `udf` is
    /// persona's `date_trunc` and the granularity a day or coarser.
    pub fn of_call(udf: &ScalarUDF, granularity: &ScalarValue) -> Option<Self> {
        if !udf.inner().is::<DateTrunc>() {
            return None;
        }
        Coarse::named(granularity).map(Self)
    }

    /// The first day of the period holding `day`, a day of [`DayTruncation::DAYS`].
    pub fn start(self, day: i64) -> i64 {
        match self.0 {
            None => day,
            Some(granularity) => {
                day - i64::from(offsets(granularity)[(day - OFFSETS_FROM) as usize])
            }
        }
    }
}

/// The first day the tables cover, in days since 1970-01-01: 1800-01-01.
const OFFSETS_FROM: i64 = -62_091;
/// How many days the tables cover (a power of two, so an index is masked, never checked).
const OFFSETS_LEN: usize = 1 << 17;

/// For each day from [`OFFSETS_FROM`], how many days it lies after the start of its week,
/// month, quarter or year.
fn offsets(granularity: Coarse) -> &'static [u16] {
    static TABLES: [OnceLock<Vec<u16>>; 4] = [const { OnceLock::new() }; 4];
    TABLES[granularity as usize].get_or_init(|| {
        (0..OFFSETS_LEN as i64)
            .map(|i| {
                let day = OFFSETS_FROM + i;
                let (year, month, _) = civil_from_days(day);
                let start = match granularity {
                    // 1970-01-01 was a Thursday: three days after its week's Monday.
                    Coarse::Week => day - (day + 3).rem_euclid(7),
                    Coarse::Month => days_from_civil(year, month, 1),
                    Coarse::Quarter => days_from_civil(year, 1 + 3 * ((month - 1) / 3), 1),
                    Coarse::Year => days_from_civil(year, 1, 1),
                };
                (day - start) as u16
            })
            .collect()
    })
}

/// Year, month (1-12) and day (1-31) of a day counted from 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, as DataFusion computes it).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    (year_of_era + era * 400 + i64::from(month <= 2), month, day)
}

/// Days from 1970-01-01 to a date (Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = year - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month_index = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// `array` (of `T`, `PER_DAY` units a day) truncated, or `None` when a valid value lies
/// outside the tables (DataFusion then answers, with its own error for values it cannot
/// represent).
fn truncate<T: ArrowPrimitiveType<Native = i64>, const PER_DAY: i64>(
    array: &ArrayRef,
    granularity: Coarse,
) -> Option<ArrayRef> {
    let array = array.as_primitive::<T>();
    let values = array.values();
    let table = offsets(granularity);
    // A value's day, and the day's place in the table (OFFSETS_LEN or more when outside).
    let day_at = |v: i64| {
        let day = v.div_euclid(PER_DAY);
        (day, day.wrapping_sub(OFFSETS_FROM) as u64)
    };
    let mut outside = false;
    let truncated: Vec<i64> = values
        .iter()
        .map(|&v| {
            let (day, index) = day_at(v);
            outside |= index >= OFFSETS_LEN as u64;
            let offset = table[(index as usize) & (OFFSETS_LEN - 1)];
            (day - i64::from(offset)).wrapping_mul(PER_DAY)
        })
        .collect();
    // Slots under a null may hold anything; only valid values must lie inside.
    let inside = |i: usize| day_at(values[i]).1 < OFFSETS_LEN as u64;
    if outside
        && !match array.nulls() {
            None => (0..values.len()).all(inside),
            Some(nulls) => nulls.valid_indices().all(inside),
        }
    {
        return None;
    }
    let truncated = PrimitiveArray::<T>::new(truncated.into(), array.nulls().cloned());
    Some(Arc::new(truncated))
}

/// The fast path's answer, when this call is one it takes.
fn fast(args: &[ColumnarValue]) -> Option<ColumnarValue> {
    let [granularity, ColumnarValue::Array(array)] = args else {
        return None;
    };
    let granularity = Coarse::parse(granularity)?;
    let truncated = match array.data_type() {
        DataType::Timestamp(TimeUnit::Second, None) => {
            truncate::<TimestampSecondType, 86_400>(array, granularity)
        }
        DataType::Timestamp(TimeUnit::Millisecond, None) => {
            truncate::<TimestampMillisecondType, 86_400_000>(array, granularity)
        }
        DataType::Timestamp(TimeUnit::Microsecond, None) => {
            truncate::<TimestampMicrosecondType, 86_400_000_000>(array, granularity)
        }
        DataType::Timestamp(TimeUnit::Nanosecond, None) => {
            truncate::<TimestampNanosecondType, 86_400_000_000_000>(array, granularity)
        }
        _ => None,
    };
    truncated.map(ColumnarValue::Array)
}

impl ScalarUDFImpl for DateTrunc {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        self.inner.return_field_from_args(args)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        match fast(&args.args) {
            Some(answer) => Ok(answer),
            None => self.inner.invoke_with_args(args),
        }
    }

    fn output_ordering(&self, input: &[ExprProperties]) -> Result<SortProperties> {
        self.inner.output_ordering(input)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::TimestampMicrosecondArray;
    use datafusion::arrow::datatypes::Field;
    use datafusion::config::ConfigOptions;

    fn call(udf: &dyn ScalarUDFImpl, granularity: &str, array: ArrayRef) -> Result<ArrayRef> {
        let rows = array.len();
        let arg_fields = vec![
            Arc::new(Field::new("g", DataType::Utf8, false)),
            Arc::new(Field::new("t", array.data_type().clone(), true)),
        ];
        let return_field = Arc::new(Field::new("r", array.data_type().clone(), true));
        let args = ScalarFunctionArgs {
            args: vec![
                ColumnarValue::Scalar(ScalarValue::Utf8(Some(granularity.to_string()))),
                ColumnarValue::Array(array),
            ],
            arg_fields,
            number_rows: rows,
            return_field,
            config_options: Arc::new(ConfigOptions::default()),
        };
        udf.invoke_with_args(args)?.into_array(rows)
    }

    /// persona's function and DataFusion's.
    fn both() -> (DateTrunc, DateTruncFunc) {
        let inner = DateTruncFunc::new();
        (DateTrunc { inner }, DateTruncFunc::new())
    }

    /// Values spread over 1701-2257 in three units, with nulls, against DataFusion's function.
    #[test]
    fn coarse_truncation_equals_datafusions() {
        let (ours, theirs) = both();
        let day_us = 86_400_000_000_i64;
        let mut x = 0x9E37_79B9_7F4A_7C15_u64;
        let micros: Vec<Option<i64>> = (0..200_000)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // Three chunks of 100 in four within the tables (1800-2155), the fourth from
                // 1701 to 2257 (within what DataFusion represents), at any time of day or a
                // day's first or last microsecond.
                let day = if (i / 100) % 4 == 0 {
                    (x % 203_000) as i64 - 98_000
                } else {
                    (x % 130_000) as i64 - 62_000
                };
                let within = match i % 4 {
                    0 => 0,
                    1 => day_us - 1,
                    _ => ((x >> 20) % day_us as u64) as i64,
                };
                (i % 97 != 0).then_some(day * day_us + within)
            })
            .collect();
        for (unit, scale) in [
            (TimeUnit::Microsecond, 1),
            (TimeUnit::Millisecond, 1_000),
            (TimeUnit::Second, 1_000_000),
        ] {
            let values: Vec<Option<i64>> = micros
                .iter()
                .map(|v| v.map(|v| v.div_euclid(scale)))
                .collect();
            let array: ArrayRef = match unit {
                TimeUnit::Microsecond => Arc::new(TimestampMicrosecondArray::from(values)),
                TimeUnit::Millisecond => Arc::new(
                    datafusion::arrow::array::TimestampMillisecondArray::from(values),
                ),
                _ => Arc::new(datafusion::arrow::array::TimestampSecondArray::from(values)),
            };
            for granularity in ["week", "month", "quarter", "year", "MONTH"] {
                // In chunks, so that most lie within the tables and take the fast path.
                let mut fast_chunks = 0;
                for start in (0..array.len()).step_by(100) {
                    let chunk = array.slice(start, 100);
                    let expected = call(&theirs, granularity, Arc::clone(&chunk)).unwrap();
                    let got = call(&ours, granularity, Arc::clone(&chunk)).unwrap();
                    assert_eq!(
                        got.as_ref(),
                        expected.as_ref(),
                        "{granularity} of {unit:?} from row {start}"
                    );
                    let granularity = ScalarValue::Utf8(Some(granularity.into()));
                    fast_chunks += usize::from(
                        fast(&[
                            ColumnarValue::Scalar(granularity),
                            ColumnarValue::Array(chunk),
                        ])
                        .is_some(),
                    );
                }
                assert!(fast_chunks > 100, "{fast_chunks} chunks took the fast path");
            }
        }
    }

    #[test]
    fn nanosecond_timestamps_are_truncated_as_datafusion_does() {
        let (ours, theirs) = both();
        let day_ns = 86_400_000_000_000_i64;
        let values: Vec<Option<i64>> = (-40_000..40_000_i64)
            .step_by(7)
            .map(|d| Some(d * day_ns + (d.rem_euclid(86_400)) * 1_000_000_000 + 17))
            .chain([None])
            .collect();
        let array: ArrayRef = Arc::new(datafusion::arrow::array::TimestampNanosecondArray::from(
            values,
        ));
        for granularity in ["week", "month", "quarter", "year"] {
            assert_eq!(
                call(&ours, granularity, Arc::clone(&array))
                    .unwrap()
                    .as_ref(),
                call(&theirs, granularity, Arc::clone(&array))
                    .unwrap()
                    .as_ref(),
                "{granularity}"
            );
        }
    }

    /// Every day the truncation covers, at its first and last microsecond, maps to the start
    /// of the period DataFusion truncates it to; other functions and granularities get none.
    #[test]
    fn day_truncation_starts_the_periods_datafusion_truncates_to() {
        let theirs = DateTruncFunc::new();
        let day_us = 86_400_000_000_i64;
        let days: Vec<i64> = DayTruncation::DAYS.collect();
        let at = |within: i64| -> ArrayRef {
            Arc::new(TimestampMicrosecondArray::from_iter_values(
                days.iter().map(|d| d * day_us + within),
            ))
        };
        for granularity in ["day", "week", "month", "quarter", "Year"] {
            let name = ScalarValue::Utf8(Some(granularity.into()));
            let truncation = DayTruncation::of_call(&date_trunc_udf(), &name).unwrap();
            let starts: Vec<i64> = days.iter().map(|&d| truncation.start(d) * day_us).collect();
            for within in [0, day_us - 1] {
                let expected = call(&theirs, granularity, at(within)).unwrap();
                let expected = expected.as_primitive::<TimestampMicrosecondType>().values();
                assert!(starts == expected[..], "{granularity} at {within}");
            }
        }
        let hour = ScalarValue::Utf8(Some("hour".into()));
        assert!(DayTruncation::of_call(&date_trunc_udf(), &hour).is_none());
        let datafusions = ScalarUDF::new_from_impl(DateTruncFunc::new());
        let month = ScalarValue::Utf8(Some("month".into()));
        assert!(DayTruncation::of_call(&datafusions, &month).is_none());
    }

    #[test]
    fn values_beyond_the_tables_are_left_to_datafusion() {
        // 1700-06-15 and 2200-06-15, outside 1800-2158: DataFusion's answer, not a table's.
        let array: ArrayRef = Arc::new(TimestampMicrosecondArray::from(vec![
            Some(-8_600_000_000_000_000),
            Some(7_279_000_000_000_000),
        ]));
        assert!(
            fast(&[
                ColumnarValue::Scalar(ScalarValue::Utf8(Some("month".into()))),
                ColumnarValue::Array(Arc::clone(&array)),
            ])
            .is_none()
        );
        let (ours, theirs) = both();
        assert_eq!(
            call(&ours, "month", Arc::clone(&array)).unwrap().as_ref(),
            call(&theirs, "month", array).unwrap().as_ref()
        );
    }
}
