//! `persona serve`: the project's tables, views and functions over the PostgreSQL wire
//! protocol, for psql, BI tools and drivers.
//!
//! Built on datafusion-postgres (query handling, `pg_catalog`) and pgwire (the protocol,
//! SCRAM-SHA-256, TLS). What persona adds:
//! - **Authentication** by SCRAM-SHA-256 against the `[[user]]` tables of `persona.toml`, with
//!   the password from an environment variable or stored as a salted hash. An open server
//!   needs `--no-auth` and a loopback address.
//! - **Read-only by default**: a query hook refuses statements that change data, files or the
//!   catalogue (INSERT, CREATE, DROP, COPY …), and session-wide `SET`s of engine settings,
//!   which would change the server for every client, with SQLSTATE 25006 as PostgreSQL's
//!   read-only transactions do. `--allow-write` lifts it.
//! - **Grants**: a user with `grants` gets an engine session of their own, sharing the
//!   functions, settings and memory pool but holding only the granted tables and views, so the
//!   catalogue shows them nothing else either.
//! - **Deadlines and cancel that stop execution**: datafusion-postgres returns rows as a lazy
//!   stream, sent after the handler returns, where neither pgwire's cancel request nor a
//!   timeout reaches. [`Service`] gathers the rows inside the handler instead, so both stop
//!   the whole query. The price is that a result is held in memory before it is sent, which
//!   suits BI queries (aggregates, pages of rows) and not bulk exports (use `persona -o`).
//! - TLS when `[serve]` names a certificate and key (read before listening: a bad file is an
//!   error, never a fall-back to plain text), and a connection limit that answers the
//!   connection over it as PostgreSQL does (53300 "sorry, too many clients already") from
//!   persona's own accept loop, where datafusion-postgres's closes the socket unanswered;
//!   Ctrl-C.
//!
//! The other users share one engine session: the views are planned once, and a client's
//! PostgreSQL settings (`statement_timeout`, `TimeZone`, `application_name` …) live in its
//! connection.

use std::collections::HashMap;
use std::fmt::Debug;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use datafusion::common::ParamValues;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryPool};
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{Set, SetExpr, Statement};
use datafusion_postgres::hooks::HookClient;
use datafusion_postgres::{DfSessionService, QueryHook};
use futures::Sink;
use pgwire::api::auth::noop::NoopStartupHandler;
use pgwire::api::auth::sasl::SASLAuthStartupHandler;
use pgwire::api::auth::sasl::scram::{SCRAM_ITERATIONS, ScramAuth, gen_salted_password};
use pgwire::api::auth::{
    AuthSource, DefaultServerParameterProvider, LoginInfo, Password, StartupHandler,
};
use pgwire::api::cancel::DefaultCancelHandler;
use pgwire::api::results::Response;
use pgwire::api::{
    ClientInfo, ConnectionManager, ErrorHandler, METADATA_USER, PgWireServerHandlers,
};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::data::DataRow;
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use serde::Deserialize;

use crate::error::{PersonaError, Result};

mod rewrite;
use rewrite::for_datafusion;

/// `[serve]` in persona.toml.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    /// `host:port` to listen on (default `127.0.0.1:5433`).
    pub listen: Option<String>,
    /// Connections served at once; more are turned away (default 64).
    pub max_connections: Option<usize>,
    /// The longest a statement may run, such as `30s` or `5min` (default: no limit); a client
    /// may set a shorter one with `SET statement_timeout`.
    pub statement_timeout: Option<String>,
    /// TLS: the certificate chain and the PKCS#8 private key, PEM (paths relative to the
    /// project). With both, clients can connect with `sslmode=require`.
    pub tls_cert: Option<String>,
    pub tls_key: Option<String>,
    /// With TLS, refuse clients that connect without it (SQLSTATE 28000).
    pub require_tls: Option<bool>,
    /// Folders and URL prefixes whose files clients may read by path (`SELECT * FROM
    /// '/data/shared/x.csv'`); without it, none. Relative folders are in the project.
    pub allow_locations: Option<Vec<String>>,
}

/// `[[user]]` in persona.toml: who may connect, and how their password is known.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    pub name: String,
    /// The environment variable holding the password.
    pub password_env: Option<String>,
    /// The salted password, as `persona hash-password` prints it:
    /// `SCRAM-SHA-256$4096:<salt, base64>$<salted password, base64>`.
    pub password_hash: Option<String>,
    /// The tables and views this user may see; without it, all of them.
    pub grants: Option<Vec<String>>,
}

/// The options of one `persona serve`.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub listen: String,
    pub no_auth: bool,
    pub allow_write: bool,
    pub max_connections: usize,
    pub statement_timeout: Option<Duration>,
    /// Certificate and key files, already resolved.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Plaintext startups are refused (needs `tls`).
    pub require_tls: bool,
}

/// The default address: PostgreSQL's port plus one, so a local PostgreSQL can stay.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:5433";

/// Users and their salted passwords (salt, SaltedPassword of RFC 5802), known at start-up.
#[derive(Debug)]
struct Users(HashMap<String, (Vec<u8>, Vec<u8>)>);

impl Users {
    fn load(users: &[UserConfig]) -> Result<Self> {
        let mut map = HashMap::new();
        for u in users {
            let entry = match (&u.password_env, &u.password_hash) {
                (Some(var), None) => {
                    let password = std::env::var(var).map_err(|_| {
                        PersonaError::Usage(format!(
                            "user '{}': the environment variable {var} holding the password is not set",
                            u.name
                        ))
                    })?;
                    // An empty password would let anyone who knows the name in, over SCRAM
                    // as well (`hash-password` refuses one too).
                    if password.is_empty() {
                        return Err(PersonaError::Usage(format!(
                            "user '{}': the environment variable {var} holding the password is empty; set a password, or remove the user",
                            u.name
                        )));
                    }
                    let salt = random_salt()?;
                    let salted = gen_salted_password(&password, &salt, SCRAM_ITERATIONS);
                    (salt, salted)
                }
                (None, Some(hash)) => parse_hash(hash).map_err(|m| {
                    PersonaError::Usage(format!("user '{}': password_hash {m}", u.name))
                })?,
                _ => {
                    return Err(PersonaError::Usage(format!(
                        "user '{}' needs exactly one of password_env and password_hash",
                        u.name
                    )));
                }
            };
            if map.insert(u.name.clone(), entry).is_some() {
                return Err(PersonaError::Usage(format!(
                    "user '{}' is defined twice",
                    u.name
                )));
            }
        }
        Ok(Users(map))
    }
}

#[async_trait]
impl AuthSource for Users {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        let user = login.user().unwrap_or("");
        match self.0.get(user) {
            Some((salt, salted)) => Ok(Password::new(Some(salt.clone()), salted.clone())),
            // As PostgreSQL answers: the same words for a missing user as for a wrong
            // password, so the server does not tell which users exist.
            None => Err(PgWireError::UserError(Box::new(ErrorInfo::new(
                "FATAL".into(),
                "28P01".into(),
                format!("password authentication failed for user \"{user}\""),
            )))),
        }
    }
}

fn random_salt() -> Result<Vec<u8>> {
    use std::io::Read;
    let mut salt = vec![0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut salt))
        .map_err(|e| PersonaError::io("/dev/urandom", &e))?;
    Ok(salt)
}

/// `SCRAM-SHA-256$4096:<salt>$<salted password>` → (salt, salted password).
fn parse_hash(text: &str) -> std::result::Result<(Vec<u8>, Vec<u8>), String> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let rest = text
        .strip_prefix("SCRAM-SHA-256$")
        .ok_or("must start with SCRAM-SHA-256$ (make one with `persona hash-password`)")?;
    let (params, salted) = rest.split_once('$').ok_or("has no salted password")?;
    let (iterations, salt) = params.split_once(':').ok_or("has no salt")?;
    if iterations != SCRAM_ITERATIONS.to_string() {
        return Err(format!(
            "must use {SCRAM_ITERATIONS} iterations, has {iterations}"
        ));
    }
    let salt = b64
        .decode(salt)
        .map_err(|_| "has a salt that is not base64")?;
    let salted = b64
        .decode(salted)
        .map_err(|_| "has a salted password that is not base64")?;
    if salted.len() != 32 {
        return Err("has a salted password that is not 32 bytes".into());
    }
    Ok((salt, salted))
}

/// The `password_hash` of `password`, with a fresh salt.
pub fn hash_password(password: &str) -> Result<String> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let salt = random_salt()?;
    let salted = gen_salted_password(password, &salt, SCRAM_ITERATIONS);
    Ok(format!(
        "SCRAM-SHA-256${SCRAM_ITERATIONS}:{}${}",
        b64.encode(&salt),
        b64.encode(&salted)
    ))
}

/// Start-up without a password (`--no-auth`), still registering connections for cancel.
struct OpenStartup {
    connections: Arc<ConnectionManager>,
}

impl NoopStartupHandler for OpenStartup {
    fn connection_manager(&self) -> Option<Arc<ConnectionManager>> {
        Some(self.connections.clone())
    }
}

/// The start-up handler of one connection: SCRAM, or open.
enum Startup {
    Scram(SASLAuthStartupHandler<DefaultServerParameterProvider>),
    Open(OpenStartup),
}

#[async_trait]
impl StartupHandler for Startup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match self {
            Startup::Scram(h) => h.on_startup(client, message).await,
            Startup::Open(h) => h.on_startup(client, message).await,
        }
    }
}

/// persona's handlers: datafusion-postgres's query service behind SCRAM or open start-up.
struct Handlers {
    service: Arc<Service>,
    users: Option<Arc<Users>>,
    connections: Arc<ConnectionManager>,
}

/// The statement type of datafusion-postgres's extended protocol.
type DfStatement = (String, Option<(Statement, LogicalPlan)>);

/// The query side: each user's datafusion-postgres service (their own catalogue when they
/// have grants), and statement deadlines. Results are gathered inside the handler, where
/// pgwire races the query with the client's cancel request, so a deadline or a cancel stops
/// the whole execution, not only its planning.
struct Service {
    all: Arc<DfSessionService>,
    by_user: HashMap<String, Arc<DfSessionService>>,
    parser: Arc<UserParser>,
    timeout: Option<Duration>,
    /// The server's memory pool, which gathered rows are charged to.
    pool: Arc<dyn MemoryPool>,
}

impl Service {
    fn for_client<C: ClientInfo + ?Sized>(&self, client: &C) -> &Arc<DfSessionService> {
        client
            .metadata()
            .get(METADATA_USER)
            .and_then(|u| self.by_user.get(u))
            .unwrap_or(&self.all)
    }

    /// The server's limit, or the client's own `SET statement_timeout` when shorter.
    fn deadline<C: ClientInfo + ?Sized>(&self, client: &C) -> Option<Duration> {
        // The key datafusion-postgres's SET statement_timeout stores (its `client` module,
        // which holds the constant, is private).
        let own = client
            .metadata()
            .get("statement_timeout_ms")
            .and_then(|ms| ms.parse::<u64>().ok())
            .map(Duration::from_millis);
        match (self.timeout, own) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// Runs `work` (planning, execution and gathering every row) within `deadline`.
///
/// A panic while planning or gathering (the engine's own tasks already turn theirs into
/// errors) fails the statement with XX000; the connection and every other one go on.
async fn within<T>(
    deadline: Option<Duration>,
    work: impl Future<Output = PgWireResult<T>>,
) -> PgWireResult<T> {
    use futures::FutureExt;
    match std::panic::AssertUnwindSafe(within_deadline(deadline, work))
        .catch_unwind()
        .await
    {
        Ok(result) => result,
        Err(panic) => {
            let why = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".into());
            Err(pg_error(
                "XX000",
                format!("internal error: the statement panicked ({why}); please report it"),
            ))
        }
    }
}

/// `work` within `deadline`, or 57014 as PostgreSQL's statement_timeout answers.
async fn within_deadline<T>(
    deadline: Option<Duration>,
    work: impl Future<Output = PgWireResult<T>>,
) -> PgWireResult<T> {
    match deadline {
        Some(d) => tokio::time::timeout(d, work)
            .await
            .map_err(|_| pg_error("57014", "canceling statement due to statement timeout"))?,
        None => work.await,
    }
}

/// A response with its rows gathered: the rows are computed here, not while being sent. The
/// gathered rows are charged to the memory pool, as the engine's own buffers are: a cross
/// join's rows (attack 8 of the serve security issue) grew the process to 5.1 GB under a
/// 512 MB limit and killed it. Refused more, or over a quarter of the limit, the query fails
/// alone with 53200.
async fn gathered(response: Response, pool: &Arc<dyn MemoryPool>) -> PgWireResult<Response> {
    use futures::StreamExt;
    match response {
        Response::Query(q) => {
            let tag = q.command_tag.clone();
            let schema = q.row_schema.clone();
            let reservation = MemoryConsumer::new("persona serve result rows").register(pool);
            // One result may take a quarter of a bounded pool, so one client's huge result
            // leaves the others room to run.
            let share = match pool.memory_limit() {
                datafusion::execution::memory_pool::MemoryLimit::Finite(n) => n / 4,
                _ => usize::MAX,
            };
            let mut rows = Vec::new();
            let mut unreserved = 0;
            let mut data_rows = q.data_rows;
            while let Some(row) = data_rows.next().await {
                if let Ok(row) = &row {
                    unreserved += row.data.capacity() + size_of::<PgWireResult<DataRow>>();
                }
                if unreserved >= 1 << 16 {
                    if reservation.size() + unreserved > share {
                        return Err(pg_error(
                            "53200",
                            format!(
                                "Resources exhausted: the query's result is over {} MB, a quarter of the server's memory limit (add a LIMIT, or aggregate)",
                                share >> 20
                            ),
                        ));
                    }
                    reservation.try_grow(unreserved).map_err(|e| {
                        pg_error("53200", format!(
                                "Resources exhausted: the query's result does not fit in its share of the server's memory limit (add a LIMIT, or aggregate): {}",
                                crate::error::clean_message(&e)
                            ))
                    })?;
                    unreserved = 0;
                }
                rows.push(row);
            }
            // The reservation lives as long as the rows: until they are sent.
            let rows = futures::stream::iter(rows).map(move |row| {
                let _ = &reservation;
                row
            });
            let mut out = pgwire::api::results::QueryResponse::new(schema, rows);
            out.command_tag = tag;
            Ok(Response::Query(out))
        }
        other => Ok(other),
    }
}

#[async_trait]
impl pgwire::api::query::SimpleQueryHandler for Service {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo
            + pgwire::api::ClientPortalStore
            + Sink<PgWireBackendMessage>
            + Unpin
            + Send
            + Sync,
        C::PortalStore: pgwire::api::store::PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        too_long(query)?;
        let service = self.for_client(client).clone();
        let deadline = self.deadline(client);
        within(deadline, async {
            let responses =
                pgwire::api::query::SimpleQueryHandler::do_query(service.as_ref(), client, query)
                    .await?;
            let mut out = Vec::with_capacity(responses.len());
            for r in responses {
                out.push(gathered(r, &self.pool).await?);
            }
            Ok(out)
        })
        .await
    }
}

#[async_trait]
impl pgwire::api::query::ExtendedQueryHandler for Service {
    type Statement = DfStatement;
    type QueryParser = UserParser;

    fn query_parser(&self) -> Arc<Self::QueryParser> {
        self.parser.clone()
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &pgwire::api::portal::Portal<Self::Statement>,
        max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo
            + pgwire::api::ClientPortalStore
            + Sink<PgWireBackendMessage>
            + Unpin
            + Send
            + Sync,
        C::PortalStore: pgwire::api::store::PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let service = self.for_client(client).clone();
        let deadline = self.deadline(client);
        within(deadline, async {
            let r = pgwire::api::query::ExtendedQueryHandler::do_query(
                service.as_ref(),
                client,
                portal,
                max_rows,
            )
            .await?;
            gathered(r, &self.pool).await
        })
        .await
    }
}

/// Parses extended-protocol statements against the connecting user's catalogue.
struct UserParser {
    all: Arc<datafusion_postgres::Parser>,
    by_user: HashMap<String, Arc<datafusion_postgres::Parser>>,
}

#[async_trait]
impl pgwire::api::stmt::QueryParser for UserParser {
    type Statement = DfStatement;

    async fn parse_sql<C>(
        &self,
        client: &C,
        sql: &str,
        types: &[Option<pgwire::api::Type>],
    ) -> PgWireResult<Option<Self::Statement>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        too_long(sql)?;
        let parser = client
            .metadata()
            .get(METADATA_USER)
            .and_then(|u| self.by_user.get(u))
            .unwrap_or(&self.all);
        parser.parse_sql(client, sql, types).await
    }

    fn get_parameter_types(&self, stmt: &Self::Statement) -> PgWireResult<Vec<pgwire::api::Type>> {
        // Both read the statement's own plan, whoever planned it.
        self.all.get_parameter_types(stmt)
    }

    fn get_result_schema(
        &self,
        stmt: &Self::Statement,
        column_format: Option<&pgwire::api::portal::Format>,
    ) -> PgWireResult<Vec<pgwire::api::results::FieldInfo>> {
        self.all.get_result_schema(stmt, column_format)
    }
}

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl pgwire::api::query::SimpleQueryHandler> {
        self.service.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl pgwire::api::query::ExtendedQueryHandler> {
        self.service.clone()
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        // A handler per connection: SASL keeps the exchange's state in it.
        Arc::new(match &self.users {
            Some(users) => Startup::Scram(
                SASLAuthStartupHandler::new(Arc::new(DefaultServerParameterProvider::default()))
                    .with_scram(ScramAuth::new(users.clone()))
                    .with_connection_manager(self.connections.clone()),
            ),
            None => Startup::Open(OpenStartup {
                connections: self.connections.clone(),
            }),
        })
    }

    fn cancel_handler(&self) -> Arc<impl pgwire::api::cancel::CancelHandler> {
        Arc::new(DefaultCancelHandler::new(self.connections.clone()))
    }

    fn error_handler(&self) -> Arc<impl ErrorHandler> {
        Arc::new(Errors)
    }
}

/// Words errors as PostgreSQL does where pgwire's differ.
struct Errors;

impl ErrorHandler for Errors {
    fn on_error<C>(&self, client: &C, error: &mut PgWireError)
    where
        C: ClientInfo,
    {
        // An object store's error carries the whole HTTP exchange; the client gets the
        // service's code in one sentence (58030: io_error).
        let text = error.to_string();
        if text.contains("Object Store error: ") || text.contains("Error performing ") {
            *error = pg_error(
                "58030",
                format!(
                    "object store: {}",
                    crate::storage::object_store_message(&text)
                ),
            );
            return;
        }
        // The plan-level read-only guard speaks through a plan error.
        if text.contains("on a read-only server") && !matches!(error, PgWireError::UserError(_)) {
            let message = text
                .find("cannot execute")
                .map_or(text.as_str(), |at| &text[at..])
                .to_string();
            *error = read_only_error(message);
            return;
        }
        // A query over its share of the memory pool fails alone (53200: out_of_memory).
        if text.contains("Resources exhausted") {
            let message = text
                .find("Resources exhausted")
                .map_or(text.as_str(), |at| &text[at..])
                .to_string();
            *error = pg_error("53200", message);
            return;
        }
        if let PgWireError::InvalidPassword(_) = error {
            // pgwire names no user here; PostgreSQL's clients show this exact sentence.
            let user = client
                .metadata()
                .get(METADATA_USER)
                .cloned()
                .unwrap_or_default();
            *error = PgWireError::UserError(Box::new(ErrorInfo::new(
                "FATAL".into(),
                "28P01".into(),
                format!("password authentication failed for user \"{user}\""),
            )));
        }
    }
}

/// Refuses what a read-only server must not run (unless writes are allowed), and answers
/// savepoints, which drivers (SQLAlchemy) wrap their work in and the engine has no use for.
#[derive(Debug)]
struct Guard {
    allow_write: bool,
}

impl Guard {
    fn refusal(&self, statement: &Statement) -> Option<PgWireError> {
        if self.allow_write {
            return None;
        }
        refusal(statement).map(read_only_error)
    }
}

/// A `CREATE EXTERNAL TABLE` as DataFusion spells it. The protocol's PostgreSQL parser takes
/// its `OPTIONS` only as `'key' = 'value'` and DataFusion's only as `'key' 'value'`, so the
/// statement is written out again without the `=` of its options.
fn external_table_in_datafusion_syntax(statement: &Statement) -> Option<String> {
    let Statement::CreateTable(table) = statement else {
        return None;
    };
    if !table.external {
        return None;
    }
    let sql = statement.to_string();
    let Some(start) = sql
        .rfind("OPTIONS")
        .and_then(|at| sql[at..].find('(').map(|open| at + open + 1))
    else {
        return Some(sql);
    };
    let mut out = sql[..start].to_string();
    let mut quoted = false;
    for c in sql[start..].chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                out.push(c);
            }
            '=' if !quoted => {}
            _ => out.push(c),
        }
    }
    Some(out)
}

/// The reply to a savepoint statement, or `None` for other statements.
fn savepoint_reply(statement: &Statement) -> Option<PgWireResult<Response>> {
    use pgwire::api::results::Tag;
    let tag = match statement {
        Statement::Savepoint { .. } => "SAVEPOINT",
        Statement::ReleaseSavepoint { .. } => "RELEASE",
        Statement::Rollback {
            savepoint: Some(_), ..
        } => "ROLLBACK",
        _ => return None,
    };
    Some(Ok(Response::Execution(Tag::new(tag))))
}

/// PostgreSQL's settings a client may change for its own connection (kept by
/// datafusion-postgres in the connection), as drivers and BI tools set them on connect.
const CONNECTION_SETTINGS: &[&str] = &[
    "statement_timeout",
    "timezone",
    "time zone",
    "datestyle",
    "bytea_output",
    "intervalstyle",
    "application_name",
    "extra_float_digits",
    "search_path",
    "client_encoding",
    "client_min_messages",
    "standard_conforming_strings",
];

/// Why `statement` may not run on a read-only server, or `None` when it may.
fn refusal(statement: &Statement) -> Option<String> {
    let allowed = match statement {
        // SELECT … INTO creates a table (attack 3 of the serve security issue).
        Statement::Query(query) if selects_into(&query.body) => {
            return Some(
                "cannot execute SELECT INTO on a read-only server: it creates a table (start persona serve with --allow-write)".into(),
            );
        }
        // EXPLAIN ANALYZE runs its statement: COPY … TO wrote files and INSERT added Parquet
        // files to a source's folder through it (attacks 1 and 2).
        // `EXPLAIN (ANALYZE) …`, PostgreSQL's option list, runs it too: the flag alone is not
        // enough (any ANALYZE option counts, whatever its value).
        Statement::Explain {
            statement,
            analyze,
            options,
            ..
        } if *analyze
            || options
                .iter()
                .flatten()
                .any(|o| o.name.value.eq_ignore_ascii_case("analyze")) =>
        {
            return refusal(statement).map(|m| format!("EXPLAIN ANALYZE runs its statement: {m}"));
        }
        Statement::Query(_)
        | Statement::Explain { .. }
        | Statement::ExplainTable { .. }
        | Statement::ShowVariable { .. }
        | Statement::ShowVariables { .. }
        | Statement::ShowTables { .. }
        | Statement::ShowColumns { .. }
        | Statement::ShowFunctions { .. }
        | Statement::ShowCreate { .. }
        | Statement::StartTransaction { .. }
        | Statement::Commit { .. }
        | Statement::Rollback { .. }
        | Statement::Declare { .. }
        | Statement::Fetch { .. }
        | Statement::Close { .. }
        | Statement::Discard { .. }
        | Statement::Savepoint { .. }
        | Statement::ReleaseSavepoint { .. } => true,
        Statement::Set(set) => {
            return match set {
                Set::SingleAssignment { variable, .. } => {
                    let name = variable.to_string().to_lowercase();
                    (!CONNECTION_SETTINGS.contains(&name.as_str())).then(|| {
                        format!(
                            "cannot SET {name} on a read-only server: engine settings apply to every client (start persona serve with --allow-write)"
                        )
                    })
                }
                // SET TIME ZONE, SET NAMES and the like only touch the connection.
                _ => None,
            };
        }
        _ => false,
    };
    if allowed {
        return None;
    }
    let text = statement.to_string();
    let verb: Vec<&str> = text.split_whitespace().take(2).collect();
    let verb = match verb.as_slice() {
        [a, b] if matches!(a.to_uppercase().as_str(), "CREATE" | "DROP" | "ALTER") => {
            format!("{} {}", a.to_uppercase(), b.to_uppercase())
        }
        [a, ..] => a.to_uppercase(),
        [] => "this statement".into(),
    };
    Some(format!(
        "cannot execute {verb} on a read-only server (start persona serve with --allow-write)"
    ))
}

/// Whether a query body has a `SELECT … INTO`, in any branch of a set operation.
fn selects_into(body: &SetExpr) -> bool {
    match body {
        SetExpr::Select(select) => select.into.is_some(),
        SetExpr::Query(query) => selects_into(&query.body),
        SetExpr::SetOperation { left, right, .. } => selects_into(left) || selects_into(right),
        _ => false,
    }
}

/// The time zone a `SET timezone = …` or `SET TIME ZONE …` asks for (`None`: back to UTC).
/// Kept in the connection, never in the shared session: DataFusion's own SET changed
/// `datafusion.execution.time_zone` for every client (attack 4 of the serve security issue).
fn time_zone_setting(statement: &Statement) -> Option<Option<String>> {
    let value = match statement {
        Statement::Set(Set::SingleAssignment {
            variable, values, ..
        }) if matches!(
            variable.to_string().to_lowercase().as_str(),
            "timezone" | "time zone"
        ) =>
        {
            values.first()?.to_string()
        }
        Statement::Set(Set::SetTimeZone { value, .. }) => value.to_string(),
        _ => return None,
    };
    let value = value.trim_matches(|c| c == '\'' || c == '"');
    Some(
        (!matches!(value.to_uppercase().as_str(), "DEFAULT" | "LOCAL" | "UTC"))
            .then(|| value.to_string()),
    )
}

/// Answers a time zone setting for this connection: checked, kept in the connection's
/// metadata (where timestamps are formatted from), reported as PostgreSQL reports it.
async fn set_time_zone(
    client: &mut dyn HookClient,
    zone: Option<String>,
) -> PgWireResult<Response> {
    use std::str::FromStr;
    if let Some(zone) = &zone
        && datafusion::arrow::array::timezone::Tz::from_str(zone).is_err()
    {
        return Err(pg_error(
            "22023",
            format!("invalid value for parameter \"TimeZone\": \"{zone}\""),
        ));
    }
    let shown = zone.clone().unwrap_or_else(|| "UTC".into());
    match zone {
        Some(zone) => client.metadata_mut().insert("timezone".into(), zone),
        None => client.metadata_mut().remove("timezone"),
    };
    client
        .send_message(PgWireBackendMessage::ParameterStatus(
            pgwire::messages::startup::ParameterStatus::new("TimeZone".into(), shown),
        ))
        .await?;
    Ok(Response::Execution(pgwire::api::results::Tag::new("SET")))
}

/// The deepest nesting of expressions a statement may have. DataFusion's planning is
/// quadratic in it: `SELECT 1+1+…+1` with 20,000 terms kept a worker in type coercion for
/// more than 7 minutes, 3,000 terms for 19 s (attack 9 of the serve security issue).
pub const MAX_EXPRESSION_DEPTH: usize = 500;

/// The longest statement text the server plans, in bytes.
pub const MAX_STATEMENT_BYTES: usize = 1 << 20;

/// Refuses a statement text over [`MAX_STATEMENT_BYTES`] before it is parsed.
fn too_long(sql: &str) -> PgWireResult<()> {
    if sql.len() <= MAX_STATEMENT_BYTES {
        return Ok(());
    }
    Err(pg_error(
        "54000",
        format!(
            "statement too long: {} bytes, the server plans at most {MAX_STATEMENT_BYTES}",
            sql.len()
        ),
    ))
}

/// Why `statement` is too complex to plan (54001: statement_too_complex), if it is.
fn too_complex(statement: &Statement) -> Option<PgWireError> {
    use datafusion::sql::sqlparser::ast::{Expr, Visit, Visitor};
    use std::ops::ControlFlow;
    /// Expression depth, counted on the way down and up the visit.
    struct Depth {
        now: usize,
        deepest: usize,
    }
    impl Visitor for Depth {
        type Break = ();
        fn pre_visit_expr(&mut self, _: &Expr) -> ControlFlow<()> {
            self.now += 1;
            self.deepest = self.deepest.max(self.now);
            if self.deepest > MAX_EXPRESSION_DEPTH {
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        }
        fn post_visit_expr(&mut self, _: &Expr) -> ControlFlow<()> {
            self.now -= 1;
            ControlFlow::Continue(())
        }
    }
    let mut depth = Depth { now: 0, deepest: 0 };
    let deep = statement.visit(&mut depth).is_break();
    deep.then(|| {
        pg_error(
            "54001",
            format!(
                "statement too complex: expressions nest more than {MAX_EXPRESSION_DEPTH} deep"
            ),
        )
    })
}

/// What in `plan` (or in any of its subqueries) writes files or changes the catalogue.
fn plan_writes(plan: &LogicalPlan) -> Option<&'static str> {
    use datafusion::common::tree_node::TreeNodeRecursion;
    let mut found = None;
    let _ = plan.apply_with_subqueries(|node| {
        found = match node {
            LogicalPlan::Dml(_) => Some("a statement that writes"),
            LogicalPlan::Copy(_) => Some("COPY"),
            LogicalPlan::Ddl(_) => Some("a statement that changes the catalogue"),
            _ => None,
        };
        Ok(if found.is_some() {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    });
    found
}

/// The read-only guard on the plan, whatever the protocol or the statement's spelling: a plan
/// that inserts, copies to a file or changes the catalogue fails in analysis, before anything
/// runs. The statement guard ([`refusal`]) answers first with a clearer sentence; this one
/// holds where a statement reads as a query and plans as a write.
#[derive(Debug)]
struct ReadOnlyPlans;

impl datafusion::optimizer::AnalyzerRule for ReadOnlyPlans {
    fn analyze(
        &self,
        plan: LogicalPlan,
        _config: &datafusion::common::config::ConfigOptions,
    ) -> datafusion::common::Result<LogicalPlan> {
        match plan_writes(&plan) {
            Some(what) => datafusion::common::plan_err!(
                "cannot execute {what} on a read-only server (start persona serve with --allow-write)"
            ),
            None => Ok(plan),
        }
    }

    fn name(&self) -> &str {
        "persona_read_only"
    }
}

/// An ERROR with a PostgreSQL SQLSTATE, as clients show it.
fn pg_error(code: &str, message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".into(),
        code.into(),
        message.into(),
    )))
}

fn read_only_error(message: String) -> PgWireError {
    // 25006: read_only_sql_transaction, what PostgreSQL answers in a read-only transaction.
    pg_error("25006", message)
}

#[async_trait]
impl QueryHook for Guard {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        if let Some(reply) = savepoint_reply(statement) {
            return Some(reply);
        }
        if let Some(refused) = too_complex(statement).or_else(|| self.refusal(statement)) {
            return Some(Err(refused));
        }
        if let Some(zone) = time_zone_setting(statement) {
            return Some(set_time_zone(client, zone).await);
        }
        if let Some(sql) = external_table_in_datafusion_syntax(statement) {
            // Planned as the shell plans it, so an s3:// location gets its bucket's store.
            return Some(match crate::exec::plan(ctx, &sql).await {
                Ok(_) => Ok(Response::Execution(pgwire::api::results::Tag::new(
                    "CREATE TABLE",
                ))),
                Err(e) => Err(PgWireError::ApiError(Box::new(e))),
            });
        }
        let rewritten = for_datafusion(statement)?;
        let run = async {
            let df = ctx
                .sql(&rewritten.to_string())
                .await
                .map_err(|e| PgWireError::ApiError(Box::new(e)))?;
            let options =
                pgwire::types::format::FormatOptions::from_client_metadata(client.metadata());
            let response = datafusion_postgres::arrow_pg::datatypes::df::encode_dataframe(
                df,
                &pgwire::api::portal::Format::UnifiedText,
                Some(Arc::new(options)),
            )
            .await?;
            Ok(Response::Query(response))
        };
        Some(run.await)
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        ctx: &SessionContext,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        if let Some(refused) = too_complex(statement) {
            return Some(Err(refused));
        }
        if let Some(rewritten) = for_datafusion(statement) {
            let plan = ctx
                .state()
                .statement_to_plan(datafusion::sql::parser::Statement::Statement(Box::new(
                    rewritten,
                )))
                .await
                .map_err(|e| PgWireError::ApiError(Box::new(e)));
            return Some(plan);
        }
        if savepoint_reply(statement).is_some() || time_zone_setting(statement).is_some() {
            // Planned as nothing; handle_extended_query answers it.
            return Some(Ok(LogicalPlan::EmptyRelation(
                datafusion::logical_expr::EmptyRelation {
                    produce_one_row: false,
                    schema: Arc::new(datafusion::common::DFSchema::empty()),
                },
            )));
        }
        self.refusal(statement).map(Err)
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        _plan: &LogicalPlan,
        _params: &ParamValues,
        _ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        if let Some(reply) = savepoint_reply(statement) {
            return Some(reply);
        }
        if let Some(zone) = time_zone_setting(statement) {
            return Some(set_time_zone(client, zone).await);
        }
        self.refusal(statement).map(Err)
    }
}

/// `version()` as PostgreSQL words it: drivers parse the version from it (SQLAlchemy fails on
/// DataFusion's own "Apache DataFusion 55"), so it leads with the PostgreSQL version whose
/// catalogue and protocol the server follows.
fn version_udf() -> datafusion::logical_expr::ScalarUDF {
    use datafusion::arrow::datatypes::DataType;
    use datafusion::common::ScalarValue;
    use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
    let text = format!(
        "PostgreSQL 16.0 on x86_64-pc-linux-gnu (persona {}, Apache DataFusion {})",
        env!("CARGO_PKG_VERSION"),
        datafusion::DATAFUSION_VERSION
    );
    create_udf(
        "version",
        vec![],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(move |_| Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(text.clone()))))),
    )
}

/// `pg_get_serial_sequence(table, column)`: the sequence behind a serial column, which no
/// column here has, so NULL as PostgreSQL answers for other columns (SQLAlchemy's
/// `get_columns` asks it for every column).
fn pg_get_serial_sequence_udf() -> datafusion::logical_expr::ScalarUDF {
    use datafusion::arrow::datatypes::DataType;
    use datafusion::common::ScalarValue;
    use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
    create_udf(
        "pg_get_serial_sequence",
        vec![DataType::Utf8, DataType::Utf8],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(|_args: &[ColumnarValue]| Ok(ColumnarValue::Scalar(ScalarValue::Utf8(None)))),
    )
}

/// `json_build_object(key, value, …)`: PostgreSQL's, as JSON text in PostgreSQL's spelling
/// (SQLAlchemy's `get_columns` builds identity-column details with it).
#[derive(Debug, PartialEq, Eq, Hash)]
struct JsonBuildObject {
    signature: datafusion::logical_expr::Signature,
}

impl datafusion::logical_expr::ScalarUDFImpl for JsonBuildObject {
    fn name(&self) -> &str {
        "json_build_object"
    }

    fn signature(&self) -> &datafusion::logical_expr::Signature {
        &self.signature
    }

    fn return_type(
        &self,
        _args: &[datafusion::arrow::datatypes::DataType],
    ) -> datafusion::common::Result<datafusion::arrow::datatypes::DataType> {
        Ok(datafusion::arrow::datatypes::DataType::Utf8)
    }

    fn invoke_with_args(
        &self,
        args: datafusion::logical_expr::ScalarFunctionArgs,
    ) -> datafusion::common::Result<datafusion::logical_expr::ColumnarValue> {
        use datafusion::arrow::array::StringBuilder;
        use datafusion::common::{ScalarValue, exec_err};
        if !args.args.len().is_multiple_of(2) {
            return exec_err!("json_build_object takes keys and values in pairs");
        }
        let arrays = datafusion::logical_expr::ColumnarValue::values_to_arrays(&args.args)?;
        let mut out = StringBuilder::new();
        for row in 0..args.number_rows {
            // In argument order and spaced as PostgreSQL writes it: {"a" : 1, "b" : 2}.
            let mut members = Vec::with_capacity(arrays.len() / 2);
            for pair in arrays.chunks(2) {
                let key = match ScalarValue::try_from_array(&pair[0], row)? {
                    ScalarValue::Utf8(Some(k))
                    | ScalarValue::LargeUtf8(Some(k))
                    | ScalarValue::Utf8View(Some(k)) => k,
                    other => other.to_string(),
                };
                let value = match ScalarValue::try_from_array(&pair[1], row)? {
                    v if v.is_null() => serde_json::Value::Null,
                    ScalarValue::Boolean(Some(b)) => b.into(),
                    ScalarValue::Utf8(Some(t))
                    | ScalarValue::LargeUtf8(Some(t))
                    | ScalarValue::Utf8View(Some(t)) => t.into(),
                    v if v.data_type().is_numeric() => serde_json::from_str(&v.to_string())
                        .unwrap_or_else(|_| v.to_string().into()),
                    v => v.to_string().into(),
                };
                members.push(format!("{} : {value}", serde_json::Value::from(key)));
            }
            out.append_value(format!("{{{}}}", members.join(", ")));
        }
        Ok(datafusion::logical_expr::ColumnarValue::Array(Arc::new(
            out.finish(),
        )))
    }
}

/// `pg_collation_is_visible(oid)`: every collation is on the search path here (one schema).
fn pg_collation_is_visible_udf() -> datafusion::logical_expr::ScalarUDF {
    use datafusion::arrow::datatypes::DataType;
    use datafusion::common::ScalarValue;
    use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
    create_udf(
        "pg_collation_is_visible",
        vec![DataType::Int64],
        DataType::Boolean,
        Volatility::Immutable,
        Arc::new(|_args: &[ColumnarValue]| {
            Ok(ColumnarValue::Scalar(ScalarValue::Boolean(Some(true))))
        }),
    )
}

/// `to_regtype(name)`: the OID of a built-in type name, NULL for any other (psycopg asks it
/// for the types it adapts, such as `hstore`, which the server does not have).
fn to_regtype_udf() -> datafusion::logical_expr::ScalarUDF {
    use datafusion::arrow::array::{Array, Int32Array};
    use datafusion::arrow::compute::cast;
    use datafusion::arrow::datatypes::DataType;
    use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
    const TYPES: &[(&str, i32)] = &[
        ("bool", 16),
        ("boolean", 16),
        ("bytea", 17),
        ("int8", 20),
        ("bigint", 20),
        ("int2", 21),
        ("smallint", 21),
        ("int4", 23),
        ("integer", 23),
        ("text", 25),
        ("json", 114),
        ("float4", 700),
        ("real", 700),
        ("float8", 701),
        ("double precision", 701),
        ("varchar", 1043),
        ("character varying", 1043),
        ("date", 1082),
        ("time", 1083),
        ("timestamp", 1114),
        ("timestamptz", 1184),
        ("interval", 1186),
        ("numeric", 1700),
        ("uuid", 2950),
        ("jsonb", 3802),
    ];
    create_udf(
        "to_regtype",
        vec![DataType::Utf8],
        DataType::Int32,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let names = ColumnarValue::values_to_arrays(args)?;
            let names = cast(&names[0], &DataType::Utf8)?;
            let names = names
                .as_any()
                .downcast_ref::<datafusion::arrow::array::StringArray>();
            let out: Int32Array = (0..names.map_or(0, |n| n.len()))
                .map(|i| {
                    let n = names?;
                    (!n.is_null(i))
                        .then(|| n.value(i).trim().to_ascii_lowercase())
                        .and_then(|name| {
                            TYPES.iter().find(|(t, _)| *t == name).map(|(_, oid)| *oid)
                        })
                })
                .collect();
            Ok(ColumnarValue::Array(Arc::new(out)))
        }),
    )
}

/// Checks the options against the project's users before anything listens.
pub fn check_options(opts: &ServeOptions, users: &[UserConfig]) -> Result<SocketAddr> {
    let addr: SocketAddr = opts.listen.parse().map_err(|_| {
        PersonaError::Usage(format!(
            "--listen must be an address like 127.0.0.1:5433, got '{}'",
            opts.listen
        ))
    })?;
    if opts.no_auth && !addr.ip().is_loopback() {
        return Err(PersonaError::Usage(format!(
            "--no-auth serves anyone who can reach {addr}; it is allowed on a loopback address only (127.0.0.1 or ::1)"
        )));
    }
    if !opts.no_auth && users.is_empty() {
        return Err(PersonaError::Usage(
            "no users to authenticate: add [[user]] tables (name and password_env or password_hash) to persona.toml, or use --no-auth on a loopback address".into(),
        ));
    }
    Ok(addr)
}

/// What `pg_catalog.pg_roles` lists: no roles. persona's users are not PostgreSQL roles (no
/// privileges to show), and the provider datafusion-pg-catalog 0.19 implements for `Arc<T>`
/// calls itself: passing `Arc<AuthManager>` overflowed the stack and aborted the server on
/// `SELECT * FROM pg_roles` (attack 7 of the serve security issue).
#[derive(Debug, Clone)]
struct NoRoles;

#[async_trait]
impl datafusion_postgres::datafusion_pg_catalog::pg_catalog::context::PgCatalogContextProvider
    for NoRoles
{
}

/// Makes `ctx` speak PostgreSQL's catalogue and the functions drivers call on connect.
fn prepare(ctx: &SessionContext) -> Result<()> {
    datafusion_postgres::datafusion_pg_catalog::setup_pg_catalog(ctx, "datafusion", NoRoles)
        .map_err(|e| PersonaError::DataFusion(*e))?;
    ctx.register_udf(version_udf());
    ctx.register_udf(to_regtype_udf());
    ctx.register_udf(pg_get_serial_sequence_udf());
    ctx.register_udf(pg_collation_is_visible_udf());
    ctx.register_udf(datafusion::logical_expr::ScalarUDF::new_from_impl(
        JsonBuildObject {
            signature: datafusion::logical_expr::Signature::variadic_any(
                datafusion::logical_expr::Volatility::Immutable,
            ),
        },
    ));
    Ok(())
}

/// A context holding only `grants` of `main`'s tables and views, with all of its functions
/// and settings. A granted view keeps working: its plan already holds the tables it reads.
async fn granted_context(
    main: &SessionContext,
    user: &str,
    grants: &[String],
) -> Result<SessionContext> {
    use datafusion::catalog::{
        CatalogProvider, CatalogProviderList, MemoryCatalogProvider, MemoryCatalogProviderList,
        MemorySchemaProvider,
    };
    // The same state (functions, settings, memory) with a catalogue of its own.
    let schema = Arc::new(MemorySchemaProvider::new());
    let catalog = Arc::new(MemoryCatalogProvider::new());
    catalog.register_schema("public", schema)?;
    let catalogs = Arc::new(MemoryCatalogProviderList::new());
    catalogs.register_catalog("datafusion".into(), catalog);
    let state = datafusion::execution::SessionStateBuilder::new_from_existing(main.state())
        .with_catalog_list(catalogs)
        .build();
    let ctx = SessionContext::new_with_state(state);
    for name in grants {
        let provider = main.table_provider(name.as_str()).await.map_err(|_| {
            PersonaError::Usage(format!(
                "user '{user}' is granted '{name}', which is not a table or view of the project"
            ))
        })?;
        ctx.register_table(name.as_str(), provider)?;
    }
    prepare(&ctx)?;
    Ok(ctx)
}

/// A duration such as `500ms`, `30s`, `5min` or `1h`.
pub fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("'{text}' is not a duration like 500ms, 30s, 5min or 1h"))?;
    let ms = match unit.trim() {
        "ms" => n,
        "s" | "" => n * 1000,
        "min" | "m" => n * 60_000,
        "h" => n * 3_600_000,
        _ => {
            return Err(format!(
                "'{text}' is not a duration like 500ms, 30s, 5min or 1h"
            ));
        }
    };
    Ok(Duration::from_millis(ms))
}

/// Reads a PEM file and checks it holds what it should, so a broken TLS setting stops the
/// server instead of serving without encryption.
fn check_pem(path: &std::path::Path, what: &str, marker: &str) -> Result<()> {
    let text = std::fs::read_to_string(path).map_err(|e| PersonaError::io(path, &e))?;
    if !text.contains(marker) {
        return Err(PersonaError::Io {
            path: path.to_path_buf(),
            message: format!("is not a PEM {what} (no '{marker}' line)"),
        });
    }
    Ok(())
}

/// Serves `main` until Ctrl-C. `users` authenticate clients unless `opts.no_auth`.
pub async fn serve(main: SessionContext, opts: &ServeOptions, users: &[UserConfig]) -> Result<()> {
    let addr = check_options(opts, users)?;
    if !opts.allow_write {
        // Before the granted users' contexts copy the state, so theirs have it too.
        main.add_analyzer_rule(Arc::new(ReadOnlyPlans));
    }
    let auth = if opts.no_auth {
        None
    } else {
        Some(Arc::new(Users::load(users)?))
    };
    if let Some((cert, key)) = &opts.tls {
        check_pem(cert, "certificate", "BEGIN CERTIFICATE")?;
        check_pem(key, "PKCS#8 private key", "BEGIN PRIVATE KEY")?;
    }
    let hooks = || -> Vec<Arc<dyn QueryHook>> {
        vec![
            Arc::new(Guard {
                allow_write: opts.allow_write,
            }),
            // datafusion-postgres's own hooks (cursors, SET/SHOW of connection settings,
            // transactions), as its default service has them.
            Arc::new(datafusion_postgres::hooks::cursor::CursorStatementHook),
            Arc::new(datafusion_postgres::hooks::set_show::SetShowHook),
            Arc::new(datafusion_postgres::hooks::transactions::TransactionStatementHook),
        ]
    };
    let mut by_user = HashMap::new();
    let mut parsers = HashMap::new();
    if !opts.no_auth {
        for u in users {
            if let Some(grants) = &u.grants {
                let ctx = granted_context(&main, &u.name, grants).await?;
                let service = Arc::new(DfSessionService::new_with_hooks(Arc::new(ctx), hooks()));
                parsers.insert(
                    u.name.clone(),
                    pgwire::api::query::ExtendedQueryHandler::query_parser(service.as_ref()),
                );
                by_user.insert(u.name.clone(), service);
            }
        }
    }
    prepare(&main)?;
    let pool = Arc::clone(&main.runtime_env().memory_pool);
    let all = Arc::new(DfSessionService::new_with_hooks(Arc::new(main), hooks()));
    let service = Arc::new(Service {
        parser: Arc::new(UserParser {
            all: pgwire::api::query::ExtendedQueryHandler::query_parser(all.as_ref()),
            by_user: parsers,
        }),
        all,
        by_user,
        timeout: opts.statement_timeout,
        pool,
    });
    let handlers = Arc::new(Handlers {
        service,
        users: auth,
        connections: Arc::new(ConnectionManager::new()),
    });
    let tls = match &opts.tls {
        Some((cert, key)) => Some(tls_acceptor(cert, key)?),
        None => None,
    };
    // Bound before anything claims to listen, so an address in use is reported first.
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        PersonaError::Usage(format!(
            "cannot listen on {addr}: {}",
            crate::error::strip_os_error(&e.to_string())
        ))
    })?;
    eprintln!(
        "persona serve: listening on {addr} ({}{}, {}); Ctrl-C stops",
        if opts.no_auth {
            "no authentication"
        } else {
            "SCRAM-SHA-256"
        },
        if opts.tls.is_some() { ", TLS" } else { "" },
        if opts.allow_write {
            "read-write"
        } else {
            "read-only"
        }
    );
    tokio::select! {
        r = accept_loop(listener, handlers, tls, opts.max_connections, opts.require_tls) => {
            r.map_err(|e| PersonaError::Usage(format!("cannot serve on {addr}: {e}")))
        }
        _ = tokio::signal::ctrl_c() => {
            eprintln!("persona serve: stopped");
            Ok(())
        }
    }
}

/// The TLS acceptor of `[serve]`'s certificate and key (both checked to be PEM already).
fn tls_acceptor(cert: &std::path::Path, key: &std::path::Path) -> Result<TlsAcceptor> {
    use pgwire::tokio::tokio_rustls::rustls;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let read = |path: &std::path::Path| std::fs::read(path).map_err(|e| PersonaError::io(path, &e));
    let bad = |path: &std::path::Path, why: String| PersonaError::Io {
        path: path.to_path_buf(),
        message: why,
    };
    let certs = rustls_pemfile::certs(&mut read(cert)?.as_slice())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| bad(cert, format!("is not a PEM certificate: {e}")))?;
    let key_der = rustls_pemfile::pkcs8_private_keys(&mut read(key)?.as_slice())
        .next()
        .ok_or_else(|| bad(key, "holds no PKCS#8 private key".into()))?
        .map_err(|e| bad(key, format!("is not a PEM private key: {e}")))?;
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key_der.into())
        .map_err(|e| bad(cert, format!("does not go with the key: {e}")))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

type TlsAcceptor = pgwire::tokio::TlsAcceptor;

/// Serves connections until the listener fails. Up to `max_connections` run at once; one
/// more is told so the way PostgreSQL tells it (SQLSTATE 53300 "sorry, too many clients
/// already") rather than cut off, so the client shows a reason.
async fn accept_loop(
    listener: tokio::net::TcpListener,
    handlers: Arc<Handlers>,
    tls: Option<TlsAcceptor>,
    max_connections: usize,
    require_tls: bool,
) -> std::io::Result<()> {
    let limit = Arc::new(tokio::sync::Semaphore::new(max_connections.max(1)));
    loop {
        let (socket, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            // Out of file descriptors and the like: the next accept may work.
            Err(e) => {
                eprintln!("persona serve: cannot accept a connection: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let tls = tls.clone();
        match Arc::clone(&limit).try_acquire_owned() {
            Ok(permit) => {
                let handlers = Arc::clone(&handlers);
                tokio::spawn(async move {
                    let _permit = permit;
                    let served = async {
                        // A client that sends nothing would otherwise hold its slot for as
                        // long as it stays connected (attack 10 of the serve security issue).
                        let Ok(fault) =
                            tokio::time::timeout(STARTUP_TIMEOUT, startup_fault(&socket)).await
                        else {
                            return Ok(());
                        };
                        let mut socket = socket;
                        if let Some(fault) = fault? {
                            return send_fatal(&mut socket, "08P01", &fault).await;
                        }
                        if require_tls {
                            let plain = tokio::time::timeout(
                                STARTUP_TIMEOUT,
                                plaintext_startup(&mut socket),
                            );
                            match plain.await {
                                Ok(Ok(false)) => {}
                                Ok(Ok(true)) => {
                                    // PostgreSQL's hostssl refusal is 28000 too.
                                    let why = "this server accepts only TLS connections: connect with sslmode=require";
                                    return send_fatal(&mut socket, "28000", why).await;
                                }
                                Ok(Err(e)) => return Err(e),
                                Err(_) => return Ok(()),
                            }
                        }
                        pgwire::tokio::process_socket(socket, tls, handlers).await
                    };
                    if let Err(e) = served.await {
                        log_connection_error(peer, &e);
                    }
                });
            }
            Err(_) => {
                let handlers = Arc::clone(&handlers);
                tokio::spawn(async move {
                    // A cancel request takes no slot: it is how a client at the limit stops
                    // a query (attack 11 of the serve security issue). pgwire answers it and
                    // closes the connection.
                    let first = tokio::time::timeout(STARTUP_TIMEOUT, first_code(&socket)).await;
                    if let Ok(Ok(CANCEL_REQUEST)) = first {
                        let cancel = pgwire::tokio::process_socket(socket, None, handlers);
                        if let Ok(Err(e)) = tokio::time::timeout(STARTUP_TIMEOUT, cancel).await {
                            log_connection_error(peer, &e);
                        }
                        return;
                    }
                    let refused =
                        tokio::time::timeout(Duration::from_secs(10), refuse_too_many(socket, tls));
                    if let Ok(Err(e)) = refused.await {
                        log_connection_error(peer, &e);
                    }
                });
            }
        }
    }
}

fn log_connection_error(peer: SocketAddr, e: &std::io::Error) {
    // A client that hangs up mid-handshake is not news.
    if !matches!(
        e.kind(),
        std::io::ErrorKind::UnexpectedEof
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::BrokenPipe
    ) {
        eprintln!("persona serve: connection from {peer}: {e}");
    }
}

/// How long a new connection may take to send its first packet before it is closed.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);

/// The request codes a client may send before its startup message.
const SSL_REQUEST: u32 = 80_877_103;
const GSSENC_REQUEST: u32 = 80_877_104;
const CANCEL_REQUEST: u32 = 80_877_102;

/// The lengths a startup packet may have (PostgreSQL's own bound above).
const STARTUP_PACKET_LENGTHS: std::ops::RangeInclusive<u32> = 8..=10_000;

/// What is wrong with the first packet waiting on `socket`, read without taking it, in
/// PostgreSQL's words; `None` when it looks like a startup packet or a request. Something
/// that is not PostgreSQL's protocol (an HTTP request, a port scanner) gets this sentence
/// instead of a closed connection.
async fn startup_fault(socket: &tokio::net::TcpStream) -> std::io::Result<Option<String>> {
    let deadline = tokio::time::Instant::now() + STARTUP_TIMEOUT;
    let Some(head) = peek_head(socket, Some(deadline)).await? else {
        return Ok(Some("incomplete startup packet".into()));
    };
    let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
    let code = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
    if !STARTUP_PACKET_LENGTHS.contains(&len) {
        return Ok(Some("invalid length of startup packet".into()));
    }
    if code >> 16 == 3 || [SSL_REQUEST, GSSENC_REQUEST, CANCEL_REQUEST].contains(&code) {
        return Ok(None);
    }
    Ok(Some(format!(
        "unsupported frontend protocol {}.{}: server supports 3.0 to 3.0",
        code >> 16,
        code & 0xffff
    )))
}

/// The first 8 bytes a client sends (a packet's length and code), read without taking them
/// from the socket; `None` when fewer have come by `deadline`.
async fn peek_head(
    socket: &tokio::net::TcpStream,
    deadline: Option<tokio::time::Instant>,
) -> std::io::Result<Option<[u8; 8]>> {
    let mut head = [0u8; 8];
    loop {
        let n = socket.peek(&mut head).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if n >= head.len() {
            return Ok(Some(head));
        }
        if deadline.is_some_and(|d| tokio::time::Instant::now() > d) {
            return Ok(None);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Answers a connection over the limit: its TLS or GSS request as usual, then its startup
/// message with a FATAL ErrorResponse, SQLSTATE 53300.
/// The code of the first packet a client sends (its protocol version, or the code of an SSL,
/// GSSAPI or cancel request), read without taking it from the socket. Callers bound the wait.
async fn first_code(socket: &tokio::net::TcpStream) -> std::io::Result<u32> {
    let head = peek_head(socket, None).await?.unwrap_or_default();
    Ok(u32::from_be_bytes([head[4], head[5], head[6], head[7]]))
}

/// Whether a client starts without TLS: its first packet (after a GSSAPI encryption request,
/// declined here as pgwire would) is a startup message rather than an SSL or cancel request.
async fn plaintext_startup(socket: &mut tokio::net::TcpStream) -> std::io::Result<bool> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut code = first_code(socket).await?;
    if code == GSSENC_REQUEST {
        let mut request = [0u8; 8];
        socket.read_exact(&mut request).await?;
        socket.write_all(b"N").await?;
        code = first_code(socket).await?;
    }
    Ok(code >> 16 == 3)
}

async fn refuse_too_many(
    mut socket: tokio::net::TcpStream,
    tls: Option<TlsAcceptor>,
) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt;
    let mut code = read_startup_packet(&mut socket).await?;
    while code == SSL_REQUEST || code == GSSENC_REQUEST {
        if code == SSL_REQUEST
            && let Some(acceptor) = &tls
        {
            socket.write_all(b"S").await?;
            let mut stream = acceptor.accept(socket).await?;
            read_startup_packet(&mut stream).await?;
            return send_too_many(&mut stream).await;
        }
        socket.write_all(b"N").await?;
        code = read_startup_packet(&mut socket).await?;
    }
    send_too_many(&mut socket).await
}

/// Reads one length-prefixed packet of the startup phase; returns its first four bytes (the
/// protocol version or a request code).
async fn read_startup_packet<S: tokio::io::AsyncRead + Unpin>(s: &mut S) -> std::io::Result<u32> {
    use tokio::io::AsyncReadExt;
    let len = s.read_u32().await?;
    if !STARTUP_PACKET_LENGTHS.contains(&len) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("a startup packet of {len} bytes"),
        ));
    }
    let mut body = vec![0u8; len as usize - 4];
    s.read_exact(&mut body).await?;
    Ok(u32::from_be_bytes([body[0], body[1], body[2], body[3]]))
}

async fn send_too_many<S: tokio::io::AsyncWrite + Unpin>(s: &mut S) -> std::io::Result<()> {
    send_fatal(s, "53300", "sorry, too many clients already").await
}

/// A FATAL ErrorResponse with `code` and `message`, then the end of the connection.
async fn send_fatal<S: tokio::io::AsyncWrite + Unpin>(
    s: &mut S,
    code: &str,
    message: &str,
) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt;
    let mut fields = Vec::new();
    for (tag, value) in [
        (b'S', "FATAL"),
        (b'V', "FATAL"),
        (b'C', code),
        (b'M', message),
    ] {
        fields.push(tag);
        fields.extend_from_slice(value.as_bytes());
        fields.push(0);
    }
    fields.push(0);
    let mut message = vec![b'E'];
    message.extend_from_slice(&(fields.len() as u32 + 4).to_be_bytes());
    message.extend_from_slice(&fields);
    s.write_all(&message).await?;
    s.flush().await?;
    s.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    /// A statement that panics fails alone, with XX000 and the panic's message.
    #[tokio::test]
    async fn a_panicking_statement_is_an_error() {
        let failed = within(None, async {
            if std::hint::black_box(true) {
                panic!("boom");
            }
            Ok(1)
        })
        .await;
        let Err(PgWireError::UserError(info)) = failed else {
            panic!("not an error: {failed:?}");
        };
        assert_eq!(info.code, "XX000");
        assert!(info.message.contains("boom"), "{}", info.message);
        assert_eq!(within(None, async { Ok(2) }).await.unwrap(), 2);
    }

    /// A read-only server's analyzer refuses a plan that writes, before anything runs.
    #[tokio::test]
    async fn read_only_plans_fail_in_analysis() {
        let ctx = SessionContext::new();
        ctx.sql("CREATE TABLE t AS VALUES (1)").await.unwrap();
        ctx.add_analyzer_rule(Arc::new(ReadOnlyPlans));
        let insert = ctx.sql("INSERT INTO t VALUES (2)").await;
        let refused = match insert {
            Err(e) => e.to_string(),
            Ok(df) => df.collect().await.unwrap_err().to_string(),
        };
        assert!(refused.contains("on a read-only server"), "{refused}");
        let rows = ctx.sql("SELECT count(*) FROM t").await.unwrap();
        let batches = rows.collect().await.unwrap();
        assert_eq!(batches[0].num_rows(), 1);
        let n = batches[0]
            .column(0)
            .as_any()
            .downcast_ref::<datafusion::arrow::array::Int64Array>()
            .unwrap()
            .value(0);
        assert_eq!(n, 1, "the insert did not run");
    }

    /// The plan-level guard's test: writes are found wherever they sit in a plan.
    #[tokio::test]
    async fn plan_writes_finds_writes_anywhere_in_the_plan() {
        let ctx = SessionContext::new();
        ctx.sql("CREATE TABLE t AS VALUES (1)").await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let copy = format!(
            "COPY (SELECT 1) TO '{}'",
            dir.path().join("x.csv").display()
        );
        for (sql, writes) in [
            ("INSERT INTO t VALUES (2)", true),
            ("EXPLAIN ANALYZE INSERT INTO t VALUES (2)", true),
            (copy.as_str(), true),
            ("CREATE VIEW v AS SELECT 1", true),
            ("SELECT * FROM t WHERE column1 IN (SELECT 1)", false),
            ("EXPLAIN SELECT 1", false),
        ] {
            let plan = ctx.state().create_logical_plan(sql).await.unwrap();
            assert_eq!(plan_writes(&plan).is_some(), writes, "{sql}");
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    /// One PostgreSQL statement, as the protocol's parser reads it (the rewrite tests share it).
    pub(super) fn parse(sql: &str) -> Statement {
        Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .unwrap()
            .remove(0)
    }

    fn check(sql: &str) -> Option<String> {
        refusal(&parse(sql))
    }

    #[test]
    fn reads_pass_and_writes_are_named() {
        assert_eq!(check("SELECT 1"), None);
        assert_eq!(check("EXPLAIN SELECT 1"), None);
        assert_eq!(check("SET application_name = 'x'"), None);
        assert_eq!(check("SHOW search_path"), None);
        assert_eq!(
            check("INSERT INTO t VALUES (1)").unwrap(),
            "cannot execute INSERT on a read-only server (start persona serve with --allow-write)"
        );
        assert!(
            check("CREATE TABLE t (a INT)")
                .unwrap()
                .contains("CREATE TABLE")
        );
        assert!(
            check("DROP VIEW customer_360")
                .unwrap()
                .contains("DROP VIEW")
        );
        assert!(check("COPY t TO 'x.csv'").unwrap().contains("COPY"));
        // Attacks 1 to 3 of the serve security issue: writes inside EXPLAIN ANALYZE, and
        // SELECT INTO.
        assert_eq!(check("EXPLAIN INSERT INTO t SELECT * FROM t"), None);
        assert!(
            check("EXPLAIN ANALYZE COPY (SELECT 'x' AS x) TO '/tmp/any.csv'")
                .unwrap()
                .starts_with("EXPLAIN ANALYZE runs its statement: cannot execute COPY")
        );
        assert!(
            check("EXPLAIN ANALYZE INSERT INTO campaigns SELECT * FROM campaigns")
                .unwrap()
                .contains("cannot execute INSERT")
        );
        assert_eq!(check("EXPLAIN ANALYZE SELECT 1"), None);
        for sql in [
            "EXPLAIN (ANALYZE) COPY (SELECT 'x' AS x) TO '/tmp/any.csv'",
            "EXPLAIN (ANALYZE true, VERBOSE) INSERT INTO t SELECT * FROM t",
        ] {
            assert!(
                check(sql)
                    .unwrap()
                    .starts_with("EXPLAIN ANALYZE runs its statement"),
                "{sql}"
            );
        }
        for sql in [
            "SELECT 1 AS a INTO evil_into",
            "SELECT 1 AS a UNION ALL (SELECT 2 INTO evil_into)",
        ] {
            assert!(check(sql).unwrap().contains("SELECT INTO"), "{sql}");
        }
        assert!(
            check("SET datafusion.execution.batch_size = 1")
                .unwrap()
                .contains("every client")
        );
    }

    #[test]
    fn external_table_options_lose_the_protocol_parsers_equals_signs() {
        let sql = external_table_in_datafusion_syntax(&parse(
            "CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION 's3://b/k=1/' \
             OPTIONS ('aws.region' = 'x', 'aws.endpoint' = 'http://h:1/?a=b')",
        ))
        .unwrap();
        assert!(sql.contains("LOCATION 's3://b/k=1/'"), "{sql}");
        assert!(
            sql.ends_with("OPTIONS('aws.region'  'x', 'aws.endpoint'  'http://h:1/?a=b')"),
            "{sql}"
        );
        assert!(external_table_in_datafusion_syntax(&parse("CREATE TABLE t (a INT)")).is_none());
    }

    #[test]
    fn password_hashes_round_trip_and_bad_ones_are_named() {
        let hash = hash_password("s3cret").unwrap();
        let (salt, salted) = parse_hash(&hash).unwrap();
        assert_eq!(
            salted,
            gen_salted_password("s3cret", &salt, SCRAM_ITERATIONS)
        );
        assert!(parse_hash("md5abc").unwrap_err().contains("SCRAM-SHA-256$"));
        assert!(
            parse_hash("SCRAM-SHA-256$10:c2FsdA==$eA==")
                .unwrap_err()
                .contains("4096")
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5min"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5 weeks").is_err());
    }

    #[test]
    fn an_open_server_must_be_loopback() {
        let opts = |listen: &str, no_auth| ServeOptions {
            listen: listen.into(),
            no_auth,
            allow_write: false,
            max_connections: 8,
            statement_timeout: None,
            tls: None,
            require_tls: false,
        };
        assert!(check_options(&opts("127.0.0.1:5433", true), &[]).is_ok());
        let err = check_options(&opts("0.0.0.0:5433", true), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("loopback"), "{err}");
        let err = check_options(&opts("127.0.0.1:5433", false), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("no users"), "{err}");
    }
}
