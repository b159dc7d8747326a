//! Session-level functions every view builds on.

use std::sync::Arc;

use datafusion::logical_expr::ScalarUDF;

pub mod as_of;
pub mod current_setting;

/// The scalar functions of this family.
pub fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![as_of::as_of_udf(), current_setting::current_setting_udf()]
}
