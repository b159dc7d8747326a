//! `gamma_gamma_expected_spend(params, frequency, monetary)`: a customer's expected mean spend
//! per transaction.

use std::sync::LazyLock;

use datafusion::arrow::array::{Array, ArrayRef, Float64Array, StructArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::gamma_gamma::GammaGamma;
use super::{DOC_SECTION, check_params, coerce_numeric, floats};
use crate::make_udf_function;

make_udf_function!(GammaGammaExpectedSpendFunc, gamma_gamma_expected_spend_udf);

/// E[mean spend | x, m] under fitted Gamma-Gamma parameters.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct GammaGammaExpectedSpendFunc {
    signature: Signature,
}

impl Default for GammaGammaExpectedSpendFunc {
    fn default() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION,
        "The mean spend per transaction a customer is expected to have, given their frequency and \
         mean spend so far, under parameters from gamma_gamma_fit: a weighted mean of the \
         population's mean spend and the customer's own, weighted towards the customer's the more \
         purchases they made. For a customer without repeat purchases it is the population mean.",
        "gamma_gamma_expected_spend(params, frequency, monetary)",
    )
    .with_argument("params", "The struct gamma_gamma_fit returns.")
    .with_argument("frequency", "Repeat purchases.")
    .with_argument("monetary", "Mean value of the repeat purchases.")
    .with_sql_example(
        "WITH g AS (SELECT gamma_gamma_fit(x, zbar) AS g FROM cdnow_summary)\nSELECT \"ID\", gamma_gamma_expected_spend(g.g, x, zbar) FROM cdnow_summary, g;",
    )
    .build()
});

impl ScalarUDFImpl for GammaGammaExpectedSpendFunc {
    fn name(&self) -> &str {
        "gamma_gamma_expected_spend"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() != 3 {
            return plan_err!(
                "gamma_gamma_expected_spend takes 3 arguments (params, frequency, monetary), got {}",
                arg_types.len()
            );
        }
        check_params(
            self.name(),
            "gamma_gamma_fit",
            &arg_types[0],
            &["p", "q", "v"],
        )?;
        coerce_numeric(self.name(), arg_types, 1)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        let arrays: Vec<ArrayRef> = ColumnarValue::values_to_arrays(&args.args)?;
        let Some(s) = arrays[0].as_any().downcast_ref::<StructArray>() else {
            return exec_err!("the parameters must be the struct gamma_gamma_fit returns");
        };
        let field = |name: &str| -> Result<Float64Array> {
            match s.column_by_name(name) {
                Some(c) => floats(c),
                None => exec_err!("the parameters have no field '{name}'"),
            }
        };
        let (p, q, v) = (field("p")?, field("q")?, field("v")?);
        let (x, m) = (floats(&arrays[1])?, floats(&arrays[2])?);
        let out: Float64Array = (0..n)
            .map(|i| {
                let valid = [&p, &q, &v, &x, &m].iter().all(|a| a.is_valid(i)) && s.is_valid(i);
                if !valid {
                    return None;
                }
                GammaGamma {
                    p: p.value(i),
                    q: q.value(i),
                    v: v.value(i),
                }
                .expected_spend(x.value(i), m.value(i))
            })
            .collect();
        Ok(ColumnarValue::Array(std::sync::Arc::new(out)))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}
