//! Customer-lifetime-value models fitted inside the engine: BG/NBD (Fader, Hardie & Lee 2005),
//! Pareto/NBD and Gamma-Gamma, each as an aggregate that fits the parameters and scalar
//! functions that apply them, and `clv()` that combines a purchase model with the spend model.

use std::sync::Arc;

pub use crate::args::floats;
use crate::args::has_numeric_fields;
use datafusion::arrow::array::{Array, ArrayRef, Float64Array, StructArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::{AggregateUDF, ColumnarValue, DocSection, Documentation, ScalarUDF};

pub mod bgnbd;
pub mod bgnbd_expected_purchases;
pub mod bgnbd_fit;
pub mod bgnbd_p_alive;
pub mod clv_summary;
pub mod gamma_gamma;
pub mod gamma_gamma_expected_spend;
pub mod gamma_gamma_fit;
pub mod lifetime_value;
pub mod math;
pub mod model_fn;
pub mod pareto_nbd;
pub mod pareto_nbd_expected_purchases;
pub mod pareto_nbd_fit;
pub mod pareto_nbd_p_alive;
pub mod sample;

/// The parameters the BG/NBD functions read from `bgnbd_fit`'s struct.
pub const BGNBD_FIELDS: [&str; 4] = ["r", "alpha", "a", "b"];
/// The parameters the Pareto/NBD functions read from `pareto_nbd_fit`'s struct.
pub const PARETO_FIELDS: [&str; 4] = ["r", "alpha", "s", "beta"];
/// The parameters the Gamma-Gamma functions read from `gamma_gamma_fit`'s struct.
pub const GG_FIELDS: [&str; 3] = ["p", "q", "v"];

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
        pareto_nbd_expected_purchases::pareto_nbd_expected_purchases_udf(),
        pareto_nbd_p_alive::pareto_nbd_p_alive_udf(),
        gamma_gamma_expected_spend::gamma_gamma_expected_spend_udf(),
        lifetime_value::clv_udf(),
    ]
}

/// The aggregate functions of this family.
pub fn aggregate_functions() -> Vec<Arc<AggregateUDF>> {
    vec![
        bgnbd_fit::bgnbd_fit_udaf(),
        pareto_nbd_fit::pareto_nbd_fit_udaf(),
        gamma_gamma_fit::gamma_gamma_fit_udaf(),
    ]
}

/// Checks a call against the function's documented arguments: their count (the message lists
/// them by name), then, when `params` names a fit and its fields, the parameters struct in
/// first place, and numbers (coerced to Float64) for the rest.
pub fn coerce_documented(
    name: &str,
    doc: &Documentation,
    arg_types: &[DataType],
    params: Option<(&str, &[&str])>,
) -> Result<Vec<DataType>> {
    let names: Vec<&str> = doc
        .arguments
        .iter()
        .flatten()
        .map(|(n, _)| n.as_str())
        .collect();
    if arg_types.len() != names.len() {
        return plan_err!(
            "{name} takes {} arguments ({}), got {}",
            names.len(),
            names.join(", "),
            arg_types.len()
        );
    }
    let skip = match params {
        Some((fit, fields)) => {
            check_params(name, fit, &arg_types[0], fields)?;
            1
        }
        None => 0,
    };
    coerce_numeric(name, arg_types, skip)
}

/// Numeric arguments become Float64; anything else is a planning error naming the function
/// and the position.
fn coerce_numeric(name: &str, arg_types: &[DataType], skip: usize) -> Result<Vec<DataType>> {
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

/// Checks that a parameters argument is a struct with the named numeric fields.
fn check_params(name: &str, fit: &str, t: &DataType, fields: &[&str]) -> Result<()> {
    if has_numeric_fields(t, fields) {
        return Ok(());
    }
    plan_err!(
        "Unexpected argument type to '{name}' at position 1, expected the parameters struct of {fit} (fields {}), got {t}",
        fields.join(", ")
    )
}

/// The parameters struct of a fit and its `fields` as Float64 columns.
pub fn param_columns<'a>(
    array: &'a ArrayRef,
    fields: &[&str],
) -> Result<(&'a StructArray, Vec<Float64Array>)> {
    let Some(s) = array.as_any().downcast_ref::<StructArray>() else {
        return exec_err!("the first argument must be the parameters struct of a fit");
    };
    let params = fields
        .iter()
        .map(|n| match s.column_by_name(n) {
            Some(c) => floats(c),
            None => exec_err!("the parameters have no field '{n}'"),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((s, params))
}

/// Applies a fitted model row by row: `args[0]` is the parameters struct (its `fields` read
/// as numbers), the other arguments are numbers; `f` gets the parameters and the numbers of a
/// row. A NULL anywhere in a row gives NULL.
pub fn apply_model(
    args: &[ColumnarValue],
    rows: usize,
    fields: &[&str],
    f: impl Fn(&[f64], &[f64]) -> Option<f64>,
) -> Result<ColumnarValue> {
    let arrays: Vec<ArrayRef> = crate::args::arrays(args, rows)?;
    let (s, params) = param_columns(&arrays[0], fields)?;
    let values = arrays[1..].iter().map(floats).collect::<Result<Vec<_>>>()?;
    let (mut p, mut v) = (vec![0.0; params.len()], vec![0.0; values.len()]);
    let out: Float64Array = (0..rows)
        .map(|i| {
            let valid = s.is_valid(i) && params.iter().chain(&values).all(|c| c.is_valid(i));
            if !valid {
                return None;
            }
            params
                .iter()
                .zip(p.iter_mut())
                .for_each(|(c, x)| *x = c.value(i));
            values
                .iter()
                .zip(v.iter_mut())
                .for_each(|(c, x)| *x = c.value(i));
            f(&p, &v)
        })
        .collect();
    Ok(ColumnarValue::Array(Arc::new(out)))
}
