//! Statistics SQL lacks: the normal distribution, for the p-values and confidence intervals of
//! campaign lift, and `summarize`, a profile of every column of a table.

use std::sync::Arc;

use datafusion::logical_expr::{DocSection, ScalarUDF};

pub mod count_distinct;
pub mod normal_cdf;
pub mod summarize;

/// Where these functions are listed in the documentation.
pub const DOC_SECTION: DocSection = DocSection {
    include: true,
    label: "Statistics",
    description: Some("Distribution functions for tests and intervals, and column profiles."),
};

/// The scalar functions of this family.
pub fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![normal_cdf::normal_cdf_udf()]
}
