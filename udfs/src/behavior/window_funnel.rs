//! `window_funnel(window, timestamp, cond1, …, condN [, 'mode,…'])`: ClickHouse's windowFunnel,
//! the deepest step of the chain cond1 → cond2 → … reached with every step within `window` of
//! the chain's first event.
//!
//! Follows ClickHouse's algorithm (AggregateFunctionWindowFunnel.cpp, as of 26.9) step for
//! step, including its quirks, so results port: a row meeting several conditions becomes one
//! event per condition, events are ordered by (time, condition), a later cond1 event restarts
//! the chain's start without clearing deeper steps, and `strict_deduplication` stops at the
//! first repeated step and returns the deepest step set so far.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{ArrayRef, UInt8Array};
use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::{Result, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, Documentation, GroupsAccumulator, Signature,
};

use super::DOC_SECTION;
use super::event_lists::{EventAccumulator, EventGroups, Finish, Row, state_fields};
use super::events::{coerce_time, literal_duration, literal_text};
use super::retention::{MAX_CONDITIONS, coerce_conditions};

crate::user_defined_udaf!(WindowFunnelFunc, window_funnel_udaf, "`window_funnel`.");

static DOC: LazyLock<Documentation> =
    LazyLock::new(|| {
        Documentation::builder(
        DOC_SECTION,
        "Aggregate, as ClickHouse's windowFunnel: the deepest step (0..N) of the chain cond1 -> \
         cond2 -> ... -> condN that the group's events reach, each step after the previous one \
         and within window of the chain's first event (inclusive). Events are ordered by time, \
         then by condition; a row meeting several conditions counts for each. Modes, comma \
         separated: strict_deduplication (stop when a step repeats before the next one), \
         strict_order (stop at any event between steps that is not the next step), \
         strict_increase (steps need strictly increasing times), strict_once (each row counts \
         once in a chain), allow_reentry (with strict_order: skip such events instead of \
         stopping), first_start (only the group's first cond1 event starts the chain: the \
         funnel anchored on the first visit, as Q3-style funnels define it). 1 to 32 \
         conditions; rows with a NULL time are skipped.",
        "window_funnel(window, timestamp, cond1, ..., condN [, 'mode,...'])",
    )
    .with_argument(
        "window",
        "Seconds (raw units for an integer time), or an INTERVAL such as INTERVAL '7 days'.",
    )
    .with_argument("timestamp", "The event time: a timestamp, a date, or an integer time.")
    .with_argument("condN", "A boolean condition: the event is step N.")
    .with_argument("mode", "Optional modes, as 'strict_order,allow_reentry'.")
    .with_sql_example(
        "SELECT level, count(*) AS customers FROM (\n\
         \x20   SELECT customer_id, window_funnel(INTERVAL '7 days', event_ts,\n\
         \x20       event_type = 'view', event_type = 'cart', event_type = 'purchase') AS level\n\
         \x20   FROM events GROUP BY customer_id)\n\
         GROUP BY level ORDER BY level;",
    )
    .build()
    });

/// The modes of one call.
#[derive(Debug, Default, Clone, Copy)]
pub struct Modes {
    pub strict_deduplication: bool,
    pub strict_order: bool,
    pub strict_increase: bool,
    pub strict_once: bool,
    pub allow_reentry: bool,
    /// persona's own: the chain starts at the group's first cond1 event only.
    pub first_start: bool,
}

impl Modes {
    /// Parses 'mode,mode'; errors as ClickHouse's, in a sentence.
    pub fn parse(text: &str) -> Result<Self> {
        let mut m = Modes::default();
        for mode in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match mode.to_ascii_lowercase().as_str() {
                "strict_deduplication" => m.strict_deduplication = true,
                "strict_order" => m.strict_order = true,
                "strict_increase" => m.strict_increase = true,
                "strict_once" => m.strict_once = true,
                "allow_reentry" => m.allow_reentry = true,
                "first_start" => m.first_start = true,
                "strict" => {
                    return plan_err!(
                        "window_funnel: the mode 'strict' is called 'strict_deduplication'"
                    );
                }
                other => {
                    return plan_err!(
                        "window_funnel: unknown mode '{other}'; the modes are strict_deduplication, strict_order, strict_increase, strict_once, allow_reentry and first_start"
                    );
                }
            }
        }
        if m.allow_reentry && !m.strict_order {
            return plan_err!("window_funnel: the mode allow_reentry needs strict_order as well");
        }
        Ok(m)
    }
}

/// One call's funnel: its window in ticks, steps and modes.
#[derive(Debug)]
pub struct Funnel {
    pub window: i64,
    pub steps: usize,
    pub modes: Modes,
}

impl Funnel {
    /// Events of a group: (time, step from 1 or 0 for a row meeting none, row), ordered.
    fn events(rows: &[Row]) -> Vec<(i64, u8, u32)> {
        let mut events = Vec::with_capacity(rows.len());
        for (row, &(t, mask)) in rows.iter().enumerate() {
            if mask == 0 {
                events.push((t, 0, row as u32));
            }
            let mut m = mask;
            while m != 0 {
                let k = m.trailing_zeros();
                events.push((t, k as u8 + 1, row as u32));
                m &= m - 1;
            }
        }
        events.sort_unstable();
        events
    }

    /// The level of one group.
    pub fn level(&self, rows: &[Row]) -> u8 {
        let events = Self::events(rows);
        if events.iter().all(|e| e.1 == 0) {
            return 0;
        }
        if !self.modes.strict_order && self.steps == 1 {
            return 1;
        }
        if self.modes.strict_once {
            return self.level_once(&events);
        }
        let m = self.modes;
        let n = self.steps;
        // (first time of the chain, time of this step) per step.
        let mut steps: [Option<(i64, i64)>; MAX_CONDITIONS] = [None; MAX_CONDITIONS];
        // The deepest step reached, 0 when none.
        let max_set = |steps: &[Option<(i64, i64)>]| {
            steps[..n]
                .iter()
                .rposition(Option::is_some)
                .map_or(0, |i| i as u8 + 1)
        };
        let mut first = false;
        for &(t, step, _) in &events {
            if m.strict_order && step == 0 {
                if first {
                    break;
                }
                continue;
            }
            let i = step as usize - 1;
            if m.first_start
                && let Some((start, _)) = steps[0]
                && (i == 0 || t > start.saturating_add(self.window))
            {
                // The anchor is fixed: a later start is ignored, and past its window nothing
                // can move the chain on.
                if i == 0 {
                    continue;
                }
                break;
            }
            if i == 0 {
                steps[0] = Some((t, t));
                first = true;
            } else if m.strict_deduplication && steps[i].is_some() {
                return max_set(&steps);
            } else if m.strict_order && first && steps[i - 1].is_none() {
                if m.allow_reentry {
                    continue;
                }
                return max_set(&steps);
            } else if let Some((start, last)) = steps[i - 1] {
                let in_time =
                    t <= start.saturating_add(self.window) && (!m.strict_increase || last < t);
                if in_time {
                    steps[i] = Some((start, t));
                    if i + 1 == n {
                        return n as u8;
                    }
                }
            }
        }
        max_set(&steps)
    }

    /// strict_once: every chain that could continue is kept, with the rows it used.
    fn level_once(&self, events: &[(i64, u8, u32)]) -> u8 {
        struct Chain {
            start: i64,
            last: i64,
            rows: Vec<u32>,
        }
        let m = self.modes;
        let n = self.steps;
        let mut chains: Vec<Vec<Chain>> = (0..n).map(|_| Vec::new()).collect();
        let max_set = |chains: &[Vec<Chain>]| {
            chains
                .iter()
                .rposition(|c| !c.is_empty())
                .map_or(0, |i| i as u8 + 1)
        };
        let mut first = false;
        for &(t, step, row) in events {
            if m.strict_order && step == 0 {
                if first {
                    break;
                }
                continue;
            }
            let i = step as usize - 1;
            if i == 0 && m.first_start && first {
                continue;
            }
            if i == 0 {
                chains[0].push(Chain {
                    start: t,
                    last: t,
                    rows: vec![row],
                });
                first = true;
            } else if m.strict_deduplication && !chains[i].is_empty() {
                return max_set(&chains);
            } else if m.strict_order && first && chains[i - 1].is_empty() {
                if m.allow_reentry {
                    continue;
                }
                return max_set(&chains);
            } else if !chains[i - 1].is_empty() {
                let (before, after) = chains.split_at_mut(i);
                let previous = &mut before[i - 1];
                let next = &mut after[0];
                let mut j = 0;
                while j < previous.len() {
                    let c = &previous[j];
                    let mut ok = t <= c.start.saturating_add(self.window);
                    if !ok && previous.len() > 1 {
                        previous.remove(j);
                        continue;
                    }
                    ok = ok && !c.rows[..i.min(c.rows.len())].contains(&row);
                    if m.strict_increase {
                        ok = ok && c.last < t;
                    }
                    if ok {
                        let mut rows = c.rows.clone();
                        rows.push(row);
                        next.push(Chain {
                            start: c.start,
                            last: t,
                            rows,
                        });
                        if i + 1 == n {
                            return n as u8;
                        }
                    }
                    j += 1;
                }
            }
        }
        max_set(&chains)
    }
}

impl Finish for Funnel {
    fn keeps_empty_rows(&self) -> bool {
        self.modes.strict_order
    }

    fn horizon(&self) -> Option<i64> {
        self.modes.first_start.then_some(self.window)
    }

    fn finish(&self, rows: &[Row], offsets: &[usize]) -> Result<ArrayRef> {
        let levels: Vec<u8> = offsets
            .windows(2)
            .map(|w| self.level(&rows[w[0]..w[1]]))
            .collect();
        Ok(Arc::new(UInt8Array::from(levels)))
    }
}

/// The number of conditions of a call, given its argument types: the last argument is the
/// modes when it is text.
fn conditions(arg_types_len: usize, last_is_text: bool) -> usize {
    arg_types_len.saturating_sub(2 + usize::from(last_is_text))
}

impl WindowFunnelFunc {
    fn funnel(&self, args: &AccumulatorArgs) -> Result<Funnel> {
        let exprs = args.exprs;
        let last = exprs.len() - 1;
        let last_is_text =
            crate::args::is_text(&args.expr_fields[last].data_type().clone()) && exprs.len() > 3;
        let modes = if last_is_text {
            match literal_text("window_funnel", "the modes", &exprs[last])? {
                Some(t) => Modes::parse(&t)?,
                None => Modes::default(),
            }
        } else {
            Modes::default()
        };
        let time_type = args.expr_fields[1].data_type();
        let window = literal_duration("window_funnel", "the window", &exprs[0], time_type)?;
        Ok(Funnel {
            window,
            steps: conditions(exprs.len(), last_is_text),
            modes,
        })
    }
}

impl AggregateUDFImpl for WindowFunnelFunc {
    fn name(&self) -> &str {
        "window_funnel"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() < 3 {
            return plan_err!(
                "window_funnel takes a window, a timestamp and 1 to 32 conditions (then optional modes), got {} arguments",
                arg_types.len()
            );
        }
        let last_is_text = arg_types.len() > 3
            && crate::args::is_text(&arg_types[arg_types.len() - 1])
            && !matches!(arg_types[arg_types.len() - 1], DataType::Null);
        let n = conditions(arg_types.len(), last_is_text);
        let mut out = vec![
            arg_types[0].clone(),
            coerce_time("window_funnel", 2, &arg_types[1])?,
        ];
        out.extend(coerce_conditions("window_funnel", &arg_types[2..2 + n])?);
        if last_is_text {
            out.push(DataType::Utf8);
        }
        Ok(out)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::UInt8)
    }

    fn is_nullable(&self) -> bool {
        false
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(state_fields(args.name))
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let funnel = self.funnel(&args)?;
        let n = funnel.steps;
        Ok(Box::new(EventAccumulator(EventGroups::new(
            Arc::new(funnel),
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
        let funnel = self.funnel(&args)?;
        let n = funnel.steps;
        Ok(Box::new(EventGroups::new(Arc::new(funnel), 1, n)))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows of (time, conditions met, from 1).
    fn level(window: i64, steps: usize, modes: &str, rows: &[(i64, &[u32])]) -> u8 {
        let rows: Vec<Row> = rows
            .iter()
            .map(|(t, cs)| (*t, cs.iter().fold(0, |m, c| m | 1 << (c - 1))))
            .collect();
        let f = Funnel {
            window,
            steps,
            modes: Modes::parse(modes).unwrap(),
        };
        let rows = if f.modes.strict_order {
            rows
        } else {
            rows.into_iter().filter(|r| r.1 != 0).collect()
        };
        f.level(&rows)
    }

    #[test]
    fn strict_deduplication_returns_the_deepest_step_issue_37177() {
        // install, start, login, install, start, install, start, login, end; 5 s apart.
        let seq: [u32; 9] = [1, 2, 3, 1, 2, 1, 2, 3, 4];
        let rows: Vec<(i64, &[u32])> = seq
            .iter()
            .enumerate()
            .map(|(i, c)| (i as i64 * 5, std::slice::from_ref(c)))
            .collect();
        assert_eq!(level(60, 4, "strict_deduplication", &rows), 3);
        assert_eq!(level(60, 4, "", &rows), 4);
    }

    #[test]
    fn strict_order_rows_meeting_no_condition_stop_the_chain() {
        // a d b c: d meets no condition.
        let rows: Vec<(i64, &[u32])> = vec![(1, &[1]), (2, &[]), (3, &[2]), (4, &[3])];
        assert_eq!(level(86400, 3, "", &rows), 3);
        assert_eq!(level(86400, 3, "strict_order", &rows), 1);
    }

    #[test]
    fn first_start_anchors_the_chain_on_the_first_start_event() {
        // view at 0, view at 100, cart at 150, purchase at 160; window 120.
        let rows: Vec<(i64, &[u32])> = vec![(0, &[1]), (100, &[1]), (150, &[2]), (160, &[3])];
        // A later view restarts the chain (ClickHouse): the cart is within 120 of the view at 100.
        assert_eq!(level(120, 3, "", &rows), 3);
        // Anchored on the first view, the cart at 150 is past its window.
        assert_eq!(level(120, 3, "first_start", &rows), 1);
        assert_eq!(level(120, 3, "first_start,strict_once", &rows), 1);
        // The purchase must come after the cart and within the first view's window.
        let rows: Vec<(i64, &[u32])> = vec![(0, &[1]), (50, &[3]), (60, &[2]), (130, &[3])];
        assert_eq!(level(120, 3, "first_start", &rows), 2);
        let rows: Vec<(i64, &[u32])> = vec![(0, &[1]), (60, &[2]), (120, &[3])];
        assert_eq!(level(120, 3, "first_start", &rows), 3);
        assert_eq!(level(120, 3, "first_start,strict_once", &rows), 3);
    }

    /// first_start drops rows past the earliest start's window as they arrive, in any order
    /// and across partial states: the levels must equal those of all the rows.
    #[test]
    fn first_start_pruning_keeps_every_level() {
        use datafusion::arrow::array::{AsArray, BooleanArray, Int64Array};
        use datafusion::arrow::datatypes::UInt8Type;
        use datafusion::logical_expr::EmitTo;
        let mut seed = 7u64;
        let mut next = |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        let groups = 40;
        let rows: Vec<(usize, i64, u64)> = (0..2000)
            .map(|_| (next(groups) as usize, next(500) as i64, next(4)))
            .collect();
        for modes in [
            "first_start",
            "first_start,strict_once",
            "first_start,strict_increase",
        ] {
            let funnel = Arc::new(Funnel {
                window: 60,
                steps: 3,
                modes: Modes::parse(modes).unwrap(),
            });
            // Two partial accumulators over halves of the rows, merged into a third.
            let mut parts = Vec::new();
            for half in rows.chunks(1000) {
                let mut g = EventGroups::new(Arc::clone(&funnel), 1, 3);
                let times: ArrayRef = Arc::new(Int64Array::from(
                    half.iter().map(|r| r.1).collect::<Vec<_>>(),
                ));
                let cond = |k: u64| -> ArrayRef {
                    Arc::new(BooleanArray::from(
                        half.iter().map(|r| r.2 == k).collect::<Vec<_>>(),
                    ))
                };
                let window: ArrayRef = Arc::new(Int64Array::from(vec![0; half.len()]));
                let values = vec![window, times, cond(1), cond(2), cond(3)];
                let idx: Vec<usize> = half.iter().map(|r| r.0).collect();
                g.update_batch(&values, &idx, None, groups as usize)
                    .unwrap();
                parts.push(g.state(EmitTo::All).unwrap());
            }
            let mut total = EventGroups::new(Arc::clone(&funnel), 1, 3);
            for state in &parts {
                let idx: Vec<usize> = (0..groups as usize).collect();
                total.merge_batch(state, &idx, groups as usize).unwrap();
            }
            let got = total.evaluate(EmitTo::All).unwrap();
            let got = got.as_primitive::<UInt8Type>();
            for g in 0..groups as usize {
                let all: Vec<Row> = rows
                    .iter()
                    .filter(|r| r.0 == g && r.2 != 0)
                    .map(|r| (r.1, 1u32 << (r.2 - 1)))
                    .collect();
                assert_eq!(got.value(g), funnel.level(&all), "{modes}, group {g}");
            }
        }
    }
}
