//! `make_udf_function!` turns a `ScalarUDFImpl` into a shared singleton accessor, as the
//! datafusion-functions-json crate does: `as_of_udf()` returns the same `Arc<ScalarUDF>` each
//! call, so registration and tests never build a function twice.

#[macro_export]
macro_rules! make_udf_function {
    ($udf_impl:ty, $accessor:ident) => {
        /// Shared instance of this function as a [`ScalarUDF`](datafusion::logical_expr::ScalarUDF).
        pub fn $accessor() -> std::sync::Arc<datafusion::logical_expr::ScalarUDF> {
            static INSTANCE: std::sync::OnceLock<
                std::sync::Arc<datafusion::logical_expr::ScalarUDF>,
            > = std::sync::OnceLock::new();
            INSTANCE
                .get_or_init(|| {
                    std::sync::Arc::new(datafusion::logical_expr::ScalarUDF::new_from_impl(
                        <$udf_impl>::default(),
                    ))
                })
                .clone()
        }
    };
}
