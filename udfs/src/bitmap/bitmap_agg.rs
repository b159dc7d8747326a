//! `bitmap_agg(id)`: the ids of a group as one roaring bitmap.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{ArrayRef, BinaryArray, BooleanArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, Documentation, EmitTo, GroupsAccumulator, Signature,
};
use roaring::RoaringTreemap;

use super::{DOC_SECTION, binaries, coerce_id, decode, encode, ids};
use crate::behavior::events::kept_rows;

crate::user_defined_udaf!(BitmapAggFunc, bitmap_agg_udaf, "`bitmap_agg`.");

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION,
        "Aggregate: the group's ids as a roaring bitmap (BINARY). Ids are integers from 0 to \
         2^64-1; NULLs are skipped, a negative id is an error. Text ids are mapped to integers \
         with id_key first.",
        "bitmap_agg(id)",
    )
    .with_argument("id", "An integer customer id.")
    .with_sql_example(
        "SELECT tag, value, bitmap_count(bitmap_agg(customer_id)) AS customers\n\
         FROM customer_tags GROUP BY tag, value;",
    )
    .build()
});

impl AggregateUDFImpl for BitmapAggFunc {
    fn name(&self) -> &str {
        "bitmap_agg"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let [t] = arg_types else {
            return plan_err!("bitmap_agg takes 1 argument (id), got {}", arg_types.len());
        };
        Ok(vec![coerce_id("bitmap_agg", 1, t)?])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Binary)
    }

    fn is_nullable(&self) -> bool {
        false
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format!("{}[bitmap]", args.name),
            DataType::Binary,
            true,
        ))])
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(BitmapAccumulator::default()))
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        _args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(BitmapGroups::default()))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}

/// One bitmap per group.
#[derive(Debug, Default)]
struct BitmapGroups {
    bitmaps: Vec<RoaringTreemap>,
    /// Ids inserted so far: `size` is asked after every batch, so it is estimated from this
    /// (a roaring bitmap takes at most about 2 bytes an id) rather than measured.
    inserted: usize,
}

fn to_binary(bitmaps: &[RoaringTreemap]) -> ArrayRef {
    Arc::new(BinaryArray::from_iter_values(bitmaps.iter().map(encode)))
}

impl GroupsAccumulator for BitmapGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.bitmaps
            .resize_with(total_num_groups, RoaringTreemap::new);
        let ids = ids("bitmap_agg", &values[0])?;
        let keep = kept_rows(ids.len(), opt_filter);
        for row in keep.set_indices() {
            if let Some(id) = ids[row] {
                self.bitmaps[group_indices[row]].insert(id);
                self.inserted += 1;
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        Ok(to_binary(&emit_to.take_needed(&mut self.bitmaps)))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        Ok(vec![self.evaluate(emit_to)?])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.bitmaps
            .resize_with(total_num_groups, RoaringTreemap::new);
        let states = binaries("bitmap_agg", &values[0])?;
        for (row, &g) in group_indices.iter().enumerate() {
            if states.is_valid(row) {
                let b = decode("bitmap_agg", states.value(row))?;
                self.inserted += b.len() as usize;
                self.bitmaps[g] |= b;
            }
        }
        Ok(())
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        // Each row becomes a bitmap of its own id (empty when NULL or filtered out).
        let ids = ids("bitmap_agg", &values[0])?;
        let keep = kept_rows(ids.len(), opt_filter);
        let bitmaps: Vec<RoaringTreemap> = ids
            .iter()
            .zip(keep.iter())
            .map(|(id, keep)| match id {
                Some(id) if keep => RoaringTreemap::from_iter([*id]),
                _ => RoaringTreemap::new(),
            })
            .collect();
        Ok(vec![to_binary(&bitmaps)])
    }

    fn size(&self) -> usize {
        self.inserted * 2 + self.bitmaps.capacity() * size_of::<RoaringTreemap>()
    }
}

use datafusion::arrow::array::Array;

/// The single-group form: ids are buffered, then sorted and deduplicated, so the bitmap is
/// built in order (much faster than inserting 10M ids at random).
#[derive(Debug, Default)]
struct BitmapAccumulator {
    pending: Vec<u64>,
    bitmap: RoaringTreemap,
}

impl BitmapAccumulator {
    fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        self.pending.sort_unstable();
        self.pending.dedup();
        let sorted = RoaringTreemap::from_sorted_iter(self.pending.drain(..)).unwrap_or_default();
        self.bitmap |= sorted;
    }
}

/// Ids buffered before they are folded into the bitmap (8 MiB of u64).
const PENDING: usize = 1 << 20;

impl Accumulator for BitmapAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        for id in ids("bitmap_agg", &values[0])?.into_iter().flatten() {
            self.pending.push(id);
        }
        if self.pending.len() >= PENDING {
            self.flush();
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        self.flush();
        Ok(ScalarValue::Binary(Some(encode(&self.bitmap))))
    }

    fn size(&self) -> usize {
        size_of_val(self) + self.pending.capacity() * 8 + self.bitmap.serialized_size()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![self.evaluate()?])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let states = binaries("bitmap_agg", &states[0])?;
        for b in states.iter().flatten() {
            self.bitmap |= decode("bitmap_agg", b)?;
        }
        Ok(())
    }
}
