//! Result formats: one module per way of writing rows. Every printer writes to any
//! `impl Write`, so each is unit tested without a terminal.

use std::fmt;
use std::str::FromStr;

use datafusion::arrow::datatypes::{DataType, TimeUnit};

pub mod file;
pub mod parquet;
pub mod stream;
pub mod table;
pub mod text;

/// How results are printed (`--format`, `\format`, `.mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// A box table with column types, fitted to the terminal.
    #[default]
    Table,
    Csv,
    Tsv,
    /// One JSON array of row objects.
    Json,
    /// One JSON object per line.
    Ndjson,
    /// A GitHub-flavoured Markdown table.
    Markdown,
}

impl OutputFormat {
    pub const ALL: [OutputFormat; 6] = [
        OutputFormat::Table,
        OutputFormat::Csv,
        OutputFormat::Tsv,
        OutputFormat::Json,
        OutputFormat::Ndjson,
        OutputFormat::Markdown,
    ];

    pub fn name(self) -> &'static str {
        match self {
            OutputFormat::Table => "table",
            OutputFormat::Csv => "csv",
            OutputFormat::Tsv => "tsv",
            OutputFormat::Json => "json",
            OutputFormat::Ndjson => "ndjson",
            OutputFormat::Markdown => "markdown",
        }
    }

    /// Whether the printer needs the whole (displayed) result before writing anything.
    pub fn is_buffered(self) -> bool {
        matches!(self, OutputFormat::Table | OutputFormat::Markdown)
    }
}

impl fmt::Display for OutputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for OutputFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().to_ascii_lowercase();
        // DuckDB's `.mode` names are accepted too.
        let alias = match s.as_str() {
            "box" | "duckbox" | "ascii" => "table",
            "tabs" => "tsv",
            "jsonlines" | "jsonl" | "line" => "ndjson",
            "md" => "markdown",
            other => other,
        };
        OutputFormat::ALL
            .into_iter()
            .find(|f| f.name() == alias)
            .ok_or_else(|| {
                let names: Vec<_> = OutputFormat::ALL.iter().map(|f| f.name()).collect();
                format!("unknown format '{s}'; choose one of {}", names.join(", "))
            })
    }
}

/// The SQL name of an Arrow type, as shown under column names (`bigint`, `varchar`, …).
pub fn sql_type_name(dt: &DataType) -> String {
    match dt {
        DataType::Null => "null".into(),
        DataType::Boolean => "boolean".into(),
        DataType::Int8 => "tinyint".into(),
        DataType::Int16 => "smallint".into(),
        DataType::Int32 => "int".into(),
        DataType::Int64 => "bigint".into(),
        DataType::UInt8 => "utinyint".into(),
        DataType::UInt16 => "usmallint".into(),
        DataType::UInt32 => "uint".into(),
        DataType::UInt64 => "ubigint".into(),
        DataType::Float16 => "half".into(),
        DataType::Float32 => "float".into(),
        DataType::Float64 => "double".into(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "varchar".into(),
        DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_) => "blob".into(),
        DataType::Date32 | DataType::Date64 => "date".into(),
        DataType::Time32(_) | DataType::Time64(_) => "time".into(),
        DataType::Timestamp(unit, tz) => {
            let base = if tz.is_some() {
                "timestamptz"
            } else {
                "timestamp"
            };
            match unit {
                TimeUnit::Second => format!("{base}_s"),
                TimeUnit::Millisecond => format!("{base}_ms"),
                TimeUnit::Microsecond => base.to_string(),
                TimeUnit::Nanosecond => format!("{base}_ns"),
            }
        }
        DataType::Interval(_) => "interval".into(),
        DataType::Duration(_) => "duration".into(),
        DataType::Decimal32(p, s) | DataType::Decimal64(p, s) => format!("decimal({p},{s})"),
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => format!("decimal({p},{s})"),
        DataType::List(f)
        | DataType::LargeList(f)
        | DataType::ListView(f)
        | DataType::LargeListView(f) => {
            format!("{}[]", sql_type_name(f.data_type()))
        }
        DataType::FixedSizeList(f, n) => format!("{}[{n}]", sql_type_name(f.data_type())),
        DataType::Struct(_) => "struct".into(),
        DataType::Map(_, _) => "map".into(),
        DataType::Dictionary(_, v) => sql_type_name(v),
        DataType::RunEndEncoded(_, v) => sql_type_name(v.data_type()),
        DataType::Union(_, _) => "union".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_parse_with_duckdb_aliases_and_explain_failures() {
        assert_eq!("CSV".parse::<OutputFormat>(), Ok(OutputFormat::Csv));
        assert_eq!("box".parse::<OutputFormat>(), Ok(OutputFormat::Table));
        assert_eq!("jsonl".parse::<OutputFormat>(), Ok(OutputFormat::Ndjson));
        let err = "xml".parse::<OutputFormat>().unwrap_err();
        assert_eq!(
            err,
            "unknown format 'xml'; choose one of table, csv, tsv, json, ndjson, markdown"
        );
    }
}
