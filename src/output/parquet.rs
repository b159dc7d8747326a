//! Parquet files whose bytes depend only on their rows: rows are handed to the writer in fixed
//! chunks, so pages and row groups do not follow how the engine happened to batch them. With
//! sorted rows, the same data give the same file (snapshots, curated sources).

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::concat_batches;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;
use futures::StreamExt;

use crate::error::{PersonaError, Result};

/// Rows per chunk handed to the Parquet writer.
const CHUNK_ROWS: usize = 8192;

/// Writes `stream` to `path` (created or truncated) in fixed chunks, zstd-compressed, and syncs
/// it; returns the rows written.
pub async fn write_chunked(mut stream: SendableRecordBatchStream, path: &Path) -> Result<usize> {
    let schema = stream.schema();
    let file = File::create(path).map_err(|e| PersonaError::io(path, &e))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(1).expect("1 is a valid zstd level"),
        ))
        .build();
    let mut writer = ArrowWriter::try_new(BufWriter::new(file), schema.clone(), Some(props))
        .map_err(datafusion::error::DataFusionError::from)?;
    let mut pending: Vec<RecordBatch> = Vec::new();
    let mut pending_rows = 0;
    let mut total = 0;
    let parquet_err = |e: datafusion::parquet::errors::ParquetError| PersonaError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    loop {
        let next = stream.next().await.transpose()?;
        let at_end = next.is_none();
        if let Some(batch) = next {
            pending_rows += batch.num_rows();
            pending.push(batch);
        }
        if pending_rows >= CHUNK_ROWS || (at_end && pending_rows > 0) {
            let all = concat_batches(&schema, &pending).map_err(crate::error::from_arrow)?;
            let mut offset = 0;
            while all.num_rows() - offset >= CHUNK_ROWS || (at_end && offset < all.num_rows()) {
                let len = CHUNK_ROWS.min(all.num_rows() - offset);
                writer.write(&all.slice(offset, len)).map_err(parquet_err)?;
                offset += len;
                total += len;
            }
            pending = vec![all.slice(offset, all.num_rows() - offset)];
            pending_rows = all.num_rows() - offset;
        }
        if at_end {
            break;
        }
    }
    let out = writer.into_inner().map_err(parquet_err)?;
    let file = out.into_inner().map_err(|e| PersonaError::Io {
        path: path.to_path_buf(),
        message: e.error().to_string(),
    })?;
    file.sync_all().map_err(|e| PersonaError::io(path, &e))?;
    Ok(total)
}
