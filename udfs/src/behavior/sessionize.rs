//! `sessionize(timestamp, gap) OVER (PARTITION BY … ORDER BY timestamp)`: session numbers,
//! a new session starting wherever the time since the previous event exceeds the gap.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{ArrayRef, Int64Array};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::function::{
    ExpressionArgs, PartitionEvaluatorArgs, WindowUDFFieldArgs,
};
use datafusion::logical_expr::{
    Documentation, LimitEffect, PartitionEvaluator, Signature, WindowUDFImpl,
};
use datafusion::physical_expr::PhysicalExpr;

use super::DOC_SECTION;
use super::events::{coerce_time, literal_duration, ticks};

crate::user_defined_udwf!(SessionizeFunc, sessionize_udwf, "`sessionize`.");

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION,
        "Window function: the session number (from 1) of each event in its partition. A new \
         session starts when more than gap has passed since the previous event. The window \
         must order rows by the timestamp (a time that goes backwards is an error). NULL \
         timestamps get NULL and do not break a session.",
        "sessionize(timestamp, gap) OVER (PARTITION BY customer ORDER BY timestamp)",
    )
    .with_argument(
        "timestamp",
        "The event time: a timestamp, a date, or an integer time.",
    )
    .with_argument(
        "gap",
        "The longest pause inside a session: seconds, or an INTERVAL such as INTERVAL '30 minutes'.",
    )
    .with_sql_example(
        "SELECT customer_id, event_ts,\n\
         \x20      sessionize(event_ts, INTERVAL '30 minutes')\n\
         \x20          OVER (PARTITION BY customer_id ORDER BY event_ts) AS session\n\
         FROM events;",
    )
    .build()
});

/// Numbers a partition's sessions in one pass over the whole partition. (A bounded,
/// row-at-a-time evaluator held half the memory on 1M customers' events but took 20% longer.)
#[derive(Debug)]
struct SessionizeEvaluator {
    gap: i64,
    session: i64,
    previous: Option<i64>,
}

impl SessionizeEvaluator {
    /// The session of the next row of the partition, at time `t`.
    fn next(&mut self, t: Option<i64>) -> Result<Option<i64>> {
        let Some(t) = t else {
            return Ok(None);
        };
        match self.previous {
            Some(p) if t < p => {
                return exec_err!(
                    "sessionize: event times go backwards within a partition; order the window by the timestamp (OVER (PARTITION BY ... ORDER BY timestamp))"
                );
            }
            Some(p) if t - p <= self.gap => {}
            _ => self.session += 1,
        }
        self.previous = Some(t);
        Ok(Some(self.session))
    }
}

impl PartitionEvaluator for SessionizeEvaluator {
    fn evaluate_all(&mut self, values: &[ArrayRef], num_rows: usize) -> Result<ArrayRef> {
        // One call is one whole partition.
        self.session = 0;
        self.previous = None;
        let times = ticks(&values[0])?;
        let mut out = Vec::with_capacity(num_rows);
        for t in times.iter() {
            out.push(self.next(t)?);
        }
        Ok(Arc::new(Int64Array::from(out)))
    }
}

impl WindowUDFImpl for SessionizeFunc {
    fn name(&self) -> &str {
        "sessionize"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let [time, gap] = arg_types else {
            return plan_err!(
                "sessionize takes 2 arguments (timestamp, gap), got {}",
                arg_types.len()
            );
        };
        Ok(vec![coerce_time("sessionize", 1, time)?, gap.clone()])
    }

    /// Only the timestamp is evaluated per row; the gap is read from the plan.
    fn expressions(&self, expr_args: ExpressionArgs) -> Vec<Arc<dyn PhysicalExpr>> {
        expr_args.input_exprs().iter().take(1).cloned().collect()
    }

    fn partition_evaluator(
        &self,
        args: PartitionEvaluatorArgs,
    ) -> Result<Box<dyn PartitionEvaluator>> {
        let exprs = args.input_exprs();
        let time_type = args.input_fields()[0].data_type();
        let gap = literal_duration("sessionize", "the gap", &exprs[1], time_type)?;
        Ok(Box::new(SessionizeEvaluator {
            gap,
            session: 0,
            previous: None,
        }))
    }

    fn field(&self, field_args: WindowUDFFieldArgs) -> Result<FieldRef> {
        Ok(Arc::new(Field::new(
            field_args.name(),
            DataType::Int64,
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
