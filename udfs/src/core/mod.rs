//! Session-level functions every view builds on.

use std::sync::Arc;

use datafusion::logical_expr::ScalarUDF;

pub mod as_of;

/// The scalar functions of this family.
pub fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![as_of::as_of_udf()]
}
