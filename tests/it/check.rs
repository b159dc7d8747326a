//! `persona check`: declared checks, thresholds, stored failing rows, exit codes, and
//! `summarize`.

use super::{run, sample_copy};

const CHECKS: &str = r#"
[[check]]
kind = "unique"
table = "orders"
column = "order_id"

[[check]]
name = "known_channels"
kind = "accepted_values"
table = "orders"
column = "channel"
values = ["app", "mini_program", "store"]
severity = "error"
warn_if = "> 0"
error_if = "> 5000"

[[check]]
name = "known_channels_strict"
kind = "accepted_values"
table = "orders"
column = "channel"
values = ["app", "mini_program", "store"]

[[check]]
kind = "not_null"
table = "orders"
column = "campaign_id"
severity = "warn"

[[check]]
kind = "relationships"
table = "orders"
column = "customer_id"
to = "customers.customer_id"

[[check]]
name = "fresh"
kind = "freshness"
table = "orders"
column = "order_ts"
max_age = "2 days"
"#;

fn summary_rows(out: &str) -> Vec<Vec<String>> {
    out.lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

fn row<'a>(rows: &'a [Vec<String>], name: &str) -> &'a [String] {
    rows.iter()
        .find(|r| r[0] == name)
        .unwrap_or_else(|| panic!("no check {name} in {rows:?}"))
}

#[test]
fn checks_pass_warn_and_fail_by_their_thresholds_and_store_failing_rows() {
    let dir = sample_copy("check");
    let p = dir.path();
    std::fs::create_dir_all(p.join("sql/checks")).unwrap();
    std::fs::write(p.join("sql/checks/orders.toml"), CHECKS).unwrap();
    std::fs::write(
        p.join("sql/checks/big_discounts.sql"),
        "-- severity: warn\n-- description: discounts over a tenth of the price\nSELECT order_id, discount, gross_amount FROM orders WHERE discount * 10 > gross_amount\n",
    )
    .unwrap();

    let (out, err, code) = run(p, &["check", "--format", "csv", "--as-of", "2024-12-31"]);
    assert_eq!(code, 1, "an error-level failure exits 1: {out}{err}");
    let rows = summary_rows(&out);
    // check, kind, table, severity, status, failures, detail
    assert_eq!(row(&rows, "unique_orders_order_id")[4], "pass");
    let channels = row(&rows, "known_channels");
    assert_eq!(
        (channels[4].as_str(), channels[5].as_str()),
        ("warn", "4840")
    );
    let strict = row(&rows, "known_channels_strict");
    assert_eq!((strict[4].as_str(), strict[5].as_str()), ("error", "4840"));
    assert!(strict[6].contains("check_failures"), "{strict:?}");
    let campaigns = row(&rows, "not_null_orders_campaign_id");
    assert_eq!(campaigns[4], "warn", "severity warn never errors");
    assert_eq!(row(&rows, "relationships_orders_customer_id")[4], "pass");
    // As of the sample's last day the orders are fresh; measured now, they are not.
    assert_eq!(row(&rows, "fresh")[4], "pass");
    assert_eq!(row(&rows, "big_discounts")[4], "warn");

    // The failing rows are stored, and are the rows the check describes.
    let stored = p.join("check_failures/known_channels_strict.parquet");
    let sql = format!(
        "SELECT count(*) AS n, min(channel) AS c, max(channel) AS d FROM '{}'",
        stored.display()
    );
    let (out, err, code) = run(p, &["--format", "csv", "-c", &sql]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "n,c,d\n4840,web,web\n");

    let (out, _, code) = run(p, &["check", "--format", "csv", "fresh"]);
    assert_eq!(code, 1);
    assert_eq!(row(&summary_rows(&out), "fresh")[4], "error");

    // A check that passes again has its old failing rows removed.
    std::fs::write(
        p.join("sql/checks/orders.toml"),
        CHECKS.replace("\"store\"]", "\"store\", \"web\"]"),
    )
    .unwrap();
    let (out, err, code) = run(p, &["check", "known_channels_strict"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("1 passed, 0 warnings, 0 errors"), "{out}");
    assert!(!stored.exists());
}

#[test]
fn broken_checks_are_clear() {
    let dir = sample_copy("check-bad");
    let p = dir.path();
    std::fs::create_dir_all(p.join("sql/checks")).unwrap();

    // A check on a missing table runs as an error, naming the table; the others still run.
    std::fs::write(
        p.join("sql/checks/a.toml"),
        "[[check]]\nkind = 'not_null'\ntable = 'nope'\ncolumn = 'x'\n\n[[check]]\nkind = 'unique'\ntable = 'orders'\ncolumn = 'order_id'\n",
    )
    .unwrap();
    let (out, err, code) = run(p, &["check", "--format", "csv"]);
    assert_eq!(code, 1, "{err}");
    let rows = summary_rows(&out);
    let missing = row(&rows, "not_null_nope_x");
    assert_eq!(missing[4], "error");
    assert!(missing[6].contains("table 'nope' not found"), "{missing:?}");
    assert_eq!(row(&rows, "unique_orders_order_id")[4], "pass");

    // A file that does not parse stops the command before any check runs, naming file and line.
    std::fs::write(
        p.join("sql/checks/b.toml"),
        "[[check]]\nkind = 'not_null'\ntable = \n",
    )
    .unwrap();
    let (out, err, code) = run(p, &["check"]);
    assert_eq!(code, 2);
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("b.toml: line 3"), "{err}");

    std::fs::write(
        p.join("sql/checks/b.toml"),
        "[[check]]\nkind = 'not_nul'\ntable = 't'\n",
    )
    .unwrap();
    let (_, err, code) = run(p, &["check"]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown variant `not_nul`"), "{err}");

    std::fs::write(
        p.join("sql/checks/b.toml"),
        "[[check]]\nkind = 'unique'\ntable = 'orders'\n",
    )
    .unwrap();
    let (_, err, code) = run(p, &["check"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("check 'unique_orders': a unique check needs a column or columns"),
        "{err}"
    );

    std::fs::write(
        p.join("sql/checks/b.toml"),
        "[[check]]\nkind = 'unique'\ntable = 'orders'\ncolumn = 'order_id'\nerror_if = 'many'\n",
    )
    .unwrap();
    let (_, err, code) = run(p, &["check"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("'many' is not a condition like '> 10'"),
        "{err}"
    );
    std::fs::remove_file(p.join("sql/checks/b.toml")).unwrap();

    // Custom SQL that does not parse is a broken file.
    std::fs::write(
        p.join("sql/checks/c.sql"),
        "-- severity: warn\nSELECT *\nFROM orders WHERE\n",
    )
    .unwrap();
    let (_, err, code) = run(p, &["check"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("c.sql: line 2") && err.contains("syntax error"),
        "{err}"
    );

    // Custom SQL that does not plan is that check's error.
    std::fs::write(p.join("sql/checks/c.sql"), "SELECT nonsense FROM orders\n").unwrap();
    let (out, _, code) = run(p, &["check", "--format", "csv", "c"]);
    assert_eq!(code, 1);
    assert!(
        out.contains("cannot run") && out.contains("nonsense"),
        "{out}"
    );

    let (_, err, code) = run(p, &["check", "zzz"]);
    assert_eq!(code, 2);
    assert!(err.contains("there is no check named 'zzz'"), "{err}");
}

#[test]
fn row_count_change_compares_with_the_previous_snapshot() {
    let dir = sample_copy("check-rows");
    let p = dir.path();
    std::fs::create_dir_all(p.join("sql/checks")).unwrap();
    std::fs::write(
        p.join("sql/checks/rows.toml"),
        "[[check]]\nkind = 'row_count_change'\ntable = 'customer_360'\nmax_change = 0.1\n",
    )
    .unwrap();
    let (out, _, code) = run(p, &["check", "--format", "csv"]);
    assert_eq!(code, 0);
    assert!(out.contains("no earlier snapshot"), "{out}");
    assert_eq!(run(p, &["refresh", "--as-of", "2024-06-30"]).2, 0);
    // 1618 customers then, 2000 now: 23.6% more.
    let (out, _, code) = run(p, &["check", "--format", "csv"]);
    assert_eq!(code, 1, "{out}");
    let (out, err, code) = run(
        p,
        &[
            "--format",
            "csv",
            "-c",
            "SELECT * FROM 'check_failures/row_count_change_customer_360.parquet'",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "previous_as_of,previous_rows,current_rows,change\n2024-06-30,1618,2000,0.2361\n"
    );
}

#[test]
fn summarize_profiles_every_column() {
    let dir = super::scratch("summarize");
    let (out, err, code) = run(
        dir.path(),
        &[
            "--format",
            "csv",
            "-c",
            "SELECT column_name, column_type, count, null_percentage, approx_unique, min, max, round(avg, 2) AS avg, top_values \
             FROM summarize('orders') WHERE column_name IN ('status', 'campaign_id', 'item_count')",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "column_name,column_type,count,null_percentage,approx_unique,min,max,avg,top_values\n\
         status,Utf8,20078,0.0,4,cancelled,shipped,,\"completed (18026), refunded (1185), cancelled (803)\"\n\
         item_count,Int32,20078,0.0,11,1,11,2.13,\"1 (9425), 2 (4837), 3 (2696)\"\n\
         campaign_id,Int64,20078,99.53,8,1,8,5.87,\"7 (23), 6 (22), 8 (18)\"\n"
    );
    // The quartiles of a column agree with the exact ones within the estimate's error.
    let (out, err, code) = run(
        dir.path(),
        &[
            "--format",
            "csv",
            "-c",
            "SELECT abs(s.q50 - e.m) / e.m < 0.02 AS close FROM summarize('orders') s, \
             (SELECT median(CAST(amount AS DOUBLE)) AS m FROM orders) e WHERE s.column_name = 'amount'",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "close\ntrue\n");
    let (_, err, code) = run(dir.path(), &["-c", "SELECT * FROM summarize('nope')"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("summarize('nope'): table 'nope' not found"),
        "{err}"
    );
}

#[test]
fn checks_declared_in_persona_toml_run_with_the_files() {
    let dir = sample_copy("check-toml");
    let p = dir.path();
    let toml = p.join("persona.toml");
    let mut text = std::fs::read_to_string(&toml).unwrap();
    text.push_str(
        "\n[[check]]\nname = \"channels\"\nkind = \"accepted_values\"\ntable = \"orders\"\ncolumn = \"channel\"\nvalues = [\"app\", \"web\", \"mini_program\"]\nseverity = \"warn\"\n",
    );
    std::fs::write(&toml, text).unwrap();
    std::fs::create_dir_all(p.join("sql/checks")).unwrap();
    std::fs::write(
        p.join("sql/checks/keys.toml"),
        "[[check]]\nkind = 'unique'\ntable = 'customers'\ncolumn = 'customer_id'\n",
    )
    .unwrap();
    let (out, err, code) = run(p, &["check", "--format", "csv"]);
    assert_eq!(code, 0, "{out}{err}");
    let rows = summary_rows(&out);
    // persona.toml's checks come first, then the files'.
    assert_eq!(rows[0][0], "channels");
    let channels = row(&rows, "channels");
    assert_eq!(channels[4], "warn", "{channels:?}");
    assert_eq!(row(&rows, "unique_customers_customer_id")[4], "pass");

    // A bad [[check]] in persona.toml is named with its file, like a bad file.
    let text = std::fs::read_to_string(&toml)
        .unwrap()
        .replace("kind = \"accepted_values\"", "kind = \"acceptable\"");
    std::fs::write(&toml, text).unwrap();
    let (_, err, code) = run(p, &["check"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("persona.toml") && err.contains("unknown variant `acceptable`"),
        "{err}"
    );
}
