//! persona's SQL functions for Apache DataFusion.
//!
//! Functions are grouped in families, one folder each (`core`, and later `clean`, `identity`,
//! `rfm`, …), one file per function. Each family's `mod.rs` lists its functions; this file
//! registers every family with [`register_all`]. Every function carries its [`Documentation`]
//! (description, syntax, example), which the shell's `\h` and the README's reference render.
//!
//! [`Documentation`]: datafusion::logical_expr::Documentation

use std::sync::Arc;

use datafusion::catalog::TableFunctionImpl;
use datafusion::common::Result;
use datafusion::execution::FunctionRegistry;
use datafusion::execution::context::SessionContext;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::logical_expr::{AggregateUDF, Documentation, ScalarUDF, WindowUDF};

pub mod args;
pub mod behavior;
pub mod bitmap;
pub mod builtins;
pub mod clean;
pub mod clv;
pub mod config;
pub mod core;
pub mod groups;
mod macros;
pub mod privacy;
pub mod segment;
pub mod stats;
pub mod text;

pub use config::PersonaOptions;

/// Every scalar function persona adds, in documentation order.
pub fn scalar_functions() -> Vec<Arc<ScalarUDF>> {
    let mut all = core::functions();
    all.extend(clv::functions());
    all.extend(segment::functions());
    all.extend(bitmap::functions());
    all.extend(text::functions());
    all.extend(stats::functions());
    all.extend(privacy::functions());
    all.extend(clean::functions());
    all
}

/// Every aggregate function persona adds.
pub fn aggregate_functions() -> Vec<Arc<AggregateUDF>> {
    let mut all = clv::aggregate_functions();
    all.extend(behavior::aggregate_functions());
    all.extend(bitmap::aggregate_functions());
    all
}

/// Every window function persona adds.
pub fn window_functions() -> Vec<Arc<WindowUDF>> {
    let mut all = segment::window_functions();
    all.extend(behavior::window_functions());
    all.extend(clean::window_functions());
    all
}

/// A table function: its name, implementation and documentation (DataFusion keeps no
/// documentation for table functions, so it travels alongside).
pub struct TableFunctionDef {
    pub name: &'static str,
    pub function: Arc<dyn TableFunctionImpl>,
    pub doc: &'static Documentation,
}

/// Every table function persona adds.
pub fn table_functions() -> Vec<TableFunctionDef> {
    vec![
        TableFunctionDef {
            name: "clv_summary",
            function: Arc::new(clv::clv_summary::ClvSummaryFunc),
            doc: &clv::clv_summary::DOC,
        },
        TableFunctionDef {
            name: "audience",
            function: Arc::new(bitmap::audience::AudienceFunc),
            doc: &bitmap::audience::AUDIENCE_DOC,
        },
        TableFunctionDef {
            name: "summarize",
            function: Arc::new(stats::summarize::SummarizeFunc),
            doc: &stats::summarize::DOC,
        },
    ]
}

/// Registers persona's table functions with a session (they are not part of a
/// `FunctionRegistry`).
pub fn register_table_functions(ctx: &SessionContext) {
    for f in table_functions() {
        ctx.register_udtf(f.name, f.function);
    }
}

/// Registers every persona function with `registry` (a `SessionContext`, a `SessionState`,
/// or a Ballista executor's registry). A later registration replaces a function of the same
/// name, so persona's functions win over built-ins they deliberately shadow.
pub fn register_all(registry: &mut dyn FunctionRegistry) -> Result<()> {
    for f in scalar_functions() {
        registry.register_udf(f)?;
    }
    for f in aggregate_functions() {
        registry.register_udaf(f)?;
    }
    for f in window_functions() {
        registry.register_udwf(f)?;
    }
    for f in shadowed_builtins() {
        registry.register_udaf(f)?;
    }
    for f in shadowed_scalar_builtins() {
        registry.register_udf(f)?;
    }
    Ok(())
}

/// Built-in aggregates persona replaces with the same function, faster in a case its views
/// need: `count` (grouped COUNT(DISTINCT integer)). Registered by [`register_all`], but not
/// listed as persona's own: documentation and plans name them as DataFusion's.
pub fn shadowed_builtins() -> Vec<Arc<AggregateUDF>> {
    vec![stats::count_distinct::count_udaf()]
}

/// Built-in scalar functions persona replaces the same way ([`builtins`]): `date_trunc` and
/// `array_element`. `list[k]` reaches the latter through [`with_expr_planners`].
pub fn shadowed_scalar_builtins() -> Vec<Arc<ScalarUDF>> {
    vec![
        builtins::date_trunc::date_trunc_udf(),
        builtins::array_element::array_element_udf(),
    ]
}

/// `builder` with persona's expression planners ahead of those it has (call it after
/// `with_default_features`): `list[k]` planned to persona's `array_element`.
pub fn with_expr_planners(mut builder: SessionStateBuilder) -> SessionStateBuilder {
    let planners = builder.expr_planners().get_or_insert_with(Vec::new);
    planners.insert(0, Arc::new(builtins::array_element::ListIndexPlanner));
    builder
}

/// The names of every persona function, to tell them apart from DataFusion's built-ins.
pub fn function_names() -> Vec<String> {
    let mut names: Vec<String> = scalar_functions()
        .iter()
        .map(|f| f.name().to_string())
        .chain(aggregate_functions().iter().map(|f| f.name().to_string()))
        .chain(window_functions().iter().map(|f| f.name().to_string()))
        .chain(table_functions().iter().map(|f| f.name.to_string()))
        .collect();
    names.sort();
    names
}
