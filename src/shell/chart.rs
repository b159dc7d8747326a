//! `\chart bar|line`: the last result drawn in the terminal, from a label column (the first)
//! and a value column (the first numeric column after it).
//!
//! Bars are horizontal, one per row, in Unicode eighth blocks so short differences still show;
//! lines are drawn in Braille dots by textplots, with the first and last labels under the
//! x axis. Only the first [`MAX_ROWS`] rows of a result are kept for charting.

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, SchemaRef};
use datafusion::arrow::util::display::array_value_to_string;
use textplots::{Chart, Plot, Shape};

use crate::output::table::display_width;

/// Rows of a result kept for `\chart`.
pub const MAX_ROWS: usize = 2000;

/// Bars drawn at most; a longer result is cut with a note.
const MAX_BARS: usize = 60;

/// A chart kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bar,
    Line,
}

impl Kind {
    /// `bar` or `line`.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "bar" => Ok(Kind::Bar),
            "line" => Ok(Kind::Line),
            other => Err(format!("\\chart takes bar or line, got '{other}'")),
        }
    }
}

/// Draws `kind` from the kept result, `width` columns wide.
pub fn draw(
    kind: Kind,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    width: usize,
) -> Result<String, String> {
    if schema.fields().len() < 2 {
        return Err(
            "\\chart needs a result with a label column and a value column, e.g. SELECT segment, count(*) …"
                .into(),
        );
    }
    let value_col = (1..schema.fields().len())
        .find(|&i| schema.field(i).data_type().is_numeric())
        .ok_or_else(|| {
            format!(
                "\\chart needs a numeric value column after the label column '{}'",
                schema.field(0).name()
            )
        })?;
    let mut labels = Vec::new();
    let mut values = Vec::new();
    for b in batches {
        let v = cast(b.column(value_col), &DataType::Float64).map_err(|e| e.to_string())?;
        let v = v.as_primitive::<Float64Type>();
        for r in 0..b.num_rows() {
            labels.push(if b.column(0).is_null(r) {
                "NULL".to_string()
            } else {
                array_value_to_string(b.column(0), r).map_err(|e| e.to_string())?
            });
            values.push(
                (!v.is_null(r))
                    .then(|| v.value(r))
                    .filter(|x| x.is_finite()),
            );
        }
    }
    if labels.is_empty() {
        return Err("the last result has no rows to chart".into());
    }
    let title = format!(
        "{} by {}",
        schema.field(value_col).name(),
        schema.field(0).name()
    );
    match kind {
        Kind::Bar => Ok(bars(&title, &labels, &values, width)),
        Kind::Line => line(&title, &labels, &values, width),
    }
}

fn bars(title: &str, labels: &[String], values: &[Option<f64>], width: usize) -> String {
    let shown = labels.len().min(MAX_BARS);
    let label_width = labels[..shown]
        .iter()
        .map(|l| display_width(l))
        .max()
        .unwrap_or(0)
        .min(24);
    let texts: Vec<String> = values[..shown]
        .iter()
        .map(|v| v.map(format_value).unwrap_or_else(|| "NULL".into()))
        .collect();
    let value_width = texts.iter().map(|t| t.len()).max().unwrap_or(0);
    let room = width.saturating_sub(label_width + value_width + 4).max(10);
    let max = values[..shown]
        .iter()
        .flatten()
        .fold(0.0_f64, |m, v| m.max(v.abs()));
    let mut out = format!("{title}\n");
    for i in 0..shown {
        let label = fit(&labels[i], label_width);
        let eighths = match values[i] {
            Some(v) if max > 0.0 => ((v.abs() / max) * room as f64 * 8.0).round() as usize,
            _ => 0,
        };
        let mut bar = "█".repeat(eighths / 8);
        if eighths % 8 > 0 {
            bar.push([' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉'][eighths % 8]);
        }
        let pad = room + 1 - display_width(&bar).min(room + 1);
        out.push_str(&format!(
            "{label} │{bar}{} {:>value_width$}\n",
            " ".repeat(pad),
            texts[i]
        ));
    }
    if labels.len() > shown {
        out.push_str(&format!("(the first {shown} of {} rows)\n", labels.len()));
    }
    out
}

fn line(
    title: &str,
    labels: &[String],
    values: &[Option<f64>],
    width: usize,
) -> Result<String, String> {
    let points: Vec<(f32, f32)> = values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.map(|v| (i as f32, v as f32)))
        .collect();
    if points.len() < 2 {
        return Err("a line needs at least two rows with values".into());
    }
    // textplots draws 2x4 Braille dots per character, and wants at least 32 columns.
    let dots_wide = ((width.saturating_sub(14)).max(32) * 2) as u32;
    let mut chart = Chart::new(dots_wide, 64, 0.0, (labels.len() - 1) as f32);
    let shape = Shape::Lines(&points);
    let chart = chart.lineplot(&shape);
    chart.axis();
    chart.figures();
    let last = labels.last().expect("at least two rows");
    Ok(format!(
        "{title}\n{chart}\nx: {} … {last} ({} rows)\n",
        labels[0],
        labels.len()
    ))
}

/// The label cut or padded to `width` display columns.
fn fit(label: &str, width: usize) -> String {
    let mut out = String::new();
    let mut w = 0;
    for c in label.chars() {
        let cw = display_width(c.encode_utf8(&mut [0; 4]));
        if w + cw > width {
            break;
        }
        out.push(c);
        w += cw;
    }
    out.push_str(&" ".repeat(width - w));
    out
}

fn format_value(v: f64) -> String {
    if v == v.trunc() && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:.4}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Float64Array, Int64Array, StringArray};
    use datafusion::arrow::datatypes::{Field, Schema};
    use std::sync::Arc;

    fn result(labels: &[&str], values: &[i64]) -> (SchemaRef, Vec<RecordBatch>) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("segment", DataType::Utf8, true),
            Field::new("n", DataType::Int64, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(labels.to_vec())),
                Arc::new(Int64Array::from(values.to_vec())),
            ],
        )
        .unwrap();
        (schema, vec![batch])
    }

    #[test]
    fn bars_scale_to_the_largest_value() {
        let (schema, batches) = result(&["冠军客户", "Lost"], &[100, 50]);
        let text = draw(Kind::Bar, &schema, &batches, 40).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "n by segment");
        let full = lines[1].matches('█').count();
        let half = lines[2].matches('█').count();
        assert!(
            full > 0 && half * 2 >= full - 1 && half * 2 <= full + 1,
            "{text}"
        );
        assert!(
            lines[1].starts_with("冠军客户 │") && lines[1].ends_with(" 100"),
            "{text}"
        );
        assert!(lines[2].starts_with("Lost     │"), "{text}");
    }

    #[test]
    fn a_result_without_numbers_is_refused() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Utf8, true),
            Field::new("b", DataType::Utf8, true),
        ]));
        let err = draw(Kind::Bar, &schema, &[], 80).unwrap_err();
        assert_eq!(
            err,
            "\\chart needs a numeric value column after the label column 'a'"
        );
    }

    #[test]
    fn lines_are_drawn_in_braille() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("month", DataType::Utf8, true),
            Field::new("rate", DataType::Float64, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(vec!["2024-01", "2024-02", "2024-03"])),
                Arc::new(Float64Array::from(vec![0.1, 0.3, 0.2])),
            ],
        )
        .unwrap();
        let text = draw(Kind::Line, &schema, &[batch], 60).unwrap();
        assert!(
            text.chars().any(|c| ('\u{2801}'..='\u{28ff}').contains(&c)),
            "{text}"
        );
        assert!(text.contains("x: 2024-01 … 2024-03 (3 rows)"), "{text}");
    }
}
