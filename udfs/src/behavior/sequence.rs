//! `sequence_match(pattern, timestamp, cond1, …)` and `sequence_count(…)`: ClickHouse's
//! sequenceMatch and sequenceCount.
//!
//! A pattern is a sequence of `(?N)` (an event meeting condition N), `.` (any one event), `.*`
//! (any number of events) and time conditions `(?t OP n)` (OP one of `<`, `<=`, `>`, `>=`,
//! `==`; n seconds for timestamps, raw units for integer times) on the time since the previous
//! matched event. As in ClickHouse, only rows meeting some condition are events, a match may
//! start anywhere (an implicit leading `.*`), matching backtracks, and sequence_count counts
//! matches that do not overlap. Events at the same time are ordered by their lowest condition
//! (ClickHouse leaves that order to its sort).

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{ArrayRef, UInt8Array, UInt64Array};
use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Documentation, GroupsAccumulator, Signature,
    Volatility,
};

use super::DOC_SECTION;
use super::event_lists::{EventAccumulator, EventGroups, Finish, Row, state_fields};
use super::events::{coerce_time, literal_text, ticks_per_second};
use super::retention::coerce_conditions;

/// One step of a pattern.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Action {
    /// An event meeting condition k (from 0).
    Event(u32),
    Any,
    Star,
    Time(TimeOp, i64),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TimeOp {
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
    Equal,
}

/// Patterns longer than this many backtracking steps give up, as in ClickHouse.
const MAX_ITERATIONS: usize = 1_000_000;

/// Parses a pattern for `conditions` conditions; times are multiplied by `per_second`.
pub fn parse(
    function: &str,
    text: &str,
    conditions: usize,
    per_second: i64,
) -> Result<Vec<Action>> {
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    // The implicit leading .*: a match may start at any event.
    let mut actions = vec![Action::Star];
    let at = |i: usize| -> String {
        let rest: String = chars[i.min(chars.len())..].iter().collect();
        format!("at position {} ('{rest}') of the pattern '{text}'", i + 1)
    };
    let number = |i: &mut usize| -> Option<i64> {
        let start = *i;
        while *i < chars.len() && chars[*i].is_ascii_digit() {
            *i += 1;
        }
        chars[start..*i].iter().collect::<String>().parse().ok()
    };
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '.' {
            if chars.get(i + 1) == Some(&'*') {
                actions.push(Action::Star);
                i += 2;
            } else {
                actions.push(Action::Any);
                i += 1;
            }
        } else if c == '(' && chars.get(i + 1) == Some(&'?') {
            let open = i;
            i += 2;
            if chars.get(i) == Some(&'t') {
                i += 1;
                let op = match (chars.get(i), chars.get(i + 1)) {
                    (Some('<'), Some('=')) => (TimeOp::LessOrEqual, 2),
                    (Some('>'), Some('=')) => (TimeOp::GreaterOrEqual, 2),
                    (Some('='), Some('=')) => (TimeOp::Equal, 2),
                    (Some('<'), _) => (TimeOp::Less, 1),
                    (Some('>'), _) => (TimeOp::Greater, 1),
                    _ => {
                        return plan_err!(
                            "{function}: unknown time condition {}; use <, <=, >, >= or ==",
                            at(i)
                        );
                    }
                };
                i += op.1;
                let Some(n) = number(&mut i) else {
                    return plan_err!("{function}: expected a number of seconds {}", at(i));
                };
                if matches!(actions.last(), Some(Action::Time(..))) {
                    return plan_err!(
                        "{function}: a time condition must follow an event condition, not another time condition, {}",
                        at(open)
                    );
                }
                actions.push(Action::Time(op.0, n.saturating_mul(per_second)));
            } else {
                let Some(n) = number(&mut i) else {
                    return plan_err!("{function}: expected a condition number {}", at(i));
                };
                if n < 1 || n as usize > conditions {
                    return plan_err!(
                        "{function}: (?{n}) {} names no condition; there are {conditions}",
                        at(open)
                    );
                }
                actions.push(Action::Event(n as u32 - 1));
            }
            if chars.get(i) != Some(&')') {
                return plan_err!("{function}: expected ')' {}", at(i));
            }
            i += 1;
        } else {
            return plan_err!(
                "{function}: unexpected '{c}' {}; a pattern is made of (?N), ., .* and (?t>N)",
                at(i)
            );
        }
    }
    if actions.len() == 1 {
        return plan_err!("{function}: the pattern is empty");
    }
    Ok(actions)
}

/// ClickHouse's backtracking match, from event `*start`. On a match `*start` moves past the
/// matched events (so counting does not overlap).
fn backtracking_match(
    actions: &[Action],
    events: &[(i64, u32)],
    start: &mut usize,
) -> Result<bool> {
    let end = events.len();
    let begin = *start;
    let mut e = *start;
    let mut a = 0;
    let mut base = e;
    let mut stack: Vec<(usize, usize, usize)> = Vec::new();
    let mut iterations = 0;
    // Resumes from the last choice point, one event further; false when none is left.
    let backtrack =
        |stack: &mut Vec<(usize, usize, usize)>, a: &mut usize, e: &mut usize, base: &mut usize| {
            while let Some((sa, se, sb)) = stack.pop() {
                *a = sa;
                *e = se + 1;
                *base = sb;
                if *e != end {
                    return true;
                }
            }
            false
        };
    while a < actions.len() && e < end {
        let (t, mask) = events[e];
        let base_t = events[base].0;
        match actions[a] {
            Action::Event(k) => {
                if mask & (1 << k) != 0 {
                    base = e;
                    a += 1;
                    e += 1;
                } else if !backtrack(&mut stack, &mut a, &mut e, &mut base) {
                    break;
                }
            }
            Action::Any => {
                base = e;
                a += 1;
                e += 1;
            }
            Action::Star => {
                stack.push((a, e, base));
                base = e;
                a += 1;
            }
            Action::Time(op, n) => {
                let limit = base_t.saturating_add(n);
                let ok = match op {
                    TimeOp::LessOrEqual => t <= limit,
                    TimeOp::Less => t < limit,
                    TimeOp::GreaterOrEqual => t >= limit,
                    TimeOp::Greater => t > limit,
                    TimeOp::Equal => t == limit,
                };
                if ok {
                    stack.push((a, e, base));
                    base = e;
                    a += 1;
                } else if matches!(op, TimeOp::LessOrEqual | TimeOp::Less) {
                    if !backtrack(&mut stack, &mut a, &mut e, &mut base) {
                        break;
                    }
                } else {
                    e += 1;
                    if e == end && !backtrack(&mut stack, &mut a, &mut e, &mut base) {
                        break;
                    }
                }
            }
        }
        iterations += 1;
        if iterations > MAX_ITERATIONS {
            return exec_err!(
                "the pattern needs more than {MAX_ITERATIONS} steps to match; simplify it or filter the events"
            );
        }
    }
    // Steps that match nothing at the end.
    while a < actions.len()
        && matches!(
            actions[a],
            Action::Star
                | Action::Time(TimeOp::LessOrEqual | TimeOp::Less, _)
                | Action::Time(TimeOp::GreaterOrEqual, 0)
        )
    {
        a += 1;
    }
    if e == begin {
        e += 1;
    }
    *start = e;
    Ok(a == actions.len())
}

/// A call's pattern and whether it counts or matches.
#[derive(Debug)]
pub struct Sequence {
    actions: Vec<Action>,
    count: bool,
}

impl Sequence {
    /// The pattern `text` for `conditions` conditions, as `sequence_count` (`count`) or
    /// `sequence_match` run it; times are in units of `1/per_second` s.
    pub fn new(
        function: &str,
        text: &str,
        conditions: usize,
        per_second: i64,
        count: bool,
    ) -> Result<Self> {
        let actions = parse(function, text, conditions, per_second)?;
        Ok(Sequence { actions, count })
    }

    /// Events ordered by time, then by lowest condition.
    fn ordered(rows: &[Row]) -> Vec<(i64, u32)> {
        let mut events: Vec<(i64, u32)> = rows.iter().copied().filter(|r| r.1 != 0).collect();
        events.sort_by_key(|&(t, m)| (t, m.trailing_zeros()));
        events
    }

    fn could_match(&self, events: &[(i64, u32)]) -> bool {
        let seen = events.iter().fold(0u32, |m, e| m | e.1);
        self.actions.iter().all(|a| match a {
            Action::Event(k) => seen & (1 << k) != 0,
            _ => true,
        })
    }

    /// sequence_count: the number of non-overlapping matches.
    pub fn count(&self, rows: &[Row]) -> Result<u64> {
        let events = Self::ordered(rows);
        if !self.could_match(&events) {
            return Ok(0);
        }
        let (mut start, mut n) = (0, 0);
        while start < events.len() && backtracking_match(&self.actions, &events, &mut start)? {
            n += 1;
        }
        Ok(n)
    }

    /// sequence_match: whether the pattern occurs.
    pub fn matches(&self, rows: &[Row]) -> Result<bool> {
        let events = Self::ordered(rows);
        if !self.could_match(&events) {
            return Ok(false);
        }
        let mut start = 0;
        backtracking_match(&self.actions, &events, &mut start)
    }
}

impl Finish for Sequence {
    fn finish(&self, rows: &[Row], offsets: &[usize]) -> Result<ArrayRef> {
        let groups = offsets.windows(2).map(|w| &rows[w[0]..w[1]]);
        if self.count {
            let out: UInt64Array = groups
                .map(|g| self.count(g).map(Some))
                .collect::<Result<_>>()?;
            Ok(Arc::new(out))
        } else {
            let out: UInt8Array = groups
                .map(|g| self.matches(g).map(|m| Some(u8::from(m))))
                .collect::<Result<_>>()?;
            Ok(Arc::new(out))
        }
    }
}

/// Shared instance of `sequence_match`.
pub fn sequence_match_udaf() -> Arc<AggregateUDF> {
    static INSTANCE: std::sync::OnceLock<Arc<AggregateUDF>> = std::sync::OnceLock::new();
    INSTANCE
        .get_or_init(|| Arc::new(AggregateUDF::new_from_impl(SequenceFunc::new(false))))
        .clone()
}

/// Shared instance of `sequence_count`.
pub fn sequence_count_udaf() -> Arc<AggregateUDF> {
    static INSTANCE: std::sync::OnceLock<Arc<AggregateUDF>> = std::sync::OnceLock::new();
    INSTANCE
        .get_or_init(|| Arc::new(AggregateUDF::new_from_impl(SequenceFunc::new(true))))
        .clone()
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct SequenceFunc {
    count: bool,
    signature: Signature,
}

impl SequenceFunc {
    fn new(count: bool) -> Self {
        Self {
            count,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }

    fn sequence(&self, args: &AccumulatorArgs) -> Result<Sequence> {
        let name = self.name();
        let Some(pattern) = literal_text(name, "the pattern", &args.exprs[0])? else {
            return plan_err!("{name}: the pattern must not be NULL");
        };
        let per_second = ticks_per_second(args.expr_fields[1].data_type());
        Sequence::new(name, &pattern, args.exprs.len() - 2, per_second, self.count)
    }
}

fn doc(count: bool) -> Documentation {
    let (name, what, example) = if count {
        (
            "sequence_count",
            "the number of non-overlapping matches of the pattern",
            "SELECT customer_id,\n       sequence_count('(?1).*(?2)', event_ts, event_type = 'view', event_type = 'purchase') AS view_then_buy\nFROM events GROUP BY customer_id;",
        )
    } else {
        (
            "sequence_match",
            "1 when the group's events match the pattern, else 0",
            "SELECT count(*) FROM (\n    SELECT customer_id FROM events GROUP BY customer_id\n    HAVING sequence_match('(?1)(?t<=1800)(?2)', event_ts, event_type = 'cart', event_type = 'purchase') = 1);",
        )
    };
    Documentation::builder(
        DOC_SECTION,
        format!(
            "Aggregate, as ClickHouse's {}: {what}. Events are the rows meeting some condition, \
             ordered by time. The pattern is made of (?N) (an event meeting condition N), . (any \
             one event), .* (any number of events) and (?t OP n) with OP one of <, <=, >, >=, == \
             (seconds since the previous matched event; raw units for integer times). A match may \
             start at any event. 1 to 32 conditions.",
            if count {
                "sequenceCount"
            } else {
                "sequenceMatch"
            }
        ),
        format!("{name}(pattern, timestamp, cond1, ..., condN)"),
    )
    .with_argument(
        "pattern",
        "The pattern, a string constant such as '(?1)(?t>1800)(?2)'.",
    )
    .with_argument(
        "timestamp",
        "The event time: a timestamp, a date, or an integer time.",
    )
    .with_argument("condN", "A boolean condition on the row.")
    .with_sql_example(example)
    .build()
}

static MATCH_DOC: LazyLock<Documentation> = LazyLock::new(|| doc(false));
static COUNT_DOC: LazyLock<Documentation> = LazyLock::new(|| doc(true));

impl AggregateUDFImpl for SequenceFunc {
    fn name(&self) -> &str {
        if self.count {
            "sequence_count"
        } else {
            "sequence_match"
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let name = self.name();
        if arg_types.len() < 3 {
            return plan_err!(
                "{name} takes a pattern, a timestamp and 1 to 32 conditions, got {} arguments",
                arg_types.len()
            );
        }
        if !crate::args::is_text(&arg_types[0]) {
            return plan_err!("{name}: the pattern (argument 1) must be a string");
        }
        let mut out = vec![DataType::Utf8, coerce_time(name, 2, &arg_types[1])?];
        out.extend(coerce_conditions(name, &arg_types[2..])?);
        Ok(out)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(if self.count {
            DataType::UInt64
        } else {
            DataType::UInt8
        })
    }

    fn is_nullable(&self) -> bool {
        false
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(state_fields(args.name))
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let n = args.exprs.len() - 2;
        let s = self.sequence(&args)?;
        Ok(Box::new(EventAccumulator(EventGroups::new(
            Arc::new(s),
            1,
            n,
        ))))
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        let n = args.exprs.len() - 2;
        let s = self.sequence(&args)?;
        Ok(Box::new(EventGroups::new(Arc::new(s), 1, n)))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(if self.count { &COUNT_DOC } else { &MATCH_DOC })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ClickHouse's 00222 test: times 0..11, data 0,0,0,0,1,2,0,0,0,0,1,1, conditions
    /// data = 0, 1, 2, 3.
    fn rows() -> Vec<Row> {
        let data = [0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 1, 1];
        data.iter()
            .enumerate()
            .map(|(t, &d)| (t as i64, 1u32 << d))
            .collect()
    }

    fn seq(pattern: &str) -> Sequence {
        Sequence {
            actions: parse("test", pattern, 4, 1).unwrap(),
            count: false,
        }
    }

    #[test]
    fn counts_match_clickhouse_00222() {
        let r = rows();
        assert_eq!(seq("(?1)").count(&r).unwrap(), 8);
        assert_eq!(seq("(?2)").count(&r).unwrap(), 3);
        assert_eq!(seq("(?1)(?1)").count(&r).unwrap(), 4);
        assert_eq!(seq("(?1)(?1)(?1)(?1)(?2)").count(&r).unwrap(), 2);
        assert_eq!(seq("(?1)(?t<11)(?2)").count(&r).unwrap(), 2);
    }

    #[test]
    fn time_conditions_match_clickhouse_00222() {
        let r = rows();
        assert!(seq("(?1)(?t>10)(?2)").matches(&r).unwrap());
        assert!(!seq("(?1)(?t>11)(?2)").matches(&r).unwrap());
        assert!(seq("(?1)(?t<=2)(?3)").matches(&r).unwrap());
        assert!(!seq("(?1)(?t<2)(?3)").matches(&r).unwrap());
        assert!(seq("(?2)(?t>=7)(?2)").matches(&r).unwrap());
    }

    #[test]
    fn malformed_patterns_name_the_position() {
        let e = parse("sequence_match", "(?1)(?x)", 2, 1)
            .unwrap_err()
            .to_string();
        assert!(e.contains("position 7"), "{e}");
        let e = parse("sequence_match", "(?3)", 2, 1)
            .unwrap_err()
            .to_string();
        assert!(e.contains("names no condition"), "{e}");
        let e = parse("sequence_match", "(?1)(?t>1)(?t<3)", 2, 1)
            .unwrap_err()
            .to_string();
        assert!(e.contains("must follow an event condition"), "{e}");
    }
}
