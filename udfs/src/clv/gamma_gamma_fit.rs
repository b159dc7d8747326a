//! `gamma_gamma_fit(frequency, monetary)`: fits the Gamma-Gamma spend model over the rows it
//! aggregates.

use std::sync::{Arc, LazyLock, OnceLock};

use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Documentation, Signature, Volatility,
};

use super::sample::{SampleAccumulator, fit_struct, fit_struct_type, state_fields};
use super::{DOC_SECTION, coerce_documented, gamma_gamma};

/// Shared instance of `gamma_gamma_fit`.
pub fn gamma_gamma_fit_udaf() -> Arc<AggregateUDF> {
    static INSTANCE: OnceLock<Arc<AggregateUDF>> = OnceLock::new();
    INSTANCE
        .get_or_init(|| Arc::new(AggregateUDF::new_from_impl(GammaGammaFitFunc::default())))
        .clone()
}

/// `gamma_gamma_fit`; its accumulator keeps the (x, m) rows (see [`SampleAccumulator`]).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct GammaGammaFitFunc {
    signature: Signature,
}

impl Default for GammaGammaFitFunc {
    fn default() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

/// The fields of `gamma_gamma_fit`'s struct (followed by `converged`).
pub const FIELDS: [&str; 4] = ["p", "q", "v", "log_likelihood"];

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION,
        "Fits the Gamma-Gamma model of spend per transaction (Fader, Hardie & Lee 2005) by maximum \
         likelihood over the rows it aggregates, one row per customer. Only customers with repeat \
         purchases (frequency > 0) and a positive mean spend carry information; other rows are left \
         out. Returns a struct {p, q, v, log_likelihood, converged} for gamma_gamma_expected_spend.",
        "gamma_gamma_fit(frequency, monetary)",
    )
    .with_argument("frequency", "Repeat purchases.")
    .with_argument("monetary", "Mean value of the repeat purchases.")
    .with_sql_example(
        "SELECT gamma_gamma_fit(x, zbar) FROM cdnow_summary;\n-- {p: 6.2488, q: 3.7446, v: 15.4477, log_likelihood: -4055.92, converged: true}",
    )
    .build()
});

fn keep(row: &[f64]) -> bool {
    row[0] > 0.0 && row[1] > 0.0
}

fn finish(rows: &[f64], width: usize) -> Result<ScalarValue> {
    let data: Vec<(f64, f64)> = rows.chunks_exact(width).map(|r| (r[0], r[1])).collect();
    let fit = gamma_gamma::fit(&data).map(|f| {
        (
            vec![f.params.p, f.params.q, f.params.v, f.log_likelihood],
            f.converged,
        )
    });
    fit_struct(&FIELDS, fit)
}

impl AggregateUDFImpl for GammaGammaFitFunc {
    fn name(&self) -> &str {
        "gamma_gamma_fit"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce_documented(self.name(), &DOC, arg_types, None)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(fit_struct_type(&FIELDS))
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(SampleAccumulator::new(2, keep, finish)))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(state_fields(args.name, &["x", "m"]))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}
