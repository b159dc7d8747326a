//! DataFusion's `count`, with a faster `COUNT(DISTINCT x)` per group for integer `x`.
//!
//! Distinct products, categories or days per customer are in most profiles. DataFusion 55
//! counts them per group in one hash set of (group, value) pairs for the whole aggregation:
//! every row is a probe into a table as large as all distinct pairs, nearly always a cache
//! miss (8.8 s of 20M events in 1M customers, measured). Here rows are appended to a flat
//! vector of (group, value) and laid out by group when emitted ([`crate::groups::take`]),
//! where each group's few values are sorted and counted. The partial state is the same
//! as DataFusion's (the group's distinct values as a list), so plans, spilling and Ballista's
//! codecs see no difference. Everything else, `count(*)` and `count(x)` included, is
//! DataFusion's own implementation.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, ArrowPrimitiveType, AsArray, BooleanArray, Int64Array, ListArray,
    PrimitiveArray,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{
    DataType, Field, FieldRef, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type,
    UInt32Type, UInt64Type,
};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::functions_aggregate::count::Count;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::AggregateOrderSensitivity;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Documentation, EmitTo, GroupsAccumulator,
    ReversedUDAF, SetMonotonicity, Signature, StatisticsArgs,
};

use crate::behavior::events::kept_valid_rows;

/// `count` as persona registers it, over DataFusion's.
pub fn count_udaf() -> Arc<AggregateUDF> {
    Arc::new(AggregateUDF::new_from_impl(CountFunc {
        inner: Count::new(),
    }))
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct CountFunc {
    inner: Count,
}

/// Whether the grouped distinct count of this call is persona's.
fn ours(args: &AccumulatorArgs) -> bool {
    args.is_distinct
        && args.exprs.len() == 1
        && matches!(
            args.expr_fields[0].data_type(),
            DataType::Int8
                | DataType::Int16
                | DataType::Int32
                | DataType::Int64
                | DataType::UInt8
                | DataType::UInt16
                | DataType::UInt32
                | DataType::UInt64
        )
}

impl AggregateUDFImpl for CountFunc {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }

    fn is_nullable(&self) -> bool {
        self.inner.is_nullable()
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        self.inner.state_fields(args)
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        self.inner.accumulator(args)
    }

    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        ours(&args) || self.inner.groups_accumulator_supported(args)
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        if !ours(&args) {
            return self.inner.create_groups_accumulator(args);
        }
        Ok(match args.expr_fields[0].data_type() {
            DataType::Int8 => Box::new(DistinctGroups::<Int8Type>::default()),
            DataType::Int16 => Box::new(DistinctGroups::<Int16Type>::default()),
            DataType::Int32 => Box::new(DistinctGroups::<Int32Type>::default()),
            DataType::Int64 => Box::new(DistinctGroups::<Int64Type>::default()),
            DataType::UInt8 => Box::new(DistinctGroups::<UInt8Type>::default()),
            DataType::UInt16 => Box::new(DistinctGroups::<UInt16Type>::default()),
            DataType::UInt32 => Box::new(DistinctGroups::<UInt32Type>::default()),
            _ => Box::new(DistinctGroups::<UInt64Type>::default()),
        })
    }

    fn create_sliding_accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        self.inner.create_sliding_accumulator(args)
    }

    fn order_sensitivity(&self) -> AggregateOrderSensitivity {
        self.inner.order_sensitivity()
    }

    fn reverse_expr(&self) -> ReversedUDAF {
        self.inner.reverse_expr()
    }

    fn default_value(&self, data_type: &DataType) -> Result<ScalarValue> {
        self.inner.default_value(data_type)
    }

    fn value_from_stats(&self, statistics_args: &StatisticsArgs) -> Option<ScalarValue> {
        self.inner.value_from_stats(statistics_args)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }

    fn set_monotonicity(&self, data_type: &DataType) -> SetMonotonicity {
        self.inner.set_monotonicity(data_type)
    }
}

/// (group, value) pairs of every row in arrival order; `groups` is how many groups exist.
#[derive(Debug)]
struct DistinctGroups<T: ArrowPrimitiveType> {
    flat: Vec<(u32, T::Native)>,
    groups: usize,
}

impl<T: ArrowPrimitiveType> Default for DistinctGroups<T> {
    fn default() -> Self {
        Self {
            flat: Vec::new(),
            groups: 0,
        }
    }
}

impl<T> DistinctGroups<T>
where
    T: ArrowPrimitiveType,
    T::Native: Ord,
{
    /// The distinct values of the first groups `emit_to` asks for, sorted, laid out by group
    /// (offsets into the values); the other groups stay, renumbered from 0.
    fn take(&mut self, emit_to: EmitTo) -> (Vec<T::Native>, Vec<usize>) {
        let (mut values, offsets) = crate::groups::take(
            &mut self.flat,
            &mut self.groups,
            emit_to,
            |e| e.0,
            |e| e.1,
            |(_, v), g| (g, v),
        );
        let n = offsets.len() - 1;
        // Sort and deduplicate each group's values in place, compacting as it goes.
        let mut write = 0;
        let mut distinct = vec![0usize; n + 1];
        for g in 0..n {
            let group = &mut values[offsets[g]..offsets[g + 1]];
            group.sort_unstable();
            let mut last = None;
            for i in offsets[g]..offsets[g + 1] {
                let v = values[i];
                if last != Some(v) {
                    values[write] = v;
                    write += 1;
                    last = Some(v);
                }
            }
            distinct[g + 1] = write;
        }
        values.truncate(write);
        (values, distinct)
    }

    fn push_rows(
        flat: &mut Vec<(u32, T::Native)>,
        values: &PrimitiveArray<T>,
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
    ) {
        if values.null_count() == 0 && opt_filter.is_none() {
            flat.extend(
                group_indices
                    .iter()
                    .zip(values.values())
                    .map(|(&g, &v)| (g as u32, v)),
            );
            return;
        }
        let keep = kept_valid_rows(values, opt_filter);
        flat.extend(
            keep.set_indices()
                .map(|row| (group_indices[row] as u32, values.value(row))),
        );
    }

    fn list(values: Vec<T::Native>, offsets: &[usize]) -> ArrayRef {
        let offsets: Vec<i32> = offsets.iter().map(|&o| o as i32).collect();
        Arc::new(ListArray::new(
            Arc::new(Field::new_list_field(T::DATA_TYPE, true)),
            OffsetBuffer::new(offsets.into()),
            Arc::new(PrimitiveArray::<T>::from_iter_values(values)),
            None,
        ))
    }
}

impl<T> GroupsAccumulator for DistinctGroups<T>
where
    T: ArrowPrimitiveType + Send + Sync,
    T::Native: Ord,
{
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.groups = self.groups.max(total_num_groups);
        let Some(values) = values[0].as_primitive_opt::<T>() else {
            return exec_err!("count(DISTINCT): unexpected type {}", values[0].data_type());
        };
        Self::push_rows(&mut self.flat, values, group_indices, opt_filter);
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let (_, offsets) = self.take(emit_to);
        let counts: Int64Array = offsets
            .windows(2)
            .map(|w| Some((w[1] - w[0]) as i64))
            .collect();
        Ok(Arc::new(counts))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let (values, offsets) = self.take(emit_to);
        Ok(vec![Self::list(values, &offsets)])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.groups = self.groups.max(total_num_groups);
        let Some(lists) = values[0].as_list_opt::<i32>() else {
            return exec_err!("count(DISTINCT): expected a list state");
        };
        let Some(all) = lists.values().as_primitive_opt::<T>() else {
            return exec_err!("count(DISTINCT): a list state of the wrong type");
        };
        let offsets = lists.value_offsets();
        for (row, &g) in group_indices.iter().enumerate() {
            if lists.is_null(row) {
                continue;
            }
            let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
            for i in start..end {
                if all.is_valid(i) {
                    self.flat.push((g as u32, all.value(i)));
                }
            }
        }
        Ok(())
    }

    /// Each row as its own group: a list of its value, or an empty list.
    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let Some(values) = values[0].as_primitive_opt::<T>() else {
            return exec_err!("count(DISTINCT): unexpected type {}", values[0].data_type());
        };
        let keep = kept_valid_rows(values, opt_filter);
        let mut offsets = Vec::with_capacity(values.len() + 1);
        let mut kept = Vec::new();
        offsets.push(0usize);
        for row in 0..values.len() {
            if keep.value(row) {
                kept.push(values.value(row));
            }
            offsets.push(kept.len());
        }
        Ok(vec![Self::list(kept, &offsets)])
    }

    fn size(&self) -> usize {
        self.flat.capacity() * size_of::<(u32, T::Native)>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_count_their_distinct_values_and_later_groups_stay() {
        let mut g = DistinctGroups::<Int32Type>::default();
        let values: ArrayRef = Arc::new(PrimitiveArray::<Int32Type>::from(vec![
            Some(5),
            Some(5),
            None,
            Some(7),
            Some(1),
            Some(5),
            Some(9),
        ]));
        g.update_batch(&[values], &[0, 0, 0, 1, 0, 1, 2], None, 3)
            .unwrap();
        let first = g.evaluate(EmitTo::First(2)).unwrap();
        let first = first.as_primitive::<Int64Type>();
        assert_eq!(first.values().to_vec(), vec![2, 2]);
        // Group 2 is now group 0; its state is the list [9].
        let state = g.state(EmitTo::All).unwrap();
        let lists = state[0].as_list::<i32>();
        assert_eq!(lists.len(), 1);
        assert_eq!(
            lists.value(0).as_primitive::<Int32Type>().values().to_vec(),
            vec![9]
        );
    }
}
