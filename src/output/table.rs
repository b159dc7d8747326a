//! The box table of the shell (DuckDB's look: names and types in the header, numbers to the
//! right) and the expanded one-field-per-line layout of `\x`.
//!
//! A table wider than the terminal shrinks its widest columns and cuts long values with `…`,
//! keeping one line per row, so a result always reads as rows.

use std::time::Duration;

use comfy_table::{Cell, CellAlignment, ContentArrangement, Row, Table};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};

use super::sql_type_name;

/// Box drawing in comfy-table's preset order: borders, header line, inner lines, corners.
const BOX: &str = "││──├─┼┤│    ┬┴┌┐└┘";

/// How values are shown in the table and expanded layouts.
pub fn display_options() -> FormatOptions<'static> {
    FormatOptions::default()
        .with_null("NULL")
        .with_display_error(true)
        .with_timestamp_format(Some("%Y-%m-%d %H:%M:%S%.f"))
        .with_timestamp_tz_format(Some("%Y-%m-%d %H:%M:%S%.f%:z"))
}

fn is_numeric(dt: &DataType) -> bool {
    dt.is_numeric()
}

/// Renders `batches` as a box table; `width` is the terminal width to fit, if any.
pub fn render_table(
    schema: &Schema,
    batches: &[RecordBatch],
    width: Option<usize>,
) -> Result<String, ArrowError> {
    let mut table = Table::new();
    table.load_preset(BOX).set_truncation_indicator("…");
    match width {
        Some(w) => {
            table
                .set_content_arrangement(ContentArrangement::Dynamic)
                .set_width(w.min(u16::MAX as usize) as u16);
        }
        None => {
            table.set_content_arrangement(ContentArrangement::Disabled);
        }
    }
    let header: Vec<Cell> = schema
        .fields()
        .iter()
        .map(|f| {
            Cell::new(format!("{}\n{}", f.name(), sql_type_name(f.data_type())))
                .set_alignment(CellAlignment::Center)
        })
        .collect();
    table.set_header(header);
    let options = display_options();
    for batch in batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()?;
        for row in 0..batch.num_rows() {
            let cells: Vec<Cell> = formatters
                .iter()
                .zip(schema.fields())
                .map(|(f, field)| {
                    let text = one_line(&f.value(row).to_string());
                    let align = if is_numeric(field.data_type()) {
                        CellAlignment::Right
                    } else {
                        CellAlignment::Left
                    };
                    Cell::new(text).set_alignment(align)
                })
                .collect();
            let mut r = Row::from(cells);
            r.max_height(1);
            table.add_row(r);
        }
    }
    Ok(table.to_string())
}

/// Control characters would break the grid; show them the way psql does.
fn one_line(s: &str) -> String {
    if s.contains(['\n', '\r', '\t']) {
        s.replace('\n', "↵").replace('\r', "").replace('\t', " ")
    } else {
        s.to_string()
    }
}

/// Renders rows as `-[ RECORD n ]-` blocks of `column | value` lines, as psql's `\x` does.
pub fn render_expanded(schema: &Schema, batches: &[RecordBatch]) -> Result<String, ArrowError> {
    let name_width = schema
        .fields()
        .iter()
        .map(|f| display_width(f.name()))
        .max()
        .unwrap_or(0);
    let options = display_options();
    let mut out = String::new();
    let mut n = 0;
    for batch in batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()?;
        for row in 0..batch.num_rows() {
            n += 1;
            out.push_str(&format!(
                "-[ RECORD {n} ]{}\n",
                "-".repeat(name_width.saturating_sub(8).max(4))
            ));
            for (f, field) in formatters.iter().zip(schema.fields()) {
                let pad = name_width - display_width(field.name());
                out.push_str(&format!(
                    "{}{} │ {}\n",
                    field.name(),
                    " ".repeat(pad),
                    f.value(row)
                ));
            }
        }
    }
    if n == 0 {
        out.push_str("(no rows)\n");
    }
    Ok(out)
}

/// Terminal columns taken by `s` (wide CJK characters count two).
pub fn display_width(s: &str) -> usize {
    s.chars().map(|c| if is_wide(c) { 2 } else { 1 }).sum()
}

fn is_wide(c: char) -> bool {
    matches!(c as u32, 0x1100..=0x115F | 0x2E80..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF | 0xFE30..=0xFE4F | 0xFF00..=0xFF60 | 0xFFE0..=0xFFE6 | 0x1F300..=0x1F64F | 0x20000..=0x3FFFD)
}

/// The line under a table: "3 rows", "1,000 rows (40 shown)", with the time when asked.
pub fn footer(shown: usize, total: usize, elapsed: Option<Duration>) -> String {
    let mut s = format!(
        "{} {}",
        group_digits(total),
        if total == 1 { "row" } else { "rows" }
    );
    if shown < total {
        s.push_str(&format!(" ({} shown)", group_digits(shown)));
    }
    if let Some(e) = elapsed {
        s.push_str(&format!(" · {:.3} s", e.as_secs_f64()));
    }
    s
}

fn group_digits(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::arrow::datatypes::Field;

    use super::*;

    fn batch() -> (Schema, RecordBatch) {
        let schema = Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("city", DataType::Utf8, true),
        ]);
        let b = RecordBatch::try_new(
            Arc::new(schema.clone()),
            vec![
                Arc::new(Int64Array::from(vec![1, 22])),
                Arc::new(StringArray::from(vec![Some("上海"), None])),
            ],
        )
        .unwrap();
        (schema, b)
    }

    #[test]
    fn table_shows_names_types_nulls_and_right_aligned_numbers() {
        let (schema, b) = batch();
        let t = render_table(&schema, &[b], None).unwrap();
        let expected = "\
┌────────┬─────────┐
│   id   ┆   city  │
│ bigint ┆ varchar │
├────────┼─────────┤
│      1 ┆ 上海    │
│     22 ┆ NULL    │
└────────┴─────────┘";
        assert_eq!(t.replace('┆', "│"), expected.replace('┆', "│"));
    }

    #[test]
    fn narrow_terminal_cuts_values_but_keeps_one_line_per_row() {
        let schema = Schema::new(vec![Field::new("text", DataType::Utf8, false)]);
        let long = "x".repeat(200);
        let b = RecordBatch::try_new(
            Arc::new(schema.clone()),
            vec![Arc::new(StringArray::from(vec![long]))],
        )
        .unwrap();
        let t = render_table(&schema, &[b], Some(30)).unwrap();
        assert!(t.lines().all(|l| display_width(l) <= 30), "{t}");
        assert_eq!(t.lines().count(), 6, "{t}");
        assert!(t.contains('…'));
    }

    #[test]
    fn expanded_rows_list_fields() {
        let (schema, b) = batch();
        let t = render_expanded(&schema, &[b]).unwrap();
        assert!(
            t.starts_with("-[ RECORD 1 ]----\nid   │ 1\ncity │ 上海\n"),
            "{t}"
        );
        assert!(t.contains("city │ NULL"), "{t}");
    }

    #[test]
    fn footer_counts() {
        assert_eq!(footer(1, 1, None), "1 row");
        assert_eq!(
            footer(40, 12345, Some(Duration::from_millis(1500))),
            "12,345 rows (40 shown) · 1.500 s"
        );
    }
}
