//! `clv(purchase_params, gg_params, frequency, recency, T, monetary, months, discount_rate
//! [, unit])`: discounted customer lifetime value over the next `months` months.
//!
//! The method is the one of `lifetimes`' `customer_lifetime_value`, so results compare with it:
//! for each month i, the purchases the model expects in that month times the Gamma-Gamma
//! expected spend, discounted by (1 + discount_rate)^i. Months are 30 days, or 4.345 weeks, in
//! the model's time unit.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, ArrayRef, Float64Array, StructArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::bgnbd::BgNbd;
use super::gamma_gamma::GammaGamma;
use super::pareto_nbd::ParetoNbd;
use super::{BGNBD_FIELDS, DOC_SECTION, GG_FIELDS, PARETO_FIELDS, param_columns};
use crate::args::{floats, has_numeric_fields, is_text};
use crate::user_defined_udf;

user_defined_udf!(
    ClvFunc,
    clv_udf,
    Volatility::Immutable,
    "`clv`: a purchase model (BG/NBD or Pareto/NBD, told apart by their fields) and a spend model combined into a discounted value."
);

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION,
        "Customer lifetime value over the next `months` months: for each month, the purchases the \
         purchase model expects in it times the spend the Gamma-Gamma model expects per purchase, \
         discounted at `discount_rate` per month (the method of lifetimes' customer_lifetime_value). \
         The purchase model is the struct of bgnbd_fit or of pareto_nbd_fit. `unit` is the time \
         unit frequency, recency and T are in: 'days' (the default; a month is 30 days), 'weeks' \
         (4.345 weeks) or 'months'. NULL where either model has no answer.",
        "clv(purchase_params, gg_params, frequency, recency, T, monetary, months, discount_rate [, unit])",
    )
    .with_argument("purchase_params", "The struct bgnbd_fit or pareto_nbd_fit returns.")
    .with_argument("gg_params", "The struct gamma_gamma_fit returns.")
    .with_argument("frequency", "Repeat purchases.")
    .with_argument("recency", "Time from the first to the last purchase.")
    .with_argument("T", "Time from the first purchase to the end of the observation.")
    .with_argument("monetary", "Mean value of the repeat purchases.")
    .with_argument("months", "The horizon in months, a whole number.")
    .with_argument("discount_rate", "Monthly discount rate, such as 0.01.")
    .with_argument("unit", "Optional: 'days', 'weeks' or 'months'.")
    .with_sql_example(
        "WITH f AS (SELECT bgnbd_fit(x, t_x, \"T\") AS bg, gamma_gamma_fit(x, zbar) AS gg FROM cdnow_summary)\nSELECT \"ID\", clv(bg, gg, x, t_x, \"T\", zbar, 12, 0.01, 'weeks') FROM cdnow_summary, f;",
    )
    .build()
});

/// The purchase model of a `clv` call.
#[derive(Clone, Copy)]
enum Purchases {
    BgNbd(BgNbd),
    ParetoNbd(ParetoNbd),
}

impl Purchases {
    fn expected(&self, horizon: f64, x: f64, t_x: f64, t: f64) -> Option<f64> {
        if horizon <= 0.0 {
            return Some(0.0);
        }
        match self {
            Purchases::BgNbd(m) => m.expected_purchases(horizon, x, t_x, t),
            Purchases::ParetoNbd(m) => m.expected_purchases(horizon, x, t_x, t),
        }
    }
}

/// Which purchase model a parameters struct holds, by its fields.
fn purchase_fields(t: &DataType) -> Option<&'static [&'static str]> {
    if has_numeric_fields(t, &BGNBD_FIELDS) {
        Some(&BGNBD_FIELDS)
    } else if has_numeric_fields(t, &PARETO_FIELDS) {
        Some(&PARETO_FIELDS)
    } else {
        None
    }
}

/// Model time units in a 30-day month, as lifetimes counts them.
fn units_per_month(unit: &str) -> Option<f64> {
    match unit.trim().to_ascii_lowercase().as_str() {
        "day" | "days" | "d" => Some(30.0),
        "week" | "weeks" | "w" => Some(4.345),
        "month" | "months" | "m" => Some(1.0),
        _ => None,
    }
}

/// Discounted value of `months` months of purchases at `spend` each.
pub fn lifetime_value(
    expected: impl Fn(f64) -> Option<f64>,
    spend: f64,
    months: u32,
    per_month: f64,
    discount_rate: f64,
) -> Option<f64> {
    let mut value = 0.0;
    let mut before = 0.0;
    for i in 1..=months {
        let to = expected(f64::from(i) * per_month)?;
        value += spend * (to - before) / (1.0 + discount_rate).powi(i as i32);
        before = to;
    }
    Some(value)
}

impl ScalarUDFImpl for ClvFunc {
    fn name(&self) -> &str {
        "clv"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let name = self.name();
        if !(8..=9).contains(&arg_types.len()) {
            return plan_err!(
                "clv takes 8 or 9 arguments (purchase_params, gg_params, frequency, recency, T, monetary, months, discount_rate [, unit]), got {}",
                arg_types.len()
            );
        }
        if purchase_fields(&arg_types[0]).is_none() {
            return plan_err!(
                "Unexpected argument type to 'clv' at position 1, expected the parameters struct of bgnbd_fit or pareto_nbd_fit, got {}",
                arg_types[0]
            );
        }
        let gg_ok = has_numeric_fields(&arg_types[1], &GG_FIELDS);
        if !gg_ok {
            return plan_err!(
                "Unexpected argument type to 'clv' at position 2, expected the parameters struct of gamma_gamma_fit (fields p, q, v), got {}",
                arg_types[1]
            );
        }
        arg_types
            .iter()
            .enumerate()
            .map(|(i, t)| match i {
                0 | 1 => Ok(t.clone()),
                8 if is_text(t) => Ok(DataType::Utf8),
                8 => plan_err!("Unexpected argument type to '{name}' at position 9, expected 'days', 'weeks' or 'months', got {t}"),
                _ if t.is_numeric() || t.is_null() => Ok(DataType::Float64),
                _ => plan_err!("Unexpected argument type to '{name}' at position {}, expected a number, got {t}", i + 1),
            })
            .collect()
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let per_month = match args.args.get(8) {
            None => 30.0,
            Some(ColumnarValue::Scalar(ScalarValue::Utf8(Some(u)))) => match units_per_month(u) {
                Some(v) => v,
                None => {
                    return exec_err!("clv: unit must be 'days', 'weeks' or 'months', got '{u}'");
                }
            },
            Some(ColumnarValue::Scalar(s)) if s.is_null() => 30.0,
            Some(_) => return exec_err!("clv: unit must be a constant such as 'weeks'"),
        };
        let rows = args.number_rows;
        let arrays: Vec<ArrayRef> = crate::args::arrays(&args.args[..8], rows)?;
        let Some(fields) = purchase_fields(arrays[0].data_type()) else {
            return exec_err!(
                "clv: the first argument must be the struct of bgnbd_fit or pareto_nbd_fit"
            );
        };
        let is_bgnbd = fields == BGNBD_FIELDS;
        let (purchase_struct, purchase) = param_columns(&arrays[0], fields)?;
        let (gg_struct, gg) = param_columns(&arrays[1], &GG_FIELDS)?;
        let values = arrays[2..].iter().map(floats).collect::<Result<Vec<_>>>()?;
        let valid = |s: &StructArray, cols: &[Float64Array], i: usize| {
            s.is_valid(i) && cols.iter().all(|c| c.is_valid(i))
        };
        let out: Float64Array = (0..rows)
            .map(|i| {
                if !valid(purchase_struct, &purchase, i)
                    || !valid(gg_struct, &gg, i)
                    || !values.iter().all(|c| c.is_valid(i))
                {
                    return None;
                }
                let p: Vec<f64> = purchase.iter().map(|c| c.value(i)).collect();
                let model = if is_bgnbd {
                    Purchases::BgNbd(BgNbd {
                        r: p[0],
                        alpha: p[1],
                        a: p[2],
                        b: p[3],
                    })
                } else {
                    Purchases::ParetoNbd(ParetoNbd::from_slice(&p))
                };
                let spend_model = GammaGamma {
                    p: gg[0].value(i),
                    q: gg[1].value(i),
                    v: gg[2].value(i),
                };
                let [x, t_x, t, m, months, rate] = std::array::from_fn(|k| values[k].value(i));
                if !(0.0..=1200.0).contains(&months) || rate <= -1.0 {
                    return None;
                }
                // Customers without repeat purchases carry no spend of their own: the spend
                // model gives them the population mean.
                let spend = spend_model.expected_spend(x, if x > 0.0 { m } else { 0.0 })?;
                lifetime_value(
                    |h| model.expected(h, x, t_x, t),
                    spend,
                    months.round() as u32,
                    per_month,
                    rate,
                )
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undiscounted_value_is_expected_purchases_times_spend() {
        let model = BgNbd {
            r: 0.243,
            alpha: 4.414,
            a: 0.793,
            b: 2.426,
        };
        let e = |h: f64| model.expected_purchases(h, 2.0, 30.43, 38.86);
        let v = lifetime_value(e, 10.0, 12, 4.345, 0.0).unwrap();
        let direct = 10.0 * e(12.0 * 4.345).unwrap();
        assert!((v - direct).abs() < 1e-9, "{v} {direct}");
        let discounted = lifetime_value(e, 10.0, 12, 4.345, 0.01).unwrap();
        assert!(discounted < v);
    }
}
