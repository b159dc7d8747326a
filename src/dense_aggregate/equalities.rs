//! The arguments of a dense aggregation's accumulators, with the equalities of one column
//! against several constants evaluated in one pass over the column.
//!
//! `retention(m = DATE '2024-01-01', …, m = DATE '2024-12-01')` and its kind compare one column
//! with many constants. DataFusion evaluates each comparison as a pass of its own over the
//! column: twelve passes over 17.8M timestamps took about 105 ms of a retention query's CPU
//! (measured). Here one pass looks each value up in a small table of the constants, hashed
//! with a multiplier chosen so that no two constants share a slot, and sets the value's bit
//! in the bitmap of the constant it equals. Each comparison still gets its own
//! `BooleanArray`, the one DataFusion's comparison gives: NULL where the column is NULL.
//!
//! Only integer-backed columns (integers, dates, timestamps) compared with a constant of the
//! same type, at least [`MIN_FUSED`] times, are fused; every other argument is evaluated as
//! DataFusion evaluates it.
//!
//! A zone-less timestamp truncated to the day or coarser (`date_trunc('month', ts) = c`, the
//! cohort question) is fused too, and better: the truncation depends on the value's day alone,
//! so a [`DayTable`] says which constant each day truncates to, and a row costs a division by
//! a constant and one look-up, without the truncated values. A batch holding a value outside
//! the calendar of `date_trunc`'s tables is truncated instead, so DataFusion's answer or error
//! stands. The dense aggregation then takes such truncations out of the projection below it
//! (`DenseAggregateExec::through_projection`).
//!
//! An accumulator whose state for one row is the mask of the conditions the row meets
//! (`retention`: bit k for condition k + 1, merged by OR) and whose conditions are all fused
//! comparisons with one column skips its conditions altogether: the same table lookup gives
//! each row's mask, and the accumulator merges the masks as it merges partial states. For
//! retention's twelve months this replaced twelve bitmaps and twelve passes over them with
//! one array of masks.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch, UInt32Array};
use datafusion::arrow::buffer::{BooleanBuffer, Buffer};
use datafusion::arrow::datatypes::{DataType, Schema, TimeUnit};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::Operator;
use datafusion::physical_expr::ScalarFunctionExpr;
use datafusion::physical_expr::expressions::{BinaryExpr, Column, Literal};
use datafusion::physical_plan::PhysicalExpr;
use persona_udfs::builtins::date_trunc::DayTruncation;

/// The fewest comparisons with one operand worth a fused pass.
const MIN_FUSED: usize = 3;
/// The most distinct constants of one fused operand.
const MAX_CONSTANTS: usize = 64;

/// A comparison of an operand with a constant: (accumulator, argument, constant).
type Use = (usize, usize, i64);

/// How each accumulator's arguments are computed from a batch.
#[derive(Debug)]
pub(super) struct Arguments {
    /// Per accumulator, per argument.
    exprs: Vec<Vec<Arc<dyn PhysicalExpr>>>,
    /// Per accumulator, per argument: `Some((set, constant))` when the argument is fused.
    fused: Vec<Vec<Option<(usize, usize)>>>,
    /// Per accumulator: `Some` when it takes its input as per-row condition masks.
    masks: Vec<Option<ConditionMasks>>,
    sets: Vec<EqualitySet>,
    /// Per set: whether some argument needs its bitmaps (not only condition masks).
    bitmaps_wanted: Vec<bool>,
}

/// What a batch gives one accumulator.
pub(super) enum Input {
    /// Its arguments, for `update_batch`.
    Arguments(Vec<ArrayRef>),
    /// Each row's state, for `merge_batch`.
    RowStates(ArrayRef),
}

/// An accumulator's conditions as bits of a mask: `bits[j]` has bit k set when condition k
/// compares the set's operand with constant j.
#[derive(Debug)]
struct ConditionMasks {
    set: usize,
    bits: Vec<u32>,
    /// When the set looks its operand up by day: each day's mask, from the set's day table.
    by_day: Option<Vec<u32>>,
}

/// One operand's comparisons with constants.
#[derive(Debug)]
struct EqualitySet {
    operand: Operand,
    /// The distinct constants, each compared with the operand by one argument or more.
    constants: Vec<i64>,
    table: SlotTable,
    /// For a truncated timestamp, the constant each day truncates to, when the constants
    /// span few enough days: the truncation is then never computed.
    days: Option<DayTable>,
}

/// A hash table of the constants with one probe: `slots[(v * multiplier) >> shift]` holds
/// `v` and its constant's index when `v` is a constant. A slot no constant hashes to holds
/// the first constant, which a value reaching that slot cannot equal (it would hash to the
/// constant's own slot).
#[derive(Debug)]
struct SlotTable {
    multiplier: u64,
    shift: u32,
    slots: Vec<(i64, u8)>,
}

impl SlotTable {
    /// A table without collisions for `constants` (distinct, at most [`MAX_CONSTANTS`]), or
    /// None when no multiplier tried separates them.
    fn new(constants: &[i64]) -> Option<Self> {
        // Four times the square of the constants: a random multiplier separates them with
        // probability about exp(-1/8); at least 64 slots.
        let size = (4 * constants.len() * constants.len())
            .max(64)
            .next_power_of_two();
        let shift = 64 - size.trailing_zeros();
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        for _ in 0..256 {
            // splitmix64: a fixed sequence, so plans behave the same on every run.
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            let multiplier = (z ^ (z >> 31)) | 1;
            let mut slots = vec![(constants[0], u8::MAX); size];
            let separated = constants.iter().enumerate().all(|(k, &c)| {
                let slot = &mut slots[((c as u64).wrapping_mul(multiplier) >> shift) as usize];
                let free = slot.1 == u8::MAX;
                *slot = (c, k as u8);
                free
            });
            if separated {
                for slot in &mut slots {
                    slot.1 = slot.1.min(constants.len() as u8 - 1);
                }
                return Some(Self {
                    multiplier,
                    shift,
                    slots,
                });
            }
        }
        None
    }

    /// One bitmap per constant over `values`, each `words` 64-bit words long, one after the
    /// other.
    fn bitmaps<N: Copy + Into<i64>>(&self, values: &[N], constants: usize) -> Vec<u64> {
        let words = values.len().div_ceil(64);
        let mut bits = vec![0u64; words * constants];
        for (word, chunk) in values.chunks(64).enumerate() {
            for (bit, &value) in chunk.iter().enumerate() {
                let value: i64 = value.into();
                let slot = (value as u64).wrapping_mul(self.multiplier) >> self.shift;
                let (constant, k) = self.slots[slot as usize];
                // No branch: a value equal to no constant ORs a zero into some bitmap.
                bits[k as usize * words + word] |= u64::from(value == constant) << bit;
            }
        }
        bits
    }

    /// Per value, `bits[k]` when it equals constant k, else 0.
    fn masks<N: Copy + Into<i64>>(&self, values: &[N], bits: &[u32]) -> Vec<u32> {
        // The slots with their constant's bits, for one lookup per value.
        let slots: Vec<(i64, u32)> = self
            .slots
            .iter()
            .map(|&(c, k)| (c, bits[k as usize]))
            .collect();
        values
            .iter()
            .map(|&value| {
                let value: i64 = value.into();
                let slot = (value as u64).wrapping_mul(self.multiplier) >> self.shift;
                let (constant, bits) = slots[slot as usize];
                bits & 0u32.wrapping_sub(u32::from(value == constant))
            })
            .collect()
    }
}

/// What a set of comparisons compares with its constants.
#[derive(Debug, Clone)]
enum Operand {
    /// A column's own values; `narrow` tells a 32-bit column (Int32, Date32).
    Column { index: usize, narrow: bool },
    /// `date_trunc(granularity, column)` of a zone-less timestamp column, to the day or
    /// coarser: `call` is the whole call, `per_day` the column's units in a day.
    Truncated {
        call: Arc<dyn PhysicalExpr>,
        column: usize,
        truncation: DayTruncation,
        per_day: i64,
    },
}

impl Operand {
    /// The operand `expr` is, when it is one of these.
    fn of(expr: &Arc<dyn PhysicalExpr>, schema: &Schema) -> Option<Self> {
        if let Some(column) = expr.downcast_ref::<Column>() {
            let narrow = matches!(
                schema.fields().get(column.index())?.data_type(),
                DataType::Int32 | DataType::Date32
            );
            return Some(Self::Column {
                index: column.index(),
                narrow,
            });
        }
        let call = expr.downcast_ref::<ScalarFunctionExpr>()?;
        let [granularity, column] = call.args() else {
            return None;
        };
        let truncation =
            DayTruncation::of_call(call.fun(), granularity.downcast_ref::<Literal>()?.value())?;
        let column = column.downcast_ref::<Column>()?;
        let per_day = match schema.fields().get(column.index())?.data_type() {
            DataType::Timestamp(TimeUnit::Second, None) => 86_400,
            DataType::Timestamp(TimeUnit::Millisecond, None) => 86_400_000,
            DataType::Timestamp(TimeUnit::Microsecond, None) => 86_400_000_000,
            DataType::Timestamp(TimeUnit::Nanosecond, None) => 86_400_000_000_000,
            _ => return None,
        };
        Some(Self::Truncated {
            call: Arc::clone(expr),
            column: column.index(),
            truncation,
            per_day,
        })
    }

    /// Two operands are the same when they compute the same values.
    fn key(&self) -> (usize, Option<DayTruncation>) {
        match self {
            Self::Column { index, .. } => (*index, None),
            Self::Truncated {
                column, truncation, ..
            } => (*column, Some(*truncation)),
        }
    }

    /// The operand's values over `batch`, 32-bit or 64-bit as `narrow()` says.
    fn values(&self, batch: &RecordBatch) -> Result<ArrayRef> {
        match self {
            Self::Column { index, .. } => Ok(Arc::clone(batch.column(*index))),
            Self::Truncated { call, .. } => call.evaluate(batch)?.into_array(batch.num_rows()),
        }
    }

    fn narrow(&self) -> bool {
        matches!(self, Self::Column { narrow: true, .. })
    }
}

/// The operand and constant of `expr` when it is `operand = constant` (either way round)
/// with a non-NULL constant of the operand's own integer-backed type.
fn operand_equals_constant(
    expr: &Arc<dyn PhysicalExpr>,
    schema: &Schema,
) -> Option<(Operand, i64)> {
    let binary = expr.downcast_ref::<BinaryExpr>()?;
    if *binary.op() != Operator::Eq {
        return None;
    }
    let (left, right) = (binary.left(), binary.right());
    let (operand, literal) = match right.downcast_ref::<Literal>() {
        Some(literal) => (left, literal),
        None => (right, left.downcast_ref::<Literal>()?),
    };
    if literal.value().data_type() != operand.data_type(schema).ok()? {
        return None;
    }
    let value = match *literal.value() {
        ScalarValue::Int64(Some(v))
        | ScalarValue::Date64(Some(v))
        | ScalarValue::TimestampSecond(Some(v), _)
        | ScalarValue::TimestampMillisecond(Some(v), _)
        | ScalarValue::TimestampMicrosecond(Some(v), _)
        | ScalarValue::TimestampNanosecond(Some(v), _) => v,
        ScalarValue::Int32(Some(v)) | ScalarValue::Date32(Some(v)) => i64::from(v),
        _ => return None,
    };
    Some((Operand::of(operand, schema)?, value))
}

impl Arguments {
    /// The evaluation of `exprs` (per accumulator, its arguments) over batches of `schema`.
    /// `mask_states[a]` tells that accumulator `a`'s state for one row is the UInt32 mask of
    /// the arguments true on it, merged by OR, and that it has no FILTER.
    pub(super) fn new(
        exprs: Vec<Vec<Arc<dyn PhysicalExpr>>>,
        schema: &Schema,
        mask_states: &[bool],
    ) -> Self {
        // Per operand, in the order first met: the comparisons with it.
        let mut by_operand: Vec<(Operand, Vec<Use>)> = Vec::new();
        for (a, arguments) in exprs.iter().enumerate() {
            for (i, expr) in arguments.iter().enumerate() {
                let Some((operand, value)) = operand_equals_constant(expr, schema) else {
                    continue;
                };
                match by_operand
                    .iter_mut()
                    .find(|(o, _)| o.key() == operand.key())
                {
                    Some((_, uses)) => uses.push((a, i, value)),
                    None => by_operand.push((operand, vec![(a, i, value)])),
                }
            }
        }
        let mut fused: Vec<Vec<Option<(usize, usize)>>> =
            exprs.iter().map(|args| vec![None; args.len()]).collect();
        let mut sets = Vec::new();
        for (operand, uses) in by_operand {
            let mut constants: Vec<i64> = uses.iter().map(|u| u.2).collect();
            constants.sort_unstable();
            constants.dedup();
            if uses.len() < MIN_FUSED || constants.len() > MAX_CONSTANTS {
                continue;
            }
            let Some(table) = SlotTable::new(&constants) else {
                continue;
            };
            for (a, i, value) in uses {
                let k = constants.binary_search(&value).unwrap_or_default();
                fused[a][i] = Some((sets.len(), k));
            }
            let days = DayTable::new(&operand, &constants);
            sets.push(EqualitySet {
                operand,
                constants,
                table,
                days,
            });
        }
        let masks: Vec<Option<ConditionMasks>> = fused
            .iter()
            .enumerate()
            .map(|(a, args)| {
                let set = args.first().copied().flatten()?.0;
                let usable = mask_states.get(a) == Some(&true)
                    && args.len() <= 32
                    && args.iter().all(|f| f.is_some_and(|(s, _)| s == set));
                usable.then(|| {
                    let mut bits = vec![0u32; sets[set].constants.len()];
                    for (k, f) in args.iter().enumerate() {
                        if let Some((_, j)) = f {
                            bits[*j] |= 1 << k;
                        }
                    }
                    // A day of no constant (index `bits.len()`) has no bits.
                    let by_day = sets[set].days.as_ref().map(|days| {
                        let mask = |&k: &u8| bits.get(usize::from(k)).copied().unwrap_or(0);
                        days.by_day.iter().map(mask).collect()
                    });
                    ConditionMasks { set, bits, by_day }
                })
            })
            .collect();
        let mut bitmaps_wanted = vec![false; sets.len()];
        for (args, mask) in fused.iter().zip(&masks) {
            if mask.is_none() {
                for (set, _) in args.iter().flatten() {
                    bitmaps_wanted[*set] = true;
                }
            }
        }
        Self {
            exprs,
            fused,
            masks,
            sets,
            bitmaps_wanted,
        }
    }

    /// Whether accumulator `a`'s argument `i` is a comparison looked up by day, which never
    /// computes its truncation.
    pub(super) fn looked_up_by_day(&self, a: usize, i: usize) -> bool {
        let fused = self.fused.get(a).and_then(|f| f.get(i).copied().flatten());
        fused.is_some_and(|(set, _)| self.sets[set].days.is_some())
    }

    /// What `batch` gives each accumulator.
    pub(super) fn evaluate(&self, batch: &RecordBatch) -> Result<Vec<Input>> {
        let results: Vec<Vec<ArrayRef>> = self
            .sets
            .iter()
            .zip(&self.bitmaps_wanted)
            .map(|(s, wanted)| {
                if *wanted {
                    s.evaluate(batch)
                } else {
                    Ok(Vec::new())
                }
            })
            .collect::<Result<_>>()?;
        self.exprs
            .iter()
            .zip(&self.fused)
            .zip(&self.masks)
            .map(|((exprs, fused), masks)| {
                if let Some(m) = masks {
                    return Ok(Input::RowStates(self.sets[m.set].masks(batch, m)?));
                }
                exprs
                    .iter()
                    .zip(fused)
                    .map(|(expr, fused)| match fused {
                        Some((set, k)) => Ok(Arc::clone(&results[*set][*k])),
                        None => expr.evaluate(batch)?.into_array(batch.num_rows()),
                    })
                    .collect::<Result<_>>()
                    .map(Input::Arguments)
            })
            .collect()
    }
}

/// `$body` over the values of `$operand` (the set's operand evaluated) as the integers they
/// are, 32-bit or 64-bit: a macro, as the body is generic over the two.
macro_rules! probe {
    ($set:expr, $operand:expr, |$values:ident| $body:expr) => {{
        let (rows, data) = ($operand.len(), $operand.to_data());
        if $set.operand.narrow() {
            let $values = &data.buffer::<i32>(0)[..rows];
            $body
        } else {
            let $values = &data.buffer::<i64>(0)[..rows];
            $body
        }
    }};
}

impl EqualitySet {
    /// Per row, the OR of `m.bits[j]` over the constants j the operand equals (at most one);
    /// NULL where the operand is NULL.
    fn masks(&self, batch: &RecordBatch, m: &ConditionMasks) -> Result<ArrayRef> {
        let bits = &m.bits;
        if let (Some(days), Some(by_day)) = (&self.days, &m.by_day) {
            let column = batch.column(days.column);
            if let Some(masks) = days.lookup(column, by_day, 0) {
                return Ok(Arc::new(UInt32Array::new(
                    masks.into(),
                    column.nulls().cloned(),
                )));
            }
        }
        let operand = self.operand.values(batch)?;
        let masks = probe!(self, &operand, |values| self.table.masks(values, bits));
        Ok(Arc::new(UInt32Array::new(
            masks.into(),
            operand.nulls().cloned(),
        )))
    }

    /// One `operand = constant` array per constant.
    fn evaluate(&self, batch: &RecordBatch) -> Result<Vec<ArrayRef>> {
        let n = self.constants.len();
        let by_day = self.days.as_ref().and_then(|days| {
            let column = batch.column(days.column);
            // Constant n is none: its bitmap is dropped.
            days.lookup(column, &days.by_day, n as u8).map(|found| {
                let mut bits = bitmaps(&found, n + 1);
                bits.truncate(n * found.len().div_ceil(64));
                (bits, Arc::clone(column))
            })
        });
        let (bits, operand) = match by_day {
            Some(found) => found,
            None => {
                let operand = self.operand.values(batch)?;
                let bits = probe!(self, &operand, |values| self.table.bitmaps(values, n));
                (bits, operand)
            }
        };
        let rows = operand.len();
        let words = rows.div_ceil(64);
        let buffer = Buffer::from_vec(bits);
        Ok((0..n)
            .map(|k| {
                let values =
                    BooleanBuffer::new(buffer.slice_with_length(k * words * 8, words * 8), 0, rows);
                Arc::new(BooleanArray::new(values, operand.nulls().cloned())) as ArrayRef
            })
            .collect())
    }
}

/// `n` bitmaps over the rows, one after the other, each `rows.div_ceil(64)` words: bit r of
/// bitmap k is set when `found[r] == k`.
fn bitmaps(found: &[u8], n: usize) -> Vec<u64> {
    let words = found.len().div_ceil(64);
    let mut bits = vec![0u64; words * n];
    for (word, chunk) in found.chunks(64).enumerate() {
        for (bit, &k) in chunk.iter().enumerate() {
            bits[k as usize * words + word] |= 1 << bit;
        }
    }
    bits
}

/// The most days a [`DayTable`] spans.
const MAX_TABLE_DAYS: i64 = 1 << 16;

/// Which constant the truncation of each day in a span equals: comparing a truncated
/// timestamp with constants then takes a division by a constant and one look-up per row,
/// without the truncated values. The span covers every day that truncates to a constant:
/// from the earliest constant to a year past the latest.
#[derive(Debug)]
struct DayTable {
    /// The truncated timestamp column, of `per_day` units a day.
    column: usize,
    per_day: i64,
    first: i64,
    /// Per day from `first`: the index of the constant it truncates to, or the number of
    /// constants when it truncates to none.
    by_day: Vec<u8>,
}

impl DayTable {
    /// The table of `constants` (sorted, distinct) for a truncated `operand`, or None when
    /// the operand is a plain column, or the constants span too many days or none is the start
    /// of a period.
    fn new(operand: &Operand, constants: &[i64]) -> Option<Self> {
        let Operand::Truncated {
            column,
            truncation,
            per_day,
            ..
        } = *operand
        else {
            return None;
        };
        // A constant that is not a period's first instant within the calendar is never equal
        // to a truncation there; values outside the calendar are not looked up.
        let starts: Vec<i64> = constants
            .iter()
            .filter(|c| c.rem_euclid(per_day) == 0)
            .map(|c| c.div_euclid(per_day))
            .filter(|&day| DayTruncation::DAYS.contains(&day) && truncation.start(day) == day)
            .collect();
        let first = *starts.first()?;
        // No period is longer than a leap year.
        let end = (starts.last()? + 366).min(DayTruncation::DAYS.end);
        if end - first > MAX_TABLE_DAYS {
            return None;
        }
        let by_day = (first..end)
            .map(|day| {
                let start = truncation.start(day) * per_day;
                constants.binary_search(&start).unwrap_or(constants.len()) as u8
            })
            .collect();
        Some(Self {
            column,
            per_day,
            first,
            by_day,
        })
    }

    /// Per value of `column` (a timestamp of `per_day` units a day), the entry of its day in
    /// `by_day` (which follows this table's days), else `none`; None when a value that is not
    /// NULL lies outside the calendar, where the truncation is DataFusion's to compute (or
    /// refuse).
    fn lookup<E: Copy>(&self, column: &ArrayRef, by_day: &[E], none: E) -> Option<Vec<E>> {
        let data = column.to_data();
        let values = &data.buffer::<i64>(0)[..column.len()];
        let (found, outside) = match self.per_day {
            86_400 => by_days::<E, 86_400>(values, self.first, by_day, none),
            86_400_000 => by_days::<E, 86_400_000>(values, self.first, by_day, none),
            86_400_000_000 => by_days::<E, 86_400_000_000>(values, self.first, by_day, none),
            _ => by_days::<E, 86_400_000_000_000>(values, self.first, by_day, none),
        };
        // Slots under a NULL may hold anything; only valid values must lie within.
        let within = |i: usize| DayTruncation::DAYS.contains(&values[i].div_euclid(self.per_day));
        let all_within = !outside
            || match column.nulls() {
                None => (0..values.len()).all(within),
                Some(nulls) => nulls.valid_indices().all(within),
            };
        all_within.then_some(found)
    }
}

/// Per value, `by_day[day - first]` for its day (`PER_DAY` units each), else `none`; and
/// whether some value lies outside the calendar. Both tests are on unsigned offsets, where a
/// value before the start wraps to beyond the end, and the day is an unsigned division by a
/// constant: a multiplication and a shift.
fn by_days<E: Copy, const PER_DAY: i64>(
    values: &[i64],
    first: i64,
    by_day: &[E],
    none: E,
) -> (Vec<E>, bool) {
    let calendar = DayTruncation::DAYS;
    let calendar_start = calendar.start * PER_DAY;
    // 2^17 days of nanoseconds pass i64::MAX, not u64::MAX.
    let calendar_units = (calendar.end - calendar.start) as u64 * PER_DAY as u64;
    // A value within the calendar but before the table wraps to at least 2^64 less the
    // calendar's units: more than MAX_TABLE_DAYS days past the table's start (82K days in
    // nanoseconds, the least).
    let table_start = first * PER_DAY;
    let mut outside = false;
    let found = values
        .iter()
        .map(|&v| {
            outside |= v.wrapping_sub(calendar_start) as u64 >= calendar_units;
            let day = v.wrapping_sub(table_start) as u64 / PER_DAY as u64;
            *by_day.get(day as usize).unwrap_or(&none)
        })
        .collect();
    (found, outside)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use datafusion::arrow::array::{
        Date32Array, Int64Array, TimestampMicrosecondArray, TimestampMillisecondArray,
    };
    use datafusion::arrow::datatypes::Field;
    use datafusion::physical_expr::expressions::{binary, col, lit};

    /// `column op value` over `schema`.
    fn compare(
        schema: &Schema,
        column: &str,
        op: Operator,
        value: ScalarValue,
    ) -> Arc<dyn PhysicalExpr> {
        binary(col(column, schema).unwrap(), op, lit(value), schema).unwrap()
    }

    /// Columns with NULLs, sliced, against constants that repeat and one that never occurs:
    /// every fused argument equals Arrow's comparison, and other arguments are left alone.
    #[test]
    fn fused_equalities_equal_arrows_comparisons() {
        let schema = Schema::new(vec![
            Field::new("i", DataType::Int64, true),
            Field::new("t", DataType::Timestamp(TimeUnit::Microsecond, None), true),
            Field::new("d", DataType::Date32, true),
        ]);
        let rows = 1_000;
        let ints =
            Int64Array::from_iter((0..rows).map(|r| (r % 7 != 0).then_some((r * 37) % 50 - 25)));
        let times = TimestampMicrosecondArray::from_iter(
            (0..rows).map(|r| (r % 5 != 0).then_some(((r * 13) % 40) * 86_400_000_000)),
        );
        let dates = Date32Array::from_iter(
            (0..rows).map(|r| (r % 3 != 0).then_some(((r * 11) % 30) as i32)),
        );
        let batch = RecordBatch::try_new(
            Arc::new(schema.clone()),
            vec![Arc::new(ints), Arc::new(times), Arc::new(dates)],
        )
        .unwrap()
        .slice(3, 900);

        let eq_lit = |name: &str, value| compare(&schema, name, Operator::Eq, value);
        let mut exprs = vec![
            (-25..=25)
                .map(|v| eq_lit("i", ScalarValue::Int64(Some(v))))
                .chain([eq_lit("i", ScalarValue::Int64(Some(3)))])
                .collect::<Vec<_>>(),
            (0..12)
                .map(|day| {
                    eq_lit(
                        "t",
                        ScalarValue::TimestampMicrosecond(Some(day * 86_400_000_000), None),
                    )
                })
                .collect(),
            vec![
                eq_lit("d", ScalarValue::Date32(Some(4))),
                eq_lit("d", ScalarValue::Date32(Some(99))),
                eq_lit("d", ScalarValue::Date32(Some(29))),
            ],
        ];
        // The constant's side does not matter; other comparisons are not fused.
        exprs.push(vec![
            binary(
                lit(ScalarValue::Date32(Some(4))),
                Operator::Eq,
                col("d", &schema).unwrap(),
                &schema,
            )
            .unwrap(),
            compare(&schema, "d", Operator::Gt, ScalarValue::Date32(Some(5))),
        ]);
        let arguments = Arguments::new(exprs.clone(), &schema, &[]);
        assert_eq!(arguments.sets.len(), 3, "i, t and d fused");
        assert!(arguments.fused[3][0].is_some() && arguments.fused[3][1].is_none());
        // Two comparisons with a column are too few to fuse.
        let two = Arguments::new(vec![exprs[2][..2].to_vec()], &schema, &[]);
        assert!(two.sets.is_empty());

        let got = arguments.evaluate(&batch).unwrap();
        for (exprs, got) in exprs.iter().zip(&got) {
            let Input::Arguments(got) = got else {
                panic!("no accumulator was said to take masks")
            };
            for (expr, got) in exprs.iter().zip(got) {
                let expected = expr
                    .evaluate(&batch)
                    .unwrap()
                    .into_array(batch.num_rows())
                    .unwrap();
                assert_eq!(got.as_ref(), expected.as_ref(), "{expr}");
            }
        }
        // The table really separates 51 constants with one probe each.
        let constants: Vec<i64> = (-25..=25).collect();
        assert!(SlotTable::new(&constants).is_some());
    }

    /// `date_trunc(granularity, t)` compared with month starts, a constant within a month and
    /// a repeated one: looked up by day, the comparisons and the masks equal DataFusion's,
    /// with NULLs; a batch holding a value outside the calendar (1700) is truncated instead,
    /// with the same answers, or DataFusion's error for a value it cannot truncate (1500).
    #[test]
    fn truncated_timestamps_are_compared_by_day() {
        use datafusion::config::ConfigOptions;
        use persona_udfs::builtins::date_trunc::date_trunc_udf;

        let schema = Schema::new(vec![Field::new(
            "t",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            true,
        )]);
        let day_ms = 86_400_000_i64;
        // 2023-01-01 (day 19358) and the next 900 days, at any time of day.
        let mut x = 0x2545_F491_4F6C_DD1D_u64;
        let times: Vec<Option<i64>> = (0..5_000)
            .map(|r| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let day = 19_358 + (x % 900) as i64;
                (r % 11 != 0).then_some(day * day_ms + ((x >> 32) % day_ms as u64) as i64)
            })
            .collect();
        let within = RecordBatch::try_new(
            Arc::new(schema.clone()),
            vec![Arc::new(TimestampMillisecondArray::from(times.clone()))],
        )
        .unwrap();
        let with = |value: i64| {
            let mut times = times.clone();
            times[7] = Some(value);
            RecordBatch::try_new(
                Arc::new(schema.clone()),
                vec![Arc::new(TimestampMillisecondArray::from(times))],
            )
            .unwrap()
        };
        // 1700, outside the calendar; 1500, beyond what DataFusion truncates.
        let (outside, refused) = (with(-8_600_000_000_000), with(-15_000_000_000_000));
        let month_start = |year: i64, month: i64| {
            let days = NaiveDate::from_ymd_opt(year as i32, month as u32, 1)
                .unwrap()
                .signed_duration_since(NaiveDate::from_ymd_opt(1970, 1, 1).unwrap())
                .num_days();
            ScalarValue::TimestampMillisecond(Some(days * day_ms), None)
        };
        for granularity in ["month", "quarter"] {
            let truncated: Arc<dyn PhysicalExpr> = Arc::new(
                ScalarFunctionExpr::try_new(
                    date_trunc_udf(),
                    vec![
                        lit(ScalarValue::Utf8(Some(granularity.into()))),
                        col("t", &schema).unwrap(),
                    ],
                    &schema,
                    Arc::new(ConfigOptions::default()),
                )
                .unwrap(),
            );
            let equals = |value: ScalarValue| {
                binary(Arc::clone(&truncated), Operator::Eq, lit(value), &schema).unwrap()
            };
            let mut conditions: Vec<_> = (1..=12).map(|m| equals(month_start(2024, m))).collect();
            conditions.push(equals(month_start(2023, 4)));
            // Within a month: never a truncation.
            conditions.push(equals(ScalarValue::TimestampMillisecond(
                Some(19_800 * day_ms + 5),
                None,
            )));
            let arguments = Arguments::new(
                vec![conditions.clone(), conditions.clone()],
                &schema,
                &[true, false],
            );
            assert!(
                arguments.sets[0].days.is_some(),
                "{granularity}: a day table"
            );
            let refusal = conditions[0].evaluate(&refused).err().unwrap();
            let got = arguments
                .evaluate(&refused)
                .err()
                .expect("DataFusion's refusal");
            assert_eq!(got.to_string(), refusal.to_string());
            for batch in [&within, &outside] {
                let got = arguments.evaluate(batch).unwrap();
                let (Input::RowStates(masks), Input::Arguments(truths)) = (&got[0], &got[1]) else {
                    panic!("masks for the first accumulator, arguments for the second")
                };
                let masks = masks.as_any().downcast_ref::<UInt32Array>().unwrap();
                for (k, (condition, got)) in conditions.iter().zip(truths).enumerate() {
                    let expected = condition
                        .evaluate(batch)
                        .unwrap()
                        .into_array(batch.num_rows())
                        .unwrap();
                    assert_eq!(
                        got.as_ref(),
                        expected.as_ref(),
                        "{granularity}: {condition}"
                    );
                    let expected = expected.as_any().downcast_ref::<BooleanArray>().unwrap();
                    for row in 0..batch.num_rows() {
                        assert_eq!(masks.is_null(row), expected.is_null(row));
                        if expected.is_valid(row) {
                            let bit = masks.value(row) >> k & 1 == 1;
                            assert_eq!(bit, expected.value(row), "{granularity} {k} row {row}");
                        }
                    }
                }
            }
        }
    }

    /// An accumulator said to take condition masks gets, per row, the bits of the conditions
    /// true on it: repeated constants set several bits, NULLs stay NULL, and one comparison of
    /// another kind keeps it on its arguments.
    #[test]
    fn condition_masks_hold_the_conditions_each_row_meets() {
        let schema = Schema::new(vec![Field::new("t", DataType::Int64, true)]);
        let values = Int64Array::from_iter((0..500).map(|r| (r % 9 != 0).then_some(r % 20)));
        let batch = RecordBatch::try_new(Arc::new(schema.clone()), vec![Arc::new(values)]).unwrap();
        let conditions: Vec<_> = [3, 5, 3, 7, 11, 42]
            .into_iter()
            .map(|v| compare(&schema, "t", Operator::Eq, ScalarValue::Int64(Some(v))))
            .collect();
        let mut mixed = conditions.clone();
        mixed.push(compare(
            &schema,
            "t",
            Operator::Gt,
            ScalarValue::Int64(Some(5)),
        ));
        let arguments = Arguments::new(
            vec![conditions.clone(), mixed, conditions.clone()],
            &schema,
            &[true, true, false],
        );
        let got = arguments.evaluate(&batch).unwrap();
        let Input::RowStates(masks) = &got[0] else {
            panic!("the first accumulator takes masks")
        };
        assert!(
            matches!(got[1], Input::Arguments(_)),
            "a `>` keeps its arguments"
        );
        assert!(
            matches!(got[2], Input::Arguments(_)),
            "not said to take masks"
        );
        let masks = masks.as_any().downcast_ref::<UInt32Array>().unwrap();
        let truths: Vec<ArrayRef> = conditions
            .iter()
            .map(|c| c.evaluate(&batch).unwrap().into_array(500).unwrap())
            .collect();
        for row in 0..batch.num_rows() {
            let mut expected = 0u32;
            for (k, truth) in truths.iter().enumerate() {
                let truth = truth.as_any().downcast_ref::<BooleanArray>().unwrap();
                if truth.is_valid(row) && truth.value(row) {
                    expected |= 1 << k;
                }
            }
            assert_eq!(masks.is_null(row), row % 9 == 0, "row {row}");
            if masks.is_valid(row) {
                assert_eq!(masks.value(row), expected, "row {row}");
            }
        }
    }
}
