//! `cohort_retention(period, n)`: whether a customer was active 1, 2, …, n periods after their
//! first, in one pass over their rows. The cohort table (first period, and how many of each
//! cohort came back k periods later) then needs one aggregation by customer instead of a join
//! of the rows to each customer's first period, or a window over them sorted by customer.
//!
//! Each group keeps its earliest period and a 64-bit mask of the periods seen from it on
//! (bit j: active at earliest + j). A row earlier than the earliest so far shifts the mask up;
//! bits pushed past 63 are offsets beyond any `n` asked for, so nothing needed is lost.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Int64Type, UInt64Type};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, Documentation, EmitTo, GroupsAccumulator, Signature,
};

use super::DOC_SECTION;
use super::events::{kept_valid_rows, literal};
use super::retention::flag_lists;

/// The most periods after the first that a call can ask about.
pub const MAX_PERIODS: i64 = 63;

crate::user_defined_udaf!(
    CohortRetentionFunc,
    cohort_retention_udaf,
    "`cohort_retention`."
);

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION,
        "Aggregate: a list of n 0/1 values per group, element k being 1 when some row's period \
         is exactly k after the group's first (smallest) period. With min(period) as the \
         cohort, summing the lists over a cohort's customers gives its retention curve, in one \
         pass over the rows. Periods are integers (a month index such as year * 12 + month); \
         NULL periods are skipped; n is 1 to 63.",
        "cohort_retention(period, n)",
    )
    .with_argument("period", "The row's period as an integer, e.g. year * 12 + month.")
    .with_argument("n", "How many periods after the first to report, 1 to 63.")
    .with_sql_example(
        "SELECT cohort, count(*) AS customers, sum(r[1]) AS month_1, sum(r[2]) AS month_2\n\
         FROM (SELECT min(m) AS cohort, cohort_retention(m, 2) AS r\n\
         \x20     FROM (SELECT customer_id, year(order_ts) * 12 + month(order_ts) AS m FROM orders)\n\
         \x20     GROUP BY customer_id)\n\
         GROUP BY cohort ORDER BY cohort;",
    )
    .build()
});

impl AggregateUDFImpl for CohortRetentionFunc {
    fn name(&self) -> &str {
        "cohort_retention"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let [period, n] = arg_types else {
            return plan_err!(
                "cohort_retention takes 2 arguments (period, n), got {}",
                arg_types.len()
            );
        };
        for (what, t) in [("the period", period), ("n", n)] {
            if !(t.is_integer() || t.is_null()) {
                return plan_err!("cohort_retention: {what} must be an integer, got {t}");
            }
        }
        Ok(vec![DataType::Int64, DataType::Int64])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::new_list(DataType::UInt8, true))
    }

    fn is_nullable(&self) -> bool {
        false
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![
            Arc::new(Field::new(
                format!("{}[first]", args.name),
                DataType::Int64,
                false,
            )),
            Arc::new(Field::new(
                format!("{}[mask]", args.name),
                DataType::UInt64,
                false,
            )),
        ])
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(CohortAccumulator {
            groups: CohortGroups::new(periods(&args)?),
        }))
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(CohortGroups::new(periods(&args)?)))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}

/// The constant `n` of a call.
fn periods(args: &AccumulatorArgs) -> Result<usize> {
    match args.exprs.get(1).and_then(literal) {
        Some(ScalarValue::Int64(Some(n))) if (1..=MAX_PERIODS).contains(n) => Ok(*n as usize),
        Some(ScalarValue::Int64(Some(n))) => {
            plan_err!("cohort_retention: n must be 1 to {MAX_PERIODS}, got {n}")
        }
        _ => plan_err!("cohort_retention: n must be a constant integer, 1 to {MAX_PERIODS}"),
    }
}

/// `mask` moved `by` periods later (an earlier first period), bits past 63 dropped.
fn shifted(mask: u64, by: i64) -> u64 {
    if by >= 64 { 0 } else { mask << by }
}

/// Adds the state (first, mask) to the state (first_a, mask_a).
fn combine(a: (i64, u64), b: (i64, u64)) -> (i64, u64) {
    match (a.1, b.1) {
        (_, 0) => a,
        (0, _) => b,
        _ => {
            let first = a.0.min(b.0);
            let mask =
                shifted(a.1, a.0.saturating_sub(first)) | shifted(b.1, b.0.saturating_sub(first));
            (first, mask)
        }
    }
}

/// Per group: the earliest period seen and the mask of periods from it (0: no row yet).
#[derive(Debug)]
struct CohortGroups {
    n: usize,
    first: Vec<i64>,
    masks: Vec<u64>,
}

impl CohortGroups {
    fn new(n: usize) -> Self {
        Self {
            n,
            first: Vec::new(),
            masks: Vec::new(),
        }
    }

    fn resize(&mut self, groups: usize) {
        self.first.resize(groups, 0);
        self.masks.resize(groups, 0);
    }

    fn add(&mut self, g: usize, state: (i64, u64)) {
        let (first, mask) = combine((self.first[g], self.masks[g]), state);
        self.first[g] = first;
        self.masks[g] = mask;
    }

    /// The lists of 0/1 for offsets 1..=n of these masks.
    fn lists(&self, masks: &[u64]) -> ArrayRef {
        let n = self.n;
        let mut values = Vec::with_capacity(masks.len() * n);
        for &mask in masks {
            values.extend((1..=n).map(|k| ((mask >> k) & 1) as u8));
        }
        flag_lists(values, n)
    }
}

impl GroupsAccumulator for CohortGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.resize(total_num_groups);
        let periods = values[0].as_primitive::<Int64Type>();
        let (first, masks) = (&mut self.first, &mut self.masks);
        let mut one = |g: usize, p: i64| {
            let mask = masks[g];
            if mask == 0 {
                first[g] = p;
                masks[g] = 1;
            } else if p >= first[g] {
                let d = p - first[g];
                if d < 64 {
                    masks[g] = mask | 1 << d;
                }
            } else {
                masks[g] = shifted(mask, first[g].saturating_sub(p)) | 1;
                first[g] = p;
            }
        };
        if periods.null_count() == 0 && opt_filter.is_none() {
            for (&g, &p) in group_indices.iter().zip(periods.values()) {
                one(g, p);
            }
        } else {
            let keep = kept_valid_rows(periods, opt_filter);
            for row in keep.set_indices() {
                one(group_indices[row], periods.value(row));
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let masks = emit_to.take_needed(&mut self.masks);
        emit_to.take_needed(&mut self.first);
        Ok(self.lists(&masks))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let first = emit_to.take_needed(&mut self.first);
        let masks = emit_to.take_needed(&mut self.masks);
        Ok(vec![
            Arc::new(Int64Array::from(first)),
            Arc::new(UInt64Array::from(masks)),
        ])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.resize(total_num_groups);
        let (Some(first), Some(masks)) = (
            values[0].as_primitive_opt::<Int64Type>(),
            values[1].as_primitive_opt::<UInt64Type>(),
        ) else {
            return exec_err!("cohort_retention: a partial state of the wrong types");
        };
        for (row, &g) in group_indices.iter().enumerate() {
            if first.is_valid(row) && masks.is_valid(row) {
                self.add(g, (first.value(row), masks.value(row)));
            }
        }
        Ok(())
    }

    /// Each row's own state, for when DataFusion skips partial aggregation.
    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let periods = values[0].as_primitive::<Int64Type>();
        let keep = kept_valid_rows(periods, opt_filter);
        let masks: UInt64Array = keep.iter().map(|k| Some(u64::from(k))).collect();
        Ok(vec![
            Arc::new(Int64Array::new(periods.values().clone(), None)),
            Arc::new(masks),
        ])
    }

    fn size(&self) -> usize {
        self.first.capacity() * 8 + self.masks.capacity() * 8
    }
}

/// The single-group form, over the same code.
#[derive(Debug)]
struct CohortAccumulator {
    groups: CohortGroups,
}

impl Accumulator for CohortAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let rows = values.first().map_or(0, |v| v.len());
        self.groups.update_batch(values, &vec![0; rows], None, 1)
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let mask = self.groups.masks.first().copied().unwrap_or(0);
        ScalarValue::try_from_array(&self.groups.lists(&[mask]), 0)
    }

    fn size(&self) -> usize {
        size_of_val(self) + self.groups.size()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let first = self.groups.first.first().copied().unwrap_or(0);
        let mask = self.groups.masks.first().copied().unwrap_or(0);
        Ok(vec![
            ScalarValue::Int64(Some(first)),
            ScalarValue::UInt64(Some(mask)),
        ])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let rows = states.first().map_or(0, |v| v.len());
        self.groups.merge_batch(states, &vec![0; rows], 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The state of these periods added one at a time, in this order.
    fn state_of(periods: &[i64]) -> (i64, u64) {
        let mut g = CohortGroups::new(6);
        let values: Vec<ArrayRef> = vec![Arc::new(Int64Array::from(periods.to_vec()))];
        g.update_batch(&values, &vec![0; periods.len()], None, 1)
            .unwrap();
        (g.first[0], g.masks[0])
    }

    #[test]
    fn the_order_of_the_rows_and_of_the_merges_does_not_matter() {
        let periods = [24_290, 24_292, 24_288, 24_295, 24_288, 24_400, 24_289];
        let want = state_of(&periods);
        assert_eq!(want.0, 24_288);
        // Offsets 0, 1, 2, 4 and 7 from the first; 112 is past the mask.
        assert_eq!(want.1, 0b1001_0111);
        let mut reversed = periods;
        reversed.reverse();
        assert_eq!(state_of(&reversed), want);
        for cut in 0..periods.len() {
            let (a, b) = periods.split_at(cut);
            assert_eq!(combine(state_of(a), state_of(b)), want, "cut at {cut}");
            assert_eq!(combine(state_of(b), state_of(a)), want, "cut at {cut}");
        }
    }

    #[test]
    fn a_first_period_far_earlier_drops_the_offsets_past_the_mask() {
        assert_eq!(state_of(&[100, 30]), (30, 1));
        assert_eq!(state_of(&[100, 37]), (37, 1 | 1 << 63));
        assert_eq!(combine((0, 0), (5, 1)), (5, 1));
    }
}
