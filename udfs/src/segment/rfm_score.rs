//! `rfm_score(dimension, value [, method [, breaks]]) OVER (...)`: RFM scores of a whole
//! partition of customers in one pass.
//!
//! A window function rather than RANK() windows plus a scalar: the partition's values are
//! sorted once as plain numbers, and each customer's rank is a binary search, so scoring three
//! dimensions costs three sorts of floats instead of three sorts of whole rows. The method and
//! break points are arguments (the `customer_rfm` view passes the session's settings) because a
//! window function does not see the session.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, ArrayRef, Int32Array, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::function::{
    ExpressionArgs, PartitionEvaluatorArgs, WindowUDFFieldArgs,
};
use datafusion::logical_expr::{
    Documentation, LimitEffect, PartitionEvaluator, Signature, WindowUDFImpl,
};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Literal;

use super::DOC_SECTION;
use crate::args::{floats, is_text};
use crate::config::{RfmBreaks, RfmMethod};

crate::user_defined_udwf!(RfmScoreFunc, rfm_score_udwf, "`rfm_score`.");

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION,
        "Window function: the RFM score of each customer among the customers of the window \
         partition. dimension is 'r' (value: days since the last purchase, lower is better), 'f' \
         (purchases) or 'm' (money spent). A customer's rank is 1 + the number of customers with \
         a worse value, so tied values share a rank and a score. quintile (the default): 1 + \
         floor(5 (rank - 1) / n), 1..5; quartile: the same with 4, 1..4; mean: 2 when at least as \
         good as the mean, else 1; breaks: 1 + the number of break points passed (for r, a value \
         at or below a point passes it), points as in persona.rfm.breaks. A large tie can leave a \
         score unused. NULL values get NULL and are not counted. customer_rfm passes the session's \
         persona.rfm.method and persona.rfm.breaks.",
        "rfm_score(dimension, value [, method [, breaks]]) OVER ([PARTITION BY ...])",
    )
    .with_argument("dimension", "'r', 'f' or 'm'.")
    .with_argument("value", "The customer's recency in days, frequency or monetary value.")
    .with_argument("method", "'quintile', 'quartile', 'mean' or 'breaks'.")
    .with_argument("breaks", "Break points, as 'r:30,90,180,365;f:2,3,5,8;m:100,300,1000,3000'.")
    .with_sql_example(
        "SELECT customer_id, rfm_score('f', orders) OVER () AS f_score\nFROM customer_orders WHERE orders > 0;",
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

/// How one partition is scored.
#[derive(Debug)]
struct Scoring {
    dimension: char,
    method: RfmMethod,
    breaks: RfmBreaks,
}

impl Scoring {
    /// The score of one value; `worse` is the number of customers with a worse value, `n` the
    /// number scored, `mean` their mean.
    fn score(&self, value: f64, worse: usize, n: usize, mean: f64) -> i32 {
        let lower_is_better = self.dimension == 'r';
        match self.method {
            RfmMethod::Quintile | RfmMethod::Quartile => {
                let k = f64::from(levels(self.method, &self.breaks, self.dimension));
                (1.0 + (k * worse as f64 / n as f64).floor()).clamp(1.0, k) as i32
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
                    let points = &self.breaks.r;
                    (points.len() + 1 - points.iter().filter(|&&b| b < value).count()) as i32
                } else {
                    let points = if self.dimension == 'f' {
                        &self.breaks.f
                    } else {
                        &self.breaks.m
                    };
                    (1 + points.iter().filter(|&&b| b <= value).count()) as i32
                }
            }
        }
    }
}

/// A text argument: a constant known when the plan is made (the usual case: literals, and the
/// view's `current_setting(...)`, which the optimiser folds), or a column evaluated with the
/// value, at this position of the evaluated arrays.
#[derive(Debug, Clone)]
enum TextArg {
    Constant(Option<String>),
    Evaluated(usize),
}

/// The text arguments (dimension, method, breaks): positions 0, 2 and 3 of the call.
const TEXT_ARGS: [usize; 3] = [0, 2, 3];

/// The constant text of an expression, if it is a literal.
fn literal_text(e: &Arc<dyn PhysicalExpr>) -> Option<Option<String>> {
    let lit = e.downcast_ref::<Literal>()?;
    Some(match lit.value() {
        v if v.is_null() => None,
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => Some(s.clone()),
        other => Some(other.to_string()),
    })
}

/// Which text arguments are constants, and where the others land among the evaluated arrays
/// (the value comes first, see `expressions`).
fn text_args(exprs: &[Arc<dyn PhysicalExpr>]) -> [TextArg; 3] {
    let mut next = 1;
    TEXT_ARGS.map(|i| match exprs.get(i) {
        None => TextArg::Constant(None),
        Some(e) => match literal_text(e) {
            Some(c) => TextArg::Constant(c),
            None => {
                next += 1;
                TextArg::Evaluated(next - 1)
            }
        },
    })
}

/// The value of a text argument for this partition (an evaluated one is read at its first row).
fn text_value(arg: &TextArg, values: &[ArrayRef]) -> Result<Option<String>> {
    match arg {
        TextArg::Constant(c) => Ok(c.clone()),
        TextArg::Evaluated(i) => {
            let text = cast(&values[*i], &DataType::Utf8)?;
            let Some(text) = text.as_any().downcast_ref::<StringArray>() else {
                return Ok(None);
            };
            Ok((!text.is_empty() && text.is_valid(0)).then(|| text.value(0).to_string()))
        }
    }
}

#[derive(Debug)]
struct RfmScoreEvaluator {
    args: [TextArg; 3],
}

impl RfmScoreEvaluator {
    fn scoring(&self, values: &[ArrayRef]) -> Result<Scoring> {
        let dimension = match text_value(&self.args[0], values)?
            .map(|d| d.trim().to_ascii_lowercase())
        {
            Some(d) if d == "r" || d == "f" || d == "m" => d.chars().next().unwrap_or('m'),
            Some(d) => {
                return exec_err!("rfm_score: the dimension must be 'r', 'f' or 'm', got '{d}'");
            }
            None => return exec_err!("rfm_score: the dimension must be 'r', 'f' or 'm'"),
        };
        let method = match text_value(&self.args[1], values)? {
            Some(m) => RfmMethod::parse(&m)?,
            None => RfmMethod::Quintile,
        };
        let breaks = match text_value(&self.args[2], values)? {
            Some(b) => RfmBreaks::parse(&b)?,
            None => RfmBreaks::default(),
        };
        Ok(Scoring {
            dimension,
            method,
            breaks,
        })
    }
}

impl PartitionEvaluator for RfmScoreEvaluator {
    fn evaluate_all(&mut self, values: &[ArrayRef], _num_rows: usize) -> Result<ArrayRef> {
        let scoring = self.scoring(values)?;
        let input = floats(&values[0])?;
        // Sort (value, row) once; each tie group then knows how many rows are worse than it.
        let mut order: Vec<(f64, u32)> = input
            .iter()
            .enumerate()
            .filter_map(|(row, v)| v.filter(|v| !v.is_nan()).map(|v| (v, row as u32)))
            .collect();
        order.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
        let n = order.len();
        let mean = order.iter().map(|p| p.0).sum::<f64>() / n.max(1) as f64;
        let mut scores: Vec<Option<i32>> = vec![None; input.len()];
        let mut start = 0;
        while start < n {
            let value = order[start].0;
            let end = start + order[start..].partition_point(|p| p.0 == value);
            // Higher is better: the rows before the group are worse; lower is better
            // (recency): the rows after it are.
            let worse = if scoring.dimension == 'r' {
                n - end
            } else {
                start
            };
            let score = scoring.score(value, worse, n, mean);
            for &(_, row) in &order[start..end] {
                scores[row as usize] = Some(score);
            }
            start = end;
        }
        let out: Int32Array = scores.into_iter().collect();
        Ok(Arc::new(out))
    }
}

impl WindowUDFImpl for RfmScoreFunc {
    fn name(&self) -> &str {
        "rfm_score"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if !(2..=4).contains(&arg_types.len()) {
            return plan_err!(
                "rfm_score takes 2 to 4 arguments (dimension, value [, method [, breaks]]), got {}",
                arg_types.len()
            );
        }
        arg_types
            .iter()
            .enumerate()
            .map(|(i, t)| match i {
                1 if t.is_numeric() || t.is_null() => Ok(DataType::Float64),
                1 => plan_err!(
                    "Unexpected argument type to 'rfm_score' at position 2, expected a number, got {t}"
                ),
                _ if is_text(t) => Ok(DataType::Utf8),
                _ => plan_err!(
                    "Unexpected argument type to 'rfm_score' at position {}, expected text, got {t}",
                    i + 1
                ),
            })
            .collect()
    }

    /// Only the value, and any text argument that is not a constant, are evaluated per row:
    /// a constant method would otherwise become an array of one string per customer.
    fn expressions(&self, expr_args: ExpressionArgs) -> Vec<Arc<dyn PhysicalExpr>> {
        let exprs = expr_args.input_exprs();
        let mut out: Vec<Arc<dyn PhysicalExpr>> = exprs.get(1).cloned().into_iter().collect();
        for i in TEXT_ARGS {
            if let Some(e) = exprs.get(i)
                && literal_text(e).is_none()
            {
                out.push(Arc::clone(e));
            }
        }
        out
    }

    fn partition_evaluator(
        &self,
        args: PartitionEvaluatorArgs,
    ) -> Result<Box<dyn PartitionEvaluator>> {
        let evaluator = RfmScoreEvaluator {
            args: text_args(args.input_exprs()),
        };
        // Constant arguments are checked now, so a bad method fails at planning.
        if evaluator
            .args
            .iter()
            .all(|a| matches!(a, TextArg::Constant(_)))
        {
            evaluator.scoring(&[])?;
        }
        Ok(Box::new(evaluator))
    }

    fn field(&self, field_args: WindowUDFFieldArgs) -> Result<FieldRef> {
        Ok(Arc::new(Field::new(
            field_args.name(),
            DataType::Int32,
            true,
        )))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }

    fn limit_effect(&self, _args: &[Arc<dyn PhysicalExpr>]) -> LimitEffect {
        LimitEffect::Unknown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scores(dimension: char, method: RfmMethod, values: &[f64]) -> Vec<i32> {
        let mut evaluator = RfmScoreEvaluator {
            args: [
                TextArg::Constant(Some(dimension.to_string())),
                TextArg::Constant(Some(method.name().to_string())),
                TextArg::Constant(None),
            ],
        };
        let input: ArrayRef = Arc::new(datafusion::arrow::array::Float64Array::from(
            values.to_vec(),
        ));
        let out = evaluator.evaluate_all(&[input], values.len()).unwrap();
        let out = out.as_any().downcast_ref::<Int32Array>().unwrap();
        out.iter().map(|v| v.unwrap()).collect()
    }

    #[test]
    fn ties_share_the_lowest_score() {
        assert_eq!(
            scores('f', RfmMethod::Quintile, &[1.0, 1.0, 1.0, 1.0, 2.0]),
            vec![1, 1, 1, 1, 5]
        );
    }

    #[test]
    fn recency_counts_down() {
        assert_eq!(
            scores('r', RfmMethod::Quintile, &[400.0, 100.0, 50.0, 10.0, 1.0]),
            vec![1, 2, 3, 4, 5]
        );
    }

    #[test]
    fn breaks_score_recency_downwards_and_spend_upwards() {
        let r = scores('r', RfmMethod::Breaks, &[0.0, 30.0, 31.0, 365.0, 366.0]);
        assert_eq!(r, [5, 5, 4, 2, 1]);
        let m = scores('m', RfmMethod::Breaks, &[0.0, 100.0, 2999.0, 3000.0]);
        assert_eq!(m, [1, 2, 4, 5]);
    }
}
