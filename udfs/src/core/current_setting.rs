//! `current_setting(name)`: a session setting's value, as PostgreSQL spells it, so views can
//! read their parameters (`persona.loyalty.points_per_order`, …) and BI clients that ask for
//! settings get an answer.

use std::sync::LazyLock;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::scalar_doc_sections::DOC_SECTION_OTHER;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use crate::args::is_text;
use crate::user_defined_udf;

user_defined_udf!(
    CurrentSettingFunc,
    current_setting_udf,
    Volatility::Stable,
    "Reads a setting from the session's configuration; `Stable`, so it is folded once per query."
);

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_OTHER,
        "The value of a session setting as text (NULL when it has no value), such as \
         'persona.rfm.method' or 'datafusion.execution.batch_size'. SHOW ALL lists them.",
        "current_setting(name)",
    )
    .with_argument("name", "The setting's full name, as a string constant.")
    .with_sql_example("SELECT current_setting('persona.lang');\n-- zh")
    .build()
});

impl ScalarUDFImpl for CurrentSettingFunc {
    fn name(&self) -> &str {
        "current_setting"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types {
            [t] if is_text(t) => Ok(vec![DataType::Utf8]),
            _ => plan_err!("current_setting takes one argument, the setting's name as a string"),
        }
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let ColumnarValue::Scalar(ScalarValue::Utf8(Some(name))) = &args.args[0] else {
            return exec_err!("current_setting needs the setting's name as a string constant");
        };
        let wanted = name.trim().to_ascii_lowercase();
        match args
            .config_options
            .entries()
            .into_iter()
            .find(|e| e.key.to_ascii_lowercase() == wanted)
        {
            Some(e) => Ok(ColumnarValue::Scalar(ScalarValue::Utf8(e.value))),
            None => exec_err!("unknown setting '{name}'; SHOW ALL lists the settings"),
        }
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}
