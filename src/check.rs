//! `persona check`: data-quality tests, as dbt's tests work.
//!
//! Checks are declared as `[[check]]` tables in `persona.toml` or in `sql/checks/*.toml`, and
//! as custom SQL in `sql/checks/*.sql` (each file one check named after the file; the rows it
//! returns are its failures; leading `-- severity: warn`, `-- warn_if: > 10`, `-- error_if: …`
//! and `-- description: …` lines configure it). Every check becomes one query whose rows are the
//! failures:
//!
//! | kind               | fails on                                                          |
//! |--------------------|-------------------------------------------------------------------|
//! | `not_null`         | rows where `column` is NULL                                       |
//! | `unique`           | each value of `column` (or `columns`) held by more than one row   |
//! | `accepted_values`  | rows whose `column` is not NULL and not one of `values`           |
//! | `relationships`    | rows whose `column` has no match in `to` (`table.column`)         |
//! | `freshness`        | the table, when its latest `column` is older than `max_age`       |
//! | `row_count_change` | the table, when its rows changed by more than `max_change` (0.1)  |
//! |                    | since its latest snapshot before the as-of date                   |
//! | `sql`              | every row `sql` returns                                           |
//!
//! The failing count decides the status: with `severity = "error"` (the default), `error_if`
//! (default `!= 0`) makes it an error, else `warn_if` (default `!= 0`) a warning; with
//! `severity = "warn"` it can only warn. A check that cannot run (a missing table, a bad
//! query) is an error. Freshness is measured against the current time, or against the end of
//! the as-of date when `--as-of` is given. Failing rows are written to
//! `<project>/check_failures/<check>.parquet` (atomically; files of checks that now pass are
//! removed), except for the bundled sample, which is read-only.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::TableReference;
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use serde::Deserialize;

use crate::config::Project;
use crate::error::{PersonaError, Result, clean_message};
use crate::output::file::FileSink;

/// One declared check, as written in TOML.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckConfig {
    /// Unique name; default `<kind>_<table>_<column>`.
    pub name: Option<String>,
    pub kind: Option<CheckKind>,
    pub table: Option<String>,
    pub column: Option<String>,
    /// `unique` over several columns.
    pub columns: Option<Vec<String>>,
    /// `accepted_values`.
    pub values: Option<Vec<toml::Value>>,
    /// `relationships`: the `table.column` every value must exist in.
    pub to: Option<String>,
    /// `freshness`: an interval such as `2 days` or `36 hours`.
    pub max_age: Option<String>,
    /// `row_count_change`: the largest relative change that passes (default 0.1).
    pub max_change: Option<f64>,
    /// `sql`: a query whose rows are the failures.
    pub sql: Option<String>,
    pub severity: Option<Severity>,
    /// A condition on the failing count, such as `> 10` (default `!= 0`).
    pub warn_if: Option<String>,
    pub error_if: Option<String>,
    pub description: Option<String>,
}

/// The kinds of check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    NotNull,
    Unique,
    AcceptedValues,
    Relationships,
    Freshness,
    RowCountChange,
    Sql,
}

impl CheckKind {
    fn as_str(self) -> &'static str {
        match self {
            CheckKind::NotNull => "not_null",
            CheckKind::Unique => "unique",
            CheckKind::AcceptedValues => "accepted_values",
            CheckKind::Relationships => "relationships",
            CheckKind::Freshness => "freshness",
            CheckKind::RowCountChange => "row_count_change",
            CheckKind::Sql => "sql",
        }
    }
}

/// How bad a failing check is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    #[default]
    Error,
    Warn,
}

/// `sql/checks/*.toml`: a list of `[[check]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckFile {
    #[serde(default, rename = "check")]
    checks: Vec<CheckConfig>,
}

/// A condition on the failing count: `> 10`, `>= 1`, `!= 0`, `= 0`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Condition {
    op: &'static str,
    value: f64,
}

impl Condition {
    /// Parses `> 10` and the like.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let t = text.trim();
        let op = ["!=", ">=", "<=", "==", ">", "<", "="]
            .into_iter()
            .find(|op| t.starts_with(op))
            .ok_or_else(|| format!("'{text}' is not a condition like '> 10' or '!= 0'"))?;
        let value = t[op.len()..]
            .trim()
            .parse::<f64>()
            .map_err(|_| format!("'{text}' is not a condition like '> 10' or '!= 0'"))?;
        Ok(Condition { op, value })
    }

    /// Whether `n` meets the condition.
    pub fn holds(self, n: u64) -> bool {
        let n = n as f64;
        match self.op {
            "!=" => n != self.value,
            ">=" => n >= self.value,
            "<=" => n <= self.value,
            ">" => n > self.value,
            "<" => n < self.value,
            _ => n == self.value,
        }
    }
}

const DEFAULT_CONDITION: Condition = Condition {
    op: "!=",
    value: 0.0,
};

/// A check ready to run: its failing-rows query and its thresholds.
#[derive(Debug, Clone)]
pub struct Check {
    pub name: String,
    pub kind: CheckKind,
    pub table: String,
    pub severity: Severity,
    pub warn_if: Condition,
    pub error_if: Condition,
    pub description: Option<String>,
    /// Where it was declared, for messages.
    pub origin: String,
    config: CheckConfig,
}

/// The outcome of a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    Pass,
    Warn,
    Error,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Error => "error",
        }
    }
}

/// One line of the summary.
#[derive(Debug, Clone)]
pub struct CheckResult {
    pub name: String,
    pub kind: CheckKind,
    pub table: String,
    pub severity: Severity,
    pub status: Status,
    /// Failing rows; `None` when the check could not run.
    pub failures: Option<u64>,
    pub detail: String,
}

/// Reads every check of the project: `[[check]]` in persona.toml, then `sql/checks/` files in
/// name order. A file that does not parse or a check that does not make sense is an error
/// naming the file (and line, for TOML) and the check.
pub fn load(project: &Project) -> Result<Vec<Check>> {
    let mut checks = Vec::new();
    let toml_path = project.dir.join("persona.toml");
    for c in &project.config.checks {
        checks.push(prepare(c.clone(), &toml_path.display().to_string())?);
    }
    let dir = project.sql_dir().join("checks");
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries.filter_map(|e| e.ok()).map(|e| e.path()).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(PersonaError::io(&dir, &e)),
    };
    files.retain(|p| p.is_file());
    files.sort();
    for path in files {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if !matches!(ext, "toml" | "sql") {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|e| PersonaError::io(&path, &e))?;
        let origin = path.display().to_string();
        if ext == "toml" {
            let file: CheckFile = toml::from_str(&text).map_err(|e| PersonaError::Config {
                path: path.clone(),
                message: crate::config::toml_message(&e, &text),
            })?;
            for c in file.checks {
                checks.push(prepare(c, &origin)?);
            }
        } else {
            checks.push(prepare(sql_check(&path, &text)?, &origin)?);
        }
    }
    let mut seen = HashSet::new();
    for c in &checks {
        if !seen.insert(c.name.clone()) {
            return Err(PersonaError::Config {
                path: PathBuf::from(&c.origin),
                message: format!(
                    "check '{}' is declared twice; give each check its own name",
                    c.name
                ),
            });
        }
    }
    Ok(checks)
}

/// A custom SQL check from a `.sql` file: its header comments and its query.
fn sql_check(path: &Path, text: &str) -> Result<CheckConfig> {
    let mut config = CheckConfig {
        name: path.file_stem().map(|s| s.to_string_lossy().into_owned()),
        kind: Some(CheckKind::Sql),
        ..Default::default()
    };
    for (i, line) in text.lines().enumerate() {
        let Some(comment) = line.trim().strip_prefix("--") else {
            if line.trim().is_empty() {
                continue;
            }
            break;
        };
        let Some((key, value)) = comment.split_once(':') else {
            continue;
        };
        let value = value.trim().to_string();
        let bad = |message: String| PersonaError::Config {
            path: path.to_path_buf(),
            message: format!("line {}: {message}", i + 1),
        };
        match key.trim() {
            "severity" => {
                config.severity = Some(match value.as_str() {
                    "error" => Severity::Error,
                    "warn" => Severity::Warn,
                    other => {
                        return Err(bad(format!(
                            "severity must be 'error' or 'warn', got '{other}'"
                        )));
                    }
                })
            }
            "warn_if" => config.warn_if = Some(value),
            "error_if" => config.error_if = Some(value),
            "description" => config.description = Some(value),
            "table" => config.table = Some(value),
            _ => {}
        }
    }
    let sql = crate::sql_split::split_statements(text);
    match sql.as_slice() {
        [one] => {
            // A query that does not parse is a broken file, not a failing check.
            if let Err(e) = datafusion::sql::parser::DFParser::parse_sql(&one.sql) {
                let (line, message) = crate::error::locate(&clean_message(&e), one.line);
                return Err(PersonaError::Config {
                    path: path.to_path_buf(),
                    message: format!("line {line}: {message}"),
                });
            }
            config.sql = Some(one.sql.clone());
        }
        _ => {
            return Err(PersonaError::Config {
                path: path.to_path_buf(),
                message: format!(
                    "a check file holds exactly one query, found {} statements",
                    sql.len()
                ),
            });
        }
    }
    Ok(config)
}

/// Checks that a declaration has what its kind needs and builds its name and thresholds.
fn prepare(c: CheckConfig, origin: &str) -> Result<Check> {
    let fail = |name: &str, message: String| PersonaError::Config {
        path: PathBuf::from(origin),
        message: format!("check '{name}': {message}"),
    };
    let Some(kind) = c.kind else {
        let name = c.name.clone().unwrap_or_else(|| "(unnamed)".into());
        return Err(fail(
            &name,
            "needs a kind: not_null, unique, accepted_values, relationships, freshness, row_count_change or sql".into(),
        ));
    };
    let columns: Vec<String> = match (&c.column, &c.columns) {
        (Some(col), None) => vec![col.clone()],
        (None, Some(cols)) => cols.clone(),
        (None, None) => Vec::new(),
        (Some(col), Some(_)) => vec![col.clone()],
    };
    let name = c.name.clone().unwrap_or_else(|| {
        let mut parts = vec![kind.as_str().to_string()];
        parts.extend(c.table.clone());
        parts.extend(columns.iter().cloned());
        parts.join("_")
    });
    if name.is_empty()
        || !name
            .chars()
            .all(|ch| ch.is_alphanumeric() || ch == '_' || ch == '-')
    {
        return Err(fail(
            &name,
            "a check name is letters, digits, '_' and '-' (it names the file of failing rows)"
                .into(),
        ));
    }
    if c.column.is_some() && c.columns.is_some() {
        return Err(fail(&name, "give column or columns, not both".into()));
    }
    let needs = |what: &str, present: bool| {
        if present {
            Ok(())
        } else {
            Err(fail(
                &name,
                format!("a {} check needs {what}", kind.as_str()),
            ))
        }
    };
    let table_needed = kind != CheckKind::Sql;
    if table_needed {
        needs("a table", c.table.is_some())?;
    }
    match kind {
        CheckKind::NotNull | CheckKind::Freshness => needs("a column", columns.len() == 1)?,
        CheckKind::Unique => needs("a column or columns", !columns.is_empty())?,
        CheckKind::AcceptedValues => {
            needs("a column", columns.len() == 1)?;
            needs(
                "values = [...]",
                c.values.as_ref().is_some_and(|v| !v.is_empty()),
            )?;
        }
        CheckKind::Relationships => {
            needs("a column", columns.len() == 1)?;
            needs(
                "to = 'table.column'",
                c.to.as_ref().is_some_and(|t| t.contains('.')),
            )?;
        }
        CheckKind::RowCountChange => {
            if let Some(m) = c.max_change
                && !(m >= 0.0 && m.is_finite())
            {
                return Err(fail(&name, "max_change must be a share such as 0.2".into()));
            }
        }
        CheckKind::Sql => needs("sql = '...'", c.sql.is_some())?,
    }
    if kind == CheckKind::Freshness {
        needs("max_age, such as '2 days'", c.max_age.is_some())?;
    }
    let condition = |text: &Option<String>| match text {
        Some(t) => Condition::parse(t).map_err(|m| fail(&name, m)),
        None => Ok(DEFAULT_CONDITION),
    };
    Ok(Check {
        warn_if: condition(&c.warn_if)?,
        error_if: condition(&c.error_if)?,
        severity: c.severity.unwrap_or_default(),
        table: c.table.clone().unwrap_or_default(),
        description: c.description.clone(),
        name,
        kind,
        origin: origin.to_string(),
        config: c,
    })
}

fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn table_ref(name: &str) -> String {
    TableReference::from(name).to_quoted_string()
}

fn literal(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => format!("'{}'", s.replace('\'', "''")),
        other => other.to_string(),
    }
}

impl Check {
    /// The query whose rows are this check's failures. `reference` is the instant freshness
    /// is measured at (a SQL timestamp expression).
    fn failing_rows_sql(&self, reference: &str) -> String {
        let c = &self.config;
        let t = table_ref(&self.table);
        let col = c.column.as_deref().map(ident).unwrap_or_default();
        match self.kind {
            CheckKind::NotNull => format!("SELECT * FROM {t} WHERE {col} IS NULL"),
            CheckKind::Unique => {
                let cols: Vec<String> = match &c.columns {
                    Some(cols) => cols.iter().map(|x| ident(x)).collect(),
                    None => vec![col.clone()],
                };
                let list = cols.join(", ");
                let not_null = cols
                    .iter()
                    .map(|x| format!("{x} IS NOT NULL"))
                    .collect::<Vec<_>>()
                    .join(" AND ");
                format!(
                    "SELECT {list}, count(*) AS occurrences FROM {t} WHERE {not_null} \
                     GROUP BY {list} HAVING count(*) > 1"
                )
            }
            CheckKind::AcceptedValues => {
                let values: Vec<String> = c.values.iter().flatten().map(literal).collect();
                format!(
                    "SELECT * FROM {t} WHERE {col} IS NOT NULL AND {col} NOT IN ({})",
                    values.join(", ")
                )
            }
            CheckKind::Relationships => {
                let to = c.to.as_deref().unwrap_or_default();
                let (to_table, to_col) = to.rsplit_once('.').unwrap_or((to, ""));
                format!(
                    "SELECT * FROM {t} child WHERE child.{col} IS NOT NULL AND NOT EXISTS \
                     (SELECT 1 FROM {} parent WHERE parent.{} = child.{col})",
                    table_ref(to_table),
                    ident(to_col)
                )
            }
            CheckKind::Freshness => {
                let age = c.max_age.as_deref().unwrap_or_default().replace('\'', "''");
                format!(
                    "SELECT latest, reference, reference - latest AS age FROM \
                     (SELECT CAST(max({col}) AS TIMESTAMP) AS latest, {reference} AS reference FROM {t}) f \
                     WHERE latest IS NULL OR latest < reference - INTERVAL '{age}'"
                )
            }
            CheckKind::RowCountChange => {
                let max_change = c.max_change.unwrap_or(0.1);
                format!(
                    "WITH cur AS (SELECT count(*) AS current_rows FROM {t}), \
                     prev AS (SELECT as_of AS previous_as_of, count(*) AS previous_rows \
                              FROM {} WHERE as_of < as_of() GROUP BY as_of ORDER BY as_of DESC LIMIT 1) \
                     SELECT previous_as_of, previous_rows, current_rows, \
                            round((current_rows - previous_rows) / CAST(previous_rows AS DOUBLE), 4) AS change \
                     FROM cur CROSS JOIN prev \
                     WHERE abs(current_rows - previous_rows) > {max_change} * previous_rows",
                    table_ref(&format!("snapshot_{}", self.table))
                )
            }
            CheckKind::Sql => c.sql.clone().unwrap_or_default(),
        }
    }

    fn status_for(&self, failures: u64) -> Status {
        if self.severity == Severity::Error && self.error_if.holds(failures) {
            Status::Error
        } else if self.warn_if.holds(failures) {
            Status::Warn
        } else {
            Status::Pass
        }
    }
}

/// Where a check's failing rows go; `None` stores nothing.
pub struct Store {
    pub dir: Option<PathBuf>,
}

/// Runs every check; never fails as a whole: a check that cannot run is an error result.
pub async fn run(
    ctx: &SessionContext,
    checks: &[Check],
    reference: &str,
    store: &Store,
) -> Vec<CheckResult> {
    let mut results = Vec::new();
    for check in checks {
        let outcome = run_one(ctx, check, reference, store).await;
        let (status, failures, detail) = match outcome {
            Ok((n, detail)) => (check.status_for(n), Some(n), detail),
            Err(e) => (Status::Error, None, format!("cannot run: {e}")),
        };
        results.push(CheckResult {
            name: check.name.clone(),
            kind: check.kind,
            table: check.table.clone(),
            severity: check.severity,
            status,
            failures,
            detail,
        });
    }
    results
}

async fn run_one(
    ctx: &SessionContext,
    check: &Check,
    reference: &str,
    store: &Store,
) -> Result<(u64, String)> {
    if check.kind == CheckKind::RowCountChange {
        let snapshots = format!("snapshot_{}", check.table);
        if ctx.table_provider(snapshots.as_str()).await.is_err() {
            return Err(PersonaError::Usage(format!(
                "row_count_change compares with snapshots, and {} has none (persona refresh snapshots customer_360, customer_segments, customer_tags and customer_clv)",
                check.table
            )));
        }
        let earlier = ctx
            .sql(&format!(
                "SELECT 1 FROM {} WHERE as_of < as_of() LIMIT 1",
                table_ref(&snapshots)
            ))
            .await?
            .count()
            .await?;
        if earlier == 0 {
            remove_failures(store, &check.name);
            return Ok((0, "no earlier snapshot to compare with".into()));
        }
    }
    let sql = check.failing_rows_sql(reference);
    let df = ctx.sql(&sql).await.map_err(|e| {
        PersonaError::Usage(
            clean_message(&e)
                .replace("Error during planning: ", "")
                .replace("datafusion.public.", ""),
        )
    })?;
    let mut stream = df.execute_stream().await?;
    let file = store
        .dir
        .as_ref()
        .map(|d| d.join(format!("{}.parquet", check.name)));
    let mut sink = None;
    let mut n = 0u64;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        if batch.num_rows() == 0 {
            continue;
        }
        n += batch.num_rows() as u64;
        if let Some(path) = &file {
            if sink.is_none() {
                std::fs::create_dir_all(path.parent().expect("a file in a directory"))
                    .map_err(|e| PersonaError::io(path, &e))?;
                sink = Some(FileSink::create(path, stream.schema())?);
            }
            sink.as_mut().expect("created above").write(&batch)?;
        }
    }
    let detail = match (sink, &file) {
        (Some(s), Some(path)) => {
            s.finish()?;
            format!("failing rows in {}", path.display())
        }
        _ => {
            remove_failures(store, &check.name);
            String::new()
        }
    };
    Ok((n, detail))
}

/// Removes the stored failing rows of a check that no longer fails.
fn remove_failures(store: &Store, name: &str) {
    if let Some(dir) = &store.dir {
        let _ = std::fs::remove_file(dir.join(format!("{name}.parquet")));
    }
}

/// The results as a table: check, kind, table, severity, status, failures, detail.
pub fn summary_batch(results: &[CheckResult]) -> RecordBatch {
    let text = |f: &dyn Fn(&CheckResult) -> String| -> ArrayRef {
        Arc::new(results.iter().map(|r| Some(f(r))).collect::<StringArray>())
    };
    let schema = Schema::new(vec![
        Field::new("check", DataType::Utf8, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("table", DataType::Utf8, false),
        Field::new("severity", DataType::Utf8, false),
        Field::new("status", DataType::Utf8, false),
        Field::new("failures", DataType::Int64, true),
        Field::new("detail", DataType::Utf8, false),
    ]);
    let columns = vec![
        text(&|r| r.name.clone()),
        text(&|r| r.kind.as_str().to_string()),
        text(&|r| r.table.clone()),
        text(&|r| match r.severity {
            Severity::Error => "error".into(),
            Severity::Warn => "warn".into(),
        }),
        text(&|r| r.status.as_str().to_string()),
        Arc::new(
            results
                .iter()
                .map(|r| r.failures.map(|n| n as i64))
                .collect::<Int64Array>(),
        ) as ArrayRef,
        text(&|r| r.detail.clone()),
    ];
    RecordBatch::try_new(Arc::new(schema), columns).expect("columns match the schema")
}

/// `3 passed, 1 warning, 1 error`.
pub fn tally(results: &[CheckResult]) -> String {
    let count = |s: Status| results.iter().filter(|r| r.status == s).count();
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    format!(
        "{}, {}, {}",
        plural(count(Status::Pass), "passed", "passed"),
        plural(count(Status::Warn), "warning", "warnings"),
        plural(count(Status::Error), "error", "errors")
    )
}

/// The instant freshness is measured at: the end of `as_of` when given, else now.
pub fn reference(as_of: Option<&str>) -> String {
    match as_of {
        Some(d) => format!("CAST(DATE '{d}' AS TIMESTAMP) + INTERVAL '1 day'"),
        None => "CAST(now() AS TIMESTAMP)".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions() {
        let c = Condition::parse(" > 10").unwrap();
        assert!(c.holds(11) && !c.holds(10));
        assert!(Condition::parse("!=0").unwrap().holds(1));
        assert!(!Condition::parse("!= 0").unwrap().holds(0));
        assert!(Condition::parse(">= 2").unwrap().holds(2));
        assert!(Condition::parse("= 0").unwrap().holds(0));
        assert!(Condition::parse("lots").is_err());
        assert!(Condition::parse("> ten").is_err());
    }

    #[test]
    fn severity_decides_between_warning_and_error() {
        let mut check = prepare(
            CheckConfig {
                kind: Some(CheckKind::NotNull),
                table: Some("t".into()),
                column: Some("c".into()),
                warn_if: Some("> 0".into()),
                error_if: Some("> 10".into()),
                ..Default::default()
            },
            "test",
        )
        .unwrap();
        assert_eq!(check.name, "not_null_t_c");
        assert_eq!(check.status_for(0), Status::Pass);
        assert_eq!(check.status_for(5), Status::Warn);
        assert_eq!(check.status_for(11), Status::Error);
        check.severity = Severity::Warn;
        assert_eq!(check.status_for(11), Status::Warn);
    }

    #[test]
    fn a_kind_without_what_it_needs_is_named() {
        let err = prepare(
            CheckConfig {
                name: Some("fk".into()),
                kind: Some(CheckKind::Relationships),
                table: Some("orders".into()),
                column: Some("customer_id".into()),
                ..Default::default()
            },
            "persona.toml",
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "persona.toml: check 'fk': a relationships check needs to = 'table.column'"
        );
    }
}
