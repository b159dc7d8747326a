//! `rfm_score(dimension, value, rank, n, mean)`: one RFM score under `persona.rfm.method`.
//!
//! The view `customer_rfm` computes the rank (RANK() from worst to best, so tied values share
//! the lowest rank), the count and the mean once, and this function turns them into the score
//! the session's method asks for. Every method scores tied values alike.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, ArrayRef, Int32Array};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::{DOC_SECTION, options};
use crate::args::{constant_text, floats, is_text};
use crate::config::{RfmBreaks, RfmMethod};
use crate::user_defined_udf;

user_defined_udf!(
    RfmScoreFunc,
    rfm_score_udf,
    Volatility::Stable,
    "`rfm_score`."
);

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION,
        "One RFM score under SET persona.rfm.method. dimension is 'r' (value: days since the last \
         purchase, lower is better), 'f' (purchases) or 'm' (money spent). rank is RANK() over \
         the customers from worst to best (so ties share the lowest rank), n their count, mean \
         the mean value. quintile: 1 + floor(5 (rank - 1) / n), 1..5; quartile: the same with 4, \
         1..4; mean: 2 when at least as good as the mean, else 1; breaks: 1 + the number of \
         persona.rfm.breaks points passed (for r, a value at or below a point passes it). Tied \
         values always get the same score, so a large tie can leave a score unused.",
        "rfm_score(dimension, value, rank, n, mean)",
    )
    .with_argument("dimension", "'r', 'f' or 'm'.")
    .with_argument("value", "The customer's recency in days, frequency or monetary value.")
    .with_argument("rank", "RANK() OVER (ORDER BY value, worst first).")
    .with_argument("n", "The number of customers scored.")
    .with_argument("mean", "The mean value over those customers.")
    .with_sql_example(
        "SELECT rfm_score('f', orders, rank() OVER (ORDER BY orders), count(*) OVER (), avg(orders) OVER ())\nFROM customer_orders WHERE orders > 0;",
    )
    .build()
});

/// The number of score levels of a dimension under a method.
pub fn levels(method: RfmMethod, breaks: &RfmBreaks, dimension: char) -> u32 {
    match method {
        RfmMethod::Quintile => 5,
        RfmMethod::Quartile => 4,
        RfmMethod::Mean => 2,
        RfmMethod::Breaks => {
            let points = match dimension {
                'r' => &breaks.r,
                'f' => &breaks.f,
                _ => &breaks.m,
            };
            points.len() as u32 + 1
        }
    }
}

/// The score of one value.
fn score(
    method: RfmMethod,
    breaks: &RfmBreaks,
    dimension: char,
    value: f64,
    rank: f64,
    n: f64,
    mean: f64,
) -> i32 {
    let lower_is_better = dimension == 'r';
    match method {
        RfmMethod::Quintile | RfmMethod::Quartile => {
            let k = f64::from(levels(method, breaks, dimension));
            (1.0 + (k * (rank - 1.0) / n).floor()).clamp(1.0, k) as i32
        }
        RfmMethod::Mean => {
            let good = if lower_is_better {
                value <= mean
            } else {
                value >= mean
            };
            if good { 2 } else { 1 }
        }
        RfmMethod::Breaks => {
            if lower_is_better {
                let points = &breaks.r;
                (points.len() + 1 - points.iter().filter(|&&b| b < value).count()) as i32
            } else {
                let points = if dimension == 'f' {
                    &breaks.f
                } else {
                    &breaks.m
                };
                (1 + points.iter().filter(|&&b| b <= value).count()) as i32
            }
        }
    }
}

impl ScalarUDFImpl for RfmScoreFunc {
    fn name(&self) -> &str {
        "rfm_score"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() != 5 {
            return plan_err!(
                "rfm_score takes 5 arguments (dimension, value, rank, n, mean), got {}",
                arg_types.len()
            );
        }
        if !is_text(&arg_types[0]) {
            return plan_err!("rfm_score: the dimension must be 'r', 'f' or 'm'");
        }
        let mut out = vec![DataType::Utf8];
        for (i, t) in arg_types.iter().enumerate().skip(1) {
            if !(t.is_numeric() || t.is_null()) {
                return plan_err!(
                    "Unexpected argument type to 'rfm_score' at position {}, expected a number, got {t}",
                    i + 1
                );
            }
            out.push(DataType::Float64);
        }
        Ok(out)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int32)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let dimension = match constant_text(self.name(), "the dimension", &args.args[0])?.as_deref()
        {
            Some("r") => 'r',
            Some("f") => 'f',
            Some("m") => 'm',
            _ => return exec_err!("rfm_score: the dimension must be 'r', 'f' or 'm'"),
        };
        let o = options(&args.config_options);
        let arrays: Vec<ArrayRef> = ColumnarValue::values_to_arrays(&args.args[1..])?;
        let cols = arrays.iter().map(floats).collect::<Result<Vec<_>>>()?;
        let out: Int32Array = (0..args.number_rows)
            .map(|i| {
                if !cols.iter().all(|c| c.is_valid(i)) || cols[2].value(i) <= 0.0 {
                    return None;
                }
                Some(score(
                    o.rfm_method,
                    &o.rfm_breaks,
                    dimension,
                    cols[0].value(i),
                    cols[1].value(i),
                    cols[2].value(i),
                    cols[3].value(i),
                ))
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
    fn ties_share_the_lowest_score() {
        let b = RfmBreaks::default();
        // Values 1, 1, 1, 1, 2: RANK gives 1, 1, 1, 1, 5.
        let s: Vec<i32> = [1.0, 1.0, 1.0, 1.0, 5.0]
            .iter()
            .map(|&rank| score(RfmMethod::Quintile, &b, 'f', 0.0, rank, 5.0, 0.0))
            .collect();
        assert_eq!(s, vec![1, 1, 1, 1, 5]);
    }

    #[test]
    fn breaks_score_recency_downwards_and_spend_upwards() {
        let b = RfmBreaks::default(); // r: 30, 90, 180, 365
        let r = |days| score(RfmMethod::Breaks, &b, 'r', days, 1.0, 1.0, 0.0);
        assert_eq!(
            [r(0.0), r(30.0), r(31.0), r(365.0), r(366.0)],
            [5, 5, 4, 2, 1]
        );
        let m = |v| score(RfmMethod::Breaks, &b, 'm', v, 1.0, 1.0, 0.0);
        assert_eq!([m(0.0), m(100.0), m(2999.0), m(3000.0)], [1, 2, 4, 5]);
    }
}
