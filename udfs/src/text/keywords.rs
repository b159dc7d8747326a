//! `keywords(text, k)`: the top-k keywords of a text by TF-IDF over jieba's words.
//!
//! jieba segments Chinese and keeps Latin words whole, so one pass serves Chinese, English
//! and mixed text. Term frequencies are weighed by jieba's bundled IDF table (Chinese); words
//! it does not know (most English words) get its median IDF, which ranks them by frequency.
//! Stop words in both languages, words of one character, English words of fewer than three
//! letters, and numbers are left out; ties go in alphabetical order, so results are stable.

use std::collections::BTreeSet;
use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, ListBuilder, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Int64Type};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use jieba_rs::{KeywordExtract, KeywordExtractConfig, TfIdf};

use super::{DOC_SECTION, cap, fold, for_each_text, zh::JIEBA};
use crate::args::{arrays, is_text};
use crate::user_defined_udf;

user_defined_udf!(
    KeywordsFunc,
    keywords_udf,
    Volatility::Immutable,
    "`keywords`."
);

/// The most keywords one call returns.
pub const MAX_K: i64 = 100;

const ENGLISH_STOP_WORDS: &str = "a about above after again against all also am an and any are \
    aren't as at be because been before being below between both but by can can't cannot could \
    couldn't did didn't do does doesn't doing don't down during each even ever every few for from \
    further get gets getting got had hadn't has hasn't have haven't having he her here hers herself him himself \
    his how i if in into is isn't it it's its itself just let's like made make many me might more \
    most much must mustn't my myself no nor not now of off on once one only or other ought our ours \
    ourselves out over own really same she should shouldn't so some such than that that's the their \
    theirs them themselves then there there's these they this those though through to too under \
    until up upon us very was wasn't we well were weren't what when where which while who whom why \
    will with won't would wouldn't yet you your yours yourself yourselves also still back way";

const CHINESE_STOP_WORDS: &str = "我们 你们 他们 她们 它们 自己 这个 那个 这些 那些 这样 那样 \
    这么 那么 这里 那里 一个 一些 一下 一点 一直 一样 一起 没有 就是 还是 但是 不过 因为 所以 而且 \
    并且 如果 虽然 然后 已经 可以 可能 应该 什么 怎么 为什么 时候 现在 觉得 感觉 比较 非常 特别 \
    真的 还有 只是 只有 而是 或者 以及 其实 当然 确实 的话 之后 之前 以后 以前 东西 大家 有点 有些 \
    不是 不会 不能 不要 还要 还会 就要 总是 每次 今天 昨天 明天 一次 两个 一定 完全 实在 本来";

static EXTRACTOR: LazyLock<TfIdf> = LazyLock::new(|| {
    let stop_words: BTreeSet<String> = ENGLISH_STOP_WORDS
        .split_whitespace()
        .chain(CHINESE_STOP_WORDS.split_whitespace())
        .map(str::to_string)
        .collect();
    let mut tfidf = TfIdf::default();
    *tfidf.config_mut() = KeywordExtractConfig::builder()
        .set_stop_words(stop_words)
        .min_keyword_length(2)
        .use_hmm(true)
        .build();
    tfidf
});

/// Whether a candidate from the extractor is a word worth showing.
fn is_keyword(word: &str) -> bool {
    let mut letters = 0;
    let mut latin_only = true;
    for c in word.chars() {
        if c.is_alphabetic() {
            letters += 1;
            latin_only &= c.is_ascii();
        } else if !c.is_numeric() && c != '-' && c != '\'' {
            return false;
        }
    }
    letters > 0 && !(latin_only && word.chars().count() < 3)
}

/// The top `k` keywords of a text, best first.
pub fn keywords(text: &str, k: usize) -> Vec<String> {
    if k == 0 {
        return Vec::new();
    }
    let folded = fold(cap(text));
    EXTRACTOR
        .extract_keywords(&JIEBA, &folded, k * 2 + 8, Vec::new())
        .into_iter()
        .map(|kw| kw.keyword)
        .filter(|w| is_keyword(w))
        .take(k)
        .collect()
}

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION,
        "The top k keywords of a text, best first: TF-IDF over jieba's words (Chinese and \
         English alike), with stop words of both languages, one-character words, English words \
         shorter than three letters and numbers left out. English words are lower-cased; ties \
         go in alphabetical order. NULL text or k gives NULL; k is at most 100.",
        "keywords(text, k)",
    )
    .with_argument("text", "Any text.")
    .with_argument("k", "How many keywords, 0 to 100.")
    .with_sql_example(
        "SELECT keywords('物流太慢了，客服态度也差，物流三天都没更新', 3);\n-- [物流, 太慢, 客服]",
    )
    .build()
});

impl ScalarUDFImpl for KeywordsFunc {
    fn name(&self) -> &str {
        "keywords"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types {
            [t, k] if is_text(t) && (k.is_integer() || k.is_null()) => Ok(vec![
                if t.is_null() {
                    DataType::Utf8
                } else {
                    t.clone()
                },
                DataType::Int64,
            ]),
            [_, _] => plan_err!("keywords takes a text and a whole number k"),
            _ => plan_err!("keywords takes two arguments: keywords(text, k)"),
        }
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::new_list(DataType::Utf8, true))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = arrays(&args.args, args.number_rows)?;
        // coerce_types made k Int64.
        let ks = arrays[1].as_primitive::<Int64Type>();
        if let Some(bad) = ks.iter().flatten().find(|k| !(0..=MAX_K).contains(k)) {
            return exec_err!("keywords: k must be between 0 and {MAX_K}, not {bad}");
        }
        let mut out = ListBuilder::new(StringBuilder::new())
            .with_field(Arc::new(Field::new_list_field(DataType::Utf8, true)));
        let mut row = 0;
        for_each_text(&arrays[0], |t| {
            match (t, ks.is_valid(row).then(|| ks.value(row))) {
                (Some(t), Some(k)) => {
                    for w in keywords(t, k as usize) {
                        out.values().append_value(w);
                    }
                    out.append(true);
                }
                _ => out.append(false),
            }
            row += 1;
        })?;
        let list: ArrayRef = Arc::new(out.finish());
        Ok(ColumnarValue::Array(list))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}
