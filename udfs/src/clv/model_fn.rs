//! The two shapes every CLV function takes, written once: [`FitAggregate`], an aggregate that
//! collects one numeric row per customer and fits a model when evaluated, and [`ModelScalar`],
//! a scalar that applies a fitted model's parameters struct row by row. A function file then
//! holds only what is its own: its documentation, which rows it keeps and the model call.

use std::hash::{Hash, Hasher};
use std::sync::{Arc, LazyLock};

use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, ColumnarValue, Documentation, ScalarFunctionArgs,
    ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use super::sample::{SampleAccumulator, fit_struct_type, state_fields};
use super::{apply_model, coerce_documented};

/// An aggregate that fits a model: its accumulator keeps the rows that pass `keep` (one value
/// per input) and `finish` turns them into the parameters struct of `fields`.
#[derive(Debug)]
pub struct FitAggregate {
    pub name: &'static str,
    pub doc: &'static LazyLock<Documentation>,
    /// Names of the inputs, for the partial-state fields.
    pub inputs: &'static [&'static str],
    /// The Float64 fields of the result; `converged` follows them.
    pub fields: &'static [&'static str],
    pub keep: fn(&[f64]) -> bool,
    pub finish: fn(&[f64], usize) -> Result<ScalarValue>,
    signature: Signature,
}

impl FitAggregate {
    /// The aggregate as a DataFusion function.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(
        name: &'static str,
        doc: &'static LazyLock<Documentation>,
        inputs: &'static [&'static str],
        fields: &'static [&'static str],
        keep: fn(&[f64]) -> bool,
        finish: fn(&[f64], usize) -> Result<ScalarValue>,
    ) -> Arc<AggregateUDF> {
        Arc::new(AggregateUDF::new_from_impl(FitAggregate {
            name,
            doc,
            inputs,
            fields,
            keep,
            finish,
            signature: Signature::user_defined(Volatility::Immutable),
        }))
    }
}

impl PartialEq for FitAggregate {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for FitAggregate {}

impl Hash for FitAggregate {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl AggregateUDFImpl for FitAggregate {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce_documented(self.name, self.doc, arg_types, None)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(fit_struct_type(self.fields))
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(SampleAccumulator::new(
            self.inputs.len(),
            self.keep,
            self.finish,
        )))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(state_fields(args.name, self.inputs))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(self.doc)
    }
}

/// A scalar that applies fitted parameters: the first argument is the parameters struct of
/// `fit` (its `fields` are read), the rest are numbers; `apply` gets both per row and returns
/// the value, or `None` (SQL NULL) where the model has no answer.
#[derive(Debug)]
pub struct ModelScalar {
    pub name: &'static str,
    pub doc: &'static LazyLock<Documentation>,
    pub fit: &'static str,
    pub fields: &'static [&'static str],
    pub apply: fn(&[f64], &[f64]) -> Option<f64>,
    signature: Signature,
}

impl ModelScalar {
    /// The scalar as a DataFusion function.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(
        name: &'static str,
        doc: &'static LazyLock<Documentation>,
        fit: &'static str,
        fields: &'static [&'static str],
        apply: fn(&[f64], &[f64]) -> Option<f64>,
    ) -> Arc<ScalarUDF> {
        Arc::new(ScalarUDF::new_from_impl(ModelScalar {
            name,
            doc,
            fit,
            fields,
            apply,
            signature: Signature::user_defined(Volatility::Immutable),
        }))
    }
}

impl PartialEq for ModelScalar {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for ModelScalar {}

impl Hash for ModelScalar {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl ScalarUDFImpl for ModelScalar {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce_documented(
            self.name,
            self.doc,
            arg_types,
            Some((self.fit, self.fields)),
        )
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        apply_model(&args.args, args.number_rows, self.fields, self.apply)
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(self.doc)
    }
}
