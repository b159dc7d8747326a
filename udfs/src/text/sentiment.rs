//! `sentiment(text)`, `sentiment_label(text)` and `text_language(text)`.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Float64Builder, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::{DOC_SECTION, detect, for_each_text, label, sentiment_score};
use crate::args::is_text;
use crate::user_defined_udf;

user_defined_udf!(
    SentimentFunc,
    sentiment_udf,
    Volatility::Immutable,
    "`sentiment`."
);
user_defined_udf!(
    SentimentLabelFunc,
    sentiment_label_udf,
    Volatility::Immutable,
    "`sentiment_label`."
);
user_defined_udf!(
    TextLanguageFunc,
    text_language_udf,
    Volatility::Immutable,
    "`text_language`."
);

static SENTIMENT_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION,
        "The sentiment of a text, from -1 (most negative) to 1 (most positive), for Chinese, \
         English and mixed text. English is scored by VADER's rules and lexicon (negation, \
         degree words, `but`, capitals, `!`, emoticons and emoji); Chinese by a model trained on \
         labelled reviews over jieba's words, with negation and degree words; mixed text by \
         both, weighted by each language's share. Other languages, empty text and text \
         without sentiment words give 0; NULL gives NULL. Only the first 8 KiB of a value are \
         read.",
        "sentiment(text)",
    )
    .with_argument("text", "A comment, review or message.")
    .with_sql_example(
        "SELECT round(sentiment('The battery is great, but the screen is awful.'), 3);\n\
         -- -0.351 (after `but` counts more)\n\
         SELECT round(sentiment('物流很快，质量非常好'), 2);\n\
         -- 0.97",
    )
    .build()
});

static LABEL_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION,
        "`positive` when sentiment(text) >= 0.05, `negative` when it is <= -0.05, otherwise \
         `neutral` (VADER's thresholds); NULL for NULL.",
        "sentiment_label(text)",
    )
    .with_argument("text", "A comment, review or message.")
    .with_sql_example("SELECT sentiment_label('质量太差了，不推荐');\n-- negative")
    .build()
});

static LANGUAGE_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION,
        "The language sentiment() reads a text as: `zh` (Han characters), `en` (Latin \
         letters), `mixed` (both, the smaller at least 30% of the text, a Han character \
         weighing as two letters), `other` (kana, Hangul, Cyrillic and other scripts, or Latin \
         text with many accented letters) or `none` (no letters: empty, digits, punctuation, \
         emoji). NULL for NULL.",
        "text_language(text)",
    )
    .with_argument("text", "Any text.")
    .with_sql_example(
        "SELECT text_language('这个phone的battery很差'), text_language('Muy bien, señor, \
         está perfecto');\n-- mixed | other",
    )
    .build()
});

fn one_text(name: &str, arg_types: &[DataType]) -> Result<Vec<DataType>> {
    match arg_types {
        [t] if is_text(t) => Ok(vec![if t.is_null() {
            DataType::Utf8
        } else {
            t.clone()
        }]),
        [t] => plan_err!("{name} takes a text, not {t}"),
        _ => plan_err!("{name} takes one argument, a text"),
    }
}

/// A name for each text (NULL for NULL), as a Utf8 array.
fn names(args: &ScalarFunctionArgs, name: impl Fn(&str) -> &'static str) -> Result<ColumnarValue> {
    let text = args.args[0].to_array(args.number_rows)?;
    let mut out = StringBuilder::with_capacity(text.len(), text.len() * 8);
    for_each_text(&text, |t| out.append_option(t.map(&name)))?;
    Ok(ColumnarValue::Array(Arc::new(out.finish())))
}

impl ScalarUDFImpl for SentimentFunc {
    fn name(&self) -> &str {
        "sentiment"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        one_text(self.name(), arg_types)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let text = args.args[0].to_array(args.number_rows)?;
        let mut out = Float64Builder::with_capacity(text.len());
        for_each_text(&text, |t| out.append_option(t.map(sentiment_score)))?;
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&SENTIMENT_DOC)
    }
}

impl ScalarUDFImpl for SentimentLabelFunc {
    fn name(&self) -> &str {
        "sentiment_label"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        one_text(self.name(), arg_types)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        names(&args, |t| label(sentiment_score(t)))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&LABEL_DOC)
    }
}

impl ScalarUDFImpl for TextLanguageFunc {
    fn name(&self) -> &str {
        "text_language"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        one_text(self.name(), arg_types)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        names(&args, |t| detect(super::cap(t)).code())
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&LANGUAGE_DOC)
    }
}
