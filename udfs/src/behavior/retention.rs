//! `retention(cond1, …, condN)`: ClickHouse's retention aggregate. Element 1 is whether any row
//! of the group met cond1; element k is whether some row met cond1 and some row met condk.
//! Each group keeps one 32-bit mask, so the aggregate runs as a `GroupsAccumulator`.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, ListArray, UInt8Array, UInt32Array,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, UInt32Type};
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Documentation, EmitTo, GroupsAccumulator,
    Signature,
};

use super::DOC_SECTION;
use super::events::true_rows;

/// The most conditions a retention, funnel or sequence takes (a 32-bit mask per group).
pub const MAX_CONDITIONS: usize = 32;

crate::user_defined_udaf!(RetentionFunc, retention_udaf, "`retention`.");

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION,
        "Aggregate, as ClickHouse's retention: a list of 0/1 per group. The first element is 1 \
         when some row met cond1; element k is 1 when some row met cond1 and some row met condk. \
         1 to 32 conditions; NULL counts as false. Summing the lists' elements over customers \
         gives a retention curve.",
        "retention(cond1, cond2, ..., condN)",
    )
    .with_argument("condN", "A boolean condition on the row.")
    .with_sql_example(
        "SELECT retention(order_month = DATE '2024-01-01', order_month = DATE '2024-02-01',\n\
         \x20                order_month = DATE '2024-03-01') AS r\n\
         FROM (SELECT customer_id, date_trunc('month', order_ts) AS order_month FROM orders)\n\
         GROUP BY customer_id;",
    )
    .build()
});

/// Checks the number of conditions and coerces them to booleans.
pub fn coerce_conditions(function: &str, types: &[DataType]) -> Result<Vec<DataType>> {
    if types.is_empty() || types.len() > MAX_CONDITIONS {
        return plan_err!(
            "{function} takes 1 to {MAX_CONDITIONS} conditions, got {}",
            types.len()
        );
    }
    types
        .iter()
        .enumerate()
        .map(|(i, t)| match t {
            DataType::Boolean | DataType::Null => Ok(DataType::Boolean),
            t => plan_err!(
                "Unexpected argument type to '{function}' at condition {}, expected a boolean, got {t}",
                i + 1
            ),
        })
        .collect()
}

impl AggregateUDFImpl for RetentionFunc {
    fn name(&self) -> &str {
        "retention"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce_conditions("retention", arg_types)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::new_list(DataType::UInt8, true))
    }

    fn is_nullable(&self) -> bool {
        false
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format!("{}[mask]", args.name),
            DataType::UInt32,
            false,
        ))])
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(RetentionAccumulator {
            groups: RetentionGroups::new(args.exprs.len()),
        }))
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(RetentionGroups::new(args.exprs.len())))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}

/// Whether `udf`'s state for one row is the UInt32 mask of the conditions the row meets (bit k
/// for condition k + 1), merged by OR: true of `retention` (see `RetentionGroups`). The
/// dense aggregation (`src/dense_aggregate/equalities.rs`) then hands it fused conditions as
/// per-row masks to `merge_batch` instead of evaluating them.
pub fn takes_condition_masks(udf: &AggregateUDF) -> bool {
    udf.inner().is::<RetentionFunc>()
}

/// One mask per group: bit k set when some row met condition k + 1.
///
/// The state is that mask, and one row's state the mask of the conditions it meets, which
/// [`takes_condition_masks`] promises: keep the two in step.
#[derive(Debug)]
struct RetentionGroups {
    conditions: usize,
    masks: Vec<u32>,
}

impl RetentionGroups {
    fn new(conditions: usize) -> Self {
        Self {
            conditions,
            masks: Vec::new(),
        }
    }

    /// The lists of 0/1 for these masks.
    fn lists(&self, masks: &[u32]) -> ArrayRef {
        let n = self.conditions;
        let mut values = Vec::with_capacity(masks.len() * n);
        for &mask in masks {
            let first = mask & 1;
            values.push(first as u8);
            for k in 1..n {
                values.push((first & (mask >> k)) as u8);
            }
        }
        flag_lists(values, n)
    }
}

/// Lists of `n` 0/1 flags each, from their values laid end to end: the result of `retention`
/// and `cohort_retention`.
pub fn flag_lists(values: Vec<u8>, n: usize) -> ArrayRef {
    let lists = values.len().checked_div(n).unwrap_or(0);
    Arc::new(ListArray::new(
        Arc::new(Field::new_list_field(DataType::UInt8, true)),
        OffsetBuffer::from_lengths(std::iter::repeat_n(n, lists)),
        Arc::new(UInt8Array::from(values)),
        None,
    ))
}

impl GroupsAccumulator for RetentionGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.masks.resize(total_num_groups, 0);
        for (k, condition) in values.iter().enumerate() {
            let bit = 1u32 << k;
            for row in true_rows(condition, opt_filter)?.set_indices() {
                self.masks[group_indices[row]] |= bit;
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let masks = emit_to.take_needed(&mut self.masks);
        Ok(self.lists(&masks))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let masks = emit_to.take_needed(&mut self.masks);
        Ok(vec![Arc::new(UInt32Array::from(masks))])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.masks.resize(total_num_groups, 0);
        let masks = values[0].as_primitive::<UInt32Type>();
        let rows = group_indices.iter().zip(masks.values());
        match masks.nulls().filter(|n| n.null_count() > 0) {
            None => rows.for_each(|(&g, &mask)| self.masks[g] |= mask),
            Some(nulls) => rows
                .zip(nulls.iter())
                .filter(|(_, valid)| *valid)
                .for_each(|((&g, &mask), _)| self.masks[g] |= mask),
        }
        Ok(())
    }

    /// Each row's own mask, for when DataFusion skips partial aggregation.
    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let rows = values.first().map_or(0, |v| v.len());
        let mut masks = vec![0u32; rows];
        for (k, condition) in values.iter().enumerate() {
            for row in true_rows(condition, opt_filter)?.set_indices() {
                masks[row] |= 1 << k;
            }
        }
        Ok(vec![Arc::new(UInt32Array::from(masks))])
    }

    fn size(&self) -> usize {
        self.masks.capacity() * 4
    }
}

/// The single-group form, over the same code.
#[derive(Debug)]
struct RetentionAccumulator {
    groups: RetentionGroups,
}

impl Accumulator for RetentionAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let rows = values.first().map_or(0, |v| v.len());
        self.groups.update_batch(values, &vec![0; rows], None, 1)
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let masks = if self.groups.masks.is_empty() {
            vec![0]
        } else {
            self.groups.masks.clone()
        };
        ScalarValue::try_from_array(&self.groups.lists(&masks), 0)
    }

    fn size(&self) -> usize {
        size_of_val(self) + self.groups.size()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let mask = self.groups.masks.first().copied().unwrap_or(0);
        Ok(vec![ScalarValue::UInt32(Some(mask))])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let rows = states.first().map_or(0, |v| v.len());
        self.groups.merge_batch(states, &vec![0; rows], 1)
    }
}
