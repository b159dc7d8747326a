//! The interactive shell: read a statement (multi-line, until `;`), check that it parses,
//! run it with Ctrl-C cancelling only the query, print the result (through a pager when it is
//! taller than the screen), and answer meta-commands.

pub mod chart;
pub mod commands;
pub mod helper;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::{Command as Process, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use datafusion::arrow::array::{RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::DFParser;
use datafusion::sql::sqlparser::dialect::dialect_from_str;
use futures::StreamExt;
use rustyline::error::ReadlineError;
use rustyline::history::FileHistory;
use rustyline::{CompletionType, Config, Editor};

use self::commands::Command;
use self::helper::{Catalog, ShellHelper};
use crate::cli::{Cli, print_options};
use crate::docs;
use crate::error::{PersonaError, Result, clean_message};
use crate::exec::{ResultTarget, run_script};
use crate::output::OutputFormat;
use crate::output::stream::{PrintOptions, print_stream, render};
use crate::session::Session;

/// The shell's state between statements.
struct Shell {
    ctx: SessionContext,
    opts: PrintOptions,
    /// `\o FILE`: results are appended there instead of the screen.
    output: Option<(PathBuf, std::fs::File)>,
    /// The first rows of the last query's result, for `\chart`.
    last: Option<(SchemaRef, Vec<RecordBatch>)>,
}

/// Runs the shell until `\q` or Ctrl-D; returns the exit code.
pub async fn run(session: Session, cli: &Cli) -> Result<i32> {
    // List completion (like bash): complete the common prefix, list the choices on a second Tab.
    let config = Config::builder()
        .auto_add_history(true)
        .completion_type(CompletionType::List)
        .max_history_size(10_000)
        .map_err(readline_err)?
        .build();
    let mut editor: Editor<ShellHelper, FileHistory> =
        Editor::with_config(config).map_err(readline_err)?;
    let history = history_path(cli);
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    let mut shell = Shell {
        ctx: session.ctx.clone(),
        opts: print_options(cli),
        output: None,
        last: None,
    };
    editor.set_helper(Some(ShellHelper {
        catalog: Catalog::load(&shell.ctx).await,
    }));
    if !cli.quiet {
        let project = session
            .project
            .as_ref()
            .map(|p| p.dir.display().to_string())
            .unwrap_or_default();
        let as_of = crate::session::as_of(&shell.ctx).unwrap_or_else(|| "-".into());
        println!(
            "persona {} · project {project} · as of {as_of} · \\? for help, \\q to quit",
            env!("CARGO_PKG_VERSION")
        );
    }
    loop {
        match editor.readline("persona> ") {
            Ok(input) => {
                let input = input.trim();
                if input.is_empty() {
                    continue;
                }
                if matches!(input.to_ascii_lowercase().as_str(), "quit" | "exit") {
                    break;
                }
                if input.starts_with('\\') || (input.starts_with('.') && !input.contains('\n')) {
                    match input.parse::<Command>() {
                        Ok(Command::Quit) => break,
                        Ok(cmd) => shell.meta(cmd).await,
                        Err(msg) => eprintln!("error: {msg}"),
                    }
                } else {
                    shell.statements(input).await;
                }
                if let Some(h) = editor.helper_mut() {
                    h.catalog = Catalog::load(&shell.ctx).await;
                }
            }
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                eprintln!("error: {e}");
                break;
            }
        }
    }
    if let Some(h) = &history
        && let Err(e) = editor.save_history(h)
    {
        eprintln!("warning: cannot save history to {}: {e}", h.display());
    }
    Ok(0)
}

fn readline_err(e: ReadlineError) -> PersonaError {
    PersonaError::Usage(format!("cannot start the line editor: {e}"))
}

/// `--history-file`, else `$PERSONA_HISTORY`, else `~/.persona_history`.
fn history_path(cli: &Cli) -> Option<PathBuf> {
    cli.history_file
        .clone()
        .or_else(|| std::env::var_os("PERSONA_HISTORY").map(PathBuf::from))
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".persona_history")))
}

impl Shell {
    /// Runs the statements of one input; each is parsed before anything runs.
    async fn statements(&mut self, input: &str) {
        let dialect_name = self.ctx.state().config().options().sql_parser.dialect;
        if let Some(dialect) = dialect_from_str(dialect_name)
            && let Err(e) = DFParser::parse_sql_with_dialect(input, dialect.as_ref())
        {
            eprintln!("error: {}", clean_message(&e));
            return;
        }
        for stmt in crate::sql_split::split_statements(input) {
            if !self.run_one(&stmt.sql).await {
                break;
            }
        }
    }

    /// Runs one statement, cancelled by Ctrl-C; returns whether it succeeded.
    async fn run_one(&mut self, sql: &str) -> bool {
        let result = tokio::select! {
            r = self.execute(sql) => r,
            _ = tokio::signal::ctrl_c() => {
                eprintln!("cancelled");
                return false;
            }
        };
        match result {
            Ok(()) => true,
            Err(PersonaError::BrokenPipe) => true,
            Err(e) => {
                eprintln!("error: {e}");
                false
            }
        }
    }

    async fn execute(&mut self, sql: &str) -> Result<()> {
        let started = Instant::now();
        let Some(df) = crate::exec::plan(&self.ctx, sql).await? else {
            return Ok(());
        };
        let explain = matches!(
            df.logical_plan(),
            LogicalPlan::Explain(_) | LogicalPlan::Analyze(_)
        );
        let stream = df.execute_stream().await?;
        let (stream, kept) = keep_first_rows(stream, chart::MAX_ROWS);
        let mut opts = self.opts.clone();
        // The terminal may have been resized since the last result.
        opts.width = terminal_size::terminal_size()
            .map(|(w, _)| w.0 as usize)
            .or(opts.width);
        if explain {
            opts.maxrows = None;
        }
        let schema = stream.schema();
        let printed = if let Some((_, file)) = &mut self.output {
            opts.width = None;
            print_stream(stream, &opts, file, started).await.map(|_| ())
        } else if opts.format.is_buffered() || opts.expanded {
            let mut buf = Vec::new();
            let r = print_stream(stream, &opts, &mut buf, started).await;
            r.and_then(|_| page(&buf))
        } else {
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            let r = print_stream(stream, &opts, &mut out, started).await;
            if r.is_ok() && self.opts.timing {
                eprintln!("Time: {:.3} s", started.elapsed().as_secs_f64());
            }
            r.map(|_| ())
        };
        if printed.is_ok() && !explain {
            let batches = std::mem::take(&mut *kept.lock().expect("not poisoned"));
            self.last = Some((schema, batches));
        }
        printed
    }

    /// `\chart bar|line`.
    fn chart(&self, kind: chart::Kind) {
        let Some((schema, batches)) = &self.last else {
            eprintln!("error: no result to chart yet; run a query first");
            return;
        };
        let width = terminal_size::terminal_size()
            .map(|(w, _)| w.0 as usize)
            .unwrap_or(80);
        match chart::draw(kind, schema, batches, width) {
            Ok(text) => print!("{text}"),
            Err(e) => eprintln!("error: {e}"),
        }
    }

    /// Prints a small result built here (listings, descriptions).
    fn show(&self, batch: RecordBatch) {
        let opts = PrintOptions {
            maxrows: None,
            expanded: false,
            ..self.opts.clone()
        };
        let opts = if opts.format.is_buffered() {
            opts
        } else {
            PrintOptions {
                format: OutputFormat::Table,
                ..opts
            }
        };
        match render(&batch.schema(), &[batch], &opts) {
            Ok(text) => {
                let _ = page(text.as_bytes());
            }
            Err(e) => eprintln!("error: {e}"),
        }
    }

    async fn meta(&mut self, cmd: Command) {
        match cmd {
            Command::Help => print!("{}", commands::help()),
            Command::Quit => {}
            Command::Describe(None) => self.list_relations(None).await,
            Command::ListTables => self.list_relations(Some("BASE TABLE")).await,
            Command::ListViews => self.list_relations(Some("VIEW")).await,
            Command::Describe(Some(name)) => self.describe(&name).await,
            Command::ListFunctions(pattern) => self.list_functions(pattern.as_deref()),
            Command::HelpFunction(name) => match docs::help_text(&self.ctx, &name) {
                Some(text) => print!("{text}"),
                None => eprintln!("error: no function named '{name}'; \\df lists them"),
            },
            Command::Timing(v) => {
                self.opts.timing = v.unwrap_or(!self.opts.timing);
                println!("timing {}", if self.opts.timing { "on" } else { "off" });
            }
            Command::Expanded(v) => {
                self.opts.expanded = v.unwrap_or(!self.opts.expanded);
                println!(
                    "expanded display {}",
                    if self.opts.expanded { "on" } else { "off" }
                );
            }
            Command::Format(None) => println!("format {}", self.opts.format),
            Command::Format(Some(f)) => match f.parse::<OutputFormat>() {
                Ok(f) => {
                    self.opts.format = f;
                    println!("format {f}");
                }
                Err(e) => eprintln!("error: {e}"),
            },
            Command::Output(None) => {
                if let Some((path, _)) = self.output.take() {
                    println!(
                        "results go to the screen again (were going to {})",
                        path.display()
                    );
                }
            }
            Command::Output(Some(path)) => {
                match std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                {
                    Ok(file) => {
                        println!("results go to {path}");
                        self.output = Some((PathBuf::from(path), file));
                    }
                    Err(e) => eprintln!("error: {}", PersonaError::io(&path, &e)),
                }
            }
            Command::Include(path) => self.include(&path).await,
            Command::Chart(kind) => self.chart(kind),
        }
    }

    async fn include(&mut self, path: &str) {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: {}", PersonaError::io(path, &e));
                return;
            }
        };
        let opts = self.opts.clone();
        let stdout = std::io::stdout();
        let mut lock = stdout.lock();
        let out: &mut dyn Write = match &mut self.output {
            Some((_, f)) => f,
            None => &mut lock,
        };
        let mut target = ResultTarget::Print { opts: &opts, out };
        // Ctrl-C stops the script at the running statement, as it does a single query.
        tokio::select! {
            r = run_script(&self.ctx, path, &text, &mut target) => {
                if let Err(e) = r {
                    eprintln!("{e}");
                }
            }
            _ = tokio::signal::ctrl_c() => eprintln!("cancelled"),
        }
    }

    async fn list_relations(&self, kind: Option<&str>) {
        let filter = kind
            .map(|k| format!("AND table_type = '{k}'"))
            .unwrap_or_default();
        let sql = format!(
            "SELECT table_name AS name, CASE table_type WHEN 'BASE TABLE' THEN 'table' ELSE lower(table_type) END AS kind \
             FROM information_schema.tables WHERE table_schema = 'public' {filter} ORDER BY table_name"
        );
        match self.ctx.sql(&sql).await {
            Ok(df) => match df.collect().await {
                Ok(batches) => {
                    match datafusion::arrow::compute::concat_batches(&batches[0].schema(), &batches)
                    {
                        Ok(b) => self.show(b),
                        Err(e) => eprintln!("error: {e}"),
                    }
                }
                Err(e) => eprintln!("error: {}", clean_message(&e)),
            },
            Err(e) => eprintln!("error: {}", clean_message(&e)),
        }
    }

    async fn describe(&self, name: &str) {
        let provider = match self.ctx.table_provider(name).await {
            Ok(p) => p,
            Err(_) => {
                eprintln!("error: no table or view named '{name}'; \\d lists them");
                return;
            }
        };
        let schema = provider.schema();
        let fields = schema.fields();
        let col = |f: &dyn Fn(&Field) -> String| {
            StringArray::from(fields.iter().map(|x| f(x)).collect::<Vec<_>>())
        };
        let out_schema = Arc::new(Schema::new(vec![
            Field::new("column", DataType::Utf8, false),
            Field::new("type", DataType::Utf8, false),
            Field::new("null", DataType::Utf8, false),
        ]));
        let batch = RecordBatch::try_new(
            out_schema,
            vec![
                Arc::new(col(&|f| f.name().clone())),
                Arc::new(col(&|f| crate::output::sql_type_name(f.data_type()))),
                Arc::new(col(&|f| {
                    if f.is_nullable() {
                        "YES".into()
                    } else {
                        "NO".into()
                    }
                })),
            ],
        );
        match batch {
            Ok(b) => self.show(b),
            Err(e) => eprintln!("error: {e}"),
        }
    }

    fn list_functions(&self, pattern: Option<&str>) {
        let pattern = pattern.map(|p| p.to_ascii_lowercase());
        let fns: Vec<_> = docs::functions(&self.ctx)
            .into_iter()
            .filter(|f| pattern.as_deref().is_none_or(|p| glob_match(p, &f.name)))
            .collect();
        if fns.is_empty() {
            println!("no functions match");
            return;
        }
        let schema = Arc::new(Schema::new(vec![
            Field::new("name", DataType::Utf8, false),
            Field::new("kind", DataType::Utf8, false),
            Field::new("from", DataType::Utf8, false),
            Field::new("description", DataType::Utf8, false),
        ]));
        let names = StringArray::from(fns.iter().map(|f| f.name.clone()).collect::<Vec<_>>());
        let kinds = StringArray::from(fns.iter().map(|f| f.kind.name()).collect::<Vec<_>>());
        let from = StringArray::from(
            fns.iter()
                .map(|f| if f.persona { "persona" } else { "built-in" })
                .collect::<Vec<_>>(),
        );
        let desc = StringArray::from(
            fns.iter()
                .map(|f| docs::summary(f.doc.as_ref()))
                .collect::<Vec<_>>(),
        );
        match RecordBatch::try_new(
            schema,
            vec![
                Arc::new(names),
                Arc::new(kinds),
                Arc::new(from),
                Arc::new(desc),
            ],
        ) {
            Ok(b) => self.show(b),
            Err(e) => eprintln!("error: {e}"),
        }
    }
}

/// `\df` patterns: `*` matches anything; without `*` a pattern matches inside names.
/// Passes `stream` through, keeping copies of its first `limit` rows in the returned buffer.
fn keep_first_rows(
    stream: SendableRecordBatchStream,
    limit: usize,
) -> (SendableRecordBatchStream, Arc<Mutex<Vec<RecordBatch>>>) {
    let kept = Arc::new(Mutex::new(Vec::<RecordBatch>::new()));
    let sink = kept.clone();
    let schema = stream.schema();
    let tee = stream.inspect(move |batch| {
        if let Ok(batch) = batch {
            let mut kept = sink.lock().expect("not poisoned");
            let rows: usize = kept.iter().map(|b| b.num_rows()).sum();
            if rows < limit && batch.num_rows() > 0 {
                kept.push(batch.slice(0, batch.num_rows().min(limit - rows)));
            }
        }
    });
    (Box::pin(RecordBatchStreamAdapter::new(schema, tee)), kept)
}

fn glob_match(pattern: &str, name: &str) -> bool {
    if !pattern.contains('*') {
        return name.contains(pattern);
    }
    let parts: Vec<&str> = pattern.split('*').collect();
    let mut rest = name;
    for (i, part) in parts.iter().enumerate() {
        if part.is_empty() {
            continue;
        }
        match rest.find(part) {
            Some(pos) if i > 0 || pos == 0 => rest = &rest[pos + part.len()..],
            _ => return false,
        }
    }
    parts
        .last()
        .is_none_or(|p| p.is_empty() || name.ends_with(p))
}

/// Shows `text` on the screen, through a pager when it is taller than the terminal.
fn page(text: &[u8]) -> Result<()> {
    let stdout = std::io::stdout();
    let lines = text.iter().filter(|&&b| b == b'\n').count();
    let height = terminal_size::terminal_size()
        .map(|(_, h)| h.0 as usize)
        .unwrap_or(usize::MAX);
    if stdout.is_terminal()
        && lines + 2 > height
        && let Some(mut child) = spawn_pager()
    {
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(text);
        }
        let _ = child.wait();
        return Ok(());
    }
    let mut out = stdout.lock();
    out.write_all(text)
        .and_then(|_| out.flush())
        .map_err(|e| crate::error::from_io(&e))
}

/// `$PERSONA_PAGER`, else `$PAGER`, else `less -SRFX`; an empty value turns paging off.
fn spawn_pager() -> Option<std::process::Child> {
    let cmd = std::env::var("PERSONA_PAGER")
        .or_else(|_| std::env::var("PAGER"))
        .unwrap_or_else(|_| "less -SRFX".into());
    let mut words = cmd.split_whitespace();
    let program = words.next()?;
    Process::new(program)
        .args(words)
        .stdin(Stdio::piped())
        .spawn()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn function_patterns() {
        assert!(glob_match("as_", "as_of"));
        assert!(glob_match("std_*", "std_phone"));
        assert!(!glob_match("std_*", "to_std"));
        assert!(glob_match("*_of", "as_of"));
    }
}
