//! The library surface: `SessionBuilder` for embedders.

use datafusion::execution::FunctionRegistry;
use datafusion::prelude::SessionContext;
use persona::SessionBuilder;

/// The result of `sql` as a printed table.
async fn query_text(ctx: &SessionContext, sql: &str) -> String {
    let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
    datafusion::arrow::util::pretty::pretty_format_batches(&batches)
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn builder_registers_functions_sources_and_views() {
    let s = SessionBuilder::new()
        .with_sample()
        .unwrap()
        .build()
        .await
        .unwrap();
    assert!(
        s.problems.is_empty(),
        "{:?}",
        s.problems.iter().map(|p| p.to_string()).collect::<Vec<_>>()
    );
    for name in [
        "customers",
        "orders",
        "events",
        "customer_orders",
        "sales_daily",
        "stg_orders",
    ] {
        assert!(s.ctx.table_exist(name).unwrap(), "{name}");
    }
    assert!(s.ctx.udf("as_of").is_ok());
}

#[tokio::test]
async fn a_bare_session_has_functions_and_a_date() {
    let s = SessionBuilder::new()
        .with_as_of("2024-06-30")
        .build()
        .await
        .unwrap();
    let text = query_text(&s.ctx, "SELECT CAST(as_of() AS VARCHAR) AS d").await;
    assert!(text.contains("2024-06-30"), "{text}");
    // Without a project the built-in views have no tables to read: that is reported per view.
    assert!(!s.problems.is_empty());
}

#[tokio::test]
async fn local_files_are_read_in_place() {
    let s = SessionBuilder::new()
        .with_as_of("2024-06-30")
        .build()
        .await
        .unwrap();
    // Footers are found in the last 64 KiB, not DataFusion's 512.
    let hint = s
        .ctx
        .state()
        .config()
        .options()
        .execution
        .parquet
        .metadata_size_hint;
    assert_eq!(hint, Some(persona::session::METADATA_SIZE_HINT));
    let url = datafusion::execution::object_store::ObjectStoreUrl::local_filesystem();
    let store = s.ctx.runtime_env().object_store(&url).unwrap();
    assert!(store.to_string().starts_with("LocalFiles("), "{store}");
    // And a Parquet file reads through it.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.parquet");
    let copy = "COPY (SELECT v, v * 2 AS w FROM generate_series(1, 100000) AS t(v)) TO";
    query_text(&s.ctx, &format!("{copy} '{}'", file.display())).await;
    let sums = format!("SELECT sum(v), sum(w) FROM '{}'", file.display());
    let text = query_text(&s.ctx, &sums).await;
    assert!(
        text.contains("5000050000") && text.contains("10000100000"),
        "{text}"
    );
}

#[tokio::test]
async fn deferred_views_load_only_for_statements_that_may_need_them() {
    let mut s = SessionBuilder::new()
        .with_sample()
        .unwrap()
        .defer_views()
        .build()
        .await
        .unwrap();
    assert!(s.views_deferred());
    assert!(s.ctx.table_provider("customer_rfm").await.is_err());
    for sources_only in [
        "SELECT 1",
        "SELECT count(*) FROM orders",
        "SET persona.lang = 'en'; SELECT * FROM orders LIMIT 1",
        "EXPLAIN SELECT * FROM orders",
        "WITH o AS (SELECT * FROM orders) SELECT * FROM o JOIN customers c USING (customer_id)",
        "SELECT * FROM (SELECT customer_id FROM orders) AS x",
    ] {
        assert!(!s.needs_views(sources_only), "{sources_only}");
    }
    for needing in [
        "SELECT * FROM customer_rfm",
        "SELECT * FROM orders WHERE customer_id IN (SELECT customer_id FROM customer_rfm)",
        "SELECT 1; SELECT * FROM customer_360",
        "SELECT * FROM information_schema.tables",
        "SHOW TABLES",
        "DESCRIBE customer_rfm",
        "SELECT count(*) FROM audience('vip', 'tag_bitmaps')",
        "SELECT * FROM generate_series(1, 3)",
        "CREATE VIEW v AS SELECT * FROM orders",
        "SELECT * FROM nowhere",
        "SELEC oops",
    ] {
        assert!(s.needs_views(needing), "{needing}");
    }
    let problems = s.load_views().await;
    assert!(problems.is_empty(), "{problems:?}");
    assert!(!s.views_deferred());
    assert!(s.ctx.table_provider("customer_rfm").await.is_ok());
    assert!(
        s.load_views().await.is_empty(),
        "a second load does nothing"
    );
}

#[tokio::test]
async fn memory_limit_is_enforced_with_spilling() {
    let s = SessionBuilder::new()
        .with_sample()
        .unwrap()
        .with_memory_limit(32 << 20)
        .build()
        .await
        .unwrap();
    assert_eq!(s.memory_limit, 32 << 20);
    // A sort larger than the limit finishes by spilling to disk.
    let sql = "SELECT count(*) FROM (SELECT v, md5(CAST(v AS VARCHAR)) AS h FROM generate_series(1, 1500000) t(v) ORDER BY h)";
    let text = query_text(&s.ctx, sql).await;
    assert!(text.contains("1500000"), "{text}");
}

#[tokio::test]
async fn views_of_a_missing_table_are_summed_up_in_one_line() {
    let s = SessionBuilder::new()
        .with_as_of("2024-06-30")
        .build()
        .await
        .unwrap();
    let messages: Vec<String> = s.problems.iter().map(|p| p.to_string()).collect();
    assert_eq!(
        messages,
        [
            "the project has no table 'customers', so these built-in views are not loaded: stg_customers, customer_segments, marketing_actions, feedback_topics, satisfaction_by_segment and 4 more",
            "the project has no table 'orders', so these built-in views are not loaded: stg_orders, stg_sales, customer_orders, sales_daily, customer_rfm and 16 more"
        ]
    );
}

/// `list[k]` and `date_trunc` in a session's plans are persona's faster built-ins: `list[k]`
/// reaches `array_element` through persona's planner, not DataFusion's, which would call its
/// own function directly.
#[tokio::test]
async fn list_index_and_date_trunc_are_planned_to_personas_builtins() {
    use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
    use datafusion::logical_expr::Expr;
    use persona_udfs::builtins::array_element::ArrayElementFunc;
    use persona_udfs::builtins::date_trunc::DateTrunc;

    let s = SessionBuilder::new().build().await.unwrap();
    let df = s
        .ctx
        .sql("SELECT [1, 2][1] AS e, array_element([3], 1) AS f, date_trunc('month', now()) AS m")
        .await
        .unwrap();
    let mut found = Vec::new();
    df.logical_plan()
        .apply_expressions(|e| {
            e.apply(|e| {
                if let Expr::ScalarFunction(f) = e {
                    let inner = f.func.inner();
                    if inner.downcast_ref::<ArrayElementFunc>().is_some() {
                        found.push("array_element");
                    } else if inner.downcast_ref::<DateTrunc>().is_some() {
                        found.push("date_trunc");
                    }
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })
        .unwrap();
    found.sort();
    assert_eq!(found, ["array_element", "array_element", "date_trunc"]);
}
