//! The command line through the real binary: output formats, scripts, exit codes, and one clear
//! sentence for each kind of bad input.

use std::fs;

use crate::{persona, run, scratch};

#[test]
fn counts_sample_customers() {
    let dir = scratch("count");
    let (out, err, code) = run(
        dir.path(),
        &[
            "-c",
            "SELECT count(*) AS n FROM customers",
            "--format",
            "csv",
        ],
    );
    assert_eq!((out.as_str(), code), ("n\n2000\n", 0), "{err}");
}

#[test]
fn table_format_shows_types_and_row_count() {
    let dir = scratch("table");
    let (out, _, code) = run(dir.path(), &["-c", "SELECT 1 AS one, 'a' AS letter"]);
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 7, "{out}");
    assert!(
        lines[1].contains("one") && lines[1].contains("letter"),
        "{out}"
    );
    assert!(
        lines[2].contains("bigint") && lines[2].contains("varchar"),
        "{out}"
    );
    assert!(
        lines[4].starts_with("│      1 │"),
        "numbers right-aligned: {out}"
    );
    assert!(lines[6].starts_with("1 row · "), "{out}");
    let (out, _, _) = run(
        dir.path(),
        &["-q", "-c", "SELECT * FROM generate_series(1, 100)"],
    );
    assert!(!out.contains("rows"), "quiet has no footer: {out}");
    let (out, _, _) = run(
        dir.path(),
        &[
            "-c",
            "SELECT * FROM generate_series(1, 100)",
            "--maxrows",
            "5",
        ],
    );
    assert!(out.contains("100 rows (5 shown)"), "{out}");
    assert_eq!(out.lines().count(), 4 + 5 + 2, "{out}");
}

#[test]
fn every_output_format() {
    let dir = scratch("formats");
    let q = "SELECT * FROM (VALUES (1, 'a,b'), (2, NULL)) t(id, note) ORDER BY id";
    let cases = [
        ("csv", "id,note\n1,\"a,b\"\n2,\n"),
        ("tsv", "id\tnote\n1\ta,b\n2\t\n"),
        (
            "json",
            "[{\"id\":1,\"note\":\"a,b\"},{\"id\":2,\"note\":null}]\n",
        ),
        (
            "ndjson",
            "{\"id\":1,\"note\":\"a,b\"}\n{\"id\":2,\"note\":null}\n",
        ),
        (
            "markdown",
            "| id | note |\n| ---: | --- |\n| 1 | a,b |\n| 2 |  |\n",
        ),
    ];
    for (format, expected) in cases {
        let (out, err, code) = run(dir.path(), &["-c", q, "--format", format]);
        assert_eq!((out.as_str(), code), (expected, 0), "{format}: {err}");
    }
}

#[test]
fn script_error_on_line_3_is_reported_as_file_and_line() {
    let dir = scratch("script");
    let script = dir.path().join("report.sql");
    fs::write(
        &script,
        "SELECT 1 AS a;\n\nSELECT nope FROM customers;\nSELECT 3;\n",
    )
    .unwrap();
    let (out, err, code) = run(dir.path(), &["-f", "report.sql", "--format", "csv"]);
    assert_eq!(code, 1);
    assert_eq!(out, "a\n1\n", "statements before the error ran, none after");
    assert!(err.starts_with("report.sql:3: "), "{err}");
    assert!(err.contains("nope"), "names the column: {err}");
    assert_eq!(err.lines().count(), 1, "one sentence: {err}");
}

#[test]
fn syntax_error_points_at_its_line_inside_a_statement() {
    let dir = scratch("syntax");
    fs::write(
        dir.path().join("s.sql"),
        "SELECT 1;\nSELECT\n  2 +\n  ) FROM t;\n",
    )
    .unwrap();
    let (_, err, code) = run(dir.path(), &["-f", "s.sql"]);
    assert_eq!(code, 1);
    assert_eq!(
        err,
        "s.sql:4: syntax error: Expected: an expression, found: ) (column 3)\n"
    );
}

#[test]
fn files_run_in_order_and_share_the_session() {
    let dir = scratch("files");
    fs::write(
        dir.path().join("a.sql"),
        "CREATE VIEW big AS SELECT * FROM customer_orders WHERE orders >= 10;",
    )
    .unwrap();
    fs::write(
        dir.path().join("b.sql"),
        "SELECT count(*) > 0 AS some FROM big;",
    )
    .unwrap();
    let (out, err, code) = run(
        dir.path(),
        &["-f", "a.sql", "-f", "b.sql", "--format", "csv"],
    );
    assert_eq!((out.as_str(), code), ("some\ntrue\n", 0), "{err}");
}

#[test]
fn statements_come_from_stdin_when_not_a_terminal() {
    use std::io::Write;
    let dir = scratch("stdin");
    let mut child = persona(dir.path())
        .args(["--format", "csv"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"SELECT 40 + 2 AS answer;\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "answer\n42\n");
}

#[test]
fn output_file_by_extension_and_atomic() {
    let dir = scratch("output");
    // Each written file reads back (DataFusion's readers know .parquet, .csv and .json).
    for file in ["out.parquet", "out.csv", "out.json"] {
        let (_, err, code) = run(dir.path(), &["-c", "SELECT * FROM customers", "-o", file]);
        assert_eq!(code, 0, "{err}");
        assert!(err.contains("wrote 2000 rows"), "{err}");
        let check = format!("SELECT count(*) AS n FROM '{file}'");
        let (out, err, _) = run(dir.path(), &["-c", &check, "--format", "csv"]);
        assert_eq!(out, "n\n2000\n", "{file}: {err}");
    }
    let (_, err, code) = run(
        dir.path(),
        &["-c", "SELECT * FROM customers", "-o", "out.ndjson"],
    );
    assert_eq!(code, 0, "{err}");
    for file in ["out.json", "out.ndjson"] {
        let text = fs::read_to_string(dir.path().join(file)).unwrap();
        assert_eq!(text.lines().count(), 2000);
        assert!(
            text.lines().all(|l| l.starts_with('{') && l.ends_with('}')),
            "one object per line, as DuckDB writes .json"
        );
    }
    // A failing query leaves neither a file nor a temporary one behind.
    let (_, err, code) = run(
        dir.path(),
        &["-c", "SELECT nope FROM customers", "-o", "bad.parquet"],
    );
    assert_eq!(code, 1, "{err}");
    let leftovers: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .collect();
    assert!(
        !leftovers
            .iter()
            .any(|n| n.to_string_lossy().contains("bad")),
        "{leftovers:?}"
    );
    let (_, err, code) = run(dir.path(), &["-c", "SELECT 1", "-o", "out.xlsx"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("cannot tell the format from the extension"),
        "{err}"
    );
}

#[test]
fn broken_pipe_exits_quietly() {
    let dir = scratch("pipe");
    let bin = env!("CARGO_BIN_EXE_persona");
    let out = std::process::Command::new("bash")
        .current_dir(dir.path())
        .arg("-c")
        .arg(format!("'{bin}' --format csv -c 'SELECT * FROM generate_series(1, 2000000)' | head -n 2; echo \"exit=${{PIPESTATUS[0]}}\""))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout, "value\n1\nexit=0\n");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "",
        "no message for a closed pipe"
    );
}

#[test]
fn unknown_table_and_column_are_named() {
    let dir = scratch("unknown");
    let (_, err, code) = run(dir.path(), &["-c", "SELECT * FROM custmers"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("custmers") && err.contains("not found"),
        "{err}"
    );
    let (_, err, code) = run(dir.path(), &["-c", "SELECT cty FROM customers"]);
    assert_eq!(code, 1);
    assert!(err.contains("cty"), "{err}");
    assert!(
        !err.contains("Backtrace") && !err.contains("panicked"),
        "{err}"
    );
}

#[test]
fn missing_or_directory_script_is_a_usage_error() {
    let dir = scratch("missing");
    let (_, err, code) = run(dir.path(), &["-f", "nope.sql"]);
    assert_eq!(
        (err.trim(), code),
        ("error: nope.sql: no such file or directory", 2)
    );
    fs::create_dir(dir.path().join("adir")).unwrap();
    let (_, err, code) = run(dir.path(), &["-f", "adir"]);
    assert_eq!(
        (err.trim(), code),
        ("error: adir: is a directory, expected a SQL file", 2)
    );
}

#[test]
fn bad_options_exit_2() {
    let dir = scratch("options");
    let (_, err, code) = run(dir.path(), &["--format", "xml", "-c", "SELECT 1"]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown format 'xml'"), "{err}");
    let (_, err, code) = run(dir.path(), &["--memory-limit", "lots", "-c", "SELECT 1"]);
    assert_eq!(code, 2);
    assert!(err.contains("not a size"), "{err}");
    let (_, err, code) = run(dir.path(), &["--as-of", "2024-02-30", "-c", "SELECT 1"]);
    assert_eq!(code, 2);
    assert!(err.contains("--as-of must be a date"), "{err}");
}

#[test]
fn as_of_flag_sets_the_session_date() {
    let dir = scratch("asof");
    let (out, _, _) = run(
        dir.path(),
        &[
            "--as-of",
            "2024-06-30",
            "--format",
            "csv",
            "-c",
            "SELECT as_of() AS d",
        ],
    );
    assert_eq!(out, "d\n2024-06-30\n");
}

/// A project with the given persona.toml and files.
fn project(name: &str, toml: &str, files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let dir = scratch(name);
    fs::write(dir.path().join("persona.toml"), toml).unwrap();
    for (path, bytes) in files {
        let p = dir.path().join(path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, bytes).unwrap();
    }
    dir
}

#[test]
fn bad_persona_toml_names_key_and_line() {
    let dir = project(
        "toml",
        "[project]\nname = \"x\"\nmemroy_limit = \"4GB\"\n",
        &[],
    );
    let (_, err, code) = run(dir.path(), &["-c", "SELECT 1"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("persona.toml: line 3, column 1: unknown field `memroy_limit`"),
        "{err}"
    );
    let dir = project(
        "toml-type",
        "[[source]]\nname = \"o\"\npath = \"o.csv\"\nformat = 7\n",
        &[],
    );
    let (_, err, code) = run(dir.path(), &["-c", "SELECT 1"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("line 4") && err.contains("invalid type: integer `7`"),
        "{err}"
    );
    let dir = project(
        "toml-format",
        "[[source]]\nname = \"o\"\npath = \"o.csv\"\nformat = \"xlsx\"\n",
        &[],
    );
    let (_, err, code) = run(dir.path(), &["-c", "SELECT 1"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("line 4") && err.contains("unknown format 'xlsx'"),
        "{err}"
    );
    let dir = project(
        "toml-path",
        "[[source]]\nname = \"o\"\nformat = \"csv\"\n",
        &[],
    );
    let (_, err, code) = run(dir.path(), &["-c", "SELECT 1"]);
    assert_eq!(code, 2);
    assert!(err.contains("missing field `path`"), "{err}");
}

#[test]
fn project_sources_of_every_format_load() {
    let toml = r#"
[project]
as_of = "2024-01-31"

[[source]]
name = "a_csv"
path = "data/a.csv"
format = "csv"

[[source]]
name = "a_tsv"
path = "data/a.tsv"
format = "tsv"

[[source]]
name = "semi"
path = "data/semi.txt"
format = "csv"
options = { delimiter = ";", header = false }

[[source]]
name = "lines"
path = "data/lines.ndjson"
format = "ndjson"

[[source]]
name = "arr"
path = "data/arr.json"
format = "json"

[[source]]
name = "many"
path = "data/part-*.csv"
format = "csv"
"#;
    let dir = project(
        "formats",
        toml,
        &[
            ("data/a.csv", b"id,name\n1,x\n2,y\n"),
            ("data/a.tsv", b"id\tname\n1\tx\n"),
            ("data/semi.txt", b"1;x\n2;y\n3;z\n"),
            ("data/lines.ndjson", b"{\"id\":1}\n{\"id\":2}\n"),
            ("data/arr.json", b"[{\"id\":1},{\"id\":2},{\"id\":3}]"),
            ("data/part-1.csv", b"id\n1\n"),
            ("data/part-2.csv", b"id\n2\n"),
        ],
    );
    let q = "SELECT (SELECT count(*) FROM a_csv) AS c, (SELECT count(*) FROM a_tsv) AS t, (SELECT count(*) FROM semi) AS s, \
             (SELECT count(*) FROM lines) AS l, (SELECT count(*) FROM arr) AS a, (SELECT count(*) FROM many) AS m, as_of() AS d";
    let (out, err, code) = run(dir.path(), &["--format", "csv", "-c", q]);
    assert_eq!(
        (out.as_str(), code),
        ("c,t,s,l,a,m,d\n2,1,3,2,3,2,2024-01-31\n", 0),
        "{err}"
    );
}

#[test]
fn broken_sources_are_reported_and_the_rest_still_load() {
    let toml = r#"
[[source]]
name = "good"
path = "good.csv"
format = "csv"

[[source]]
name = "gone"
path = "missing/*.csv"
format = "csv"

[[source]]
name = "corrupt"
path = "corrupt.parquet"
format = "parquet"

[[source]]
name = "ragged"
path = "ragged.csv"
format = "csv"
"#;
    let dir = project(
        "broken",
        toml,
        &[
            ("good.csv", b"id\n1\n"),
            ("corrupt.parquet", b"PAR1 this is not really parquet"),
            ("ragged.csv", b"a,b\n1,2\n3,4,5\n6,7\n"),
        ],
    );
    let (out, err, code) = run(
        dir.path(),
        &["--format", "csv", "-c", "SELECT count(*) AS n FROM good"],
    );
    assert_eq!((out.as_str(), code), ("n\n1\n", 0), "{err}");
    assert!(
        err.contains("warning: source 'gone' (missing/*.csv): no file matches this pattern"),
        "{err}"
    );
    assert!(
        err.contains("warning: source 'corrupt' (corrupt.parquet):"),
        "{err}"
    );
    let (_, err, code) = run(dir.path(), &["-c", "SELECT * FROM ragged"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("-c:1:") && err.to_lowercase().contains("line"),
        "names where: {err}"
    );
}

#[test]
fn broken_project_view_is_reported_with_file_and_line_and_others_load() {
    let dir = project(
        "views",
        "[project]\nas_of = \"2024-01-01\"\n",
        &[
            ("sql/01_good.sql", b"-- fine\nCREATE VIEW one AS SELECT 1 AS x;\n"),
            ("sql/02_bad.sql", b"CREATE VIEW ok2 AS SELECT 2 AS y;\n\n\nCREATE VIEW broken AS SELECT nope FROM nowhere;\n"),
            ("sql/03_after.sql", b"CREATE VIEW three AS SELECT x + 2 AS z FROM one;\n"),
        ],
    );
    let (out, err, code) = run(
        dir.path(),
        &[
            "--format",
            "csv",
            "-c",
            "SELECT x, y, z FROM one, ok2, three",
        ],
    );
    assert_eq!((out.as_str(), code), ("x,y,z\n1,2,3\n", 0), "{err}");
    assert!(err.contains("sql/02_bad.sql:4: "), "{err}");
    assert!(err.contains("nowhere"), "{err}");
}

#[test]
fn not_a_project_directory() {
    let dir = scratch("noproject");
    let (_, err, code) = run(dir.path(), &["--project", "nowhere", "-c", "SELECT 1"]);
    assert_eq!(
        (err.trim(), code),
        ("error: nowhere: no such project directory", 2)
    );
    let (_, err, code) = run(dir.path(), &["--project", ".", "-c", "SELECT 1"]);
    assert_eq!(code, 2);
    assert!(err.contains("persona.toml: not found"), "{err}");
}

#[test]
fn a_project_of_other_shapes_can_leave_the_built_in_views_out() {
    let d = scratch("no-builtin");
    fs::write(d.path().join("orders.csv"), "id,total\n1,2.5\n").unwrap();
    let toml = "[[source]]\nname = \"orders\"\npath = \"orders.csv\"\nformat = \"csv\"\n";
    fs::write(d.path().join("persona.toml"), toml).unwrap();
    // The built-in views expect persona's columns: a run that needs the views says which it
    // could not load; one that reads only sources loads none and has nothing to say.
    let (_, err, code) = run(d.path(), &["-q", "-c", "SELECT * FROM customer_rfm"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("built-in views are not loaded"), "{err}");
    let csv = |sql: &str| run(d.path(), &["-q", "--format", "csv", "-c", sql]);
    let (out, err, code) = csv("SELECT count(*) AS n FROM orders");
    assert_eq!((code, err.as_str(), out.trim_end()), (0, "", "n\n1"));

    let toml = format!("[project]\nbuiltin_views = false\n\n{toml}");
    fs::write(d.path().join("persona.toml"), toml).unwrap();
    let (out, err, code) = csv("SELECT sum(total) AS t FROM orders");
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(out, "t\n2.5\n");
    let (_, err, code) = run(d.path(), &["-q", "-c", "SELECT * FROM customer_rfm"]);
    assert_eq!(code, 1);
    assert!(err.contains("customer_rfm"), "{err}");
}

/// Two nested loop joins over the memory limit panicked a task with "partition not used yet"
/// (DataFusion's spill fallback ran a repartition below the build side twice): now a plain
/// out-of-memory error and exit code 1.
#[test]
fn nested_loop_joins_over_the_memory_limit_do_not_panic() {
    let dir = crate::sample_copy("cli-nested-loops");
    let (_, err, code) = run(
        dir.path(),
        &["--memory-limit", "64MB", "-c", crate::serve::NESTED_LOOPS],
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("Resources exhausted") && !err.contains("panic") && !err.contains("internal"),
        "{err}"
    );
}
