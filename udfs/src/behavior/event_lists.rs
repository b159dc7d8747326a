//! The accumulator `window_funnel`, `sequence_match` and `sequence_count` share: each group
//! keeps its rows as (time, condition mask) pairs, partial states travel as two lists, and the
//! function's own `finish` turns a group's rows into its result.
//!
//! A row's mask has bit k set when condition k + 1 held. Rows that met no condition are kept
//! only when the function asks (`window_funnel`'s strict_order needs them); rows with a NULL
//! time are skipped, as ClickHouse skips them.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int64Array, ListArray, UInt32Array,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Int64Type, UInt32Type};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::{Accumulator, EmitTo, GroupsAccumulator};

use super::events::{kept_rows, ticks, true_rows};

/// A group's rows: (time in ticks, condition mask).
pub type Rows = Vec<(i64, u32)>;

/// What a function does with a group's rows.
pub trait Finish: std::fmt::Debug + Send + Sync {
    /// Whether rows that met no condition are kept.
    fn keeps_empty_rows(&self) -> bool {
        false
    }
    /// The result type.
    fn data_type(&self) -> DataType;
    /// The results of these groups.
    fn finish(&self, groups: &mut [Rows]) -> Result<ArrayRef>;
}

/// The two partial-state fields: times and masks as lists.
pub fn state_fields(name: &str) -> Vec<FieldRef> {
    vec![
        Arc::new(Field::new(
            format!("{name}[times]"),
            DataType::new_list(DataType::Int64, true),
            true,
        )),
        Arc::new(Field::new(
            format!("{name}[masks]"),
            DataType::new_list(DataType::UInt32, true),
            true,
        )),
    ]
}

/// Rows of a group, for any `Finish`.
#[derive(Debug)]
pub struct EventGroups<F: Finish> {
    finish: Arc<F>,
    /// Position of the time among the arguments; the conditions follow it.
    time_arg: usize,
    conditions: usize,
    groups: Vec<Rows>,
}

impl<F: Finish> EventGroups<F> {
    pub fn new(finish: Arc<F>, time_arg: usize, conditions: usize) -> Self {
        Self {
            finish,
            time_arg,
            conditions,
            groups: Vec::new(),
        }
    }

    /// Each row's time and mask (None for rows skipped).
    fn rows(&self, values: &[ArrayRef], filter: Option<&BooleanArray>) -> Result<Vec<Option<(i64, u32)>>> {
        let times = ticks(&values[self.time_arg])?;
        let mut masks = vec![0u32; times.len()];
        for k in 0..self.conditions {
            let condition = &values[self.time_arg + 1 + k];
            for row in true_rows(condition, None)?.set_indices() {
                masks[row] |= 1 << k;
            }
        }
        let keep = kept_rows(times.len(), filter);
        let empty = self.finish.keeps_empty_rows();
        Ok((0..times.len())
            .map(|row| {
                (keep.value(row) && times.is_valid(row) && (masks[row] != 0 || empty))
                    .then(|| (times.value(row), masks[row]))
            })
            .collect())
    }

    fn lists(groups: &[Rows]) -> Vec<ArrayRef> {
        let lengths = groups.iter().map(Vec::len);
        let times: Int64Array = groups.iter().flatten().map(|r| r.0).collect();
        let masks: UInt32Array = groups.iter().flatten().map(|r| r.1).collect();
        let list = |values: ArrayRef, t: DataType| -> ArrayRef {
            Arc::new(ListArray::new(
                Arc::new(Field::new_list_field(t, true)),
                OffsetBuffer::from_lengths(lengths.clone()),
                values,
                None,
            ))
        };
        vec![
            list(Arc::new(times), DataType::Int64),
            list(Arc::new(masks), DataType::UInt32),
        ]
    }

    fn merge_lists(&mut self, values: &[ArrayRef], group_indices: &[usize]) -> Result<()> {
        let (Some(times), Some(masks)) = (values[0].as_list_opt::<i32>(), values[1].as_list_opt::<i32>()) else {
            return exec_err!("behaviour state: expected lists");
        };
        let all_times = times.values().as_primitive::<Int64Type>();
        let all_masks = masks.values().as_primitive::<UInt32Type>();
        let offsets = times.value_offsets();
        for (row, &g) in group_indices.iter().enumerate() {
            if times.is_null(row) {
                continue;
            }
            let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
            let group = &mut self.groups[g];
            group.extend((start..end).map(|i| (all_times.value(i), all_masks.value(i))));
        }
        Ok(())
    }
}

impl<F: Finish + 'static> GroupsAccumulator for EventGroups<F> {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.groups.resize_with(total_num_groups, Vec::new);
        for (row, r) in self.rows(values, opt_filter)?.into_iter().enumerate() {
            if let Some(r) = r {
                self.groups[group_indices[row]].push(r);
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let mut groups = emit_to.take_needed(&mut self.groups);
        self.finish.finish(&mut groups)
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        Ok(Self::lists(&emit_to.take_needed(&mut self.groups)))
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.groups.resize_with(total_num_groups, Vec::new);
        self.merge_lists(values, group_indices)
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let groups: Vec<Rows> = self
            .rows(values, opt_filter)?
            .into_iter()
            .map(|r| r.into_iter().collect())
            .collect();
        Ok(Self::lists(&groups))
    }

    fn size(&self) -> usize {
        self.groups.capacity() * size_of::<Rows>()
            + self.groups.iter().map(|g| g.capacity() * 16).sum::<usize>()
    }
}

/// The single-group form over the same code.
#[derive(Debug)]
pub struct EventAccumulator<F: Finish + 'static>(pub EventGroups<F>);

impl<F: Finish + 'static> Accumulator for EventAccumulator<F> {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let rows = values.first().map_or(0, |v| v.len());
        self.0.update_batch(values, &vec![0; rows], None, 1)
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let mut groups = vec![self.0.groups.first().cloned().unwrap_or_default()];
        ScalarValue::try_from_array(&self.0.finish.finish(&mut groups)?, 0)
    }

    fn size(&self) -> usize {
        size_of_val(self) + self.0.size()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let groups = vec![self.0.groups.first().cloned().unwrap_or_default()];
        EventGroups::<F>::lists(&groups)
            .iter()
            .map(|a| ScalarValue::try_from_array(a, 0))
            .collect()
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let rows = states.first().map_or(0, |v| v.len());
        self.0.groups.resize_with(1, Vec::new);
        self.0.merge_lists(states, &vec![0; rows])
    }
}
