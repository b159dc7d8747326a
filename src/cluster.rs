//! Scale-out on an Apache DataFusion Ballista cluster (the `cluster` feature):
//! `persona cluster scheduler`, `persona cluster executor`, and `persona --cluster df://…`.
//!
//! A query is planned on the client (persona's session with its sources and views), sent to the
//! scheduler as a logical plan, planned into stages there, and run by the executors. So persona's
//! functions must exist in three places: the client's session, the scheduler's session builder
//! and the executors' function registry, and the `persona.*` settings must exist on every node,
//! or the values a client sets are dropped on the way (Ballista ignores unknown keys).
//!
//! Plans name functions; the codecs here add a small payload to every persona function
//! (`persona <version>`), which makes the receiving node build the function itself instead of
//! looking the name up in a registry. A node whose persona lacks the function, or runs another
//! version, then fails with a sentence naming the function and both versions, rather than
//! DataFusion's generic "no UDF named …".
//!
//! Nodes read `s3://` locations with the credentials and endpoint of their environment
//! (`AWS_ACCESS_KEY_ID`, `AWS_ENDPOINT_URL`, …); local paths must be the same on every node.

use std::collections::HashMap;
use std::net::ToSocketAddrs;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use ballista::prelude::SessionContextExt;
use ballista_core::extension::{
    SessionConfigExt, ballista_aggregate_functions, ballista_scalar_functions,
    ballista_window_functions,
};
use ballista_core::registry::BallistaFunctionRegistry;
use ballista_core::serde::{BallistaLogicalExtensionCodec, BallistaPhysicalExtensionCodec};
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::start_server;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::common::TableReference;
use datafusion::common::{DataFusionError, Result as DfResult};
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::execution::SessionState;
use datafusion::execution::TaskContext;
use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::logical_expr::{AggregateUDF, Extension, LogicalPlan, ScalarUDF, WindowUDF};
use datafusion::physical_expr_common::physical_expr::proto_decode::PhysicalExprDecodeCtx;
use datafusion::physical_expr_common::physical_expr::proto_encode::PhysicalExprEncodeCtx;
use datafusion::physical_plan::{ExecutionPlan, PhysicalExpr};
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use object_store::ObjectStore;
use persona_udfs::PersonaOptions;
use url::Url;

use crate::cli::{ExecutorArgs, SchedulerArgs};
use crate::error::{PersonaError, Result};

/// The scheduler's port when a `df://` address names none (Ballista's).
pub const DEFAULT_SCHEDULER_PORT: u16 = 50050;

/// How long the client waits for the scheduler to answer before giving up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The version every node compares: plans from another persona are refused by name.
const VERSION: &str = env!("CARGO_PKG_VERSION");

// ---------------------------------------------------------------------------------------------
// Addresses

/// `df://HOST[:PORT]` (or `HOST[:PORT]`), given as `option`, as host and port.
pub fn parse_address(option: &str, address: &str) -> Result<(String, u16)> {
    let bad = |why: &str| {
        PersonaError::Usage(format!(
            "{option} {address}: {why}; write df://HOST:PORT, e.g. df://127.0.0.1:50050"
        ))
    };
    let text = if address.contains("://") {
        address.to_string()
    } else {
        format!("df://{address}")
    };
    let url = Url::parse(&text).map_err(|e| bad(&e.to_string()))?;
    if url.scheme() != "df" {
        return Err(bad(&format!("the scheme is {}, not df", url.scheme())));
    }
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| bad("there is no host"))?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    Ok((host, url.port().unwrap_or(DEFAULT_SCHEDULER_PORT)))
}

/// Fails with one sentence naming the address when nothing answers there within the timeout.
async fn probe(host: &str, port: u16) -> Result<()> {
    let shown = format!("df://{host}:{port}");
    let unreachable = |why: String| {
        let mut chars = why.chars();
        let why = match chars.next() {
            Some(first) => first.to_lowercase().chain(chars).collect(),
            None => why,
        };
        PersonaError::Usage(format!(
            "cannot reach the cluster scheduler at {shown}: {why}"
        ))
    };
    let addrs: Vec<_> = (host, port)
        .to_socket_addrs()
        .map_err(|e| unreachable(crate::error::strip_os_error(&e.to_string())))?
        .collect();
    let Some(addr) = addrs.first() else {
        return Err(unreachable("the host name has no address".into()));
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(addr)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(unreachable(crate::error::strip_os_error(&e.to_string()))),
        Err(_) => Err(unreachable(format!(
            "no answer within {} s",
            CONNECT_TIMEOUT.as_secs()
        ))),
    }
}

// ---------------------------------------------------------------------------------------------
// The client

/// A session whose queries run on the cluster at `address`: persona's settings and codecs in
/// `config`, the local `runtime` for planning (listing files, inferring schemas).
///
/// Persona's functions are registered by the caller afterwards: Ballista's upgrade of the
/// session state resets the function lists to DataFusion's.
pub async fn connect(
    address: &str,
    config: SessionConfig,
    runtime: Arc<RuntimeEnv>,
) -> Result<SessionContext> {
    let (host, port) = parse_address("--cluster", address)?;
    probe(&host, port).await?;
    let config =
        config.with_ballista_logical_extension_codec(Arc::new(PersonaLogicalCodec::default()));
    let state = persona_udfs::with_expr_planners(
        SessionStateBuilder::new()
            .with_default_features()
            .with_config(config)
            .with_runtime_env(runtime),
    )
    .build();
    Ok(SessionContext::remote_with_state(&format!("df://{host}:{port}"), state).await?)
}

// ---------------------------------------------------------------------------------------------
// Nodes

/// The settings every node starts from before a query's own are applied: Ballista's, plus the
/// `persona.*` namespace, so the values a client sets arrive.
fn node_config() -> SessionConfig {
    SessionConfig::new_with_ballista()
        .with_information_schema(true)
        .with_option_extension(PersonaOptions::new())
}

/// A node's session: DataFusion's and Ballista's functions, then persona's.
fn node_state(config: SessionConfig, runtime: Arc<RuntimeEnv>) -> DfResult<SessionState> {
    let mut state = SessionStateBuilder::new()
        .with_default_features()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_optimizer_rules(ballista_core::optimizer::ballista_default_optimizer_rules())
        .with_scalar_functions(ballista_scalar_functions())
        .with_aggregate_functions(ballista_aggregate_functions())
        .with_window_functions(ballista_window_functions())
        .build();
    persona_udfs::register_all(&mut state)?;
    Ok(state)
}

/// A node's runtime: `s3://` stores made on first use from the environment and kept in
/// `stores`, which every session of the node shares (one S3 client and its connections per
/// bucket, not one per query).
fn node_runtime(
    stores: &Arc<EnvObjectStores>,
    temp_dir: Option<&str>,
) -> DfResult<Arc<RuntimeEnv>> {
    let mut builder = RuntimeEnvBuilder::new()
        .with_object_store_registry(Arc::clone(stores) as Arc<dyn ObjectStoreRegistry>);
    if let Some(dir) = temp_dir {
        builder = builder.with_temp_file_path(dir);
    }
    builder.build_arc()
}

/// Object stores registered as usual, plus an `s3://` store for any bucket asked for, built
/// from the node's environment: nodes have no `persona.toml` to read `[s3]` from.
#[derive(Debug, Default)]
struct EnvObjectStores {
    inner: DefaultObjectStoreRegistry,
    made: RwLock<HashMap<String, Arc<dyn ObjectStore>>>,
}

impl ObjectStoreRegistry for EnvObjectStores {
    fn register_store(
        &self,
        url: &Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        self.inner.register_store(url, store)
    }

    fn get_store(&self, url: &Url) -> DfResult<Arc<dyn ObjectStore>> {
        if let Ok(store) = self.inner.get_store(url) {
            return Ok(store);
        }
        let Some(bucket) = url
            .host_str()
            .filter(|_| url.scheme().eq_ignore_ascii_case("s3"))
        else {
            return self.inner.get_store(url);
        };
        if let Some(store) = self.made.read().expect("not poisoned").get(bucket) {
            return Ok(Arc::clone(store));
        }
        let store: Arc<dyn ObjectStore> = Arc::new(
            crate::storage::s3_store(bucket, &Default::default())
                .map_err(|e| DataFusionError::Execution(e.to_string()))?,
        );
        self.made
            .write()
            .expect("not poisoned")
            .insert(bucket.to_string(), Arc::clone(&store));
        Ok(store)
    }
}

/// Ballista logs through `log`; a node prints `info` and above to standard error (or what
/// `PERSONA_LOG` says: error, warn, info, debug, trace).
fn init_logging() {
    struct Stderr(log::LevelFilter);
    impl log::Log for Stderr {
        fn enabled(&self, m: &log::Metadata) -> bool {
            m.level() <= self.0
        }
        fn log(&self, r: &log::Record) {
            if self.enabled(r.metadata()) {
                let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ");
                eprintln!("{now} {:5} {}: {}", r.level(), r.target(), r.args());
            }
        }
        fn flush(&self) {}
    }
    let level = std::env::var("PERSONA_LOG")
        .ok()
        .and_then(|l| l.parse().ok())
        .unwrap_or(log::LevelFilter::Info);
    // Leaked once: a process has one logger for its whole life.
    if log::set_logger(Box::leak(Box::new(Stderr(level)))).is_ok() {
        log::set_max_level(level);
    }
}

fn ballista_error(what: &str, e: impl std::fmt::Display) -> PersonaError {
    PersonaError::Usage(format!("{what}: {e}"))
}

/// `persona cluster scheduler`: runs until stopped.
pub async fn run_scheduler(args: &SchedulerArgs) -> Result<i32> {
    init_logging();
    let addr = args
        .bind
        .to_socket_addrs()
        .map_err(|e| PersonaError::Usage(format!("--bind {}: {e}", args.bind)))?
        .next()
        .ok_or_else(|| PersonaError::Usage(format!("--bind {}: no address", args.bind)))?;
    let stores = Arc::new(EnvObjectStores::default());
    let session_builder: ballista_scheduler::scheduler_server::SessionBuilder =
        Arc::new(move |config: SessionConfig| node_state(config, node_runtime(&stores, None)?));
    let mut config = SchedulerConfig::default()
        .with_hostname(
            args.external_host
                .clone()
                .unwrap_or_else(|| addr.ip().to_string()),
        )
        .with_port(addr.port())
        .with_override_config_producer(Arc::new(node_config))
        .with_override_session_builder(session_builder);
    config.bind_host = addr.ip().to_string();
    config.override_logical_codec = Some(Arc::new(PersonaLogicalCodec::default()));
    config.override_physical_codec = Some(Arc::new(PersonaPhysicalCodec::default()));
    // A lost executor is noticed after this long without a heartbeat (Ballista's 180 s would
    // leave its tasks hanging for three minutes).
    config.executor_timeout_seconds = args.executor_timeout;
    config.expire_dead_executor_interval_seconds = (args.executor_timeout / 4).max(1);
    config.no_executors_grace_period_seconds = args.executor_timeout;
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .map_err(|e| ballista_error("cannot start the scheduler", e))?;
    eprintln!("persona scheduler {VERSION} listening on df://{addr}");
    start_server(cluster, addr, Arc::new(config))
        .await
        .map_err(|e| ballista_error(&format!("scheduler on {addr}"), e))?;
    Ok(0)
}

/// `persona cluster executor`: registers with the scheduler and runs tasks until stopped.
pub async fn run_executor(args: &ExecutorArgs, memory_limit: Option<usize>) -> Result<i32> {
    init_logging();
    let (scheduler_host, scheduler_port) = parse_address("--scheduler", &args.scheduler)?;
    let work_dir = match &args.work_dir {
        Some(dir) => dir.clone(),
        None => std::env::temp_dir().join(format!("persona-executor-{}", std::process::id())),
    };
    std::fs::create_dir_all(&work_dir).map_err(|e| PersonaError::io(&work_dir, &e))?;
    let work = work_dir.display().to_string();
    let stores = Arc::new(EnvObjectStores::default());
    let registry = {
        let state = node_state(node_config(), node_runtime(&stores, None)?)?;
        Arc::new(BallistaFunctionRegistry::from(&state))
    };
    let temp = work.clone();
    let runtime_producer: ballista_core::RuntimeProducer =
        Arc::new(move |_config: &SessionConfig| node_runtime(&stores, Some(&temp)));
    let config = ExecutorProcessConfig {
        bind_host: args.bind_host.clone(),
        external_host: args.external_host.clone().or(Some(args.bind_host.clone())),
        port: args.port,
        grpc_port: args.grpc_port,
        scheduler_host,
        scheduler_port,
        scheduler_connect_timeout_seconds: args.connect_timeout,
        vcores: args.concurrent_tasks.unwrap_or(0),
        work_dir: Some(work),
        memory_pool_size: memory_limit.map(|b| b as u64),
        executor_heartbeat_interval_seconds: args.heartbeat,
        override_function_registry: Some(registry),
        override_config_producer: Some(Arc::new(node_config)),
        override_runtime_producer: Some(runtime_producer),
        override_logical_codec: Some(Arc::new(PersonaLogicalCodec::default())),
        override_physical_codec: Some(Arc::new(PersonaPhysicalCodec::default())),
        ..Default::default()
    };
    eprintln!(
        "persona executor {VERSION} on {}:{} (flight) and :{} (grpc), scheduler df://{}:{}",
        args.bind_host, args.port, args.grpc_port, config.scheduler_host, config.scheduler_port
    );
    start_executor_process(Arc::new(config))
        .await
        .map_err(|e| ballista_error("executor", e))?;
    Ok(0)
}

// ---------------------------------------------------------------------------------------------
// Codecs

/// Persona's functions by name (aliases included), built once per process.
struct Functions {
    scalar: HashMap<String, Arc<ScalarUDF>>,
    aggregate: HashMap<String, Arc<AggregateUDF>>,
    window: HashMap<String, Arc<WindowUDF>>,
}

fn functions() -> &'static Functions {
    static FUNCTIONS: OnceLock<Functions> = OnceLock::new();
    FUNCTIONS.get_or_init(|| {
        fn by_name<T>(
            all: Vec<Arc<T>>,
            names: impl Fn(&T) -> Vec<String>,
        ) -> HashMap<String, Arc<T>> {
            let mut map = HashMap::new();
            for f in all {
                for name in names(&f) {
                    map.insert(name, Arc::clone(&f));
                }
            }
            map
        }
        Functions {
            scalar: by_name(persona_udfs::scalar_functions(), |f: &ScalarUDF| {
                std::iter::once(f.name().to_string())
                    .chain(f.aliases().iter().cloned())
                    .collect()
            }),
            aggregate: by_name(persona_udfs::aggregate_functions(), |f: &AggregateUDF| {
                std::iter::once(f.name().to_string())
                    .chain(f.aliases().iter().cloned())
                    .collect()
            }),
            window: by_name(persona_udfs::window_functions(), |f: &WindowUDF| {
                std::iter::once(f.name().to_string())
                    .chain(f.aliases().iter().cloned())
                    .collect()
            }),
        }
    })
}

const PAYLOAD_PREFIX: &str = "persona ";

/// Marks `name` as persona's in the plan when it is.
fn encode_function<T>(map: &HashMap<String, Arc<T>>, name: &str, buf: &mut Vec<u8>) {
    if map.contains_key(name) {
        buf.extend_from_slice(format!("{PAYLOAD_PREFIX}{VERSION}").as_bytes());
    }
}

/// This node's `name`, checked against the payload the planning node wrote.
fn decode_function<T>(
    map: &HashMap<String, Arc<T>>,
    kind: &str,
    name: &str,
    buf: &[u8],
) -> DfResult<Arc<T>> {
    let payload = std::str::from_utf8(buf).unwrap_or_default();
    match payload.strip_prefix(PAYLOAD_PREFIX) {
        Some(version) if version != VERSION => {
            return Err(DataFusionError::Plan(format!(
                "the {kind} function {name} was planned by persona {version}, but this node runs \
                 persona {VERSION}; run the same persona on the client and every node"
            )));
        }
        Some(_) => {}
        None if !buf.is_empty() => {
            return Err(DataFusionError::Plan(format!(
                "the {kind} function {name} comes with a definition this node cannot read"
            )));
        }
        None => {}
    }
    map.get(name).cloned().ok_or_else(|| {
        DataFusionError::Plan(format!(
            "the {kind} function {name} is not available on this node (persona {VERSION}); \
             run the same persona on the client and every node"
        ))
    })
}

/// The function methods both codecs share (the two traits declare the same six).
macro_rules! function_codec {
    () => {
        fn try_decode_udf(&self, name: &str, buf: &[u8]) -> DfResult<Arc<ScalarUDF>> {
            decode_function(&functions().scalar, "scalar", name, buf)
        }

        fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> DfResult<()> {
            encode_function(&functions().scalar, node.name(), buf);
            Ok(())
        }

        fn try_decode_udaf(&self, name: &str, buf: &[u8]) -> DfResult<Arc<AggregateUDF>> {
            decode_function(&functions().aggregate, "aggregate", name, buf)
        }

        fn try_encode_udaf(&self, node: &AggregateUDF, buf: &mut Vec<u8>) -> DfResult<()> {
            encode_function(&functions().aggregate, node.name(), buf);
            Ok(())
        }

        fn try_decode_udwf(&self, name: &str, buf: &[u8]) -> DfResult<Arc<WindowUDF>> {
            decode_function(&functions().window, "window", name, buf)
        }

        fn try_encode_udwf(&self, node: &WindowUDF, buf: &mut Vec<u8>) -> DfResult<()> {
            encode_function(&functions().window, node.name(), buf);
            Ok(())
        }
    };
}

/// Ballista's logical codec with persona's functions.
#[derive(Debug, Default)]
pub struct PersonaLogicalCodec {
    inner: BallistaLogicalExtensionCodec,
}

impl LogicalExtensionCodec for PersonaLogicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[LogicalPlan],
        ctx: &TaskContext,
    ) -> DfResult<Extension> {
        self.inner.try_decode(buf, inputs, ctx)
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> DfResult<()> {
        self.inner.try_encode(node, buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> DfResult<Arc<dyn TableProvider>> {
        self.inner
            .try_decode_table_provider(buf, table_ref, schema, ctx)
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> DfResult<()> {
        self.inner.try_encode_table_provider(table_ref, node, buf)
    }

    fn try_decode_file_format(
        &self,
        buf: &[u8],
        ctx: &TaskContext,
    ) -> DfResult<Arc<dyn FileFormatFactory>> {
        self.inner.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(
        &self,
        buf: &mut Vec<u8>,
        node: Arc<dyn FileFormatFactory>,
    ) -> DfResult<()> {
        self.inner.try_encode_file_format(buf, node)
    }

    function_codec!();
}

/// Ballista's physical codec with persona's functions.
#[derive(Debug, Default)]
pub struct PersonaPhysicalCodec {
    inner: BallistaPhysicalExtensionCodec,
}

impl PhysicalExtensionCodec for PersonaPhysicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        self.inner.try_decode(buf, inputs, ctx, proto_converter)
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> DfResult<()> {
        self.inner.try_encode(node, buf, proto_converter)
    }

    fn try_decode_expr(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn PhysicalExpr>],
        ctx: &PhysicalExprDecodeCtx<'_>,
    ) -> DfResult<Arc<dyn PhysicalExpr>> {
        self.inner.try_decode_expr(buf, inputs, ctx)
    }

    fn try_encode_expr(
        &self,
        node: &Arc<dyn PhysicalExpr>,
        buf: &mut Vec<u8>,
        ctx: &PhysicalExprEncodeCtx<'_>,
    ) -> DfResult<()> {
        self.inner.try_encode_expr(node, buf, ctx)
    }

    function_codec!();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            parse_address("--cluster", "df://10.0.0.5:6000").unwrap(),
            ("10.0.0.5".to_string(), 6000)
        );
        assert_eq!(
            parse_address("--cluster", "sched.internal").unwrap(),
            ("sched.internal".to_string(), DEFAULT_SCHEDULER_PORT)
        );
        let e = parse_address("--scheduler", "http://x:1")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("--scheduler http://x:1: the scheme is http"),
            "{e}"
        );
        assert!(e.contains("write df://HOST:PORT"), "{e}");
    }

    #[test]
    fn persona_functions_travel_with_a_payload_and_others_without() {
        let codec = PersonaLogicalCodec::default();
        let std_phone = functions().scalar["std_phone"].clone();
        let mut buf = Vec::new();
        codec.try_encode_udf(&std_phone, &mut buf).unwrap();
        assert_eq!(buf, format!("persona {VERSION}").as_bytes());
        let back = codec.try_decode_udf("std_phone", &buf).unwrap();
        assert_eq!(back.name(), "std_phone");

        let abs = datafusion::functions::math::abs();
        let mut buf = Vec::new();
        codec.try_encode_udf(&abs, &mut buf).unwrap();
        assert!(buf.is_empty());
    }

    #[test]
    fn function_missing_on_a_node_is_named() {
        let codec = PersonaPhysicalCodec::default();
        let payload = format!("persona {VERSION}");
        let e = codec
            .try_decode_udf("std_horoscope", payload.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("the scalar function std_horoscope is not available on this node"),
            "{e}"
        );
        let e = codec
            .try_decode_udaf("window_funnel", b"persona 0.0.1")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("planned by persona 0.0.1, but this node runs persona"),
            "{e}"
        );
    }
}
