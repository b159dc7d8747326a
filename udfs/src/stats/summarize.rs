//! `summarize(table_or_query)`: one row per column with its type, null share, distinct
//! estimate, min, max, mean, standard deviation, quartiles and top values, as DuckDB's
//! `SUMMARIZE` gives (plus the top values).
//!
//! The table function only checks its argument when the query is planned; the statistics are
//! computed when the result is scanned, with the calling session's own tables, settings and
//! memory limit: one aggregate query over all columns, then one grouped query per column for
//! its top values.

use std::sync::{Arc, LazyLock};

use async_trait::async_trait;
use datafusion::arrow::array::{
    ArrayRef, Float64Builder, Int64Builder, RecordBatch, StringBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::util::display::array_value_to_string;
use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{Result, ScalarValue, TableReference, plan_datafusion_err, plan_err};
use datafusion::datasource::TableType;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::execution::SessionState;
use datafusion::logical_expr::{Documentation, Expr};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;

use super::DOC_SECTION;

/// How many of the most frequent values `top_values` lists.
const TOP_VALUES: usize = 3;

pub static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION,
        "Table function: profiles every column of a table, view or query, one row per column: \
         column_name, column_type, count (rows), null_percentage, approx_unique (HyperLogLog \
         estimate), min, max, avg, std, q25, q50, q75 (approximate quartiles; numbers only) and \
         top_values (the three most frequent values with their counts).",
        "summarize(table_or_query)",
    )
    .with_argument(
        "table_or_query",
        "A table or view name such as 'orders', or a query such as 'SELECT * FROM orders WHERE channel = ''app'''.",
    )
    .with_sql_example("SELECT column_name, null_percentage, top_values FROM summarize('customers');")
    .build()
});

/// The `summarize` table function.
#[derive(Debug, Default)]
pub struct SummarizeFunc;

impl TableFunctionImpl for SummarizeFunc {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let exprs = args.exprs();
        let source = match exprs {
            [Expr::Literal(ScalarValue::Utf8(Some(s)) | ScalarValue::Utf8View(Some(s)), _)] => {
                s.trim().to_string()
            }
            [Expr::Column(c)] => c.name.clone(),
            _ => {
                return plan_err!(
                    "summarize takes one argument: a table name or a query, as a string"
                );
            }
        };
        if source.is_empty() {
            return plan_err!("summarize: the table name or query is empty");
        }
        let is_query = source.contains(char::is_whitespace);
        let from = if is_query {
            format!("({source}) AS summarized")
        } else {
            TableReference::from(source.as_str()).to_quoted_string()
        };
        // Plan the source now, so a missing table or a bad query fails at planning with its
        // own message.
        let state = args
            .session()
            .as_any()
            .downcast_ref::<SessionState>()
            .ok_or_else(|| plan_datafusion_err!("summarize needs a DataFusion session"))?;
        futures::executor::block_on(state.create_logical_plan(&format!("SELECT * FROM {from}")))
            .map_err(|e| {
                let message = e.strip_backtrace();
                let message = message
                    .trim_start_matches("Error during planning: ")
                    .replace("datafusion.public.", "");
                plan_datafusion_err!("summarize('{source}'): {message}")
            })?;
        Ok(Arc::new(Summary { from }))
    }
}

/// The result of `summarize`, computed when scanned.
#[derive(Debug)]
struct Summary {
    from: String,
}

fn output_schema() -> SchemaRef {
    let text = |n: &str| Field::new(n, DataType::Utf8, true);
    let float = |n: &str| Field::new(n, DataType::Float64, true);
    Arc::new(Schema::new(vec![
        Field::new("column_name", DataType::Utf8, false),
        Field::new("column_type", DataType::Utf8, false),
        Field::new("count", DataType::Int64, false),
        float("null_percentage"),
        Field::new("approx_unique", DataType::Int64, true),
        text("min"),
        text("max"),
        float("avg"),
        float("std"),
        float("q25"),
        float("q50"),
        float("q75"),
        text("top_values"),
    ]))
}

/// What can be computed of a column of type `t`: (min/max and distinct, numeric statistics).
fn capabilities(t: &DataType) -> (bool, bool) {
    let ordered = t.is_primitive()
        || matches!(
            t,
            DataType::Utf8
                | DataType::LargeUtf8
                | DataType::Utf8View
                | DataType::Boolean
                | DataType::Binary
                | DataType::LargeBinary
                | DataType::BinaryView
        );
    let numeric = t.is_numeric();
    (ordered, numeric)
}

#[async_trait]
impl TableProvider for Summary {
    fn schema(&self) -> SchemaRef {
        output_schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let state = state
            .as_any()
            .downcast_ref::<SessionState>()
            .ok_or_else(|| plan_datafusion_err!("summarize needs a DataFusion session"))?;
        let ctx = SessionContext::new_with_state(state.clone());
        let batch = summarize(&ctx, &self.from).await?;
        let schema = output_schema();
        Ok(MemorySourceConfig::try_new_exec(
            &[vec![batch]],
            schema,
            projection.cloned(),
        )?)
    }
}

async fn summarize(ctx: &SessionContext, from: &str) -> Result<RecordBatch> {
    let input = ctx.sql(&format!("SELECT * FROM {from}")).await?;
    let fields: Vec<Field> = input
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    // One aggregate query: per column, count, then (where the type allows) distinct estimate,
    // min, max, mean, standard deviation and quartiles, in that order.
    let mut exprs = vec!["count(*)".to_string()];
    for f in &fields {
        let c = format!("\"{}\"", f.name().replace('"', "\"\""));
        let (ordered, numeric) = capabilities(f.data_type());
        exprs.push(format!("count({c})"));
        if ordered {
            // approx_distinct has no float implementation; the text of a float is as distinct.
            let distinct = if f.data_type().is_floating() {
                format!("CAST({c} AS VARCHAR)")
            } else {
                c.clone()
            };
            exprs.push(format!("CAST(approx_distinct({distinct}) AS BIGINT)"));
            exprs.push(format!("CAST(min({c}) AS VARCHAR)"));
            exprs.push(format!("CAST(max({c}) AS VARCHAR)"));
        }
        if numeric {
            exprs.push(format!("avg(CAST({c} AS DOUBLE))"));
            exprs.push(format!("stddev(CAST({c} AS DOUBLE))"));
            for q in ["0.25", "0.5", "0.75"] {
                exprs.push(format!(
                    "approx_percentile_cont({q}) WITHIN GROUP (ORDER BY CAST({c} AS DOUBLE))"
                ));
            }
        }
    }
    let aliased: Vec<String> = exprs
        .iter()
        .enumerate()
        .map(|(i, e)| format!("{e} AS s{i}"))
        .collect();
    let stats = ctx
        .sql(&format!("SELECT {} FROM {from}", aliased.join(", ")))
        .await?
        .collect()
        .await?;
    let row = datafusion::arrow::compute::concat_batches(&stats[0].schema(), &stats)?;
    let value = |i: usize| -> ScalarValue {
        ScalarValue::try_from_array(row.column(i), 0).unwrap_or(ScalarValue::Null)
    };
    let as_i64 = |v: ScalarValue| match v {
        ScalarValue::Int64(x) => x,
        ScalarValue::UInt64(x) => x.map(|x| x as i64),
        _ => None,
    };
    let as_f64 = |v: ScalarValue| match v {
        ScalarValue::Float64(x) => x.filter(|x| x.is_finite()),
        _ => None,
    };
    let as_text = |v: ScalarValue| match v {
        ScalarValue::Utf8(x) | ScalarValue::Utf8View(x) | ScalarValue::LargeUtf8(x) => x,
        _ => None,
    };

    let rows = as_i64(value(0)).unwrap_or(0);
    let mut name = StringBuilder::new();
    let mut ty = StringBuilder::new();
    let mut count = Int64Builder::new();
    let mut nulls = Float64Builder::new();
    let mut unique = Int64Builder::new();
    let (mut min, mut max) = (StringBuilder::new(), StringBuilder::new());
    let (mut avg, mut std) = (Float64Builder::new(), Float64Builder::new());
    let mut quartiles = [
        Float64Builder::new(),
        Float64Builder::new(),
        Float64Builder::new(),
    ];
    let mut top = StringBuilder::new();
    let mut i = 1;
    for f in &fields {
        let (ordered, numeric) = capabilities(f.data_type());
        name.append_value(f.name());
        ty.append_value(f.data_type().to_string());
        count.append_value(rows);
        let non_null = as_i64(value(i)).unwrap_or(0);
        i += 1;
        nulls.append_option((rows > 0).then(|| {
            let share = (rows - non_null) as f64 * 100.0 / rows as f64;
            (share * 100.0).round() / 100.0
        }));
        if ordered {
            unique.append_option(as_i64(value(i)));
            min.append_option(as_text(value(i + 1)));
            max.append_option(as_text(value(i + 2)));
            i += 3;
        } else {
            unique.append_null();
            min.append_null();
            max.append_null();
        }
        if numeric {
            avg.append_option(as_f64(value(i)));
            std.append_option(as_f64(value(i + 1)));
            for (k, q) in quartiles.iter_mut().enumerate() {
                q.append_option(as_f64(value(i + 2 + k)));
            }
            i += 5;
        } else {
            avg.append_null();
            std.append_null();
            for q in quartiles.iter_mut() {
                q.append_null();
            }
        }
        top.append_option(if ordered && non_null > 0 {
            Some(top_values(ctx, from, f.name()).await?)
        } else {
            None
        });
    }
    let [mut q25, mut q50, mut q75] = quartiles;
    let columns: Vec<ArrayRef> = vec![
        Arc::new(name.finish()),
        Arc::new(ty.finish()),
        Arc::new(count.finish()),
        Arc::new(nulls.finish()),
        Arc::new(unique.finish()),
        Arc::new(min.finish()),
        Arc::new(max.finish()),
        Arc::new(avg.finish()),
        Arc::new(std.finish()),
        Arc::new(q25.finish()),
        Arc::new(q50.finish()),
        Arc::new(q75.finish()),
        Arc::new(top.finish()),
    ];
    Ok(RecordBatch::try_new(output_schema(), columns)?)
}

/// The most frequent non-NULL values of a column as `value (count), …`; ties go to the smaller
/// value so the text is the same every run.
async fn top_values(ctx: &SessionContext, from: &str, column: &str) -> Result<String> {
    let c = format!("\"{}\"", column.replace('"', "\"\""));
    let batches = ctx
        .sql(&format!(
            "SELECT CAST({c} AS VARCHAR) AS v, count(*) AS n FROM {from} WHERE {c} IS NOT NULL \
             GROUP BY {c} ORDER BY n DESC, v LIMIT {TOP_VALUES}"
        ))
        .await?
        .collect()
        .await?;
    let mut parts = Vec::new();
    for b in &batches {
        for r in 0..b.num_rows() {
            let v = array_value_to_string(b.column(0), r)?;
            let n = array_value_to_string(b.column(1), r)?;
            parts.push(format!("{v} ({n})"));
        }
    }
    Ok(parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::capabilities;
    use datafusion::arrow::datatypes::{DataType, Field};

    #[test]
    fn lists_have_no_order_and_numbers_have_statistics() {
        let list = DataType::List(Field::new("item", DataType::Utf8, true).into());
        assert_eq!(capabilities(&list), (false, false));
        assert_eq!(capabilities(&DataType::Utf8View), (true, false));
        assert_eq!(capabilities(&DataType::Decimal128(12, 2)), (true, true));
        assert_eq!(capabilities(&DataType::Date32), (true, false));
    }
}
