//! DataFusion's `array_element` (`list[k]`), with a constant index read by one `take` over the
//! list's values instead of a copy per row.
//!
//! `retention(...)` gives a list per customer, and reports sum each position over customers:
//! `sum(r[1])`, …, `sum(r[12])`. DataFusion 55 extracts each element through `MutableArrayData`,
//! a bounds-checked copy per row: 12 ns a row, 124 ms of CPU for twelve positions of 805K lists
//! (measured).
//! Here the position of every row's element in the values is computed at once and the values
//! are gathered with Arrow's `take`. Other calls (an index per row, a NULL index, an index
//! beyond 32 bits, a list whose values are of the Null type) are DataFusion's own code.
//!
//! `list[k]` is planned by DataFusion's field-access planner straight to its own function, not
//! looked up by name, so [`ListIndexPlanner`] plans it to this one; the session puts it ahead of
//! DataFusion's planners.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, GenericListArray, OffsetSizeTrait};
use datafusion::arrow::array::{PrimitiveArray, UInt32Array, UInt64Array};
use datafusion::arrow::buffer::{BooleanBuffer, NullBuffer};
use datafusion::arrow::compute::take;
use datafusion::arrow::datatypes::{ArrowPrimitiveType, DataType, UInt32Type, UInt64Type};
use datafusion::common::{DFSchema, Result, ScalarValue};
use datafusion::functions_nested::extract::ArrayElement;
use datafusion::logical_expr::planner::{ExprPlanner, PlannerResult, RawFieldAccessExpr};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, Expr, ExprSchemable, GetFieldAccess, ScalarFunctionArgs,
    ScalarUDF, ScalarUDFImpl, Signature,
};

/// `array_element` as persona registers it, over DataFusion's.
pub fn array_element_udf() -> Arc<ScalarUDF> {
    static UDF: std::sync::LazyLock<Arc<ScalarUDF>> = std::sync::LazyLock::new(|| {
        Arc::new(ScalarUDF::new_from_impl(ArrayElementFunc {
            inner: ArrayElement::new(),
        }))
    });
    Arc::clone(&UDF)
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ArrayElementFunc {
    inner: ArrayElement,
}

/// Where each row's element lies in `list`'s values, as `take` indices (NULL where the list
/// is NULL or too short), for the 1-based index `k` (from the end when negative, as
/// DataFusion reads it; 0 is no element).
fn positions<O: OffsetSizeTrait, I: ArrowPrimitiveType>(
    list: &GenericListArray<O>,
    k: i64,
    index: impl Fn(usize) -> I::Native,
) -> PrimitiveArray<I> {
    let offsets = list.value_offsets();
    if let Some(indices) = strided(list, k, &index) {
        return indices;
    }
    let at = |row: usize| -> Option<usize> {
        let (start, end) = (offsets[row].as_usize(), offsets[row + 1].as_usize());
        let len = (end - start) as i64;
        let within = if k > 0 { k - 1 } else { len + k };
        (0..len).contains(&within).then(|| start + within as usize)
    };
    let rows = list.len();
    let mut values = Vec::with_capacity(rows);
    // One pass: `collect_bool` asks for the rows in order, and each row's index is kept.
    let found = BooleanBuffer::collect_bool(rows, |row| {
        let at = at(row);
        values.push(index(at.unwrap_or(0)));
        at.is_some()
    });
    let valid = match list.nulls() {
        Some(nulls) => nulls.inner() & &found,
        None => found,
    };
    PrimitiveArray::new(values.into(), Some(NullBuffer::new(valid)))
}

/// [`positions`] when every list has the same length (as `retention`'s do): the elements lie
/// one stride apart, so no row is tested. None when the lengths differ.
fn strided<O: OffsetSizeTrait, I: ArrowPrimitiveType>(
    list: &GenericListArray<O>,
    k: i64,
    index: impl Fn(usize) -> I::Native,
) -> Option<PrimitiveArray<I>> {
    let offsets = list.value_offsets();
    let (first, second) = (offsets.first()?.as_usize(), offsets.get(1)?.as_usize());
    let stride = second - first;
    if offsets
        .windows(2)
        .any(|w| w[1].as_usize() - w[0].as_usize() != stride)
    {
        return None;
    }
    let within = if k > 0 { k - 1 } else { stride as i64 + k };
    let rows = list.len();
    if !(0..stride as i64).contains(&within) {
        return Some(PrimitiveArray::new_null(rows));
    }
    let start = first + within as usize;
    let values: Vec<I::Native> = (0..rows).map(|row| index(start + row * stride)).collect();
    Some(PrimitiveArray::new(values.into(), list.nulls().cloned()))
}

/// The fast path's answer, when this call is one it takes.
fn fast(args: &[ColumnarValue]) -> Result<Option<ColumnarValue>> {
    let [
        ColumnarValue::Array(list),
        ColumnarValue::Scalar(ScalarValue::Int64(Some(k))),
    ] = args
    else {
        return Ok(None);
    };
    // DataFusion refuses an index its offsets cannot hold; let it say so.
    if k.unsigned_abs() > i32::MAX as u64 {
        return Ok(None);
    }
    let element: ArrayRef = match list.data_type() {
        DataType::List(field) if !field.data_type().is_null() => {
            let list = list.as_list::<i32>();
            let indices: UInt32Array = positions::<_, UInt32Type>(list, *k, |i| i as u32);
            take(list.values().as_ref(), &indices, None)?
        }
        DataType::LargeList(field) if !field.data_type().is_null() => {
            let list = list.as_list::<i64>();
            let indices: UInt64Array = positions::<_, UInt64Type>(list, *k, |i| i as u64);
            take(list.values().as_ref(), &indices, None)?
        }
        _ => return Ok(None),
    };
    Ok(Some(ColumnarValue::Array(element)))
}

impl ScalarUDFImpl for ArrayElementFunc {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        self.inner.schema_name(args)
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        match fast(&args.args)? {
            Some(answer) => Ok(answer),
            None => self.inner.invoke_with_args(args),
        }
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }
}

/// Plans `list[k]` to persona's `array_element`. Everything else (a struct's field, a map's
/// key, `array_agg(x)[k]`, slices) is left to DataFusion's planners.
#[derive(Debug)]
pub struct ListIndexPlanner;

impl ExprPlanner for ListIndexPlanner {
    fn plan_field_access(
        &self,
        expr: RawFieldAccessExpr,
        schema: &DFSchema,
    ) -> Result<PlannerResult<RawFieldAccessExpr>> {
        // `array_agg(x)[k]` is DataFusion's `nth_value`; maps and structs are not lists.
        let is_list = |e: &Expr| {
            !matches!(e, Expr::AggregateFunction(_))
                && matches!(
                    e.get_type(schema),
                    Ok(DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..))
                )
        };
        match expr.field_access {
            GetFieldAccess::ListIndex { key } if is_list(&expr.expr) => Ok(PlannerResult::Planned(
                array_element_udf().call(vec![expr.expr, *key]),
            )),
            field_access => Ok(PlannerResult::Original(RawFieldAccessExpr {
                expr: expr.expr,
                field_access,
            })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int32Array, Int64Array, ListArray, StringArray};
    use datafusion::arrow::buffer::OffsetBuffer;
    use datafusion::arrow::datatypes::{Field, Int32Type};
    use datafusion::config::ConfigOptions;

    fn call(udf: &dyn ScalarUDFImpl, list: ArrayRef, k: ColumnarValue) -> Result<ArrayRef> {
        let rows = list.len();
        let element = match list.data_type() {
            DataType::List(f) | DataType::LargeList(f) => f.data_type().clone(),
            other => other.clone(),
        };
        let args = ScalarFunctionArgs {
            arg_fields: vec![
                Arc::new(Field::new("l", list.data_type().clone(), true)),
                Arc::new(Field::new("k", DataType::Int64, true)),
            ],
            args: vec![ColumnarValue::Array(list), k],
            number_rows: rows,
            return_field: Arc::new(Field::new("e", element, true)),
            config_options: Arc::new(ConfigOptions::default()),
        };
        udf.invoke_with_args(args)?.into_array(rows)
    }

    /// Lists of 0 to 4 elements, NULL lists and NULL elements, sliced, every index from -6 to 6.
    #[test]
    fn constant_indices_read_what_datafusion_reads() {
        let rows: Vec<Option<Vec<Option<i32>>>> = (0..60)
            .map(|i| {
                (i % 7 != 3).then(|| {
                    (0..i % 5)
                        .map(|j| (j != 2 || i % 3 != 0).then_some(i * 10 + j))
                        .collect()
                })
            })
            .collect();
        let ints: ArrayRef = Arc::new(ListArray::from_iter_primitive::<Int32Type, _, _>(rows));
        let large: ArrayRef = datafusion::arrow::compute::cast(
            &ints,
            &DataType::LargeList(Arc::new(Field::new_list_field(DataType::Int32, true))),
        )
        .unwrap();
        let words = StringArray::from(vec![Some("a"), None, Some("bc"), Some("d"), Some("ef")]);
        let strings: ArrayRef = Arc::new(ListArray::new(
            Arc::new(Field::new_list_field(DataType::Utf8, true)),
            OffsetBuffer::from_lengths([2, 0, 3]),
            Arc::new(words),
            None,
        ));
        // Lists all of one length (the strided path), NULL ones too, and lists all empty.
        let fixed: ArrayRef = Arc::new(ListArray::new(
            Arc::new(Field::new_list_field(DataType::Int32, true)),
            OffsetBuffer::from_lengths([3; 40]),
            Arc::new(Int32Array::from_iter(
                (0..120).map(|v| (v % 7 != 0).then_some(v)),
            )),
            Some(NullBuffer::from_iter((0..40).map(|r| r % 6 != 1))),
        ));
        let empty: ArrayRef = Arc::new(ListArray::new(
            Arc::new(Field::new_list_field(DataType::Int32, true)),
            OffsetBuffer::from_lengths([0; 5]),
            Arc::new(Int32Array::from(Vec::<i32>::new())),
            None,
        ));
        let ours = ArrayElementFunc {
            inner: ArrayElement::new(),
        };
        let theirs = ArrayElement::new();
        for list in [
            ints.slice(5, 50),
            large.slice(1, 40),
            ints,
            strings,
            fixed.slice(3, 30),
            fixed,
            empty,
        ] {
            for k in -6..=6_i64 {
                let k = || ColumnarValue::Scalar(ScalarValue::Int64(Some(k)));
                let got = call(&ours, Arc::clone(&list), k()).unwrap();
                let expected = call(&theirs, Arc::clone(&list), k()).unwrap();
                assert_eq!(got.as_ref(), expected.as_ref(), "{:?}[{:?}]", list, k());
            }
        }
    }

    #[test]
    fn indices_per_row_and_null_indices_are_datafusions() {
        let list: ArrayRef = Arc::new(ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
            Some(vec![Some(1), Some(2)]),
            Some(vec![Some(3)]),
        ]));
        let ours = ArrayElementFunc {
            inner: ArrayElement::new(),
        };
        let per_row = ColumnarValue::Array(Arc::new(Int64Array::from(vec![2, 1])));
        let got = call(&ours, Arc::clone(&list), per_row).unwrap();
        assert_eq!(got.as_primitive::<Int32Type>().values(), &[2, 3]);
        let null = ColumnarValue::Scalar(ScalarValue::Int64(None));
        assert_eq!(call(&ours, list, null).unwrap().null_count(), 2);
    }
}
