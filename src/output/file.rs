//! `-o FILE`: a result written to Parquet, CSV, TSV or newline-delimited JSON, chosen by the
//! extension.
//!
//! Rows stream into a temporary file beside the target, which is renamed over it only when
//! every row is written, so a failed or interrupted query never leaves a half-written file.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;

use super::OutputFormat;
use super::text::RowWriter;
use crate::error::{PersonaError, Result};

enum Inner {
    Parquet(ArrowWriter<BufWriter<File>>),
    Rows(RowWriter<BufWriter<File>>),
}

/// A result file being written; dropped without [`FileSink::finish`], it leaves nothing behind.
pub struct FileSink {
    path: PathBuf,
    tmp: PathBuf,
    inner: Option<Inner>,
    schema: SchemaRef,
}

/// The format a file name asks for.
pub fn format_for_path(path: &Path) -> Result<Option<OutputFormat>> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("parquet") => Ok(None),
        Some("csv") => Ok(Some(OutputFormat::Csv)),
        Some("tsv") | Some("tab") => Ok(Some(OutputFormat::Tsv)),
        // As DuckDB's COPY … TO 'x.json' does: one object per line, which readers take back.
        Some("json") | Some("ndjson") | Some("jsonl") => Ok(Some(OutputFormat::Ndjson)),
        _ => Err(PersonaError::Usage(format!(
            "{}: cannot tell the format from the extension; use .parquet, .csv, .tsv, .json or .ndjson",
            path.display()
        ))),
    }
}

impl FileSink {
    /// Starts writing a result of `schema` to `path`.
    pub fn create(path: &Path, schema: SchemaRef) -> Result<Self> {
        let format = format_for_path(path)?;
        if path.is_dir() {
            return Err(PersonaError::Io {
                path: path.to_path_buf(),
                message: "is a directory, expected a file".into(),
            });
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
        let file = File::create(&tmp).map_err(|e| PersonaError::io(path, &e))?;
        let out = BufWriter::new(file);
        let inner = match format {
            None => {
                let props = WriterProperties::builder()
                    .set_compression(Compression::ZSTD(
                        ZstdLevel::try_new(1).expect("1 is a valid zstd level"),
                    ))
                    .build();
                Inner::Parquet(
                    ArrowWriter::try_new(out, schema.clone(), Some(props))
                        .map_err(datafusion::error::DataFusionError::from)?,
                )
            }
            Some(f) => Inner::Rows(RowWriter::new(f, out)),
        };
        Ok(FileSink {
            path: path.to_path_buf(),
            tmp,
            inner: Some(inner),
            schema,
        })
    }

    /// Appends the rows of `batch`.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let io = |e: String| PersonaError::Io {
            path: self.path.clone(),
            message: e,
        };
        match self
            .inner
            .as_mut()
            .expect("a sink is written only before finish")
        {
            Inner::Parquet(w) => w.write(batch).map_err(|e| io(e.to_string())),
            Inner::Rows(w) => w.write(batch).map_err(|e| io(e.to_string())),
        }
    }

    /// Completes the file and moves it into place.
    pub fn finish(mut self) -> Result<()> {
        let path = self.path.clone();
        let io_err = |e: String| PersonaError::Io {
            path: path.clone(),
            message: e,
        };
        let out = match self.inner.take().expect("finish runs once") {
            Inner::Parquet(w) => w.into_inner().map_err(|e| io_err(e.to_string()))?,
            Inner::Rows(w) => w.finish(&self.schema).map_err(|e| io_err(e.to_string()))?,
        };
        let file = out
            .into_inner()
            .map_err(|e| io_err(e.error().to_string()))?;
        file.sync_all()
            .map_err(|e| PersonaError::io(&self.path, &e))?;
        std::fs::rename(&self.tmp, &self.path).map_err(|e| PersonaError::io(&self.path, &e))?;
        Ok(())
    }
}

impl Drop for FileSink {
    fn drop(&mut self) {
        if self.inner.is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Flushes `out`, treating a closed pipe as the reader having seen enough.
pub fn flush(out: &mut dyn Write) -> Result<()> {
    out.flush().map_err(|e| crate::error::from_io(&e))
}
