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
//! An accumulator whose state for one row is the mask of the conditions the row meets
//! (`retention`: bit k for condition k + 1, merged by OR) and whose conditions are all fused
//! comparisons with one column skips its conditions altogether: the same table lookup gives
//! each row's mask, and the accumulator merges the masks as it merges partial states. For
//! retention's twelve months this replaced twelve bitmaps and twelve passes over them with
//! one array of masks.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch, UInt32Array};
use datafusion::arrow::buffer::{BooleanBuffer, Buffer};
use datafusion::arrow::datatypes::Schema;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::Operator;
use datafusion::physical_expr::expressions::{BinaryExpr, Column, Literal};
use datafusion::physical_plan::PhysicalExpr;

/// The fewest comparisons with one column worth a fused pass.
const MIN_FUSED: usize = 3;
/// The most distinct constants of one fused column.
const MAX_CONSTANTS: usize = 64;

/// A comparison of a column with a constant: (accumulator, argument, constant).
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
/// compares the set's column with constant j.
#[derive(Debug)]
struct ConditionMasks {
    set: usize,
    bits: Vec<u32>,
}

/// One column's comparisons with constants.
#[derive(Debug)]
struct EqualitySet {
    column: usize,
    /// The column's values are 32-bit (Int32, Date32), else 64-bit.
    narrow: bool,
    /// The distinct constants, each compared with the column by one argument or more.
    constants: Vec<i64>,
    table: SlotTable,
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

/// The column and constant of `expr` when it is `column = constant` (either way round) with
/// a non-NULL constant of the column's own integer-backed type; the flag tells a 32-bit
/// column.
fn column_equals_constant(
    expr: &Arc<dyn PhysicalExpr>,
    schema: &Schema,
) -> Option<(usize, bool, i64)> {
    let binary = expr.downcast_ref::<BinaryExpr>()?;
    if *binary.op() != Operator::Eq {
        return None;
    }
    let (left, right) = (binary.left(), binary.right());
    let (column, literal) = match (
        left.downcast_ref::<Column>(),
        right.downcast_ref::<Literal>(),
    ) {
        (Some(c), Some(l)) => (c, l),
        _ => (
            right.downcast_ref::<Column>()?,
            left.downcast_ref::<Literal>()?,
        ),
    };
    let data_type = schema.fields().get(column.index())?.data_type();
    if literal.value().data_type() != *data_type {
        return None;
    }
    let (narrow, value) = match *literal.value() {
        ScalarValue::Int64(Some(v))
        | ScalarValue::Date64(Some(v))
        | ScalarValue::TimestampSecond(Some(v), _)
        | ScalarValue::TimestampMillisecond(Some(v), _)
        | ScalarValue::TimestampMicrosecond(Some(v), _)
        | ScalarValue::TimestampNanosecond(Some(v), _) => (false, v),
        ScalarValue::Int32(Some(v)) | ScalarValue::Date32(Some(v)) => (true, i64::from(v)),
        _ => return None,
    };
    Some((column.index(), narrow, value))
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
        // Per column: whether it is 32-bit, and the comparisons with it.
        let mut by_column: BTreeMap<usize, (bool, Vec<Use>)> = BTreeMap::new();
        for (a, arguments) in exprs.iter().enumerate() {
            for (i, expr) in arguments.iter().enumerate() {
                if let Some((column, narrow, value)) = column_equals_constant(expr, schema) {
                    let entry = by_column.entry(column).or_insert((narrow, Vec::new()));
                    entry.1.push((a, i, value));
                }
            }
        }
        let mut fused: Vec<Vec<Option<(usize, usize)>>> =
            exprs.iter().map(|args| vec![None; args.len()]).collect();
        let mut sets = Vec::new();
        for (column, (narrow, uses)) in by_column {
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
            sets.push(EqualitySet {
                column,
                narrow,
                constants,
                table,
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
                    ConditionMasks { set, bits }
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
                    Vec::new()
                }
            })
            .collect();
        self.exprs
            .iter()
            .zip(&self.fused)
            .zip(&self.masks)
            .map(|((exprs, fused), masks)| {
                if let Some(m) = masks {
                    return Ok(Input::RowStates(self.sets[m.set].masks(batch, &m.bits)));
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

impl EqualitySet {
    /// Per row, the OR of `bits[j]` over the constants j the value equals (at most one);
    /// NULL where the column is NULL.
    fn masks(&self, batch: &RecordBatch, bits: &[u32]) -> ArrayRef {
        let column = batch.column(self.column);
        let rows = column.len();
        let data = column.to_data();
        let masks = if self.narrow {
            self.table.masks(&data.buffer::<i32>(0)[..rows], bits)
        } else {
            self.table.masks(&data.buffer::<i64>(0)[..rows], bits)
        };
        Arc::new(UInt32Array::new(masks.into(), column.nulls().cloned()))
    }

    /// One `column = constant` array per constant.
    fn evaluate(&self, batch: &RecordBatch) -> Vec<ArrayRef> {
        let column = batch.column(self.column);
        let rows = column.len();
        let n = self.constants.len();
        // The column's values as integers, whatever type they carry.
        let data = column.to_data();
        let bits = if self.narrow {
            self.table.bitmaps(&data.buffer::<i32>(0)[..rows], n)
        } else {
            self.table.bitmaps(&data.buffer::<i64>(0)[..rows], n)
        };
        let words = rows.div_ceil(64);
        let buffer = Buffer::from_vec(bits);
        (0..n)
            .map(|k| {
                let values =
                    BooleanBuffer::new(buffer.slice_with_length(k * words * 8, words * 8), 0, rows);
                Arc::new(BooleanArray::new(values, column.nulls().cloned())) as ArrayRef
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Date32Array, Int64Array, TimestampMicrosecondArray};
    use datafusion::arrow::datatypes::{DataType, Field, TimeUnit};
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
