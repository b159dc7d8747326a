//! Reading raw source files into Arrow batches, with every record accounted for.
//!
//! CSV, TSV and JSON values arrive as text: the cleaning expressions of `[source.ingest]` decide
//! what they mean, so nothing is lost to a guessed type. Each row carries where it came from:
//! `_file` (relative to the project), `_line` (the line its record starts on; for Parquet and
//! JSON arrays the record number), and `_offset`/`_len`, the bytes of the record in the decoded
//! file, from which the raw text of a rejected row is cut.
//!
//! A record that cannot be read (a ragged CSV row, bytes that are not valid in the declared
//! encoding, a line that is not JSON) becomes a [`Reject`] with its reason; a fault of a whole
//! file (missing, empty, a header that differs from the first file's) is an error naming it.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{ArrayBuilder, ArrayRef, Int64Builder, RecordBatch, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::execution::SpillFile;
use datafusion::execution::disk_manager::DiskManager;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::prelude::SessionContext;

use crate::config::{SourceConfig, SourceFormat, single_byte};

/// Rows per batch handed to the engine.
const BATCH_ROWS: usize = 65_536;

/// The columns every raw row carries besides its own.
pub const LINEAGE: [&str; 4] = ["_file", "_line", "_offset", "_len"];

/// A record that could not be read.
#[derive(Debug, Clone)]
pub struct Reject {
    pub file: String,
    pub line: i64,
    pub reason: String,
    pub raw: String,
}

/// One file of a source, as listed for the incremental mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStamp {
    /// Relative to the project directory when it is inside it.
    pub name: String,
    pub path: PathBuf,
    pub size: u64,
    pub modified_ns: u128,
}

/// Bytes of parsed rows a reader holds before it writes them to a spill file.
const SPILL_BYTES: usize = 64 << 20;

/// Bytes read from a file at a time when it is read in pieces (see [`TextReader::in_pieces`]).
pub const PIECE_BYTES: usize = 64 << 20;

/// What reading a source's files gave: its rows in `batches` or, for a source larger than
/// [`SPILL_BYTES`], in `spilled` Parquet files of the session's spill directory (removed when
/// the last handle goes). A spill file has the columns seen by the time it was written; the
/// ones it lacks read as NULL under `schema`.
pub struct RawData {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    pub spilled: Vec<Arc<dyn SpillFile>>,
    pub rejects: Vec<Reject>,
    /// Records read, the rejected ones included.
    pub records: u64,
}

/// Writes a reader's rows to spill files once they pass [`SPILL_BYTES`], so a source of any size
/// is read in bounded memory: the rows wait on disk, and cleaning reads them back as a table.
#[derive(Default)]
pub struct Spiller {
    disk: Option<Arc<DiskManager>>,
    files: Vec<Arc<dyn SpillFile>>,
}

impl Spiller {
    pub fn new(disk: Arc<DiskManager>) -> Self {
        Self {
            disk: Some(disk),
            files: Vec::new(),
        }
    }

    /// Whether rows of this many bytes should go to disk now (or, once some have, all do).
    fn due(&self, bytes: usize, at_end: bool) -> bool {
        self.disk.is_some() && (bytes >= SPILL_BYTES || (at_end && !self.files.is_empty()))
    }

    fn write(&mut self, schema: &SchemaRef, batches: &[RecordBatch]) -> Result<(), String> {
        if batches.is_empty() {
            return Ok(());
        }
        let disk = self.disk.as_ref().ok_or("no spill directory")?;
        let fail = |e: &dyn std::fmt::Display| format!("writing a spill file: {e}");
        let file = disk.create_tmp_file("ingest").map_err(|e| fail(&e))?;
        let path = file
            .path()
            .ok_or("the spill directory has no local files to keep rows in")?;
        let handle = std::fs::File::create(path).map_err(|e| fail(&io_text(&e)))?;
        let mut writer = ArrowWriter::try_new(
            std::io::BufWriter::new(handle),
            schema.clone(),
            Some(spill_properties()),
        )
        .map_err(|e| fail(&e))?;
        for b in batches {
            writer.write(b).map_err(|e| fail(&e))?;
        }
        writer.close().map_err(|e| fail(&e))?;
        self.files.push(file);
        Ok(())
    }
}

/// How spill files are written. LZ4 without dictionaries: a spill file is read once, soon, by
/// this process; speed matters more than size.
fn spill_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::LZ4_RAW)
        .set_dictionary_enabled(false)
        .build()
}

/// Writes `stream` to the spill file at `path`.
pub async fn write_spill(
    mut stream: datafusion::execution::SendableRecordBatchStream,
    path: &Path,
) -> crate::error::Result<()> {
    use futures::StreamExt;
    let fail = |e: &dyn std::fmt::Display| crate::error::PersonaError::Io {
        path: path.to_path_buf(),
        message: format!("writing a spill file: {e}"),
    };
    let handle =
        std::fs::File::create(path).map_err(|e| crate::error::PersonaError::io(path, &e))?;
    let mut writer = ArrowWriter::try_new(
        std::io::BufWriter::new(handle),
        stream.schema(),
        Some(spill_properties()),
    )
    .map_err(|e| fail(&e))?;
    while let Some(batch) = stream.next().await.transpose()? {
        writer.write(&batch).map_err(|e| fail(&e))?;
    }
    writer.close().map_err(|e| fail(&e))?;
    Ok(())
}

fn batches_bytes<'a>(arrays: impl Iterator<Item = &'a ArrayRef>) -> usize {
    arrays.map(|a| a.get_array_memory_size()).sum()
}

/// The encoding named by `persona.toml` (`utf-8`, `gbk`, `gb18030`).
pub fn encoding_for(name: &str) -> Option<&'static encoding_rs::Encoding> {
    match name.to_ascii_lowercase().replace('_', "-").as_str() {
        "utf-8" | "utf8" => Some(encoding_rs::UTF_8),
        // WHATWG's GBK decoder reads all of GB18030's two-byte range, which is what GBK exports
        // (from Excel, WPS, older ERPs) contain.
        "gbk" | "cp936" | "gb2312" => Some(encoding_rs::GBK),
        "gb18030" => Some(encoding_rs::GB18030),
        _ => None,
    }
}

/// The files of a source: one file, a directory's files with the format's extension, or a glob.
pub async fn list_files(
    ctx: &SessionContext,
    source: &SourceConfig,
    project_dir: &Path,
) -> Result<Vec<FileStamp>, String> {
    let path = source.resolved_path(project_dir);
    if crate::storage::is_s3(&path) {
        return list_objects(ctx, source, &path).await;
    }
    if path.contains("://") {
        return Err("persona ingest reads local files and s3:// locations".into());
    }
    let mut paths: Vec<PathBuf> = if path.contains(['*', '?', '[']) {
        glob::glob(&path)
            .map_err(|e| format!("bad glob pattern: {e}"))?
            .filter_map(|p| p.ok())
            .filter(|p| p.is_file())
            .collect()
    } else {
        let p = PathBuf::from(&path);
        match std::fs::metadata(&p) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(format!("{}: no such file or directory", p.display()));
            }
            Err(e) => return Err(format!("{}: {e}", p.display())),
            Ok(m) if m.is_dir() => {
                let ext = source
                    .options
                    .extension
                    .clone()
                    .unwrap_or_else(|| source.format.extension().to_string());
                let entries = std::fs::read_dir(&p).map_err(|e| format!("{}: {e}", p.display()))?;
                entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|f| f.is_file() && f.to_string_lossy().ends_with(ext.as_str()))
                    .collect()
            }
            Ok(_) => vec![p],
        }
    };
    if paths.is_empty() {
        return Err("no file matches this path".into());
    }
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let meta = std::fs::metadata(&p).map_err(|e| format!("{}: {e}", p.display()))?;
            let modified_ns = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            let name = p
                .strip_prefix(project_dir)
                .unwrap_or(&p)
                .to_string_lossy()
                .into_owned();
            Ok(FileStamp {
                name,
                path: p,
                size: meta.len(),
                modified_ns,
            })
        })
        .collect()
}

/// The objects of an `s3://` source: one object, the objects under a prefix ending in `/` with
/// the format's extension, or those matching a glob in the last part of the path.
async fn list_objects(
    ctx: &SessionContext,
    source: &SourceConfig,
    url: &str,
) -> Result<Vec<FileStamp>, String> {
    use futures::TryStreamExt;
    use object_store::ObjectStoreExt;
    let (store, bucket, key) = store_for(ctx, url)?;
    let stamp = |meta: &object_store::ObjectMeta| FileStamp {
        name: format!("s3://{bucket}/{}", meta.location),
        path: PathBuf::from(format!("s3://{bucket}/{}", meta.location)),
        size: meta.size,
        modified_ns: meta.last_modified.timestamp_nanos_opt().unwrap_or(0).max(0) as u128,
    };
    let glob_at = key.find(['*', '?', '[']);
    let mut out = if glob_at.is_none() && !key.ends_with('/') && !key.is_empty() {
        let meta = store
            .head(&object_store::path::Path::from(key.as_str()))
            .await
            .map_err(|e| format!("{url}: {}", crate::storage::object_store_message(&e)))?;
        vec![stamp(&meta)]
    } else {
        let prefix_end = glob_at.map_or(key.len(), |g| key[..g].rfind('/').map_or(0, |i| i + 1));
        let prefix = object_store::path::Path::from(&key[..prefix_end]);
        let pattern = glob_at
            .map(|_| glob::Pattern::new(&key).map_err(|e| format!("bad glob pattern: {e}")))
            .transpose()?;
        let ext = source
            .options
            .extension
            .clone()
            .unwrap_or_else(|| source.format.extension().to_string());
        let all: Vec<object_store::ObjectMeta> = store
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|e| format!("{url}: {}", crate::storage::object_store_message(&e)))?;
        all.iter()
            .filter(|m| match &pattern {
                Some(p) => p.matches(m.location.as_ref()),
                None => m.location.as_ref().ends_with(ext.as_str()),
            })
            .map(stamp)
            .collect::<Vec<_>>()
    };
    if out.is_empty() {
        return Err("no object matches this location".into());
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// The store registered for an `s3://` URL, with the bucket and the key.
fn store_for(
    ctx: &SessionContext,
    url: &str,
) -> Result<(Arc<dyn object_store::ObjectStore>, String, String), String> {
    let parsed =
        url::Url::parse(url).map_err(|e| format!("'{url}' is not a valid location: {e}"))?;
    let bucket = parsed.host_str().unwrap_or_default().to_string();
    let base = datafusion::execution::object_store::ObjectStoreUrl::parse(format!("s3://{bucket}"))
        .map_err(|e| e.to_string())?;
    let store = ctx
        .runtime_env()
        .object_store(&base)
        .map_err(|_| format!("no store is registered for s3://{bucket}"))?;
    let key = parsed.path().trim_start_matches('/').to_string();
    Ok((store, bucket, key))
}

/// The bytes of a file: a local path, or an `s3://` object through the session's store.
pub async fn fetch(ctx: &SessionContext, path: &Path) -> Result<Vec<u8>, String> {
    let text = path.to_string_lossy();
    if crate::storage::is_s3(&text) {
        use object_store::ObjectStoreExt;
        let (store, _, key) = store_for(ctx, &text)?;
        let got = store
            .get(&object_store::path::Path::from(key.as_str()))
            .await
            .map_err(|e| format!("{text}: {}", crate::storage::object_store_message(&e)))?;
        let bytes = got
            .bytes()
            .await
            .map_err(|e| format!("{text}: {}", crate::storage::object_store_message(&e)))?;
        return Ok(bytes.to_vec());
    }
    tokio::fs::read(path)
        .await
        .map_err(|e| format!("{}: {}", path.display(), io_text(&e)))
}

/// A file read a piece at a time: a local file, or an `s3://` object by ranges.
pub struct Pieces {
    source: PieceSource,
    at: u64,
    len: u64,
}

enum PieceSource {
    Local(tokio::fs::File),
    Store(Arc<dyn object_store::ObjectStore>, object_store::path::Path),
}

impl Pieces {
    pub async fn open(ctx: &SessionContext, path: &Path) -> Result<Self, String> {
        let text = path.to_string_lossy();
        if crate::storage::is_s3(&text) {
            use object_store::ObjectStoreExt;
            let (store, _, key) = store_for(ctx, &text)?;
            let location = object_store::path::Path::from(key.as_str());
            let meta = store
                .head(&location)
                .await
                .map_err(|e| format!("{text}: {}", crate::storage::object_store_message(&e)))?;
            return Ok(Self {
                source: PieceSource::Store(store, location),
                at: 0,
                len: meta.size,
            });
        }
        let shown = |e: std::io::Error| format!("{}: {}", path.display(), io_text(&e));
        let file = tokio::fs::File::open(path).await.map_err(shown)?;
        let len = file.metadata().await.map_err(shown)?.len();
        Ok(Self {
            source: PieceSource::Local(file),
            at: 0,
            len,
        })
    }

    /// The next bytes, at most `max` of them (fewer only at the end).
    pub async fn next(&mut self, max: usize) -> Result<Vec<u8>, String> {
        let want = (self.len - self.at).min(max as u64);
        let bytes = match &mut self.source {
            PieceSource::Local(file) => {
                use tokio::io::AsyncReadExt;
                let mut buf = vec![0u8; want as usize];
                file.read_exact(&mut buf)
                    .await
                    .map_err(|e| format!("reading: {}", io_text(&e)))?;
                buf
            }
            PieceSource::Store(store, location) => {
                use object_store::ObjectStoreExt;
                store
                    .get_range(location, self.at..self.at + want)
                    .await
                    .map_err(|e| crate::storage::object_store_message(&e))?
                    .to_vec()
            }
        };
        self.at += want;
        Ok(bytes)
    }

    pub fn at_end(&self) -> bool {
        self.at >= self.len
    }
}

/// The text of records of a file, each given as (offset, length) in the decoded file as the
/// readers record them: for a UTF-8 file only those bytes are read; a file in another encoding
/// is read and decoded whole.
pub async fn cut_records(
    ctx: &SessionContext,
    path: &Path,
    encoding: &'static encoding_rs::Encoding,
    ranges: &[(u64, u64)],
) -> Result<Vec<String>, String> {
    if ranges.is_empty() {
        return Ok(Vec::new());
    }
    let text_of = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    if encoding != encoding_rs::UTF_8 {
        let name = path.to_string_lossy();
        let text = decode(fetch(ctx, path).await?, &name, encoding)?;
        return Ok(ranges
            .iter()
            .map(|&(o, l)| text_of(text.get(o as usize..(o + l) as usize).unwrap_or_default()))
            .collect());
    }
    let mut pieces = Pieces::open(ctx, path).await?;
    let head = pieces.next(3).await?;
    // Offsets count from after a byte-order mark, which decoding drops.
    let skip = if head.starts_with(b"\xEF\xBB\xBF") {
        3
    } else {
        0
    };
    let len = pieces.len;
    let wanted: Vec<std::ops::Range<u64>> = ranges
        .iter()
        .map(|&(o, l)| (o + skip).min(len)..(o + skip + l).min(len))
        .collect();
    let parts: Vec<Vec<u8>> = match &pieces.source {
        PieceSource::Local(_) => {
            use std::io::{Read, Seek, SeekFrom};
            let shown = |e: std::io::Error| format!("{}: {}", path.display(), io_text(&e));
            let mut file = std::fs::File::open(path).map_err(shown)?;
            let mut out = Vec::with_capacity(wanted.len());
            for r in &wanted {
                let mut buf = vec![0u8; (r.end - r.start) as usize];
                file.seek(SeekFrom::Start(r.start)).map_err(shown)?;
                file.read_exact(&mut buf).map_err(shown)?;
                out.push(buf);
            }
            out
        }
        PieceSource::Store(store, location) => store
            .get_ranges(location, &wanted)
            .await
            .map_err(|e| crate::storage::object_store_message(&e))?
            .into_iter()
            .map(|b| b.to_vec())
            .collect(),
    };
    Ok(parts.iter().map(|b| text_of(b)).collect())
}

/// The file's bytes as UTF-8 text: decoded from `encoding`, with a leading byte-order mark
/// dropped. Bytes that are not valid in a non-UTF-8 encoding become U+FFFD, which the CSV and
/// JSON readers turn into a reject of the record holding them. `name` is for messages.
pub fn decode(
    bytes: Vec<u8>,
    name: &str,
    encoding: &'static encoding_rs::Encoding,
) -> Result<Vec<u8>, String> {
    if encoding == encoding_rs::UTF_8 {
        return Ok(match bytes.strip_prefix(b"\xEF\xBB\xBF") {
            Some(rest) => rest.to_vec(),
            None => bytes,
        });
    }
    // A file that is valid UTF-8 with non-ASCII text in it is not GBK: decoding it as GBK would
    // turn every Chinese character into two wrong ones without a single error.
    if !bytes.is_ascii() && std::str::from_utf8(&bytes).is_ok() {
        return Err(format!(
            "{name}: the text is UTF-8 but the source declares encoding {}; remove `encoding` or set it to \"utf-8\"",
            encoding.name().to_ascii_lowercase()
        ));
    }
    let (text, _) = encoding.decode_without_bom_handling(&bytes);
    Ok(text.into_owned().into_bytes())
}

fn io_text(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// Reads the files of a text source (csv, tsv, json, ndjson) one after another.
pub struct TextReader {
    source: SourceConfig,
    encoding: &'static encoding_rs::Encoding,
    out: Collector,
    header: Option<(String, Vec<String>)>,
    spill: Spiller,
    piece: Option<Piece>,
}

/// Where reading a file in pieces stands: the bytes after the last complete record, and the
/// byte and line the next piece starts at.
struct Piece {
    file: String,
    /// The bytes after the last cut, all of them already seen by the quote scanner.
    pending: Vec<u8>,
    scanner: Option<QuoteScanner>,
    base: usize,
    base_line: i64,
    first: bool,
    bom_checked: bool,
}

impl TextReader {
    pub fn new(source: &SourceConfig) -> Self {
        TextReader {
            source: source.clone(),
            encoding: source_encoding(source),
            out: Collector::default(),
            header: None,
            spill: Spiller::default(),
            piece: None,
        }
    }

    /// Rows past [`SPILL_BYTES`] go to files of this spill directory.
    pub fn with_spill(mut self, spill: Spiller) -> Self {
        self.spill = spill;
        self
    }

    /// Whether files are read a piece at a time ([`TextReader::add_piece`]) rather than whole:
    /// UTF-8 CSV and NDJSON, whose records can be cut at a line end (outside quotes) without
    /// reading what follows. A JSON array, a CSV with an escape character and a file in another
    /// encoding are read whole.
    pub fn in_pieces(&self) -> bool {
        let csv_escape = self.source.options.escape.is_some();
        self.encoding == encoding_rs::UTF_8
            && match self.source.format {
                SourceFormat::Ndjson => true,
                SourceFormat::Csv | SourceFormat::Tsv => !csv_escape,
                _ => false,
            }
    }

    /// Reads the next bytes of a file read in pieces; `at_end` with the last of them. Complete
    /// records are parsed at once; the rest waits for the next bytes.
    pub fn add_piece(
        &mut self,
        file: &FileStamp,
        bytes: &[u8],
        at_end: bool,
    ) -> Result<(), String> {
        if self.piece.as_ref().is_none_or(|p| p.file != file.name) {
            let scanner = (self.source.format != SourceFormat::Ndjson)
                .then(|| QuoteScanner::new(csv_quoting(&self.source)));
            self.piece = Some(Piece {
                file: file.name.clone(),
                pending: Vec::new(),
                scanner,
                base: 0,
                base_line: 1,
                first: true,
                bom_checked: false,
            });
        }
        let mut p = self.piece.take().expect("set above");
        // Bytes held while the byte-order mark was undecided were not scanned yet.
        let scanned = if p.bom_checked { p.pending.len() } else { 0 };
        p.pending.extend_from_slice(bytes);
        if !p.bom_checked {
            if p.pending.len() < 3 && !at_end {
                self.piece = Some(p);
                return Ok(());
            }
            if p.pending.starts_with(b"\xEF\xBB\xBF") {
                p.pending.drain(..3);
            }
            p.bom_checked = true;
        }
        if at_end && p.first && p.pending.is_empty() {
            return Err(format!("{}: the file is empty", file.path.display()));
        }
        // Cut after the last line end that ends a record.
        let mut cut = 0;
        match &mut p.scanner {
            None => {
                if let Some(i) = p.pending.iter().rposition(|&b| b == b'\n') {
                    cut = i + 1;
                }
            }
            Some(scanner) => {
                for (i, &b) in p.pending.iter().enumerate().skip(scanned) {
                    if scanner.step(b) && b == b'\n' {
                        cut = i + 1;
                    }
                }
            }
        }
        if at_end {
            cut = p.pending.len();
        }
        if cut == 0 && !at_end {
            self.piece = Some(p);
            return Ok(());
        }
        let result = self.parse_piece(
            file,
            &p.pending[..cut],
            p.base,
            p.base_line,
            p.first,
            at_end,
        );
        p.base += cut;
        p.base_line += p.pending[..cut].iter().filter(|&&b| b == b'\n').count() as i64;
        p.pending.drain(..cut);
        p.first = false;
        if !at_end {
            self.piece = Some(p);
        }
        result?;
        self.spill_due(false)
    }

    fn parse_piece(
        &mut self,
        file: &FileStamp,
        text: &[u8],
        base: usize,
        base_line: i64,
        first: bool,
        last: bool,
    ) -> Result<(), String> {
        let (encoding, out) = (self.encoding, &mut self.out);
        match self.source.format {
            SourceFormat::Ndjson => {
                read_ndjson_in_parts(file, text, encoding, (base, base_line), out, PARTS);
                Ok(())
            }
            _ => {
                let at = Position {
                    base,
                    base_line,
                    first,
                    last,
                };
                read_csv(
                    &self.source,
                    file,
                    text,
                    encoding,
                    &mut self.header,
                    at,
                    out,
                )
            }
        }
    }

    /// Writes the rows read so far to a spill file once they are many.
    fn spill_due(&mut self, at_end: bool) -> Result<(), String> {
        let bytes = batches_bytes(self.out.done.iter().flat_map(|(_, a)| a.iter()));
        if self.spill.due(bytes, at_end) {
            if at_end {
                self.out.flush();
            }
            let (schema, batches) = self.out.take_done();
            self.spill.write(&schema, &batches)?;
        }
        Ok(())
    }

    /// Reads one file's bytes; a file-level fault is an error naming the file.
    pub fn add(&mut self, file: &FileStamp, bytes: Vec<u8>) -> Result<(), String> {
        let shown = file.path.display().to_string();
        let text = decode(bytes, &shown, self.encoding)?;
        if text.is_empty() {
            return Err(format!("{shown}: the file is empty"));
        }
        let (encoding, out) = (self.encoding, &mut self.out);
        match self.source.format {
            SourceFormat::Csv | SourceFormat::Tsv => read_csv(
                &self.source,
                file,
                &text,
                encoding,
                &mut self.header,
                Position::WHOLE,
                out,
            )?,
            SourceFormat::Ndjson => read_ndjson_in_parts(file, &text, encoding, (0, 1), out, PARTS),
            SourceFormat::Json => {
                let first = text.iter().find(|b| !b.is_ascii_whitespace());
                if first == Some(&b'[') {
                    read_json_array(file, &text, out)?
                } else {
                    read_ndjson(file, &text, encoding, 0, 1, out)
                }
            }
            SourceFormat::Parquet => return Err("a Parquet source is read by ParquetReader".into()),
        }
        self.spill_due(false)
    }

    pub fn finish(mut self) -> Result<RawData, String> {
        self.spill_due(true)?;
        let mut raw = self.out.finish();
        raw.spilled = self.spill.files;
        Ok(raw)
    }
}

/// Where a piece of text sits in its file.
#[derive(Clone, Copy)]
struct Position {
    /// The byte of the decoded file the piece starts at.
    base: usize,
    /// The line it starts on.
    base_line: i64,
    /// Whether it is the file's first piece (with the header).
    first: bool,
    /// Whether it runs to the end of the file.
    last: bool,
}

impl Position {
    const WHOLE: Position = Position {
        base: 0,
        base_line: 1,
        first: true,
        last: true,
    };
}

/// How a CSV source quotes its fields.
fn csv_quoting(source: &SourceConfig) -> Quoting {
    let o = &source.options;
    let default_delimiter = if source.format == SourceFormat::Tsv {
        b'\t'
    } else {
        b','
    };
    Quoting {
        quote: o.quote.as_deref().and_then(single_byte).unwrap_or(b'"'),
        delimiter: o
            .delimiter
            .as_deref()
            .and_then(single_byte)
            .unwrap_or(default_delimiter),
        escape: o.escape.as_deref().and_then(single_byte),
    }
}

/// The declared encoding of a source (validated with the configuration).
pub fn source_encoding(source: &SourceConfig) -> &'static encoding_rs::Encoding {
    source
        .encoding
        .as_deref()
        .and_then(encoding_for)
        .unwrap_or(encoding_rs::UTF_8)
}

/// Accumulates text columns (added as they are first seen) and lineage into batches.
#[derive(Default)]
struct Collector {
    names: Vec<String>,
    index: std::collections::HashMap<String, usize>,
    columns: Vec<StringBuilder>,
    /// One file name per row. Plain strings, not views into one deduplicated buffer: the
    /// sorts of deduplication interleave rows of thousands of batches, and every view array
    /// they produce keeps (and is charged for) the buffer of each batch it has a row from; at
    /// 10M orders one sorted batch was charged 358 MB and ingest failed on memory it never used.
    file: Option<StringBuilder>,
    line: Option<Int64Builder>,
    offset: Option<Int64Builder>,
    len: Option<Int64Builder>,
    rows: usize,
    done: Vec<(Vec<String>, Vec<ArrayRef>)>,
    rejects: Vec<Reject>,
    records: u64,
    /// NDJSON: the column of each key position in the record before.
    guess: Vec<usize>,
    /// NDJSON: per column, the record (its number in `records`) that last set it.
    stamp: Vec<u64>,
}

impl Collector {
    fn column(&mut self, name: &str) -> usize {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        let mut b = StringBuilder::new();
        b.append_nulls(self.rows);
        self.names.push(name.to_string());
        self.columns.push(b);
        self.stamp.push(0);
        self.index.insert(name.to_string(), self.columns.len() - 1);
        self.columns.len() - 1
    }

    /// Ends a row: pads the columns it did not set and records where it came from.
    fn end_row(&mut self, file: &str, line: i64, offset: Option<i64>, len: Option<i64>) {
        self.rows += 1;
        for c in &mut self.columns {
            if c.len() < self.rows {
                c.append_null();
            }
        }
        self.file
            .get_or_insert_with(StringBuilder::new)
            .append_value(file);
        self.line
            .get_or_insert_with(Int64Builder::new)
            .append_value(line);
        self.offset
            .get_or_insert_with(Int64Builder::new)
            .append_option(offset);
        self.len
            .get_or_insert_with(Int64Builder::new)
            .append_option(len);
        if self.rows >= BATCH_ROWS {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if self.rows == 0 {
            return;
        }
        let mut arrays: Vec<ArrayRef> = self
            .columns
            .iter_mut()
            .map(|c| Arc::new(c.finish()) as ArrayRef)
            .collect();
        arrays.push(Arc::new(
            self.file.get_or_insert_with(StringBuilder::new).finish(),
        ));
        arrays.push(Arc::new(
            self.line.get_or_insert_with(Int64Builder::new).finish(),
        ));
        arrays.push(Arc::new(
            self.offset.get_or_insert_with(Int64Builder::new).finish(),
        ));
        arrays.push(Arc::new(
            self.len.get_or_insert_with(Int64Builder::new).finish(),
        ));
        self.done.push((self.names.clone(), arrays));
        self.rows = 0;
    }

    fn reject(&mut self, file: &str, line: i64, reason: String, raw: &[u8]) {
        self.rejects.push(Reject {
            file: file.to_string(),
            line,
            reason,
            raw: String::from_utf8_lossy(raw).into_owned(),
        });
    }

    fn schema(&self) -> SchemaRef {
        let mut fields: Vec<Field> = self
            .names
            .iter()
            .map(|n| Field::new(n, DataType::Utf8, true))
            .collect();
        fields.push(Field::new("_file", DataType::Utf8, false));
        fields.push(Field::new("_line", DataType::Int64, false));
        fields.push(Field::new("_offset", DataType::Int64, true));
        fields.push(Field::new("_len", DataType::Int64, true));
        Arc::new(Schema::new(fields))
    }

    fn finish(mut self) -> RawData {
        self.flush();
        let (schema, batches) = self.take_done();
        RawData {
            schema,
            batches,
            spilled: Vec::new(),
            rejects: self.rejects,
            records: self.records,
        }
    }

    /// The finished batches under the columns seen so far.
    fn take_done(&mut self) -> (SchemaRef, Vec<RecordBatch>) {
        let schema = self.schema();
        let n = self.names.len();
        // Batches finished before a column first appeared lack it: fill with NULLs.
        let batches = std::mem::take(&mut self.done)
            .into_iter()
            .map(|(names, mut arrays)| {
                let rows = arrays[0].len();
                let lineage = arrays.split_off(names.len());
                let mut full: Vec<ArrayRef> = arrays;
                for _ in names.len()..n {
                    full.push(datafusion::arrow::array::new_null_array(
                        &DataType::Utf8,
                        rows,
                    ));
                }
                full.extend(lineage);
                RecordBatch::try_new(schema.clone(), full).expect("columns match the schema")
            })
            .collect();
        (schema, batches)
    }
}

fn read_csv(
    source: &SourceConfig,
    file: &FileStamp,
    text: &[u8],
    encoding: &'static encoding_rs::Encoding,
    header: &mut Option<(String, Vec<String>)>,
    at: Position,
    out: &mut Collector,
) -> Result<(), String> {
    let o = &source.options;
    let quoting = csv_quoting(source);
    let Quoting {
        quote,
        delimiter,
        escape,
    } = quoting;
    let mut builder = csv::ReaderBuilder::new();
    builder
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .quote(quote);
    if let Some(e) = escape {
        builder.escape(Some(e)).double_quote(false);
    }
    if let Some(c) = o.comment.as_deref().and_then(single_byte) {
        builder.comment(Some(c));
    }
    let null_re = o
        .null_value
        .as_deref()
        .map(|r| regex_lite_match(r))
        .transpose()?;
    let has_header = o.header.unwrap_or(true);
    let name = file.name.as_str();
    let bad_encoding = if encoding == encoding_rs::UTF_8 {
        "bytes that are not valid UTF-8 (if the file is a GBK export, set encoding = \"gbk\")"
            .to_string()
    } else {
        format!(
            "bytes that are not valid {}",
            encoding.name().to_ascii_lowercase()
        )
    };

    let (names, body_start, body_line) = if at.first {
        csv_header(&builder, file, text, has_header, header)?
    } else {
        // A later piece of the file: the names are the first piece's.
        let names = header.as_ref().map(|(_, n)| n.clone()).unwrap_or_default();
        (names, 0, at.base_line)
    };
    let columns: Vec<usize> = names.iter().map(|n| out.column(n)).collect();
    let body = Body {
        builder: &builder,
        name,
        shown: file.path.display().to_string(),
        names: &names,
        quoting,
        encoding,
        null_re: null_re.as_ref(),
        bad_encoding: &bad_encoding,
        file_base: at.base,
    };
    let rest = &text[body_start.min(text.len())..];
    // Text over 32 MiB is parsed in parts, one per core.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let parts = split_records(rest, quoting, body_start, body_line, threads, 32 << 20);
    if parts.len() == 1 {
        return body.parse(rest, body_start, body_line, at.last, &columns, out);
    }
    // Parts cut where a line ends outside quotes, parsed on threads of their own, then taken
    // in order: the same rows, lines and rejects as one pass.
    let results: Vec<Result<Collector, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = parts
            .iter()
            .enumerate()
            .map(|(k, &(from, to, line))| {
                let body = &body;
                let last = at.last && k + 1 == parts.len();
                scope.spawn(move || {
                    let mut part = Collector::default();
                    let cols: Vec<usize> = body.names.iter().map(|n| part.column(n)).collect();
                    body.parse(&text[from..to], from, line, last, &cols, &mut part)
                        .map(|_| part)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("the CSV reader stopped".into()))
            })
            .collect()
    });
    out.flush();
    for part in results {
        let mut part = part?;
        part.flush();
        out.done.append(&mut part.done);
        out.rejects.append(&mut part.rejects);
        out.records += part.records;
    }
    Ok(())
}

/// The first record of a CSV file: its column names (or, without a header, how many columns
/// there are), checked against the first file's, and where the body starts.
fn csv_header(
    builder: &csv::ReaderBuilder,
    file: &FileStamp,
    text: &[u8],
    has_header: bool,
    header: &mut Option<(String, Vec<String>)>,
) -> Result<(Vec<String>, usize, i64), String> {
    let name = file.name.as_str();
    let mut reader = builder.from_reader(text);
    let mut record = csv::ByteRecord::new();
    match reader.read_byte_record(&mut record) {
        Ok(true) => {}
        Ok(false) => return Err(format!("{}: the file is empty", file.path.display())),
        Err(e) => return Err(format!("{}: {e}", file.path.display())),
    }
    let names: Vec<String> = if has_header {
        header_names(
            record
                .iter()
                .map(|f| String::from_utf8_lossy(f).trim().to_string()),
        )
    } else {
        (1..=record.len()).map(|i| format!("column{i}")).collect()
    };
    if let Some((first_file, first_names)) = header.as_ref() {
        if *first_names != names {
            return Err(format!(
                "{}: its columns ({}) differ from those of {first_file} ({})",
                file.path.display(),
                names.join(", "),
                first_names.join(", ")
            ));
        }
    } else {
        *header = Some((name.to_string(), names.clone()));
    }
    let (body_start, body_line) = if has_header {
        (
            reader.position().byte() as usize,
            reader.position().line() as i64,
        )
    } else {
        (0, 1)
    };
    Ok((names, body_start, body_line))
}

/// Where the records of a CSV body can be cut for parallel parsing: (from, to, first line)
/// triples, one when the body is small or has an escape character. A cut is made only at a
/// line end outside quotes, as the CSV reader sees quotes ([`QuoteScanner`]): a quote opens a
/// quoted field only at the start of a field, so a literal `"` inside an unquoted field
/// (`TV 65" screen`) does not flip the state.
fn split_records(
    body: &[u8],
    quoting: Quoting,
    base: usize,
    base_line: i64,
    threads: usize,
    min_bytes: usize,
) -> Vec<(usize, usize, i64)> {
    if quoting.escape.is_some() || threads < 2 || body.len() < min_bytes {
        return vec![(base, base + body.len(), base_line)];
    }
    let step = body.len() / threads;
    let mut parts = Vec::with_capacity(threads);
    let (mut from, mut line, mut newlines) = (0usize, base_line, 0i64);
    let mut scanner = QuoteScanner::new(quoting);
    for (at, &b) in body.iter().enumerate() {
        let outside = scanner.step(b);
        if b != b'\n' {
            continue;
        }
        newlines += 1;
        if outside && at + 1 - from >= step && parts.len() + 1 < threads {
            parts.push((base + from, base + at + 1, line));
            from = at + 1;
            line = base_line + newlines;
        }
    }
    parts.push((base + from, base + body.len(), line));
    parts
}

/// How a CSV file quotes its fields.
#[derive(Debug, Clone, Copy)]
struct Quoting {
    quote: u8,
    delimiter: u8,
    escape: Option<u8>,
}

/// Follows quoting through CSV bytes the way the `csv` crate reads them: a quote at the start
/// of a field opens a quoted field, two quotes inside one are a literal quote, a quote then
/// ends it; a quote anywhere else is an ordinary character. With an escape character, inside
/// quotes it makes the next byte literal.
struct QuoteScanner {
    quoting: Quoting,
    in_quotes: bool,
    /// Inside quotes, the last byte was a quote: the field ends unless a second quote follows.
    quote_seen: bool,
    escaped: bool,
    field_start: bool,
}

impl QuoteScanner {
    fn new(quoting: Quoting) -> Self {
        Self {
            quoting,
            in_quotes: false,
            quote_seen: false,
            escaped: false,
            field_start: true,
        }
    }

    /// Takes one byte; returns whether it stands outside a quoted field.
    fn step(&mut self, b: u8) -> bool {
        let Quoting {
            quote,
            delimiter,
            escape,
        } = self.quoting;
        if self.in_quotes {
            if self.escaped {
                self.escaped = false;
                return false;
            }
            if self.quote_seen {
                self.quote_seen = false;
                if b == quote {
                    // A doubled quote: a literal one, still inside.
                    return false;
                }
                self.in_quotes = false;
                // Falls through: `b` is the first byte after the closing quote.
            } else {
                if Some(b) == escape {
                    self.escaped = true;
                } else if b == quote {
                    if escape.is_some() {
                        self.in_quotes = false;
                    } else {
                        self.quote_seen = true;
                    }
                }
                return false;
            }
        }
        if b == quote && self.field_start {
            self.in_quotes = true;
            self.field_start = false;
            return false;
        }
        self.field_start = b == delimiter || b == b'\n' || b == b'\r';
        true
    }

    /// Whether the bytes so far leave a quoted field open.
    fn open(&self) -> bool {
        self.in_quotes && !self.quote_seen
    }
}

/// What parsing a CSV file's records needs to know.
struct Body<'a> {
    builder: &'a csv::ReaderBuilder,
    name: &'a str,
    shown: String,
    names: &'a [String],
    quoting: Quoting,
    encoding: &'static encoding_rs::Encoding,
    null_re: Option<&'a NullMatcher>,
    bad_encoding: &'a str,
    /// The byte of the decoded file the text starts at.
    file_base: usize,
}

impl Body<'_> {
    /// Parses the records of `text`, which starts at byte `base` and line `base_line` of the
    /// file; `last` says whether it runs to the end of the file.
    fn parse(
        &self,
        text: &[u8],
        base: usize,
        base_line: i64,
        last: bool,
        columns: &[usize],
        out: &mut Collector,
    ) -> Result<(), String> {
        let mut reader = self.builder.from_reader(text);
        let mut record = csv::ByteRecord::new();
        let expected = self.names.len();
        loop {
            let start = reader.position().clone();
            match reader.read_byte_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => {
                    // The csv reader stops only on I/O errors, which an in-memory buffer
                    // cannot have; say so rather than lose the rest of the file silently.
                    return Err(format!("{}: {e}", self.shown));
                }
            }
            let mut rec_start = record.position().map_or(start.byte(), |p| p.byte()) as usize;
            let mut line =
                base_line - 1 + record.position().map_or(start.line(), |p| p.line()) as i64;
            let end = reader.position().byte() as usize;
            // The reader places a record after blank lines at the first of them: the record
            // starts (and is numbered) after them.
            while rec_start < end.min(text.len()) && matches!(text[rec_start], b'\n' | b'\r') {
                line += i64::from(text[rec_start] == b'\n');
                rec_start += 1;
            }
            let raw = trim_newline(&text[rec_start..end.min(text.len())]);
            out.records += 1;
            // A quote opened and never closed runs to the end of the file: the last record
            // then holds an odd number of quote characters (escaped ones aside).
            if last && end >= text.len() && unbalanced_quotes(raw, self.quoting) {
                let lines = raw.iter().filter(|&&b| b == b'\n').count() + 1;
                out.reject(
                    self.name,
                    line,
                    format!("unterminated quote: the record starting here runs to the end of the file ({lines} lines)"),
                    raw,
                );
                continue;
            }
            if record.len() != expected {
                out.reject(
                    self.name,
                    line,
                    format!("{} fields, the header has {expected}", record.len()),
                    raw,
                );
                continue;
            }
            let mut bad = None;
            for (i, f) in record.iter().enumerate() {
                let ok = match std::str::from_utf8(f) {
                    Ok(s) => !(self.encoding != encoding_rs::UTF_8 && s.contains('\u{FFFD}')),
                    Err(_) => false,
                };
                if !ok {
                    bad = Some(i);
                    break;
                }
            }
            if let Some(i) = bad {
                out.reject(
                    self.name,
                    line,
                    format!("column {}: {}", self.names[i], self.bad_encoding),
                    raw,
                );
                continue;
            }
            for (i, f) in record.iter().enumerate() {
                let s = std::str::from_utf8(f).unwrap_or_default();
                let builder = &mut out.columns[columns[i]];
                if f.is_empty() || self.null_re.is_some_and(|re| re(s)) {
                    builder.append_null();
                } else {
                    builder.append_value(s);
                }
            }
            let at = (self.file_base + base + rec_start) as i64;
            out.end_row(self.name, line, Some(at), Some(raw.len() as i64));
        }
        Ok(())
    }
}

/// Whether a field is the source's NULL text.
type NullMatcher = Box<dyn Fn(&str) -> bool + Send + Sync>;

/// `null_value` matches a whole field: a plain word is compared as is; anything with regular
/// expression syntax in it is refused, since persona does not link a regex engine for it.
fn regex_lite_match(pattern: &str) -> Result<NullMatcher, String> {
    if pattern
        .chars()
        .all(|c| c.is_alphanumeric() || " _-/.".contains(c))
    {
        let p = pattern.to_string();
        return Ok(Box::new(move |s: &str| s == p));
    }
    if let Some(alts) = pattern
        .strip_prefix('^')
        .and_then(|p| p.strip_suffix('$'))
        .or(Some(pattern))
        && alts.split('|').all(|a| {
            a.chars()
                .all(|c| c.is_alphanumeric() || " _-/.".contains(c))
        })
    {
        let words: Vec<String> = alts.split('|').map(str::to_string).collect();
        return Ok(Box::new(move |s: &str| words.iter().any(|w| w == s)));
    }
    Err(format!(
        "null_value '{pattern}': persona ingest takes a word or words separated by | (NA|N/A), not a regular expression"
    ))
}

/// Whether a record leaves a quoted field open (its quote never closed).
fn unbalanced_quotes(raw: &[u8], quoting: Quoting) -> bool {
    let mut scanner = QuoteScanner::new(quoting);
    raw.iter().for_each(|&b| {
        scanner.step(b);
    });
    scanner.open()
}

fn trim_newline(raw: &[u8]) -> &[u8] {
    let mut end = raw.len();
    while end > 0 && (raw[end - 1] == b'\n' || raw[end - 1] == b'\r') {
        end -= 1;
    }
    &raw[..end]
}

/// Parts for NDJSON text: one per core (`None`), for text of at least this many bytes.
const PARTS: (Option<usize>, usize) = (None, 32 << 20);

/// [`read_ndjson`] on text over 32 MiB in parts, one per core, cut after a line end; the parts'
/// rows are then taken in order, their columns put in the order one pass would have met them:
/// the same rows, lines, columns and rejects as one pass.
fn read_ndjson_in_parts(
    file: &FileStamp,
    text: &[u8],
    encoding: &'static encoding_rs::Encoding,
    (base, base_line): (usize, i64),
    out: &mut Collector,
    (threads, min_bytes): (Option<usize>, usize),
) {
    let threads =
        threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if threads < 2 || text.len() < min_bytes {
        return read_ndjson(file, text, encoding, base, base_line, out);
    }
    // (from, to, first line) of each part.
    let mut parts: Vec<(usize, usize, i64)> = Vec::with_capacity(threads);
    let (mut from, mut line) = (0, base_line);
    for k in 1..=threads {
        let to = if k == threads {
            text.len()
        } else {
            let at = (text.len() * k / threads).max(from);
            match text[at..].iter().position(|&b| b == b'\n') {
                Some(i) => at + i + 1,
                None => text.len(),
            }
        };
        if to > from {
            parts.push((from, to, line));
            line += text[from..to].iter().filter(|&&b| b == b'\n').count() as i64;
            from = to;
        }
    }
    let names = out.names.clone();
    let done: Vec<Collector> = std::thread::scope(|scope| {
        let handles: Vec<_> = parts
            .iter()
            .map(|&(from, to, line)| {
                let names = &names;
                scope.spawn(move || {
                    let mut part = Collector::default();
                    for n in names {
                        part.column(n);
                    }
                    read_ndjson(
                        file,
                        &text[from..to],
                        encoding,
                        base + from,
                        line,
                        &mut part,
                    );
                    part.flush();
                    part
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("the NDJSON reader does not panic"))
            .collect()
    });
    out.flush();
    for mut part in done {
        for (names, mut arrays) in std::mem::take(&mut part.done) {
            let rows = arrays.first().map_or(0, |a| a.len());
            let lineage = arrays.split_off(names.len());
            let at: Vec<usize> = names.iter().map(|n| out.column(n)).collect();
            let width = at.iter().max().map_or(0, |m| m + 1);
            let mut full: Vec<ArrayRef> =
                vec![datafusion::arrow::array::new_null_array(&DataType::Utf8, rows); width];
            for (array, &i) in arrays.into_iter().zip(&at) {
                full[i] = array;
            }
            full.extend(lineage);
            out.done.push((out.names[..width].to_vec(), full));
        }
        out.rejects.append(&mut part.rejects);
        out.records += part.records;
    }
}

fn read_ndjson(
    file: &FileStamp,
    text: &[u8],
    encoding: &'static encoding_rs::Encoding,
    base: usize,
    base_line: i64,
    out: &mut Collector,
) {
    let name = file.name.as_str();
    let mut offset = base;
    for (i, line) in text.split(|&b| b == b'\n').enumerate() {
        let start = offset;
        offset += line.len() + 1;
        let line = trim_newline(line);
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        out.records += 1;
        let lineno = base_line + i as i64;
        match parse_object(line, encoding) {
            Ok(fields) => {
                add_fields(out, fields);
                out.end_row(name, lineno, Some(start as i64), Some(line.len() as i64));
            }
            Err(reason) => out.reject(name, lineno, reason, line),
        }
    }
}

/// One JSON object's fields in the order written: keys and string values are borrowed from
/// the line when they hold no escapes; NULL is `None`; other values are their JSON text, as
/// `serde_json::Value` prints them.
type Fields<'a> = Vec<(Cow<'a, str>, Option<Cow<'a, str>>)>;

fn parse_object<'a>(
    line: &'a [u8],
    encoding: &'static encoding_rs::Encoding,
) -> Result<Fields<'a>, String> {
    // Bytes the decoder could not read became U+FFFD (EF BF BD).
    if encoding != encoding_rs::UTF_8 && line.windows(3).any(|w| w == b"\xEF\xBF\xBD") {
        return Err(format!(
            "bytes that are not valid {}",
            encoding.name().to_ascii_lowercase()
        ));
    }
    // serde_json checks the UTF-8 of the strings it reads (and all else in JSON is ASCII), so
    // the line is checked again only to say why it failed.
    let mut de = serde_json::Deserializer::from_slice(line);
    let parsed = serde::Deserializer::deserialize_any(&mut de, ObjectVisitor).and_then(|v| {
        de.end()?;
        Ok(v)
    });
    match parsed {
        Ok(Ok(fields)) => Ok(fields),
        Ok(Err(kind)) => Err(format!("a JSON {kind}, expected an object")),
        Err(_) if encoding == encoding_rs::UTF_8 && std::str::from_utf8(line).is_err() => Err(
            "bytes that are not valid UTF-8 (if the file is a GBK export, set encoding = \"gbk\")"
                .into(),
        ),
        // serde's "at line 1 column 40": the line is the record's own, so the column is enough.
        Err(e) => Err(format!("not JSON: {e}").replace(" at line 1 column ", " at column ")),
    }
}

/// Reads a JSON object's fields, or says what kind of value the line holds instead.
struct ObjectVisitor;

impl<'de> serde::de::Visitor<'de> for ObjectVisitor {
    type Value = Result<Fields<'de>, &'static str>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(8));
        while let Some(key) = map.next_key_seed(TextSeed)? {
            fields.push((key, map.next_value_seed(ValueSeed)?));
        }
        Ok(Ok(fields))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(Err("array"))
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Err("null"))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Err("boolean"))
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Err("number"))
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Err("number"))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Err("number"))
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Err("string"))
    }
}

/// A JSON string, borrowed from the line when it holds no escapes.
struct TextSeed;

impl<'de> serde::de::DeserializeSeed<'de> for TextSeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(TextVisitor)
    }
}

struct TextVisitor;

impl<'de> serde::de::Visitor<'de> for TextVisitor {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// A field's value as text: strings as they are, NULL as `None`, anything else as the JSON
/// `serde_json::Value` prints (numbers normalised, objects with their keys sorted).
struct ValueSeed;

impl<'de> serde::de::DeserializeSeed<'de> for ValueSeed {
    type Value = Option<Cow<'de, str>>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> serde::de::Visitor<'de> for ValueVisitor {
    type Value = Option<Cow<'de, str>>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(Cow::Borrowed(if v { "true" } else { "false" })))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_string())))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_string())))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(serde_json::Value::from(v).to_string())))
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_string())))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v)))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        let v: serde_json::Value =
            serde::Deserialize::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))?;
        Ok(Some(Cow::Owned(v.to_string())))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let v: serde_json::Value =
            serde::Deserialize::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
        Ok(Some(Cow::Owned(v.to_string())))
    }
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

/// Adds an NDJSON record's fields to the current row.
fn add_fields(out: &mut Collector, fields: Fields) {
    // The common case: every key is a known column, none given twice; the column of each
    // position is guessed from the record before, so most lines hash no key.
    let mut known = true;
    for (pos, (key, _)) in fields.iter().enumerate() {
        let guess = out.guess.get(pos).copied();
        let i = match guess.filter(|&i| out.names[i] == key.as_ref()) {
            Some(i) => i,
            None => match out.index.get(key.as_ref()) {
                Some(&i) => {
                    if pos < out.guess.len() {
                        out.guess[pos] = i;
                    } else {
                        out.guess.push(i);
                    }
                    i
                }
                None => {
                    known = false;
                    break;
                }
            },
        };
        if out.stamp[i] == out.records {
            known = false;
            break;
        }
        out.stamp[i] = out.records;
    }
    if !known {
        // A new column, or a key given twice: as a JSON map reads them, the last value of a
        // key stands, and new columns are added in key order.
        let map: std::collections::BTreeMap<Cow<str>, Option<Cow<str>>> =
            fields.into_iter().collect();
        for (k, v) in map {
            let i = out.column(&k);
            out.columns[i].append_option(v);
        }
        return;
    }
    for (pos, (_, value)) in fields.into_iter().enumerate() {
        let i = out.guess[pos];
        out.columns[i].append_option(value);
    }
}

/// Adds a JSON array's object to the current row.
fn add_object(out: &mut Collector, map: serde_json::Map<String, serde_json::Value>) {
    for (k, v) in map {
        let i = out.column(&k);
        match v {
            serde_json::Value::Null => out.columns[i].append_null(),
            serde_json::Value::String(s) => out.columns[i].append_value(s),
            other => out.columns[i].append_value(other.to_string()),
        }
    }
}

fn read_json_array(file: &FileStamp, text: &[u8], out: &mut Collector) -> Result<(), String> {
    let values: Vec<serde_json::Value> = serde_json::from_slice(text)
        .map_err(|e| format!("{}: not a JSON array of objects: {e}", file.path.display()))?;
    for (i, v) in values.into_iter().enumerate() {
        out.records += 1;
        let n = i as i64 + 1;
        match v {
            serde_json::Value::Object(map) => {
                add_object(out, map);
                out.end_row(&file.name, n, None, None);
            }
            other => {
                let raw = other.to_string();
                out.reject(
                    &file.name,
                    n,
                    format!("a JSON {}, expected an object", json_kind(&other)),
                    raw.as_bytes(),
                );
            }
        }
    }
    Ok(())
}

/// Column names from a header, as DuckDB names them: an empty name is `columnN` (its position
/// from 1), and a name seen before gets `_2`, `_3`, … until it is unique. (Two columns of one
/// name were one column of the reader, so their rows did not fit the header: a panic found by
/// the `ingest_text` fuzz target.)
fn header_names(names: impl Iterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, name) in names.enumerate() {
        let base = if name.is_empty() {
            format!("column{}", i + 1)
        } else {
            name
        };
        let mut unique = base.clone();
        let mut k = 2;
        while !seen.insert(unique.clone()) {
            unique = format!("{base}_{k}");
            k += 1;
        }
        out.push(unique);
    }
    out
}

/// Reads the files of a Parquet source, adding the lineage columns (`_line` is the row number).
#[derive(Default)]
pub struct ParquetReader {
    first: Option<(String, SchemaRef)>,
    out_schema: Option<SchemaRef>,
    batches: Vec<RecordBatch>,
    records: u64,
    spill: Spiller,
}

impl ParquetReader {
    /// Rows past [`SPILL_BYTES`] go to files of this spill directory.
    pub fn with_spill(mut self, spill: Spiller) -> Self {
        self.spill = spill;
        self
    }

    fn spill_due(&mut self, at_end: bool) -> Result<(), String> {
        let bytes = batches_bytes(self.batches.iter().flat_map(|b| b.columns()));
        if let Some(schema) = &self.out_schema
            && self.spill.due(bytes, at_end)
        {
            let batches = std::mem::take(&mut self.batches);
            self.spill.write(schema, &batches)?;
        }
        Ok(())
    }

    pub fn add(&mut self, file: &FileStamp, bytes: Vec<u8>) -> Result<(), String> {
        use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
        let shown = file.path.display();
        let builder = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
            .map_err(|e| format!("{shown}: not a readable Parquet file: {e}"))?;
        let file_schema = builder.schema().clone();
        match &self.first {
            Some((first, s)) if s.fields() != file_schema.fields() => {
                return Err(format!("{shown}: its columns differ from those of {first}"));
            }
            Some(_) => {}
            None => self.first = Some((file.name.clone(), file_schema.clone())),
        }
        let mut fields: Vec<Field> = file_schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields.push(Field::new("_file", DataType::Utf8, false));
        fields.push(Field::new("_line", DataType::Int64, false));
        fields.push(Field::new("_offset", DataType::Int64, true));
        fields.push(Field::new("_len", DataType::Int64, true));
        let with_lineage = Arc::new(Schema::new(fields));
        self.out_schema = Some(with_lineage.clone());
        let reader = builder
            .with_batch_size(BATCH_ROWS)
            .build()
            .map_err(|e| format!("{shown}: {e}"))?;
        let mut row = 0i64;
        for batch in reader {
            let batch = batch.map_err(|e| format!("{shown}: {e}"))?;
            let n = batch.num_rows();
            let mut cols = batch.columns().to_vec();
            let mut names = StringBuilder::new();
            (0..n).for_each(|_| names.append_value(&file.name));
            cols.push(Arc::new(names.finish()));
            cols.push(Arc::new(
                datafusion::arrow::array::Int64Array::from_iter_values(row + 1..=row + n as i64),
            ));
            cols.push(datafusion::arrow::array::new_null_array(
                &DataType::Int64,
                n,
            ));
            cols.push(datafusion::arrow::array::new_null_array(
                &DataType::Int64,
                n,
            ));
            row += n as i64;
            self.records += n as u64;
            self.batches
                .push(RecordBatch::try_new(with_lineage.clone(), cols).map_err(|e| e.to_string())?);
            self.spill_due(false)?;
        }
        Ok(())
    }

    pub fn finish(mut self) -> Result<RawData, String> {
        self.spill_due(true)?;
        Ok(RawData {
            schema: self.out_schema.ok_or("no file to read")?,
            batches: self.batches,
            spilled: self.spill.files,
            rejects: Vec::new(),
            records: self.records,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::datatypes::Int64Type;

    fn stamp(name: &str) -> FileStamp {
        FileStamp {
            name: name.into(),
            path: PathBuf::from(name),
            size: 0,
            modified_ns: 0,
        }
    }

    fn csv_source() -> SourceConfig {
        toml::from_str("name = 's'\npath = 's.csv'\nformat = 'csv'\n").unwrap()
    }

    const CSV: Quoting = Quoting {
        quote: b'"',
        delimiter: b',',
        escape: None,
    };

    fn read(text: &str) -> Result<RawData, String> {
        let mut out = Collector::default();
        let mut header = None;
        read_csv(
            &csv_source(),
            &stamp("s.csv"),
            text.as_bytes(),
            encoding_rs::UTF_8,
            &mut header,
            Position::WHOLE,
            &mut out,
        )?;
        Ok(out.finish())
    }

    /// Reads `text` whole and in pieces of each size, and checks both give the same rows,
    /// lines, offsets and rejects.
    fn same_in_pieces(source: &SourceConfig, text: &[u8]) {
        let file = stamp("p.txt");
        let mut whole = TextReader::new(source);
        whole.add(&file, text.to_vec()).unwrap();
        let whole = whole.finish().unwrap();
        let rows = |d: &RawData| -> Vec<String> {
            let b = datafusion::arrow::compute::concat_batches(&d.schema, &d.batches).unwrap();
            let mut out = Vec::new();
            for r in 0..b.num_rows() {
                let row: Vec<String> = (0..b.num_columns())
                    .map(|c| {
                        datafusion::arrow::util::display::array_value_to_string(b.column(c), r)
                            .unwrap()
                    })
                    .collect();
                out.push(row.join("|"));
            }
            out
        };
        let rejects = |d: &RawData| -> Vec<String> {
            d.rejects
                .iter()
                .map(|r| format!("{}:{}:{}:{}", r.file, r.line, r.reason, r.raw))
                .collect()
        };
        for size in [1, 2, 3, 5, 8, 13, 64, text.len().max(1)] {
            let mut r = TextReader::new(source);
            assert!(r.in_pieces());
            let chunks: Vec<&[u8]> = text.chunks(size).collect();
            for (i, c) in chunks.iter().enumerate() {
                r.add_piece(&file, c, i + 1 == chunks.len()).unwrap();
            }
            if chunks.is_empty() {
                assert!(r.add_piece(&file, b"", true).is_err());
                continue;
            }
            let d = r.finish().unwrap();
            assert_eq!(d.records, whole.records, "piece size {size}");
            assert_eq!(rows(&d), rows(&whole), "piece size {size}");
            assert_eq!(rejects(&d), rejects(&whole), "piece size {size}");
        }
    }

    #[test]
    fn a_record_after_a_blank_line_is_numbered_on_its_own_line() {
        let d = read("a,b\n1,x\n\n\n2,y\n").unwrap();
        let b = &d.batches[0];
        let line = b.column(3).as_primitive::<Int64Type>();
        let offset = b.column(4).as_primitive::<Int64Type>();
        assert_eq!((line.value(1), offset.value(1)), (5, 10));
    }

    #[test]
    fn a_file_read_in_pieces_gives_the_rows_of_the_whole_file() {
        let csv = "\u{FEFF}id,name,note\n1,\"Ann\",\"two\nlines\"\n2,TV 65\" screen,x\n3,\"a \"\"q\"\" b\",y\n4,short\n\n5,\"last\",z\n6,\"open,never closed\nmore\n";
        same_in_pieces(&csv_source(), csv.as_bytes());
        let mut nd = csv_source();
        nd.format = SourceFormat::Ndjson;
        let ndjson =
            "{\"a\":1}\n{\"a\":\n\n[1]\r\n{\"b\":\"x\\ny\"}\n{\"a\":\"no newline at the end\"}";
        same_in_pieces(&nd, ndjson.as_bytes());
    }

    #[test]
    fn parts_are_cut_at_line_ends_outside_quotes_with_their_first_lines() {
        let body = b"1,\"a\nb\"\n2,x\n3,\"c\n\nd\"\n4,y\n5,z\n6,w\n";
        let parts = split_records(body, CSV, 100, 2, 3, 0);
        assert!(parts.len() > 1, "{parts:?}");
        assert_eq!(parts[0].0, 100);
        assert_eq!(parts.last().unwrap().1, 100 + body.len());
        for w in parts.windows(2) {
            assert_eq!(w[0].1, w[1].0);
        }
        for &(from, to, line) in &parts {
            let part = &body[from - 100..to - 100];
            assert!(part.ends_with(b"\n"));
            assert_eq!(
                part.iter().filter(|&&b| b == b'"').count() % 2,
                0,
                "{parts:?}"
            );
            let before = body[..from - 100].iter().filter(|&&b| b == b'\n').count() as i64;
            assert_eq!(line, 2 + before);
        }
        // An escape character makes quote counting unreliable: one part.
        assert_eq!(
            split_records(
                body,
                Quoting {
                    escape: Some(b'\\'),
                    ..CSV
                },
                0,
                1,
                3,
                0
            )
            .len(),
            1
        );
    }

    #[test]
    fn repeated_and_empty_header_names_fuzz_crash_166b289c() {
        // Found by the ingest_text fuzz target: a header with two empty names panicked.
        let names = |d: &RawData| -> Vec<String> {
            d.schema.fields().iter().map(|f| f.name().clone()).collect()
        };
        let d = read("\tid\t\n\tdme\t\n".replace('\t', ",").as_str()).unwrap();
        assert_eq!(&names(&d)[..3], ["column1", "id", "column3"]);
        let d = read("a,a,b,a\n1,2,3,4\n").unwrap();
        assert_eq!(&names(&d)[..4], ["a", "a_2", "b", "a_3"]);
        assert_eq!(d.batches[0].num_rows(), 1);
        assert!(d.rejects.is_empty());
    }

    #[test]
    fn ragged_rows_are_rejected_with_their_line_and_text() {
        let d = read("a,b\n1,2\n3,4,5\n6,7\n").unwrap();
        assert_eq!(d.records, 3);
        assert_eq!(d.batches[0].num_rows(), 2);
        assert_eq!(d.rejects.len(), 1);
        assert_eq!(d.rejects[0].line, 3);
        assert_eq!(d.rejects[0].raw, "3,4,5");
        assert_eq!(d.rejects[0].reason, "3 fields, the header has 2");
    }

    /// Regression: a CSV over 32 MiB with a literal `"` early (in an unquoted field) and a
    /// quoted field with a newline later was cut inside the quoted field: `read 420,001 = kept
    /// 419,999 + rejected 2` for a file of 420,000 records.
    #[test]
    fn a_csv_over_32_mib_is_not_split_inside_a_quoted_field_after_a_literal_quote() {
        let mut body = String::from("Q001,TV 65\" screen\n");
        for i in 0..40 {
            body.push_str(&format!("{i},plain\n"));
        }
        body.push_str("Q002,\"two\nlines\"\n");
        for i in 0..40 {
            body.push_str(&format!("{i},plain\n"));
        }
        let bytes = body.as_bytes();
        for threads in 2..12 {
            for &(from, to, _) in &split_records(bytes, CSV, 0, 2, threads, 0) {
                assert!(
                    !bytes[from..to].starts_with(b"lines"),
                    "cut inside the quoted field with {threads} threads"
                );
            }
        }
    }

    /// Regression: a valid last line with a `"` inside an unquoted field was rejected as an
    /// unterminated quote running to the end of the file.
    #[test]
    fn a_last_line_with_a_quote_inside_an_unquoted_field_is_kept() {
        for text in [
            "sku,name,price\nQ003,TV 65\" screen,100",
            "sku,name,price\nQ003,TV 65\" screen,100\n",
            "sku,name,price\nQ001,\"a \"\"b\"\"\",1\nQ003,TV 65\" screen,100\n",
        ] {
            let d = read(text).unwrap();
            assert!(d.rejects.is_empty(), "{text:?}: {:?}", d.rejects[0].reason);
        }
    }

    #[test]
    fn unterminated_quote_is_one_reject_naming_it() {
        let d = read("a,b\n1,2\n3,\"4\n5,6\n7,8\n").unwrap();
        assert_eq!(d.records, 2);
        assert_eq!(d.rejects.len(), 1);
        assert!(
            d.rejects[0].reason.starts_with("unterminated quote"),
            "{}",
            d.rejects[0].reason
        );
        assert_eq!(d.rejects[0].line, 3);
    }

    #[test]
    fn quoted_newlines_keep_the_line_of_the_record_start() {
        let d = read("a,b\n1,\"x\ny\"\n2,z\n").unwrap();
        assert_eq!(d.records, 2);
        let lines = d.batches[0]
            .column(3)
            .as_any()
            .downcast_ref::<datafusion::arrow::array::Int64Array>()
            .unwrap();
        assert_eq!(lines.values(), &[2, 4]);
    }

    #[test]
    fn invalid_utf8_is_a_reject_that_suggests_gbk() {
        let mut out = Collector::default();
        let mut header = None;
        let text = b"a,b\n1,\xD5\xC5\n2,ok\n";
        read_csv(
            &csv_source(),
            &stamp("s.csv"),
            text,
            encoding_rs::UTF_8,
            &mut header,
            Position::WHOLE,
            &mut out,
        )
        .unwrap();
        let d = out.finish();
        assert_eq!(d.rejects.len(), 1);
        assert!(
            d.rejects[0].reason.contains("gbk"),
            "{}",
            d.rejects[0].reason
        );
    }

    #[test]
    fn ndjson_lines_that_are_not_objects_are_rejected() {
        let mut out = Collector::default();
        read_ndjson(
            &stamp("e.ndjson"),
            b"{\"a\":1}\n{\"a\":\n\n[1]\n{\"b\":\"x\"}\n",
            encoding_rs::UTF_8,
            0,
            1,
            &mut out,
        );
        let d = out.finish();
        assert_eq!(d.records, 4);
        assert_eq!(d.rejects.len(), 2);
        assert_eq!(d.rejects[0].line, 2);
        assert!(d.rejects[0].reason.starts_with("not JSON"));
        assert_eq!(d.rejects[1].reason, "a JSON array, expected an object");
        assert_eq!(d.schema.field(0).name(), "a");
        assert_eq!(d.schema.field(1).name(), "b");
    }

    /// The NDJSON reader reads fields in place, guessing each key's column from the line
    /// before; it must give what reading each line as a JSON map gave: the last value of a key
    /// given twice, new columns in key order, other values as serde_json prints them.
    #[test]
    fn ndjson_fields_read_as_a_json_map_reads_them() {
        let text = concat!(
            "{\"z\":\"1\",\"a\":2.50,\"m\":null}\n",
            "{\"m\":true,\"a\":\"x\\ty\",\"z\":\"2\"}\n",
            "{\"z\":\"3\",\"z\":\"4\",\"a\":-7}\n",
            "{\"a\":{\"q\":1,\"b\":[1,2e3]},\"k\":\"new\",\"b\":\"new too\"}\n",
            "{\"z\":18446744073709551616,\"a\":\"é\"}\n",
            "\"text\"\n",
        );
        let mut out = Collector::default();
        read_ndjson(
            &stamp("e.ndjson"),
            text.as_bytes(),
            encoding_rs::UTF_8,
            0,
            1,
            &mut out,
        );
        let d = out.finish();
        assert_eq!(&field_names(&d)[..6], ["a", "m", "z", "b", "k", "_file"]);
        let col = |name: &str| {
            let i = d.schema.index_of(name).unwrap();
            d.batches[0]
                .column(i)
                .as_string::<i32>()
                .iter()
                .map(|v| v.map(str::to_string))
                .collect::<Vec<_>>()
        };
        let some = |v: &str| Some(v.to_string());
        assert_eq!(
            col("a"),
            [
                some("2.5"),
                some("x\ty"),
                some("-7"),
                some(r#"{"b":[1,2000.0],"q":1}"#),
                some("é")
            ]
        );
        assert_eq!(
            col("z"),
            [
                some("1"),
                some("2"),
                some("4"),
                None,
                some("1.8446744073709552e+19")
            ]
        );
        assert_eq!(col("m"), [None, some("true"), None, None, None]);
        assert_eq!(col("k"), [None, None, None, some("new"), None]);
        assert_eq!(d.rejects.len(), 1);
        assert_eq!(d.rejects[0].reason, "a JSON string, expected an object");
        // The same as each line read whole into a JSON map.
        let mut whole = Collector::default();
        for (i, line) in text.lines().enumerate() {
            if let Ok(serde_json::Value::Object(map)) = serde_json::from_str(line) {
                add_object(&mut whole, map);
                whole.end_row("e.ndjson", i as i64 + 1, None, None);
            }
        }
        let w = whole.finish();
        assert_eq!(w.schema.fields()[..5], d.schema.fields()[..5]);
        assert_eq!(w.batches[0].columns()[..5], d.batches[0].columns()[..5]);
    }

    /// NDJSON read in parts on threads gives what one pass gives: rows, lines, offsets,
    /// rejects, and columns in the order first met, also when a part meets a column first.
    #[test]
    fn ndjson_in_parts_same_as_one_pass() {
        let mut text = String::new();
        for i in 0..500 {
            match i {
                7 => text.push_str("not json\n"),
                9 => text.push('\n'),
                300 => text.push_str("{\"late\":\"l\",\"a\":\"300\"}\n"),
                420 => text.push_str("{\"b\":1,\"later\":true}\n"),
                _ => text.push_str(&format!("{{\"a\":\"{i}\",\"b\":{i}}}\n")),
            }
        }
        let read = |parts: (Option<usize>, usize)| {
            let mut out = Collector::default();
            out.column("a");
            read_ndjson_in_parts(
                &stamp("e.ndjson"),
                text.as_bytes(),
                encoding_rs::UTF_8,
                (10, 3),
                &mut out,
                parts,
            );
            out.finish()
        };
        let one = read((Some(1), 0));
        for threads in 2..6 {
            let many = read((Some(threads), 0));
            assert_eq!(many.schema, one.schema, "{threads} parts");
            let all = |d: &RawData| {
                datafusion::arrow::compute::concat_batches(&d.schema, &d.batches).unwrap()
            };
            assert_eq!(all(&many), all(&one), "{threads} parts");
            assert_eq!(many.records, one.records);
            let lines = |d: &RawData| {
                d.rejects
                    .iter()
                    .map(|r| (r.line, r.reason.clone()))
                    .collect::<Vec<_>>()
            };
            assert_eq!(lines(&many), lines(&one));
        }
        assert_eq!(one.records, 499);
        assert_eq!(&field_names(&one)[..4], ["a", "b", "late", "later"]);
    }

    fn field_names(d: &RawData) -> Vec<&str> {
        d.schema
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect()
    }

    #[test]
    fn gbk_is_decoded_and_utf8_declared_as_gbk_is_refused() {
        let text = decode(
            b"name\n\xD5\xC5\xC8\xFD\n".to_vec(),
            "g.csv",
            encoding_rs::GBK,
        )
        .unwrap();
        assert_eq!(String::from_utf8(text).unwrap(), "name\n张三\n");
        let err = decode(
            "name\n张三\n".as_bytes().to_vec(),
            "g.csv",
            encoding_rs::GBK,
        )
        .unwrap_err();
        assert!(
            err.contains("the text is UTF-8 but the source declares encoding gbk"),
            "{err}"
        );
    }

    mod props {
        use datafusion::arrow::array::{Array, StringArray};
        use proptest::prelude::*;

        use super::read;

        fn field() -> impl Strategy<Value = String> {
            prop::collection::vec(
                prop::sample::select(vec!['a', 'z', '1', ' ', ',', '"', '\n', '\r', '中', 'é']),
                0..6,
            )
            .prop_map(|cs| cs.into_iter().collect())
        }

        fn quoted(f: &str) -> String {
            if f.contains([',', '"', '\n', '\r']) || f.starts_with(' ') || f.ends_with(' ') {
                format!("\"{}\"", f.replace('"', "\"\""))
            } else {
                f.to_string()
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(500))]

            /// Whatever the body, every record read is kept or rejected: none is lost.
            #[test]
            fn every_record_is_kept_or_rejected(body in "[a-z0-9,\"\n\r ]{0,200}") {
                if let Ok(d) = read(&format!("a,b,c\n{body}")) {
                    let kept: usize = d.batches.iter().map(|b| b.num_rows()).sum();
                    prop_assert_eq!(d.records, (kept + d.rejects.len()) as u64);
                }
            }

            /// Well-formed rows, however quoted, are all kept with their values.
            #[test]
            fn quoted_rows_are_kept_with_their_values(
                rows in prop::collection::vec(prop::collection::vec(field(), 3), 1..20)
            ) {
                let mut text = String::from("a,b,c\n");
                for r in &rows {
                    let line: Vec<String> = r.iter().map(|f| quoted(f)).collect();
                    text.push_str(&line.join(","));
                    text.push('\n');
                }
                let d = read(&text).map_err(TestCaseError::fail)?;
                prop_assert!(d.rejects.is_empty(), "{:?}", d.rejects);
                prop_assert_eq!(d.records, rows.len() as u64);
                let mut got = Vec::new();
                for b in &d.batches {
                    let cols: Vec<&StringArray> = (0..3)
                        .map(|i| b.column(i).as_any().downcast_ref::<StringArray>().unwrap())
                        .collect();
                    for i in 0..b.num_rows() {
                        got.push(
                            cols.iter()
                                .map(|c| if c.is_null(i) { String::new() } else { c.value(i).to_string() })
                                .collect::<Vec<_>>(),
                        );
                    }
                }
                prop_assert_eq!(got, rows);
            }
        }
    }
}
