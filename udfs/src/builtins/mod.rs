//! Built-ins persona replaces with the same function, faster where its views and reports need
//! it. Each keeps DataFusion's name, signature, documentation and answers, and hands every call
//! outside its fast path to DataFusion's own implementation. `count` (grouped
//! `COUNT(DISTINCT integer)`) is one too and lives with the statistics functions.

pub mod array_element;
pub mod date_trunc;
