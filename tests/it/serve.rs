//! `persona serve` with real PostgreSQL clients: psql (Debian's postgresql-client), psycopg
//! and SQLAlchemy (PyPI, in the Python `PERSONA_TEST_PYTHON` names), and the PostgreSQL JDBC
//! driver (Debian's libpostgresql-jdbc-java). `.ci/run` installs them all.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::{persona, root, run, sample_copy};

/// A running server, stopped when dropped.
pub(crate) struct Server {
    child: Child,
    pub(crate) port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `persona serve` in `project` and waits until it listens.
pub(crate) fn start(project: &Path, extra: &[&str]) -> Server {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut child = persona(project)
        .args(["serve", "--listen", &listen])
        .args(extra)
        .env("PERSONA_TEST_PW", "s3cret pass")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("persona serve starts");
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    // Warnings about the project may come first.
    let mut seen = Vec::new();
    loop {
        match lines.next().and_then(|l| l.ok()) {
            Some(line) if line.contains("listening on") => break,
            Some(line) if seen.len() < 20 => seen.push(line),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the server did not start: {}", seen.join("\n"));
            }
        }
    }
    // Keep draining stderr so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Server { child, port }
}

pub(crate) fn psql(port: u16, user: &str, password: &str, sql: &str) -> (String, String, i32) {
    psql_ssl(port, user, password, sql, "disable")
}

/// psql with an sslmode (`disable`, `require`); returns (stdout, stderr, exit code).
fn psql_ssl(port: u16, user: &str, password: &str, sql: &str, ssl: &str) -> (String, String, i32) {
    let out = psql_command(port, user, password, ssl, &["-c", sql]);
    (
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
        String::from_utf8_lossy(&out.stderr).trim().to_string(),
        out.status.code().unwrap_or(-1),
    )
}

/// psql as a passwordless user with psql `args` (`-v …`, `-c …`, `-f …`); returns (stdout,
/// stderr, whether it succeeded).
fn psql_args(port: u16, args: &[&str]) -> (String, String, bool) {
    let out = psql_command(port, "anyone", "", "disable", args);
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.success(),
    )
}

fn psql_command(
    port: u16,
    user: &str,
    password: &str,
    ssl: &str,
    args: &[&str],
) -> std::process::Output {
    Command::new("psql")
        .arg(format!(
            "host=127.0.0.1 port={port} user={user} dbname=persona sslmode={ssl} connect_timeout=10"
        ))
        .args(["-X", "-At"])
        .args(args)
        .env("PGPASSWORD", password)
        .output()
        .expect("psql runs (install Debian's postgresql-client; .ci/run does)")
}

/// The server still answers an ordinary query after an attack.
fn still_answers(port: u16) {
    let (out, err, code) = psql(port, "anyone", "", "SELECT count(*) FROM campaigns");
    assert_eq!(
        (out.as_str(), code),
        ("8", 0),
        "the server still answers: {err}"
    );
}

/// Runs a test client (a script of `tests/it/clients/` under `PERSONA_TEST_PYTHON`, or a
/// command); fails the test with its output unless it succeeds; returns its standard output.
fn client_output(mut cmd: Command) -> String {
    let out = cmd.output().expect("the client runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{} (.ci/run installs the clients: psycopg and SQLAlchemy in PERSONA_TEST_PYTHON, a JDK and the JDBC driver)",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// `python tests/it/clients/SCRIPT ARGS…` with the tests' Python.
fn python_client(script: &str, args: &[&str]) -> String {
    let python = std::env::var("PERSONA_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let mut cmd = Command::new(python);
    cmd.arg(root().join("tests/it/clients").join(script))
        .args(args);
    client_output(cmd)
}

/// A project copy with two users: one with the password in the environment, one with a
/// password hash made by `persona hash-password`.
fn project() -> tempfile::TempDir {
    let dir = sample_copy("serve");
    let mut hasher = persona(dir.path())
        .arg("hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    hasher
        .stdin
        .take()
        .unwrap()
        .write_all(b"bi tool secret\n")
        .unwrap();
    let out = hasher.wait_with_output().unwrap();
    let hash = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(hash.starts_with("SCRAM-SHA-256$4096:"), "{hash}");
    let toml = dir.path().join("persona.toml");
    let mut text = std::fs::read_to_string(&toml).unwrap();
    text.push_str(&format!(
        "\n[settings]\n\"persona.lang\" = \"en\"\n\n[[user]]\nname = \"analyst\"\npassword_env = \"PERSONA_TEST_PW\"\n\n[[user]]\nname = \"bi\"\npassword_hash = \"{hash}\"\n"
    ));
    std::fs::write(&toml, text).unwrap();
    dir
}

#[test]
fn psql_authenticates_with_scram_and_the_server_is_read_only() {
    let dir = project();
    let server = start(dir.path(), &[]);
    let port = server.port;
    let analyst = |sql: &str| psql(port, "analyst", "s3cret pass", sql);

    let (out, err, code) = analyst("SELECT count(*) FROM customers");
    assert_eq!((out.as_str(), code), ("2000", 0), "{err}");
    let (out, err, code) = psql(
        port,
        "bi",
        "bi tool secret",
        "SELECT count(*) FROM customer_360",
    );
    assert_eq!((out.as_str(), code), ("2000", 0), "{err}");

    // Wrong password, missing user: refused with PostgreSQL's own words.
    let (_, err, code) = psql(port, "analyst", "wrong", "SELECT 1");
    assert_eq!(code, 2);
    assert!(
        err.contains("password authentication failed for user \"analyst\""),
        "{err}"
    );
    let (_, err, code) = psql(port, "nobody", "s3cret pass", "SELECT 1");
    assert_eq!(code, 2);
    assert!(
        err.contains("password authentication failed for user \"nobody\""),
        "{err}"
    );

    // Writes are refused; reads still work on the same connection afterwards.
    for sql in [
        "CREATE TABLE t AS SELECT 1",
        "DROP VIEW customer_360",
        "COPY (SELECT 1) TO '/tmp/persona-serve-copy.csv'",
        "INSERT INTO campaigns VALUES (99, 'x', 'x', 'x', DATE '2024-01-01', DATE '2024-01-02')",
        "SET datafusion.execution.batch_size = 10",
    ] {
        let (_, err, code) = analyst(sql);
        assert_eq!(code, 1, "{sql}: {err}");
        assert!(
            err.contains("read-only server") && err.contains("--allow-write"),
            "{sql}: {err}"
        );
    }
    assert!(!Path::new("/tmp/persona-serve-copy.csv").exists());

    // The catalogue answers psql's \dv and \d.
    let (out, err, code) = analyst("\\dv");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("|customer_360|view|"), "{out}");
    let (out, err, code) = analyst("\\d segment_kpis");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("revenue_share|double precision"), "{out}");
    // LIKE with an escape other than the backslash (which DataFusion alone runs) still works.
    let (out, err, code) = analyst(
        "SELECT 'a_b' LIKE 'a!_b' ESCAPE '!', 'axb' LIKE 'a!_b' ESCAPE '!', 'a\\%' LIKE 'a\\#%' ESCAPE '#'",
    );
    assert_eq!((out.as_str(), code), ("t|f|t", 0), "{err}");
    // Persona's functions, views and settings are all there.
    let (out, err, code) = analyst(
        "SELECT tier, count(*) FROM customer_segments GROUP BY tier ORDER BY 2 DESC LIMIT 1",
    );
    assert_eq!((out.as_str(), code), ("Potential|972", 0), "{err}");
}

#[test]
fn python_and_jdbc_clients_list_views_and_bind_parameters() {
    let dir = project();
    let server = start(dir.path(), &[]);
    let port = server.port.to_string();

    let text = python_client("clients.py", &[&port, "analyst", "s3cret pass"]);
    assert!(text.contains("psycopg_count: 963\n"), "{text}");
    assert!(text.contains("psycopg_masked: "), "{text}");
    assert!(
        text.contains("psycopg_write: 25006 ReadOnlySqlTransaction\n"),
        "{text}"
    );
    assert!(
        text.contains(" True True\n") && text.contains("sqlalchemy_views: "),
        "{text}"
    );
    assert!(text.contains("sqlalchemy_count: 298\n"), "{text}");
    assert!(text.contains("sqlalchemy_schemas: ['public']\n"), "{text}");
    assert!(text.contains("sqlalchemy_tables: True\n"), "{text}");
    assert!(
        text.contains(
            "sqlalchemy_columns: 42 customer_id:BIGINT:False name:TEXT:False gender:TEXT:True\n"
        ),
        "{text}"
    );

    // JDBC: compile the small client against Debian's driver and run it.
    let jar = PathBuf::from("/usr/share/java/postgresql.jar");
    assert!(
        jar.exists(),
        "install Debian's libpostgresql-jdbc-java (.ci/run does)"
    );
    let build = super::scratch("jdbc");
    let status = Command::new("javac")
        .args(["-d"])
        .arg(build.path())
        .arg(root().join("tests/it/clients/Jdbc.java"))
        .status()
        .expect("javac runs");
    assert!(status.success());
    let mut java = Command::new("java");
    java.arg("-cp")
        .arg(format!("{}:{}", jar.display(), build.path().display()))
        .args(["Jdbc", &port, "bi", "bi tool secret"]);
    let text = client_output(java);
    assert!(
        text.contains("jdbc_views: ") && text.contains(" true\n"),
        "{text}"
    );
    assert!(text.contains("jdbc_count: 963\n"), "{text}");
}

/// Attack 6: a `[[user]]` whose `password_env` names an empty variable started and accepted
/// an empty password over SCRAM; now the server does not start and says why.
#[test]
fn attack_6_empty_password_env_refused() {
    let dir = project();
    let mut child = persona(dir.path())
        .args(["serve", "--listen", &format!("127.0.0.1:{}", free_port())])
        .env("PERSONA_TEST_PW", "")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A server that starts anyway would run until killed.
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > std::time::Duration::from_secs(20) {
            let _ = child.kill();
            panic!("the server started with an empty password");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(
            "user 'analyst': the environment variable PERSONA_TEST_PW holding the password is empty"
        ),
        "{err}"
    );
}

/// Attack 7: `SELECT rolname FROM pg_catalog.pg_roles` (DBeaver and pgAdmin read it) overflowed
/// a worker's stack and aborted the server, dropping every client.
#[test]
fn attack_7_pg_roles_does_not_abort_the_server() {
    let dir = sample_copy("serve-pg-roles");
    let server = start(dir.path(), &["--no-auth"]);
    for sql in [
        "SELECT rolname FROM pg_catalog.pg_roles",
        "SELECT * FROM pg_roles",
    ] {
        let (out, err, code) = psql(server.port, "anyone", "", sql);
        assert_eq!((out.as_str(), code), ("", 0), "{sql}: {err}");
    }
    still_answers(server.port);
}

/// Attack 12: two nested loop joins over the memory limit panicked a task ("partition not
/// used yet": DataFusion's spill fallback ran a repartition twice). The query now fails alone
/// with SQLSTATE 53200 and the server answers the next one.
#[test]
fn attack_12_nested_loop_joins_over_the_limit_fail_alone() {
    let dir = sample_copy("serve-nested-loops");
    let server = start(dir.path(), &["--no-auth", "--memory-limit", "64MB"]);
    let (_, err, ok) = psql_args(
        server.port,
        &["-v", "VERBOSITY=verbose", "-c", NESTED_LOOPS],
    );
    assert!(!ok, "{err}");
    assert!(
        err.contains("53200") && err.contains("Resources exhausted") && !err.contains("panic"),
        "{err}"
    );
    still_answers(server.port);
}

/// Attack 4: `SET timezone` on one connection changed `datafusion.execution.time_zone` for
/// every client. Now the time zone is the connection's own; a bad one is refused (22023).
#[test]
fn attack_4_set_timezone_stays_in_its_connection() {
    let dir = sample_copy("serve-set-timezone");
    let server = start(dir.path(), &["--no-auth"]);
    let (text, err, ok) = psql_args(
        server.port,
        &[
            "-c",
            "SET timezone = 'America/New_York'",
            "-c",
            "SHOW timezone",
        ],
    );
    assert!(ok && text.contains("America/New_York"), "{text} {err}");
    for sql in ["SHOW timezone", "SHOW datafusion.execution.time_zone"] {
        let (out, err, code) = psql(server.port, "b", "", sql);
        assert!(
            code == 0 && !out.contains("New_York"),
            "{sql}: another connection sees {out:?} {err}"
        );
    }
    let (_, err, code) = psql(server.port, "b", "", "SET TIME ZONE 'Mars/Base'");
    assert!(code != 0 && err.contains("invalid value"), "{err}");
}

/// Attack 9: `SELECT 1+1+…+1` with 20,000 terms kept a worker planning for minutes. Now
/// refused at once as too complex (54001), and a statement over 1 MiB as too long (54000).
#[test]
fn attack_9_deep_and_huge_statements_refused() {
    let dir = sample_copy("serve-deep");
    let server = start(dir.path(), &["--no-auth"]);
    let deep = format!("SELECT {}1", "1+".repeat(20_000));
    let (_, err, code) = psql(server.port, "a", "", &deep);
    assert!(code != 0 && err.contains("too complex"), "{err}");
    // Over the command line's limit: psql reads it from a file.
    let huge = dir.path().join("huge.sql");
    std::fs::write(&huge, format!("SELECT 1 -- {}\n;", "x".repeat(2 << 20))).unwrap();
    let huge = huge.to_string_lossy();
    let (_, err, ok) = psql_args(server.port, &["-v", "ON_ERROR_STOP=1", "-f", &huge]);
    assert!(!ok && err.contains("too long"), "{err}");
    // Nesting that would overflow a stack stops at the parser's recursion limit.
    let parens = format!("SELECT {}1{}", "(".repeat(10_000), ")".repeat(10_000));
    let (_, err, code) = psql(server.port, "a", "", &parens);
    assert!(code != 0 && err.contains("recursion limit"), "{err}");
    // Real queries nest far less: 400 terms still run.
    let (out, err, code) = psql(
        server.port,
        "a",
        "",
        &format!("SELECT {}1", "1+".repeat(400)),
    );
    assert_eq!((out.as_str(), code), ("401", 0), "{err}");
}

/// Attack 11: at the connection limit a cancel request was refused as one client too many,
/// so the query it was meant to stop ran on. Now it is answered and the query stops.
#[test]
fn attack_11_cancel_works_at_the_connection_limit() {
    let dir = sample_copy("serve-cancel-at-limit");
    let server = start(dir.path(), &["--no-auth", "--max-connections", "1"]);
    let text = python_client(
        "clients.py",
        &[&server.port.to_string(), "anyone", "", "cancel"],
    );
    assert!(
        text.contains("cancel: 57014 QueryCanceled True\n"),
        "{text}"
    );
    assert!(text.contains("after_cancel: 42\n"), "{text}");
}

/// `require_tls = true`: a plaintext client is refused (28000) while TLS clients are served;
/// without a certificate the setting stops the server before it listens.
#[test]
fn require_tls_refuses_plaintext() {
    let dir = secured_project();
    let toml = dir.path().join("persona.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    std::fs::write(&toml, format!("{text}require_tls = true\n")).unwrap();
    let server = start(dir.path(), &[]);
    let (_, err, code) = psql_ssl(server.port, "analyst", "s3cret pass", "SELECT 1", "disable");
    assert!(code != 0 && err.contains("only TLS"), "{err}");
    let (out, err, code) = psql_ssl(server.port, "analyst", "s3cret pass", "SELECT 1", "require");
    assert_eq!((out.as_str(), code), ("1", 0), "{err}");
    drop(server);
    let no_cert = project();
    let toml = no_cert.path().join("persona.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    std::fs::write(&toml, format!("{text}\n[serve]\nrequire_tls = true\n")).unwrap();
    let (_, err, code) = run(no_cert.path(), &["serve", "--listen", "127.0.0.1:1"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("require_tls = true needs tls_cert and tls_key"),
        "{err}"
    );
}

/// `[serve] allow_locations`: files by path are tables again, but only under the folders
/// listed; a path that climbs out with `..` or a link out of the folder is still "not found".
#[test]
fn allow_locations_opens_only_the_listed_folders() {
    let dir = sample_copy("serve-allow-locations");
    let shared = dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::write(shared.join("ok.csv"), "n\n42\n").unwrap();
    let secret = dir.path().join("secret.csv");
    std::fs::write(&secret, "token\nhunter2\n").unwrap();
    std::os::unix::fs::symlink(&secret, shared.join("link.csv")).unwrap();
    let toml = dir.path().join("persona.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    std::fs::write(
        &toml,
        format!("{text}\n[serve]\nallow_locations = [\"shared\"]\n"),
    )
    .unwrap();
    let server = start(dir.path(), &["--no-auth"]);
    let (out, err, code) = psql(
        server.port,
        "anyone",
        "",
        &format!("SELECT n FROM '{}'", shared.join("ok.csv").display()),
    );
    assert_eq!((out.as_str(), code), ("42", 0), "{err}");
    for path in [
        secret.display().to_string(),
        format!("{}/../secret.csv", shared.display()),
        shared.join("link.csv").display().to_string(),
    ] {
        let (out, err, code) = psql(
            server.port,
            "anyone",
            "",
            &format!("SELECT * FROM '{path}'"),
        );
        assert!(code != 0 && !out.contains("hunter2"), "{path}: {out}{err}");
    }
}

/// Attack 8: a cross join's rows, gathered before they are sent, grew the server to 5.1 GB
/// under `--memory-limit 512MB` until an allocation failed and every client was dropped. The
/// gathered rows are charged to the memory pool: the query fails alone (53200), the process
/// stays near its limit, and the next query is answered.
#[test]
fn attack_8_cross_join_fails_alone_under_the_memory_limit() {
    let dir = sample_copy("serve-cross-join");
    let server = start(dir.path(), &["--no-auth", "--memory-limit", "256MB"]);
    let cross_join = "SELECT a.*, b.* FROM events a CROSS JOIN events b";
    let (_, err, ok) = psql_args(
        server.port,
        &[
            "-v",
            "VERBOSITY=verbose",
            "-o",
            "/dev/null",
            "-c",
            cross_join,
        ],
    );
    assert!(
        !ok && err.contains("53200") && err.contains("Resources exhausted"),
        "{err}"
    );
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", server.child.id())).unwrap_or_default();
    let peak_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    // The documented margin over the limit is 1 GB; 5.1 GB before the fix.
    assert!(peak_kb < (256 + 1024) * 1024, "peak {peak_kb} kB");
    still_answers(server.port);
}

/// Attack 12's query: a nested loop join whose build side is another one.
pub(crate) const NESTED_LOOPS: &str = "SELECT count(*) FROM events a, events b, customers c \
    WHERE a.event_ts < b.event_ts AND c.customer_id > a.customer_id";

/// Attacks 1 to 3: `EXPLAIN ANALYZE COPY … TO` wrote a file, `EXPLAIN ANALYZE INSERT` added a
/// Parquet file to a source's folder, `SELECT … INTO` created a table every client saw. A
/// read-only server refuses all three with SQLSTATE 25006 and nothing changes.
#[test]
fn attack_1_2_3_writes_inside_explain_analyze_and_select_into_refused() {
    let dir = sample_copy("serve-explain-writes");
    let server = start(dir.path(), &["--no-auth"]);
    let target = dir.path().join("written.csv");
    let campaigns = || {
        std::fs::read_dir(dir.path().join("campaigns"))
            .unwrap()
            .count()
    };
    let files_before = campaigns();
    let attacks = [
        format!(
            "EXPLAIN ANALYZE COPY (SELECT 'x' AS x) TO '{}'",
            target.display()
        ),
        "EXPLAIN ANALYZE INSERT INTO campaigns SELECT * FROM campaigns".to_string(),
        // PostgreSQL's option-list spelling ran the statement past the first fix.
        format!(
            "EXPLAIN (ANALYZE) COPY (SELECT 'x' AS x) TO '{}'",
            target.display()
        ),
        "EXPLAIN (ANALYZE true) INSERT INTO campaigns SELECT * FROM campaigns".to_string(),
        "SELECT 1 AS a INTO evil_into".to_string(),
        "INSERT INTO campaigns SELECT * FROM campaigns".to_string(),
    ];
    for sql in &attacks {
        let (out, err, code) = psql(server.port, "anyone", "", sql);
        assert_ne!(code, 0, "{sql}: {out}");
        assert!(err.contains("read-only server"), "{sql}: {err}");
    }
    // The same as prepared statements, through the extended protocol.
    let port = server.port.to_string();
    let mut args = vec![port.as_str(), "anyone", "", "extended"];
    args.extend(attacks.iter().map(String::as_str));
    let text = python_client("clients.py", &args);
    assert_eq!(text, "25006\n".repeat(attacks.len()), "{text}");
    assert!(!target.exists(), "EXPLAIN ANALYZE COPY wrote its file");
    assert_eq!(
        campaigns(),
        files_before,
        "EXPLAIN ANALYZE INSERT added a file"
    );
    let (out, err, code) = psql(
        server.port,
        "anyone",
        "",
        "SELECT (SELECT count(*) FROM campaigns) AS c, \
         (SELECT count(*) FROM information_schema.tables WHERE table_name = 'evil_into') AS t",
    );
    assert_eq!((out.as_str(), code), ("8|0", 0), "{err}");
    // EXPLAIN ANALYZE of a read still runs.
    let (out, err, code) = psql(server.port, "anyone", "", "EXPLAIN ANALYZE SELECT 1");
    assert_eq!(code, 0, "{out}{err}");
}

/// Attack 5: any user read any file the server's process could read by naming its path, in
/// `FROM` and through `summarize`; a server has no tables named by a path.
#[test]
fn attack_5_files_by_path_are_not_tables_on_a_server() {
    let dir = sample_copy("serve-files-by-path");
    let secret = dir.path().join("secret.csv");
    std::fs::write(&secret, "token\nhunter2\n").unwrap();
    let server = start(dir.path(), &["--no-auth"]);
    for sql in [
        format!("SELECT * FROM '{}'", secret.display()),
        format!("SELECT * FROM summarize('{}')", secret.display()),
    ] {
        let (out, err, code) = psql(server.port, "anyone", "", &sql);
        assert_ne!(code, 0, "{sql}: {out}");
        assert!(
            !out.contains("hunter2") && !err.contains("hunter2"),
            "{sql}: {out}{err}"
        );
    }
    still_answers(server.port);
}

/// Attack 10: with `--max-connections 4`, four TCP connections that send nothing locked
/// everyone out for as long as they stayed open; now a connection that sends nothing is
/// closed after the startup timeout (10 s) and its slot freed.
#[test]
fn attack_10_silent_connections_do_not_hold_the_slots() {
    let dir = sample_copy("serve-silent");
    let server = start(dir.path(), &["--no-auth", "--max-connections", "4"]);
    let silent: Vec<std::net::TcpStream> = (0..4)
        .map(|_| std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap())
        .collect();
    std::thread::sleep(std::time::Duration::from_secs(12));
    still_answers(server.port);
    drop(silent);
}

#[test]
fn allow_write_and_open_servers_are_explicit() {
    let dir = project();
    // --no-auth only on loopback; without users and without --no-auth nothing starts.
    let (_, err, code) = run(
        dir.path(),
        &["serve", "--no-auth", "--listen", "0.0.0.0:5999"],
    );
    assert_eq!(code, 2);
    assert!(err.contains("loopback address only"), "{err}");
    let empty = sample_copy("serve-nousers");
    let (_, err, code) = run(empty.path(), &["serve", "--listen", "127.0.0.1:5999"]);
    assert_eq!(code, 2);
    assert!(err.contains("no users to authenticate"), "{err}");

    let server = start(dir.path(), &["--no-auth", "--allow-write"]);
    let (out, err, code) = psql(
        server.port,
        "anyone",
        "",
        "CREATE VIEW vip AS SELECT * FROM customer_360 WHERE tier = 'High Value'",
    );
    assert_eq!(code, 0, "{out}{err}");
    let (out, err, code) = psql(server.port, "anyone", "", "SELECT count(*) FROM vip");
    assert_eq!((out.as_str(), code), ("298", 0), "{err}");
    // Catalogue functions drivers call (SQLAlchemy's get_columns among them).
    let (out, err, code) = psql(
        server.port,
        "anyone",
        "",
        "SELECT pg_get_serial_sequence('orders', 'order_id') IS NULL, \
         json_build_object('start', 1, 'cycle', false, 'name', 'x', 'none', NULL), \
         pg_collation_is_visible(100)",
    );
    assert_eq!(
        (out.as_str(), code),
        (
            r#"t|{"start" : 1, "cycle" : false, "name" : "x", "none" : null}|t"#,
            0
        ),
        "{err}"
    );
}

/// With `--max-connections 1`, one psql session holds the only connection (it waits for input)
/// while a second one, in `sslmode`, is told why it is turned away; the slot comes back.
fn over_the_limit(dir: &Path, sslmode: &str) {
    let server = start(dir, &["--max-connections", "1"]);
    let mut holder = Command::new("psql")
        .arg(format!(
            "host=127.0.0.1 port={} user=analyst dbname=persona sslmode={sslmode}",
            server.port
        ))
        .args(["-X", "-At"])
        .env("PGPASSWORD", "s3cret pass")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let (_, err, code) = psql_ssl(server.port, "analyst", "s3cret pass", "SELECT 1", sslmode);
    assert_ne!(code, 0, "a second connection was served: {err}");
    assert!(err.contains("sorry, too many clients already"), "{err}");
    drop(holder.stdin.take());
    let _ = holder.wait();
    let (out, err, code) = psql_ssl(server.port, "analyst", "s3cret pass", "SELECT 1", sslmode);
    assert_eq!((out.as_str(), code), ("1", 0), "the slot came back: {err}");
}

#[test]
fn a_hundred_clients_at_a_limit_of_32_are_served_or_told_why() {
    let dir = project();
    let server = start(dir.path(), &["--max-connections", "32"]);
    let text = python_client("crowd.py", &[&server.port.to_string(), "100"]);
    assert_eq!(
        text, "served: 32\ntoo_many: 68\nafter: 42\n",
        "every client is served or told why, and the server goes on"
    );
}

#[test]
fn connections_over_the_limit_are_told_too_many_clients() {
    over_the_limit(project().path(), "disable");
    // Over TLS the refusal comes inside the TLS session the client asked for.
    over_the_limit(secured_project().path(), "require");
}

/// A project with a masked view a BI user is granted (and nothing else), a TLS certificate,
/// and a statement timeout.
fn secured_project() -> tempfile::TempDir {
    let dir = project();
    let p = dir.path();
    std::fs::create_dir_all(p.join("sql")).unwrap();
    std::fs::write(
        p.join("sql/masked.sql"),
        "CREATE VIEW customer_profiles_masked AS\n\
         SELECT c.customer_id, mask_name(c.name) AS name, mask_phone(c.phone) AS phone, p.tier\n\
         FROM stg_customers c JOIN customer_360 p USING (customer_id);\n",
    )
    .unwrap();
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
        ])
        .args(["-keyout", "server.key", "-out", "server.crt"])
        .current_dir(p)
        .stderr(Stdio::null())
        .status()
        .expect("openssl runs (.ci/run installs it)");
    assert!(status.success());
    let toml = p.join("persona.toml");
    let text = std::fs::read_to_string(&toml).unwrap().replace(
        "name = \"bi\"\n",
        "name = \"bi\"\ngrants = [\"customer_profiles_masked\", \"segment_kpis\"]\n",
    );
    std::fs::write(
        &toml,
        format!("{text}\n[serve]\ntls_cert = \"server.crt\"\ntls_key = \"server.key\"\n"),
    )
    .unwrap();
    dir
}

#[test]
fn grants_tls_timeouts_and_cancel() {
    let dir = secured_project();
    let server = start(dir.path(), &["--statement-timeout", "10s"]);
    let port = server.port;
    let psql_tls =
        |user: &str, password: &str, sql: &str| psql_ssl(port, user, password, sql, "require");
    // TLS when the client asks for it.
    let (out, err, code) = psql_tls("bi", "bi tool secret", "\\conninfo");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("SSL connection (protocol: TLS"), "{out}");

    // The BI user sees the masked view and what else is granted, nothing more.
    let (out, err, code) = psql_tls(
        "bi",
        "bi tool secret",
        "SELECT name, phone FROM customer_profiles_masked ORDER BY customer_id LIMIT 1",
    );
    assert_eq!(code, 0, "{err}");
    let (name, phone) = out.split_once('|').unwrap();
    assert!(
        name.chars().skip(1).all(|c| c == '*') && phone.contains("****"),
        "{out}"
    );
    let (out, _, code) = psql_tls("bi", "bi tool secret", "\\dv");
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "public|customer_profiles_masked|view|postgres\npublic|segment_kpis|view|postgres"
    );
    for sql in ["SELECT * FROM customers", "SELECT * FROM customer_360"] {
        let (_, err, code) = psql_tls("bi", "bi tool secret", sql);
        assert_eq!(code, 1, "{sql}");
        assert!(err.contains("not found"), "{sql}: {err}");
    }
    // Users without grants see everything.
    let (out, _, code) = psql_tls("analyst", "s3cret pass", "SELECT count(*) FROM customers");
    assert_eq!((out.as_str(), code), ("2000", 0));

    // The statement timeout stops a long query, with PostgreSQL's code and words.
    let started = std::time::Instant::now();
    let (_, err, code) = psql_tls(
        "analyst",
        "s3cret pass",
        "SELECT count(*) FROM generate_series(1, 3000000000) t(v) WHERE v % 7 = 3",
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("canceling statement due to statement timeout"),
        "{err}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(20));

    // A client's cancel request stops its query; the connection keeps working.
    let text = python_client(
        "clients.py",
        &[&port.to_string(), "analyst", "s3cret pass", "cancel"],
    );
    assert!(
        text.contains("cancel: 57014 QueryCanceled True\n"),
        "{text}"
    );
    assert!(text.contains("after_cancel: 42\n"), "{text}");

    // A grant of something that does not exist stops the server before it listens.
    let toml = dir.path().join("persona.toml");
    let text = std::fs::read_to_string(&toml)
        .unwrap()
        .replace("\"segment_kpis\"", "\"nope\"");
    std::fs::write(&toml, text).unwrap();
    let out = persona(dir.path())
        .args(["serve", "--listen", "127.0.0.1:5998"])
        .env("PERSONA_TEST_PW", "x")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        err.contains("user 'bi' is granted 'nope', which is not a table or view"),
        "{err}"
    );
}

/// What is not PostgreSQL's protocol gets PostgreSQL's FATAL sentence, a client killed in the
/// middle of a query goes away alone, and the server serves the next client as before.
#[test]
fn malformed_startups_and_a_client_gone_mid_query_leave_the_server_serving() {
    use std::io::{Read, Write};
    let dir = sample_copy("serve-faults");
    let server = start(dir.path(), &["--no-auth"]);
    let reply = |bytes: &[u8]| {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
            .unwrap();
        s.write_all(bytes).unwrap();
        let mut answer = Vec::new();
        let _ = s.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).into_owned()
    };
    let http = reply(b"GET / HTTP/1.1\r\nHost: persona\r\n\r\n");
    assert!(
        http.starts_with('E')
            && http.contains("C08P01")
            && http.contains("invalid length of startup packet"),
        "{http:?}"
    );
    let future = reply(&[0, 0, 0, 8, 0, 9, 0, 0]);
    assert!(
        future.contains("unsupported frontend protocol 9.0"),
        "{future:?}"
    );

    let mut gone = Command::new("psql")
        .arg(format!(
            "host=127.0.0.1 port={} user=anyone dbname=persona sslmode=disable",
            server.port
        ))
        .args([
            "-X",
            "-At",
            "-c",
            "SELECT count(*) FROM generate_series(1, 100000000000)",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    gone.kill().unwrap();
    let _ = gone.wait();
    let (out, err, code) = psql(server.port, "anyone", "", "SELECT 40 + 2");
    assert_eq!((out.as_str(), code), ("42", 0), "{err}");
}
