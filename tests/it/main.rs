//! Integration tests, one binary (each test binary is another DataFusion-sized link).

mod behavior;
mod check;
mod cli;
#[cfg(feature = "cluster")]
mod cluster;
mod crash;
mod datasets;
mod dense;
mod generate;
mod ingest;
mod models;
mod readme;
mod report;
mod s3;
mod serve;
mod session;
mod shell;
mod snapshots;
mod text;
mod value;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The real `persona` binary, run from a scratch directory so no project is found by accident.
pub fn persona(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_persona"));
    c.current_dir(dir)
        .env_remove("PAGER")
        .env("PERSONA_PAGER", "")
        .env("NO_COLOR", "1");
    c
}

/// Runs `persona` with `args` in `dir`; returns (stdout, stderr, exit code).
pub fn run(dir: &Path, args: &[&str]) -> (String, String, i32) {
    let out: Output = persona(dir)
        .args(args)
        .output()
        .expect("the persona binary runs");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

/// A fresh empty directory for one test.
pub fn scratch(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("persona-{name}-"))
        .tempdir()
        .expect("a temp dir")
}

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A copy of the bundled sample project in a fresh directory, for commands that write into
/// their project.
pub fn sample_copy(name: &str) -> tempfile::TempDir {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).expect("a directory");
        for entry in std::fs::read_dir(from).expect("the sample is readable") {
            let entry = entry.expect("an entry");
            let target = to.join(entry.file_name());
            if entry.path().is_dir() {
                copy(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), target).expect("a copy");
            }
        }
    }
    let dir = scratch(name);
    copy(&root().join("datasets/sample"), dir.path());
    dir
}
