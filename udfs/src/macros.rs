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

/// `user_defined_udf!(Struct, accessor, volatility, "doc")` declares a scalar function's struct
/// with a user-defined signature (the function checks and coerces its own arguments in
/// `coerce_types`), its `Default`, and its shared accessor — the part every such function
/// would otherwise write out again.
#[macro_export]
macro_rules! user_defined_udf {
    ($udf_impl:ident, $accessor:ident, $volatility:expr, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, PartialEq, Eq, Hash)]
        pub struct $udf_impl {
            signature: datafusion::logical_expr::Signature,
        }

        impl Default for $udf_impl {
            fn default() -> Self {
                Self {
                    signature: datafusion::logical_expr::Signature::user_defined($volatility),
                }
            }
        }

        $crate::make_udf_function!($udf_impl, $accessor);
    };
}

/// `user_defined_shared!(Struct, accessor, AggregateUDF | WindowUDF, "doc")`: the struct of
/// an immutable aggregate or window function with a user-defined signature, its `Default`,
/// and an accessor returning one shared `Arc` of the DataFusion wrapper type.
#[macro_export]
macro_rules! user_defined_shared {
    ($udf_impl:ident, $accessor:ident, $wrapper:ident, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, PartialEq, Eq, Hash)]
        pub struct $udf_impl {
            signature: datafusion::logical_expr::Signature,
        }

        impl Default for $udf_impl {
            fn default() -> Self {
                Self {
                    signature: datafusion::logical_expr::Signature::user_defined(
                        datafusion::logical_expr::Volatility::Immutable,
                    ),
                }
            }
        }

        /// Shared instance of this function.
        pub fn $accessor() -> std::sync::Arc<datafusion::logical_expr::$wrapper> {
            static INSTANCE: std::sync::OnceLock<
                std::sync::Arc<datafusion::logical_expr::$wrapper>,
            > = std::sync::OnceLock::new();
            INSTANCE
                .get_or_init(|| {
                    std::sync::Arc::new(datafusion::logical_expr::$wrapper::new_from_impl(
                        <$udf_impl>::default(),
                    ))
                })
                .clone()
        }
    };
}

/// `user_defined_udaf!(Struct, accessor, "doc")`: [`user_defined_shared!`] for an aggregate.
#[macro_export]
macro_rules! user_defined_udaf {
    ($udf_impl:ident, $accessor:ident, $doc:literal) => {
        $crate::user_defined_shared!($udf_impl, $accessor, AggregateUDF, $doc);
    };
}

/// `user_defined_udwf!(Struct, accessor, "doc")`: [`user_defined_shared!`] for a window function.
#[macro_export]
macro_rules! user_defined_udwf {
    ($udf_impl:ident, $accessor:ident, $doc:literal) => {
        $crate::user_defined_shared!($udf_impl, $accessor, WindowUDF, $doc);
    };
}
