//! `persona ingest`: curated Parquet with every record accounted for, rejects with reasons and
//! locations, atomic and repeatable writes, incremental runs, and identity stitching.

use std::fs;
use std::path::Path;

use crate::{run, scratch};

/// Runs a query in the project and returns its rows (tab-separated output, header dropped).
fn query(dir: &Path, sql: &str) -> Vec<Vec<String>> {
    let (out, err, code) = run(dir, &["--project", ".", "--format", "tsv", "-q", "-c", sql]);
    assert_eq!(code, 0, "{sql}: {err}");
    out.lines()
        .skip(1)
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

fn one(dir: &Path, sql: &str) -> String {
    query(dir, sql)[0][0].clone()
}

/// The summary line of `source` in ingest's output, as (read, kept, rejected, merged).
fn counts(out: &str, source: &str) -> (u64, u64, u64, u64) {
    let line = out
        .lines()
        .find(|l| l.starts_with(&format!("{source}: read")))
        .unwrap_or_else(|| panic!("no summary for {source} in:\n{out}"));
    let nums: Vec<u64> = line
        .split(['=', '+', '('])
        .take(4)
        .map(|part| {
            part.chars()
                .filter(|c| c.is_ascii_digit())
                .collect::<String>()
                .parse()
                .unwrap()
        })
        .collect();
    assert_eq!(nums[0], nums[1] + nums[2] + nums[3], "{line}");
    (nums[0], nums[1], nums[2], nums[3])
}

const PEOPLE_TOML: &str = r#"
[[source]]
name = "people"
path = "raw/people*.csv"
format = "csv"

[source.ingest]
select = ["try_cast(id AS BIGINT) AS id", "trim(name) AS name", "regexp_replace(phone, '[^0-9]', '', 'g') AS phone", "lower(trim(email)) AS email", "try_cast(amount AS DOUBLE) AS amount"]
key = ["id"]
dedup = "exact"

[[source.ingest.rule]]
name = "amount"
check = "amount IS NOT NULL OR raw['amount'] IS NULL"
reason = "'amount is not a number: ' || raw['amount']"

[source.ingest.identity]
id = "id"
keys = { phone = "phone", email = "email" }
attributes = { name = "name", email = "email" }
"#;

fn people_project(dir: &Path, csv: &str) {
    fs::create_dir_all(dir.join("raw")).unwrap();
    fs::write(dir.join("persona.toml"), PEOPLE_TOML).unwrap();
    fs::write(dir.join("raw/people1.csv"), csv).unwrap();
}

#[test]
fn bad_rows_are_rejected_with_reason_and_location_and_the_counts_add_up() {
    let d = scratch("ingest-bad-rows");
    let big = "x".repeat(3 << 20);
    let csv = format!(
        "id,name,phone,email,amount\n\
         1,Ann,138 1234 5678,ann@example.com,12.5\n\
         2,Bob,139-0000-1111,,x\n\
         2,Bob,139-0000-1111,,x\n\
         3,Cy,137,cy@example.com,7,extra\n\
         4,{big},136,dee@example.com,8\n\
         5,Eve,135,eve@example.com,9\n\
         5,Eve,135,eve@example.com,9\n\
         6,@GBK@,134,f@example.com,1\n\
         ,NoKey,133,nk@example.com,1\n\
         7,\"Unclosed,132,g@example.com,1\n\
         8,Hal,131,h@example.com,1\n"
    );
    fs::create_dir_all(d.path().join("raw")).unwrap();
    fs::write(d.path().join("persona.toml"), PEOPLE_TOML).unwrap();
    // Line 9 holds 张 in GBK, which is not UTF-8.
    let (head, tail) = csv.split_once("@GBK@").unwrap();
    let bytes = [head.as_bytes(), b"\xD5\xC5", tail.as_bytes()].concat();
    fs::write(d.path().join("raw/people1.csv"), bytes).unwrap();
    let (out, err, code) = run(d.path(), &["--project", ".", "ingest"]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("panicked"), "{err}");
    // 10 data records: the unclosed quote swallows the last line into one record.
    assert_eq!(counts(&out, "people"), (10, 3, 6, 1));
    let rejects = query(d.path(), "SELECT line, reason FROM rejects ORDER BY line");
    let got: Vec<(String, String)> = rejects
        .iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect();
    assert_eq!(got[0], ("3".into(), "amount is not a number: x".into()));
    assert_eq!(got[1], ("4".into(), "amount is not a number: x".into()));
    assert_eq!(got[2], ("5".into(), "6 fields, the header has 5".into()));
    assert_eq!(got[3].0, "9");
    assert!(got[3].1.contains("not valid UTF-8"), "{got:?}");
    assert!(got[3].1.contains("gbk"), "{got:?}");
    assert_eq!(got[4], ("10".into(), "missing key id".into()));
    assert_eq!(got.len(), 6, "{got:?}");
    assert!(got[5].1.starts_with("unterminated quote"), "{got:?}");
    // The raw text of a reject is the record as it was in the file.
    assert_eq!(
        one(d.path(), "SELECT raw FROM rejects WHERE line = 5"),
        "3,Cy,137,cy@example.com,7,extra"
    );
    // The field of several megabytes arrived whole.
    assert_eq!(
        one(d.path(), "SELECT length(name) FROM stg_people WHERE id = 4"),
        (3 << 20).to_string()
    );
}

#[test]
fn file_level_faults_name_the_file_and_keep_the_previous_curated_data() {
    let d = scratch("ingest-files");
    people_project(
        d.path(),
        "id,name,phone,email,amount\n1,Ann,138,a@x.com,1\n",
    );
    let (_, err, code) = run(d.path(), &["--project", ".", "ingest"]);
    assert_eq!(code, 0, "{err}");
    let curated = d.path().join("curated/people.parquet");
    let before = fs::read(&curated).unwrap();

    // A second file whose header differs from the first's.
    fs::write(
        d.path().join("raw/people2.csv"),
        "id,name,mobile\n2,Bob,139\n",
    )
    .unwrap();
    let (_, err, code) = run(d.path(), &["--project", ".", "ingest"]);
    assert_eq!(code, 2);
    assert!(
        err.contains(
            "people2.csv: its columns (id, name, mobile) differ from those of raw/people1.csv"
        ),
        "{err}"
    );
    assert!(
        err.contains("its curated data were left as they were"),
        "{err}"
    );
    assert_eq!(fs::read(&curated).unwrap(), before);

    // An empty file.
    fs::write(d.path().join("raw/people2.csv"), "").unwrap();
    let (_, err, code) = run(d.path(), &["--project", ".", "ingest"]);
    assert_eq!(code, 2);
    assert!(err.contains("people2.csv: the file is empty"), "{err}");
    assert_eq!(fs::read(&curated).unwrap(), before);

    // No file at all.
    fs::remove_file(d.path().join("raw/people2.csv")).unwrap();
    fs::remove_file(d.path().join("raw/people1.csv")).unwrap();
    let (_, err, code) = run(d.path(), &["--project", ".", "ingest"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("source 'people' (raw/people*.csv): no file matches this path"),
        "{err}"
    );
    assert_eq!(fs::read(&curated).unwrap(), before);

    // A select that names a column the file lacks lists the ones it has.
    fs::write(
        d.path().join("raw/people1.csv"),
        "id,name,mobile,email,amount\n1,Ann,138,a@x.com,1\n",
    )
    .unwrap();
    let (_, err, code) = run(d.path(), &["--project", ".", "ingest"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("the raw columns are: id, name, mobile, email, amount"),
        "{err}"
    );
    assert_eq!(fs::read(&curated).unwrap(), before);
    assert!(
        fs::read_dir(d.path().join("curated")).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with(".tmp")),
        "no temporary file is left behind"
    );
}

#[test]
fn the_same_input_gives_the_same_bytes_and_incremental_reads_only_new_files() {
    let d = scratch("ingest-repeat");
    people_project(
        d.path(),
        "id,name,phone,email,amount\n2,Bob,139,b@x.com,2\n1,Ann,138,a@x.com,1\n1,Ann,138,a@x.com,1\n",
    );
    let (out, err, code) = run(d.path(), &["--project", ".", "ingest"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(counts(&out, "people"), (3, 2, 0, 1));
    let files = [
        "curated/people.parquet",
        "curated/_rejects/people.parquet",
        "curated/identity_map.parquet",
    ];
    let first: Vec<Vec<u8>> = files
        .iter()
        .map(|f| fs::read(d.path().join(f)).unwrap())
        .collect();
    let (_, err, code) = run(d.path(), &["--project", ".", "ingest"]);
    assert_eq!(code, 0, "{err}");
    for (f, bytes) in files.iter().zip(&first) {
        assert_eq!(&fs::read(d.path().join(f)).unwrap(), bytes, "{f} changed");
    }
    // Sorted by key, so the curated rows do not depend on the order of the export.
    assert_eq!(
        one(d.path(), "SELECT string_agg(name, '|') FROM stg_people"),
        "Ann|Bob"
    );

    fs::write(
        d.path().join("raw/people2.csv"),
        "id,name,phone,email,amount\n3,Cy,137,c@x.com,3\n1,Ann,138,a@x.com,1\n",
    )
    .unwrap();
    let (out, err, code) = run(d.path(), &["--project", ".", "ingest", "--incremental"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("(1 new files, 1 already read)"), "{out}");
    // Only the new file is read: its copy of Ann merges with the curated one.
    assert_eq!(counts(&out, "people"), (2, 1, 0, 1));
    assert_eq!(one(d.path(), "SELECT count(*) FROM stg_people"), "3");
    let (out, _, _) = run(d.path(), &["--project", ".", "ingest", "--incremental"]);
    assert_eq!(counts(&out, "people"), (0, 0, 0, 0));
}

#[test]
fn gbk_exports_are_decoded_and_a_wrong_declared_encoding_is_named() {
    let d = scratch("ingest-gbk");
    fs::create_dir_all(d.path().join("raw")).unwrap();
    // "id,name\n1,张三\n2,李四\n" in GBK.
    let mut gbk = b"id,name\n1,".to_vec();
    gbk.extend_from_slice(b"\xD5\xC5\xC8\xFD\n2,\xC0\xEE\xCB\xC4\n");
    fs::write(d.path().join("raw/names.csv"), &gbk).unwrap();
    fs::write(
        d.path().join("persona.toml"),
        "[[source]]\nname = \"names\"\npath = \"raw/names.csv\"\nformat = \"csv\"\nencoding = \"gbk\"\n[source.ingest]\nkey = [\"id\"]\n",
    )
    .unwrap();
    let (out, err, code) = run(d.path(), &["--project", ".", "ingest"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(counts(&out, "names"), (2, 2, 0, 0));
    assert_eq!(
        one(d.path(), "SELECT string_agg(name, '|') FROM stg_names"),
        "张三|李四"
    );

    fs::write(d.path().join("raw/names.csv"), "id,name\n1,张三\n").unwrap();
    let (_, err, code) = run(d.path(), &["--project", ".", "ingest"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("names.csv: the text is UTF-8 but the source declares encoding gbk"),
        "{err}"
    );
}

#[test]
fn shared_keys_merge_people_and_an_overused_key_is_audited_instead() {
    let d = scratch("ingest-identity");
    let mut csv = String::from("id,name,phone,email,amount\n");
    // 1 and 2 share a phone spelled two ways; 2 and 3 share an e-mail; 4 is alone.
    csv.push_str("1,Ann,138-1111-2222,,1\n2,Ann L,13811112222,ann@x.com,1\n3,A. Lee,,ANN@x.com ,1\n4,Bob,139,,1\n");
    // Six people who all typed test@test.com: the key links none of them.
    for id in 10..16 {
        csv.push_str(&format!("{id},P{id},1{id}0,test@test.com,1\n"));
    }
    people_project(d.path(), &csv);
    let (out, err, code) = run(d.path(), &["--project", ".", "ingest"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("identity: 10 records of 1 source are 8 customers (1 key value shared too widely to link"),
        "{out}"
    );
    let ids = query(
        d.path(),
        "SELECT source_id, customer_id FROM identity_map ORDER BY CAST(source_id AS INT)",
    );
    let id_of = |s: &str| ids.iter().find(|r| r[0] == s).unwrap()[1].clone();
    assert_eq!(id_of("1"), id_of("2"));
    assert_eq!(id_of("2"), id_of("3"));
    assert_ne!(id_of("1"), id_of("4"));
    assert_ne!(id_of("10"), id_of("11"));
    assert_eq!(
        query(d.path(), "SELECT key, value, records FROM identity_audit"),
        vec![vec![
            "email".to_string(),
            "test@test.com".into(),
            "6".into()
        ]]
    );
    // The golden record takes the latest non-null value (no updated_at: the last seen).
    assert_eq!(
        one(
            d.path(),
            &format!(
                "SELECT records FROM customers_unified WHERE customer_id = {}",
                id_of("1")
            )
        ),
        "3"
    );

    // A new record joining customer 4 keeps every existing id; a new person gets a new one.
    let before = ids.clone();
    let mut more = csv.clone();
    more.push_str("20,Bob B,139,,1\n21,New,177,new@x.com,1\n");
    fs::write(d.path().join("raw/people1.csv"), more).unwrap();
    let (_, err, code) = run(d.path(), &["--project", ".", "ingest"]);
    assert_eq!(code, 0, "{err}");
    let after = query(
        d.path(),
        "SELECT source_id, customer_id FROM identity_map ORDER BY CAST(source_id AS INT)",
    );
    for row in &before {
        assert!(after.contains(row), "{row:?} kept its id");
    }
    let id_after = |s: &str| after.iter().find(|r| r[0] == s).unwrap()[1].clone();
    assert_eq!(id_after("20"), id_of("4"));
    let max_before: i64 = before
        .iter()
        .map(|r| r[1].parse::<i64>().unwrap())
        .max()
        .unwrap();
    assert_eq!(id_after("21").parse::<i64>().unwrap(), max_before + 1);
}

#[test]
fn ingest_refuses_the_bundled_sample_and_names_unknown_sources() {
    let d = scratch("ingest-usage");
    let (_, err, code) = run(d.path(), &["ingest"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("persona ingest writes into a project"),
        "{err}"
    );
    people_project(d.path(), "id,name,phone,email,amount\n1,A,1,a@x.com,1\n");
    let (_, err, code) = run(d.path(), &["--project", ".", "ingest", "nope"]);
    assert_eq!(code, 2);
    assert!(err.contains("there is no source named 'nope'"), "{err}");
}

#[test]
fn raw_export_is_recovered_against_the_recorded_truth() {
    let d = scratch("ingest-truth");
    let (_, err, code) = run(
        d.path(),
        &["gen", "--raw", "--customers", "1000", "--out", "."],
    );
    assert_eq!(code, 0, "{err}");
    let (out, err, code) = run(d.path(), &["--project", ".", "ingest"]);
    assert_eq!(code, 0, "{err}");
    for source in [
        "crm_customers",
        "shop_orders",
        "web_events",
        "social_comments",
        "feedback_forms",
    ] {
        counts(&out, source);
    }
    let sql = fs::read_to_string(crate::root().join("tests/it/ingest_truth.sql")).unwrap();
    let (out, err, code) = run(
        d.path(),
        &[
            "--project",
            ".",
            "--format",
            "tsv",
            "-q",
            "-f",
            &crate::root()
                .join("tests/it/ingest_truth.sql")
                .display()
                .to_string(),
        ],
    );
    assert_eq!(code, 0, "{err}\n{sql}");
    // Each statement prints a header line and one row.
    let rows: Vec<Vec<f64>> = out
        .lines()
        .filter(|l| l.starts_with(|c: char| c.is_ascii_digit()))
        .map(|l| l.split('\t').map(|v| v.parse().unwrap()).collect())
        .collect();
    let [
        values,
        bad,
        false_rejects,
        dup_kept,
        merged,
        false_merges,
        golden,
    ] = rows.as_slice()
    else {
        panic!("seven results expected:\n{out}");
    };
    // At least 99% of every field of the kept CRM records is recovered exactly.
    assert!(values[0] > 950.0, "{values:?}");
    for (field, share) in [
        "gender",
        "birth_date",
        "phone",
        "email",
        "city",
        "signup",
        "name",
    ]
    .iter()
    .zip(&values[1..])
    {
        assert!(*share >= 0.99, "{field}: {share}");
    }
    // Every injected bad row is a reject with a reason, and no good row is.
    assert!(bad[0] > 20.0, "{bad:?}");
    assert_eq!(bad[1], 0.0, "bad rows not rejected");
    assert_eq!(false_rejects[0], 0.0, "good rows rejected");
    assert_eq!(dup_kept[0], 0.0, "exact duplicates kept");
    // At least 98% of the people entered twice are one customer; no two people are.
    assert!(merged[0] > 40.0 && merged[1] >= 0.98, "{merged:?}");
    assert_eq!(false_merges[0], 0.0);
    // customers_unified: each person's city and phone as the truth has them.
    assert!(
        golden[0] > 950.0 && golden[1] >= 0.99 && golden[2] >= 0.99,
        "{golden:?}"
    );
}

/// Regression: under a memory limit the sorts of deduplication failed in their spill merge
/// ("Not enough memory to continue external sort"; 10,000 raw customers under 40 MB, 1M under
/// 2 GB), with a sort per partition starving the other's merge and every column a sort key.
/// A limit too small even for that names the option to change.
#[test]
fn ingest_under_a_small_memory_limit_spills_instead_of_failing_in_the_sort_merge() {
    let d = scratch("ingest-small-memory");
    let (_, err, code) = run(
        d.path(),
        &["gen", "--raw", "--customers", "10000", "--out", "."],
    );
    assert_eq!(code, 0, "{err}");
    let (out, err, code) = run(
        d.path(),
        &["--project", ".", "--memory-limit", "40MB", "ingest"],
    );
    assert_eq!(code, 0, "{err}");
    let (read, kept, rejected, merged) = counts(&out, "web_events");
    assert!(read > 100_000 && read == kept + rejected + merged, "{out}");
    assert!(out.contains("identity:"), "{out}");
    let (_, err, code) = run(
        d.path(),
        &[
            "--project",
            ".",
            "--memory-limit",
            "16MB",
            "ingest",
            "shop_orders",
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("limit of 16 MB") && err.contains("try --memory-limit 32MB"),
        "{err}"
    );
}

#[test]
fn tsv_json_arrays_and_parquet_are_ingested_too() {
    let d = scratch("ingest-formats");
    fs::create_dir_all(d.path().join("raw")).unwrap();
    fs::write(
        d.path().join("raw/a.tsv"),
        "id\tcity\n1\t深圳市\n2\tshenzhen\n",
    )
    .unwrap();
    fs::write(
        d.path().join("raw/b.json"),
        r#"[{"id": 1, "tags": ["x"]}, 7, {"id": 2, "note": "n"}]"#,
    )
    .unwrap();
    let (_, err, code) = run(
        d.path(),
        &[
            "-c",
            "COPY (SELECT * FROM (VALUES (1, 2.5), (2, 3.0), (2, 3.0), (3, NULL)) t(id, score)) TO 'raw/c.parquet'",
        ],
    );
    assert_eq!(code, 0, "{err}");
    fs::write(
        d.path().join("persona.toml"),
        "[[source]]\nname = \"a\"\npath = \"raw/a.tsv\"\nformat = \"tsv\"\n\
         [source.ingest]\nselect = [\"CAST(id AS INT) AS id\", \"std_city(city) AS city\"]\n\n\
         [[source]]\nname = \"b\"\npath = \"raw/b.json\"\nformat = \"json\"\n[source.ingest]\n\n\
         [[source]]\nname = \"c\"\npath = \"raw/c.parquet\"\nformat = \"parquet\"\n\
         [source.ingest]\nkey = [\"id\"]\n\n\
         [[source.ingest.rule]]\nname = \"score\"\ncheck = \"score > 0\"\n",
    )
    .unwrap();
    let (out, err, code) = run(d.path(), &["--project", ".", "ingest"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(counts(&out, "a"), (2, 2, 0, 0));
    // The array's second element is not an object: a reject numbered 2.
    assert_eq!(counts(&out, "b"), (3, 2, 1, 0));
    // Parquet columns keep their types; the exact duplicate merges, the NULL score fails.
    assert_eq!(counts(&out, "c"), (4, 2, 1, 1));
    assert_eq!(
        one(d.path(), "SELECT string_agg(city, ' ') FROM stg_a"),
        "深圳 深圳"
    );
    // Nested JSON values arrive as their JSON text.
    assert_eq!(
        one(
            d.path(),
            "SELECT tags = '[\"x\"]' FROM stg_b WHERE id = '1'"
        ),
        "true"
    );
    assert_eq!(
        query(
            d.path(),
            "SELECT source, line, reason FROM rejects ORDER BY source"
        ),
        vec![
            vec![
                "b".to_string(),
                "2".into(),
                "a JSON number, expected an object".into()
            ],
            vec![
                "c".to_string(),
                "4".into(),
                "score failed: score > 0".into()
            ],
        ]
    );
}

/// On a terminal a long source shows a progress bar (bytes read of the total) on standard
/// error, and the summary still adds up; the other tests, without a terminal, show none.
#[test]
fn a_long_source_shows_a_progress_bar_on_a_terminal() {
    use std::fmt::Write as _;
    let dir = scratch("ingest-progress");
    // Two files of about 5 MB each: over the bar's 8 MB threshold together, and the bar moves
    // after the first.
    let people = |ids: std::ops::Range<u64>| {
        let mut csv = String::from("id,name,phone,email,amount\n");
        for i in ids {
            let _ = writeln!(
                csv,
                "{i},Person {i},138{i:08},p{i}@example.com,{}.50",
                i % 1000
            );
        }
        csv
    };
    people_project(dir.path(), &people(0..100_000));
    fs::write(dir.path().join("raw/people2.csv"), people(100_000..200_000)).unwrap();
    let mut cmd = crate::persona(dir.path());
    cmd.args(["--project", ".", "ingest"]).env("TERM", "xterm");
    let mut p = rexpect::session::spawn_command(cmd, Some(120_000)).expect("persona starts");
    // The source's name, a bar, then bytes read of both files' total.
    p.exp_regex(r"people \[[^\]]+\] 0 B/1[01]\.[0-9]+ MiB")
        .expect("a progress bar at its start");
    p.exp_regex(r"people \[[^\]]+\] [1-9][0-9.]* MiB/1[01]\.[0-9]+ MiB")
        .expect("the bar moving on");
    let (_, summary) = p
        .exp_regex(r"people: read [0-9,]+ = [^\r\n]+")
        .expect("the summary line");
    assert_eq!(
        counts(&summary, "people"),
        (200_000, 200_000, 0, 0),
        "{summary}"
    );
    p.exp_eof().unwrap();
}

/// Regression: `persona ingest SOURCE` killed between its renames left new curated rows with
/// the old rejects file, and its leftover `.tmp-PID-….parquet` in `curated/_rejects/` was read
/// as part of `rejects` until the next ingest. Killed at each rename in turn, the next process
/// sees the curated rows and rejects of one run, and `rejects` holds only published files.
#[test]
fn ingest_killed_between_renames_publishes_curated_rows_and_rejects_together() {
    let old_csv = "id,name,phone,email,amount\n1,Ann,138,a@x.com,1\n2,Bob,139,b@x.com,x\n";
    let new_csv = "id,name,phone,email,amount\n1,Ann,138,a@x.com,1\n2,Bob,139,b@x.com,2\n3,Cy,137,c@x.com,y\n4,Di,136,d@x.com,z\n";
    let pair = |dir: &Path| {
        (
            fs::read(dir.join("curated/people.parquet")).unwrap_or_default(),
            fs::read(dir.join("curated/_rejects/people.parquet")).unwrap_or_default(),
        )
    };
    let d = scratch("ingest-kill");
    people_project(d.path(), old_csv);
    assert_eq!(run(d.path(), &["--project", ".", "ingest"]).2, 0);
    let old = pair(d.path());
    let other = scratch("ingest-kill-new");
    people_project(other.path(), new_csv);
    assert_eq!(run(other.path(), &["--project", ".", "ingest"]).2, 0);
    let new = pair(other.path());
    assert!(old.0 != new.0 && old.1 != new.1);

    fs::write(d.path().join("raw/people1.csv"), new_csv).unwrap();
    for when in 1..=6 {
        let status = std::process::Command::new("strace")
            .current_dir(d.path())
            .args(["-f", "-qq", "-o", "/dev/null", "-e"])
            .arg(format!(
                "inject=rename,renameat,renameat2:error=EIO:signal=KILL:when={when}"
            ))
            .arg(env!("CARGO_BIN_EXE_persona"))
            .args(["--project", ".", "ingest", "-q", "people"])
            .status()
            .expect("strace runs (installed by .ci/run)");
        // Any persona process finishes what the killed one published halfway.
        let rejects = one(d.path(), "SELECT count(*) FROM rejects");
        let now = pair(d.path());
        assert!(
            now == old || now == new,
            "killed at rename {when} ({status}): curated rows and rejects of two runs"
        );
        let expected = if now == new { "2" } else { "1" };
        assert_eq!(rejects, expected, "killed at rename {when}");
    }
}
