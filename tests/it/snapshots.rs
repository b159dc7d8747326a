//! `persona refresh`: snapshots as of a date, read back as tables, the views over them, and
//! what an interrupted refresh or a hand-edited snapshot leaves.

use std::path::Path;
use std::time::Duration;

use super::{persona, run, sample_copy, scratch};

fn snapshot_file(project: &Path, date: &str, view: &str) -> std::path::PathBuf {
    project.join(format!("snapshots/as_of={date}/{view}.parquet"))
}

#[test]
fn refresh_twice_gives_the_same_bytes_and_snapshots_read_back_as_tables() {
    let dir = sample_copy("refresh");
    let p = dir.path();
    let (out, err, code) = run(p, &["refresh", "--as-of", "2024-06-30"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("customer_360") && out.contains("written"),
        "{out}"
    );
    let first = std::fs::read(snapshot_file(p, "2024-06-30", "customer_tags")).unwrap();
    let (out, err, code) = run(p, &["refresh", "--as-of", "2024-06-30"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.matches("unchanged").count(), 4, "{out}");
    assert_eq!(
        first,
        std::fs::read(snapshot_file(p, "2024-06-30", "customer_tags")).unwrap()
    );
    let (_, err, code) = run(p, &["refresh"]);
    assert_eq!(code, 0, "{err}");

    // The snapshot of each date equals the live view as of that date.
    let (out, err, code) = run(
        p,
        &[
            "--as-of",
            "2024-06-30",
            "--format",
            "csv",
            "-c",
            "SELECT (SELECT count(*) FROM snapshot_customer_segments WHERE as_of = DATE '2024-06-30') AS a, \
             (SELECT count(*) FROM customer_segments) AS b, \
             (SELECT count(*) FROM (SELECT customer_id, tier FROM snapshot_customer_segments WHERE as_of = DATE '2024-06-30' \
              EXCEPT SELECT customer_id, tier FROM customer_segments)) AS c, \
             (SELECT count(DISTINCT as_of) FROM snapshot_customer_360) AS d",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().nth(1), Some("1618,1618,0,2"), "{out}");

    // Transitions account for every customer of both dates, and shares add up to 1.
    let (out, err, code) = run(
        p,
        &[
            "--format",
            "csv",
            "-c",
            "SELECT scheme, sum(customers) FILTER (WHERE from_segment <> '(new)'), \
             sum(customers) FILTER (WHERE to_segment <> '(gone)'), \
             bool_and(abs(s - 1) < 1e-3) \
             FROM (SELECT *, sum(share) OVER (PARTITION BY scheme, from_segment) AS s FROM segment_transitions) t \
             GROUP BY scheme ORDER BY scheme",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.lines().skip(1).collect::<Vec<_>>(),
        [
            "cn8,1618,2000,true",
            "segment,1618,2000,true",
            "tier,1618,2000,true"
        ],
        "{out}"
    );

    // A tag change is a tag value held on one date only.
    let (out, err, code) = run(
        p,
        &[
            "--format",
            "csv",
            "-c",
            "SELECT count(*) FILTER (WHERE change = 'gained'), count(*) FILTER (WHERE change = 'lost') FROM tag_changes",
            "-c",
            "SELECT (SELECT count(*) FROM (SELECT customer_id, tag_group, tag, value FROM snapshot_customer_tags WHERE as_of = DATE '2024-12-31' \
             EXCEPT SELECT customer_id, tag_group, tag, value FROM snapshot_customer_tags WHERE as_of = DATE '2024-06-30')) AS a, \
             (SELECT count(*) FROM (SELECT customer_id, tag_group, tag, value FROM snapshot_customer_tags WHERE as_of = DATE '2024-06-30' \
             EXCEPT SELECT customer_id, tag_group, tag, value FROM snapshot_customer_tags WHERE as_of = DATE '2024-12-31')) AS b",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[1], lines[3], "{out}");
}

#[test]
fn refresh_with_no_data_for_the_date_writes_nothing() {
    let dir = sample_copy("refresh-empty");
    let (_, err, code) = run(dir.path(), &["refresh", "--as-of", "2019-01-01"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("no customers on or before 2019-01-01") && err.contains("nothing was written"),
        "{err}"
    );
    assert!(!dir.path().join("snapshots").exists());
}

#[test]
fn refresh_refuses_the_bundled_sample() {
    let dir = scratch("refresh-sample");
    let (_, err, code) = run(dir.path(), &["refresh"]);
    assert_eq!(code, 2);
    assert!(err.contains("the bundled sample is read-only"), "{err}");
}

#[test]
fn hand_edited_snapshots_are_reported_and_left_out() {
    let dir = sample_copy("refresh-edited");
    let p = dir.path();
    assert_eq!(run(p, &["refresh", "--as-of", "2024-06-30"]).2, 0);
    assert_eq!(run(p, &["refresh"]).2, 0);
    std::fs::write(
        snapshot_file(p, "2024-06-30", "customer_clv"),
        b"edited by hand",
    )
    .unwrap();
    std::fs::remove_file(snapshot_file(p, "2024-06-30", "customer_tags")).unwrap();
    std::fs::create_dir(p.join("snapshots/backup")).unwrap();
    let (out, err, code) = run(
        p,
        &[
            "--format",
            "csv",
            "-c",
            "SELECT DISTINCT as_of FROM snapshot_customer_clv",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "as_of\n2024-12-31\n");
    assert!(
        err.contains("customer_clv.parquet: is not a readable Parquet file")
            && err.contains("persona refresh --as-of 2024-06-30"),
        "{err}"
    );
    assert!(
        err.contains("customer_tags.parquet: is missing from the snapshot of 2024-06-30"),
        "{err}"
    );
    assert!(err.contains("backup: is not a snapshot"), "{err}");
    // Refreshing the date again mends it.
    let (out, err, code) = run(p, &["refresh", "--as-of", "2024-06-30"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("replaced"), "{out}");
    let (_, err, _) = run(p, &["-c", "SELECT 1"]);
    assert!(!err.contains("customer_clv"), "{err}");
}

/// Killed at any point, a refresh leaves the earlier snapshot byte for byte, never a partial
/// new date, and the next refresh completes and clears its leftovers.
#[test]
fn interrupted_refresh_leaves_earlier_snapshots_intact() {
    let dir = sample_copy("refresh-kill");
    let p = dir.path();
    assert_eq!(run(p, &["refresh", "--as-of", "2024-06-30"]).2, 0);
    let views = [
        "customer_360",
        "customer_segments",
        "customer_tags",
        "customer_clv",
    ];
    let before: Vec<Vec<u8>> = views
        .iter()
        .map(|v| std::fs::read(snapshot_file(p, "2024-06-30", v)).unwrap())
        .collect();
    for delay_ms in [150, 600, 1200, 2000, 3000] {
        let _ = std::fs::remove_dir_all(p.join("snapshots/as_of=2024-12-31"));
        let mut child = persona(p)
            .args(["refresh", "-q"])
            .spawn()
            .expect("persona starts");
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        for (v, bytes) in views.iter().zip(&before) {
            assert_eq!(
                &std::fs::read(snapshot_file(p, "2024-06-30", v)).unwrap(),
                bytes
            );
        }
        let new = p.join("snapshots/as_of=2024-12-31");
        if new.exists() {
            for v in views {
                assert!(
                    snapshot_file(p, "2024-12-31", v).is_file(),
                    "{v} after {delay_ms} ms"
                );
            }
        }
        let (_, err, code) = run(p, &["-c", "SELECT count(*) FROM snapshot_customer_360"]);
        assert_eq!(code, 0, "{err}");
        assert!(!err.contains("snapshot"), "after {delay_ms} ms: {err}");
    }
    let (_, err, code) = run(p, &["refresh"]);
    assert_eq!(code, 0, "{err}");
    let leftovers: Vec<_> = std::fs::read_dir(p.join("snapshots"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
