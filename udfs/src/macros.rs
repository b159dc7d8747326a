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

/// `user_defined_udaf!(Struct, accessor, "doc")`: the same for an aggregate function (an
/// immutable one with a user-defined signature), its accessor returning a shared
/// `Arc<AggregateUDF>`.
#[macro_export]
macro_rules! user_defined_udaf {
    ($udf_impl:ident, $accessor:ident, $doc:literal) => {
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

        /// Shared instance of this function as an [`AggregateUDF`](datafusion::logical_expr::AggregateUDF).
        pub fn $accessor() -> std::sync::Arc<datafusion::logical_expr::AggregateUDF> {
            static INSTANCE: std::sync::OnceLock<
                std::sync::Arc<datafusion::logical_expr::AggregateUDF>,
            > = std::sync::OnceLock::new();
            INSTANCE
                .get_or_init(|| {
                    std::sync::Arc::new(datafusion::logical_expr::AggregateUDF::new_from_impl(
                        <$udf_impl>::default(),
                    ))
                })
                .clone()
        }
    };
}

/// `user_defined_udwf!(Struct, accessor, "doc")`: the same for a window function.
#[macro_export]
macro_rules! user_defined_udwf {
    ($udf_impl:ident, $accessor:ident, $doc:literal) => {
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

        /// Shared instance of this function as a [`WindowUDF`](datafusion::logical_expr::WindowUDF).
        pub fn $accessor() -> std::sync::Arc<datafusion::logical_expr::WindowUDF> {
            static INSTANCE: std::sync::OnceLock<
                std::sync::Arc<datafusion::logical_expr::WindowUDF>,
            > = std::sync::OnceLock::new();
            INSTANCE
                .get_or_init(|| {
                    std::sync::Arc::new(datafusion::logical_expr::WindowUDF::new_from_impl(
                        <$udf_impl>::default(),
                    ))
                })
                .clone()
        }
    };
}
