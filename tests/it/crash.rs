//! `persona ingest` and `persona refresh` killed (SIGKILL) at random points: what they wrote
//! before is intact, byte for byte, and a re-run completes. Both write each file to a
//! temporary name and rename it into place, and the same input gives the same bytes, so any
//! file that is not equal to the earlier one was torn by the kill.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use crate::{persona, run, sample_copy, scratch};

/// Every file under `dir` (relative path -> bytes), temporary files left out.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else if !e.file_name().to_string_lossy().starts_with(".tmp") {
                let rel = path.strip_prefix(root).unwrap().display().to_string();
                out.insert(rel, fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// A small deterministic generator, seeded from the clock; the seed is in every message.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n.max(1)
    }
}

/// Runs `args` to completion, then `kills` times again, each killed after a random share of
/// the first run's time; after each kill the files under `out` equal the first run's.
fn kill_at_random_points(project: &Path, args: &[&str], out: &str, kills: usize) {
    let start = Instant::now();
    let (_, err, code) = run(project, args);
    assert_eq!(code, 0, "{err}");
    let took = start.elapsed();
    let before = files(&project.join(out));
    assert!(!before.is_empty(), "{args:?} wrote nothing under {out}");

    let seed = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let mut rng = Lcg(seed);
    for i in 0..kills {
        let after = Duration::from_micros(rng.below(took.as_micros() as u64));
        let mut child = persona(project)
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("persona starts");
        std::thread::sleep(after);
        let _ = child.kill();
        let _ = child.wait();
        let now = files(&project.join(out));
        for (name, bytes) in &before {
            let got = now.get(name);
            assert!(
                got == Some(bytes),
                "{args:?} killed after {after:?} (kill {i}, seed {seed}): {out}/{name} is {}",
                if got.is_some() { "changed" } else { "gone" }
            );
        }
    }
    let (_, err, code) = run(project, args);
    assert_eq!(code, 0, "the re-run after the kills (seed {seed}): {err}");
    assert_eq!(
        files(&project.join(out)),
        before,
        "the re-run (seed {seed})"
    );
}

/// The rows of `table` in the project at `dir`, read through the binary.
fn rows(dir: &Path, table: &str) -> u64 {
    let sql = format!("SELECT count(*) AS n FROM {table}");
    let (out, err, code) = run(
        dir,
        &["--project", ".", "-q", "--format", "csv", "-c", &sql],
    );
    assert_eq!(code, 0, "{err}");
    out.lines()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {out}"))
}

#[test]
fn killing_ingest_at_random_points_keeps_the_curated_data_and_a_rerun_completes() {
    let d = scratch("crash-ingest");
    let (_, err, code) = run(
        d.path(),
        &["gen", "--raw", "--customers", "500", "--out", "."],
    );
    assert_eq!(code, 0, "{err}");
    kill_at_random_points(d.path(), &["--project", ".", "ingest"], "curated", 8);
    assert!(rows(d.path(), "stg_shop_orders") > 0);
}

#[test]
fn killing_refresh_at_random_points_keeps_the_snapshots_and_a_rerun_completes() {
    let d = sample_copy("crash-refresh");
    kill_at_random_points(
        d.path(),
        &["--project", ".", "refresh", "--as-of", "2024-06-30"],
        "snapshots",
        8,
    );
    assert!(rows(d.path(), "snapshot_customer_360") > 0);
}
