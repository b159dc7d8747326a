//! `sentiment(text)`, `sentiment_label(text)` and `text_language(text)`.

use std::sync::{Arc, LazyLock, OnceLock};

use datafusion::arrow::array::{ArrayRef, Float64Builder, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};

use super::{DOC_SECTION, cap, detect, for_each_text, label, sentiment_score};
use crate::args::is_text;

/// Which of the three functions of one text this is: they differ only in what they give back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Sentiment,
    Label,
    Language,
}

/// `sentiment`, `sentiment_label` or `text_language`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct TextFunc {
    kind: Kind,
    signature: Signature,
}

fn shared(cell: &'static OnceLock<Arc<ScalarUDF>>, kind: Kind) -> Arc<ScalarUDF> {
    cell.get_or_init(|| {
        Arc::new(ScalarUDF::new_from_impl(TextFunc {
            kind,
            signature: Signature::user_defined(Volatility::Immutable),
        }))
    })
    .clone()
}

/// `sentiment(text)`.
pub fn sentiment_udf() -> Arc<ScalarUDF> {
    static CELL: OnceLock<Arc<ScalarUDF>> = OnceLock::new();
    shared(&CELL, Kind::Sentiment)
}

/// `sentiment_label(text)`.
pub fn sentiment_label_udf() -> Arc<ScalarUDF> {
    static CELL: OnceLock<Arc<ScalarUDF>> = OnceLock::new();
    shared(&CELL, Kind::Label)
}

/// `text_language(text)`.
pub fn text_language_udf() -> Arc<ScalarUDF> {
    static CELL: OnceLock<Arc<ScalarUDF>> = OnceLock::new();
    shared(&CELL, Kind::Language)
}

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

impl ScalarUDFImpl for TextFunc {
    fn name(&self) -> &str {
        match self.kind {
            Kind::Sentiment => "sentiment",
            Kind::Label => "sentiment_label",
            Kind::Language => "text_language",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let name = self.name();
        match arg_types {
            [t] if t.is_null() => Ok(vec![DataType::Utf8]),
            [t] if is_text(t) => Ok(vec![t.clone()]),
            [t] => plan_err!("{name} takes a text, not {t}"),
            _ => plan_err!("{name} takes one argument, a text"),
        }
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(match self.kind {
            Kind::Sentiment => DataType::Float64,
            Kind::Label | Kind::Language => DataType::Utf8,
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let text = args.args[0].to_array(args.number_rows)?;
        let out: ArrayRef = match self.kind {
            Kind::Sentiment => {
                let mut out = Float64Builder::with_capacity(text.len());
                for_each_text(&text, |t| out.append_option(t.map(sentiment_score)))?;
                Arc::new(out.finish())
            }
            Kind::Label | Kind::Language => {
                let name = |t: &str| match self.kind {
                    Kind::Label => label(sentiment_score(t)),
                    _ => detect(cap(t)).code(),
                };
                let mut out = StringBuilder::with_capacity(text.len(), text.len() * 8);
                for_each_text(&text, |t| out.append_option(t.map(name)))?;
                Arc::new(out.finish())
            }
        };
        Ok(ColumnarValue::Array(out))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(match self.kind {
            Kind::Sentiment => &SENTIMENT_DOC,
            Kind::Label => &LABEL_DOC,
            Kind::Language => &LANGUAGE_DOC,
        })
    }
}
