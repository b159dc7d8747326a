//! Runs the `.slt` files under `tests/slt/` against persona's session on the bundled sample.
//!
//! `cargo test --test sqllogictests` runs them all; a file-name filter runs some
//! (`cargo test --test sqllogictests -- as_of`); `-- --complete` rewrites the expected output,
//! which a person reviews before committing.

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use datafusion::arrow::array::{Array, RecordBatch};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::prelude::SessionContext;
use persona::SessionBuilder;
use sqllogictest::{
    DBOutput, DefaultColumnType, Runner, default_column_validator, default_validator,
};

/// A persona session as a sqllogictest database.
struct Persona {
    ctx: SessionContext,
}

#[derive(Debug)]
struct Error(String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

fn column_type(dt: &DataType) -> DefaultColumnType {
    match dt {
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => {
            DefaultColumnType::Integer
        }
        DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => {
            DefaultColumnType::Integer
        }
        DataType::Float16 | DataType::Float32 | DataType::Float64 => {
            DefaultColumnType::FloatingPoint
        }
        DataType::Decimal32(..)
        | DataType::Decimal64(..)
        | DataType::Decimal128(..)
        | DataType::Decimal256(..) => DefaultColumnType::FloatingPoint,
        _ => DefaultColumnType::Text,
    }
}

/// Values as the `.slt` files spell them: NULL, `(empty)` for an empty string, floats to 12
/// significant digits so the last bit of a sum does not make a test flaky.
fn rows(batches: &[RecordBatch]) -> Result<Vec<Vec<String>>, Error> {
    let options = FormatOptions::default()
        .with_null("NULL")
        .with_timestamp_format(Some("%Y-%m-%d %H:%M:%S%.f"));
    let mut out = Vec::new();
    for b in batches {
        let formatters = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Error(e.to_string()))?;
        for row in 0..b.num_rows() {
            let cells = formatters
                .iter()
                .zip(b.columns())
                .map(|(f, col)| {
                    let text = f.value(row).to_string();
                    match col.data_type() {
                        DataType::Float32 | DataType::Float64 if col.is_valid(row) => {
                            let v: f64 = text.parse().unwrap_or(f64::NAN);
                            let s = format!("{:.12}", v);
                            let s = s.trim_end_matches('0').trim_end_matches('.');
                            if s.is_empty() || s == "-" {
                                "0".to_string()
                            } else {
                                s.to_string()
                            }
                        }
                        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
                            if text.is_empty() && col.is_valid(row) =>
                        {
                            "(empty)".to_string()
                        }
                        _ => text,
                    }
                })
                .collect();
            out.push(cells);
        }
    }
    Ok(out)
}

#[async_trait]
impl sqllogictest::AsyncDB for Persona {
    type Error = Error;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, Error> {
        let err = |e: datafusion::error::DataFusionError| Error(persona::error::clean_message(&e));
        let df = self.ctx.sql(sql).await.map_err(err)?;
        let types: Vec<DefaultColumnType> = df
            .schema()
            .fields()
            .iter()
            .map(|f| column_type(f.data_type()))
            .collect();
        let batches = df.collect().await.map_err(err)?;
        if types.is_empty() {
            return Ok(DBOutput::StatementComplete(0));
        }
        Ok(DBOutput::Rows {
            types,
            rows: rows(&batches)?,
        })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "persona"
    }

    async fn sleep(dur: Duration) {
        tokio::time::sleep(dur).await;
    }
}

async fn connect() -> Result<Persona, Error> {
    let session = SessionBuilder::new()
        .with_sample()
        .map_err(|e| Error(e.to_string()))?
        .with_target_partitions(2)
        .build()
        .await
        .map_err(|e| Error(e.to_string()))?;
    if let Some(p) = session.problems.first() {
        return Err(Error(format!(
            "the sample project does not load cleanly: {p}"
        )));
    }
    Ok(Persona { ctx: session.ctx })
}

fn slt_files(filter: Option<&str>) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slt");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/slt exists")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .filter(|p| filter.is_none_or(|f| p.to_string_lossy().contains(f)))
        .collect();
    files.sort();
    files
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let complete = args.iter().any(|a| a == "--complete");
    // Cargo passes its own flags (e.g. --nocapture); the first plain word filters files.
    let filter = args
        .iter()
        .find(|a| !a.starts_with('-'))
        .map(String::as_str);
    let (mut passed, mut failed) = (0, 0);
    for file in slt_files(filter) {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut runner = Runner::new(|| async { connect().await });
        let result = if complete {
            runner
                .update_test_file(
                    &file,
                    " ",
                    default_validator,
                    sqllogictest::default_normalizer,
                    default_column_validator,
                )
                .await
                .map_err(|e| e.to_string())
        } else {
            runner
                .run_file_async(&file)
                .await
                .map_err(|e| e.display(true).to_string())
        };
        match result {
            Ok(()) => {
                passed += 1;
                println!("ok    {name}");
            }
            Err(e) => {
                failed += 1;
                println!("FAIL  {name}\n{e}");
            }
        }
    }
    println!("sqllogictest: {passed} passed, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
}
