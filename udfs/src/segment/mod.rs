//! Scores, segments and levels: RFM scores under the session's method, the segment presets
//! (`classic`, `cn8`, `tier`) with labels in the session's language, and loyalty levels. The
//! settings they read (`persona.rfm.*`, `persona.lang`, `persona.loyalty.*`) make them
//! `Stable`: constant within a query, as a view computed "as of" a session should be.

use std::sync::Arc;

use datafusion::logical_expr::{DocSection, ScalarUDF, WindowUDF};

use crate::config::PersonaOptions;

pub mod label;
pub mod loyalty_level;
pub mod ntile_by;
pub mod rfm_score;
pub mod rfm_segment;

/// Where these functions are listed in the documentation.
pub const DOC_SECTION: DocSection = DocSection {
    include: true,
    label: "Scores and segments",
    description: Some(
        "RFM scores, segment presets and loyalty levels, following the persona.* settings.",
    ),
};

/// The scalar functions of this family.
pub fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        rfm_segment::rfm_segment_udf(),
        loyalty_level::loyalty_level_udf(),
        label::label_udf(),
    ]
}

/// The window functions of this family.
pub fn window_functions() -> Vec<Arc<WindowUDF>> {
    vec![rfm_score::rfm_score_udwf(), ntile_by::ntile_by_udwf()]
}

/// The session's persona options (the defaults outside a persona session).
pub fn options(config: &datafusion::common::config::ConfigOptions) -> PersonaOptions {
    config
        .extensions
        .get::<PersonaOptions>()
        .cloned()
        .unwrap_or_default()
}
