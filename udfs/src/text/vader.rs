//! English sentiment: VADER (Hutto & Gilbert, ICWSM 2014), ported from vaderSentiment 3.3.2
//! (MIT, `udfs/data/LICENSE_vaderSentiment.txt`) with its lexicon and emoji descriptions.
//!
//! The rules are VADER's, step for step: lexicon valences, booster and dampener words (less
//! weight the further back they stand), negation within three words (and `n't`), `no` before
//! a lexicon word, `least`, the special idioms, ALL-CAPS emphasis when only some words are in
//! capitals, `but` (the part before counts half, the part after one and a half times), and
//! emphasis from `!` and `?`. The sum is normalised to [-1, 1] by `x / sqrt(x² + 15)`.
//!
//! Where this port differs, on purpose:
//! - VADER's `but` rule finds each score's position with `list.index(value)`, so two words of
//!   the same valence can scale the wrong one; here each word is scaled by its own position.
//! - Full-width letters and punctuation (`ＧＯＯＤ！`, as Chinese keyboards type them) are read
//!   as their ASCII forms.
//! - Each word is lower-cased once, and the word lists live in hash sets built once per
//!   process: about 2 µs for a short review.

use std::sync::LazyLock;

use rustc_hash::{FxHashMap, FxHashSet};

const B_INCR: f64 = 0.293;
const B_DECR: f64 = -0.293;
const C_INCR: f64 = 0.733;
const N_SCALAR: f64 = -0.74;

#[rustfmt::skip]
const NEGATE: &[&str] = &[
    "aint", "arent", "cannot", "cant", "couldnt", "darent", "didnt", "doesnt", "ain't", "aren't",
    "can't", "couldn't", "daren't", "didn't", "doesn't", "dont", "hadnt", "hasnt", "havent",
    "isnt", "mightnt", "mustnt", "neither", "don't", "hadn't", "hasn't", "haven't", "isn't",
    "mightn't", "mustn't", "neednt", "needn't", "never", "none", "nope", "nor", "not", "nothing",
    "nowhere", "oughtnt", "shant", "shouldnt", "uhuh", "wasnt", "werent", "oughtn't", "shan't",
    "shouldn't", "uh-uh", "wasn't", "weren't", "without", "wont", "wouldnt", "won't", "wouldn't",
    "rarely", "seldom", "despite",
];

#[rustfmt::skip]
const BOOSTERS_UP: &[&str] = &[
    "absolutely", "amazingly", "awfully", "completely", "considerable", "considerably",
    "decidedly", "deeply", "effing", "enormous", "enormously", "entirely", "especially",
    "exceptional", "exceptionally", "extreme", "extremely", "fabulously", "flipping", "flippin",
    "frackin", "fracking", "fricking", "frickin", "frigging", "friggin", "fully", "fuckin",
    "fucking", "fuggin", "fugging", "greatly", "hella", "highly", "hugely", "incredible",
    "incredibly", "intensely", "major", "majorly", "more", "most", "particularly", "purely",
    "quite", "really", "remarkably", "so", "substantially", "thoroughly", "total", "totally",
    "tremendous", "tremendously", "uber", "unbelievably", "unusually", "utter", "utterly", "very",
];

#[rustfmt::skip]
const BOOSTERS_DOWN: &[&str] = &[
    "almost", "barely", "hardly", "just enough", "kind of", "kinda", "kindof", "kind-of", "less",
    "little", "marginal", "marginally", "occasional", "occasionally", "partly", "scarce",
    "scarcely", "slight", "slightly", "somewhat", "sort of", "sorta", "sortof", "sort-of",
];

/// Idioms and phrases that contain lexicon words, with the valence they take instead.
const SPECIAL_CASES: &[(&str, f64)] = &[
    ("the shit", 3.0),
    ("the bomb", 3.0),
    ("bad ass", 1.5),
    ("badass", 1.5),
    ("bus stop", 0.0),
    ("yeah right", -2.0),
    ("kiss of death", -1.5),
    ("to die for", 3.0),
    ("beating heart", 3.5),
];

struct Lexicon {
    valence: FxHashMap<&'static str, f64>,
    booster: FxHashMap<&'static str, f64>,
    negate: FxHashSet<&'static str>,
    special: FxHashMap<&'static str, f64>,
    emoji: FxHashMap<char, &'static str>,
}

static LEXICON: LazyLock<Lexicon> = LazyLock::new(|| {
    let mut valence = FxHashMap::default();
    for line in include_str!("../../data/vader_lexicon.txt").lines() {
        let mut cols = line.trim().split('\t');
        if let (Some(word), Some(v)) = (cols.next(), cols.next())
            && let Ok(v) = v.parse::<f64>()
        {
            valence.insert(word, v);
        }
    }
    let mut emoji = FxHashMap::default();
    for line in include_str!("../../data/vader_emoji_lexicon.txt").lines() {
        let mut cols = line.trim_end_matches('\r').split('\t');
        if let (Some(e), Some(description)) = (cols.next(), cols.next()) {
            // VADER reads the text one code point at a time, so only one-code-point emoji match.
            let mut chars = e.chars();
            if let (Some(c), None) = (chars.next(), chars.next()) {
                emoji.insert(c, description);
            }
        }
    }
    let booster = BOOSTERS_UP
        .iter()
        .map(|w| (*w, B_INCR))
        .chain(BOOSTERS_DOWN.iter().map(|w| (*w, B_DECR)))
        .collect();
    Lexicon {
        valence,
        booster,
        negate: NEGATE.iter().copied().collect(),
        special: SPECIAL_CASES.iter().copied().collect(),
        emoji,
    }
});

/// Loads the lexicon now rather than inside the first query.
pub fn warm_up() {
    LazyLock::force(&LEXICON);
}

/// One word of the text with what the rules ask of it, worked out once.
struct Word {
    lower: String,
    valence: Option<f64>,
    upper: bool,
}

impl Word {
    fn is(&self, w: &str) -> bool {
        self.lower == w
    }

    fn in_lexicon(&self) -> bool {
        self.valence.is_some()
    }

    fn negated(&self) -> bool {
        LEXICON.negate.contains(self.lower.as_str()) || self.lower.contains("n't")
    }
}

/// Python's `str.isupper`: some cased character, none of them lower case.
fn is_upper(s: &str) -> bool {
    let mut cased = false;
    for c in s.chars() {
        if c.is_lowercase() {
            return false;
        }
        cased |= c.is_uppercase();
    }
    cased
}

/// VADER's `_strip_punc_if_word`: punctuation off both ends unless that leaves two characters
/// or fewer (then it was likely an emoticon such as `:)` and stays whole).
fn strip_punctuation(token: &str) -> &str {
    let stripped = token.trim_matches(|c: char| c.is_ascii_punctuation());
    if stripped.chars().count() <= 2 {
        token
    } else {
        stripped
    }
}

/// Replaces each emoji with its description, as VADER does before scoring, and full-width
/// ASCII with ASCII.
fn prepare(text: &str, out: &mut String) {
    out.clear();
    let mut prev_space = true;
    for c in text.chars() {
        let c = super::fold_width(c);
        if let Some(description) = LEXICON.emoji.get(&c) {
            if !prev_space {
                out.push(' ');
            }
            out.push_str(description);
            prev_space = false;
        } else {
            out.push(c);
            prev_space = c == ' ';
        }
    }
}

/// The VADER compound score of a text, in [-1, 1]; 0 for a text without sentiment words.
pub fn compound(text: &str) -> f64 {
    let lex = &*LEXICON;
    let mut prepared = String::with_capacity(text.len() + 16);
    prepare(text, &mut prepared);
    let text = prepared.trim();
    let words: Vec<Word> = text
        .split_whitespace()
        .map(|token| {
            let original = strip_punctuation(token);
            let lower = original.to_lowercase();
            let valence = lex.valence.get(lower.as_str()).copied();
            Word {
                lower,
                valence,
                upper: is_upper(original),
            }
        })
        .collect();
    if words.is_empty() {
        return 0.0;
    }
    let caps = words.iter().filter(|w| w.upper).count();
    let cap_differential = caps > 0 && caps < words.len();

    let mut sentiments = Vec::with_capacity(words.len());
    for i in 0..words.len() {
        let w = &words[i];
        if lex.booster.contains_key(w.lower.as_str())
            || (w.is("kind") && words.get(i + 1).is_some_and(|n| n.is("of")))
        {
            sentiments.push(0.0);
            continue;
        }
        sentiments.push(valence(&words, i, cap_differential));
    }

    if let Some(bi) = words.iter().position(|w| w.is("but")) {
        for (si, s) in sentiments.iter_mut().enumerate() {
            if si < bi {
                *s *= 0.5;
            } else if si > bi {
                *s *= 1.5;
            }
        }
    }

    let mut sum: f64 = sentiments.iter().sum();
    let emphasis = punctuation_emphasis(text);
    if sum > 0.0 {
        sum += emphasis;
    } else if sum < 0.0 {
        sum -= emphasis;
    }
    (sum / (sum * sum + 15.0).sqrt()).clamp(-1.0, 1.0)
}

/// VADER's `sentiment_valence` for the word at `i`.
fn valence(words: &[Word], i: usize, cap_differential: bool) -> f64 {
    let lex = &*LEXICON;
    let w = &words[i];
    let Some(base) = w.valence else {
        return 0.0;
    };
    let mut v = base;
    // "no" before another lexicon word negates that word rather than counting itself.
    if w.is("no") && words.get(i + 1).is_some_and(|n| n.in_lexicon()) {
        v = 0.0;
    }
    if (i > 0 && words[i - 1].is("no"))
        || (i > 1 && words[i - 2].is("no"))
        || (i > 2 && words[i - 3].is("no") && (words[i - 1].is("or") || words[i - 1].is("nor")))
    {
        v = base * N_SCALAR;
    }
    if w.upper && cap_differential {
        v += if v > 0.0 { C_INCR } else { -C_INCR };
    }
    for start in 0..3 {
        if i > start && !words[i - (start + 1)].in_lexicon() {
            let mut s = scalar_inc_dec(&words[i - (start + 1)], v, cap_differential);
            if start == 1 {
                s *= 0.95;
            } else if start == 2 {
                s *= 0.9;
            }
            v += s;
            v = negation_check(v, words, start, i);
            if start == 2 {
                v = special_idioms(v, words, i, lex);
            }
        }
    }
    least_check(v, words, i)
}

fn scalar_inc_dec(word: &Word, valence: f64, cap_differential: bool) -> f64 {
    let Some(&b) = LEXICON.booster.get(word.lower.as_str()) else {
        return 0.0;
    };
    let mut scalar = if valence < 0.0 { -b } else { b };
    if word.upper && cap_differential {
        scalar += if valence > 0.0 { C_INCR } else { -C_INCR };
    }
    scalar
}

fn negation_check(v: f64, words: &[Word], start: usize, i: usize) -> f64 {
    let so_or_this = |w: &Word| w.is("so") || w.is("this");
    match start {
        0 if words[i - 1].negated() => v * N_SCALAR,
        1 if words[i - 2].is("never") && so_or_this(&words[i - 1]) => v * 1.25,
        1 if words[i - 2].is("without") && words[i - 1].is("doubt") => v,
        1 if words[i - 2].negated() => v * N_SCALAR,
        // VADER's condition reads `never (so|this) _` or `_ _ (so|this)`, as written there.
        2 if (words[i - 3].is("never") && so_or_this(&words[i - 2]))
            || so_or_this(&words[i - 1]) =>
        {
            v * 1.25
        }
        2 if words[i - 3].is("without")
            && (words[i - 2].is("doubt") || words[i - 1].is("doubt")) =>
        {
            v
        }
        2 if words[i - 3].negated() => v * N_SCALAR,
        _ => v,
    }
}

fn special_idioms(mut v: f64, words: &[Word], i: usize, lex: &Lexicon) -> f64 {
    let l = |k: usize| words[k].lower.as_str();
    let one_zero = format!("{} {}", l(i - 1), l(i));
    let two_one_zero = format!("{} {} {}", l(i - 2), l(i - 1), l(i));
    let two_one = format!("{} {}", l(i - 2), l(i - 1));
    let three_two_one = format!("{} {} {}", l(i - 3), l(i - 2), l(i - 1));
    let three_two = format!("{} {}", l(i - 3), l(i - 2));
    for seq in [
        &one_zero,
        &two_one_zero,
        &two_one,
        &three_two_one,
        &three_two,
    ] {
        if let Some(&s) = lex.special.get(seq.as_str()) {
            v = s;
            break;
        }
    }
    if words.len() - 1 > i {
        let zero_one = format!("{} {}", l(i), l(i + 1));
        if let Some(&s) = lex.special.get(zero_one.as_str()) {
            v = s;
        }
    }
    if words.len() - 1 > i + 1 {
        let zero_one_two = format!("{} {} {}", l(i), l(i + 1), l(i + 2));
        if let Some(&s) = lex.special.get(zero_one_two.as_str()) {
            v = s;
        }
    }
    for n_gram in [&three_two_one, &three_two, &two_one] {
        if let Some(&b) = lex.booster.get(n_gram.as_str()) {
            v += b;
        }
    }
    v
}

fn least_check(v: f64, words: &[Word], i: usize) -> f64 {
    let least = |k: usize| !words[k].in_lexicon() && words[k].is("least");
    if i > 1 && least(i - 1) {
        if !words[i - 2].is("at") && !words[i - 2].is("very") {
            return v * N_SCALAR;
        }
        v
    } else if i > 0 && least(i - 1) {
        v * N_SCALAR
    } else {
        v
    }
}

/// Emphasis from up to four `!`, and from two or more `?`.
fn punctuation_emphasis(text: &str) -> f64 {
    let ep = text.matches('!').count().min(4) as f64 * 0.292;
    let qm = match text.matches('?').count() {
        0 | 1 => 0.0,
        n @ 2..=3 => n as f64 * 0.18,
        _ => 0.96,
    };
    ep + qm
}

#[cfg(test)]
mod tests {
    use super::*;

    /// VADER's own examples, with the compound scores vaderSentiment 3.3.2 prints for them.
    #[test]
    fn vader_examples_score_as_the_reference() {
        for (text, expected) in [
            ("VADER is smart, handsome, and funny.", 0.8316),
            ("VADER is smart, handsome, and funny!", 0.8439),
            ("VADER is very smart, handsome, and funny.", 0.8545),
            ("VADER is VERY SMART, handsome, and FUNNY.", 0.9227),
            ("VADER is VERY SMART, handsome, and FUNNY!!!", 0.9342),
            (
                "VADER is VERY SMART, uber handsome, and FRIGGIN FUNNY!!!",
                0.9469,
            ),
            ("VADER is not smart, handsome, nor funny.", -0.7424),
            ("The book was good.", 0.4404),
            ("At least it isn't a horrible book.", 0.431),
            ("The book was only kind of good.", 0.3832),
            (
                "The plot was good, but the characters are uncompelling and the dialog is not great.",
                -0.7042,
            ),
            ("Today SUX!", -0.5461),
            ("Today only kinda sux! But I'll get by, lol", 0.5249),
            ("Make sure you :) or :D today!", 0.8633),
            ("Catch utf-8 emoji such as 💘 and 💋 and 😁", 0.875),
            ("Not bad at all", 0.431),
        ] {
            let got = (compound(text) * 1e4).round() / 1e4;
            assert_eq!(got, expected, "{text}");
        }
    }

    #[test]
    fn empty_and_unknown_texts_are_neutral() {
        assert_eq!(compound(""), 0.0);
        assert_eq!(compound("   "), 0.0);
        assert_eq!(compound("the table is in the room"), 0.0);
    }
}
