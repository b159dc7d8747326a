//! `bgnbd_fit(frequency, recency, T)`: fits the BG/NBD model over the rows it aggregates.

use std::sync::{Arc, LazyLock, OnceLock};

use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Documentation, Signature, Volatility,
};

use super::sample::{SampleAccumulator, fit_struct, fit_struct_type, state_fields};
use super::{DOC_SECTION, bgnbd, coerce_documented};

/// Shared instance of `bgnbd_fit`.
pub fn bgnbd_fit_udaf() -> Arc<AggregateUDF> {
    static INSTANCE: OnceLock<Arc<AggregateUDF>> = OnceLock::new();
    INSTANCE
        .get_or_init(|| Arc::new(AggregateUDF::new_from_impl(BgNbdFitFunc::default())))
        .clone()
}

/// `bgnbd_fit`; its accumulator keeps the (x, t_x, T) rows (see [`SampleAccumulator`]).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct BgNbdFitFunc {
    signature: Signature,
}

impl Default for BgNbdFitFunc {
    fn default() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION,
        "Fits the BG/NBD model of repeat buying (Fader, Hardie & Lee 2005) by maximum likelihood over \
         the rows it aggregates, one row per customer. Returns a struct {r, alpha, a, b, log_likelihood, \
         converged}; pass it to bgnbd_expected_purchases and bgnbd_p_alive. Rows with a NULL or a \
         negative value, or recency above T, are left out. converged is false when the optimiser \
         stopped before the likelihood settled.",
        "bgnbd_fit(frequency, recency, T)",
    )
    .with_argument("frequency", "Repeat purchases: the number of purchase periods after the first.")
    .with_argument("recency", "Time from the first to the last purchase.")
    .with_argument("T", "Time from the first purchase to the end of the observation.")
    .with_sql_example(
        "SELECT bgnbd_fit(x, t_x, \"T\") AS p FROM cdnow_summary;\n-- {r: 0.2426, alpha: 4.4135, a: 0.7929, b: 2.4258, log_likelihood: -9582.43, converged: true}",
    )
    .build()
});

impl AggregateUDFImpl for BgNbdFitFunc {
    fn name(&self) -> &str {
        "bgnbd_fit"
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
        Ok(Box::new(SampleAccumulator::new(3, keep, finish)))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(state_fields(args.name, &["x", "t_x", "t"]))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}

/// BG/NBD parameters and fit quality, the fields of `bgnbd_fit`'s struct.
pub const FIELDS: [&str; 5] = ["r", "alpha", "a", "b", "log_likelihood"];

fn keep(row: &[f64]) -> bool {
    let (x, t_x, t) = (row[0], row[1], row[2]);
    x >= 0.0 && t_x >= 0.0 && t_x <= t && t > 0.0
}

fn finish(rows: &[f64], width: usize) -> Result<ScalarValue> {
    let data: Vec<(f64, f64, f64)> = rows
        .chunks_exact(width)
        .map(|r| (r[0], r[1], r[2]))
        .collect();
    let fit = bgnbd::fit(&data).map(|f| {
        let p = f.params;
        (vec![p.r, p.alpha, p.a, p.b, f.log_likelihood], f.converged)
    });
    fit_struct(&FIELDS, fit)
}
