//! The library surface: `SessionBuilder` for embedders.

use datafusion::execution::FunctionRegistry;
use persona::SessionBuilder;

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
    let batches = s
        .ctx
        .sql("SELECT CAST(as_of() AS VARCHAR) AS d")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let text = datafusion::arrow::util::pretty::pretty_format_batches(&batches)
        .unwrap()
        .to_string();
    assert!(text.contains("2024-06-30"), "{text}");
    // Without a project the built-in views have no tables to read: that is reported per view.
    assert!(!s.problems.is_empty());
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
    let batches = s.ctx.sql(sql).await.unwrap().collect().await.unwrap();
    let text = datafusion::arrow::util::pretty::pretty_format_batches(&batches)
        .unwrap()
        .to_string();
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
