//! Criterion benches of persona's functions, each beside the nearest built-in, calling
//! `invoke_with_args` on Arrow arrays so planning is not measured.
//!
//! `cargo bench --bench functions`

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::config::ConfigOptions;
use datafusion::logical_expr::{ScalarFunctionArgs, ScalarUDF};
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

criterion_group!(benches, bench_as_of);
criterion_main!(benches);
