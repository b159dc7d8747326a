//! `intersect_count(bitmap, tag, v1, v2, …)`, as in Doris: the number of ids in every one of
//! the groups v1, v2, …, where a group is the union of the bitmaps of the rows whose tag
//! column equals that value.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{Accumulator, AggregateUDFImpl, Documentation, Signature};
use roaring::RoaringTreemap;

use super::{DOC_SECTION, binaries, coerce_bitmap, decode, encode};
use crate::behavior::events::literal;

crate::user_defined_udaf!(
    IntersectCountFunc,
    intersect_count_udaf,
    "`intersect_count`."
);

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION,
        "Aggregate, as in Doris: the number of ids found in every one of the listed values' \
         bitmaps. Rows whose tag column equals a listed value are unioned; the unions are then \
         intersected. The values are constants, compared with the tag column as text.",
        "intersect_count(bitmap, tag, value1, value2, ...)",
    )
    .with_argument("bitmap", "A bitmap column.")
    .with_argument("tag", "The column the values are looked up in.")
    .with_argument("valueN", "The values whose bitmaps are intersected.")
    .with_sql_example(
        "SELECT intersect_count(bitmap, value, '高价值客户', 'active_30d') FROM tag_bitmaps;",
    )
    .build()
});

impl AggregateUDFImpl for IntersectCountFunc {
    fn name(&self) -> &str {
        "intersect_count"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() < 3 {
            return plan_err!(
                "intersect_count takes at least 3 arguments (bitmap, tag, value1 [, value2 ...]), got {}",
                arg_types.len()
            );
        }
        let mut out = vec![coerce_bitmap("intersect_count", 1, &arg_types[0])?];
        out.extend(arg_types[1..].iter().map(|_| DataType::Utf8));
        Ok(out)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }

    fn is_nullable(&self) -> bool {
        false
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok((2..args.input_fields.len())
            .map(|i| {
                Arc::new(Field::new(
                    format!("{}[value{}]", args.name, i - 1),
                    DataType::Binary,
                    true,
                ))
            })
            .collect())
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let mut values = Vec::new();
        for e in &args.exprs[2..] {
            match literal(e) {
                Some(v) if !v.is_null() => values.push(v.to_string()),
                _ => {
                    return plan_err!(
                        "intersect_count: the values to intersect must be non-NULL constants"
                    );
                }
            }
        }
        let unions = vec![None; values.len()];
        Ok(Box::new(IntersectAccumulator { values, unions }))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}

#[derive(Debug)]
struct IntersectAccumulator {
    values: Vec<String>,
    /// The union of each value's bitmaps; `None` until a row with that value is seen.
    unions: Vec<Option<RoaringTreemap>>,
}

impl Accumulator for IntersectAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let bitmaps = binaries("intersect_count", &values[0])?;
        let tags = cast(&values[1], &DataType::Utf8)?;
        let tags = tags.as_string::<i32>();
        for row in 0..bitmaps.len() {
            if bitmaps.is_null(row) || tags.is_null(row) {
                continue;
            }
            let tag = tags.value(row);
            for (i, v) in self.values.iter().enumerate() {
                if v == tag {
                    let b = decode("intersect_count", bitmaps.value(row))?;
                    *self.unions[i].get_or_insert_with(RoaringTreemap::new) |= b;
                }
            }
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let mut result: Option<RoaringTreemap> = None;
        for u in &self.unions {
            let Some(u) = u else {
                return Ok(ScalarValue::Int64(Some(0)));
            };
            result = Some(match result {
                None => u.clone(),
                Some(r) => r & u,
            });
        }
        Ok(ScalarValue::Int64(Some(
            result.map_or(0, |r| r.len() as i64),
        )))
    }

    fn size(&self) -> usize {
        size_of_val(self)
            + self
                .unions
                .iter()
                .flatten()
                .map(|b| b.serialized_size())
                .sum::<usize>()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(self
            .unions
            .iter()
            .map(|u| ScalarValue::Binary(u.as_ref().map(encode)))
            .collect())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        for (i, state) in states.iter().enumerate() {
            for b in binaries("intersect_count", state)?.iter().flatten() {
                *self.unions[i].get_or_insert_with(RoaringTreemap::new) |=
                    decode("intersect_count", b)?;
            }
        }
        Ok(())
    }
}
