//! Models: the profile as a graph of views, each heavy view computed once.
//!
//! DataFusion inlines a view's plan at every reference, so a stack of views computes what it
//! shares again and again: `customer_360` read `customer_clv`, and through the churn tag and
//! `customer_tags` read it twice more, fitting the CLV models three times per query. Here every
//! view a session loads (built-in, tags, snapshots, the project's `sql/`) is registered through
//! [`ModelSchema`], which wraps it in a [`ModelView`] and decides its kind from its plan:
//!
//! - an **inline** view (projections, filters, sorts, limits of one relation, like `stg_orders`)
//!   stays a plain view: it is cheap, and inlining lets filters and projections reach the
//!   Parquet scan;
//! - a **model** (anything that aggregates, joins, windows, unions or calls a table function)
//!   is not inlined: the views above it hold a scan of it, and the first scan in a session
//!   computes it once and keeps its rows (Arrow batches reserved in the memory pool, all models
//!   together up to half the memory limit, so queries keep room for what cannot spill; beyond
//!   that, or when the pool refuses, a Parquet file in the spill directory). Later scans, in
//!   the same query or the next, read those rows.
//!
//! A kept result belongs to one *key*: the session's `persona.*` settings (the as-of date among
//! them) and time zone, and the size and modification time of every local file the model reads
//! through its sources, however deep. `SET persona.as_of`, any other `SET persona.*`, a changed
//! source file or a new snapshot (`persona refresh` writes new files) changes the key, and the
//! next scan computes the model again. Files on object storage are not listed per query: an
//! `s3://` source read by a long-lived session (`persona serve`) is read again only when its
//! settings change or the session restarts. `SET persona.model_cache = false` plans a model at
//! every reference instead, as DataFusion would (for A/B measurements and as an escape hatch).
//!
//! Dependencies come from the plans, not from names in SQL text: a model's direct dependencies
//! are the views its plan scans (and the inline views inlined into it), so `persona refresh
//! --explain` and `persona_models()` show the graph DataFusion actually runs. A view can only
//! read views that exist when it is created, so the graph has no cycles.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_trait::async_trait;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, StringArray, UInt64Array,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::memory::MemorySchemaProvider;
use datafusion::catalog::view::ViewTable;
use datafusion::catalog::{
    MemTable, SchemaProvider, Session, TableFunctionArgs, TableFunctionImpl, TableProvider,
};
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, DataFusionError, Result, plan_err};
use datafusion::dataframe::DataFrame;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::source_as_provider;
use datafusion::execution::SpillFile;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryLimit, MemoryReservation};
use datafusion::execution::session_state::SessionState;
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{
    Expr, LogicalPlan, LogicalPlanBuilder, TableProviderFilterPushDown, TableType,
};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use persona_udfs::PersonaOptions;

/// The views of a session in the order they were created, which is an order of their
/// dependencies: a view can only read views created before it.
#[derive(Debug, Default)]
pub struct ModelRegistry {
    views: Mutex<Vec<Arc<ModelView>>>,
    /// Bytes of model rows kept in memory, over all models.
    kept: Arc<AtomicUsize>,
}

impl ModelRegistry {
    /// Every view, in creation order.
    pub fn views(&self) -> Vec<Arc<ModelView>> {
        self.views.lock().map(|v| v.clone()).unwrap_or_default()
    }

    fn adopt(&self, view: Arc<ModelView>) {
        if let Ok(mut views) = self.views.lock() {
            views.retain(|v| v.name != view.name);
            views.push(view);
        }
    }

    fn forget(&self, name: &str) {
        if let Ok(mut views) = self.views.lock() {
            views.retain(|v| v.name != name);
        }
    }

    /// The models (not inline views) that `targets` need, themselves included, each once and
    /// after everything it reads: the order `persona refresh` computes them in.
    pub fn build_order(&self, targets: &[&str]) -> Result<Vec<Arc<ModelView>>> {
        let views = self.views();
        let mut needed: BTreeSet<String> = BTreeSet::new();
        let mut stack: Vec<String> = Vec::new();
        for t in targets {
            if !views.iter().any(|v| v.name == *t) {
                return plan_err!("there is no view '{t}' to build");
            }
            stack.push(t.to_string());
        }
        while let Some(name) = stack.pop() {
            if !needed.insert(name.clone()) {
                continue;
            }
            if let Some(v) = views.iter().find(|v| v.name == name) {
                stack.extend(v.depends_on.iter().cloned());
            }
        }
        Ok(views
            .into_iter()
            .filter(|v| v.is_model() && needed.contains(&v.name))
            .collect())
    }
}

impl ModelRegistry {
    /// Bytes of model rows kept in memory now, over all models.
    pub fn kept_bytes(&self) -> usize {
        self.kept.load(Ordering::Relaxed)
    }

    /// The view named `name`.
    pub fn get(&self, name: &str) -> Option<Arc<ModelView>> {
        self.views().into_iter().find(|v| v.name == name)
    }

    /// The models `name` reads, directly or through inline views.
    pub fn models_read(&self, name: &str) -> BTreeSet<String> {
        let views = self.views();
        let mut out = BTreeSet::new();
        let mut seen = BTreeSet::new();
        let mut stack: Vec<String> = views
            .iter()
            .find(|v| v.name == name)
            .map(|v| v.depends_on.clone())
            .unwrap_or_default();
        while let Some(d) = stack.pop() {
            if !seen.insert(d.clone()) {
                continue;
            }
            match views.iter().find(|v| v.name == d) {
                Some(v) if v.is_model() => {
                    out.insert(d);
                }
                Some(v) => stack.extend(v.depends_on.iter().cloned()),
                None => {}
            }
        }
        out
    }
}

/// The registry of the session `ctx`, when its views are models (local sessions; a cluster's
/// plans must stay serialisable, so its views are DataFusion's own).
pub fn registry(ctx: &SessionContext) -> Option<Arc<ModelRegistry>> {
    ctx.state().config().get_extension::<ModelRegistry>()
}

/// The default schema of a local session: a [`MemorySchemaProvider`] that registers every view
/// as a [`ModelView`].
#[derive(Debug)]
pub struct ModelSchema {
    inner: MemorySchemaProvider,
    registry: Arc<ModelRegistry>,
}

impl ModelSchema {
    pub fn new(registry: Arc<ModelRegistry>) -> Self {
        Self {
            inner: MemorySchemaProvider::new(),
            registry,
        }
    }
}

#[async_trait]
impl SchemaProvider for ModelSchema {
    fn table_names(&self) -> Vec<String> {
        self.inner.table_names()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        self.inner.table(name).await
    }

    fn register_table(
        &self,
        name: String,
        table: Arc<dyn TableProvider>,
    ) -> Result<Option<Arc<dyn TableProvider>>> {
        let table = match table.downcast_ref::<ViewTable>() {
            Some(view) => {
                let model = Arc::new(ModelView::new(&name, view, &self.registry));
                self.registry.adopt(model.clone());
                model as Arc<dyn TableProvider>
            }
            None => table,
        };
        self.inner.register_table(name, table)
    }

    fn deregister_table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        self.registry.forget(name);
        self.inner.deregister_table(name)
    }

    fn table_exist(&self, name: &str) -> bool {
        self.inner.table_exist(name)
    }
}

/// What one view is and what it has done in this session.
pub struct ModelView {
    name: String,
    plan: LogicalPlan,
    definition: Option<String>,
    schema: SchemaRef,
    model: bool,
    /// The views this one reads directly, by name.
    depends_on: Vec<String>,
    /// The tables (not views) it reads, however deep, by name.
    sources: Vec<String>,
    /// The listing tables behind `sources`, whose files are part of the cache key.
    files: Vec<Arc<dyn TableProvider>>,
    cache: tokio::sync::Mutex<Option<Cached>>,
    stats: Mutex<ModelStats>,
    /// The registry's count of kept bytes.
    kept: Arc<AtomicUsize>,
}

/// What computing a model cost, the last time it was computed.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ModelStats {
    /// How many times this session computed it.
    pub computations: u64,
    pub rows: usize,
    pub bytes: usize,
    pub seconds: f64,
    /// Whether the rows went to a Parquet file because the memory pool refused them.
    pub spilled: bool,
}

struct Cached {
    key: (u64, u64),
    data: Arc<Materialised>,
}

/// A model's computed rows.
enum Materialised {
    Memory {
        batches: Vec<RecordBatch>,
        _reservation: MemoryReservation,
        _kept: KeptBytes,
    },
    Spilled {
        table: Box<ListingTable>,
        _file: Arc<dyn SpillFile>,
    },
}

/// Bytes counted in the registry's kept total while a model's rows are held.
struct KeptBytes {
    counter: Arc<AtomicUsize>,
    bytes: usize,
}

impl KeptBytes {
    fn add(&mut self, n: usize) {
        self.counter.fetch_add(n, Ordering::Relaxed);
        self.bytes += n;
    }
}

impl Drop for KeptBytes {
    fn drop(&mut self) {
        self.counter.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

/// The share of the memory limit that kept model rows may hold together; the rest stays for
/// the queries (a hash join cannot spill, and it must not find the pool full of kept rows).
const KEPT_SHARE: f64 = 0.5;

impl fmt::Debug for ModelView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModelView")
            .field("name", &self.name)
            .field("model", &self.model)
            .field("depends_on", &self.depends_on)
            .finish_non_exhaustive()
    }
}

impl ModelView {
    fn new(name: &str, view: &ViewTable, registry: &ModelRegistry) -> Self {
        let plan = view.logical_plan().clone();
        let known = registry.views();
        let mut depends_on = BTreeSet::new();
        let mut sources = BTreeSet::new();
        let mut files: Vec<Arc<dyn TableProvider>> = Vec::new();
        let mut model = false;
        let _ = plan.apply_with_subqueries(|node| {
            match node {
                LogicalPlan::TableScan(scan) => {
                    let provider = source_as_provider(&scan.source).ok();
                    let below = provider
                        .as_ref()
                        .and_then(|p| p.downcast_ref::<ModelView>());
                    match below {
                        Some(m) => {
                            depends_on.insert(m.name.clone());
                            sources.extend(m.sources.iter().cloned());
                            files.extend(m.files.iter().cloned());
                        }
                        None => {
                            sources.insert(scan.table_name.table().to_string());
                            if let Some(p) = provider
                                && p.is::<ListingTable>()
                            {
                                files.push(p);
                            }
                        }
                    }
                }
                // An inline view leaves its name as the alias of its inlined plan.
                LogicalPlan::SubqueryAlias(alias) => {
                    let alias = alias.alias.table();
                    if alias != name && known.iter().any(|v| v.name == alias && !v.model) {
                        depends_on.insert(alias.to_string());
                    }
                }
                LogicalPlan::Projection(_)
                | LogicalPlan::Filter(_)
                | LogicalPlan::Sort(_)
                | LogicalPlan::Limit(_)
                | LogicalPlan::EmptyRelation(_)
                | LogicalPlan::Values(_) => {}
                _ => model = true,
            }
            Ok(TreeNodeRecursion::Continue)
        });
        // The same listing table reached along two paths counts once.
        let mut seen = Vec::new();
        files.retain(|f| {
            let ptr = Arc::as_ptr(f) as *const () as usize;
            let new = !seen.contains(&ptr);
            seen.push(ptr);
            new
        });
        Self {
            name: name.to_string(),
            schema: Arc::new(plan.schema().as_arrow().clone()),
            plan,
            definition: view.definition().cloned(),
            model,
            depends_on: depends_on.into_iter().collect(),
            sources: sources.into_iter().collect(),
            files,
            cache: tokio::sync::Mutex::new(None),
            stats: Mutex::new(ModelStats::default()),
            kept: registry.kept.clone(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether this view is computed once and kept (a model) rather than inlined.
    pub fn is_model(&self) -> bool {
        self.model
    }

    /// The views it reads directly.
    pub fn depends_on(&self) -> &[String] {
        &self.depends_on
    }

    /// The tables it reads, however deep.
    pub fn sources(&self) -> &[String] {
        &self.sources
    }

    pub fn stats(&self) -> ModelStats {
        self.stats.lock().map(|s| *s).unwrap_or_default()
    }

    /// What the kept rows of this model belong to (see the module docs): the settings' part
    /// and the source files' part.
    fn key(&self, state: &SessionState) -> (u64, u64) {
        let mut h = std::hash::DefaultHasher::new();
        let options = state.config_options();
        if let Some(persona) = options.extensions.get::<PersonaOptions>() {
            for entry in datafusion::common::config::ExtensionOptions::entries(persona) {
                (entry.key, entry.value).hash(&mut h);
            }
        }
        options.execution.time_zone.hash(&mut h);
        let mut files = std::hash::DefaultHasher::new();
        for table in &self.files {
            if let Some(listing) = table.downcast_ref::<ListingTable>() {
                for url in listing.table_paths() {
                    url.as_str().hash(&mut files);
                    if url.scheme() == "file" {
                        hash_files(&Path::new("/").join(url.prefix().as_ref()), &mut files);
                    }
                }
            }
        }
        (h.finish(), files.finish())
    }

    /// Lets go of the kept rows (memory or spill file); the next read computes them again.
    pub async fn release(&self) {
        *self.cache.lock().await = None;
    }

    /// Computes the model for `state`'s key unless its rows are kept already; returns the
    /// rows and whether they were computed now.
    pub async fn materialise(&self, state: &SessionState) -> Result<bool> {
        self.rows_for(state).await.map(|(_, computed)| computed)
    }

    async fn rows_for(&self, state: &SessionState) -> Result<(Arc<Materialised>, bool)> {
        let key = self.key(state);
        let mut slot = self.cache.lock().await;
        if let Some(cached) = slot.as_ref() {
            if cached.key == key {
                return Ok((cached.data.clone(), false));
            }
            // DataFusion keeps the file lists of listing tables for the session's life; files
            // changed since this model was computed must be listed again to be read.
            if cached.key.1 != key.1
                && let Some(lists) = state.runtime_env().cache_manager.get_list_files_cache()
            {
                lists.clear();
            }
        }
        // The old rows go before the new ones are computed, so both never hold memory at once.
        *slot = None;
        let started = Instant::now();
        let (data, rows, bytes) = self.compute(state).await?;
        let spilled = matches!(data, Materialised::Spilled { .. });
        let data = Arc::new(data);
        if let Ok(mut stats) = self.stats.lock() {
            *stats = ModelStats {
                computations: stats.computations + 1,
                rows,
                bytes,
                seconds: started.elapsed().as_secs_f64(),
                spilled,
            };
        }
        *slot = Some(Cached {
            key,
            data: data.clone(),
        });
        Ok((data, true))
    }

    async fn compute(&self, state: &SessionState) -> Result<(Materialised, usize, usize)> {
        let df = DataFrame::new(state.clone(), self.plan.clone());
        let mut stream = df.execute_stream().await?;
        let pool = &state.runtime_env().memory_pool;
        let reservation = MemoryConsumer::new(format!("model {}", self.name)).register(pool);
        let budget = match pool.memory_limit() {
            MemoryLimit::Finite(limit) => (limit as f64 * KEPT_SHARE) as usize,
            _ => usize::MAX,
        };
        let mut kept = KeptBytes {
            counter: self.kept.clone(),
            bytes: 0,
        };
        let (mut batches, mut rows, mut bytes) = (Vec::new(), 0usize, 0usize);
        let mut spill: Option<Spill> = None;
        while let Some(batch) = stream.next().await {
            let batch = compact(batch?)?;
            rows += batch.num_rows();
            if let Some(spill) = spill.as_mut() {
                spill.writer.write(&batch)?;
                continue;
            }
            let size = batch.get_array_memory_size();
            let within = self.kept.load(Ordering::Relaxed).saturating_add(size) <= budget;
            if within && reservation.try_grow(size).is_ok() {
                bytes += size;
                kept.add(size);
                batches.push(batch);
                continue;
            }
            // Over the budget, or the pool refuses: everything so far and the rest go to a
            // Parquet file.
            let mut s = Spill::start(state, &self.name, self.schema.clone())?;
            for b in batches.drain(..).chain(std::iter::once(batch)) {
                s.writer.write(&b)?;
            }
            reservation.free();
            kept = KeptBytes {
                counter: self.kept.clone(),
                bytes: 0,
            };
            spill = Some(s);
        }
        match spill {
            None => Ok((
                Materialised::Memory {
                    batches,
                    _reservation: reservation,
                    _kept: kept,
                },
                rows,
                bytes,
            )),
            Some(s) => {
                let bytes = s.writer.bytes_written();
                let data = s.finish(self.schema.clone())?;
                Ok((data, rows, bytes))
            }
        }
    }

    /// The plan of the view itself with `filters` and `projection` applied, as inlining would
    /// have planned it.
    fn inline_plan(
        &self,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
    ) -> Result<LogicalPlan> {
        let mut builder = LogicalPlanBuilder::from(self.plan.clone()).alias(self.name.as_str())?;
        let unqualified = |e: Expr| {
            e.transform(|e| {
                Ok(match e {
                    Expr::Column(c) => datafusion::common::tree_node::Transformed::yes(
                        Expr::Column(Column::new(Some(self.name.as_str()), c.name)),
                    ),
                    other => datafusion::common::tree_node::Transformed::no(other),
                })
            })
            .map(|t| t.data)
        };
        let filters = filters
            .iter()
            .cloned()
            .map(unqualified)
            .collect::<Result<Vec<_>>>()?;
        if let Some(predicate) = conjunction(filters) {
            builder = builder.filter(predicate)?;
        }
        if let Some(projection) = projection {
            let columns = projection.iter().map(|&i| {
                Expr::Column(Column::new(
                    Some(self.name.as_str()),
                    self.schema.field(i).name(),
                ))
            });
            builder = builder.project(columns)?;
        }
        builder.build()
    }
}

/// Hashes the names, sizes and modification times of the files at or below `path`.
fn hash_files(path: &Path, h: &mut impl Hasher) {
    let Ok(meta) = std::fs::metadata(path) else {
        0u8.hash(h);
        return;
    };
    if meta.is_dir() {
        let Ok(entries) = std::fs::read_dir(path) else {
            return;
        };
        let mut children: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        children.sort();
        for child in children {
            child.hash(h);
            hash_files(&child, h);
        }
    } else {
        meta.len().hash(h);
        meta.modified().ok().hash(h);
    }
}

/// A batch whose string views own only the bytes they use: a kept batch must not pin the
/// Parquet pages, join buffers or aggregation states its strings were sliced from. Measured:
/// `customer_360.tags` (a list of strings from `array_agg`) reported 4.9 GB for 4,210 rows.
fn compact(batch: RecordBatch) -> Result<RecordBatch> {
    let columns: Vec<ArrayRef> = batch.columns().iter().map(compact_array).collect();
    Ok(RecordBatch::try_new(batch.schema(), columns)?)
}

fn compact_array(array: &ArrayRef) -> ArrayRef {
    use datafusion::arrow::array::{ListArray, StructArray};
    use datafusion::arrow::buffer::OffsetBuffer;
    match array.data_type() {
        DataType::Utf8View => Arc::new(array.as_string_view().gc()),
        DataType::BinaryView => Arc::new(array.as_binary_view().gc()),
        DataType::List(field) if holds_views(field.data_type()) => {
            let list = array.as_list::<i32>();
            let offsets = list.value_offsets();
            let (first, last) = (offsets[0], offsets[offsets.len() - 1]);
            // Only the values this (perhaps sliced) list reaches, with offsets from zero.
            let values = list.values().slice(first as usize, (last - first) as usize);
            let rebased = OffsetBuffer::new(offsets.iter().map(|o| o - first).collect());
            Arc::new(ListArray::new(
                field.clone(),
                rebased,
                compact_array(&values),
                list.nulls().cloned(),
            ))
        }
        DataType::Struct(fields) if fields.iter().any(|f| holds_views(f.data_type())) => {
            let s = array.as_struct();
            Arc::new(StructArray::new(
                fields.clone(),
                s.columns().iter().map(compact_array).collect(),
                s.nulls().cloned(),
            ))
        }
        _ => array.clone(),
    }
}

/// Whether arrays of `t` hold string or binary views, however deep.
fn holds_views(t: &DataType) -> bool {
    match t {
        DataType::Utf8View | DataType::BinaryView => true,
        DataType::List(f) => holds_views(f.data_type()),
        DataType::Struct(fields) => fields.iter().any(|f| holds_views(f.data_type())),
        _ => false,
    }
}

/// A model's rows on their way to a Parquet file in the spill directory.
struct Spill {
    writer: ArrowWriter<std::fs::File>,
    file: Arc<dyn SpillFile>,
}

impl Spill {
    fn start(state: &SessionState, name: &str, schema: SchemaRef) -> Result<Self> {
        let file = state
            .runtime_env()
            .disk_manager
            .create_tmp_file(&format!("model {name}"))?;
        let Some(path) = file.path() else {
            return plan_err!(
                "model {name}: the spill directory has no local files to keep its rows in"
            );
        };
        let handle = std::fs::File::create(path)?;
        let writer = ArrowWriter::try_new(handle, schema, None)?;
        Ok(Self { writer, file })
    }

    fn finish(self, schema: SchemaRef) -> Result<Materialised> {
        self.writer.close()?;
        Ok(Materialised::Spilled {
            table: Box::new(spill_files_table(std::slice::from_ref(&self.file), schema)?),
            _file: self.file,
        })
    }
}

/// A table over Parquet files of the spill directory (their names have no extension) under
/// `schema`; columns a file lacks read as NULL. The caller keeps the files' handles for as
/// long as the table is read.
pub fn spill_files_table(files: &[Arc<dyn SpillFile>], schema: SchemaRef) -> Result<ListingTable> {
    let urls = files
        .iter()
        .filter_map(|f| f.path())
        .map(|p| ListingTableUrl::parse(p.to_string_lossy()))
        .collect::<Result<Vec<_>>>()?;
    let options = ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension("");
    let config = ListingTableConfig::new_with_multi_paths(urls)
        .with_listing_options(options)
        .with_schema(schema);
    ListingTable::try_new(config)
}

#[async_trait]
impl TableProvider for ModelView {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    fn get_table_definition(&self) -> Option<&str> {
        self.definition.as_deref()
    }

    fn get_logical_plan(&'_ self) -> Option<Cow<'_, LogicalPlan>> {
        (!self.model).then_some(Cow::Borrowed(&self.plan))
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        // Kept rows are filtered above the scan; a model planned afresh takes the filters in.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let Some(state) = state.as_any().downcast_ref::<SessionState>() else {
            return plan_err!("the view {} needs a persona session", self.name);
        };
        let cache = state
            .config_options()
            .extensions
            .get::<PersonaOptions>()
            .is_none_or(|o| o.model_cache);
        if !self.model || !cache {
            let plan = self.inline_plan(projection, filters)?;
            return state.create_physical_plan(&plan).await;
        }
        let (data, _) = self.rows_for(state).await?;
        match data.as_ref() {
            Materialised::Memory { batches, .. } => {
                // Round-robin over the session's partitions, so the rows are read in parallel.
                let n = state.config().target_partitions().max(1);
                let mut partitions = vec![Vec::new(); n.min(batches.len().max(1))];
                let count = partitions.len();
                for (i, b) in batches.iter().enumerate() {
                    partitions[i % count].push(b.clone());
                }
                let exec = MemorySourceConfig::try_new_exec(
                    &partitions,
                    self.schema.clone(),
                    projection.cloned(),
                )?;
                Ok(exec)
            }
            Materialised::Spilled { table, .. } => {
                table.scan(state, projection, filters, None).await
            }
        }
    }
}

/// `persona_models()`: every view of the session with its kind, what it reads and what
/// computing it cost.
#[derive(Debug)]
pub struct PersonaModelsFunc;

impl TableFunctionImpl for PersonaModelsFunc {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        if !args.exprs().is_empty() {
            return plan_err!("persona_models takes no arguments");
        }
        let registry = args
            .session()
            .as_any()
            .downcast_ref::<SessionState>()
            .and_then(|s| s.config().get_extension::<ModelRegistry>());
        let views = registry.map(|r| r.views()).unwrap_or_default();
        let stats: Vec<ModelStats> = views.iter().map(|v| v.stats()).collect();
        let schema = Arc::new(Schema::new(vec![
            Field::new("name", DataType::Utf8, false),
            Field::new("kind", DataType::Utf8, false),
            Field::new("depends_on", DataType::Utf8, false),
            Field::new("sources", DataType::Utf8, false),
            Field::new("computations", DataType::UInt64, false),
            Field::new("rows", DataType::UInt64, false),
            Field::new("bytes", DataType::UInt64, false),
            Field::new("seconds", DataType::Float64, false),
            Field::new("spilled", DataType::Boolean, false),
        ]));
        let text = |f: &dyn Fn(&ModelView) -> String| -> ArrayRef {
            Arc::new(StringArray::from_iter_values(views.iter().map(|v| f(v))))
        };
        let columns: Vec<ArrayRef> = vec![
            text(&|v| v.name.clone()),
            text(&|v| if v.model { "model" } else { "inline" }.to_string()),
            text(&|v| v.depends_on.join(", ")),
            text(&|v| v.sources.join(", ")),
            Arc::new(UInt64Array::from_iter_values(
                stats.iter().map(|s| s.computations),
            )),
            Arc::new(UInt64Array::from_iter_values(
                stats.iter().map(|s| s.rows as u64),
            )),
            Arc::new(UInt64Array::from_iter_values(
                stats.iter().map(|s| s.bytes as u64),
            )),
            Arc::new(Float64Array::from_iter_values(
                stats.iter().map(|s| s.seconds),
            )),
            Arc::new(BooleanArray::from_iter(
                stats.iter().map(|s| Some(s.spilled)),
            )),
        ];
        let batch = RecordBatch::try_new(schema.clone(), columns)?;
        Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
    }
}

/// Installs the model registry in a local session: views created from now on are models or
/// inline views, and `persona_models()` lists them.
pub fn install(ctx: &SessionContext) -> Result<()> {
    let registry = ctx
        .state()
        .config()
        .get_extension::<ModelRegistry>()
        .ok_or_else(|| DataFusionError::Plan("the session has no model registry".into()))?;
    let Some(catalog) = ctx.catalog("datafusion") else {
        return plan_err!("the session has no catalog 'datafusion'");
    };
    let old = catalog.register_schema("public", Arc::new(ModelSchema::new(registry)))?;
    // Whatever was registered before (nothing, in a fresh session) moves over.
    if let Some(old) = old {
        for name in old.table_names() {
            if let Some(table) = futures::executor::block_on(old.table(&name))? {
                ctx.register_table(name.as_str(), table)?;
            }
        }
    }
    ctx.register_udtf("persona_models", Arc::new(PersonaModelsFunc));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{ListArray, StringViewArray};
    use datafusion::arrow::buffer::OffsetBuffer;

    /// Regression: `customer_360.tags`, a list of strings sliced from `array_agg`'s buffers,
    /// reported 4.9 GB for 4,210 rows, so the model went to disk at 30,000 customers.
    #[test]
    fn kept_lists_of_strings_hold_only_their_own_bytes() {
        let strings: StringViewArray = (0..10_000)
            .map(|i| Some(format!("tag_{i:06}=a value longer than twelve bytes")))
            .collect();
        let offsets = OffsetBuffer::new((0..=1_000).map(|i| i * 10).collect());
        let field = Arc::new(Field::new("item", DataType::Utf8View, true));
        let list = ListArray::new(field, offsets, Arc::new(strings), None);
        let sliced: ArrayRef = Arc::new(list.slice(10, 5));
        let batch = RecordBatch::try_from_iter([("tags", sliced)]).unwrap();
        let kept = compact(batch.clone()).unwrap();
        assert_eq!(kept.column(0).as_ref(), batch.column(0).as_ref());
        assert!(
            kept.get_array_memory_size() * 20 < batch.get_array_memory_size(),
            "{} {}",
            kept.get_array_memory_size(),
            batch.get_array_memory_size()
        );
    }
}
