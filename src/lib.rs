//! persona: an embedded analytical SQL engine for customer profiling, on Apache DataFusion.
//!
//! [`SessionBuilder`] gives any embedder a DataFusion `SessionContext` with persona's
//! functions, a project's sources and the view library registered. The binary adds a command
//! line ([`cli`]), an interactive shell ([`shell`]) and a sample-data generator ([`generate`]).

pub mod check;
pub mod cli;
#[cfg(feature = "cluster")]
pub mod cluster;
pub mod config;
pub mod dense_aggregate;
pub mod docs;
pub mod error;
pub mod exec;
pub mod generate;
pub mod ingest;
pub mod local_files;
pub mod models;
pub mod nested_loop;
pub mod output;
pub mod report;
pub mod serve;
pub mod session;
pub mod shell;
pub mod snapshot;
pub mod sources;
pub mod sql_split;
pub mod storage;
pub mod tags;
pub mod train;
pub mod views;

pub use config::{Project, ProjectConfig};
pub use error::PersonaError;
pub use session::{Session, SessionBuilder};
