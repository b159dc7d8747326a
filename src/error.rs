//! The library's error type: every variant's message is one sentence that names the thing at
//! fault and where it is, so the CLI can print it as is.

use std::path::PathBuf;

use datafusion::error::DataFusionError;

/// Errors from building a session, loading a project, or running statements.
#[derive(Debug, thiserror::Error)]
pub enum PersonaError {
    /// An error from the query engine, shown without a backtrace.
    #[error("{}", clean_message(.0))]
    DataFusion(#[from] DataFusionError),

    /// A view file whose statement failed to load.
    #[error("{file}:{line}: {message}")]
    View {
        file: String,
        line: usize,
        message: String,
    },

    /// A source of `persona.toml` that could not be registered.
    #[error("source '{name}' ({path}): {message}")]
    Source {
        name: String,
        path: String,
        message: String,
    },

    /// A `persona.toml` that does not parse or does not make sense.
    #[error("{path}: {message}")]
    Config { path: PathBuf, message: String },

    /// A file that could not be read or written.
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },

    /// A command-line value that is not usable.
    #[error("{0}")]
    Usage(String),

    /// The reader of our output went away (`persona … | head`): not a failure.
    #[error("output closed")]
    BrokenPipe,
}

impl PersonaError {
    /// An I/O error on `path`, worded the way a person would say it.
    pub fn io(path: impl Into<PathBuf>, err: &std::io::Error) -> Self {
        let path = path.into();
        let message = match err.kind() {
            std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
            std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
            std::io::ErrorKind::IsADirectory => "is a directory, expected a file".to_string(),
            _ => strip_os_error(&err.to_string()),
        };
        PersonaError::Io { path, message }
    }

    /// The process exit code this error ends a run with: 1 when a statement failed, 2 for
    /// usage, configuration and I/O problems.
    pub fn exit_code(&self) -> i32 {
        match self {
            PersonaError::BrokenPipe => 0,
            PersonaError::DataFusion(_) | PersonaError::View { .. } => 1,
            _ => 2,
        }
    }
}

/// An error writing results: a closed pipe becomes [`PersonaError::BrokenPipe`].
pub fn from_io(err: &std::io::Error) -> PersonaError {
    if err.kind() == std::io::ErrorKind::BrokenPipe {
        PersonaError::BrokenPipe
    } else {
        PersonaError::Io {
            path: PathBuf::from("<output>"),
            message: strip_os_error(&err.to_string()),
        }
    }
}

/// An Arrow error from a writer: a closed pipe inside it becomes [`PersonaError::BrokenPipe`].
pub fn from_arrow(err: datafusion::arrow::error::ArrowError) -> PersonaError {
    match &err {
        datafusion::arrow::error::ArrowError::IoError(_, io) => from_io(io),
        _ => PersonaError::DataFusion(err.into()),
    }
}

/// `Result` with [`PersonaError`].
pub type Result<T, E = PersonaError> = std::result::Result<T, E>;

/// DataFusion's message as one line: no backtrace, no "(os error 2)" tail, no list of every
/// valid field after a "Did you mean" hint, and parser errors as "syntax error: …" rather than
/// a Rust debug string.
pub fn clean_message(err: &DataFusionError) -> String {
    let mut msg = err.strip_backtrace();
    // The object store's errors carry the whole HTTP exchange; the service's code says it.
    if msg.contains("Object Store error: ") || msg.contains("Error performing ") {
        return format!(
            "object store: {}",
            crate::storage::object_store_message(&msg)
        );
    }
    // A cluster's gRPC failures arrive as tonic's debug dump; its message field is the point.
    if let Some(at) = msg.find("Status { code: ") {
        let status = &msg[at..];
        let code = status["Status { code: ".len()..]
            .split(',')
            .next()
            .unwrap_or("Unknown");
        let message = status
            .split_once("message: \"")
            .and_then(|(_, rest)| rest.split_once('"'))
            .map(|(m, _)| m)
            .unwrap_or("no message");
        return format!(
            "the cluster stopped answering ({code}: {message}); is its scheduler running?"
        );
    }
    for prefix in [
        "External error: ",
        "Execution error: ",
        "Arrow error: External error: ",
    ] {
        if let Some(rest) = msg.strip_prefix(prefix) {
            msg = rest.to_string();
        }
    }
    // A function's own argument check arrives wrapped in DataFusion's generic "no function
    // matches" text; the function's sentence is the one that says what is wrong.
    if let Some(at) = msg.find("coercion failed with: ") {
        let inner = &msg[at + "coercion failed with: ".len()..];
        let inner = inner
            .strip_prefix("Error during planning: ")
            .unwrap_or(inner);
        let inner = inner.split(". No function matches").next().unwrap_or(inner);
        msg = format!("Error during planning: {inner}");
    }
    if let Some(inner) = msg
        .strip_prefix("SQL error: ParserError(\"")
        .and_then(|m| m.strip_suffix("\")"))
    {
        msg = format!("syntax error: {}", inner.replace("\\\"", "\""));
    }
    let lines: Vec<&str> = msg
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("Valid fields are"))
        .collect();
    strip_os_error(&lines.join(" "))
}

/// Places a statement's error in its file: a parser position ("at Line: 3, Column: 7", counted
/// from the statement's first line) moves the reported line down and becomes "(column 7)".
/// Returns the file line and the message.
pub fn locate(message: &str, statement_line: usize) -> (usize, String) {
    let Some(at) = message.find(" at Line: ") else {
        return (statement_line, message.to_string());
    };
    let rest = &message[at + 10..];
    let line: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let column: String = rest
        .find("Column: ")
        .map(|i| {
            rest[i + 8..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect()
        })
        .unwrap_or_default();
    let Ok(line) = line.parse::<usize>() else {
        return (statement_line, message.to_string());
    };
    let tail = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == ':' || c == ',' || c == ' '))
        .map_or("", |i| &rest[i..]);
    let column = if column.is_empty() {
        String::new()
    } else {
        format!(" (column {column})")
    };
    (
        statement_line + line.max(1) - 1,
        format!("{}{column}{tail}", &message[..at]),
    )
}

pub fn strip_os_error(msg: &str) -> String {
    match msg.find(" (os error ") {
        Some(i) if msg.ends_with(')') => msg[..i].to_string(),
        _ => msg.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parser_errors_read_as_syntax_errors_placed_in_the_file() {
        let e = DataFusionError::SQL(
            Box::new(
                datafusion::sql::sqlparser::parser::ParserError::ParserError(
                    "Expected: an expression, found: ) at Line: 3, Column: 3".into(),
                ),
            ),
            None,
        );
        let msg = clean_message(&e);
        assert_eq!(
            msg,
            "syntax error: Expected: an expression, found: ) at Line: 3, Column: 3"
        );
        assert_eq!(
            locate(&msg, 2),
            (
                4,
                "syntax error: Expected: an expression, found: ) (column 3)".to_string()
            )
        );
        assert_eq!(
            locate("table 'x' not found", 5),
            (5, "table 'x' not found".to_string())
        );
    }

    #[test]
    fn field_lists_are_dropped_from_messages() {
        let e = DataFusionError::Plan("No field named nope.\nValid fields are a, b.".into());
        assert_eq!(
            clean_message(&e),
            "Error during planning: No field named nope."
        );
    }

    #[test]
    fn cluster_status_dumps_read_as_one_sentence() {
        let e = DataFusionError::External(
            "Status { code: Unknown, message: \"transport error\", source: Some(tonic::transport::Error(Transport, hyper::Error(Io, Custom { kind: BrokenPipe })))) }"
                .into(),
        );
        assert_eq!(
            clean_message(&e),
            "the cluster stopped answering (Unknown: transport error); is its scheduler running?"
        );
    }
}
