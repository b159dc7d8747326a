//! Audiences and text ids through the real binary: an audience exported with `-o`, and text
//! ids keeping their integer keys from one process to the next.

use std::fs;

use crate::{root, run, scratch};

#[test]
fn audience_exports_to_csv_with_every_customer_once() {
    let dir = scratch("audience");
    let out = dir.path().join("audience.csv");
    let expr = "(流失风险客户 | 普通客户) & active_90d";
    let (_, err, code) = run(
        &root().join("datasets"),
        &[
            "-c",
            &format!("SELECT * FROM audience('{expr}')"),
            "-o",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{err}");
    let csv = fs::read_to_string(&out).unwrap();
    let ids: Vec<i64> = csv.lines().skip(1).map(|l| l.parse().unwrap()).collect();
    assert_eq!(csv.lines().next(), Some("customer_id"));
    assert!(!ids.is_empty());
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "ascending and distinct"
    );
    // The same customers, asked of customer_tags directly.
    let (count, err, code) = run(
        &root().join("datasets"),
        &[
            "--format",
            "csv",
            "-c",
            "SELECT count(DISTINCT customer_id) AS n FROM customer_tags \
             WHERE value IN ('流失风险客户', '普通客户') AND customer_id IN \
             (SELECT customer_id FROM customer_tags WHERE value = 'active_90d')",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(count.trim(), format!("n\n{}", ids.len()));
}

#[test]
fn text_ids_keep_their_keys_across_processes() {
    let dir = scratch("idkey");
    fs::write(
        dir.path().join("persona.toml"),
        "[project]\nname = \"ids\"\nas_of = \"2024-06-30\"\n\n[[source]]\nname = \"followers\"\npath = \"followers.csv\"\nformat = \"csv\"\n",
    )
    .unwrap();
    fs::write(
        dir.path().join("followers.csv"),
        "open_id\nwx-b\nwx-a\nwx-b\n",
    )
    .unwrap();
    let keys = |sql: &str| {
        let (out, err, code) = run(dir.path(), &["--format", "csv", "-c", sql]);
        assert_eq!(code, 0, "{err}");
        out
    };
    let first = keys("SELECT open_id, id_key(open_id) AS k FROM followers ORDER BY open_id, k");
    assert_eq!(first, "open_id,k\nwx-a,2\nwx-b,1\nwx-b,1\n");
    // A later process, a new id among known ones, and the keys back to text through a bitmap.
    let later = keys(
        "SELECT id_text(k) AS id, k FROM (SELECT unnest(bitmap_to_array(bitmap_agg(id_key(v)))) AS k \
         FROM (VALUES ('wx-c'), ('wx-a'), ('wx-b')) t(v)) ORDER BY k",
    );
    assert_eq!(later, "id,k\nwx-b,1\nwx-a,2\nwx-c,3\n");
    let file = fs::read_to_string(dir.path().join(".persona/id_dictionary.txt")).unwrap();
    assert_eq!(file, "wx-b\nwx-a\nwx-c\n");
}
