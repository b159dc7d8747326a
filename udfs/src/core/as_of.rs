//! `as_of()`: the session's as-of date, so every view computes "today" the same way.

use std::sync::LazyLock;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::scalar_doc_sections::DOC_SECTION_DATETIME;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use crate::config::PersonaOptions;
use crate::make_udf_function;

make_udf_function!(AsOfFunc, as_of_udf);

/// `as_of()` reads `persona.as_of`. It is `Stable` like `now()`: constant within a query, so the
/// optimizer folds it into a literal and Parquet statistics can prune on it.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct AsOfFunc {
    signature: Signature,
}

impl Default for AsOfFunc {
    fn default() -> Self {
        Self {
            signature: Signature::nullary(Volatility::Stable),
        }
    }
}

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_DATETIME,
        "The date the session computes profiles as of: the value of `persona.as_of` \
         (set it with `SET persona.as_of = '2024-06-30'`). By default it is the latest order \
         date in the data, so recency and churn are measured from the end of the data, not from today.",
        "as_of()",
    )
    .with_sql_example("SELECT as_of();\n-- 2024-12-31\nSELECT customer_id, as_of() - max(order_ts::date) AS days_since_last_order\nFROM orders GROUP BY customer_id;")
    .build()
});

impl ScalarUDFImpl for AsOfFunc {
    fn name(&self) -> &str {
        "as_of"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        if !arg_types.is_empty() {
            return plan_err!("as_of() takes no arguments, got {}", arg_types.len());
        }
        Ok(DataType::Date32)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let options = args.config_options.extensions.get::<PersonaOptions>();
        match options.and_then(|o| o.as_of_days()) {
            Some(days) => Ok(ColumnarValue::Scalar(ScalarValue::Date32(Some(days)))),
            None => exec_err!(
                "as_of() has no date: set one with SET persona.as_of = 'YYYY-MM-DD' or as_of in persona.toml"
            ),
        }
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}
