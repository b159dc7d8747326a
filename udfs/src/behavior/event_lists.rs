//! The accumulator `window_funnel`, `sequence_match` and `sequence_count` share: the rows of
//! every group as (time, condition mask) pairs, partial states as two lists, and the
//! function's own `finish` turning a group's rows into its result.
//!
//! A row's mask has bit k set when condition k + 1 held. Rows that met no condition are kept
//! only when the function asks (`window_funnel`'s strict_order needs them); rows with a NULL
//! time are skipped, as ClickHouse skips them.
//!
//! Rows are appended to one flat vector tagged with their group and laid out by group when
//! emitted ([`crate::groups::take`]).

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int64Array, ListArray, UInt32Array,
};
use datafusion::arrow::buffer::{OffsetBuffer, ScalarBuffer};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Int64Type, UInt32Type};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::{Accumulator, EmitTo, GroupsAccumulator};

use super::events::{kept_rows, ticks, true_rows};

/// Rows of one group: (time in ticks, condition mask).
pub type Row = (i64, u32);

/// What a function does with the rows of its groups.
pub trait Finish: std::fmt::Debug + Send + Sync {
    /// Whether rows that met no condition are kept.
    fn keeps_empty_rows(&self) -> bool {
        false
    }
    /// `Some(window)` when only rows up to `window` after the group's earliest condition-1
    /// row can change the result (`window_funnel`'s first_start): later rows are dropped as
    /// they arrive, against the earliest condition-1 time seen so far, which only moves
    /// earlier, so a row dropped would also be past the final anchor's window.
    fn horizon(&self) -> Option<i64> {
        None
    }
    /// The results of the groups whose rows are `rows[offsets[i]..offsets[i + 1]]`.
    fn finish(&self, rows: &[Row], offsets: &[usize]) -> Result<ArrayRef>;
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

/// Rows of every group, for any `Finish`.
#[derive(Debug)]
pub struct EventGroups<F: Finish> {
    finish: Arc<F>,
    /// Position of the time among the arguments; the conditions follow it.
    time_arg: usize,
    conditions: usize,
    groups: usize,
    /// (time, group, mask) in arrival order.
    flat: Vec<(i64, u32, u32)>,
    /// With a horizon: each group's earliest condition-1 time so far (i64::MAX: none yet).
    anchors: Vec<i64>,
}

impl<F: Finish> EventGroups<F> {
    pub fn new(finish: Arc<F>, time_arg: usize, conditions: usize) -> Self {
        Self {
            finish,
            time_arg,
            conditions,
            groups: 0,
            flat: Vec::new(),
            anchors: Vec::new(),
        }
    }

    /// Appends a row of group `g`, unless it lies past the group's horizon.
    fn push(
        flat: &mut Vec<(i64, u32, u32)>,
        anchors: &mut [i64],
        horizon: Option<i64>,
        t: i64,
        g: usize,
        m: u32,
    ) {
        if let Some(window) = horizon {
            let anchor = &mut anchors[g];
            if m & 1 != 0 && t < *anchor {
                *anchor = t;
            }
            if t > anchor.saturating_add(window) {
                return;
            }
        }
        flat.push((t, g as u32, m));
    }

    fn grow(&mut self, total_num_groups: usize) {
        self.groups = self.groups.max(total_num_groups);
        if self.finish.horizon().is_some() {
            self.anchors.resize(self.groups, i64::MAX);
        }
    }

    /// Calls `keep(row, time, mask)` for every row kept from this batch.
    fn rows(
        &self,
        values: &[ArrayRef],
        filter: Option<&BooleanArray>,
        mut keep: impl FnMut(usize, i64, u32),
    ) -> Result<()> {
        let times = ticks(&values[self.time_arg])?;
        let mut masks = vec![0u32; times.len()];
        for k in 0..self.conditions {
            let condition = &values[self.time_arg + 1 + k];
            for row in true_rows(condition, None)?.set_indices() {
                masks[row] |= 1 << k;
            }
        }
        let kept = kept_rows(times.len(), filter);
        let empty = self.finish.keeps_empty_rows();
        let values = times.values();
        for (row, &mask) in masks.iter().enumerate() {
            if (mask != 0 || empty) && kept.value(row) && times.is_valid(row) {
                keep(row, values[row], mask);
            }
        }
        Ok(())
    }

    /// The rows of the first groups `emit_to` asks for, laid out by group; the others stay,
    /// renumbered from 0.
    fn take(&mut self, emit_to: EmitTo) -> (Vec<Row>, Vec<usize>) {
        let (rows, offsets) = crate::groups::take(
            &mut self.flat,
            &mut self.groups,
            emit_to,
            |e| e.1,
            |e| (e.0, e.2),
            |(t, _, m), g| (t, g, m),
        );
        let emitted = offsets.len() - 1;
        self.anchors.drain(..emitted.min(self.anchors.len()));
        (rows, offsets)
    }

    fn lists(rows: &[Row], offsets: &[usize]) -> Vec<ArrayRef> {
        let offsets: Vec<i32> = offsets.iter().map(|&o| o as i32).collect();
        let offsets = OffsetBuffer::new(ScalarBuffer::from(offsets));
        let times: Int64Array = rows.iter().map(|r| r.0).collect::<Vec<_>>().into();
        let masks: UInt32Array = rows.iter().map(|r| r.1).collect::<Vec<_>>().into();
        let list = |values: ArrayRef, t: DataType| -> ArrayRef {
            Arc::new(ListArray::new(
                Arc::new(Field::new_list_field(t, true)),
                offsets.clone(),
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
        let (Some(times), Some(masks)) = (
            values[0].as_list_opt::<i32>(),
            values[1].as_list_opt::<i32>(),
        ) else {
            return exec_err!("behaviour state: expected lists");
        };
        let all_times = times.values().as_primitive::<Int64Type>().values();
        let all_masks = masks.values().as_primitive::<UInt32Type>().values();
        let offsets = times.value_offsets();
        let horizon = self.finish.horizon();
        for (row, &g) in group_indices.iter().enumerate() {
            if times.is_null(row) {
                continue;
            }
            let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
            if horizon.is_none() {
                self.flat
                    .extend((start..end).map(|i| (all_times[i], g as u32, all_masks[i])));
                continue;
            }
            for i in start..end {
                Self::push(
                    &mut self.flat,
                    &mut self.anchors,
                    horizon,
                    all_times[i],
                    g,
                    all_masks[i],
                );
            }
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
        self.grow(total_num_groups);
        let mut flat = std::mem::take(&mut self.flat);
        let mut anchors = std::mem::take(&mut self.anchors);
        let horizon = self.finish.horizon();
        let done = self.rows(values, opt_filter, |row, t, m| {
            Self::push(&mut flat, &mut anchors, horizon, t, group_indices[row], m)
        });
        self.flat = flat;
        self.anchors = anchors;
        done
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let (rows, offsets) = self.take(emit_to);
        self.finish.finish(&rows, &offsets)
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let (rows, offsets) = self.take(emit_to);
        Ok(Self::lists(&rows, &offsets))
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.grow(total_num_groups);
        self.merge_lists(values, group_indices)
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        // Each input row is its own group: a list of itself, or empty.
        let n = values[self.time_arg].len();
        let mut offsets = vec![0usize; n + 1];
        let mut rows = Vec::new();
        self.rows(values, opt_filter, |row, t, m| {
            rows.push((t, m));
            offsets[row + 1] = 1;
        })?;
        for i in 0..n {
            offsets[i + 1] += offsets[i];
        }
        Ok(Self::lists(&rows, &offsets))
    }

    fn size(&self) -> usize {
        self.flat.capacity() * size_of::<(i64, u32, u32)>() + self.anchors.capacity() * 8
    }
}

/// The single-group form over the same code.
#[derive(Debug)]
pub struct EventAccumulator<F: Finish + 'static>(pub EventGroups<F>);

impl<F: Finish + 'static> EventAccumulator<F> {
    /// The one group's rows, left in place.
    fn rows(&self) -> (Vec<Row>, Vec<usize>) {
        let rows: Vec<Row> = self.0.flat.iter().map(|&(t, _, m)| (t, m)).collect();
        let offsets = vec![0, rows.len()];
        (rows, offsets)
    }
}

impl<F: Finish + 'static> Accumulator for EventAccumulator<F> {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let rows = values.first().map_or(0, |v| v.len());
        self.0.update_batch(values, &vec![0; rows], None, 1)
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let (rows, offsets) = self.rows();
        ScalarValue::try_from_array(&self.0.finish.finish(&rows, &offsets)?, 0)
    }

    fn size(&self) -> usize {
        size_of_val(self) + self.0.size()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let (rows, offsets) = self.rows();
        EventGroups::<F>::lists(&rows, &offsets)
            .iter()
            .map(|a| ScalarValue::try_from_array(a, 0))
            .collect()
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let rows = states.first().map_or(0, |v| v.len());
        self.0.grow(1);
        self.0.merge_lists(states, &vec![0; rows])
    }
}
