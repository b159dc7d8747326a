//! Runs statements: plans one, executes DDL on the spot, and hands query results to a printer
//! or a result file. Shared by `-c`, `-f`, standard input and the shell.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use datafusion::dataframe::DataFrame;
use datafusion::prelude::SessionContext;
use futures::StreamExt;

use crate::error::{PersonaError, Result, clean_message, locate};
use crate::output::file::FileSink;
use crate::output::stream::{PrintOptions, Printed, print_stream};
use crate::sql_split::split_statements;

/// Plans `sql`; statements without result columns (CREATE VIEW, SET, …) are run to completion
/// here and give `None`.
pub async fn plan(ctx: &SessionContext, sql: &str) -> Result<Option<DataFrame>> {
    let logical = ctx.state().create_logical_plan(sql).await?;
    // An s3:// location needs its bucket's store before DataFusion first looks at it.
    crate::storage::prepare(ctx, &logical)?;
    let df = ctx.execute_logical_plan(logical).await?;
    if df.schema().fields().is_empty() {
        df.collect().await?;
        return Ok(None);
    }
    Ok(Some(df))
}

/// Runs `sql` and prints its result to `out`.
pub async fn run_and_print(
    ctx: &SessionContext,
    sql: &str,
    opts: &PrintOptions,
    out: &mut dyn Write,
) -> Result<Option<Printed>> {
    let started = Instant::now();
    let Some(df) = plan(ctx, sql).await? else {
        return Ok(None);
    };
    let stream = df.execute_stream().await?;
    print_stream(stream, opts, out, started).await.map(Some)
}

/// Runs `sql` and writes its result to the file `path`; returns the rows written, or `None`
/// for a statement without a result.
pub async fn run_to_file(ctx: &SessionContext, sql: &str, path: &Path) -> Result<Option<usize>> {
    let Some(df) = plan(ctx, sql).await? else {
        return Ok(None);
    };
    let mut stream = df.execute_stream().await?;
    let mut sink = FileSink::create(path, stream.schema())?;
    let mut rows = 0;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        rows += batch.num_rows();
        sink.write(&batch)?;
    }
    sink.finish()?;
    Ok(Some(rows))
}

/// Where a script's results go.
pub enum ResultTarget<'a> {
    Print {
        opts: &'a PrintOptions,
        out: &'a mut dyn Write,
    },
    /// `-o FILE`: exactly one result; `written` remembers whether it came already.
    File {
        path: PathBuf,
        written: Option<(String, usize)>,
    },
}

/// A failed statement of a script, located as `NAME:LINE`.
#[derive(Debug)]
pub struct ScriptError {
    pub name: String,
    pub line: usize,
    pub error: PersonaError,
}

impl std::fmt::Display for ScriptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.error {
            PersonaError::DataFusion(e) => {
                let (line, message) = locate(&clean_message(e), self.line);
                write!(f, "{}:{}: {}", self.name, line, message)
            }
            other => write!(f, "{}:{}: {}", self.name, self.line, other),
        }
    }
}

/// Runs the statements of `text` in order; the first failure stops the script.
/// `name` is how errors name the script (a file path, `-c` or `<stdin>`).
pub async fn run_script(
    ctx: &SessionContext,
    name: &str,
    text: &str,
    target: &mut ResultTarget<'_>,
) -> Result<(), ScriptError> {
    for stmt in split_statements(text) {
        let fail = |error: PersonaError| ScriptError {
            name: name.to_string(),
            line: stmt.line,
            error,
        };
        match target {
            ResultTarget::Print { opts, out } => {
                run_and_print(ctx, &stmt.sql, opts, &mut **out)
                    .await
                    .map_err(fail)?;
            }
            ResultTarget::File { path, written } => {
                if let Some((first, _)) = written
                    && plan_has_result(ctx, &stmt.sql).await
                {
                    return Err(fail(PersonaError::Usage(format!(
                        "-o {} takes one result, and {first} gave it already; write each result with its own run",
                        path.display()
                    ))));
                }
                if let Some(rows) = run_to_file(ctx, &stmt.sql, path).await.map_err(fail)? {
                    *written = Some((format!("{name}:{}", stmt.line), rows));
                }
            }
        }
    }
    Ok(())
}

/// Whether `sql` would return rows (planned only; a statement that fails to plan says no and
/// fails properly when it runs).
async fn plan_has_result(ctx: &SessionContext, sql: &str) -> bool {
    match ctx.state().create_logical_plan(sql).await {
        Ok(plan) => !plan.schema().fields().is_empty(),
        Err(_) => false,
    }
}
