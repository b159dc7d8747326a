//! Customer-lifetime-value models fitted inside the engine: BG/NBD (Fader, Hardie & Lee 2005)
//! as an aggregate that fits the parameters, and scalar functions that apply them.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, Float64Array, StructArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::{AggregateUDF, DocSection, ScalarUDF};

pub mod bgnbd;
pub mod bgnbd_expected_purchases;
pub mod bgnbd_fit;
pub mod bgnbd_p_alive;
pub mod gamma_gamma;
pub mod gamma_gamma_expected_spend;
pub mod gamma_gamma_fit;
pub mod math;
pub mod sample;

/// Where the CLV functions are listed in the documentation.
pub const DOC_SECTION: DocSection = DocSection {
    include: true,
    label: "Customer lifetime value",
    description: Some("Probability models of repeat buying, fitted in SQL."),
};

/// The scalar functions of this family.
pub fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        bgnbd_expected_purchases::bgnbd_expected_purchases_udf(),
        bgnbd_p_alive::bgnbd_p_alive_udf(),
        gamma_gamma_expected_spend::gamma_gamma_expected_spend_udf(),
    ]
}

/// The aggregate functions of this family.
pub fn aggregate_functions() -> Vec<Arc<AggregateUDF>> {
    vec![
        bgnbd_fit::bgnbd_fit_udaf(),
        gamma_gamma_fit::gamma_gamma_fit_udaf(),
    ]
}

/// Numeric arguments become Float64; anything else is a planning error naming the function
/// and the position.
pub fn coerce_numeric(name: &str, arg_types: &[DataType], skip: usize) -> Result<Vec<DataType>> {
    arg_types
        .iter()
        .enumerate()
        .map(|(i, t)| {
            if i < skip {
                Ok(t.clone())
            } else if t.is_numeric() || t.is_null() {
                Ok(DataType::Float64)
            } else {
                plan_err!("Unexpected argument type to '{name}' at position {}, expected a number, got {t}", i + 1)
            }
        })
        .collect()
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

/// Checks that a parameters argument is a struct with the named Float64-castable fields.
pub fn check_params(name: &str, fit: &str, t: &DataType, fields: &[&str]) -> Result<()> {
    match t {
        DataType::Struct(fs)
            if fields.iter().all(|f| {
                fs.iter()
                    .any(|x| x.name() == f && x.data_type().is_numeric())
            }) =>
        {
            Ok(())
        }
        _ => plan_err!(
            "Unexpected argument type to '{name}' at position 1, expected the parameters struct of {fit} (fields {}), got {t}",
            fields.join(", ")
        ),
    }
}

/// Reads the BG/NBD parameters of each row of a parameters struct (NULL where any is NULL).
pub fn bgnbd_params(array: &ArrayRef) -> Result<Vec<Option<bgnbd::BgNbd>>> {
    let Some(s) = array.as_any().downcast_ref::<StructArray>() else {
        return exec_err!("the parameters must be the struct bgnbd_fit returns");
    };
    let field = |n: &str| -> Result<Float64Array> {
        match s.column_by_name(n) {
            Some(c) => floats(c),
            None => exec_err!("the parameters have no field '{n}'"),
        }
    };
    let (r, alpha, a, b) = (field("r")?, field("alpha")?, field("a")?, field("b")?);
    Ok((0..s.len())
        .map(|i| {
            (s.is_valid(i) && r.is_valid(i) && alpha.is_valid(i) && a.is_valid(i) && b.is_valid(i))
                .then(|| bgnbd::BgNbd {
                    r: r.value(i),
                    alpha: alpha.value(i),
                    a: a.value(i),
                    b: b.value(i),
                })
        })
        .collect())
}
