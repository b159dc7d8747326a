//! The dense partial aggregation (`DenseAggregateExec`) against DataFusion's own: the same
//! queries with `persona.dense_grouping` on and off give the same rows.

use std::sync::Arc;

use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::physical_plan::aggregates::AggregateMode;
use datafusion::physical_plan::{ExecutionPlan, collect};
use persona::SessionBuilder;
use persona::dense_aggregate::DenseAggregateExec;

/// Keys of several types and shapes, in an order that is not the keys' order, with NULLs:
/// `k` dense and negative, `sparse` spanning past any dense table (so the groups move to the
/// hash table part way through), `d` dates, `small` an Int32.
const TABLES: &str = "
CREATE TABLE facts AS
SELECT CASE WHEN value % 97 = 0 THEN NULL ELSE (value * 7919) % 50021 - 25000 END AS k,
       CASE WHEN value < 150000 THEN value % 1000 ELSE value * 1000000000000 END AS sparse,
       CAST(DATE '2024-01-01' + CAST((value * 31) % 400 AS INT) AS DATE) AS d,
       CAST(value % 300 AS INT) AS small,
       value AS v,
       CASE WHEN value % 3 = 0 THEN 'view' WHEN value % 3 = 1 THEN 'cart' ELSE 'purchase' END AS e,
       CAST(value * 600 AS TIMESTAMP) AS ts
FROM generate_series(1, 200000);
";

const QUERIES: &[&str] = &[
    "SELECT k, count(*), sum(v), min(v), max(v), avg(v) FROM facts GROUP BY k",
    "SELECT sparse, count(*), sum(v) FROM facts GROUP BY sparse",
    "SELECT d, count(*), count(DISTINCT small) FROM facts GROUP BY d",
    "SELECT small, count(*) FILTER (WHERE v % 2 = 0), sum(v) FILTER (WHERE e = 'cart') FROM facts GROUP BY small",
    "SELECT k % 10 AS b, count(*) FROM facts WHERE k > 0 GROUP BY k % 10",
    "SELECT k, window_funnel(INTERVAL '1 day', ts, e = 'view', e = 'cart', e = 'purchase') FROM facts GROUP BY k",
    "SELECT k, array_sort(array_agg(DISTINCT small % 3)) FROM facts WHERE k BETWEEN -20 AND 20 GROUP BY k",
    // Comparisons of one column with constants, evaluated in one pass (dates, a constant
    // twice, one that never occurs; a column with NULLs; a 32-bit column)
    "SELECT small, retention(d = DATE '2024-01-05', d = DATE '2024-02-01', d = DATE '2024-01-05', d = DATE '2025-03-01', d = DATE '1999-01-01') FROM facts GROUP BY small",
    "SELECT small, retention(k = 1, k = -1, k = 24999, k = 7), count(*) FILTER (WHERE k = 5) FROM facts GROUP BY small",
    "SELECT k, retention(small = 1, 2 = small, small = 299), sum(v) FROM facts GROUP BY k",
    // Retention's fused conditions come as per-row masks, except under a FILTER or with a
    // condition of another kind
    "SELECT small, retention(k = 1, k = -1, k = 24999) FILTER (WHERE v % 2 = 0), retention(k = 1, k = 2, k = 3, k > 100) FROM facts GROUP BY small",
    // Truncated timestamps compared with constants are looked up by day, through the
    // projection that truncates them (month starts, a repeat, an instant within a month, a
    // FILTER on a passed-through column), or not when a comparison of another kind uses them
    MONTHS,
    "SELECT small, retention(m = TIMESTAMP '1970-01-05 00:00:00', m = TIMESTAMP '1970-01-06 00:00:00', m = TIMESTAMP '1971-01-01 00:00:00'), count(*) FILTER (WHERE v % 5 = 0) FROM (SELECT small, v, date_trunc('day', ts) AS m FROM facts) GROUP BY small",
    QUARTERS_AND_MORE,
];

const MONTHS: &str = "SELECT k, retention(m = TIMESTAMP '1970-01-01 00:00:00', m = TIMESTAMP '1970-02-01 00:00:00', m = TIMESTAMP '1971-03-01 00:00:00', m = TIMESTAMP '1970-02-01 00:00:00', m = TIMESTAMP '1972-05-01 12:00:00') FROM (SELECT k, date_trunc('month', ts) AS m FROM facts WHERE k IS NOT NULL) GROUP BY k";
const QUARTERS_AND_MORE: &str = "SELECT small, retention(m = TIMESTAMP '1970-01-01 00:00:00', m = TIMESTAMP '1970-04-01 00:00:00', m = TIMESTAMP '1971-07-01 00:00:00', m > TIMESTAMP '1971-01-01 00:00:00') FROM (SELECT small, date_trunc('quarter', ts) AS m FROM facts) GROUP BY small";

async fn rows(dense: bool, sql: &str) -> (String, String) {
    let s = SessionBuilder::new()
        .with_as_of("2024-06-30")
        .build()
        .await
        .unwrap();
    for statement in [
        "SET datafusion.execution.target_partitions = 2",
        &format!("SET persona.dense_grouping = {dense}"),
        TABLES,
    ] {
        s.ctx.sql(statement).await.unwrap().collect().await.unwrap();
    }
    let plan = s.ctx.sql(&format!("EXPLAIN {sql}")).await.unwrap();
    let plan = pretty_format_batches(&plan.collect().await.unwrap())
        .unwrap()
        .to_string();
    let sorted = format!("SELECT * FROM ({sql}) ORDER BY 1");
    let batches = s.ctx.sql(&sorted).await.unwrap().collect().await.unwrap();
    (pretty_format_batches(&batches).unwrap().to_string(), plan)
}

#[tokio::test]
async fn dense_grouping_gives_the_rows_datafusion_gives() {
    for sql in QUERIES {
        let (want, plan) = rows(false, sql).await;
        assert!(!plan.contains("DenseAggregateExec"), "{plan}");
        let (got, plan) = rows(true, sql).await;
        assert!(plan.contains("DenseAggregateExec: mode=Partial"), "{plan}");
        assert!(
            plan.contains("DenseAggregateExec: mode=FinalPartitioned"),
            "{plan}"
        );
        assert_eq!(got, want, "{sql}");
    }
}

/// The projection truncating timestamps goes when the dense aggregation looks every use up by
/// day, and stays when one use is of another kind.
#[tokio::test]
async fn truncations_compared_only_with_constants_are_not_computed() {
    let truncated_below = |plan: &str| {
        plan.lines()
            .skip_while(|l| !l.contains("DenseAggregateExec"))
            .skip(1)
            .any(|l| l.contains("ProjectionExec") && l.contains("date_trunc"))
    };
    let (_, plan) = rows(true, MONTHS).await;
    assert!(!truncated_below(&plan), "{plan}");
    let (_, plan) = rows(true, QUARTERS_AND_MORE).await;
    assert!(truncated_below(&plan), "{plan}");
}

#[tokio::test]
async fn dense_grouping_under_a_memory_limit_emits_early_and_gives_the_same_rows() {
    // 300,000 groups a partition, each key twice, with four accumulators: more than a 16 MB
    // pool holds. The partial stage hands its groups on when refused, and the final stage
    // hands its groups and the rest of its input to DataFusion's, which spills.
    let sql = "SELECT count(*), sum(g), sum(n), sum(s), sum(m) FROM (
                 SELECT v % 300000 AS g, count(*) AS n, sum(v) AS s, max(v) AS m
                 FROM big GROUP BY v % 300000)";
    let mut answers = Vec::new();
    for memory_limit in [None, Some(16 << 20)] {
        let mut builder = SessionBuilder::new().with_as_of("2024-06-30");
        if let Some(bytes) = memory_limit {
            builder = builder.with_memory_limit(bytes);
        }
        let s = builder.build().await.unwrap();
        for statement in [
            "SET datafusion.execution.target_partitions = 2",
            "CREATE TABLE big AS SELECT value AS v FROM generate_series(1, 1200000)",
        ] {
            s.ctx.sql(statement).await.unwrap().collect().await.unwrap();
        }
        let plan = s
            .ctx
            .sql(sql)
            .await
            .unwrap()
            .create_physical_plan()
            .await
            .unwrap();
        let batches = collect(Arc::clone(&plan), s.ctx.task_ctx()).await.unwrap();
        answers.push(pretty_format_batches(&batches).unwrap().to_string());
        // Without early emission each partition emits its 300,000 groups once, and the
        // final stage keeps its groups.
        let (mut partial_rows, mut handed_over) = (None, None);
        plan.apply(|node| {
            if let Some(dense) = node.downcast_ref::<DenseAggregateExec>() {
                let metrics = dense.metrics().unwrap();
                match dense.mode() {
                    AggregateMode::Partial => partial_rows = metrics.output_rows(),
                    _ => handed_over = metrics.sum_by_name("handed_over").map(|c| c.as_usize()),
                }
            }
            Ok(TreeNodeRecursion::Continue)
        })
        .unwrap();
        let partial_rows = partial_rows.expect("a dense partial stage ran");
        let handed_over = handed_over.expect("a dense final stage ran");
        match memory_limit {
            None => assert_eq!((partial_rows, handed_over), (600_000, 0)),
            Some(_) => assert!(
                partial_rows > 600_000 && handed_over > 0,
                "{partial_rows} {handed_over}"
            ),
        }
    }
    assert_eq!(answers[0], answers[1]);
}
