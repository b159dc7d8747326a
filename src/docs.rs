//! Function and view documentation, rendered from data: each function's `Documentation`
//! and each built-in view's leading comment. The shell's `\h` and `\df`, and the README's
//! reference section, all come from here, so they cannot drift apart.

use datafusion::logical_expr::Documentation;
use datafusion::prelude::SessionContext;

use crate::sql_split::split_statements;
use crate::views::BUILTIN_VIEWS;

/// What kind of function a name is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FunctionKind {
    Scalar,
    Aggregate,
    Window,
    Table,
}

impl FunctionKind {
    pub fn name(self) -> &'static str {
        match self {
            FunctionKind::Scalar => "scalar",
            FunctionKind::Aggregate => "aggregate",
            FunctionKind::Window => "window",
            FunctionKind::Table => "table",
        }
    }
}

/// One registered function.
#[derive(Debug, Clone)]
pub struct FunctionInfo {
    pub name: String,
    pub kind: FunctionKind,
    /// Added by persona (not a DataFusion built-in).
    pub persona: bool,
    pub doc: Option<Documentation>,
}

/// Every function of the session, sorted by name.
pub fn functions(ctx: &SessionContext) -> Vec<FunctionInfo> {
    let state = ctx.state();
    let ours = persona_udfs::function_names();
    let is_ours = |n: &str| ours.iter().any(|o| o == n);
    let mut out: Vec<FunctionInfo> = Vec::new();
    for (name, f) in state.scalar_functions() {
        out.push(FunctionInfo {
            name: name.clone(),
            kind: FunctionKind::Scalar,
            persona: is_ours(name),
            doc: f.documentation().cloned(),
        });
    }
    for (name, f) in state.aggregate_functions() {
        out.push(FunctionInfo {
            name: name.clone(),
            kind: FunctionKind::Aggregate,
            persona: is_ours(name),
            doc: f.documentation().cloned(),
        });
    }
    for (name, f) in state.window_functions() {
        out.push(FunctionInfo {
            name: name.clone(),
            kind: FunctionKind::Window,
            persona: is_ours(name),
            doc: f.documentation().cloned(),
        });
    }
    for f in persona_udfs::table_functions() {
        out.push(FunctionInfo {
            name: f.name.to_string(),
            kind: FunctionKind::Table,
            persona: true,
            doc: Some(f.doc.clone()),
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name).then(a.kind.cmp(&b.kind)));
    out
}

/// The first sentence of a description, for one-line listings.
pub fn summary(doc: Option<&Documentation>) -> String {
    let Some(doc) = doc else { return String::new() };
    let text = doc
        .description
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    match text.find(". ") {
        Some(i) => text[..=i].to_string(),
        None => text,
    }
}

/// `\h name`: the whole documentation of a function, as plain text.
pub fn help_text(ctx: &SessionContext, name: &str) -> Option<String> {
    let name = name.trim().trim_end_matches("()").to_ascii_lowercase();
    let all = functions(ctx);
    let f = all.iter().find(|f| f.name == name)?;
    let mut out = format!(
        "{} ({} function{})\n\n",
        f.name,
        f.kind.name(),
        if f.persona { ", persona" } else { "" }
    );
    match &f.doc {
        None => out.push_str("No documentation.\n"),
        Some(doc) => {
            out.push_str(&wrap(&doc.description, 88));
            out.push_str(&format!("\n\nSyntax:\n  {}\n", doc.syntax_example));
            if let Some(args) = &doc.arguments {
                out.push_str("\nArguments:\n");
                for (arg, desc) in args {
                    out.push_str(&format!(
                        "  {arg}: {}\n",
                        desc.split_whitespace().collect::<Vec<_>>().join(" ")
                    ));
                }
            }
            if let Some(example) = &doc.sql_example {
                out.push_str("\nExample:\n");
                for line in example
                    .trim()
                    .trim_start_matches("```sql")
                    .trim_end_matches("```")
                    .trim()
                    .lines()
                {
                    out.push_str(&format!("  {line}\n"));
                }
            }
        }
    }
    Some(out)
}

fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line_len = 0;
    for word in text.split_whitespace() {
        if line_len > 0 && line_len + 1 + word.len() > width {
            out.push('\n');
            line_len = 0;
        } else if line_len > 0 {
            out.push(' ');
            line_len += 1;
        }
        out.push_str(word);
        line_len += word.len();
    }
    out
}

/// A built-in view: its name, its file, and the comment lines above its CREATE.
#[derive(Debug, Clone)]
pub struct ViewDoc {
    pub name: String,
    pub file: &'static str,
    pub description: String,
}

/// The built-in views, in load order (the views over snapshots last).
pub fn builtin_views() -> Vec<ViewDoc> {
    let mut out = Vec::new();
    let snapshot_views = ("sql/snapshots/views.sql", crate::snapshot::SNAPSHOT_SQL);
    for (file, text) in BUILTIN_VIEWS.iter().chain([&snapshot_views]) {
        for stmt in split_statements(text) {
            let Some(name) = created_view_name(&stmt.sql) else {
                continue;
            };
            let lines: Vec<&str> = text.lines().collect();
            let mut comment: Vec<&str> = Vec::new();
            let mut i = stmt.line.saturating_sub(1);
            while i > 0 {
                let l = lines[i - 1].trim();
                match l.strip_prefix("--") {
                    Some(c) => comment.push(c.trim()),
                    None => break,
                }
                i -= 1;
            }
            comment.reverse();
            out.push(ViewDoc {
                name,
                file,
                description: comment.join(" ").trim().to_string(),
            });
        }
    }
    out
}

/// `CREATE [OR REPLACE] VIEW name …` → `name`.
pub fn created_view_name(sql: &str) -> Option<String> {
    let words: Vec<String> = sql
        .split_whitespace()
        .take(6)
        .map(|w| w.to_ascii_lowercase())
        .collect();
    let pos = words.iter().position(|w| w == "view")?;
    (words.first()? == "create")
        .then(|| words.get(pos + 1).map(|w| w.trim_matches('"').to_string()))?
}

/// The README's generated reference: persona's functions, then the built-in views with their
/// columns as `ctx` has them.
pub async fn reference_markdown(ctx: &SessionContext) -> String {
    let mut out =
        String::from("### Functions\n\n| function | kind | description |\n|---|---|---|\n");
    let mut fns: Vec<FunctionInfo> = functions(ctx).into_iter().filter(|f| f.persona).collect();
    fns.sort_by(|a, b| a.name.cmp(&b.name));
    for f in &fns {
        let syntax = f
            .doc
            .as_ref()
            .map_or(f.name.clone(), |d| d.syntax_example.clone());
        let desc = f
            .doc
            .as_ref()
            .map(|d| {
                d.description
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            syntax,
            f.kind.name(),
            desc.replace('|', "\\|")
        ));
    }
    out.push_str("\nIn the shell, `\\h name` shows a function's arguments and example; `\\df` lists every function, DataFusion's built-ins included.\n");
    out.push_str("\n### Views\n\n| view | columns | description |\n|---|---|---|\n");
    for v in builtin_views() {
        let columns = match ctx.table_provider(v.name.as_str()).await {
            Ok(t) => t
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect::<Vec<_>>()
                .join(", "),
            Err(_) => String::from("(not loaded)"),
        };
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            v.name,
            columns,
            v.description.replace('|', "\\|")
        ));
    }
    out
}
