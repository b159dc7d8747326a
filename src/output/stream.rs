//! Drives a result stream into a printer: buffered formats keep the rows they show (and count
//! the rest), streaming formats write each batch as it arrives.

use std::io::Write;
use std::time::{Duration, Instant};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::physical_plan::SendableRecordBatchStream;
use futures::StreamExt;

use super::OutputFormat;
use super::table::{footer, render_expanded, render_table};
use super::text::{RowWriter, render_markdown};
use crate::error::{PersonaError, Result, from_arrow, from_io};

/// How a result is printed.
#[derive(Debug, Clone)]
pub struct PrintOptions {
    pub format: OutputFormat,
    /// Rows shown by the table layouts; `None` shows all.
    pub maxrows: Option<usize>,
    /// `\x`: one field per line.
    pub expanded: bool,
    /// Show the elapsed time under tables.
    pub timing: bool,
    /// No footer.
    pub quiet: bool,
    /// Terminal width to fit tables into.
    pub width: Option<usize>,
}

impl Default for PrintOptions {
    fn default() -> Self {
        PrintOptions {
            format: OutputFormat::Table,
            maxrows: Some(40),
            expanded: false,
            timing: true,
            quiet: false,
            width: None,
        }
    }
}

/// What was printed.
#[derive(Debug, Clone, Copy)]
pub struct Printed {
    pub rows: usize,
    pub elapsed: Duration,
}

/// Prints every row of `stream` to `out`; `started` is when the statement began.
pub async fn print_stream(
    mut stream: SendableRecordBatchStream,
    opts: &PrintOptions,
    out: &mut dyn Write,
    started: Instant,
) -> Result<Printed> {
    let schema = stream.schema();
    if opts.format.is_buffered() || opts.expanded {
        let limit = if opts.format == OutputFormat::Table {
            opts.maxrows
        } else {
            None
        };
        let mut kept: Vec<RecordBatch> = Vec::new();
        let (mut shown, mut total) = (0usize, 0usize);
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            total += batch.num_rows();
            let room = limit.map_or(usize::MAX, |l| l.saturating_sub(shown));
            if room > 0 && batch.num_rows() > 0 {
                let take = room.min(batch.num_rows());
                kept.push(batch.slice(0, take));
                shown += take;
            }
        }
        let elapsed = started.elapsed();
        let text = render(&schema, &kept, opts)?;
        out.write_all(text.as_bytes()).map_err(|e| from_io(&e))?;
        if !opts.quiet && opts.format == OutputFormat::Table {
            let line = footer(shown, total, opts.timing.then_some(elapsed));
            writeln!(out, "{line}").map_err(|e| from_io(&e))?;
        }
        return Ok(Printed {
            rows: total,
            elapsed,
        });
    }
    let mut watch = PipeWatch {
        inner: out,
        broken: false,
    };
    let result = write_rows(&mut stream, opts, &mut watch).await;
    match result {
        Err(_) if watch.broken => Err(PersonaError::BrokenPipe),
        Err(e) => Err(e),
        Ok(rows) => Ok(Printed {
            rows,
            elapsed: started.elapsed(),
        }),
    }
}

async fn write_rows(
    stream: &mut SendableRecordBatchStream,
    opts: &PrintOptions,
    out: &mut PipeWatch<'_>,
) -> Result<usize> {
    let schema = stream.schema();
    let mut writer = RowWriter::new(opts.format, out);
    let mut rows = 0;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        rows += batch.num_rows();
        writer.write(&batch).map_err(from_arrow)?;
    }
    writer.finish(&schema).map_err(from_arrow)?;
    Ok(rows)
}

/// Remembers whether the reader closed the pipe: the CSV writer reports that only as text.
struct PipeWatch<'a> {
    inner: &'a mut dyn Write,
    broken: bool,
}

impl Write for PipeWatch<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner
            .write(buf)
            .inspect_err(|e| self.broken |= e.kind() == std::io::ErrorKind::BrokenPipe)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner
            .flush()
            .inspect_err(|e| self.broken |= e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

/// Renders kept rows in a buffered layout (with a trailing newline).
pub fn render(schema: &SchemaRef, batches: &[RecordBatch], opts: &PrintOptions) -> Result<String> {
    let mut text = if opts.expanded {
        render_expanded(schema, batches)
    } else if opts.format == OutputFormat::Markdown {
        render_markdown(schema, batches)
    } else {
        render_table(schema, batches, opts.width)
    }
    .map_err(from_arrow)?;
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Ok(text)
}
