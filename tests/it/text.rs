//! `persona train-sentiment`: the shipped Chinese model is reproducible from the bundled
//! training data, its held-out accuracy is reported and good enough, and bad input gets one
//! clear sentence.

use std::fs;

use crate::{root, run, scratch};

/// The accuracy the command reports, from its `held-out accuracy: 0.8451 (...)` line.
fn held_out_accuracy(stdout: &str) -> f64 {
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("held-out accuracy: "))
        .unwrap_or_else(|| panic!("no held-out accuracy in:\n{stdout}"));
    line.split_whitespace().next().unwrap().parse().unwrap()
}

#[test]
fn shipped_chinese_model_is_what_training_on_the_bundled_split_gives() {
    let dir = scratch("train");
    let out = dir.path().join("zh.model");
    let data = root().join("datasets/sentiment/zh");
    let (stdout, stderr, code) = run(
        dir.path(),
        &[
            "train-sentiment",
            data.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    // Every 10th text of each class is held out of training; snownlp's naive Bayes trained on
    // the same split scores 0.776 on the project's hidden test part.
    let accuracy = held_out_accuracy(&stdout);
    assert!(accuracy >= 0.80, "held-out accuracy {accuracy}");
    let trained = fs::read_to_string(&out).unwrap();
    let shipped = fs::read_to_string(root().join("udfs/data/zh_sentiment.model")).unwrap();
    assert!(
        trained == shipped,
        "udfs/data/zh_sentiment.model differs from what `persona train-sentiment --out \
         udfs/data/zh_sentiment.model` writes now: run it and commit the model"
    );
    // No temporary file is left beside the model.
    let names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
}

#[test]
fn train_sentiment_on_a_missing_folder_says_which_file() {
    let dir = scratch("train-missing");
    let (_, stderr, code) = run(
        dir.path(),
        &["train-sentiment", "nowhere", "--out", "m.model"],
    );
    assert_ne!(code, 0);
    assert!(stderr.contains("nowhere/train_pos.txt"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(!dir.path().join("m.model").exists());
}

#[test]
fn train_sentiment_needs_both_classes() {
    let dir = scratch("train-empty");
    fs::write(dir.path().join("train_pos.txt"), "很好\n").unwrap();
    fs::write(dir.path().join("train_neg.txt"), "\n\n").unwrap();
    let (_, stderr, code) = run(dir.path(), &["train-sentiment", ".", "--out", "m.model"]);
    assert_ne!(code, 0);
    assert!(stderr.contains("needs texts in both"), "{stderr}");
    assert!(!dir.path().join("m.model").exists());
}
