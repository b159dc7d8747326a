//! Behaviour analytics with ClickHouse's semantics, so queries port: `retention`,
//! `window_funnel`, `sequence_match` and `sequence_count` (aggregates over a customer's
//! events) and the window function `sessionize`.

use std::sync::Arc;

use datafusion::logical_expr::{AggregateUDF, DocSection, WindowUDF};

pub mod cohort_retention;
pub mod event_lists;
pub mod events;
pub mod retention;
pub mod sequence;
pub mod sessionize;
pub mod window_funnel;

/// Where these functions are listed in the documentation.
pub const DOC_SECTION: DocSection = DocSection {
    include: true,
    label: "Behaviour",
    description: Some(
        "Retention, funnels, event sequences and sessions over customers' events, with ClickHouse's semantics.",
    ),
};

/// The aggregate functions of this family.
pub fn aggregate_functions() -> Vec<Arc<AggregateUDF>> {
    vec![
        retention::retention_udaf(),
        cohort_retention::cohort_retention_udaf(),
        window_funnel::window_funnel_udaf(),
        sequence::sequence_match_udaf(),
        sequence::sequence_count_udaf(),
    ]
}

/// The window functions of this family.
pub fn window_functions() -> Vec<Arc<WindowUDF>> {
    vec![sessionize::sessionize_udwf()]
}
