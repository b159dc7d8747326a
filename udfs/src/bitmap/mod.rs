//! Audiences as roaring bitmaps of 64-bit customer ids: `bitmap_agg` builds them, the scalar
//! set operations combine them, `intersect_count` counts customers in all of several groups,
//! and `audience` evaluates a tag expression over `tag_bitmaps`.
//!
//! A bitmap is a BINARY value in the portable RoaringTreemap format (the roaring crate's
//! `serialize_into`), so it can be stored in Parquet and read back; bytes that do not decode
//! are an error naming the function, never a panic.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BinaryArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::{AggregateUDF, DocSection, ScalarUDF};
use roaring::RoaringTreemap;

pub mod audience;
pub mod bitmap_agg;
pub mod id_key;
pub mod intersect_count;
pub mod scalars;

/// Where these functions are listed in the documentation.
pub const DOC_SECTION: DocSection = DocSection {
    include: true,
    label: "Bitmap audiences",
    description: Some(
        "Roaring bitmaps of customer ids: build, combine and count audiences, and evaluate tag expressions.",
    ),
};

/// The scalar functions of this family.
pub fn functions() -> Vec<Arc<ScalarUDF>> {
    let mut all = scalars::functions();
    all.push(id_key::id_key_udf());
    all.push(id_key::id_text_udf());
    all
}

/// The aggregate functions of this family.
pub fn aggregate_functions() -> Vec<Arc<AggregateUDF>> {
    vec![
        bitmap_agg::bitmap_agg_udaf(),
        intersect_count::intersect_count_udaf(),
        audience::audience_bitmap_udaf(),
    ]
}

/// A bitmap's bytes.
pub fn encode(bitmap: &RoaringTreemap) -> Vec<u8> {
    let mut out = Vec::with_capacity(bitmap.serialized_size());
    // Writing to a Vec cannot fail.
    let _ = bitmap.serialize_into(&mut out);
    out
}

/// A bitmap from its bytes, or an error naming the function that was given them.
pub fn decode(function: &str, bytes: &[u8]) -> Result<RoaringTreemap> {
    match RoaringTreemap::deserialize_from(bytes) {
        Ok(b) => Ok(b),
        Err(e) => exec_err!(
            "{function}: the value is not a bitmap ({} bytes that do not decode: {e}); bitmaps come from bitmap_agg or bitmap_from_array",
            bytes.len()
        ),
    }
}

/// A bitmap argument as a binary array.
pub fn binaries<'a>(function: &str, array: &'a ArrayRef) -> Result<&'a BinaryArray> {
    match array.as_binary_opt::<i32>() {
        Some(b) => Ok(b),
        None => exec_err!("{function}: expected a bitmap, got {}", array.data_type()),
    }
}

/// The type a bitmap argument is coerced to.
pub fn coerce_bitmap(function: &str, position: usize, t: &DataType) -> Result<DataType> {
    match t {
        DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_)
        | DataType::Null => Ok(DataType::Binary),
        t => plan_err!(
            "Unexpected argument type to '{function}' at position {position}, expected a bitmap (binary), got {t}"
        ),
    }
}

/// The type an id argument is coerced to: integers become UInt64 after a range check in
/// [`ids`]; text ids must be mapped to integers first (`id_key`).
pub fn coerce_id(function: &str, position: usize, t: &DataType) -> Result<DataType> {
    match t {
        t if t.is_integer() || t.is_null() => Ok(t.clone()),
        DataType::Decimal128(_, 0) | DataType::Decimal256(_, 0) => Ok(t.clone()),
        t if crate::args::is_text(t) => plan_err!(
            "{function}: ids must be integers; map text ids to integers with id_key(id) first"
        ),
        t => plan_err!(
            "Unexpected argument type to '{function}' at position {position}, expected an integer id, got {t}"
        ),
    }
}

/// Ids as u64, NULLs skipped by the caller; an id outside 0..2^64-1 is an error.
pub fn ids(function: &str, array: &ArrayRef) -> Result<Vec<Option<u64>>> {
    use datafusion::arrow::compute::cast;
    use datafusion::arrow::datatypes::{Decimal128Type, Int64Type, UInt64Type};
    match array.data_type() {
        DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => {
            let a = cast(array, &DataType::UInt64)?;
            Ok(a.as_primitive::<UInt64Type>().iter().collect())
        }
        DataType::Decimal128(_, _) | DataType::Decimal256(_, _) => {
            let a = cast(array, &DataType::Decimal128(38, 0))?;
            checked(function, a.as_primitive::<Decimal128Type>().iter())
        }
        DataType::Null => Ok(vec![None; array.len()]),
        _ => {
            let a = cast(array, &DataType::Int64)?;
            checked(function, a.as_primitive::<Int64Type>().iter())
        }
    }
}

/// Signed or decimal ids as u64, an id outside 0..2^64-1 an error.
fn checked<T>(function: &str, values: impl Iterator<Item = Option<T>>) -> Result<Vec<Option<u64>>>
where
    T: TryInto<u64> + std::fmt::Display + Copy,
{
    values
        .map(|v| match v {
            None => Ok(None),
            Some(v) => match v.try_into() {
                Ok(id) => Ok(Some(id)),
                Err(_) => exec_err!(
                    "{function}: id {v} is outside the 64-bit unsigned range 0..18446744073709551615"
                ),
            },
        })
        .collect()
}
