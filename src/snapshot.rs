//! Snapshots: `persona refresh` materialises the profile views as of a date, and every session
//! reads them back as tables with the as-of date as a column.
//!
//! Layout: `<project>/snapshots/as_of=YYYY-MM-DD/<view>.parquet`, one file per view, each with
//! an `as_of` DATE column first. The four files of a date are written into a private
//! `snapshots/.tmp-…` directory and published by one `rename` of that directory, so readers see
//! all of a new date or none of it, and an interrupted refresh leaves only the temporary
//! directory behind (removed by the next refresh). Refreshing a date that exists compares each
//! new file with the old one (the same data and as-of give the same bytes: rows are sorted and
//! written in fixed-size chunks); when any differs, the new directory and the old one are
//! swapped in one `renameat2(RENAME_EXCHANGE)`, so a date is always all old or all new.
//!
//! Before writing, a refresh builds every model the four views need (see `models`), once
//! each, in dependency order, reporting each one's rows, time and peak memory.
//!
//! Each session registers `snapshot_<view>` over the files it finds (an empty table with the
//! view's columns when there are none), then the views over them from `sql/snapshots/views.sql`.

use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::MemTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};
use datafusion::prelude::SessionContext;

use crate::error::{PersonaError, Result, clean_message};

/// The views `persona refresh` materialises, with the columns their rows are sorted by.
pub const SNAPSHOT_VIEWS: [(&str, &str); 4] = [
    ("customer_360", "customer_id"),
    ("customer_segments", "customer_id"),
    (
        "customer_tags",
        "customer_id, tag_group, tag, value, reason",
    ),
    ("customer_clv", "customer_id"),
];

/// The views over snapshots (`segment_transitions`, `tag_changes`).
pub const SNAPSHOT_SQL: &str = include_str!("../sql/snapshots/views.sql");

/// The snapshot directory of a project.
pub fn snapshots_dir(project_dir: &Path) -> PathBuf {
    project_dir.join("snapshots")
}

/// What happened to one view's snapshot file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A new as-of date.
    Written,
    /// The date existed with different data; the file was replaced.
    Replaced,
    /// The date existed with the same bytes; nothing was touched.
    Unchanged,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Written => "written",
            Outcome::Replaced => "replaced",
            Outcome::Unchanged => "unchanged",
        }
    }
}

/// One line of a refresh's summary.
#[derive(Debug, Clone)]
pub struct Refreshed {
    pub view: &'static str,
    pub rows: usize,
    pub outcome: Outcome,
}

/// The snapshot dates on disk, sorted, each with its directory. Entries that are not
/// `as_of=YYYY-MM-DD` directories are reported in `problems` (dot entries are private and
/// skipped).
pub fn list_dates(dir: &Path, problems: &mut Vec<PersonaError>) -> Vec<(String, PathBuf)> {
    let mut dates = Vec::new();
    for entry in crate::views::dir_entries(dir, problems) {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let date = name.strip_prefix("as_of=").filter(|d| {
            persona_udfs::config::parse_date_days(d).is_ok()
                && d.len() == 10
                && entry.path().is_dir()
        });
        match date {
            Some(d) => dates.push((d.to_string(), entry.path())),
            None => problems.push(PersonaError::Io {
                path: entry.path(),
                message:
                    "is not a snapshot (expected directories named as_of=YYYY-MM-DD); it is ignored"
                        .into(),
            }),
        }
    }
    dates.sort();
    dates
}

/// Registers `snapshot_<view>` for every snapshot view, then the views over them. Returns the
/// problems met (unreadable snapshot files are left out of their table and reported).
pub async fn register(ctx: &SessionContext, project_dir: Option<&Path>) -> Vec<PersonaError> {
    let mut problems = Vec::new();
    let dates = project_dir
        .map(|d| list_dates(&snapshots_dir(d), &mut problems))
        .unwrap_or_default();
    for (view, _) in SNAPSHOT_VIEWS {
        let mut files = Vec::new();
        for (date, dir) in &dates {
            let file = dir.join(format!("{view}.parquet"));
            if !file.exists() {
                problems.push(PersonaError::Io {
                    path: file,
                    message: format!(
                        "is missing from the snapshot of {date}; run `persona refresh --as-of {date}` to write it again"
                    ),
                });
                continue;
            }
            match check_file(&file) {
                Ok(()) => files.push(file),
                Err(message) => problems.push(PersonaError::Io {
                    path: file,
                    message: format!(
                        "{message}; the snapshot is left out until `persona refresh --as-of {date}` writes it again"
                    ),
                }),
            }
        }
        if let Err(e) = register_view(ctx, view, &files).await {
            problems.push(e);
        }
    }
    for problem in crate::views::load_sql_text(ctx, "sql/snapshots/views.sql", SNAPSHOT_SQL).await {
        // Without customer_segments or customer_tags (a project lacking their sources) the
        // views over their snapshots cannot exist either; that was reported already.
        if !problem.to_string().contains("not found") {
            problems.push(problem);
        }
    }
    problems
}

/// Whether `file` is a Parquet file with an `as_of` column.
fn check_file(file: &Path) -> std::result::Result<(), String> {
    let f = File::open(file).map_err(|e| e.to_string())?;
    let reader = SerializedFileReader::new(f)
        .map_err(|e| format!("is not a readable Parquet file ({e})"))?;
    let schema = reader.metadata().file_metadata().schema_descr();
    if !schema.columns().iter().any(|c| c.name() == "as_of") {
        return Err("has no as_of column, so it is not a persona snapshot".into());
    }
    Ok(())
}

async fn register_view(ctx: &SessionContext, view: &str, files: &[PathBuf]) -> Result<()> {
    let name = format!("snapshot_{view}");
    if files.is_empty() {
        // No snapshot yet: an empty table with the columns a snapshot would have.
        let Ok(df) = ctx.table(view).await else {
            return Ok(());
        };
        let mut fields = vec![Arc::new(Field::new("as_of", DataType::Date32, false))];
        fields.extend(df.schema().as_arrow().fields().iter().cloned());
        let table = MemTable::try_new(Arc::new(Schema::new(fields)), vec![vec![]])?;
        ctx.register_table(name, Arc::new(table))?;
        return Ok(());
    }
    let urls = files
        .iter()
        .map(|f| ListingTableUrl::parse(f.to_string_lossy()))
        .collect::<datafusion::error::Result<Vec<_>>>()?;
    let options =
        ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    // The latest snapshot's columns: older files written by an older persona are read with
    // missing columns as NULL.
    let schema = options
        .infer_schema(&ctx.state(), urls.last().expect("at least one file"))
        .await?;
    let config = ListingTableConfig::new_with_multi_paths(urls)
        .with_listing_options(options)
        .with_schema(schema);
    ctx.register_table(name, Arc::new(ListingTable::try_new(config)?))?;
    Ok(())
}

/// One model built by a refresh: its rows, time and the process's peak memory meanwhile.
#[derive(Debug, Clone)]
pub struct ModelRun {
    pub name: String,
    pub rows: usize,
    pub seconds: f64,
    /// The process's peak resident memory while the model was built, in bytes (Linux only).
    pub peak_bytes: Option<u64>,
    pub spilled: bool,
}

/// What a refresh reports as it goes: `Started(i, n, name)` before the i-th of n models,
/// `Built(run)` after it.
pub enum Progress<'a> {
    Started(usize, usize, &'a str),
    Built(&'a ModelRun),
}

/// The models a refresh builds, in the order it builds them, each with the views it reads:
/// what `persona refresh --explain` prints.
pub fn explain(ctx: &SessionContext) -> Result<String> {
    let Some(registry) = crate::models::registry(ctx) else {
        return Err(PersonaError::Usage(
            "this session has no model graph (a cluster session plans views as DataFusion does)"
                .into(),
        ));
    };
    let targets: Vec<&str> = SNAPSHOT_VIEWS.iter().map(|(v, _)| *v).collect();
    let order = registry.build_order(&targets)?;
    let mut out = format!(
        "{} models, built in this order (each once; a model reads the kept rows of those before it):\n",
        order.len()
    );
    for (i, m) in order.iter().enumerate() {
        let reads: Vec<&str> = m.depends_on().iter().map(String::as_str).collect();
        let sources = m.sources().join(", ");
        let snapshot = if targets.contains(&m.name()) {
            "  [snapshot]"
        } else {
            ""
        };
        out.push_str(&format!(
            "{:>3}. {}{snapshot}\n     reads: {}\n     sources: {}\n",
            i + 1,
            m.name(),
            if reads.is_empty() {
                "-".to_string()
            } else {
                reads.join(", ")
            },
            if sources.is_empty() { "-" } else { &sources },
        ));
    }
    Ok(out)
}

/// Builds every model the snapshot views need, once each and in dependency order, then writes
/// the snapshot views as of the session's as-of date under `project_dir` and publishes the
/// date as one unit. A model that fails stops the models above it (the others still build, so
/// every failure is named at once) and nothing is published.
pub async fn refresh(
    ctx: &SessionContext,
    project_dir: &Path,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<(String, Vec<ModelRun>, Vec<Refreshed>)> {
    let as_of = session_as_of(ctx)?;
    ensure_data(ctx, &as_of).await?;
    let runs = build_models(ctx, &as_of, progress).await?;
    let root = snapshots_dir(project_dir);
    std::fs::create_dir_all(&root).map_err(|e| PersonaError::io(&root, &e))?;
    remove_stale_temporaries(&root);

    let tmp = root.join(format!(".tmp-as_of={as_of}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir(&tmp).map_err(|e| PersonaError::io(&tmp, &e))?;
    let guard = RemoveOnDrop(tmp.clone());

    let registry = crate::models::registry(ctx);
    // Views whose rows are kept in memory are written first, so their memory is free for the
    // sorts of the views that went to disk.
    let mut views = SNAPSHOT_VIEWS.to_vec();
    views.sort_by_key(|(v, _)| {
        registry
            .as_ref()
            .and_then(|r| r.get(v))
            .is_some_and(|m| m.stats().spilled)
    });
    let saved = crate::session::sort_whole_tables(ctx);
    let written = write_views(ctx, registry.as_ref(), &views, &as_of, &tmp).await;
    crate::session::restore_sorts(ctx, saved);
    let mut rows = written?;
    rows.sort_by_key(|(v, _)| SNAPSHOT_VIEWS.iter().position(|(s, _)| s == v));
    let done = publish(&root, &tmp, &as_of, rows)?;
    drop(guard);
    Ok((as_of, runs, done))
}

/// Writes each snapshot view to `tmp`, letting go of its kept rows once written.
async fn write_views(
    ctx: &SessionContext,
    registry: Option<&Arc<crate::models::ModelRegistry>>,
    views: &[(&'static str, &'static str)],
    as_of: &str,
    tmp: &Path,
) -> Result<Vec<(&'static str, usize)>> {
    let mut rows = Vec::new();
    for &(view, order) in views {
        let file = tmp.join(format!("{view}.parquet"));
        let n = write_view(ctx, view, order, as_of, &file)
            .await
            .map_err(|e| match e {
                PersonaError::DataFusion(e) => PersonaError::Usage(format!(
                    "cannot snapshot {view} as of {as_of}: {}",
                    clean_message(&e)
                )),
                other => other,
            })?;
        rows.push((view, n));
        // Written: its kept rows make room for the next view's sort.
        if let Some(model) = registry.and_then(|r| r.get(view)) {
            model.release().await;
        }
    }
    Ok(rows)
}

async fn build_models(
    ctx: &SessionContext,
    as_of: &str,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Vec<ModelRun>> {
    let Some(registry) = crate::models::registry(ctx) else {
        return Ok(Vec::new());
    };
    let targets: Vec<&str> = SNAPSHOT_VIEWS.iter().map(|(v, _)| *v).collect();
    let order = registry.build_order(&targets)?;
    // A model no later one reads, and not written to the snapshot, is let go once the last
    // model reading it is built: the refresh holds only the rows still to be read.
    let reads: Vec<BTreeSet<String>> = order
        .iter()
        .map(|m| registry.models_read(m.name()))
        .collect();
    let state = ctx.state();
    let mut runs = Vec::new();
    let mut failed: Vec<(String, String)> = Vec::new();
    let mut skipped: Vec<String> = Vec::new();
    for (i, model) in order.iter().enumerate() {
        let blocked = model
            .depends_on()
            .iter()
            .any(|d| failed.iter().any(|(f, _)| f == d) || skipped.contains(d));
        if blocked {
            skipped.push(model.name().to_string());
            continue;
        }
        progress(Progress::Started(i + 1, order.len(), model.name()));
        reset_peak_memory();
        let started = std::time::Instant::now();
        match model.materialise(&state).await {
            Ok(_) => {
                let stats = model.stats();
                let run = ModelRun {
                    name: model.name().to_string(),
                    rows: stats.rows,
                    seconds: started.elapsed().as_secs_f64(),
                    peak_bytes: peak_memory(),
                    spilled: stats.spilled,
                };
                progress(Progress::Built(&run));
                runs.push(run);
                for done in &reads[i] {
                    let later = reads[i + 1..].iter().any(|r| r.contains(done));
                    if !later
                        && !targets.contains(&done.as_str())
                        && let Some(m) = order.iter().find(|m| m.name() == done)
                    {
                        m.release().await;
                    }
                }
            }
            Err(e) => failed.push((model.name().to_string(), clean_message(&e))),
        }
    }
    if failed.is_empty() {
        return Ok(runs);
    }
    let mut message = format!("cannot build the profile as of {as_of}; nothing was published:");
    for (name, error) in &failed {
        message.push_str(&format!("\n  model {name} failed: {error}"));
        if error.contains("Resources exhausted") || error.contains("Not enough memory") {
            let (limit, twice) = match state.runtime_env().memory_pool.memory_limit() {
                datafusion::execution::memory_pool::MemoryLimit::Finite(b) => (
                    format!("{} MB", b >> 20),
                    format!("--memory-limit {}MB", (b >> 20) * 2),
                ),
                _ => (
                    "the current limit".to_string(),
                    "a larger --memory-limit".to_string(),
                ),
            };
            message.push_str(&format!(
                "\n    the memory limit ({limit}) is too small for {name}; try {twice}"
            ));
        }
    }
    if !skipped.is_empty() {
        message.push_str(&format!(
            "\n  not built, as they read a failed model: {}",
            skipped.join(", ")
        ));
    }
    Err(PersonaError::Usage(message))
}

/// Starts a new measurement of the process's peak resident memory (Linux: `clear_refs` 5
/// resets VmHWM); elsewhere nothing.
fn reset_peak_memory() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The process's peak resident memory since the last [`reset_peak_memory`], in bytes.
fn peak_memory() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Publishes the files written into `tmp` as the date `as_of`, as one unit: a new date is one
/// rename of the directory; a date that exists is swapped with `tmp` in one
/// `renameat2(RENAME_EXCHANGE)` (or, where the file system cannot, renamed aside first and
/// restored by the next refresh if a crash falls between the two renames), so readers see all
/// of the old date or all of the new one, never a mix.
fn publish(
    root: &Path,
    tmp: &Path,
    as_of: &str,
    rows: Vec<(&'static str, usize)>,
) -> Result<Vec<Refreshed>> {
    let target = root.join(format!("as_of={as_of}"));
    let mut done = Vec::new();
    if !target.exists() {
        sync_dir(tmp);
        std::fs::rename(tmp, &target).map_err(|e| PersonaError::io(&target, &e))?;
        sync_dir(root);
        for (view, n) in rows {
            done.push(Refreshed {
                view,
                rows: n,
                outcome: Outcome::Written,
            });
        }
        return Ok(done);
    }
    for (view, n) in rows {
        let name = format!("{view}.parquet");
        let same = match (
            std::fs::read(tmp.join(&name)),
            std::fs::read(target.join(&name)),
        ) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        };
        done.push(Refreshed {
            view,
            rows: n,
            outcome: if same {
                Outcome::Unchanged
            } else {
                Outcome::Replaced
            },
        });
    }
    if done.iter().all(|d| d.outcome == Outcome::Unchanged) {
        return Ok(done);
    }
    sync_dir(tmp);
    exchange(tmp, &target).map_err(|e| PersonaError::io(&target, &e))?;
    sync_dir(root);
    // `tmp` now holds the old date; the guard removes it.
    Ok(done)
}

/// Swaps two directories atomically.
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    match renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE) {
        Ok(()) => Ok(()),
        // A file system without RENAME_EXCHANGE.
        Err(e) if e == rustix::io::Errno::INVAL || e == rustix::io::Errno::NOSYS => {
            exchange_by_renames(a, b)
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(not(target_os = "linux"))]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    exchange_by_renames(a, b)
}

/// `b` moves aside to `.old-<name>-PID`, `a` takes its place, the old one moves to `a`. A
/// crash between the first two renames leaves no `b`: [`remove_stale_temporaries`] puts the
/// aside copy back.
fn exchange_by_renames(a: &Path, b: &Path) -> std::io::Result<()> {
    let parent = b.parent().unwrap_or(Path::new("."));
    let name = b.file_name().map(|n| n.to_string_lossy().into_owned());
    let aside = parent.join(format!(
        ".old-{}-{}",
        name.unwrap_or_default(),
        std::process::id()
    ));
    std::fs::rename(b, &aside)?;
    std::fs::rename(a, b)?;
    std::fs::rename(&aside, a)
}

/// One model's line of a refresh: rows, seconds and the peak memory while it was built.
pub fn model_line(run: &ModelRun) -> String {
    let peak = run
        .peak_bytes
        .map(|b| format!("{:>8.1} MiB peak", b as f64 / (1u64 << 20) as f64))
        .unwrap_or_default();
    let spilled = if run.spilled {
        "  (spilled to disk)"
    } else {
        ""
    };
    format!(
        "  model {:<28} {:>9} rows {:>8.2} s {peak}{spilled}",
        run.name, run.rows, run.seconds
    )
}

/// The summary `persona refresh` prints.
pub fn summary(project_dir: &Path, as_of: &str, runs: &[ModelRun], done: &[Refreshed]) -> String {
    let seconds: f64 = runs.iter().map(|r| r.seconds).sum();
    let peak = runs.iter().filter_map(|r| r.peak_bytes).max();
    let mut out = format!(
        "built {} models in {seconds:.1} s{}\n",
        runs.len(),
        peak.map(|b| format!(", peak {:.0} MiB", b as f64 / (1u64 << 20) as f64))
            .unwrap_or_default()
    );
    out.push_str(&format!(
        "snapshot as of {as_of} in {}\n",
        snapshots_dir(project_dir)
            .join(format!("as_of={as_of}"))
            .display()
    ));
    for r in done {
        out.push_str(&format!(
            "  {:<20} {:>9} rows  {}\n",
            r.view,
            r.rows,
            r.outcome.as_str()
        ));
    }
    out
}

/// The session's as-of date; a session built by [`crate::SessionBuilder`] always has one.
pub fn session_as_of(ctx: &SessionContext) -> Result<String> {
    crate::session::as_of(ctx)
        .ok_or_else(|| PersonaError::Usage("the session has no as-of date (persona.as_of)".into()))
}

/// Refuses an as-of date with no customers or no orders on or before it: its snapshot would be
/// empty, which is never what a refresh was meant to record.
async fn ensure_data(ctx: &SessionContext, as_of: &str) -> Result<()> {
    for table in ["stg_customers", "stg_orders"] {
        let n = ctx.table(table).await?.count().await?;
        if n == 0 {
            let what = if table == "stg_customers" {
                "customers"
            } else {
                "orders"
            };
            return Err(PersonaError::Usage(format!(
                "no {what} on or before {as_of}, so there is nothing to snapshot; nothing was written"
            )));
        }
    }
    Ok(())
}

async fn write_view(
    ctx: &SessionContext,
    view: &str,
    order: &str,
    as_of: &str,
    path: &Path,
) -> Result<usize> {
    let sql = format!("SELECT DATE '{as_of}' AS as_of, * FROM {view} ORDER BY {order}");
    let stream = ctx.sql(&sql).await?.execute_stream().await?;
    crate::output::parquet::write_chunked(stream, path).await
}

/// Removes `.tmp-…-PID` directories of refreshes that are no longer running, and puts back a
/// date that one of them had moved aside (`.old-as_of=…-PID`) when it died before putting the
/// new one in its place.
fn remove_stale_temporaries(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.filter_map(|e| e.ok()) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let (rest, aside) = match (name.strip_prefix(".tmp-"), name.strip_prefix(".old-")) {
            (Some(rest), _) => (rest, false),
            (_, Some(rest)) => (rest, true),
            _ => continue,
        };
        let Some((date, pid)) = rest.rsplit_once('-') else {
            continue;
        };
        let running = pid
            .parse::<u32>()
            .is_ok_and(|p| Path::new(&format!("/proc/{p}")).exists());
        if running {
            continue;
        }
        let target = root.join(date);
        if aside && !target.exists() {
            let _ = std::fs::rename(entry.path(), &target);
        } else {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Flushes a directory's entries (the renames in it) to disk; best effort.
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Removes a temporary directory when the refresh ends, however it ends.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
