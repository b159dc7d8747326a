//! `persona train-sentiment`: trains the Chinese sentiment model from labelled texts.
//!
//! The model persona ships (`udfs/data/zh_sentiment.model`) is this command's output on
//! `datasets/sentiment/zh` with the default hold-out, and a test checks that running it again
//! gives the same bytes.

use std::path::Path;

use crate::cli::TrainArgs;
use crate::error::{PersonaError, Result};

fn read_lines(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| PersonaError::io(path, &e))
}

/// Trains, reports, and writes the model atomically (a temporary file renamed over the target).
pub fn run(args: &TrainArgs) -> Result<()> {
    let pos = read_lines(&args.dir.join("train_pos.txt"))?;
    let neg = read_lines(&args.dir.join("train_neg.txt"))?;
    // Blank lines keep their place, so the held-out lines are the same whatever is blank.
    let pos: Vec<&str> = pos.lines().collect();
    let neg: Vec<&str> = neg.lines().collect();
    if pos.iter().all(|t| t.trim().is_empty()) || neg.iter().all(|t| t.trim().is_empty()) {
        return Err(PersonaError::Usage(format!(
            "{} needs texts in both train_pos.txt and train_neg.txt",
            args.dir.display()
        )));
    }
    let started = std::time::Instant::now();
    let trained = persona_udfs::text::zh::train(&pos, &neg, args.holdout);
    let tmp = args.out.with_file_name(format!(
        ".{}.tmp-{}",
        args.out
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("model"),
        std::process::id()
    ));
    std::fs::write(&tmp, &trained.model).map_err(|e| PersonaError::io(&args.out, &e))?;
    std::fs::rename(&tmp, &args.out).map_err(|e| PersonaError::io(&args.out, &e))?;
    println!(
        "trained on {} texts in {:.1} s: {} features, written to {}",
        trained.train_texts,
        started.elapsed().as_secs_f64(),
        trained.features,
        args.out.display()
    );
    if trained.held_out > 0 {
        println!(
            "held-out accuracy: {:.4} ({} of {} texts, every {}th of each class)",
            trained.held_out_correct as f64 / trained.held_out as f64,
            trained.held_out_correct,
            trained.held_out,
            args.holdout
        );
    }
    Ok(())
}
