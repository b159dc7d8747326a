//! The shell through a pseudo-terminal, as a person uses it.

use rexpect::session::spawn_command;

use crate::{persona, scratch};

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
    p.send_line("\\d customers").unwrap();
    p.exp_string("customer_id").unwrap();
    p.exp_string("signup_channel").unwrap();
    p.exp_string("persona> ").unwrap();
    // Mistakes keep the shell running.
    p.send_line("\\nope").unwrap();
    p.exp_string("unknown command").unwrap();
    p.send_line("SELEC 1;").unwrap();
    p.exp_string("error:").unwrap();
    p.send_line("SELECT * FROM nowhere;").unwrap();
    p.exp_string("nowhere").unwrap();
    p.send_line("\\h as_of").unwrap();
    p.exp_string("Syntax:").unwrap();
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
    p.send_line(".mode csv").unwrap();
    p.exp_string("format csv").unwrap();
    p.send_line("SELECT 7 AS seven;").unwrap();
    p.exp_string("seven").unwrap();
    p.exp_string("7").unwrap();
    p.send_line(".tables").unwrap();
    p.exp_string("orders").unwrap();
    p.send_line("\\x on").unwrap();
    p.exp_string("expanded display on").unwrap();
    p.send_line("SELECT 1 AS a, 2 AS b;").unwrap();
    p.exp_string("RECORD 1").unwrap();
    p.send_line(".quit").unwrap();
    p.exp_eof().unwrap();
}
