//! `clv_summary(...)`: the table function that turns raw transactions into the calibration
//! summary the CLV models fit on (frequency, recency, T, mean repeat spend), optionally with a
//! holdout period after the calibration end.
//!
//! The rule is the one of the CDNOW summaries published with the BG/NBD paper, so a summary
//! made here equals the published one: purchases are distinct purchase days (a customer's
//! transactions on one day are one purchase, their values summed); frequency counts purchase
//! days after the first; recency and T run from the first purchase day to the last one and to
//! the calibration end; the monetary value is the mean value of the repeat purchase days (0
//! without repeats). The unit only scales time (days, weeks of 7 days, months of 365.25/12).
//!
//! The function expands into SQL over the named table and returns it as a view, so it plans
//! and runs like any query. A calibration end of NULL means `as_of()`, read when the query
//! runs, which keeps views over `clv_summary` following `SET persona.as_of`.

use std::sync::{Arc, LazyLock};

use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{Result, ScalarValue, TableReference, plan_datafusion_err, plan_err};
use datafusion::datasource::ViewTable;
use datafusion::execution::session_state::SessionState;
use datafusion::logical_expr::{Documentation, Expr};

pub static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        super::DOC_SECTION,
        "Table function: the calibration summary of raw transactions, one row per customer who \
         bought by the calibration end: customer_id, frequency (purchase days after the first), \
         recency (first to last purchase day), t (first purchase day to the calibration end), \
         monetary_value (mean value of the repeat purchase days, 0 without repeats). With a \
         holdout end it adds frequency_holdout, monetary_value_holdout and duration_holdout for \
         the days after the calibration end up to the holdout end, to test a fit's predictions. \
         A customer's transactions on one day are one purchase. Calibration end NULL means \
         as_of(). Unit: 'days' (default), 'weeks' or 'months'.",
        "clv_summary(table, customer_column, date_column, value_column [, calibration_end [, holdout_end [, unit]]])",
    )
    .with_argument("table", "The transactions table or view, as a string.")
    .with_argument("customer_column", "The customer key column.")
    .with_argument("date_column", "The purchase date or timestamp column.")
    .with_argument("value_column", "The purchase value column.")
    .with_argument("calibration_end", "Last day of the calibration period ('YYYY-MM-DD'); NULL for as_of().")
    .with_argument("holdout_end", "Last day of the holdout period; NULL for none.")
    .with_argument("unit", "'days', 'weeks' or 'months'.")
    .with_sql_example(
        "SELECT * FROM clv_summary('cdnow_sample_transactions', 'sample_id', 'order_date', 'dollar_value', '1997-09-30', '1998-06-30', 'weeks') LIMIT 3;",
    )
    .build()
});

/// `clv_summary`.
#[derive(Debug, Default)]
pub struct ClvSummaryFunc;

impl TableFunctionImpl for ClvSummaryFunc {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let exprs = args.exprs();
        if !(4..=7).contains(&exprs.len()) {
            return plan_err!(
                "clv_summary takes 4 to 7 arguments (table, customer_column, date_column, value_column [, calibration_end [, holdout_end [, unit]]]), got {}",
                exprs.len()
            );
        }
        let text = |i: usize, what: &str| -> Result<String> {
            match literal(&exprs[i]) {
                Some(Some(s)) => Ok(s),
                _ => plan_err!("clv_summary: {what} (argument {}) must be a string", i + 1),
            }
        };
        let table = TableReference::from(text(0, "the table")?.as_str()).to_quoted_string();
        let customer = quote(&text(1, "the customer column")?);
        let date = quote(&text(2, "the date column")?);
        let value = quote(&text(3, "the value column")?);
        let calibration_end = match exprs.get(4).map(literal) {
            None | Some(Some(None)) => "as_of()".to_string(),
            Some(Some(Some(d))) => date_literal(&d)?,
            Some(None) => {
                return plan_err!(
                    "clv_summary: the calibration end (argument 5) must be a date such as '1997-09-30', or NULL for as_of()"
                );
            }
        };
        let holdout_end = match exprs.get(5).map(literal) {
            None | Some(Some(None)) => None,
            Some(Some(Some(d))) => Some(date_literal(&d)?),
            Some(None) => {
                return plan_err!(
                    "clv_summary: the holdout end (argument 6) must be a date such as '1998-06-30', or NULL"
                );
            }
        };
        let unit_days = match exprs.get(6).map(literal) {
            None | Some(Some(None)) => "1.0",
            Some(Some(Some(u))) => match u.trim().to_ascii_lowercase().as_str() {
                "day" | "days" => "1.0",
                "week" | "weeks" => "7.0",
                "month" | "months" => "30.4375",
                _ => {
                    return plan_err!(
                        "clv_summary: the unit must be 'days', 'weeks' or 'months', got '{u}'"
                    );
                }
            },
            Some(None) => return plan_err!("clv_summary: the unit (argument 7) must be a string"),
        };
        let sql = summary_sql(
            &table,
            &customer,
            &date,
            &value,
            &calibration_end,
            holdout_end.as_deref(),
            unit_days,
        );
        let Some(state) = args.session().as_any().downcast_ref::<SessionState>() else {
            return plan_err!("clv_summary needs a persona session");
        };
        // Planning only resolves names in the catalogue, which is in memory: the future
        // completes without waiting on anything.
        let plan = futures::executor::block_on(state.create_logical_plan(&sql)).map_err(|e| {
            let cause = e.strip_backtrace();
            let cause = cause
                .strip_prefix("Error during planning: ")
                .unwrap_or(&cause);
            plan_datafusion_err!("clv_summary over {table}: {cause}")
        })?;
        Ok(Arc::new(ViewTable::new(plan, Some(sql))))
    }
}

/// The SQL of the summary. Days are summed per customer first, so each purchase day is one
/// purchase; the first day's value is taken out of the monetary mean.
fn summary_sql(
    table: &str,
    customer: &str,
    date: &str,
    value: &str,
    calibration_end: &str,
    holdout_end: Option<&str>,
    unit_days: &str,
) -> String {
    let days = format!(
        "SELECT {customer} AS customer_id, CAST({date} AS DATE) AS purchase_date, \
         sum(CAST({value} AS DOUBLE)) AS value \
         FROM {table} WHERE {customer} IS NOT NULL AND {date} IS NOT NULL \
         GROUP BY 1, 2"
    );
    let calibration = format!(
        "SELECT customer_id, \
           count(*) - 1 AS frequency, \
           CAST(max(purchase_date) - min(purchase_date) AS DOUBLE) / {unit_days} AS recency, \
           CAST({calibration_end} - min(purchase_date) AS DOUBLE) / {unit_days} AS t, \
           CASE WHEN count(*) > 1 \
             THEN (coalesce(sum(value), 0) - coalesce(first_value(value ORDER BY purchase_date), 0)) / (count(*) - 1) \
             ELSE 0.0 END AS monetary_value \
         FROM days WHERE purchase_date <= {calibration_end} \
         GROUP BY customer_id"
    );
    match holdout_end {
        None => format!("WITH days AS ({days}) {calibration}"),
        Some(end) => format!(
            "WITH days AS ({days}), calibration AS ({calibration}), holdout AS ( \
               SELECT customer_id, count(*) AS frequency, avg(value) AS monetary_value \
               FROM days WHERE purchase_date > {calibration_end} AND purchase_date <= {end} \
               GROUP BY customer_id) \
             SELECT c.*, \
               coalesce(h.frequency, 0) AS frequency_holdout, \
               coalesce(h.monetary_value, 0.0) AS monetary_value_holdout, \
               CAST({end} - {calibration_end} AS DOUBLE) / {unit_days} AS duration_holdout \
             FROM calibration c LEFT JOIN holdout h ON h.customer_id = c.customer_id"
        ),
    }
}

/// A string or date literal as `Some(Some(text))`, a NULL literal as `Some(None)`, anything
/// else as `None`.
fn literal(e: &Expr) -> Option<Option<String>> {
    match e {
        Expr::Literal(v, _) if v.is_null() => Some(None),
        Expr::Literal(ScalarValue::Utf8(Some(s)), _)
        | Expr::Literal(ScalarValue::LargeUtf8(Some(s)), _)
        | Expr::Literal(ScalarValue::Utf8View(Some(s)), _) => Some(Some(s.clone())),
        Expr::Literal(v @ ScalarValue::Date32(Some(_)), _) => Some(Some(v.to_string())),
        Expr::Cast(c) => literal(&c.expr),
        _ => None,
    }
}

/// A SQL date literal, checked now so a typo fails at planning with the value in the message.
fn date_literal(s: &str) -> Result<String> {
    crate::config::parse_date_days(s)
        .map_err(|_| plan_datafusion_err!("clv_summary: '{s}' is not a date like '1997-09-30'"))?;
    Ok(format!("DATE '{}'", s.trim()))
}

/// A column name as a quoted SQL identifier, so names keep their case.
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
