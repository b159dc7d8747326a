//! Text formats that stream: CSV, TSV, JSON (one array), NDJSON; plus Markdown, which needs
//! the rows it shows before it can write them.

use std::io::Write;

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, RecordBatch, StringArray};
use datafusion::arrow::csv::WriterBuilder as CsvWriterBuilder;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::json::Writer as JsonWriter;
use datafusion::arrow::json::writer::{
    JsonArray, LineDelimited, WriterBuilder as JsonWriterBuilder,
};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};

use super::OutputFormat;

/// CSV with a header and timestamps as `2024-03-05 14:30:00`, as DuckDB and spreadsheets write them.
fn csv_builder() -> CsvWriterBuilder {
    CsvWriterBuilder::new()
        .with_header(true)
        .with_timestamp_format("%Y-%m-%d %H:%M:%S%.f".to_string())
        .with_timestamp_tz_format("%Y-%m-%d %H:%M:%S%.f%:z".to_string())
}

/// A writer that takes record batches as they come and writes rows straight away.
pub enum RowWriter<W: Write> {
    Csv(Box<datafusion::arrow::csv::Writer<W>>),
    Json(JsonWriter<W, JsonArray>),
    Ndjson(JsonWriter<W, LineDelimited>),
}

impl<W: Write> RowWriter<W> {
    /// A writer for `format`, which must be a streaming one (not table or markdown).
    pub fn new(format: OutputFormat, out: W) -> Self {
        match format {
            OutputFormat::Tsv => {
                RowWriter::Csv(Box::new(csv_builder().with_delimiter(b'\t').build(out)))
            }
            OutputFormat::Json => RowWriter::Json(
                JsonWriterBuilder::new()
                    .with_explicit_nulls(true)
                    .build::<_, JsonArray>(out),
            ),
            OutputFormat::Ndjson => RowWriter::Ndjson(
                JsonWriterBuilder::new()
                    .with_explicit_nulls(true)
                    .build::<_, LineDelimited>(out),
            ),
            _ => RowWriter::Csv(Box::new(csv_builder().build(out))),
        }
    }

    /// Writes the rows of `batch`.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), ArrowError> {
        match self {
            RowWriter::Csv(w) => w.write(&nested_as_text(batch)?),
            RowWriter::Json(w) => w.write(batch),
            RowWriter::Ndjson(w) => w.write(batch),
        }
    }

    /// Ends the output: the header of an empty CSV, the closing bracket of JSON.
    pub fn finish(self, schema: &SchemaRef) -> Result<W, ArrowError> {
        match self {
            RowWriter::Csv(mut w) => {
                // A result with no rows still says which columns it has.
                w.write(&nested_as_text(&RecordBatch::new_empty(schema.clone()))?)?;
                Ok(w.into_inner())
            }
            RowWriter::Json(mut writer) => {
                // The array writer closes the array itself, `[]` when there were no rows.
                writer.finish()?;
                let mut out = writer.into_inner();
                out.write_all(b"\n")?;
                Ok(out)
            }
            RowWriter::Ndjson(mut w) => {
                w.finish()?;
                Ok(w.into_inner())
            }
        }
    }
}

/// CSV has no nested values: lists, structs and maps are written as their text, as DuckDB
/// writes them (`{p: 6.25, q: 3.74}`).
fn nested_as_text(batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    if !batch
        .schema()
        .fields()
        .iter()
        .any(|f| f.data_type().is_nested())
    {
        return Ok(batch.clone());
    }
    let options = FormatOptions::default();
    let mut fields = Vec::new();
    let mut columns = Vec::new();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        if field.data_type().is_nested() {
            let f = ArrayFormatter::try_new(column.as_ref(), &options)?;
            let text: StringArray = (0..column.len())
                .map(|i| column.is_valid(i).then(|| f.value(i).to_string()))
                .collect();
            fields.push(Field::new(field.name(), DataType::Utf8, true));
            columns.push(Arc::new(text) as ArrayRef);
        } else {
            fields.push(field.as_ref().clone());
            columns.push(column.clone());
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
}

/// A GitHub-flavoured Markdown table; `|` in values is escaped, NULL is empty.
pub fn render_markdown(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<String, ArrowError> {
    let mut out = String::new();
    let names: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| escape_md(f.name()))
        .collect();
    out.push_str(&format!("| {} |\n", names.join(" | ")));
    let rules: Vec<&str> = schema
        .fields()
        .iter()
        .map(|f| {
            if f.data_type().is_numeric() {
                "---:"
            } else {
                "---"
            }
        })
        .collect();
    out.push_str(&format!("| {} |\n", rules.join(" | ")));
    let options = FormatOptions::default().with_timestamp_format(Some("%Y-%m-%d %H:%M:%S%.f"));
    for batch in batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()?;
        for row in 0..batch.num_rows() {
            let cells: Vec<String> = formatters
                .iter()
                .map(|f| escape_md(&f.value(row).to_string()))
                .collect();
            out.push_str(&format!("| {} |\n", cells.join(" | ")));
        }
    }
    Ok(out)
}

fn escape_md(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', "<br>")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn sample() -> (SchemaRef, RecordBatch) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("note", DataType::Utf8, true),
        ]));
        let b = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(vec![1, 2])),
                Arc::new(StringArray::from(vec![Some("a,b|c"), None])),
            ],
        )
        .unwrap();
        (schema, b)
    }

    fn write_all(format: OutputFormat, batches: &[RecordBatch], schema: &SchemaRef) -> String {
        let mut w = RowWriter::new(format, Vec::new());
        for b in batches {
            w.write(b).unwrap();
        }
        String::from_utf8(w.finish(schema).unwrap()).unwrap()
    }

    #[test]
    fn csv_quotes_and_leaves_nulls_empty() {
        let (schema, b) = sample();
        assert_eq!(
            write_all(OutputFormat::Csv, &[b], &schema),
            "id,note\n1,\"a,b|c\"\n2,\n"
        );
    }

    #[test]
    fn empty_results_keep_their_shape() {
        let (schema, _) = sample();
        assert_eq!(write_all(OutputFormat::Csv, &[], &schema), "id,note\n");
        assert_eq!(write_all(OutputFormat::Json, &[], &schema), "[]\n");
        assert_eq!(write_all(OutputFormat::Ndjson, &[], &schema), "");
    }

    #[test]
    fn json_and_ndjson_keep_nulls() {
        let (schema, b) = sample();
        assert_eq!(
            write_all(OutputFormat::Json, std::slice::from_ref(&b), &schema),
            "[{\"id\":1,\"note\":\"a,b|c\"},{\"id\":2,\"note\":null}]\n"
        );
        assert_eq!(
            write_all(OutputFormat::Ndjson, &[b], &schema),
            "{\"id\":1,\"note\":\"a,b|c\"}\n{\"id\":2,\"note\":null}\n"
        );
    }

    #[test]
    fn csv_writes_nested_values_as_text() {
        // A lone empty field is quoted so the line is not read as a blank record.
        let b = RecordBatch::try_from_iter(vec![(
            "l",
            Arc::new(datafusion::arrow::array::ListArray::from_iter_primitive::<
                datafusion::arrow::datatypes::Int32Type,
                _,
                _,
            >(vec![Some(vec![Some(1), Some(2)]), None])) as ArrayRef,
        )])
        .unwrap();
        assert_eq!(
            write_all(OutputFormat::Csv, std::slice::from_ref(&b), &b.schema()),
            "l\n\"[1, 2]\"\n\"\"\n"
        );
    }

    #[test]
    fn markdown_escapes_pipes() {
        let (schema, b) = sample();
        assert_eq!(
            render_markdown(&schema, &[b]).unwrap(),
            "| id | note |\n| ---: | --- |\n| 1 | a,b\\|c |\n| 2 |  |\n"
        );
    }
}
