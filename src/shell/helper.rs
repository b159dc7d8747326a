//! The line editor's helper: tab completion and the "statement ends with ;" validator.
//!
//! Completion offers what fits where the cursor is: meta-commands at the start of a line,
//! file paths inside a quote or after `\i`/`\o`, columns after `table.` or once a table is
//! named in the statement, else keywords, tables, views and functions.

use std::collections::BTreeMap;
use std::path::Path;

use datafusion::prelude::SessionContext;
use rustyline::completion::{Completer, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Helper};

use super::commands;
use crate::sql_split::ends_statement;

/// Keywords offered by completion: the ones people type, not the parser's full list.
const KEYWORDS: &[&str] = &[
    "SELECT",
    "FROM",
    "WHERE",
    "GROUP BY",
    "ORDER BY",
    "HAVING",
    "LIMIT",
    "OFFSET",
    "JOIN",
    "LEFT JOIN",
    "RIGHT JOIN",
    "INNER JOIN",
    "FULL JOIN",
    "CROSS JOIN",
    "ON",
    "USING",
    "AS",
    "DISTINCT",
    "CASE",
    "WHEN",
    "THEN",
    "ELSE",
    "END",
    "AND",
    "OR",
    "NOT",
    "IN",
    "IS",
    "NULL",
    "LIKE",
    "ILIKE",
    "BETWEEN",
    "UNION",
    "UNION ALL",
    "EXCEPT",
    "INTERSECT",
    "WITH",
    "CREATE",
    "CREATE VIEW",
    "CREATE OR REPLACE VIEW",
    "CREATE TABLE",
    "CREATE EXTERNAL TABLE",
    "DROP",
    "VIEW",
    "TABLE",
    "COPY",
    "TO",
    "INSERT INTO",
    "VALUES",
    "DESCRIBE",
    "SHOW",
    "EXPLAIN",
    "ANALYZE",
    "SET",
    "OVER",
    "PARTITION BY",
    "ROWS",
    "RANGE",
    "ASC",
    "DESC",
    "NULLS FIRST",
    "NULLS LAST",
    "CAST",
    "TRY_CAST",
    "INTERVAL",
    "DATE",
    "TIMESTAMP",
    "TRUE",
    "FALSE",
    "FILTER",
    "QUALIFY",
    "ALL",
    "ANY",
    "EXISTS",
    "STORED AS",
    "LOCATION",
];

/// What completion knows about the session, refreshed after each statement.
#[derive(Debug, Default, Clone)]
pub struct Catalog {
    /// Table and view names with their columns.
    pub relations: BTreeMap<String, Vec<String>>,
    pub functions: Vec<String>,
}

impl Catalog {
    /// Reads the current tables, views, columns and functions of `ctx`.
    pub async fn load(ctx: &SessionContext) -> Self {
        let mut relations = BTreeMap::new();
        if let Some(catalog) = ctx.catalog("datafusion")
            && let Some(schema) = catalog.schema("public")
        {
            for name in schema.table_names() {
                let columns = match schema.table(&name).await {
                    Ok(Some(t)) => t
                        .schema()
                        .fields()
                        .iter()
                        .map(|f| f.name().clone())
                        .collect(),
                    _ => Vec::new(),
                };
                relations.insert(name, columns);
            }
        }
        let state = ctx.state();
        let mut functions: Vec<String> = state
            .scalar_functions()
            .keys()
            .chain(state.aggregate_functions().keys())
            .chain(state.window_functions().keys())
            .cloned()
            .collect();
        functions.sort();
        functions.dedup();
        Catalog {
            relations,
            functions,
        }
    }
}

/// The rustyline helper.
#[derive(Debug, Default)]
pub struct ShellHelper {
    pub catalog: Catalog,
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '.' || c == '\\'
}

/// The open quote's start when `pos` is inside a single-quoted string.
fn open_quote(line: &str) -> Option<usize> {
    let mut open = None;
    for (i, c) in line.char_indices() {
        if c == '\'' {
            open = if open.is_some() { None } else { Some(i) };
        }
    }
    open
}

impl ShellHelper {
    /// Completion candidates for `line` up to the cursor: `(start, candidates)`.
    pub fn candidates(&self, line: &str) -> (usize, Vec<String>) {
        if let Some(q) = open_quote(line) {
            return (q + 1, complete_path(&line[q + 1..]));
        }
        let start = line
            .char_indices()
            .rev()
            .find(|&(_, c)| !is_word_char(c))
            .map_or(0, |(i, c)| i + c.len_utf8());
        let word = &line[start..];
        let before = line[..start].trim_start();
        let first_char = line.trim_start().chars().next();
        if matches!(first_char, Some('\\') | Some('.')) {
            if before.is_empty() {
                return (
                    start,
                    prefixed(commands::spellings().map(String::from), word),
                );
            }
            let cmd = before.split_whitespace().next().unwrap_or("");
            let names = match cmd {
                "\\i" | ".read" | "\\o" | ".output" => {
                    let arg_start = line.len() - line.trim_start().len() + cmd.len();
                    let arg = line[arg_start..].trim_start();
                    return (line.len() - arg.len(), complete_path(arg));
                }
                "\\h" | "\\df" => self.catalog.functions.clone(),
                _ => self.catalog.relations.keys().cloned().collect(),
            };
            return (start, prefixed(names.into_iter(), word));
        }
        if let Some((table, col)) = word.rsplit_once('.') {
            let cols = self
                .catalog
                .relations
                .get(&table.to_ascii_lowercase())
                .cloned()
                .unwrap_or_default();
            let start = start + table.len() + 1;
            return (start, prefixed(cols.into_iter(), col));
        }
        let upper = word.chars().next().is_some_and(char::is_uppercase);
        let mut out: Vec<String> = KEYWORDS
            .iter()
            .map(|k| {
                if upper {
                    k.to_string()
                } else {
                    k.to_ascii_lowercase()
                }
            })
            .collect();
        out.extend(self.catalog.relations.keys().cloned());
        out.extend(self.catalog.functions.iter().cloned());
        // Columns of every table already named in the statement.
        let lower = line.to_ascii_lowercase();
        let named: Vec<&String> = lower
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .filter_map(|t| self.catalog.relations.get_key_value(t).map(|(k, _)| k))
            .collect();
        for t in named {
            out.extend(self.catalog.relations[t].iter().cloned());
        }
        (start, prefixed(out.into_iter(), word))
    }
}

/// The names starting with `prefix` (case-insensitively), sorted, without repeats.
fn prefixed(names: impl Iterator<Item = String>, prefix: &str) -> Vec<String> {
    let p = prefix.to_lowercase();
    let mut out: Vec<String> = names
        .filter(|n| n.to_lowercase().starts_with(&p) && n.len() >= prefix.len())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Files and directories that complete `partial` (directories end with `/`).
fn complete_path(partial: &str) -> Vec<String> {
    let (dir, stem) = match partial.rfind('/') {
        Some(i) => (&partial[..=i], &partial[i + 1..]),
        None => ("", partial),
    };
    let read_from = if dir.is_empty() {
        Path::new(".")
    } else {
        Path::new(dir)
    };
    let Ok(entries) = std::fs::read_dir(read_from) else {
        return Vec::new();
    };
    let mut out: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.starts_with(stem) || (name.starts_with('.') && !stem.starts_with('.')) {
                return None;
            }
            let slash = if e.path().is_dir() { "/" } else { "" };
            Some(format!("{dir}{name}{slash}"))
        })
        .collect();
    out.sort();
    out
}

impl Completer for ShellHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let (start, names) = self.candidates(&line[..pos]);
        let pairs = names
            .into_iter()
            .map(|n| Pair {
                display: n.clone(),
                replacement: n,
            })
            .collect();
        Ok((start, pairs))
    }
}

impl Hinter for ShellHelper {
    type Hint = String;
}

impl Highlighter for ShellHelper {}

impl Validator for ShellHelper {
    fn validate(&self, ctx: &mut ValidationContext) -> rustyline::Result<ValidationResult> {
        Ok(if input_is_complete(ctx.input()) {
            ValidationResult::Valid(None)
        } else {
            ValidationResult::Incomplete
        })
    }
}

impl Helper for ShellHelper {}

/// A line is ready to run when it is a meta-command, empty, `quit`/`exit`, or SQL ending in `;`.
pub fn input_is_complete(input: &str) -> bool {
    let t = input.trim();
    t.is_empty()
        || t.starts_with('\\')
        || (t.starts_with('.') && !t.contains('\n'))
        || matches!(t.to_ascii_lowercase().as_str(), "quit" | "exit")
        || ends_statement(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn helper() -> ShellHelper {
        let mut relations = BTreeMap::new();
        relations.insert(
            "customers".to_string(),
            vec!["customer_id".to_string(), "city".to_string()],
        );
        relations.insert(
            "orders".to_string(),
            vec!["order_id".to_string(), "customer_id".to_string()],
        );
        ShellHelper {
            catalog: Catalog {
                relations,
                functions: vec!["as_of".into(), "avg".into()],
            },
        }
    }

    #[test]
    fn completes_tables_keywords_and_functions() {
        let h = helper();
        assert_eq!(
            h.candidates("SELECT * FROM cus"),
            (14, vec!["customers".to_string()])
        );
        assert_eq!(h.candidates("SEL").1, vec!["SELECT".to_string()]);
        assert_eq!(h.candidates("select as_").1, vec!["as_of".to_string()]);
    }

    #[test]
    fn completes_columns_once_a_table_is_named() {
        let h = helper();
        assert_eq!(h.candidates("SELECT ci").1, Vec::<String>::new());
        assert_eq!(
            h.candidates("SELECT * FROM customers WHERE ci").1,
            vec!["city".to_string()]
        );
        assert_eq!(
            h.candidates("SELECT orders.ord"),
            (14, vec!["order_id".to_string()])
        );
    }

    #[test]
    fn completes_meta_commands_and_their_arguments() {
        let h = helper();
        assert!(h.candidates("\\d").1.contains(&"\\dt".to_string()));
        assert_eq!(h.candidates("\\d ord").1, vec!["orders".to_string()]);
        assert_eq!(h.candidates("\\h as").1, vec!["as_of".to_string()]);
    }

    #[test]
    fn completes_quoted_paths() {
        let dir = std::env::temp_dir().join(format!("persona-complete-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("data.csv"), "a\n").unwrap();
        let prefix = format!("{}/", dir.display());
        let (_, c) = helper().candidates(&format!("SELECT * FROM '{prefix}d"));
        assert_eq!(c, vec![format!("{prefix}data.csv")]);
        let (_, c) = helper().candidates(&format!("SELECT * FROM '{prefix}s"));
        assert_eq!(c, vec![format!("{prefix}sub/")]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn statements_wait_for_a_semicolon() {
        assert!(!input_is_complete("SELECT 1\nFROM t"));
        assert!(input_is_complete("SELECT 1\nFROM t;"));
        assert!(input_is_complete("\\d customers"));
        assert!(input_is_complete("quit"));
    }
}
