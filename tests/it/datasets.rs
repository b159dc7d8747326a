//! The bundled data: the CDNOW Parquet file equals the original text file line by line, and the
//! committed sample is what `persona gen` makes today (so the generator and sample never drift).
//!
//! `PERSONA_BLESS=1 cargo test --test it datasets` rewrites both.

use std::fs;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, Date32Array, Decimal128Array, Int32Array, Int64Array, RecordBatch,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::{root, run, scratch};

fn bless() -> bool {
    std::env::var_os("PERSONA_BLESS").is_some()
}

/// CDNOW_master.txt parsed: (customer_id, date as days since 1970, cds, cents).
fn parse_cdnow() -> Vec<(i64, i32, i32, i128)> {
    let text = fs::read_to_string(root().join("datasets/cdnow/CDNOW_master.txt")).unwrap();
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let d = f[1];
            let (y, m, dd) = (
                d[..4].parse().unwrap(),
                d[4..6].parse().unwrap(),
                d[6..8].parse().unwrap(),
            );
            let days = persona_udfs::config::days_from_civil(y, m, dd).unwrap();
            let (units, cents) = f[3].split_once('.').unwrap();
            let cents: i128 = units.parse::<i128>().unwrap() * 100 + cents.parse::<i128>().unwrap();
            (f[0].parse().unwrap(), days, f[2].parse().unwrap(), cents)
        })
        .collect()
}

#[test]
fn cdnow_parquet_matches_the_original_text() {
    let rows = parse_cdnow();
    assert_eq!(rows.len(), 69_659, "the published row count");
    let path = root().join("datasets/cdnow/cdnow_transactions.parquet");
    if bless() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("customer_id", DataType::Int64, false),
            Field::new("order_date", DataType::Date32, false),
            Field::new("cds", DataType::Int32, false),
            Field::new("dollar_value", DataType::Decimal128(10, 2), false),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
                Arc::new(Date32Array::from_iter_values(rows.iter().map(|r| r.1))),
                Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.2))),
                Arc::new(
                    Decimal128Array::from_iter_values(rows.iter().map(|r| r.3))
                        .with_precision_and_scale(10, 2)
                        .unwrap(),
                ),
            ],
        )
        .unwrap();
        let mut w = ArrowWriter::try_new(fs::File::create(&path).unwrap(), schema, None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
    }
    let reader = ParquetRecordBatchReaderBuilder::try_new(fs::File::open(&path).unwrap())
        .unwrap()
        .build()
        .unwrap();
    let mut got = Vec::new();
    for b in reader {
        let b = b.unwrap();
        let id = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
        let day = b.column(1).as_any().downcast_ref::<Date32Array>().unwrap();
        let cds = b.column(2).as_any().downcast_ref::<Int32Array>().unwrap();
        let val = b
            .column(3)
            .as_any()
            .downcast_ref::<Decimal128Array>()
            .unwrap();
        for i in 0..b.num_rows() {
            got.push((id.value(i), day.value(i), cds.value(i), val.value(i)));
        }
    }
    assert!(
        got == rows,
        "cdnow_transactions.parquet differs from CDNOW_master.txt; rerun with PERSONA_BLESS=1"
    );
}

/// CDNOW_sample.txt parsed: (master id, sample id, days since 1970, cds, cents).
fn parse_cdnow_sample() -> Vec<(i64, i64, i32, i32, i128)> {
    let text = fs::read_to_string(root().join("datasets/cdnow/CDNOW_sample.txt")).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (y, m, d) = (
                f[2][..4].parse().unwrap(),
                f[2][4..6].parse().unwrap(),
                f[2][6..8].parse().unwrap(),
            );
            let days = persona_udfs::config::days_from_civil(y, m, d).unwrap();
            let (units, cents) = f[4].split_once('.').unwrap();
            let cents: i128 = units.parse::<i128>().unwrap() * 100 + cents.parse::<i128>().unwrap();
            (
                f[0].parse().unwrap(),
                f[1].parse().unwrap(),
                days,
                f[3].parse().unwrap(),
                cents,
            )
        })
        .collect()
}

#[test]
fn cdnow_sample_parquet_matches_the_original_text() {
    let rows = parse_cdnow_sample();
    assert_eq!(rows.len(), 6_919, "the published row count");
    let path = root().join("datasets/cdnow/cdnow_sample_transactions.parquet");
    if bless() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("customer_id", DataType::Int64, false),
            Field::new("sample_id", DataType::Int64, false),
            Field::new("order_date", DataType::Date32, false),
            Field::new("cds", DataType::Int32, false),
            Field::new("dollar_value", DataType::Decimal128(10, 2), false),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.1))),
                Arc::new(Date32Array::from_iter_values(rows.iter().map(|r| r.2))),
                Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.3))),
                Arc::new(
                    Decimal128Array::from_iter_values(rows.iter().map(|r| r.4))
                        .with_precision_and_scale(10, 2)
                        .unwrap(),
                ),
            ],
        )
        .unwrap();
        let mut w = ArrowWriter::try_new(fs::File::create(&path).unwrap(), schema, None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
    }
    let reader = ParquetRecordBatchReaderBuilder::try_new(fs::File::open(&path).unwrap())
        .unwrap()
        .build()
        .unwrap();
    let mut got = Vec::new();
    for b in reader {
        let b = b.unwrap();
        let id = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
        let sid = b.column(1).as_any().downcast_ref::<Int64Array>().unwrap();
        let day = b.column(2).as_any().downcast_ref::<Date32Array>().unwrap();
        let cds = b.column(3).as_any().downcast_ref::<Int32Array>().unwrap();
        let val = b
            .column(4)
            .as_any()
            .downcast_ref::<Decimal128Array>()
            .unwrap();
        for i in 0..b.num_rows() {
            got.push((
                id.value(i),
                sid.value(i),
                day.value(i),
                cds.value(i),
                val.value(i),
            ));
        }
    }
    assert!(
        got == rows,
        "cdnow_sample_transactions.parquet differs from CDNOW_sample.txt; rerun with PERSONA_BLESS=1"
    );
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
