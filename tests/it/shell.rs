//! The shell through a pseudo-terminal, as a person uses it.

use rexpect::session::spawn_command;

use rexpect::session::PtySession;

use crate::{persona, scratch};

/// Types `line`, waits for `expected` in the output and then for the next prompt: keys typed
/// before the prompt would be discarded when the line editor takes the terminal.
fn step(p: &mut PtySession, line: &str, expected: &str) {
    p.send_line(line).unwrap();
    p.exp_string(expected).unwrap();
    p.exp_string("persona> ").unwrap();
}

#[test]
fn multi_line_query_tab_completion_describe_and_quit() {
    let dir = scratch("shell");
    let mut cmd = persona(dir.path());
    cmd.args(["--history-file", "history.txt"])
        .env("TERM", "xterm");
    let mut p = spawn_command(cmd, Some(30_000)).expect("the shell starts");
    p.exp_string("persona> ").unwrap();
    // A statement over two lines: the first line alone does not run.
    p.send_line("SELECT count(*) AS n").unwrap();
    p.send("FROM stg_cust").unwrap();
    p.send("\t").unwrap();
    p.flush().unwrap();
    p.exp_string("stg_customers").unwrap();
    p.send_line(";").unwrap();
    p.exp_string("2000").unwrap();
    p.exp_string("1 row").unwrap();
    p.exp_string("persona> ").unwrap();
    step(&mut p, "\\d customers", "signup_channel");
    // Mistakes keep the shell running.
    step(&mut p, "\\nope", "unknown command");
    step(&mut p, "SELEC 1;", "syntax error");
    step(&mut p, "SELECT * FROM nowhere;", "not found");
    step(&mut p, "\\h as_of", "Syntax:");
    p.send_line("\\q").unwrap();
    p.exp_eof().unwrap();
    let history = std::fs::read_to_string(dir.path().join("history.txt")).unwrap();
    assert!(history.contains("\\d customers"), "{history}");
}

#[test]
fn ctrl_c_cancels_the_query_not_the_shell() {
    let dir = scratch("shell-cancel");
    let mut cmd = persona(dir.path());
    cmd.args(["--history-file", "h.txt"]).env("TERM", "xterm");
    let mut p = spawn_command(cmd, Some(30_000)).expect("the shell starts");
    p.exp_string("persona> ").unwrap();
    p.send_line("SELECT count(*) FROM generate_series(1, 100000000000) a;")
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    p.send_control('c').unwrap();
    p.exp_string("cancelled").unwrap();
    p.exp_string("persona> ").unwrap();
    p.send_line("SELECT 41 + 1 AS answer;").unwrap();
    p.exp_string("42").unwrap();
    // Ctrl-D only once the prompt is back: the line editor drops keys typed before it reads.
    p.exp_string("persona> ").unwrap();
    p.send_control('d').unwrap();
    p.exp_eof().unwrap();
}

#[test]
fn duckdb_dot_commands_and_formats() {
    let dir = scratch("shell-dot");
    let mut cmd = persona(dir.path());
    cmd.args(["--history-file", "h.txt"]).env("TERM", "xterm");
    let mut p = spawn_command(cmd, Some(30_000)).expect("the shell starts");
    p.exp_string("persona> ").unwrap();
    step(&mut p, ".mode csv", "format csv");
    step(&mut p, "SELECT 7 AS seven;", "seven\r\n7");
    step(&mut p, ".tables", "orders");
    step(&mut p, "\\x on", "expanded display on");
    step(&mut p, "SELECT 1 AS a, 2 AS b;", "RECORD 1");
    p.send_line(".quit").unwrap();
    p.exp_eof().unwrap();
}

#[test]
fn output_file_include_listings_and_timing() {
    let dir = scratch("shell-meta");
    std::fs::write(
        dir.path().join("q.sql"),
        "SELECT 'from a file' AS source;\n",
    )
    .unwrap();
    let mut cmd = persona(dir.path());
    cmd.args(["--history-file", "h.txt"]).env("TERM", "xterm");
    let mut p = spawn_command(cmd, Some(30_000)).expect("the shell starts");
    p.exp_string("persona> ").unwrap();
    step(&mut p, "\\i q.sql", "from a file");
    step(&mut p, "\\dv", "customer_orders");
    step(&mut p, "\\dt", "campaign_contacts");
    step(&mut p, "\\df bgnbd_*", "bgnbd_p_alive");
    step(&mut p, "\\timing off", "timing off");
    step(&mut p, "\\o out.txt", "results go to out.txt");
    // Nothing shows on screen now: wait until the result is in the file.
    p.send_line("SELECT 'kept' AS word;").unwrap();
    let out_path = dir.path().join("out.txt");
    let waited = std::time::Instant::now();
    while !std::fs::read_to_string(&out_path)
        .unwrap_or_default()
        .contains("1 row")
    {
        assert!(
            waited.elapsed().as_secs() < 20,
            "the result never reached out.txt"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    step(&mut p, "\\o", "results go to the screen again");
    p.send_line("\\q").unwrap();
    p.exp_eof().unwrap();
    let out = std::fs::read_to_string(dir.path().join("out.txt")).unwrap();
    assert!(
        out.contains("kept") && out.contains("1 row") && !out.contains(" s\n"),
        "{out}"
    );
}

#[test]
fn results_taller_than_the_screen_go_through_the_pager() {
    let dir = scratch("shell-pager");
    // A pseudo-terminal starts with no size; give it 24 rows as a terminal window has.
    let mut cmd = std::process::Command::new("sh");
    cmd.current_dir(dir.path())
        .args([
            "-c",
            "stty rows 24 cols 100 && exec \"$0\" --history-file h.txt",
            env!("CARGO_BIN_EXE_persona"),
        ])
        .env("TERM", "xterm")
        .env("PERSONA_PAGER", "sed s/^/PAGED:/");
    let mut p = spawn_command(cmd, Some(30_000)).expect("the shell starts");
    p.exp_string("persona> ").unwrap();
    step(&mut p, "SELECT 1 AS short;", "1 row");
    step(
        &mut p,
        "SELECT * FROM generate_series(1, 100);",
        "PAGED:100 rows (40 shown)",
    );
    p.send_line("\\q").unwrap();
    p.exp_eof().unwrap();
}

#[test]
fn chart_draws_the_last_result_in_the_terminal() {
    let dir = scratch("shell-chart");
    let mut cmd = persona(dir.path());
    cmd.args(["--history-file", "history.txt"])
        .env("TERM", "xterm")
        .env("COLUMNS", "100");
    let mut p = spawn_command(cmd, Some(30_000)).expect("the shell starts");
    p.exp_string("persona> ").unwrap();
    step(
        &mut p,
        "\\chart bar",
        "no result to chart yet; run a query first",
    );
    p.send_line("SET persona.lang = 'en';").unwrap();
    p.exp_string("persona> ").unwrap();
    step(
        &mut p,
        "SELECT tier, count(*) AS customers FROM customer_segments GROUP BY tier ORDER BY customers DESC;",
        "4 rows",
    );
    p.send_line("\\chart bar").unwrap();
    p.exp_string("customers by tier").unwrap();
    // The largest tier has the longest bar, and every bar ends in its value.
    p.exp_string("Potential").unwrap();
    p.exp_string(&as_pty_text("████")).unwrap();
    p.exp_string(" 972").unwrap();
    p.exp_string("persona> ").unwrap();
    step(
        &mut p,
        "\\chart pie",
        "\\chart takes bar or line, got 'pie'",
    );
    step(
        &mut p,
        "SELECT CAST(month AS VARCHAR) AS month, churn_rate FROM churn_rate_monthly ORDER BY month;",
        "rows",
    );
    p.send_line("\\chart line").unwrap();
    p.exp_string("churn_rate by month").unwrap();
    p.exp_string(&as_pty_text("x: 2022-01-01 … 2024-12-01"))
        .unwrap();
    p.exp_string("persona> ").unwrap();
    step(&mut p, "SELECT 'a' AS x, 'b' AS y;", "1 row");
    step(&mut p, "\\chart bar", "needs a numeric value column");
    p.send_line("\\q").unwrap();
    p.exp_eof().unwrap();
}

/// `text` as rexpect sees it: it reads the terminal byte by byte, one char per byte.
fn as_pty_text(text: &str) -> String {
    text.bytes().map(char::from).collect()
}
