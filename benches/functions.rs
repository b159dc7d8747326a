//! Criterion benches of persona's functions, each beside the nearest built-in, calling
//! `invoke_with_args` on Arrow arrays so planning is not measured.
//!
//! `cargo bench --bench functions`

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use datafusion::arrow::array::StringArray;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::ScalarValue;
use datafusion::common::config::ConfigOptions;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl};
use persona_udfs::PersonaOptions;

fn args(rows: usize, config: Arc<ConfigOptions>) -> ScalarFunctionArgs {
    ScalarFunctionArgs {
        args: vec![],
        arg_fields: vec![],
        number_rows: rows,
        return_field: Arc::new(Field::new("d", DataType::Date32, false)),
        config_options: config,
    }
}

fn bench_as_of(c: &mut Criterion) {
    let mut config = ConfigOptions::new();
    let mut options = PersonaOptions::new();
    datafusion::common::config::ExtensionOptions::set(&mut options, "as_of", "2024-06-30").unwrap();
    config.extensions.insert(options);
    let config = Arc::new(config);
    let as_of: Arc<ScalarUDF> = persona_udfs::core::as_of::as_of_udf();
    let current_date = datafusion::functions::datetime::current_date();
    let mut group = c.benchmark_group("as_of");
    group.bench_function("persona as_of()", |b| {
        b.iter(|| as_of.invoke_with_args(args(8192, config.clone())).unwrap())
    });
    group.bench_function("built-in current_date()", |b| {
        b.iter(|| {
            current_date
                .invoke_with_args(args(8192, config.clone()))
                .unwrap()
        })
    });
    group.finish();
}

/// 1M events of 50k customers over a year, in one in-memory table: event_ts, customer_id,
/// event_type (view, cart or purchase), as the behaviour views see them.
fn events_context(rt: &tokio::runtime::Runtime) -> datafusion::prelude::SessionContext {
    use datafusion::arrow::array::{
        Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
    };
    use datafusion::arrow::datatypes::{Schema, TimeUnit};
    let n = 1_000_000u64;
    // A fixed linear congruential sequence: the same data every run.
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        x >> 33
    };
    let (mut ts, mut ids, mut kinds) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..n {
        ts.push(1_704_067_200_000_000 + (next() % 31_536_000) as i64 * 1_000_000);
        ids.push((next() % 50_000) as i64);
        kinds.push(match next() % 10 {
            0 => "purchase",
            1..=2 => "cart",
            _ => "view",
        });
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new(
            "event_ts",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            false,
        ),
        Field::new("customer_id", DataType::Int64, false),
        Field::new("event_type", DataType::Utf8, false),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(TimestampMicrosecondArray::from(ts)),
            Arc::new(Int64Array::from(ids)),
            Arc::new(StringArray::from(kinds)),
        ],
    )
    .unwrap();
    let mut ctx = datafusion::prelude::SessionContext::new();
    persona_udfs::register_all(&mut ctx).unwrap();
    ctx.register_batch("events", batch).unwrap();
    rt.block_on(async { ctx.sql("SELECT 1").await.unwrap().collect().await.unwrap() });
    ctx
}

/// The behaviour aggregates per customer over 1M events, each beside the built-in aggregate
/// that does the nearest work (collecting each customer's events; one flag per condition;
/// counting distinct ids).
fn bench_behaviour(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ctx = events_context(&rt);
    let run =
        |sql: &str| rt.block_on(async { ctx.sql(sql).await.unwrap().collect().await.unwrap() });
    let mut group = c.benchmark_group("behaviour, 1M events of 50k customers");
    group.sample_size(10);
    let queries = [
        (
            "persona window_funnel",
            "SELECT customer_id, window_funnel(INTERVAL '7 days', event_ts, event_type = 'view', \
             event_type = 'cart', event_type = 'purchase') FROM events GROUP BY 1",
        ),
        (
            "built-in array_agg(event_ts)",
            "SELECT customer_id, array_agg(event_ts) FROM events GROUP BY 1",
        ),
        (
            "persona retention",
            "SELECT customer_id, retention(event_type = 'view', event_type = 'cart', \
             event_type = 'purchase') FROM events GROUP BY 1",
        ),
        (
            "built-in bool_or x3",
            "SELECT customer_id, bool_or(event_type = 'view'), bool_or(event_type = 'cart'), \
             bool_or(event_type = 'purchase') FROM events GROUP BY 1",
        ),
        (
            "persona bitmap_agg",
            "SELECT event_type, bitmap_agg(customer_id) FROM events GROUP BY 1",
        ),
        (
            "built-in count(DISTINCT customer_id)",
            "SELECT event_type, count(DISTINCT customer_id) FROM events GROUP BY 1",
        ),
    ];
    for (name, sql) in queries {
        group.bench_function(name, |b| b.iter(|| run(sql)));
    }
    group.finish();
}

/// A batch of 8,192 texts made of `samples`, as the functions receive it.
fn text_args(samples: &[&str], extra: Vec<ColumnarValue>) -> ScalarFunctionArgs {
    let values: Vec<&str> = (0..8192).map(|i| samples[i % samples.len()]).collect();
    let mut args = vec![ColumnarValue::Array(Arc::new(StringArray::from(values)))];
    args.extend(extra);
    ScalarFunctionArgs {
        arg_fields: args
            .iter()
            .map(|a| Arc::new(Field::new("t", a.data_type(), true)))
            .collect(),
        args,
        number_rows: 8192,
        return_field: Arc::new(Field::new("s", DataType::Float64, true)),
        config_options: Arc::new(ConfigOptions::new()),
    }
}

/// sentiment over short Chinese and English comments, beside the built-in `length` (the
/// floor: one pass over the same strings), and keywords.
fn bench_text(c: &mut Criterion) {
    let zh = [
        "质量很好，物流也快，非常满意",
        "物流太慢，等了一个星期，不会再买",
        "客服态度很差，退款一直不处理",
        "性价比超高，比想象中好",
        "收到了，还没用",
    ];
    let en = [
        "Love this phone, great quality and fast delivery!",
        "Terrible quality, the charger broke after two days",
        "Not worth the money, very disappointed",
        "It's ok I guess",
    ];
    let sentiment = persona_udfs::text::sentiment::sentiment_udf();
    let keywords = persona_udfs::text::keywords::keywords_udf();
    let length = datafusion::functions::unicode::character_length();
    // Load the segmenter and the models outside the measurement.
    persona_udfs::text::zh::warm_up();
    persona_udfs::text::vader::warm_up();
    let mut group = c.benchmark_group("text, 8192 short comments");
    group.bench_function("persona sentiment (Chinese)", |b| {
        b.iter(|| sentiment.invoke_with_args(text_args(&zh, vec![])).unwrap())
    });
    group.bench_function("persona sentiment (English)", |b| {
        b.iter(|| sentiment.invoke_with_args(text_args(&en, vec![])).unwrap())
    });
    group.bench_function("persona keywords(text, 3) (Chinese)", |b| {
        let k = ColumnarValue::Scalar(ScalarValue::Int64(Some(3)));
        b.iter(|| {
            keywords
                .invoke_with_args(text_args(&zh, vec![k.clone()]))
                .unwrap()
        })
    });
    group.bench_function("built-in character_length (Chinese)", |b| {
        b.iter(|| length.invoke_with_args(text_args(&zh, vec![])).unwrap())
    });
    group.finish();
}

/// 100k rows of `samples` in one Utf8 column.
fn column(samples: &[&str]) -> ColumnarValue {
    let values: Vec<&str> = (0..100_000).map(|i| samples[i % samples.len()]).collect();
    ColumnarValue::Array(Arc::new(StringArray::from(values)))
}

/// The arguments of one call over a column (the array is shared, not copied).
fn column_args(column: &ColumnarValue, returns: DataType) -> ScalarFunctionArgs {
    ScalarFunctionArgs {
        arg_fields: vec![Arc::new(Field::new("t", column.data_type(), true))],
        args: vec![column.clone()],
        number_rows: 100_000,
        return_field: Arc::new(Field::new("r", returns, true)),
        config_options: Arc::new(ConfigOptions::new()),
    }
}

fn clean_udf(name: &str) -> Arc<ScalarUDF> {
    persona_udfs::clean::functions()
        .into_iter()
        .find(|f| f.name() == name)
        .expect("a cleaning function")
}

/// The cleaning functions over 100k realistic values each, beside the built-in that does the
/// nearest work on the same column: to_date (which only reads ISO dates, so it gets an ISO
/// column and std_date runs on both), trim and lower.
fn bench_clean(c: &mut Criterion) {
    let mixed_dates = column(&[
        "2024-03-05",
        "2024/3/5",
        "2024年3月5日",
        "03/05/2024",
        "20240305",
        "2024-03-05 14:30:00",
        "Mar 5, 2024",
        "45356",
        "1709620200",
        "N/A",
    ]);
    let iso_dates = column(&["2024-03-05", "2023-12-31", "2024-02-29", "2022-07-01"]);
    let phones = column(&[
        "13812345678",
        "+86 139-1234-5678",
        "0086 150 0000 1111",
        "186 1234 5678",
        "010-12345678",
        "0755-8888 6666",
        "12345",
        "１３８１２３４５６７８",
    ]);
    let texts = column(&[
        "Zhang Wei",
        "  zhang   wei ",
        "深圳市南山区科技园",
        "ＡＢＣ　公司",
        "already clean text",
        "tab\tand\nnewline",
    ]);
    let std_date = clean_udf("std_date");
    let std_phone = clean_udf("std_phone");
    let std_text = clean_udf("std_text");
    let to_date = datafusion::functions::datetime::to_date();
    let trim = datafusion::functions::string::btrim();
    let lower = datafusion::functions::string::lower();

    let mut group = c.benchmark_group("std_date, 100k values");
    group.bench_function("persona std_date (mixed spellings)", |b| {
        b.iter(|| {
            std_date
                .invoke_with_args(column_args(&mixed_dates, DataType::Date32))
                .unwrap()
        })
    });
    group.bench_function("persona std_date (ISO)", |b| {
        b.iter(|| {
            std_date
                .invoke_with_args(column_args(&iso_dates, DataType::Date32))
                .unwrap()
        })
    });
    group.bench_function("built-in to_date (ISO)", |b| {
        b.iter(|| {
            to_date
                .invoke_with_args(column_args(&iso_dates, DataType::Date32))
                .unwrap()
        })
    });
    group.bench_function("built-in trim (mixed spellings)", |b| {
        b.iter(|| {
            trim.invoke_with_args(column_args(&mixed_dates, DataType::Utf8))
                .unwrap()
        })
    });
    group.finish();

    // Parquet columns reach the functions as Utf8View (DataFusion's default), literals and
    // CSV as Utf8: both kinds, with persona's function and the built-ins on each.
    for (name, column, function) in [
        ("std_phone", &phones, &std_phone),
        ("std_text", &texts, &std_text),
    ] {
        let mut group = c.benchmark_group(format!("{name}, 100k values"));
        let ColumnarValue::Array(array) = column else {
            unreachable!("columns are arrays")
        };
        let view = ColumnarValue::Array(cast(array, &DataType::Utf8View).expect("a view column"));
        for (kind, column) in [("Utf8", column), ("Utf8View", &view)] {
            for (who, f) in [
                ("persona", function),
                ("built-in", &trim),
                ("built-in", &lower),
            ] {
                let returns = f.return_type(&[column.data_type()]).expect("a return type");
                group.bench_function(format!("{who} {} ({kind})", f.name()), |b| {
                    b.iter(|| {
                        f.invoke_with_args(column_args(column, returns.clone()))
                            .unwrap()
                    })
                });
            }
        }
        group.finish();
    }
}

/// The built-ins persona replaces, beside DataFusion's own: `date_trunc('month', ts)` over 1M
/// timestamps of three years, and `list[3]` over 100k lists of twelve 0/1 values (what
/// `retention` gives).
fn bench_builtins(c: &mut Criterion) {
    use datafusion::arrow::array::{ListArray, TimestampMicrosecondArray};
    use datafusion::arrow::datatypes::UInt8Type;
    use datafusion::functions::datetime::date_trunc::DateTruncFunc;
    use datafusion::functions_nested::extract::ArrayElement;

    // One call over the rows of the array argument, answering `returns`.
    let call = |f: &dyn ScalarUDFImpl, args: Vec<ColumnarValue>, returns: &DataType| {
        let rows = args
            .iter()
            .find_map(|a| match a {
                ColumnarValue::Array(a) => Some(a.len()),
                ColumnarValue::Scalar(_) => None,
            })
            .unwrap_or(1);
        let fields = args
            .iter()
            .map(|a| Arc::new(Field::new("a", a.data_type(), true)))
            .collect();
        f.invoke_with_args(ScalarFunctionArgs {
            args,
            arg_fields: fields,
            number_rows: rows,
            return_field: Arc::new(Field::new("r", returns.clone(), true)),
            config_options: Arc::new(ConfigOptions::default()),
        })
        .unwrap()
    };

    // Three years of microsecond times from 2022, in a fixed pseudo-random order.
    let times = ColumnarValue::Array(Arc::new(TimestampMicrosecondArray::from_iter_values(
        (0..1_000_000u64).map(|i| {
            let x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 34;
            1_640_995_200_000_000 + (x % (3 * 365 * 86_400)) as i64 * 1_000_000
        }),
    )));
    let month = ColumnarValue::Scalar(ScalarValue::Utf8(Some("month".into())));
    let lists = ColumnarValue::Array(Arc::new(ListArray::from_iter_primitive::<UInt8Type, _, _>(
        (0..100_000u32).map(|i| Some((0..12u32).map(move |k| Some(((i >> (k % 8)) & 1) as u8)))),
    )));
    let third = ColumnarValue::Scalar(ScalarValue::Int64(Some(3)));
    let returns_time = times.data_type();
    let cases: [(&str, _, Box<dyn ScalarUDFImpl>, _, _); 2] = [
        (
            "date_trunc('month', ts), 1M timestamps",
            persona_udfs::builtins::date_trunc::date_trunc_udf(),
            Box::new(DateTruncFunc::new()),
            vec![month, times],
            returns_time,
        ),
        (
            "list[3], 100k lists of 12",
            persona_udfs::builtins::array_element::array_element_udf(),
            Box::new(ArrayElement::new()),
            vec![lists, third],
            DataType::UInt8,
        ),
    ];
    for (name, ours, theirs, args, returns) in cases {
        let mut group = c.benchmark_group(name);
        for (who, f) in [
            ("persona", ours.inner().as_ref()),
            ("built-in", theirs.as_ref()),
        ] {
            group.bench_function(format!("{who} {}", f.name()), |b| {
                b.iter(|| call(f, args.clone(), &returns))
            });
        }
        group.finish();
    }
}

criterion_group!(
    benches,
    bench_as_of,
    bench_behaviour,
    bench_text,
    bench_clean,
    bench_builtins
);
criterion_main!(benches);
