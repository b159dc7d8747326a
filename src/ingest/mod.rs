//! `persona ingest`: raw sources to curated Parquet, with every record accounted for.
//!
//! For each `[[source]]` with an `[source.ingest]` section:
//!
//! 1. **Read** ([`read`]): the files (a path, a directory or a glob) are read as text columns
//!    (CSV/TSV in UTF-8, GBK or GB18030; NDJSON; JSON arrays) or as they are (Parquet), each row
//!    with its file and line. A record that cannot be read is a reject. UTF-8 CSV and NDJSON
//!    files are read a piece at a time, and a source's rows past 64 MiB wait in Parquet files of
//!    the spill directory, so memory does not grow with the size of a source; the one sort of
//!    steps 2 and 3 may spill too.
//! 2. **Clean and check**: the `select` items (SQL over the raw columns, the `clean` functions
//!    among them) make the curated columns; a row with a NULL key column or failing a `rule` is
//!    a reject with the rule's reason.
//! 3. **Deduplicate** ([`dedup`]): `exact` keeps the first of rows equal in every curated
//!    column, `latest` the row with the largest `latest_by` per key; the others are *merged*. A
//!    key still held by two rows after that is a reject of the later one. The checked rows are
//!    sorted once, by key, and ranked in one pass as they stream to the curated file.
//! 4. **Write**: `curated/<source>.parquet` (sorted by key, file and line, in fixed chunks, so
//!    the same input gives the same bytes) and `curated/_rejects/<source>.parquet` (file, line,
//!    reason, raw text), each into a temporary file renamed into place, so an interrupted run
//!    leaves the previous curated data as they were. `curated/_state/<source>.files` lists the
//!    files read, for `--incremental`, which reads only files not read before and deduplicates
//!    them together with the curated rows.
//!
//! Every source's summary is `read = kept + rejected + merged`, and the run checks that it adds
//! up. Then [`identity`] stitches the sources' records into customers.

mod dedup;
pub mod identity;
pub mod read;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema};
use datafusion::catalog::{MemTable, TableProvider};
use datafusion::prelude::SessionContext;

use crate::config::{IngestConfig, Project, SourceConfig, SourceFormat};
use crate::error::{PersonaError, Result, clean_message};
use dedup::RowKey;
use read::{FileStamp, RawData, Reject};

/// The directory of curated data in a project.
pub fn curated_dir(project_dir: &Path) -> PathBuf {
    project_dir.join("curated")
}

/// `persona ingest` options.
#[derive(Debug, Clone, Default)]
pub struct IngestOptions {
    /// Read only the files not read before (by name, size and modification time).
    pub incremental: bool,
    /// Ingest only these sources (all when empty).
    pub only: Vec<String>,
    /// Show a progress bar on standard error.
    pub progress: bool,
}

/// What ingesting one source did.
#[derive(Debug, Clone, Default)]
pub struct SourceSummary {
    pub name: String,
    /// Records read in this run, the rejected ones included.
    pub read: u64,
    pub kept: u64,
    pub rejected: u64,
    pub merged: u64,
    /// Files read and files skipped (already read, `--incremental`).
    pub files_read: usize,
    pub files_skipped: usize,
    /// Rows of the curated table after the run.
    pub curated_rows: u64,
    /// Why an incremental run read everything after all, if it did.
    pub note: Option<String>,
}

impl SourceSummary {
    /// One line: `orders: read 1,204 = kept 1,180 + rejected 12 + merged 12 (1 file)`.
    pub fn line(&self) -> String {
        let files = match (self.files_read, self.files_skipped) {
            (1, 0) => "1 file".to_string(),
            (n, 0) => format!("{n} files"),
            (n, s) => format!("{n} new files, {s} already read"),
        };
        let mut line = format!(
            "{}: read {} = kept {} + rejected {} + merged {} ({files}); {} curated rows",
            self.name,
            thousands(self.read),
            thousands(self.kept),
            thousands(self.rejected),
            thousands(self.merged),
            thousands(self.curated_rows),
        );
        if let Some(note) = &self.note {
            line.push_str(&format!(" [{note}]"));
        }
        line
    }
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The sources `persona ingest` reads, checked against `only`.
pub fn ingest_sources<'a>(project: &'a Project, only: &[String]) -> Result<Vec<&'a SourceConfig>> {
    let all: Vec<&SourceConfig> = project
        .config
        .sources
        .iter()
        .filter(|s| s.ingest.is_some())
        .collect();
    for name in only {
        if !all.iter().any(|s| &s.name == name) {
            return Err(PersonaError::Usage(format!(
                "there is no source named '{name}' with an [source.ingest] section in persona.toml"
            )));
        }
    }
    if all.is_empty() {
        return Err(PersonaError::Usage(format!(
            "{} declares no source to ingest: give a [[source]] an [source.ingest] section",
            project.dir.join("persona.toml").display()
        )));
    }
    Ok(all
        .into_iter()
        .filter(|s| only.is_empty() || only.contains(&s.name))
        .collect())
}

/// Ingests one source; a file-level fault or a failing expression is an error naming the source.
pub async fn ingest_source(
    ctx: &SessionContext,
    project: &Project,
    source: &SourceConfig,
    opts: &IngestOptions,
    bar: Option<&indicatif::ProgressBar>,
) -> Result<SourceSummary> {
    let ingest = source
        .ingest
        .as_ref()
        .expect("only ingest sources get here");
    let fail = |message: String| PersonaError::Source {
        name: source.name.clone(),
        path: source.path.clone(),
        message,
    };
    let dir = curated_dir(&project.dir);
    for d in [dir.clone(), dir.join("_rejects"), dir.join("_state")] {
        std::fs::create_dir_all(&d).map_err(|e| PersonaError::io(&d, &e))?;
    }
    finish_publishes(&dir);
    remove_stale_temporaries(&dir);
    let curated = dir.join(format!("{}.parquet", source.name));
    let rejects_path = dir
        .join("_rejects")
        .join(format!("{}.parquet", source.name));
    let state_path = dir.join("_state").join(format!("{}.files", source.name));

    let files = read::list_files(ctx, source, &project.dir)
        .await
        .map_err(fail)?;
    let mut summary = SourceSummary {
        name: source.name.clone(),
        ..Default::default()
    };
    // Incremental: files already read (same name, size and time) are skipped; a file that
    // changed or vanished since means the curated rows no longer match the files, so all
    // are read again.
    let mut previous = false;
    let to_read: Vec<FileStamp> = if opts.incremental && curated.is_file() {
        let known = load_state(&state_path);
        let changed = known.iter().any(|k| !files.contains(k));
        if changed {
            summary.note =
                Some("a file read before changed or is gone, so all were read again".into());
            files.clone()
        } else {
            previous = true;
            files
                .iter()
                .filter(|f| !known.contains(f))
                .cloned()
                .collect()
        }
    } else {
        files.clone()
    };
    summary.files_read = to_read.len();
    summary.files_skipped = files.len() - to_read.len();
    if previous && to_read.is_empty() {
        summary.curated_rows = parquet_rows(&curated)?;
        return Ok(summary);
    }

    let spill = || read::Spiller::new(ctx.runtime_env().disk_manager.clone());
    let raw: RawData = if source.format == SourceFormat::Parquet {
        let reader = read::ParquetReader::default().with_spill(spill());
        read_all(ctx, reader, &to_read, bar)
            .await
            .map_err(fail)?
            .finish()
            .map_err(fail)?
    } else {
        let reader = read::TextReader::new(source).with_spill(spill());
        read_all(ctx, reader, &to_read, bar)
            .await
            .map_err(fail)?
            .finish()
            .map_err(fail)?
    };
    summary.read = raw.records;

    // One sort at a time (6 million events failed under 600 MB with one per partition); the
    // cleaning before the sorts still runs on every core.
    let saved = crate::session::sort_whole_tables(ctx);
    let result = clean_and_write(
        ctx,
        project,
        source,
        ingest,
        raw,
        previous.then_some(&curated),
        &curated,
        &rejects_path,
        &mut summary,
    )
    .await;
    for t in ["__ingest_raw", "__ingest_prev", "__ingest_kept"] {
        let _ = ctx.deregister_table(t);
    }
    ctx.deregister_udf(RowKey::NAME);
    crate::session::restore_sorts(ctx, saved);
    result.map_err(|e| match e {
        PersonaError::DataFusion(e) => {
            let message = clean_message(&e);
            if message.contains("Resources exhausted") || message.contains("Not enough memory") {
                fail(out_of_memory(ctx))
            } else {
                fail(message)
            }
        }
        other => other,
    })?;
    save_state(&state_path, &files)?;
    if summary.read != summary.kept + summary.rejected + summary.merged {
        return Err(fail(format!(
            "internal error: the counts do not add up (read {} ≠ kept {} + rejected {} + merged {}); please report it",
            summary.read, summary.kept, summary.rejected, summary.merged
        )));
    }
    Ok(summary)
}

/// What to change when a source's sorts ran out of memory: DataFusion's own message names its
/// configuration keys, not persona's option.
fn out_of_memory(ctx: &SessionContext) -> String {
    use datafusion::execution::memory_pool::MemoryLimit;
    match ctx.runtime_env().memory_pool.memory_limit() {
        MemoryLimit::Finite(bytes) => format!(
            "its deduplication needs more memory than the limit of {} MB, even spilling to disk; try --memory-limit {}MB",
            bytes >> 20,
            (bytes >> 20) * 2
        ),
        _ => "its deduplication ran out of memory; set a --memory-limit so that it spills to disk"
            .into(),
    }
}

/// A reader that takes a source's files one at a time, whole or in pieces.
trait FileReader: Send + 'static {
    fn add(&mut self, file: &FileStamp, bytes: Vec<u8>) -> std::result::Result<(), String>;

    fn in_pieces(&self) -> bool {
        false
    }

    fn add_piece(
        &mut self,
        _file: &FileStamp,
        _bytes: &[u8],
        _at_end: bool,
    ) -> std::result::Result<(), String> {
        Err("this reader takes whole files".into())
    }
}

impl FileReader for read::TextReader {
    fn add(&mut self, file: &FileStamp, bytes: Vec<u8>) -> std::result::Result<(), String> {
        read::TextReader::add(self, file, bytes)
    }

    fn in_pieces(&self) -> bool {
        read::TextReader::in_pieces(self)
    }

    fn add_piece(
        &mut self,
        file: &FileStamp,
        bytes: &[u8],
        at_end: bool,
    ) -> std::result::Result<(), String> {
        read::TextReader::add_piece(self, file, bytes, at_end)
    }
}

impl FileReader for read::ParquetReader {
    fn add(&mut self, file: &FileStamp, bytes: Vec<u8>) -> std::result::Result<(), String> {
        read::ParquetReader::add(self, file, bytes)
    }
}

/// Fetches each file (from disk or the object store) and parses it off the async threads.
async fn read_all<R: FileReader>(
    ctx: &SessionContext,
    mut reader: R,
    files: &[FileStamp],
    bar: Option<&indicatif::ProgressBar>,
) -> std::result::Result<R, String> {
    for file in files {
        if reader.in_pieces() {
            // A piece at a time: memory holds one piece and the rows not yet spilled, however
            // large the file, and the bar moves as the file is read.
            let mut pieces = read::Pieces::open(ctx, &file.path).await?;
            loop {
                let bytes = pieces.next(read::PIECE_BYTES).await?;
                let at_end = pieces.at_end();
                let (f, n) = (file.clone(), bytes.len() as u64);
                reader = tokio::task::spawn_blocking(move || {
                    reader.add_piece(&f, &bytes, at_end).map(|_| reader)
                })
                .await
                .map_err(|e| format!("the reader stopped: {e}"))??;
                if let Some(b) = bar {
                    b.inc(n);
                }
                if at_end {
                    break;
                }
            }
            continue;
        }
        let bytes = read::fetch(ctx, &file.path).await?;
        let f = file.clone();
        reader = tokio::task::spawn_blocking(move || reader.add(&f, bytes).map(|_| reader))
            .await
            .map_err(|e| format!("the reader stopped: {e}"))??;
        if let Some(b) = bar {
            b.inc(file.size);
        }
    }
    Ok(reader)
}

#[allow(clippy::too_many_arguments)]
async fn clean_and_write(
    ctx: &SessionContext,
    project: &Project,
    source: &SourceConfig,
    ingest: &IngestConfig,
    raw: RawData,
    previous: Option<&PathBuf>,
    curated: &Path,
    rejects_path: &Path,
    summary: &mut SourceSummary,
) -> Result<()> {
    let raw_columns: Vec<String> = raw
        .schema
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .filter(|n| !read::LINEAGE.contains(&n.as_str()))
        .collect();
    let raw_table: Arc<dyn TableProvider> = if raw.spilled.is_empty() {
        let parts = partition(raw.batches, ctx.state().config().target_partitions());
        Arc::new(MemTable::try_new(raw.schema.clone(), parts)?)
    } else {
        Arc::new(crate::models::spill_files_table(
            &raw.spilled,
            raw.schema.clone(),
        )?)
    };
    ctx.register_table("__ingest_raw", raw_table)?;

    // Stage 1: curated columns, keys and rules.
    let select = if ingest.select.is_empty() {
        raw_columns
            .iter()
            .map(|c| ident(c))
            .collect::<Vec<_>>()
            .join(", ")
    } else {
        ingest.select.join(", ")
    };
    let raw_struct = if raw_columns.is_empty() {
        "named_struct('_', NULL)".to_string()
    } else {
        format!(
            "named_struct({})",
            raw_columns
                .iter()
                .map(|c| format!("'{}', {}", c.replace('\'', "''"), ident(c)))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let inner = format!(
        "SELECT {select}, _file, _line, _offset, _len, {raw_struct} AS raw FROM __ingest_raw"
    );
    let probe = ctx.sql(&inner).await.map_err(|e| {
        PersonaError::Usage(format!(
            "source '{}': select: {} (the raw columns are: {})",
            source.name,
            clean_message(&e),
            raw_columns.join(", ")
        ))
    })?;
    let curated_cols: Vec<String> = probe
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .filter(|n| n != "raw" && !read::LINEAGE.contains(&n.as_str()))
        .collect();
    for k in &ingest.key {
        if !curated_cols.contains(k) {
            return Err(PersonaError::Usage(format!(
                "source '{}': key column '{k}' is not among the curated columns ({})",
                source.name,
                curated_cols.join(", ")
            )));
        }
    }
    let mut whens = Vec::new();
    for k in &ingest.key {
        whens.push(format!("WHEN {} IS NULL THEN 'missing key {k}'", ident(k)));
    }
    for rule in &ingest.rules {
        let reason = rule.reason.clone().unwrap_or_else(|| {
            format!(
                "'{}'",
                format!("{} failed: {}", rule.name, rule.check).replace('\'', "''")
            )
        });
        whens.push(format!(
            "WHEN NOT coalesce(({}), false) THEN coalesce(CAST(({reason}) AS VARCHAR), '{} failed')",
            rule.check,
            rule.name.replace('\'', "''")
        ));
    }
    let reject_expr = if whens.is_empty() {
        "CAST(NULL AS VARCHAR)".to_string()
    } else {
        format!("CASE {} END", whens.join(" "))
    };
    let cols = curated_cols
        .iter()
        .map(|c| ident(c))
        .collect::<Vec<_>>()
        .join(", ");
    let mut checked = format!(
        "SELECT {cols}, _file, _line, _offset, _len, {reject_expr} AS _reject FROM ({inner}) AS t"
    );
    if let Some(prev) = previous {
        ctx.register_parquet(
            "__ingest_prev",
            prev.to_string_lossy().as_ref(),
            Default::default(),
        )
        .await?;
        checked = format!(
            "SELECT {cols}, _file, _line, CAST(NULL AS BIGINT) AS _offset, CAST(NULL AS BIGINT) AS _len, \
             CAST(NULL AS VARCHAR) AS _reject FROM __ingest_prev UNION ALL {checked}"
        );
    }

    // Stage 2: deduplication, the latest-row rule and the duplicate-key check, in one pass
    // over the checked rows sorted once (see `dedup`).
    ctx.register_udf(datafusion::logical_expr::ScalarUDF::new_from_impl(
        RowKey::default(),
    ));
    let tmp = temporary(curated);
    let _guard = RemoveOnDrop(tmp.clone());
    let pool = ctx.runtime_env().memory_pool.clone();
    let outcome = match rank_and_write(ctx, ingest, &checked, &curated_cols, Some(pool), &tmp)
        .await?
    {
        Some(outcome) => outcome,
        // The fingerprints of every distinct row did not fit in memory: sort by them instead.
        None => rank_and_write(ctx, ingest, &checked, &curated_cols, None, &tmp)
            .await?
            .ok_or_else(|| {
                PersonaError::Usage("internal error: ranking by sorting was refused memory".into())
            })?,
    };

    // Counts.
    let (kept_total, sql_rejected, merged) =
        (outcome.kept, outcome.rejects.len() as u64, outcome.merged);
    let prev_rows = match previous {
        Some(p) => parquet_rows(p)?,
        None => 0,
    };
    summary.curated_rows = kept_total;
    summary.kept = kept_total.saturating_sub(prev_rows);
    // Rows of the previous curated table merged away this run count against this run's kept.
    summary.merged = merged;
    summary.rejected = raw.rejects.len() as u64 + sql_rejected;
    if kept_total < prev_rows {
        summary.kept = 0;
    }

    // Rejects: the reader's, then the rules' with their raw text cut from the file.
    let mut rejects: Vec<Reject> = raw.rejects;
    // (line, reason, the record's bytes in the decoded file), grouped by file so each file is
    // opened once and only the rejected records are read back.
    type Rejected = (i64, String, Option<(u64, u64)>);
    let mut by_file: std::collections::BTreeMap<String, Vec<Rejected>> = Default::default();
    for r in outcome.rejects {
        by_file
            .entry(r.file)
            .or_default()
            .push((r.line, r.reason, r.range));
    }
    let encoding = read::source_encoding(source);
    for (f, rows) in by_file {
        let path = if crate::storage::is_s3(&f) {
            PathBuf::from(&f)
        } else {
            project.dir.join(&f)
        };
        let ranges: Vec<(u64, u64)> = rows.iter().filter_map(|r| r.2).collect();
        // A file that cannot be read again (gone since) leaves the raw text empty.
        let mut texts = read::cut_records(ctx, &path, encoding, &ranges)
            .await
            .unwrap_or_default()
            .into_iter();
        for (line, reason, range) in rows {
            let raw_text = match range {
                Some(_) => texts.next().unwrap_or_default(),
                None => String::new(),
            };
            rejects.push(Reject {
                file: f.clone(),
                line,
                reason,
                raw: raw_text,
            });
        }
    }
    if previous.is_some() && rejects_path.is_file() {
        rejects.extend(read_rejects(rejects_path)?);
    }
    rejects.sort_by(|a, b| (&a.file, a.line, &a.reason).cmp(&(&b.file, b.line, &b.reason)));
    rejects.dedup_by(|a, b| a.file == b.file && a.line == b.line && a.reason == b.reason);
    let rtmp = temporary(rejects_path);
    let _rguard = RemoveOnDrop(rtmp.clone());
    write_rejects(ctx, &source.name, &rejects, &rtmp).await?;

    // Publish: curated first, so the state file never claims files the curated rows lack; the
    // two renames as one unit (see `publish`).
    // From here the temporaries are complete: a failure leaves them to the journal, or to the
    // next run's clean-up, rather than removing one of a pair.
    std::mem::forget(_guard);
    std::mem::forget(_rguard);
    let state_dir = curated_dir(&project.dir).join("_state");
    publish(
        &state_dir,
        &source.name,
        &[(tmp.as_path(), curated), (rtmp.as_path(), rejects_path)],
    )
}

/// Sorts and ranks the checked rows (see [`dedup`]) and writes the kept ones to `out`. `None`
/// when the memory pool refused the in-memory fingerprint set, which is used only with `pool`.
async fn rank_and_write(
    ctx: &SessionContext,
    ingest: &IngestConfig,
    checked: &str,
    cols: &[String],
    pool: Option<Arc<dyn datafusion::execution::memory_pool::MemoryPool>>,
    out: &Path,
) -> Result<Option<dedup::Outcome>> {
    let ranking = dedup::Ranking::new(
        checked,
        cols,
        &ingest.key,
        ingest.dedup,
        ingest.latest_by.as_deref(),
        pool,
    );
    let sorted = ctx.sql(&ranking.sql).await?.execute_stream().await?;
    let (kept_rows, outcome) = ranking.rank(sorted)?;
    let written = if ranking.resort {
        // Ranked in fingerprint order; the curated file is in file and line order, so the kept
        // rows wait in a spill file and are sorted again.
        resort(ctx, kept_rows, out).await
    } else {
        crate::output::parquet::write_chunked(kept_rows, out)
            .await
            .map(|_| ())
    };
    let outcome = std::mem::take(&mut *outcome.lock().expect("the ingest outcome lock"));
    match written {
        Err(_) if outcome.refused => Ok(None),
        Err(e) => Err(e),
        Ok(()) => Ok(Some(outcome)),
    }
}

/// Writes `rows` to `out` sorted by file and line, by way of a spill file.
async fn resort(
    ctx: &SessionContext,
    rows: datafusion::execution::SendableRecordBatchStream,
    out: &Path,
) -> Result<()> {
    let file = ctx
        .runtime_env()
        .disk_manager
        .create_tmp_file("ingest: kept rows")?;
    let Some(path) = file.path().map(Path::to_path_buf) else {
        return Err(PersonaError::Usage(
            "ingest needs a spill directory on local disk".into(),
        ));
    };
    let schema = rows.schema();
    read::write_spill(rows, &path).await?;
    ctx.register_table(
        "__ingest_kept",
        Arc::new(crate::models::spill_files_table(
            std::slice::from_ref(&file),
            schema,
        )?),
    )?;
    let stream = ctx
        .sql("SELECT * FROM __ingest_kept ORDER BY _file, _line")
        .await?
        .execute_stream()
        .await?;
    crate::output::parquet::write_chunked(stream, out).await?;
    Ok(())
}

/// Renames each complete temporary file into place, as one unit: the pairs are first written
/// to a journal, `_state/<source>.publish`, which is removed once every rename is done. A run
/// killed between the renames leaves the journal, and the next persona process to open the
/// project ([`finish_publishes`]) makes the remaining renames, so curated rows and their
/// rejects are never read from two different runs for longer than it takes to start again.
fn publish(state_dir: &Path, source: &str, pairs: &[(&Path, &Path)]) -> Result<()> {
    let journal = state_dir.join(format!("{source}.publish"));
    let mut text = format!("{}\n", std::process::id());
    for (from, to) in pairs {
        text.push_str(&format!("{}\t{}\n", from.display(), to.display()));
    }
    let partial = state_dir.join(format!("{source}.publish.partial"));
    std::fs::write(&partial, text).map_err(|e| PersonaError::io(&partial, &e))?;
    std::fs::rename(&partial, &journal).map_err(|e| PersonaError::io(&journal, &e))?;
    for (from, to) in pairs {
        std::fs::rename(from, to).map_err(|e| PersonaError::io(to, &e))?;
    }
    std::fs::remove_file(&journal).map_err(|e| PersonaError::io(&journal, &e))?;
    Ok(())
}

/// Finishes the publishes of runs that died between their renames (see [`publish`]): every
/// temporary file a journal names that still exists is renamed into place. Journals of runs
/// still going are left to them.
pub fn finish_publishes(dir: &Path) {
    let state = dir.join("_state");
    let Ok(entries) = std::fs::read_dir(&state) else {
        return;
    };
    for entry in entries.filter_map(|e| e.ok()) {
        let path = entry.path();
        if path.extension().is_none_or(|x| x != "publish") {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let mut lines = text.lines();
        let running = lines
            .next()
            .and_then(|p| p.parse::<u32>().ok())
            .is_some_and(|p| p != std::process::id() && Path::new(&format!("/proc/{p}")).exists());
        if running {
            continue;
        }
        for line in lines {
            if let Some((from, to)) = line.split_once('\t')
                && Path::new(from).exists()
            {
                let _ = std::fs::rename(from, to);
            }
        }
        let _ = std::fs::remove_file(&path);
    }
}

/// A text column as one string type, whichever it was read as.
pub(crate) fn strings(a: &Arc<dyn Array>) -> datafusion::error::Result<Arc<dyn StrAt>> {
    Ok(match a.data_type() {
        DataType::Utf8View => Arc::new(a.as_string_view().clone()),
        DataType::LargeUtf8 => Arc::new(a.as_string::<i64>().clone()),
        DataType::Utf8 => Arc::new(a.as_string::<i32>().clone()),
        other => {
            return Err(datafusion::error::DataFusionError::Internal(format!(
                "ingest: a text column is {other}"
            )));
        }
    })
}

pub(crate) trait StrAt: Send + Sync {
    fn value(&self, i: usize) -> &str;
}

impl StrAt for datafusion::arrow::array::StringViewArray {
    fn value(&self, i: usize) -> &str {
        datafusion::arrow::array::StringViewArray::value(self, i)
    }
}

impl<O: datafusion::arrow::array::OffsetSizeTrait> StrAt
    for datafusion::arrow::array::GenericStringArray<O>
{
    fn value(&self, i: usize) -> &str {
        datafusion::arrow::array::GenericStringArray::<O>::value(self, i)
    }
}

/// The schema of a rejects file.
pub fn rejects_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("source", DataType::Utf8, false),
        Field::new("file", DataType::Utf8, false),
        Field::new("line", DataType::Int64, false),
        Field::new("reason", DataType::Utf8, false),
        Field::new("raw", DataType::Utf8, false),
    ]))
}

async fn write_rejects(
    ctx: &SessionContext,
    source: &str,
    rejects: &[Reject],
    path: &Path,
) -> Result<()> {
    let schema = rejects_schema();
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(vec![source; rejects.len()])),
            Arc::new(StringArray::from_iter_values(
                rejects.iter().map(|r| r.file.as_str()),
            )),
            Arc::new(Int64Array::from_iter_values(rejects.iter().map(|r| r.line))),
            Arc::new(StringArray::from_iter_values(
                rejects.iter().map(|r| r.reason.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(
                rejects.iter().map(|r| r.raw.as_str()),
            )),
        ],
    )
    .map_err(crate::error::from_arrow)?;
    let stream = ctx.read_batch(batch)?.execute_stream().await?;
    crate::output::parquet::write_chunked(stream, path).await?;
    Ok(())
}

/// Every batch of a small Parquet file persona wrote (rejects, the identity map).
pub(crate) fn read_parquet_file(path: &Path) -> Result<Vec<RecordBatch>> {
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let f = std::fs::File::open(path).map_err(|e| PersonaError::io(path, &e))?;
    let bad = |e: String| PersonaError::Io {
        path: path.to_path_buf(),
        message: e,
    };
    ParquetRecordBatchReaderBuilder::try_new(f)
        .and_then(|b| b.build())
        .map_err(|e| bad(e.to_string()))?
        .map(|batch| batch.map_err(|e| bad(e.to_string())))
        .collect()
}

fn read_rejects(path: &Path) -> Result<Vec<Reject>> {
    let mut out = Vec::new();
    for b in read_parquet_file(path)? {
        let (file, line, reason, raw) = (
            strings(b.column(1))?,
            b.column(2).as_primitive::<Int64Type>().clone(),
            strings(b.column(3))?,
            strings(b.column(4))?,
        );
        for i in 0..b.num_rows() {
            out.push(Reject {
                file: file.value(i).to_string(),
                line: line.value(i),
                reason: reason.value(i).to_string(),
                raw: raw.value(i).to_string(),
            });
        }
    }
    Ok(out)
}

/// Rows in a Parquet file, from its footer.
pub fn parquet_rows(path: &Path) -> Result<u64> {
    use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};
    let f = std::fs::File::open(path).map_err(|e| PersonaError::io(path, &e))?;
    let reader = SerializedFileReader::new(f).map_err(|e| PersonaError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    Ok(reader.metadata().file_metadata().num_rows() as u64)
}

/// Splits batches into `n` partitions of consecutive batches, so the engine cleans them in
/// parallel while each partition stays in file order.
fn partition(batches: Vec<RecordBatch>, n: usize) -> Vec<Vec<RecordBatch>> {
    let n = n.max(1);
    let per = batches.len().div_ceil(n).max(1);
    let mut parts: Vec<Vec<RecordBatch>> = Vec::new();
    let mut it = batches.into_iter().peekable();
    while it.peek().is_some() {
        parts.push(it.by_ref().take(per).collect());
    }
    if parts.is_empty() {
        parts.push(Vec::new());
    }
    parts
}

/// A SQL identifier, quoted when it needs to be.
pub fn ident(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

fn temporary(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Not `.parquet`: a listing of the folder (the `rejects` table) must not read it.
    path.with_file_name(format!(".tmp-{}-{name}.partial", std::process::id()))
}

/// Removes `.tmp-PID-…` files of runs that are no longer running.
fn remove_stale_temporaries(dir: &Path) {
    for d in [dir.to_path_buf(), dir.join("_rejects")] {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.filter_map(|e| e.ok()) {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(rest) = name.strip_prefix(".tmp-") else {
                continue;
            };
            let pid = rest.split('-').next().and_then(|p| p.parse::<u32>().ok());
            if !pid.is_some_and(|p| Path::new(&format!("/proc/{p}")).exists()) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// Removes a temporary file however the run ends (after a rename there is nothing to remove).
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn load_state(path: &Path) -> Vec<FileStamp> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|l| {
            let mut parts = l.split('\t');
            let name = parts.next()?.to_string();
            let path = PathBuf::from(parts.next()?);
            let size = parts.next()?.parse().ok()?;
            let modified_ns = parts.next()?.parse().ok()?;
            Some(FileStamp {
                name,
                path,
                size,
                modified_ns,
            })
        })
        .collect()
}

fn save_state(path: &Path, files: &[FileStamp]) -> Result<()> {
    let text: String = files
        .iter()
        .map(|f| {
            format!(
                "{}\t{}\t{}\t{}\n",
                f.name,
                f.path.display(),
                f.size,
                f.modified_ns
            )
        })
        .collect();
    let tmp = temporary(path);
    std::fs::write(&tmp, text).map_err(|e| PersonaError::io(&tmp, &e))?;
    std::fs::rename(&tmp, path).map_err(|e| PersonaError::io(path, &e))
}

/// `persona ingest`: every ingest source, then identity stitching; prints one line per source.
/// Returns the exit code: 2 when a source failed (its previous curated data stay as they were).
pub async fn run(
    ctx: &SessionContext,
    project: &Project,
    opts: &IngestOptions,
    quiet: bool,
) -> Result<i32> {
    let sources = ingest_sources(project, &opts.only)?;
    // Listing the files for the bar's total costs a second listing (a request per prefix on
    // S3), so it is done only when a bar can show.
    let mut bar = None;
    if opts.progress && std::io::stderr().is_terminal() {
        let mut total_bytes = 0;
        for s in &sources {
            if let Ok(files) = read::list_files(ctx, s, &project.dir).await {
                total_bytes += files.iter().map(|f| f.size).sum::<u64>();
            }
        }
        if total_bytes > 8 << 20 {
            let b = indicatif::ProgressBar::new(total_bytes);
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "{msg} [{bar:30}] {bytes}/{total_bytes} {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar = Some(b);
        }
    }
    let mut failed = 0;
    for source in &sources {
        if let Some(b) = &bar {
            b.set_message(source.name.clone());
        }
        match ingest_source(ctx, project, source, opts, bar.as_ref()).await {
            Ok(summary) => {
                if let Some(b) = &bar {
                    b.suspend(|| println!("{}", summary.line()));
                } else if !quiet {
                    println!("{}", summary.line());
                }
            }
            Err(e) => {
                failed += 1;
                eprintln!("error: {e}; its curated data were left as they were");
            }
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if failed > 0 {
        eprintln!(
            "error: {failed} of {} sources failed; identity stitching was not run",
            sources.len()
        );
        return Ok(2);
    }
    // Stitching sorts whole sources too (the distinct ids and keys of every event).
    let saved = crate::session::sort_whole_tables(ctx);
    let stitched = identity::stitch(ctx, project).await;
    crate::session::restore_sorts(ctx, saved);
    if let Some(stats) = stitched?
        && !quiet
    {
        println!("{}", stats.line());
    }
    Ok(0)
}

/// Registers what earlier ingests wrote: `stg_<source>` over each curated source, `rejects`,
/// `identity_map`, `identity_audit` and the `customers_unified` view. Sources not ingested yet
/// are left out without a warning; the tables appear with the first `persona ingest`.
pub async fn register(ctx: &SessionContext, project: &Project) -> Vec<PersonaError> {
    let dir = curated_dir(&project.dir);
    finish_publishes(&dir);
    let mut problems = Vec::new();
    let mut register = async |name: String, path: PathBuf| {
        if !path.exists() {
            return false;
        }
        let opts = datafusion::prelude::ParquetReadOptions::default();
        match ctx
            .register_parquet(&name, path.to_string_lossy().as_ref(), opts)
            .await
        {
            Ok(()) => true,
            Err(e) => {
                problems.push(PersonaError::Io {
                    path: path.clone(),
                    message: format!("cannot be read as {name}: {}", clean_message(&e)),
                });
                false
            }
        }
    };
    for s in project.config.sources.iter().filter(|s| s.ingest.is_some()) {
        register(
            format!("stg_{}", s.name),
            dir.join(format!("{}.parquet", s.name)),
        )
        .await;
    }
    let any_rejects = std::fs::read_dir(dir.join("_rejects"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .any(|e| e.file_name().to_string_lossy().ends_with(".parquet"))
        })
        .unwrap_or(false);
    if any_rejects {
        register("rejects".into(), dir.join("_rejects/")).await;
    }
    let mapped = register("identity_map".into(), dir.join("identity_map.parquet")).await;
    register("identity_audit".into(), dir.join("identity_audit.parquet")).await;
    if mapped && let Some(sql) = identity::unified_view_sql(project) {
        let result = async { ctx.sql(&sql).await?.collect().await }.await;
        if let Err(e) = result {
            problems.push(PersonaError::Usage(format!(
                "customers_unified could not be built from [source.ingest.identity] attributes: {}",
                clean_message(&e)
            )));
        }
    }
    problems
}
