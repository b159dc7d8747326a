//! `label(en, zh)`: the label in the session's language, so tag files and views name things
//! once in both languages.

use std::sync::LazyLock;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::{DOC_SECTION, options};
use crate::args::is_text;
use crate::config::Lang;
use crate::user_defined_udf;

user_defined_udf!(LabelFunc, label_udf, Volatility::Stable, "`label`.");

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION,
        "The English or the Chinese text, whichever persona.lang asks for.",
        "label(en, zh)",
    )
    .with_argument("en", "The English label.")
    .with_argument("zh", "The Chinese label.")
    .with_sql_example("SET persona.lang = 'en';\nSELECT label('active', '活跃');\n-- active")
    .build()
});

impl ScalarUDFImpl for LabelFunc {
    fn name(&self) -> &str {
        "label"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types {
            [a, b] if is_text(a) && is_text(b) => Ok(vec![DataType::Utf8, DataType::Utf8]),
            _ => plan_err!("label takes two texts, the English and the Chinese label"),
        }
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let pick = match options(&args.config_options).lang {
            Lang::En => 0,
            Lang::Zh => 1,
        };
        Ok(args.args[pick].clone())
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}
