//! Builds persona's session: the engine with its memory limit and spill directory, persona's
//! settings and functions, the project's sources, the default as-of date, then the views.
//!
//! The order matters: functions before views (views call them), sources before the as-of date
//! (it is read from the data), built-in views before the project's (which build on them).
//! Problems with one source or one view are collected, not fatal: the session still opens with
//! everything else, and the caller shows the problems. Planning the views is most of the time
//! a session takes to open, so a caller may defer them ([`SessionBuilder::defer_views`]) and
//! load them when its statements may need them ([`Session::needs_views`]).

use datafusion::arrow::array::{Array, Date32Array};
use datafusion::arrow::datatypes::DataType;
use datafusion::execution::disk_manager::DiskManagerBuilder;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::SessionStateBuilder;
use std::sync::Arc;

use datafusion::prelude::{SessionConfig, SessionContext};
use persona_udfs::PersonaOptions;

use crate::config::{Project, parse_memory_size};
use crate::dense_aggregate::DenseGroupBy;
use crate::error::{PersonaError, Result, clean_message};
use crate::nested_loop::NestedLoopJoinsInMemory;
use crate::{snapshot, sources, views};

/// The bytes read from the end of a Parquet file in the hope of its whole footer.
pub const METADATA_SIZE_HINT: usize = 64 << 10;

/// Builds a [`SessionContext`] with every persona function, source and view registered.
///
/// ```text
/// let session = persona::SessionBuilder::new().with_sample()?.build().await?;
/// let df = session.ctx.sql("SELECT count(*) FROM customers").await?;
/// ```
#[derive(Debug, Default, Clone)]
pub struct SessionBuilder {
    project: Option<Project>,
    memory_limit: Option<usize>,
    as_of: Option<String>,
    target_partitions: Option<usize>,
    cluster: Option<String>,
    defer_views: bool,
    no_url_tables: bool,
    /// Where tables named by path may be, when only some places are allowed.
    url_locations: Option<Vec<String>>,
}

/// A built session and the problems met while building it.
pub struct Session {
    pub ctx: SessionContext,
    /// Sources and views that failed to load, each with its location.
    pub problems: Vec<PersonaError>,
    pub project: Option<Project>,
    /// The memory limit in bytes.
    pub memory_limit: usize,
    /// The views not loaded yet, from [`SessionBuilder::defer_views`].
    deferred: Option<DeferredViews>,
}

/// What loading the views needs, kept while they wait.
struct DeferredViews {
    builtin: bool,
    tags_dir: Option<std::path::PathBuf>,
}

impl SessionBuilder {
    /// A session with persona's functions and built-in views, no sources yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers the sources, settings and views of `project`.
    pub fn with_project(mut self, project: Project) -> Self {
        self.project = Some(project);
        self
    }

    /// Uses the bundled sample project (`datasets/`, or `$PERSONA_SAMPLE_DIR`).
    pub fn with_sample(self) -> Result<Self> {
        Ok(self.with_project(Project::open(&crate::config::sample_dir())?))
    }

    /// Caps the memory queries use; above it, sorts, joins and aggregates spill to disk.
    pub fn with_memory_limit(mut self, bytes: usize) -> Self {
        self.memory_limit = Some(bytes);
        self
    }

    /// Fixes the as-of date (`YYYY-MM-DD`), overriding `persona.toml`.
    pub fn with_as_of(mut self, date: impl Into<String>) -> Self {
        self.as_of = Some(date.into());
        self
    }

    /// Sets how many partitions queries run in (default: the number of cores).
    pub fn with_target_partitions(mut self, n: usize) -> Self {
        self.target_partitions = Some(n);
        self
    }

    /// Runs queries on the Ballista cluster whose scheduler is at `address` (`df://HOST:PORT`);
    /// needs the `cluster` feature.
    pub fn with_cluster(mut self, address: impl Into<String>) -> Self {
        self.cluster = Some(address.into());
        self
    }

    /// Leaves the views (built-in, snapshot and project) unloaded until
    /// [`Session::load_views`], for a caller that may not need them: planning them is most of
    /// the time a session takes to open.
    pub fn defer_views(mut self) -> Self {
        self.defer_views = true;
        self
    }

    /// No tables named by a file path or URL in SQL (`SELECT * FROM '/some/file.csv'`, and
    /// `summarize('/some/file.csv')`, which reads through the same catalogue): what a server
    /// gives its clients, who must not read the files the server's process can read.
    pub fn without_url_tables(mut self) -> Self {
        self.no_url_tables = true;
        self
    }

    /// Tables named by a path or URL only under `locations` (absolute folders or URL
    /// prefixes, see [`resolve_location`]); anywhere else they are "not found".
    pub fn with_url_tables_within(mut self, locations: Vec<String>) -> Self {
        self.url_locations = Some(locations);
        self
    }

    /// Builds the session. Fails only when the engine itself cannot be set up (a bad setting);
    /// broken sources and views end up in [`Session::problems`].
    pub async fn build(self) -> Result<Session> {
        let settings = self
            .project
            .as_ref()
            .map(|p| p.config.project.clone())
            .unwrap_or_default();
        let memory_limit = match (self.memory_limit, &settings.memory_limit) {
            (Some(bytes), _) => bytes,
            (None, Some(text)) => parse_memory_size(text).map_err(PersonaError::Usage)?,
            (None, None) => default_memory_limit(),
        };
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_limit(memory_limit, 1.0)
            .with_disk_manager_builder(DiskManagerBuilder::default())
            .build_arc()?;

        let mut options = PersonaOptions::new();
        if let Some(region) = &settings.region {
            datafusion::common::config::ExtensionOptions::set(&mut options, "region", region)?;
        }
        if let Some(project) = &self.project {
            let ids = project.dir.join(".persona").join("id_dictionary.txt");
            options.id_dictionary = ids.display().to_string();
        }
        let mut config = SessionConfig::new()
            .with_information_schema(true)
            .with_option_extension(options);
        // Local sessions keep the views' graph and compute each model once (see `models`); a
        // cluster's plans are sent to its scheduler, so its views stay DataFusion's own.
        if self.cluster.is_none() {
            config = config.with_extension(Arc::new(crate::models::ModelRegistry::default()));
        }
        if let Some(n) = self.target_partitions {
            config = config.with_target_partitions(n);
        }
        if let Some(tz) = &settings.timezone {
            config.options_mut().execution.time_zone = Some(tz.clone());
        }
        // DataFusion reads the last 512 KiB of every Parquet file to find its footer in one
        // request. Footers are a few KiB, and a session reads every file's at start to learn
        // its table's schema: at 360 local files that was 108 MB read and 16 ms of a 0.16 s
        // start. 64 KiB still gets most footers in one object store request; `[settings]` can
        // set it back.
        config.options_mut().execution.parquet.metadata_size_hint = Some(METADATA_SIZE_HINT);
        // Parquet strings as plain Utf8, not string views. A hash join's build side
        // concatenates view arrays by appending their buffer lists, and every batch it emits
        // keeps the whole list: through customer_360's chain of ten joins the lists multiplied
        // at every level, and at 100,000 customers the query passed 24 GB and was killed (2.9 s
        // and 0.6 GB with plain strings). `[settings]` can turn views back on.
        config
            .options_mut()
            .execution
            .parquet
            .schema_force_view_types = false;
        if let Some(project) = &self.project {
            for (key, value) in project.config.setting_pairs() {
                config.options_mut().set(&key, &value).map_err(|e| {
                    PersonaError::Usage(format!(
                        "{}: [settings] {key}: {}",
                        project.dir.join("persona.toml").display(),
                        clean_message(&e)
                    ))
                })?;
            }
        }
        // `SELECT * FROM 'file.parquet'` works as in DuckDB and datafusion-cli. A local session
        // plans persona's dense aggregation; a cluster's nodes plan with their own state.
        let mut ctx = match &self.cluster {
            None => SessionContext::new_with_state(
                persona_udfs::with_expr_planners(
                    SessionStateBuilder::new()
                        .with_config(config)
                        .with_runtime_env(runtime)
                        .with_default_features(),
                )
                .with_physical_optimizer_rule(Arc::new(DenseGroupBy))
                .with_physical_optimizer_rule(Arc::new(NestedLoopJoinsInMemory))
                .build(),
            ),
            Some(address) => connect_cluster(address, config, runtime).await?,
        };
        if let Some(locations) = &self.url_locations {
            ctx = url_tables_within(ctx, locations.clone());
        } else if !self.no_url_tables {
            ctx = ctx.enable_url_table();
        }
        // Local files are read in place; see `local_files`. A cluster's nodes read their own.
        if self.cluster.is_none() {
            ctx.register_object_store(
                datafusion::execution::object_store::ObjectStoreUrl::local_filesystem().as_ref(),
                Arc::new(crate::local_files::LocalFiles::new()),
            );
        }
        if self.cluster.is_none() {
            crate::models::install(&ctx)?;
        }
        persona_udfs::register_all(&mut ctx)?;
        persona_udfs::register_table_functions(&ctx);

        let mut problems = Vec::new();
        // `aws.*` OPTIONS of CREATE EXTERNAL TABLE and COPY, defaulting to `[s3]`.
        let aws = self
            .project
            .as_ref()
            .map(|p| p.config.s3.as_options())
            .unwrap_or_default();
        ctx.register_table_options_extension(aws.clone());
        if let Some(project) = &self.project {
            for source in &project.config.sources {
                let path = source.resolved_path(&project.dir);
                if crate::storage::is_s3(&path)
                    && let Err(e) = crate::storage::register_s3(&ctx, &path, &aws)
                {
                    problems.push(e);
                }
            }
            // Ingest sources are read by `persona ingest`; sessions see their curated rows.
            for source in project.config.sources.iter().filter(|s| s.ingest.is_none()) {
                if let Err(e) = sources::register_source(&ctx, source, &project.dir).await {
                    problems.push(e);
                }
            }
            problems.extend(crate::ingest::register(&ctx, project).await);
        }

        let as_of = match self.as_of.or(settings.as_of.clone()) {
            Some(date) => Some(date),
            None => match latest_date(&ctx, settings.as_of_column.as_deref()).await {
                Ok(date) => date,
                Err(e) => {
                    problems.push(e);
                    None
                }
            },
        };
        let as_of = as_of.unwrap_or_else(|| chrono::Utc::now().date_naive().to_string());
        ctx.sql(&format!("SET persona.as_of = '{as_of}'")).await?;

        let deferred = DeferredViews {
            builtin: settings.builtin_views.unwrap_or(true),
            tags_dir: self.project.as_ref().map(|p| p.sql_dir().join("tags")),
        };
        let mut session = Session {
            ctx,
            problems,
            project: self.project,
            memory_limit,
            deferred: Some(deferred),
        };
        if !self.defer_views {
            let problems = session.load_views().await;
            session.problems.extend(problems);
        }
        Ok(session)
    }
}

#[cfg(feature = "cluster")]
async fn connect_cluster(
    address: &str,
    config: SessionConfig,
    runtime: Arc<datafusion::execution::runtime_env::RuntimeEnv>,
) -> Result<SessionContext> {
    crate::cluster::connect(address, config, runtime).await
}

#[cfg(not(feature = "cluster"))]
async fn connect_cluster(
    _address: &str,
    _config: SessionConfig,
    _runtime: Arc<datafusion::execution::runtime_env::RuntimeEnv>,
) -> Result<SessionContext> {
    Err(without_cluster_feature())
}

/// What a build without the `cluster` feature says when asked for a cluster.
pub fn without_cluster_feature() -> PersonaError {
    PersonaError::Usage(
        "this persona was built without the cluster feature; build it with \
         `cargo build --release --features cluster`"
            .into(),
    )
}

/// The session's as-of date (`persona.as_of`, which every built session sets).
pub fn as_of(ctx: &SessionContext) -> Option<String> {
    ctx.state()
        .config()
        .options()
        .extensions
        .get::<PersonaOptions>()
        .and_then(|o| o.as_of.clone())
}

impl Session {
    /// Loads the views a [`SessionBuilder::defer_views`] session left out: the built-in views
    /// and tags, the snapshot views, then the project's `sql/`. Returns the problems met
    /// (nothing when the views are loaded already).
    pub async fn load_views(&mut self) -> Vec<PersonaError> {
        let Some(views) = self.deferred.take() else {
            return Vec::new();
        };
        let mut problems = Vec::new();
        if views.builtin {
            problems.extend(views::load_builtin(&self.ctx, views.tags_dir.as_deref()).await);
        }
        let project_dir = self.project.as_ref().map(|p| p.dir.as_path());
        problems.extend(snapshot::register(&self.ctx, project_dir).await);
        if let Some(project) = &self.project {
            problems.extend(views::load_dir(&self.ctx, &project.sql_dir()).await);
        }
        problems
    }

    /// Whether the views wait for [`Session::load_views`].
    pub fn views_deferred(&self) -> bool {
        self.deferred.is_some()
    }

    /// Whether running the SQL `text` may need the views: false only when every statement
    /// parses and is a query, an `EXPLAIN` of one or a `SET`, and reads nothing but tables
    /// registered already (the sources). `information_schema`, `SHOW` and table functions
    /// (`audience` reads `tag_bitmaps`) count as needing them.
    pub fn needs_views(&self, text: &str) -> bool {
        let state = self.ctx.state();
        let dialect = state.config().options().sql_parser.dialect;
        crate::sql_split::split_statements(text).iter().any(|stmt| {
            let Ok(statement) = state.sql_to_statement(&stmt.sql, &dialect) else {
                return true;
            };
            if !reads_only_relations(&statement) {
                return true;
            }
            let Ok(tables) = state.resolve_table_references(&statement) else {
                return true;
            };
            tables.into_iter().any(|table| {
                table.schema() == Some("information_schema")
                    || !matches!(self.ctx.table_exist(table), Ok(true))
            })
        })
    }

    /// The session's context, for embedders that handle problems themselves.
    pub fn into_context(self) -> SessionContext {
        self.ctx
    }
}

/// Whether `statement` is a query, an `EXPLAIN` of one or a `SET`, without table functions:
/// the statements whose every table [`SessionState::resolve_table_references`] names.
///
/// [`SessionState::resolve_table_references`]: datafusion::execution::session_state::SessionState::resolve_table_references
fn reads_only_relations(statement: &datafusion::sql::parser::Statement) -> bool {
    use datafusion::sql::parser::Statement as DfStatement;
    use datafusion::sql::sqlparser::ast::{Statement as SqlStatement, TableFactor, Visit, Visitor};
    use std::ops::ControlFlow;

    /// Stops at a table function: `FROM f(...)`, `FROM TABLE(f(...))`, `UNNEST`.
    struct TableFunctions;
    impl Visitor for TableFunctions {
        type Break = ();
        fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
            match factor {
                TableFactor::Table { args: None, .. }
                | TableFactor::Derived { .. }
                | TableFactor::NestedJoin { .. } => ControlFlow::Continue(()),
                _ => ControlFlow::Break(()),
            }
        }
    }
    match statement {
        DfStatement::Statement(sql) => match sql.as_ref() {
            SqlStatement::Set(_) => true,
            SqlStatement::Query(query) => query.visit(&mut TableFunctions).is_continue(),
            _ => false,
        },
        DfStatement::Explain(explain) => reads_only_relations(&explain.statement),
        _ => false,
    }
}

/// Three quarters of physical memory (DuckDB takes 80%), or 4 GiB when it cannot be read.
pub fn default_memory_limit() -> usize {
    let total_kb = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<usize>().ok())
        });
    total_kb.map_or(4 << 30, |kb| kb / 4 * 3 * 1024)
}

/// The latest date in `table.column`, or (with no column given) in the first date or timestamp
/// column of `orders`. `Ok(None)` when there is no such table.
async fn latest_date(ctx: &SessionContext, column: Option<&str>) -> Result<Option<String>> {
    let (table, col) = match column {
        Some(tc) => {
            let (t, c) = tc.split_once('.').unwrap_or((tc, ""));
            (t.to_string(), c.to_string())
        }
        None => {
            let Ok(provider) = ctx.table_provider("orders").await else {
                return Ok(None);
            };
            let schema = provider.schema();
            let Some(field) = schema.fields().iter().find(|f| {
                matches!(
                    f.data_type(),
                    DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, _)
                )
            }) else {
                return Ok(None);
            };
            ("orders".to_string(), field.name().clone())
        }
    };
    // max() of the bare column, cast once: Parquet statistics can answer it without a scan.
    let sql = format!("SELECT CAST(max(\"{col}\") AS DATE) FROM \"{table}\"");
    let wrap = |e: datafusion::error::DataFusionError| {
        PersonaError::Usage(format!(
            "cannot find the default as-of date from {table}.{col}: {}; set project.as_of in persona.toml",
            clean_message(&e)
        ))
    };
    let batches = ctx
        .sql(&sql)
        .await
        .map_err(wrap)?
        .collect()
        .await
        .map_err(wrap)?;
    let value = batches.first().and_then(|b| {
        let a = b.column(0).as_any().downcast_ref::<Date32Array>()?;
        (a.len() == 1 && a.is_valid(0))
            .then(|| a.value_as_date(0))
            .flatten()
    });
    Ok(value.map(|d| d.to_string()))
}

/// A session's sort settings, as [`sort_whole_tables`] found them.
pub struct SortSettings {
    repartition_sorts: bool,
    repartition_windows: bool,
    reservation: usize,
}

/// Sets the session up for steps that sort whole tables (ingest's deduplication, identity
/// stitching, the snapshot writes of a refresh) and returns the settings to put back with
/// [`restore_sorts`]:
///
/// - one sort at a time: with a sort per partition, DataFusion's greedy memory pool lets one
///   sort's buffered rows leave the other's spill merge without memory, and a large sort under
///   a memory limit fails where one sort with the whole pool spills and finishes;
/// - each sort holds back an eighth of the limit (at most 256 MB) for the merge it runs when it
///   spills, which holds the sort keys of every buffered row. DataFusion's 10 MB is made for
///   narrow keys: 6 million raw events under a 600 MB limit failed there. Queries keep the
///   10 MB, so many concurrent ones (a server's) do not each hold back a large share.
pub fn sort_whole_tables(ctx: &SessionContext) -> SortSettings {
    let limit = match ctx.runtime_env().memory_pool.memory_limit() {
        datafusion::execution::memory_pool::MemoryLimit::Finite(b) => b,
        _ => usize::MAX,
    };
    let state = ctx.state_ref();
    let mut state = state.write();
    let options = state.config_mut().options_mut();
    let saved = SortSettings {
        repartition_sorts: options.optimizer.repartition_sorts,
        repartition_windows: options.optimizer.repartition_windows,
        reservation: options.execution.sort_spill_reservation_bytes,
    };
    options.optimizer.repartition_sorts = false;
    options.optimizer.repartition_windows = false;
    options.execution.sort_spill_reservation_bytes = (limit / 8).clamp(10 << 20, 256 << 20);
    saved
}

/// Puts back the sort settings [`sort_whole_tables`] changed.
pub fn restore_sorts(ctx: &SessionContext, saved: SortSettings) {
    let state = ctx.state_ref();
    let mut state = state.write();
    let options = state.config_mut().options_mut();
    options.optimizer.repartition_sorts = saved.repartition_sorts;
    options.optimizer.repartition_windows = saved.repartition_windows;
    options.execution.sort_spill_reservation_bytes = saved.reservation;
}

/// An allowed location as the check compares it: a URL prefix as written, a folder made
/// absolute (relative to `project`) and, when it exists, with its links resolved.
pub fn resolve_location(project: &std::path::Path, location: &str) -> String {
    if location.contains("://") {
        return location.trim_end_matches('/').to_string();
    }
    let path = project.join(location);
    std::fs::canonicalize(&path)
        .unwrap_or(path)
        .to_string_lossy()
        .trim_end_matches('/')
        .to_string()
}

/// Whether the table path or URL `url` lies under one of `locations`. A `..` step never
/// does (it could climb out); a local path is made absolute and, when it exists, resolved,
/// so a link inside an allowed folder cannot lead outside it.
fn within_locations(url: &str, locations: &[String]) -> bool {
    if url.split(['/', '\\']).any(|step| step == "..") {
        return false;
    }
    let local = url.strip_prefix("file://").unwrap_or(url);
    let target = if url.contains("://") && !url.starts_with("file://") {
        url.to_string()
    } else {
        let path = std::env::current_dir()
            .map(|cwd| cwd.join(local))
            .unwrap_or_else(|_| local.into());
        std::fs::canonicalize(&path)
            .unwrap_or(path)
            .to_string_lossy()
            .into_owned()
    };
    locations.iter().any(|l| {
        target == *l
            || target
                .strip_prefix(l.as_str())
                .is_some_and(|rest| rest.starts_with('/'))
    })
}

/// DataFusion's tables by path or URL (`enable_url_table`), answered only within `locations`.
fn url_tables_within(ctx: SessionContext, locations: Vec<String>) -> SessionContext {
    use datafusion::catalog::{DynamicFileCatalog, UrlTableFactory};
    use datafusion::datasource::dynamic_file::DynamicListTableFactory;

    #[derive(Debug)]
    struct Within {
        inner: Arc<DynamicListTableFactory>,
        locations: Vec<String>,
    }
    #[async_trait::async_trait]
    impl UrlTableFactory for Within {
        async fn try_new(
            &self,
            url: &str,
        ) -> datafusion::error::Result<Option<Arc<dyn datafusion::catalog::TableProvider>>>
        {
            if !within_locations(url, &self.locations) {
                return Ok(None);
            }
            self.inner.try_new(url).await
        }
    }

    let current = Arc::clone(ctx.state().catalog_list());
    let inner = Arc::new(DynamicListTableFactory::new(
        datafusion_session::SessionStore::new(),
    ));
    let factory = Arc::new(Within {
        inner: Arc::clone(&inner),
        locations,
    });
    let catalog_list = Arc::new(DynamicFileCatalog::new(current, factory));
    let session_id = ctx.session_id();
    let ctx: SessionContext = ctx
        .into_state_builder()
        .with_session_id(session_id)
        .with_catalog_list(catalog_list)
        .build()
        .into();
    inner.session_store().with_state(ctx.state_weak_ref());
    ctx
}
