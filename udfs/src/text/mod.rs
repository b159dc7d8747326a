//! Text: sentiment and keywords for Chinese, English and mixed text.
//!
//! Each value's language is found from its letters ([`detect`]): Han characters make Chinese,
//! Latin letters English, both in a real share make mixed text, and kana, Hangul, Cyrillic,
//! Arabic and the like (or Latin text full of accents) make `other`, which scores neutral.
//! English goes to the VADER port ([`vader`]), Chinese to the jieba-segmented logistic
//! regression ([`zh`]), and mixed text to both, weighted by how much of the text each language
//! holds. Only the first [`MAX_BYTES`] of a value are read, so one huge comment costs no more
//! than a long one.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{DocSection, ScalarUDF};

pub mod keywords;
pub mod sentiment;
pub mod vader;
pub mod zh;

/// Where these functions are listed in the documentation.
pub const DOC_SECTION: DocSection = DocSection {
    include: true,
    label: "Text",
    description: Some("Sentiment, language and keywords of Chinese, English and mixed text."),
};

/// The scalar functions of this family.
pub fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        sentiment::sentiment_udf(),
        sentiment::sentiment_label_udf(),
        sentiment::text_language_udf(),
        keywords::keywords_udf(),
    ]
}

/// How much of a value is read: 8 KiB, about 2,700 Chinese characters or 1,400 English words.
pub const MAX_BYTES: usize = 8192;

/// The text up to [`MAX_BYTES`], cut at a character boundary.
pub fn cap(text: &str) -> &str {
    if text.len() <= MAX_BYTES {
        return text;
    }
    let mut end = MAX_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Full-width ASCII (as Chinese keyboards type it) as ASCII, and the ideographic space as a
/// space.
pub fn fold_width(c: char) -> char {
    match c as u32 {
        0xFF01..=0xFF5E => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        0x3000 => ' ',
        _ => c,
    }
}

/// Width-folded and ASCII-lower-cased, the form the Chinese model and keywords read.
pub fn fold(text: &str) -> String {
    text.chars()
        .map(|c| fold_width(c).to_ascii_lowercase())
        .collect()
}

/// A value's language, as [`detect`] finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    Chinese,
    English,
    Mixed,
    /// Letters of another script, or Latin text with many accented letters.
    Other,
    /// No letters at all: empty, digits, punctuation or emoji only.
    Unknown,
}

impl Language {
    pub fn code(self) -> &'static str {
        match self {
            Language::Chinese => "zh",
            Language::English => "en",
            Language::Mixed => "mixed",
            Language::Other => "other",
            Language::Unknown => "none",
        }
    }
}

fn is_han(c: char) -> bool {
    matches!(c as u32, 0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0xF900..=0xFAFF | 0x20000..=0x2FFFF)
}

fn is_kana(c: char) -> bool {
    matches!(c as u32, 0x3040..=0x30FF | 0x31F0..=0x31FF | 0xFF66..=0xFF9F)
}

/// Letter counts of a text, as [`detect`] weighs them.
#[derive(Debug, Default, Clone, Copy)]
pub struct Letters {
    pub han: usize,
    pub latin: usize,
    accented: usize,
    kana: usize,
    foreign: usize,
}

impl Letters {
    pub fn count(text: &str) -> Letters {
        let mut l = Letters::default();
        for c in text.chars() {
            let c = fold_width(c);
            if c.is_ascii_alphabetic() {
                l.latin += 1;
            } else if c.is_ascii() {
                continue;
            } else if is_han(c) {
                l.han += 1;
            } else if is_kana(c) {
                l.kana += 1;
            } else if matches!(c as u32, 0xC0..=0x24F) && c.is_alphabetic() {
                l.latin += 1;
                l.accented += 1;
            } else if c.is_alphabetic() {
                l.foreign += 1;
            }
        }
        l
    }

    /// The weight of the Chinese and the English part: a Han character carries about as much
    /// as two Latin letters.
    pub fn weights(&self) -> (f64, f64) {
        (self.han as f64, self.latin as f64 / 2.0)
    }

    /// The language these letters make.
    pub fn language(&self) -> Language {
        // Japanese writes Han characters too; kana give it away.
        if self.kana >= 2 || (self.kana > 0 && self.kana * 10 >= self.han) {
            return Language::Other;
        }
        let (zh, mut en) = self.weights();
        let mut foreign = self.foreign as f64;
        // French, Spanish, German, Vietnamese …: Latin letters, but many of them accented.
        if self.accented >= 2 && self.accented * 20 >= self.latin {
            foreign += en;
            en = 0.0;
        }
        if zh + en == 0.0 {
            return if foreign > 0.0 {
                Language::Other
            } else {
                Language::Unknown
            };
        }
        if foreign > zh + en {
            return Language::Other;
        }
        let minority = zh.min(en) / (zh + en);
        if minority >= 0.3 {
            Language::Mixed
        } else if zh > en {
            Language::Chinese
        } else {
            Language::English
        }
    }
}

/// The language of a text, from its letters.
pub fn detect(text: &str) -> Language {
    Letters::count(text).language()
}

/// The sentiment of a text in [-1, 1]: VADER for English (and for emoji-only text, which
/// VADER reads through the emoji's descriptions), the Chinese model for Chinese, both for
/// mixed text, and 0 for other languages.
pub fn sentiment_score(text: &str) -> f64 {
    let text = cap(text);
    let letters = Letters::count(text);
    match letters.language() {
        Language::English | Language::Unknown => vader::compound(text),
        Language::Chinese => zh::score(&fold(text)),
        Language::Other => 0.0,
        Language::Mixed => {
            let (wz, we) = letters.weights();
            // Words glued to Han characters (`这个phone很好`) become words of their own.
            let latin_only: String = text
                .chars()
                .map(|c| if is_han(c) { ' ' } else { c })
                .collect();
            let en = vader::compound(&latin_only);
            let zh = zh::score(&fold(text));
            match (zh != 0.0, en != 0.0) {
                (true, true) => (wz * zh + we * en) / (wz + we),
                (true, false) => zh,
                _ => en,
            }
        }
    }
}

/// The label thresholds, VADER's: positive from 0.05, negative up to -0.05.
pub const POSITIVE_FROM: f64 = 0.05;
pub const NEGATIVE_UP_TO: f64 = -0.05;

pub fn label(score: f64) -> &'static str {
    if score >= POSITIVE_FROM {
        "positive"
    } else if score <= NEGATIVE_UP_TO {
        "negative"
    } else {
        "neutral"
    }
}

/// Calls `f` with each value of a text array (Utf8, LargeUtf8, Utf8View or all-NULL).
pub fn for_each_text(array: &ArrayRef, mut f: impl FnMut(Option<&str>)) -> Result<()> {
    match array.data_type() {
        DataType::Utf8 => array.as_string::<i32>().iter().for_each(f),
        DataType::LargeUtf8 => array.as_string::<i64>().iter().for_each(f),
        DataType::Utf8View => array.as_string_view().iter().for_each(f),
        DataType::Null => (0..array.len()).for_each(|_| f(None)),
        other => return exec_err!("expected text, got {other}"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages_are_told_apart_by_their_letters() {
        for (text, lang) in [
            ("质量很好，物流也快", Language::Chinese),
            ("Great phone, fast delivery", Language::English),
            (
                "这个手机的电池很差 but the screen is great",
                Language::Mixed,
            ),
            (
                "这个phone的battery很差 but the screen is great",
                Language::English,
            ),
            ("这款iPhone很好用，推荐购买", Language::Chinese),
            ("東京に行きました。とても楽しかった", Language::Other),
            ("Отличный телефон", Language::Other),
            ("Très bien, le téléphone est génial", Language::Other),
            ("좋아요 정말 최고", Language::Other),
            ("😀😀", Language::Unknown),
            ("", Language::Unknown),
            ("12345 !!!", Language::Unknown),
            ("ＧＯＯＤ", Language::English),
        ] {
            assert_eq!(detect(text), lang, "{text}");
        }
    }

    #[test]
    fn cap_cuts_long_texts_at_a_character_boundary() {
        let long = "好".repeat(10_000);
        let capped = cap(&long);
        assert!(capped.len() <= MAX_BYTES && capped.len() > MAX_BYTES - 4);
        assert!(capped.chars().all(|c| c == '好'));
        assert_eq!(cap("short"), "short");
    }

    /// Arbitrary text (random code points of every plane, control and combining characters,
    /// long runs) never panics and always scores within [-1, 1].
    #[test]
    fn arbitrary_text_scores_within_bounds() {
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        #[rustfmt::skip]
        let pools: [&[(u32, u32)]; 3] = [
            &[(0x20, 0x7E), (0x4E00, 0x9FFF), (0x3000, 0x303F), (0xFF01, 0xFF5E)],
            &[(0, 0x1F), (0x300, 0x36F), (0x200B, 0x200F), (0x1F300, 0x1FAFF)],
            &[(0, 0x10FFFF)],
        ];
        for i in 0..600 {
            let pool = pools[i % 3];
            let len = (next() % if i % 50 == 0 { 20_000 } else { 60 }) as usize;
            let text: String = (0..len)
                .filter_map(|_| {
                    let (lo, hi) = pool[(next() % pool.len() as u64) as usize];
                    char::from_u32(lo + (next() % u64::from(hi - lo + 1)) as u32)
                })
                .collect();
            let s = sentiment_score(&text);
            assert!((-1.0..=1.0).contains(&s), "{s} for {text:?}");
            let k = keywords::keywords(&text, 5);
            assert!(k.len() <= 5);
        }
    }

    #[test]
    fn other_languages_and_empty_texts_are_neutral() {
        assert_eq!(sentiment_score(""), 0.0);
        assert_eq!(sentiment_score("Отличный телефон"), 0.0);
        assert_eq!(sentiment_score("12345"), 0.0);
    }
}
