//! The bundled data: the CDNOW Parquet file equals the original text file line by line, and the
//! committed sample is what `persona gen` makes today (so the generator and sample never drift).
//!
//! `PERSONA_BLESS=1 cargo test --test it datasets` rewrites both.

use std::fs;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, Date32Array, Decimal128Array, Int32Array, Int64Array, RecordBatch,
};
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::{root, run, scratch};

fn bless() -> bool {
    std::env::var_os("PERSONA_BLESS").is_some()
}

/// The date of a `yyyymmdd` field as days since 1970-01-01.
fn day(yyyymmdd: &str) -> i32 {
    let (y, m, d) = (
        yyyymmdd[..4].parse().unwrap(),
        yyyymmdd[4..6].parse().unwrap(),
        yyyymmdd[6..8].parse().unwrap(),
    );
    persona_udfs::config::days_from_civil(y, m, d).unwrap()
}

/// A `12.34` field in cents.
fn cents(value: &str) -> i128 {
    let (units, cents) = value.split_once('.').unwrap();
    units.parse::<i128>().unwrap() * 100 + cents.parse::<i128>().unwrap()
}

/// The whitespace-separated fields of each non-blank line of a CDNOW text file.
fn cdnow_lines(file: &str, skip: usize) -> Vec<Vec<String>> {
    let text = fs::read_to_string(root().join("datasets/cdnow").join(file)).unwrap();
    text.lines()
        .skip(skip)
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split_whitespace().map(String::from).collect())
        .collect()
}

/// How a field of a CDNOW text file becomes a Parquet column.
#[derive(Clone, Copy)]
enum Col {
    Int64,
    Int32,
    Date,
    Money,
}

/// The whitespace-separated fields of `file` as a batch, field i becoming column i.
fn text_table(file: &str, skip: usize, columns: &[(&str, Col)]) -> RecordBatch {
    let rows = cdnow_lines(file, skip);
    let fields: Vec<Field> = columns
        .iter()
        .map(|(name, col)| {
            let t = match col {
                Col::Int64 => DataType::Int64,
                Col::Int32 => DataType::Int32,
                Col::Date => DataType::Date32,
                Col::Money => DataType::Decimal128(10, 2),
            };
            Field::new(*name, t, false)
        })
        .collect();
    let arrays: Vec<ArrayRef> = columns
        .iter()
        .enumerate()
        .map(|(i, (_, col))| -> ArrayRef {
            let field = rows.iter().map(move |r| r[i].as_str());
            match col {
                Col::Int64 => Arc::new(Int64Array::from_iter_values(
                    field.map(|v| v.parse().unwrap()),
                )),
                Col::Int32 => Arc::new(Int32Array::from_iter_values(
                    field.map(|v| v.parse().unwrap()),
                )),
                Col::Date => Arc::new(Date32Array::from_iter_values(field.map(day))),
                Col::Money => Arc::new(
                    Decimal128Array::from_iter_values(field.map(cents))
                        .with_precision_and_scale(10, 2)
                        .unwrap(),
                ),
            }
        })
        .collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).unwrap()
}

/// Writes `expected` to `file` under PERSONA_BLESS, then checks the committed file equals it.
fn check_or_bless(file: &str, expected: RecordBatch) {
    let path = root().join("datasets/cdnow").join(file);
    if bless() {
        let mut w = ArrowWriter::try_new(fs::File::create(&path).unwrap(), expected.schema(), None)
            .unwrap();
        w.write(&expected).unwrap();
        w.close().unwrap();
    }
    let reader = ParquetRecordBatchReaderBuilder::try_new(fs::File::open(&path).unwrap())
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
    let got = concat_batches(&expected.schema(), &batches).unwrap();
    assert!(
        got == expected,
        "{file} differs from the text file it is made from; rerun with PERSONA_BLESS=1"
    );
}

#[test]
fn cdnow_parquet_matches_the_original_text() {
    use Col::*;
    let columns = [
        ("customer_id", Int64),
        ("order_date", Date),
        ("cds", Int32),
        ("dollar_value", Money),
    ];
    let expected = text_table("CDNOW_master.txt", 1, &columns);
    assert_eq!(expected.num_rows(), 69_659, "the published row count");
    check_or_bless("cdnow_transactions.parquet", expected);
}

#[test]
fn cdnow_sample_parquet_matches_the_original_text() {
    use Col::*;
    let columns = [
        ("customer_id", Int64),
        ("sample_id", Int64),
        ("order_date", Date),
        ("cds", Int32),
        ("dollar_value", Money),
    ];
    let expected = text_table("CDNOW_sample.txt", 0, &columns);
    assert_eq!(expected.num_rows(), 6_919, "the published row count");
    check_or_bless("cdnow_sample_transactions.parquet", expected);
}

#[test]
fn committed_sample_is_what_gen_makes() {
    let sample = root().join("datasets/sample");
    if bless() {
        let _ = fs::remove_dir_all(&sample);
        let (_, err, code) = run(
            &root(),
            &["gen", "--customers", "2000", "--out", "datasets/sample"],
        );
        assert_eq!(code, 0, "{err}");
    }
    let dir = scratch("sample");
    let (_, err, code) = run(
        dir.path(),
        &["gen", "--customers", "2000", "--out", "fresh"],
    );
    assert_eq!(code, 0, "{err}");
    for table in [
        "customers",
        "orders",
        "order_items",
        "events",
        "social",
        "feedback",
        "campaign_contacts",
        "products",
        "campaigns",
    ] {
        let a = fs::read(sample.join(table).join("part-00000.parquet")).unwrap();
        let b = fs::read(
            dir.path()
                .join("fresh")
                .join(table)
                .join("part-00000.parquet"),
        )
        .unwrap();
        assert!(
            a == b,
            "datasets/sample/{table} is stale; rerun with PERSONA_BLESS=1"
        );
    }
}

#[test]
fn sample_project_loads_without_problems() {
    let dir = scratch("sample-load");
    let (out, err, code) = run(
        dir.path(),
        &[
            "--format",
            "csv",
            "-c",
            "SELECT count(*) AS n FROM cdnow_transactions",
        ],
    );
    assert_eq!((out.as_str(), err.as_str(), code), ("n\n69659\n", "", 0));
}
