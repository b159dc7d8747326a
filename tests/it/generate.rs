//! `persona gen`: deterministic output, sensible shapes, raw mode with recorded defects.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use crate::{run, scratch};

fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap().filter_map(Result::ok) {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(
                    p.strip_prefix(dir).unwrap().display().to_string(),
                    fs::read(&p).unwrap(),
                );
            }
        }
    }
    out
}

#[test]
fn same_seed_same_bytes_other_seed_other_data() {
    let dir = scratch("gen");
    for (name, seed) in [("a", "7"), ("b", "7"), ("c", "8")] {
        let (_, err, code) = run(
            dir.path(),
            &["gen", "--customers", "300", "--seed", seed, "--out", name],
        );
        assert_eq!(code, 0, "{err}");
    }
    let (a, b, c) = (
        tree(&dir.path().join("a")),
        tree(&dir.path().join("b")),
        tree(&dir.path().join("c")),
    );
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    assert!(a == b, "same seed, same bytes");
    assert!(a.get("orders/part-00000.parquet") != c.get("orders/part-00000.parquet"));
}

#[test]
fn generated_project_opens_and_its_data_hang_together() {
    let dir = scratch("gen-project");
    let (_, err, code) = run(dir.path(), &["gen", "--customers", "500", "--out", "p"]);
    assert_eq!(code, 0, "{err}");
    let q = "SELECT
        (SELECT count(*) FROM customers) AS customers,
        (SELECT count(*) FROM orders o LEFT ANTI JOIN customers c ON o.customer_id = c.customer_id) AS orphan_orders,
        (SELECT count(*) FROM (SELECT o.order_id FROM orders o JOIN order_items i USING (order_id)
            GROUP BY o.order_id, o.gross_amount HAVING sum(i.amount) <> o.gross_amount)) AS unbalanced_orders,
        (SELECT count(*) FROM orders WHERE amount <> gross_amount - discount OR amount < 0) AS bad_amounts,
        (SELECT count(DISTINCT event_type) FROM events) AS event_types,
        (SELECT count(DISTINCT lang) FROM social) AS languages,
        (SELECT count(DISTINCT test_group) FROM campaign_contacts) AS groups,
        (SELECT min(order_ts) >= TIMESTAMP '2022-01-01' AND max(order_ts) < TIMESTAMP '2025-01-01' FROM orders) AS in_range";
    let (out, err, code) = run(dir.path(), &["--project", "p", "--format", "csv", "-c", q]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "customers,orphan_orders,unbalanced_orders,bad_amounts,event_types,languages,groups,in_range\n500,0,0,0,4,2,2,true\n"
    );
    // About ten orders and twenty events per customer, a fifth to two fifths never buy, a few buy a lot.
    let q = "SELECT count(*) / 500.0 BETWEEN 7 AND 13 AS orders_ok,
        (SELECT count(*) / 500.0 BETWEEN 15 AND 25 FROM events) AS events_ok,
        (SELECT count(*) FROM customer_orders WHERE orders = 0) BETWEEN 75 AND 225 AS non_buyers_ok,
        (SELECT max(orders) FROM customer_orders) > 50 AS heavy_buyer
        FROM orders";
    let (out, err, _) = run(dir.path(), &["--project", "p", "--format", "csv", "-c", q]);
    assert_eq!(
        out, "orders_ok,events_ok,non_buyers_ok,heavy_buyer\ntrue,true,true,true\n",
        "{err}"
    );
}

#[test]
fn raw_mode_writes_messy_sources_and_the_truth() {
    let dir = scratch("gen-raw");
    let (_, err, code) = run(
        dir.path(),
        &["gen", "--customers", "1000", "--raw", "--out", "r"],
    );
    assert_eq!(code, 0, "{err}");
    let r = dir.path().join("r");
    for f in [
        "raw/crm_customers.csv",
        "raw/orders.csv",
        "raw/web_events.ndjson",
        "raw/social_comments.ndjson",
        "raw/feedback.csv",
        "truth/crm_map.csv",
        "truth/defects.csv",
        "truth/customers.parquet",
        "persona.toml",
    ] {
        assert!(r.join(f).is_file(), "{f}");
    }
    let crm = fs::read_to_string(r.join("raw/crm_customers.csv")).unwrap();
    assert!(
        crm.contains("年") && crm.contains("0086-"),
        "mixed spellings"
    );
    let defects = fs::read_to_string(r.join("truth/defects.csv")).unwrap();
    for kind in ["duplicate_person", "exact_duplicate"] {
        assert!(defects.contains(kind), "{kind} recorded");
    }
    // Every recorded defect line exists in its file.
    for line in defects.lines().skip(1) {
        let parts: Vec<&str> = line.split(',').collect();
        let text = fs::read_to_string(r.join(parts[0])).unwrap();
        let n: usize = parts[1].parse().unwrap();
        assert!(n <= text.lines().count(), "{line}");
    }
    let (out, err, code) = run(
        dir.path(),
        &[
            "--project",
            "r",
            "--format",
            "csv",
            "-c",
            "SELECT count(*) AS n, count(DISTINCT customer_id) AS people FROM truth_crm_map",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let counts: Vec<u64> = out
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .map(|v| v.parse().unwrap())
        .collect();
    assert_eq!(counts[1], 1000);
    assert!(
        counts[0] > 1040 && counts[0] < 1130,
        "about 8% entered twice: {out}"
    );
}

#[test]
fn bad_gen_arguments() {
    let dir = scratch("gen-bad");
    let (_, err, code) = run(dir.path(), &["gen", "--customers", "0", "--out", "x"]);
    assert_eq!(
        (err.trim(), code),
        ("error: --customers must be at least 1", 2)
    );
    fs::write(dir.path().join("file"), "").unwrap();
    let (_, err, code) = run(dir.path(), &["gen", "--out", "file"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("file: is a file, expected a directory"),
        "{err}"
    );
}
