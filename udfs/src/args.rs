//! Argument helpers every function family uses: reading numbers and string constants, and
//! recognising text types and parameter structs at planning time.

use datafusion::arrow::array::{Array, ArrayRef, Float64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::ColumnarValue;

/// The arguments as arrays of `rows` rows each. (`ColumnarValue::values_to_arrays` gives arrays
/// of one row when every argument is a scalar, which a function looping over `rows` would
/// read past the end of.)
pub fn arrays(args: &[ColumnarValue], rows: usize) -> Result<Vec<ArrayRef>> {
    args.iter().map(|a| a.to_array(rows)).collect()
}

/// The argument as Float64 values.
pub fn floats(array: &ArrayRef) -> Result<Float64Array> {
    let cast = cast(array, &DataType::Float64)?;
    Ok(cast
        .as_any()
        .downcast_ref::<Float64Array>()
        .cloned()
        .unwrap_or_else(|| Float64Array::new_null(array.len())))
}

/// Whether a type is text (or a NULL that can become text).
pub fn is_text(t: &DataType) -> bool {
    t.is_null() || matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

/// Whether a type is a struct with every one of `fields` as a numeric field.
pub fn has_numeric_fields(t: &DataType, fields: &[&str]) -> bool {
    let DataType::Struct(fs) = t else {
        return false;
    };
    fields.iter().all(|n| {
        fs.iter()
            .any(|f| f.name() == n && f.data_type().is_numeric())
    })
}

/// A string constant argument, trimmed and lower-cased; `None` for NULL.
pub fn constant_text(function: &str, what: &str, arg: &ColumnarValue) -> Result<Option<String>> {
    match arg {
        ColumnarValue::Scalar(s) if s.is_null() => Ok(None),
        ColumnarValue::Scalar(
            ScalarValue::Utf8(Some(v))
            | ScalarValue::LargeUtf8(Some(v))
            | ScalarValue::Utf8View(Some(v)),
        ) => Ok(Some(v.trim().to_ascii_lowercase())),
        _ => exec_err!("{function}: {what} must be a string constant"),
    }
}
