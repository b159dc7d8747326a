//! The command line: options, subcommands, and running scripts from `-c`, `-f` or stdin.
//!
//! Exit codes: 0 success (a closed output pipe counts as success), 1 a statement failed,
//! 2 a usage, configuration or I/O problem.

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::{Project, parse_memory_size};
use crate::error::{PersonaError, Result};
use crate::exec::{ResultTarget, ScriptError, run_script};
use crate::output::OutputFormat;
use crate::output::stream::PrintOptions;
use crate::session::{Session, SessionBuilder};

/// persona: customer profiles in SQL — cleaned, stitched, scored, tagged and segmented.
///
/// With no command it opens the shell on the project in the current directory, or on the
/// bundled sample data when there is none.
#[derive(Debug, Parser)]
#[command(name = "persona", version, about, long_about = None)]
pub struct Cli {
    /// Run SQL (may be given several times; runs before any -f file).
    #[arg(short = 'c', long = "command", value_name = "SQL")]
    pub commands: Vec<String>,

    /// Run the statements of a SQL file (may be given several times, run in order).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// How results are printed: table, csv, tsv, json, ndjson or markdown.
    #[arg(long, value_name = "FORMAT", default_value = "table", value_parser = parse_format, global = true)]
    pub format: OutputFormat,

    /// Write the result to FILE instead (.parquet, .csv, .tsv, .json, .ndjson), atomically.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// The project directory (holding persona.toml); default: the current one, else the sample.
    #[arg(long, value_name = "DIR", global = true)]
    pub project: Option<PathBuf>,

    /// Rows shown in a table result (0 shows all) [default: 40].
    #[arg(long, value_name = "N")]
    pub maxrows: Option<usize>,

    /// No banner, no row-count footer.
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// Memory for queries, e.g. 4GB; above it they spill to disk [default: 3/4 of RAM].
    #[arg(long, value_name = "SIZE", value_parser = parse_size, global = true)]
    pub memory_limit: Option<usize>,

    /// The as-of date of every profile (YYYY-MM-DD) [default: the latest date in the data].
    #[arg(long, value_name = "DATE", global = true)]
    pub as_of: Option<String>,

    /// The shell's history file [default: ~/.persona_history].
    #[arg(long, value_name = "FILE")]
    pub history_file: Option<PathBuf>,

    /// Run queries on a Ballista cluster: the scheduler's address, df://HOST:PORT (needs a
    /// persona built with the `cluster` feature).
    #[arg(long, value_name = "df://HOST:PORT")]
    pub cluster: Option<String>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate deterministic sample data: customers, products, orders, events, social, feedback, campaigns.
    Gen(GenArgs),
    /// Train the Chinese sentiment model from labelled texts and report its held-out accuracy.
    TrainSentiment(TrainArgs),
    /// Build the profile's models once each, in dependency order, then snapshot customer_360,
    /// customer_segments, customer_tags and customer_clv as of the as-of date into the
    /// project's snapshots/ (atomic; the same date twice gives the same bytes).
    Refresh(RefreshArgs),
    /// Run the data-quality checks of persona.toml and sql/checks/; exit 1 when one errors.
    Check(CheckArgs),
    /// Write one self-contained HTML report with charts of segments, retention, funnel, CLV,
    /// sentiment, KPIs and data quality.
    Report(ReportArgs),
    /// Serve the project's tables and views over the PostgreSQL protocol (psql, BI tools).
    Serve(ServeArgs),
    /// Read a password from standard input and print its password_hash for [[user]].
    HashPassword,
    /// Clean, check and deduplicate the sources with an [source.ingest] section into curated
    /// Parquet (curated/), with rejects and their reasons, then stitch identities.
    Ingest(IngestArgs),
    /// Run a node of a Ballista cluster: the scheduler or an executor (needs a persona built
    /// with the `cluster` feature).
    #[command(subcommand)]
    Cluster(ClusterCommand),
}

/// `persona refresh` options.
#[derive(Debug, Args)]
pub struct RefreshArgs {
    /// Print the models the refresh would build, in order, with what each reads; build nothing.
    #[arg(long)]
    pub explain: bool,
}

/// Runs `persona refresh`: one line per model as it is built (a status line on a terminal
/// while it builds), then the snapshot summary.
async fn refresh(session: &Session, project_dir: &std::path::Path, quiet: bool) -> Result<i32> {
    use crate::snapshot::Progress;
    let status = std::io::stderr().is_terminal() && !quiet;
    let mut progress = |p: Progress<'_>| match p {
        Progress::Started(i, n, name) if status => {
            eprint!("\r\x1b[2K[{i}/{n}] building {name}…");
            let _ = std::io::stderr().flush();
        }
        Progress::Started(..) => {}
        Progress::Built(run) => {
            if status {
                eprint!("\r\x1b[2K");
            }
            if !quiet {
                println!("{}", crate::snapshot::model_line(run));
                let _ = std::io::stdout().flush();
            }
        }
    };
    let result = crate::snapshot::refresh(&session.ctx, project_dir, &mut progress).await;
    if status {
        eprint!("\r\x1b[2K");
    }
    let (as_of, runs, done) = result?;
    if !quiet {
        print!(
            "{}",
            crate::snapshot::summary(project_dir, &as_of, &runs, &done)
        );
    }
    Ok(0)
}

/// `persona cluster` nodes.
#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// The scheduler: takes queries from clients, splits them into stages, hands tasks to
    /// executors.
    Scheduler(SchedulerArgs),
    /// An executor: registers with the scheduler and runs its tasks (give --memory-limit for
    /// the memory its tasks share before they spill).
    Executor(ExecutorArgs),
}

/// `persona cluster scheduler` options.
#[derive(Debug, Args)]
pub struct SchedulerArgs {
    /// Address to listen on.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:50050")]
    pub bind: String,
    /// The host name executors and clients reach the scheduler by [default: the bind address].
    #[arg(long, value_name = "HOST")]
    pub external_host: Option<String>,
    /// Seconds without a heartbeat after which an executor counts as lost and its tasks run
    /// elsewhere.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub executor_timeout: u64,
}

/// `persona cluster executor` options.
#[derive(Debug, Args)]
pub struct ExecutorArgs {
    /// The scheduler's address.
    #[arg(
        long,
        value_name = "df://HOST:PORT",
        default_value = "df://127.0.0.1:50050"
    )]
    pub scheduler: String,
    /// Address to listen on.
    #[arg(long, value_name = "HOST", default_value = "127.0.0.1")]
    pub bind_host: String,
    /// The host name the scheduler and other executors reach this one by [default: --bind-host].
    #[arg(long, value_name = "HOST")]
    pub external_host: Option<String>,
    /// Port serving shuffle data (Arrow Flight).
    #[arg(long, value_name = "PORT", default_value_t = 50051)]
    pub port: u16,
    /// Port taking tasks from the scheduler (gRPC).
    #[arg(long, value_name = "PORT", default_value_t = 50052)]
    pub grpc_port: u16,
    /// Tasks run at once [default: the number of cores].
    #[arg(long, value_name = "N")]
    pub concurrent_tasks: Option<usize>,
    /// Directory for shuffle files and spills [default: a new one under the system temp dir].
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
    /// Seconds between heartbeats to the scheduler.
    #[arg(long, value_name = "SECS", default_value_t = 5)]
    pub heartbeat: u64,
    /// Seconds to keep trying to reach the scheduler at start.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub connect_timeout: u16,
}

/// `persona ingest` options.
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Ingest only these sources (may be given several times) [default: all].
    #[arg(value_name = "SOURCE")]
    pub only: Vec<String>,
    /// Read only files not read before (new or with another size or time).
    #[arg(long)]
    pub incremental: bool,
}

/// `persona serve` options.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: [serve] listen, else 127.0.0.1:5433].
    #[arg(long, value_name = "HOST:PORT")]
    pub listen: Option<String>,
    /// Serve without passwords (only on a loopback address).
    #[arg(long)]
    pub no_auth: bool,
    /// Allow statements that write files or change the catalogue (INSERT, CREATE, COPY …).
    #[arg(long)]
    pub allow_write: bool,
    /// Connections served at once [default: [serve] max_connections, else 64].
    #[arg(long, value_name = "N")]
    pub max_connections: Option<usize>,
    /// The longest a statement may run, e.g. 30s or 5min [default: [serve] statement_timeout, else none].
    #[arg(long, value_name = "DURATION")]
    pub statement_timeout: Option<String>,
}

/// `persona report` options.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The HTML file to write (atomically).
    #[arg(long, value_name = "FILE", default_value = "report.html")]
    pub out: PathBuf,
}

/// `persona check` options.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Run only the checks with these names (may be given several times).
    #[arg(value_name = "CHECK")]
    pub only: Vec<String>,
}

/// `persona train-sentiment` options.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Folder with train_pos.txt and train_neg.txt, one text per line.
    #[arg(value_name = "DIR", default_value = "datasets/sentiment/zh")]
    pub dir: PathBuf,
    /// Where to write the model (udfs/data/zh_sentiment.model is the one persona ships).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Hold out every Nth text of each class from training and report accuracy on them
    /// (0 trains on all and reports none).
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub holdout: usize,
}

/// `persona gen` options.
#[derive(Debug, Args)]
pub struct GenArgs {
    /// Number of customers (about 10 orders and 20 events each).
    #[arg(long, value_name = "N", default_value_t = 2000)]
    pub customers: u64,
    /// Output directory (created; holds one folder per table and a persona.toml).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Random seed: the same seed and size give the same bytes.
    #[arg(long, value_name = "S", default_value_t = 20240630)]
    pub seed: u64,
    /// Write raw, messy CSV/JSON sources (with their recorded defects) instead of clean Parquet.
    #[arg(long)]
    pub raw: bool,
}

fn parse_format(s: &str) -> std::result::Result<OutputFormat, String> {
    s.parse()
}

fn parse_size(s: &str) -> std::result::Result<usize, String> {
    parse_memory_size(s)
}

/// Runs the command line; returns the exit code.
pub async fn run(cli: Cli) -> i32 {
    match run_inner(cli).await {
        Ok(code) => code,
        Err(PersonaError::BrokenPipe) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}

async fn run_inner(cli: Cli) -> Result<i32> {
    if let Some(Command::Gen(args)) = &cli.command {
        return crate::generate::run(args).map(|_| 0);
    }
    if let Some(Command::TrainSentiment(args)) = &cli.command {
        return crate::train::run(args).map(|_| 0);
    }
    if let Some(Command::Cluster(node)) = &cli.command {
        return run_cluster_node(node, cli.memory_limit).await;
    }
    if let Some(Command::HashPassword) = &cli.command {
        let mut password = String::new();
        std::io::stdin()
            .read_line(&mut password)
            .map_err(|e| PersonaError::io("<stdin>", &e))?;
        let password = password.trim_end_matches(['\r', '\n']);
        if password.is_empty() {
            return Err(PersonaError::Usage(
                "persona hash-password reads the password from standard input, and it was empty"
                    .into(),
            ));
        }
        println!("{}", crate::serve::hash_password(password)?);
        return Ok(0);
    }
    if let Some(date) = &cli.as_of {
        persona_udfs::config::parse_date_days(date).map_err(|_| {
            PersonaError::Usage(format!(
                "--as-of must be a date like 2024-06-30, got '{date}'"
            ))
        })?;
    }
    let interactive =
        cli.commands.is_empty() && cli.files.is_empty() && std::io::stdin().is_terminal();
    // A run of statements (`-c`, files, standard input) loads the views only if it needs them.
    let scripts_only = cli.command.is_none() && !interactive;
    let mut session = open_session(&cli, scripts_only).await?;
    // Ingest reports its own problems; the session's (views that cannot load before the first
    // ingest, say) concern queries.
    if !matches!(cli.command, Some(Command::Ingest(_))) {
        for problem in &session.problems {
            eprintln!("warning: {problem}");
        }
    }
    match &cli.command {
        Some(Command::Refresh(args)) => {
            let project = own_project(&session, "refresh")?;
            if args.explain {
                print!("{}", crate::snapshot::explain(&session.ctx)?);
                return Ok(0);
            }
            return refresh(&session, &project.dir, cli.quiet).await;
        }
        Some(Command::Check(args)) => return run_checks(&session, &cli, args).await,
        Some(Command::Ingest(args)) => {
            let project = own_project(&session, "ingest")?;
            let opts = crate::ingest::IngestOptions {
                incremental: args.incremental,
                only: args.only.clone(),
                progress: !cli.quiet,
            };
            return crate::ingest::run(&session.ctx, project, &opts, cli.quiet).await;
        }
        Some(Command::Report(args)) => return write_report(&session, &cli, args).await,
        Some(Command::Serve(args)) => {
            let config = session
                .project
                .as_ref()
                .map(|p| p.config.clone())
                .unwrap_or_default();
            let dir = session.project.as_ref().map(|p| p.dir.clone());
            let opts = serve_options(args, &config, dir.unwrap_or_default())?;
            crate::serve::serve(session.ctx, &opts, &config.users).await?;
            return Ok(0);
        }
        _ => {}
    }
    if interactive {
        return crate::shell::run(session, &cli).await;
    }
    run_scripts(&mut session, &cli).await
}

/// Builds the session the options ask for; `defer_views` leaves the views for
/// [`Session::load_views`].
pub async fn open_session(cli: &Cli, defer_views: bool) -> Result<Session> {
    let project = Project::discover(cli.project.as_deref())?;
    let serving = matches!(cli.command, Some(Command::Serve(_)));
    let locations = project
        .config
        .serve
        .allow_locations
        .as_ref()
        .filter(|_| serving)
        .map(|list| {
            list.iter()
                .map(|l| crate::session::resolve_location(&project.dir, l))
                .collect::<Vec<_>>()
        });
    let mut builder = SessionBuilder::new().with_project(project);
    if defer_views {
        builder = builder.defer_views();
    }
    if let Some(bytes) = cli.memory_limit {
        builder = builder.with_memory_limit(bytes);
    }
    if let Some(date) = &cli.as_of {
        builder = builder.with_as_of(date.clone());
    }
    if let Some(address) = &cli.cluster {
        builder = builder.with_cluster(address.clone());
    }
    // A server's clients read the project's tables, not the files its process can reach,
    // unless `[serve] allow_locations` names where they may read.
    if serving {
        builder = match locations {
            Some(locations) => builder.with_url_tables_within(locations),
            None => builder.without_url_tables(),
        };
    }
    builder.build().await
}

/// `persona cluster scheduler|executor`.
#[cfg(feature = "cluster")]
async fn run_cluster_node(node: &ClusterCommand, memory_limit: Option<usize>) -> Result<i32> {
    match node {
        ClusterCommand::Scheduler(args) => crate::cluster::run_scheduler(args).await,
        ClusterCommand::Executor(args) => crate::cluster::run_executor(args, memory_limit).await,
    }
}

#[cfg(not(feature = "cluster"))]
async fn run_cluster_node(_node: &ClusterCommand, _memory_limit: Option<usize>) -> Result<i32> {
    Err(crate::session::without_cluster_feature())
}

/// `persona check`: runs the checks, prints the summary, stores failing rows; exit code 1 when
/// any check ends in an error.
async fn run_checks(session: &Session, cli: &Cli, args: &CheckArgs) -> Result<i32> {
    use crate::check;
    let project = session
        .project
        .as_ref()
        .ok_or_else(|| PersonaError::Usage("persona check needs a project".into()))?;
    let mut checks = check::load(project)?;
    if !args.only.is_empty() {
        for name in &args.only {
            if !checks.iter().any(|c| &c.name == name) {
                return Err(PersonaError::Usage(format!(
                    "there is no check named '{name}'"
                )));
            }
        }
        checks.retain(|c| args.only.contains(&c.name));
    }
    if checks.is_empty() {
        return Err(PersonaError::Usage(format!(
            "{} declares no checks: add [[check]] tables to persona.toml or files to sql/checks/",
            project.dir.display()
        )));
    }
    let store = check::Store {
        dir: (!project.is_bundled_sample()).then(|| project.dir.join("check_failures")),
    };
    if store.dir.is_none() && !cli.quiet {
        eprintln!("note: failing rows are not stored for the bundled sample, which is read-only");
    }
    let reference = check::reference(cli.as_of.as_deref());
    let results = check::run(&session.ctx, &checks, &reference, &store).await;
    let batch = check::summary_batch(&results);
    let mut opts = print_options(cli);
    // The tally below says what a row-count footer would.
    opts.timing = false;
    opts.quiet = true;
    opts.maxrows = None;
    let stream = session.ctx.read_batch(batch)?.execute_stream().await?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    crate::output::stream::print_stream(stream, &opts, &mut out, std::time::Instant::now()).await?;
    if !cli.quiet {
        writeln!(out, "{}", check::tally(&results)).map_err(|e| crate::error::from_io(&e))?;
    }
    out.flush().map_err(|e| crate::error::from_io(&e))?;
    let failed = results.iter().any(|r| r.status == check::Status::Error);
    Ok(i32::from(failed))
}

/// The options of `persona serve`: the command line over persona.toml's `[serve]`.
fn serve_options(
    args: &ServeArgs,
    config: &crate::config::ProjectConfig,
    dir: PathBuf,
) -> Result<crate::serve::ServeOptions> {
    let serve = &config.serve;
    let statement_timeout = args
        .statement_timeout
        .clone()
        .or(serve.statement_timeout.clone())
        .map(|t| crate::serve::parse_duration(&t).map_err(PersonaError::Usage))
        .transpose()?;
    let tls = match (&serve.tls_cert, &serve.tls_key) {
        (Some(c), Some(k)) => Some((dir.join(c), dir.join(k))),
        (None, None) => None,
        _ => {
            return Err(PersonaError::Usage(
                "[serve] needs both tls_cert and tls_key for TLS".into(),
            ));
        }
    };
    let require_tls = serve.require_tls.unwrap_or(false);
    if require_tls && tls.is_none() {
        return Err(PersonaError::Usage(
            "[serve] require_tls = true needs tls_cert and tls_key".into(),
        ));
    }
    Ok(crate::serve::ServeOptions {
        listen: args
            .listen
            .clone()
            .or(serve.listen.clone())
            .unwrap_or_else(|| crate::serve::DEFAULT_LISTEN.to_string()),
        no_auth: args.no_auth,
        allow_write: args.allow_write,
        max_connections: args.max_connections.or(serve.max_connections).unwrap_or(64),
        statement_timeout,
        tls,
        require_tls,
    })
}

/// `persona report`: builds the charts and writes the page.
async fn write_report(session: &Session, cli: &Cli, args: &ReportArgs) -> Result<i32> {
    use crate::check;
    if args.out.is_dir() {
        return Err(PersonaError::Io {
            path: args.out.clone(),
            message: "is a directory, expected an HTML file".into(),
        });
    }
    let project = session
        .project
        .as_ref()
        .ok_or_else(|| PersonaError::Usage("persona report needs a project".into()))?;
    // The data-quality section runs the project's checks without storing failing rows.
    let checks = match check::load(project) {
        Ok(checks) if !checks.is_empty() => {
            let reference = check::reference(cli.as_of.as_deref());
            let store = check::Store { dir: None };
            Some(check::run(&session.ctx, &checks, &reference, &store).await)
        }
        Ok(_) => None,
        Err(e) => {
            eprintln!("warning: the data-quality section is left out: {e}");
            None
        }
    };
    let as_of = crate::snapshot::session_as_of(&session.ctx)?;
    let sections = crate::report::build(&session.ctx, &as_of, checks.as_deref()).await?;
    let name = project
        .config
        .project
        .name
        .clone()
        .unwrap_or_else(|| project.dir.display().to_string());
    let page = crate::report::html(&name, &as_of, &sections);
    crate::report::write_atomically(&args.out, &page)?;
    if !cli.quiet {
        let charts = sections
            .iter()
            .filter(|s| matches!(s.body, crate::report::Body::Chart(_)))
            .count();
        eprintln!("wrote {} ({charts} charts)", args.out.display());
        for s in &sections {
            if let crate::report::Body::Missing(why) = &s.body {
                eprintln!("  {}: {why}", s.title);
            }
        }
    }
    Ok(0)
}

/// The session's project, when it is one of the user's own: commands that write into the
/// project refuse the bundled sample, which belongs to the installation.
fn own_project<'a>(session: &'a Session, command: &str) -> Result<&'a Project> {
    match &session.project {
        Some(p) if !p.is_bundled_sample() => Ok(p),
        _ => Err(PersonaError::Usage(format!(
            "persona {command} writes into a project, and there is none here (the bundled sample is read-only); \
             run it in a directory with a persona.toml, give --project DIR, or make one with `persona gen --out DIR`"
        ))),
    }
}

/// Print options from the command line (`maxrows` 0 means all rows).
pub fn print_options(cli: &Cli) -> PrintOptions {
    let width = if std::io::stdout().is_terminal() {
        terminal_size::terminal_size().map(|(w, _)| w.0 as usize)
    } else {
        None
    };
    PrintOptions {
        format: cli.format,
        maxrows: match cli.maxrows {
            Some(0) => None,
            Some(n) => Some(n),
            None => Some(40),
        },
        expanded: false,
        timing: !cli.quiet,
        quiet: cli.quiet,
        width,
    }
}

async fn run_scripts(session: &mut Session, cli: &Cli) -> Result<i32> {
    let mut scripts: Vec<(String, String)> = Vec::new();
    for sql in &cli.commands {
        scripts.push(("-c".to_string(), sql.clone()));
    }
    for path in &cli.files {
        if path.is_dir() {
            return Err(PersonaError::Io {
                path: path.clone(),
                message: "is a directory, expected a SQL file".into(),
            });
        }
        let text = std::fs::read_to_string(path).map_err(|e| PersonaError::io(path, &e))?;
        scripts.push((path.display().to_string(), text));
    }
    if scripts.is_empty() {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| PersonaError::io("<stdin>", &e))?;
        scripts.push(("<stdin>".to_string(), text));
    }
    // Planning the views is most of a start; statements that read only sources go without.
    if scripts.iter().any(|(_, text)| session.needs_views(text)) {
        for problem in session.load_views().await {
            eprintln!("warning: {problem}");
        }
    }
    let opts = print_options(cli);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut target = match &cli.output {
        Some(path) => ResultTarget::File {
            path: path.clone(),
            written: None,
        },
        None => ResultTarget::Print {
            opts: &opts,
            out: &mut out,
        },
    };
    for (name, text) in &scripts {
        if let Err(e) = run_script(&session.ctx, name, text, &mut target).await {
            return report_script_error(e);
        }
    }
    if let ResultTarget::File { path, written } = &target {
        match written {
            Some((_, rows)) if !cli.quiet => eprintln!("wrote {rows} rows to {}", path.display()),
            Some(_) => {}
            None => {
                return Err(PersonaError::Usage(format!(
                    "-o {}: the statements gave no result to write",
                    path.display()
                )));
            }
        }
    }
    drop(target);
    out.flush().map_err(|e| crate::error::from_io(&e))?;
    Ok(0)
}

fn report_script_error(e: ScriptError) -> Result<i32> {
    if let PersonaError::BrokenPipe = e.error {
        return Err(PersonaError::BrokenPipe);
    }
    let code = e.error.exit_code();
    let _ = std::io::stdout().flush();
    eprintln!("{e}");
    Ok(code)
}
