//! The bitmap scalars: count, the four set operations, membership, and conversion to and from
//! lists of ids. One struct serves them all; each keeps its own documentation.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{
    ArrayRef, AsArray, BinaryBuilder, BooleanArray, Int64Array, ListArray, UInt64Array,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use roaring::RoaringTreemap;

use super::{DOC_SECTION, binaries, coerce_bitmap, coerce_id, decode, encode, ids};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Count,
    And,
    Or,
    Xor,
    AndNot,
    Contains,
    ToArray,
    FromArray,
}

const KINDS: [Kind; 8] = [
    Kind::Count,
    Kind::And,
    Kind::Or,
    Kind::Xor,
    Kind::AndNot,
    Kind::Contains,
    Kind::ToArray,
    Kind::FromArray,
];

/// The scalar functions of this family.
pub fn functions() -> Vec<Arc<ScalarUDF>> {
    static ALL: std::sync::OnceLock<Vec<Arc<ScalarUDF>>> = std::sync::OnceLock::new();
    ALL.get_or_init(|| {
        KINDS
            .iter()
            .map(|&kind| {
                Arc::new(ScalarUDF::new_from_impl(BitmapScalar {
                    kind,
                    signature: Signature::user_defined(Volatility::Immutable),
                }))
            })
            .collect()
    })
    .clone()
}

fn doc(
    name: &str,
    description: &str,
    syntax: &str,
    args: &[(&str, &str)],
    example: &str,
) -> Documentation {
    let mut b = Documentation::builder(DOC_SECTION, description.to_string(), syntax.to_string());
    for (n, d) in args {
        b = b.with_argument(*n, *d);
    }
    let _ = name;
    b.with_sql_example(example).build()
}

const A: (&str, &str) = ("bitmap_a", "A bitmap.");
const B: (&str, &str) = ("bitmap_b", "A bitmap.");

static DOCS: LazyLock<Vec<Documentation>> = LazyLock::new(|| {
    let set = |name: &str, what: &str| {
        doc(
            name,
            &format!("The ids {what}, as a bitmap. NULL when either is NULL."),
            &format!("{name}(bitmap_a, bitmap_b)"),
            &[A, B],
            &format!(
                "SELECT bitmap_count({name}(a.bitmap, b.bitmap))\nFROM tag_bitmaps a, tag_bitmaps b\nWHERE a.value = '高价值客户' AND b.value = 'active_30d';"
            ),
        )
    };
    vec![
        doc(
            "bitmap_count",
            "The number of ids in a bitmap.",
            "bitmap_count(bitmap)",
            &[("bitmap", "A bitmap.")],
            "SELECT tag, value, bitmap_count(bitmap) FROM tag_bitmaps;",
        ),
        set("bitmap_and", "in both bitmaps"),
        set("bitmap_or", "in either bitmap"),
        set("bitmap_xor", "in exactly one of the bitmaps"),
        set("bitmap_andnot", "in bitmap_a and not in bitmap_b"),
        doc(
            "bitmap_contains",
            "Whether the bitmap holds the id.",
            "bitmap_contains(bitmap, id)",
            &[("bitmap", "A bitmap."), ("id", "An integer id.")],
            "SELECT value FROM tag_bitmaps WHERE bitmap_contains(bitmap, 42);",
        ),
        doc(
            "bitmap_to_array",
            "The ids of a bitmap as a list of BIGINT UNSIGNED, ascending.",
            "bitmap_to_array(bitmap)",
            &[("bitmap", "A bitmap.")],
            "SELECT unnest(bitmap_to_array(bitmap)) AS customer_id FROM tag_bitmaps WHERE value = 'active_7d';",
        ),
        doc(
            "bitmap_from_array",
            "A bitmap of the ids in a list (NULL elements are skipped; a negative id is an error).",
            "bitmap_from_array(ids)",
            &[("ids", "A list of integer ids.")],
            "SELECT bitmap_count(bitmap_from_array([1, 2, 3, 3]));",
        ),
    ]
});

#[derive(Debug, PartialEq, Eq, Hash)]
struct BitmapScalar {
    kind: Kind,
    signature: Signature,
}

impl BitmapScalar {
    fn bitmap_column(&self, array: &ArrayRef) -> Result<Vec<Option<RoaringTreemap>>> {
        let name = self.name();
        binaries(name, array)?
            .iter()
            .map(|b| b.map(|b| decode(name, b)).transpose())
            .collect()
    }
}

impl ScalarUDFImpl for BitmapScalar {
    fn name(&self) -> &str {
        match self.kind {
            Kind::Count => "bitmap_count",
            Kind::And => "bitmap_and",
            Kind::Or => "bitmap_or",
            Kind::Xor => "bitmap_xor",
            Kind::AndNot => "bitmap_andnot",
            Kind::Contains => "bitmap_contains",
            Kind::ToArray => "bitmap_to_array",
            Kind::FromArray => "bitmap_from_array",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let name = self.name();
        let expected = match self.kind {
            Kind::Count | Kind::ToArray | Kind::FromArray => 1,
            _ => 2,
        };
        if arg_types.len() != expected {
            return plan_err!(
                "{name} takes {expected} argument{}, got {}",
                if expected == 1 { "" } else { "s" },
                arg_types.len()
            );
        }
        match self.kind {
            Kind::Contains => Ok(vec![
                coerce_bitmap(name, 1, &arg_types[0])?,
                coerce_id(name, 2, &arg_types[1])?,
            ]),
            Kind::FromArray => match &arg_types[0] {
                DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _)
                    if f.data_type().is_integer() || f.data_type().is_null() =>
                {
                    Ok(vec![DataType::new_list(DataType::Int64, true)])
                }
                DataType::Null => Ok(vec![DataType::new_list(DataType::Int64, true)]),
                t => plan_err!(
                    "Unexpected argument type to '{name}' at position 1, expected a list of integer ids, got {t}"
                ),
            },
            _ => arg_types
                .iter()
                .enumerate()
                .map(|(i, t)| coerce_bitmap(name, i + 1, t))
                .collect(),
        }
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(match self.kind {
            Kind::Count => DataType::Int64,
            Kind::Contains => DataType::Boolean,
            Kind::ToArray => DataType::new_list(DataType::UInt64, true),
            _ => DataType::Binary,
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = crate::args::arrays(&args.args, args.number_rows)?;
        let name = self.name();
        let out: ArrayRef = match self.kind {
            Kind::Count => {
                let counts: Int64Array = self
                    .bitmap_column(&arrays[0])?
                    .into_iter()
                    .map(|b| b.map(|b| b.len() as i64))
                    .collect();
                Arc::new(counts)
            }
            Kind::And | Kind::Or | Kind::Xor | Kind::AndNot => {
                let a = self.bitmap_column(&arrays[0])?;
                let b = self.bitmap_column(&arrays[1])?;
                let mut out = BinaryBuilder::new();
                for (a, b) in a.into_iter().zip(b) {
                    match (a, b) {
                        (Some(a), Some(b)) => out.append_value(encode(&match self.kind {
                            Kind::And => a & b,
                            Kind::Or => a | b,
                            Kind::Xor => a ^ b,
                            _ => a - b,
                        })),
                        _ => out.append_null(),
                    }
                }
                Arc::new(out.finish())
            }
            Kind::Contains => {
                let bitmaps = self.bitmap_column(&arrays[0])?;
                let ids = ids(name, &arrays[1])?;
                let out: BooleanArray = bitmaps
                    .iter()
                    .zip(ids)
                    .map(|(b, id)| Some(b.as_ref()?.contains(id?)))
                    .collect();
                Arc::new(out)
            }
            Kind::ToArray => {
                let bitmaps = self.bitmap_column(&arrays[0])?;
                let mut values = Vec::new();
                let mut lengths = Vec::with_capacity(bitmaps.len());
                let mut valid = Vec::with_capacity(bitmaps.len());
                for b in &bitmaps {
                    let before = values.len();
                    if let Some(b) = b {
                        values.extend(b.iter());
                    }
                    lengths.push(values.len() - before);
                    valid.push(b.is_some());
                }
                Arc::new(ListArray::new(
                    Arc::new(Field::new_list_field(DataType::UInt64, true)),
                    OffsetBuffer::from_lengths(lengths),
                    Arc::new(UInt64Array::from(values)),
                    Some(valid.into()),
                ))
            }
            Kind::FromArray => {
                let Some(lists) = arrays[0].as_list_opt::<i32>() else {
                    return exec_err!("{name}: expected a list of ids");
                };
                let mut out = BinaryBuilder::new();
                for list in lists.iter() {
                    match list {
                        None => out.append_null(),
                        Some(values) => {
                            let mut ids: Vec<u64> =
                                ids(name, &values)?.into_iter().flatten().collect();
                            ids.sort_unstable();
                            ids.dedup();
                            let bitmap = RoaringTreemap::from_sorted_iter(ids).unwrap_or_default();
                            out.append_value(encode(&bitmap));
                        }
                    }
                }
                Arc::new(out.finish())
            }
        };
        if args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)))
        {
            return Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?));
        }
        Ok(ColumnarValue::Array(out))
    }

    fn documentation(&self) -> Option<&Documentation> {
        let i = KINDS.iter().position(|k| *k == self.kind).unwrap_or(0);
        DOCS.get(i)
    }
}
