//! `s3://` locations against a real S3-compatible server: moto's (PyPI `moto[server]`, in the
//! Python `PERSONA_TEST_PYTHON` names; `.ci/run` installs it), started on 127.0.0.1 by each
//! test. Every run passes a region, keys and the endpoint, so nothing leaves the machine.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{persona, scratch};

/// A moto server, stopped when dropped.
struct Moto {
    child: Child,
    port: u16,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moto {
    /// Starts moto on a free port; `check_keys` makes it refuse keys it does not know. Tests
    /// run in parallel, so a port found free can be taken before moto binds it: then moto exits
    /// and another port is tried.
    fn start(check_keys: bool) -> Moto {
        let python = std::env::var("PERSONA_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .expect("a free port");
            let mut cmd = Command::new(&python);
            cmd.args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
            if check_keys {
                cmd.env("INITIAL_NO_AUTH_ACTION_COUNT", "0");
            }
            let child = cmd.spawn().expect("python runs");
            let mut moto = Moto { child, port };
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if moto.child.try_wait().ok().flatten().is_some() {
                    break;
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    // Ours, and not a server another test started on the same port.
                    std::thread::sleep(Duration::from_millis(200));
                    if moto.child.try_wait().ok().flatten().is_none() {
                        return moto;
                    }
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "moto did not start (PERSONA_TEST_PYTHON must have moto[server]; .ci/run makes one)"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        panic!("moto did not start on any of five ports");
    }

    /// A moto with bucket `lake` holding the sample's orders at `s3://lake/orders/`.
    fn with_sample_orders() -> Moto {
        let moto = Moto::start(false);
        moto.put("/lake", b"");
        let orders = std::fs::read(crate::root().join("datasets/sample/orders/part-00000.parquet"))
            .expect("the sample's orders");
        moto.put("/lake/orders/part-00000.parquet", &orders);
        moto
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A plain HTTP request (moto takes unsigned ones unless it checks keys); the reply.
    fn request(&self, method: &str, path: &str, body: &[u8]) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.port,
            body.len()
        )
        .unwrap();
        s.write_all(body).unwrap();
        let mut reply = String::new();
        s.read_to_string(&mut reply).unwrap();
        reply
    }

    fn put(&self, path: &str, body: &[u8]) {
        let reply = self.request("PUT", path, body);
        assert!(reply.starts_with("HTTP/1.1 200"), "PUT {path}: {reply}");
    }

    /// The AWS environment variables that reach this server with the test keys.
    fn env(&self) -> [(&'static str, String); 5] {
        [
            ("AWS_ACCESS_KEY_ID", "test-key".to_string()),
            ("AWS_SECRET_ACCESS_KEY", "test-secret".to_string()),
            ("AWS_REGION", "us-east-1".to_string()),
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ALLOW_HTTP", "true".to_string()),
        ]
    }

    /// persona.toml's `[s3]` section for this server with the test keys.
    fn s3_section(&self) -> String {
        format!(
            "[s3]\nregion = \"us-east-1\"\nendpoint = \"{}\"\nallow_http = true\n\
             access_key_id = \"test-key\"\nsecret_access_key = \"test-secret\"\n\n",
            self.endpoint()
        )
    }

    /// The `aws.*` OPTIONS of a statement.
    fn options(&self) -> String {
        format!(
            "OPTIONS ('aws.access_key_id' 'test-key', 'aws.secret_access_key' 'test-secret', \
             'aws.region' 'us-east-1', 'aws.endpoint' '{}', 'aws.allow_http' 'true')",
            self.endpoint()
        )
    }
}

fn run_env(dir: &Path, args: &[&str], env: &[(&str, String)]) -> (String, String, i32) {
    let mut cmd = persona(dir);
    cmd.args(args);
    for var in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ENDPOINT",
        "AWS_ENDPOINT_URL",
        "AWS_ALLOW_HTTP",
        "AWS_PROFILE",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("persona runs");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

#[test]
fn s3_source_is_ingested_and_curated_parquet_written_back() {
    let moto = Moto::start(false);
    moto.put("/lake", b"");
    moto.put(
        "/lake/raw/people-1.csv",
        "id,name,phone\n1,Ann,138 1111 2222\n2,Bob,x\n2,Bob,x\n3,Cy,139-0000-1111,extra\n"
            .as_bytes(),
    );
    moto.put(
        "/lake/raw/people-2.csv",
        b"id,name,phone\n4,Dee,137 2222 3333\n",
    );
    let d = scratch("s3-ingest");
    std::fs::write(
        d.path().join("persona.toml"),
        format!(
            "{}[[source]]\nname = \"people\"\npath = \"s3://lake/raw/people-*.csv\"\nformat = \"csv\"\n\
             [source.ingest]\nselect = [\"CAST(id AS BIGINT) AS id\", \"name\", \"regexp_replace(phone, '[^0-9]', '', 'g') AS phone\"]\nkey = [\"id\"]\n\
             [[source.ingest.rule]]\nname = \"phone\"\ncheck = \"length(phone) = 11\"\n",
            moto.s3_section()
        ),
    )
    .unwrap();
    let (out, err, code) = run_env(d.path(), &["--project", ".", "ingest"], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("people: read 5 = kept 2 + rejected 3 + merged 0 (2 files)"),
        "{out}"
    );

    // The curated rows go back to the bucket with COPY … TO and read back as a table.
    let opts = moto.options();
    let (out, err, code) = run_env(
        d.path(),
        &[
            "--project",
            ".",
            "--format",
            "csv",
            "-q",
            "-c",
            &format!(
                "COPY (SELECT id, name, phone FROM stg_people) TO 's3://lake/curated/people.parquet' {opts}"
            ),
            "-c",
            &format!(
                "CREATE EXTERNAL TABLE back STORED AS PARQUET LOCATION 's3://lake/curated/people.parquet' {opts}"
            ),
            "-c",
            "SELECT string_agg(name || ':' || phone, ' ' ORDER BY id) AS people FROM back",
            "-c",
            "SELECT file, line, reason FROM rejects ORDER BY file, line",
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Ann:13811112222 Dee:13722223333"), "{out}");
    // Rejects name the object and the line.
    assert!(
        out.contains(
            "file,line,reason\n\
             s3://lake/raw/people-1.csv,3,phone failed: length(phone) = 11\n\
             s3://lake/raw/people-1.csv,4,phone failed: length(phone) = 11\n\
             s3://lake/raw/people-1.csv,5,\"4 fields, the header has 3\"\n"
        ),
        "{out}"
    );

    // A plain source on S3, with the keys and endpoint from the AWS environment variables.
    std::fs::write(
        d.path().join("persona.toml"),
        "[[source]]\nname = \"curated_people\"\npath = \"s3://lake/curated/people.parquet\"\nformat = \"parquet\"\n",
    )
    .unwrap();
    let env = moto.env();
    let (out, err, code) = run_env(
        d.path(),
        &[
            "--project",
            ".",
            "--format",
            "csv",
            "-q",
            "-c",
            "SELECT count(*) AS n FROM curated_people",
        ],
        &env,
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "n\n2\n");
}

#[test]
fn a_missing_bucket_and_wrong_keys_are_one_clear_sentence() {
    let moto = Moto::start(false);
    let d = scratch("s3-errors");
    let opts = moto.options();
    let (_, err, code) = run_env(
        d.path(),
        &[
            "-c",
            &format!(
                "CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION 's3://no-such-bucket/t.parquet' {opts}"
            ),
        ],
        &[],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("the bucket does not exist (NoSuchBucket)"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");

    let strict = Moto::start(true);
    let (_, err, code) = run_env(
        d.path(),
        &[
            "-c",
            &format!(
                "COPY (SELECT 1 AS x) TO 's3://lake/x.parquet' {}",
                strict.options()
            ),
        ],
        &[],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("the access key id is not known to the service (InvalidAccessKeyId)"),
        "{err}"
    );

    // Nothing listening: the endpoint is named, in seconds, not after minutes of retries.
    drop(strict);
    let started = Instant::now();
    let (_, err, code) = run_env(
        d.path(),
        &[
            "-c",
            &format!(
                "COPY (SELECT 1 AS x) TO 's3://lake/x.parquet' {}",
                moto.options().replace(&moto.port.to_string(), "1")
            ),
        ],
        &[],
    );
    assert_eq!(code, 1);
    assert!(err.contains("cannot connect to the S3 endpoint"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );

    // An option persona does not know is refused by name.
    let (_, err, code) = run_env(
        d.path(),
        &[
            "-c",
            "CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION 's3://b/t.parquet' OPTIONS ('aws.regoin' 'x')",
        ],
        &[],
    );
    assert_eq!(code, 1);
    assert!(err.contains("regoin"), "{err}");
}

#[test]
fn a_failing_s3_source_is_an_error_to_its_client_and_the_server_serves_on() {
    let moto = Moto::start(false);
    moto.put("/lake", b"");
    moto.put("/lake/events.csv", b"id,kind\n1,view\n2,cart\n");
    let d = scratch("s3-serve");
    std::fs::write(
        d.path().join("persona.toml"),
        format!(
            "[s3]\nregion = \"us-east-1\"\nendpoint = \"{}\"\naccess_key_id = \"k\"\nsecret_access_key = \"s\"\n\n\
             [[source]]\nname = \"lake_events\"\npath = \"s3://lake/events.csv\"\nformat = \"csv\"\n",
            moto.endpoint()
        ),
    )
    .unwrap();
    let server = super::serve::start(d.path(), &["--no-auth"]);
    let q = |sql: &str| super::serve::psql(server.port, "anyone", "", sql);
    assert_eq!(
        q("SELECT count(*) FROM lake_events"),
        ("2".into(), String::new(), 0)
    );

    // The S3 service goes away under the server: that client gets one sentence, and the
    // server answers the next client as before.
    drop(moto);
    let (_, err, code) = q("SELECT count(*) FROM lake_events");
    assert_ne!(code, 0);
    assert!(
        err.contains("object store: cannot connect to the S3 endpoint"),
        "{err}"
    );
    assert_eq!(q("SELECT 40 + 2"), ("42".into(), String::new(), 0));
}

/// Executors read `s3://` sources with the credentials and endpoint of their environment; the
/// client plans with `[s3]` from persona.toml. The cluster's answer is the local one.
#[cfg(feature = "cluster")]
#[test]
fn cluster_nodes_read_s3_sources_from_their_environment() {
    let moto = Moto::with_sample_orders();
    let env = moto.env();
    let cluster = crate::cluster::Cluster::start_with_env("cluster-s3", 2, &env);
    let d = scratch("cluster-s3-project");
    std::fs::write(
        d.path().join("persona.toml"),
        format!(
            "{}[[source]]\nname = \"lake_orders\"\npath = \"s3://lake/orders/\"\nformat = \"parquet\"\n",
            moto.s3_section()
        ),
    )
    .unwrap();
    let sql = "SELECT status, count(*) AS n, round(sum(amount), 2) AS amount \
               FROM lake_orders GROUP BY status ORDER BY status";
    let args = [
        "--project",
        ".",
        "--format",
        "csv",
        "-q",
        "-c",
        "SET datafusion.execution.target_partitions = 4",
        "-c",
        sql,
    ];
    let (local, err, code) = run_env(d.path(), &args, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(local.lines().count() > 2, "{local}");
    let url = cluster.url();
    let mut remote = vec!["--cluster", url.as_str()];
    remote.extend(args);
    // The client's environment has no AWS variables: it reads [s3]; the nodes read theirs.
    let (got, err, code) = run_env(d.path(), &remote, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(got, local);
}

/// `CREATE EXTERNAL TABLE … OPTIONS (…)` over the protocol, on a server that allows writes:
/// the options in the `'key' = 'value'` form the protocol's parser takes, an s3:// location
/// with its own endpoint and keys, then queried by the next client.
#[test]
fn an_external_table_on_s3_is_created_over_the_protocol() {
    let moto = Moto::with_sample_orders();
    let d = scratch("s3-serve-external");
    std::fs::write(d.path().join("persona.toml"), "").unwrap();
    let server = super::serve::start(d.path(), &["--no-auth", "--allow-write"]);
    let q = |sql: &str| super::serve::psql(server.port, "anyone", "", sql);
    let create = format!(
        "CREATE EXTERNAL TABLE lake_orders STORED AS PARQUET LOCATION 's3://lake/orders/' \
         OPTIONS ('aws.region' = 'us-east-1', 'aws.access_key_id' = 'test-key', \
         'aws.secret_access_key' = 'test-secret', 'aws.endpoint' = '{}', \
         'aws.allow_http' = 'true')",
        moto.endpoint()
    );
    assert_eq!(q(&create), ("CREATE TABLE".into(), String::new(), 0));
    assert_eq!(
        q("SELECT count(*) FROM lake_orders"),
        ("20078".into(), String::new(), 0)
    );
}
