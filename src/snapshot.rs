//! Snapshots: `persona refresh` materialises the profile views as of a date, and every session
//! reads them back as tables with the as-of date as a column.
//!
//! Layout: `<project>/snapshots/as_of=YYYY-MM-DD/<view>.parquet`, one file per view, each with
//! an `as_of` DATE column first. The four files of a date are written into a private
//! `snapshots/.tmp-…` directory and published by one `rename` of that directory, so readers see
//! all of a new date or none of it, and an interrupted refresh leaves only the temporary
//! directory behind (removed by the next refresh). Refreshing a date that exists compares each
//! new file with the old one: identical files are left untouched (the same data and as-of give
//! the same bytes: rows are sorted and written in fixed-size chunks), changed ones are renamed
//! over the old file, which is atomic per file.
//!
//! Each session registers `snapshot_<view>` over the files it finds (an empty table with the
//! view's columns when there are none), then the views over them from `sql/snapshots/views.sql`.

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

/// Materialises the snapshot views as of the session's as-of date under `project_dir`.
pub async fn refresh(ctx: &SessionContext, project_dir: &Path) -> Result<(String, Vec<Refreshed>)> {
    let as_of = session_as_of(ctx)?;
    ensure_data(ctx, &as_of).await?;
    let root = snapshots_dir(project_dir);
    std::fs::create_dir_all(&root).map_err(|e| PersonaError::io(&root, &e))?;
    remove_stale_temporaries(&root);

    let tmp = root.join(format!(".tmp-as_of={as_of}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir(&tmp).map_err(|e| PersonaError::io(&tmp, &e))?;
    let guard = RemoveOnDrop(tmp.clone());

    let mut rows = Vec::new();
    for (view, order) in SNAPSHOT_VIEWS {
        let file = tmp.join(format!("{view}.parquet"));
        let n = write_view(ctx, view, order, &as_of, &file)
            .await
            .map_err(|e| match e {
                PersonaError::DataFusion(e) => PersonaError::Usage(format!(
                    "cannot snapshot {view} as of {as_of}: {}",
                    clean_message(&e)
                )),
                other => other,
            })?;
        rows.push((view, n));
    }

    let target = root.join(format!("as_of={as_of}"));
    let mut done = Vec::new();
    if !target.exists() {
        sync_dir(&tmp);
        std::fs::rename(&tmp, &target).map_err(|e| PersonaError::io(&target, &e))?;
        for (view, n) in rows {
            done.push(Refreshed {
                view,
                rows: n,
                outcome: Outcome::Written,
            });
        }
    } else {
        for (view, n) in rows {
            let name = format!("{view}.parquet");
            let (new, old) = (tmp.join(&name), target.join(&name));
            let same = match (std::fs::read(&new), std::fs::read(&old)) {
                (Ok(a), Ok(b)) => a == b,
                _ => false,
            };
            let outcome = if same {
                Outcome::Unchanged
            } else {
                std::fs::rename(&new, &old).map_err(|e| PersonaError::io(&old, &e))?;
                Outcome::Replaced
            };
            done.push(Refreshed {
                view,
                rows: n,
                outcome,
            });
        }
    }
    sync_dir(&root);
    drop(guard);
    Ok((as_of, done))
}

/// The summary `persona refresh` prints.
pub fn summary(project_dir: &Path, as_of: &str, done: &[Refreshed]) -> String {
    let mut out = format!(
        "snapshot as of {as_of} in {}\n",
        snapshots_dir(project_dir)
            .join(format!("as_of={as_of}"))
            .display()
    );
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

/// Removes `.tmp-…-PID` directories of refreshes that are no longer running.
fn remove_stale_temporaries(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.filter_map(|e| e.ok()) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(".tmp-") else {
            continue;
        };
        let pid = rest.rsplit('-').next().and_then(|p| p.parse::<u32>().ok());
        let running = pid.is_some_and(|p| Path::new(&format!("/proc/{p}")).exists());
        if !running {
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
