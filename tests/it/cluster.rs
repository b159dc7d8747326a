//! A real Ballista cluster: `persona cluster scheduler` and two `persona cluster executor`
//! processes on 127.0.0.1 with free ports, and the client `persona --cluster df://…`. Shuffles
//! are forced through the executors' Flight services; every result is compared with the same
//! statement run locally. Processes are stopped by their ids; on failure their logs are kept and
//! their paths printed.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use rexpect::session::spawn_command;

use crate::{persona, root, run, scratch};

/// Settings both runs use: several partitions, and a setting the functions read.
const SETTINGS: [&str; 4] = [
    "-c",
    "SET datafusion.execution.target_partitions = 4",
    "-c",
    "SET persona.date_order = 'dmy'",
];

fn free_port() -> u16 {
    free_ports(1)[0]
}

/// `n` different free ports: all listeners are open together before any is closed.
fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("a free port"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("a bound address").port())
        .collect()
}

/// A scheduler and its executors, stopped when dropped; their logs outlive a failing test.
pub(crate) struct Cluster {
    dir: Option<tempfile::TempDir>,
    scheduler: Child,
    executors: Vec<Child>,
    port: u16,
}

impl Cluster {
    pub(crate) fn start(name: &str, executors: usize) -> Cluster {
        Self::start_with_env(name, executors, &[])
    }

    /// A cluster whose nodes also get the environment variables `env`.
    pub(crate) fn start_with_env(name: &str, executors: usize, env: &[(&str, String)]) -> Cluster {
        // Tests run in parallel, so a port found free can be taken before a node binds it: then
        // the node exits and the whole cluster is started again on other ports.
        let mut last = String::new();
        for _ in 0..3 {
            match Self::try_start(name, executors, env) {
                Ok(cluster) => return cluster,
                Err(why) => last = why,
            }
        }
        panic!("the cluster did not start three times: {last}");
    }

    fn try_start(name: &str, executors: usize, env: &[(&str, String)]) -> Result<Cluster, String> {
        let dir = scratch(name);
        // All ports at once, so no two of them are the same.
        let ports = free_ports(1 + 2 * executors);
        let port = ports[0];
        let scheduler = spawn(
            dir.path(),
            env,
            "scheduler",
            &[
                "cluster",
                "scheduler",
                "--bind",
                &format!("127.0.0.1:{port}"),
                "--executor-timeout",
                "6",
            ],
        );
        let mut cluster = Cluster {
            dir: Some(dir),
            scheduler,
            executors: Vec::new(),
            port,
        };
        cluster.wait_until("the scheduler to listen", |_| {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        })?;
        for i in 0..executors {
            let dir = cluster.dir();
            let work = dir.join(format!("work{i}"));
            let child = spawn(
                &dir,
                env,
                &format!("executor{i}"),
                &[
                    "cluster",
                    "executor",
                    "--scheduler",
                    &cluster.url(),
                    "--port",
                    &ports[1 + 2 * i].to_string(),
                    "--grpc-port",
                    &ports[2 + 2 * i].to_string(),
                    "--concurrent-tasks",
                    "2",
                    "--heartbeat",
                    "2",
                    "--work-dir",
                    work.to_str().unwrap(),
                    "--memory-limit",
                    "512MB",
                ],
            );
            cluster.executors.push(child);
        }
        cluster.wait_until("every executor to register", |c| {
            (0..executors).all(|i| {
                c.log(&format!("executor{i}"))
                    .contains("registration succeed")
            })
        })?;
        Ok(cluster)
    }

    pub(crate) fn dir(&self) -> PathBuf {
        self.dir
            .as_ref()
            .expect("the cluster's dir")
            .path()
            .to_path_buf()
    }

    pub(crate) fn url(&self) -> String {
        format!("df://127.0.0.1:{}", self.port)
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir().join(format!("{name}.log"))).unwrap_or_default()
    }

    fn wait_for(&mut self, what: &str, ready: impl Fn(&Cluster) -> bool) {
        if let Err(why) = self.wait_until(what, ready) {
            panic!("{why}");
        }
    }

    /// Waits until `ready`; an error when a node exits first or two minutes pass.
    fn wait_until(&mut self, what: &str, ready: impl Fn(&Cluster) -> bool) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(120);
        while !ready(self) {
            let exited = std::iter::once(&mut self.scheduler)
                .chain(self.executors.iter_mut())
                .any(|c| c.try_wait().ok().flatten().is_some());
            if exited {
                return Err(format!("a cluster process exited while waiting for {what}"));
            }
            if Instant::now() > deadline {
                return Err(format!("timed out waiting for {what}"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in std::iter::once(&mut self.scheduler).chain(self.executors.iter_mut()) {
            // By process id, as an operator would.
            let _ = std::process::Command::new("kill")
                .arg(child.id().to_string())
                .stderr(Stdio::null())
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking()
            && let Some(dir) = self.dir.take()
        {
            let kept = dir.keep();
            eprintln!("cluster logs kept in {}", kept.display());
        }
    }
}

/// Starts `persona ARGS` in `dir` with `env` and standard output and error in `dir/NAME.log`.
fn spawn(dir: &Path, env: &[(&str, String)], name: &str, args: &[&str]) -> Child {
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).expect("a log file");
    persona(dir)
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::from(log.try_clone().expect("a log handle")))
        .stderr(Stdio::from(log))
        .spawn()
        .expect("persona starts")
}

fn workload_args(extra: &[&str]) -> Vec<String> {
    let file = root().join("tests/it/cluster_workload.sql");
    let mut args: Vec<String> = ["-q", "--format", "csv"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend(SETTINGS.iter().map(|s| s.to_string()));
    args.extend(["-f".to_string(), file.display().to_string()]);
    args
}

#[test]
fn cluster_runs_the_workload_with_the_same_answers_as_local() {
    let cluster = Cluster::start("cluster", 2);
    let dir = cluster.dir();
    let local = workload_args(&[]);
    let local: Vec<&str> = local.iter().map(String::as_str).collect();
    let (expected, err, code) = run(&dir, &local);
    assert_eq!(code, 0, "local run: {err}");
    let url = cluster.url();
    // Shuffles read through Flight even when the data sit on the reading executor.
    let remote = workload_args(&[
        "--cluster",
        &url,
        "-c",
        "SET ballista.shuffle.force_remote_read = true",
    ]);
    let remote: Vec<&str> = remote.iter().map(String::as_str).collect();
    let (got, err, code) = run(&dir, &remote);
    assert_eq!(code, 0, "cluster run: {err}");
    assert_eq!(
        got, expected,
        "the cluster's answers differ from local ones"
    );
    // The sample's answers, so an empty or wrong local run cannot pass either.
    assert!(expected.contains("冠军客户,224,"), "{expected}");
    assert!(
        expected.contains("2024-03-05,"),
        "dmy reached the executors: {expected}"
    );
    // Both executors ran tasks.
    for i in 0..2 {
        let log = cluster.log(&format!("executor{i}"));
        assert!(
            log.contains("Execute task"),
            "executor{i} ran no task:\n{log}"
        );
    }
}

#[test]
fn a_lost_executor_does_not_lose_the_shell_and_an_absent_scheduler_is_named() {
    // Nothing listens on a port just found free.
    let dir = scratch("cluster-absent");
    let port = free_port();
    let address = format!("df://127.0.0.1:{port}");
    let (_, err, code) = run(dir.path(), &["--cluster", &address, "-c", "SELECT 1"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!(
            "cannot reach the cluster scheduler at {address}: connection refused"
        )),
        "{err}"
    );
    let (_, err, code) = run(dir.path(), &["--cluster", "http://x", "-c", "SELECT 1"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("write df://HOST:PORT"), "{err}");

    let mut cluster = Cluster::start("cluster-lost", 2);
    let mut cmd = persona(&cluster.dir());
    cmd.args(["--cluster", &cluster.url(), "--history-file", "h.txt"])
        .env("TERM", "xterm");
    let mut p = spawn_command(cmd, Some(120_000)).expect("the shell starts");
    p.exp_string("persona> ").unwrap();
    let tasks = |c: &Cluster, i: usize| {
        c.log(&format!("executor{i}"))
            .matches("Execute task")
            .count()
    };
    let before = [tasks(&cluster, 0), tasks(&cluster, 1)];
    // Tens of millions of joined rows: long enough to lose an executor on the way.
    p.send_line(
        "SELECT count(*) AS pairs FROM stg_orders a JOIN stg_orders b \
         ON a.customer_id % 10 = b.customer_id % 10;",
    )
    .unwrap();
    // The executor that took the query's first task is the one lost.
    cluster.wait_for("the query's first task", |c| {
        (0..2).any(|i| tasks(c, i) > before[i])
    });
    let busy = (0..2)
        .find(|&i| tasks(&cluster, i) > before[i])
        .expect("an executor with a task");
    let victim = &mut cluster.executors[busy];
    let _ = std::process::Command::new("kill")
        .args(["-9", &victim.id().to_string()])
        .status();
    let _ = victim.wait();
    // Ballista runs the lost tasks again on the other executor, or fails the query with a
    // sentence; either way the shell answers the next query.
    let (shown, found) = p
        .exp_regex(r"(43682686|error: [^\r\n]+)")
        .expect("the query ends");
    assert!(
        !found.contains("Status {") && !shown.contains("panicked"),
        "{shown}{found}"
    );
    p.exp_string("persona> ").unwrap();
    p.send_line("SELECT 41 + 1 AS answer;").unwrap();
    p.exp_string("42").unwrap();
    p.exp_string("persona> ").unwrap();
    p.send_line("\\q").unwrap();
    p.exp_eof().unwrap();
}
