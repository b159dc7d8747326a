//! Registers the sources of `persona.toml` as tables, one arm per file format.
//!
//! Paths are checked before DataFusion sees them, so a missing file or a glob that matches
//! nothing is reported as such rather than as an empty table or a listing error.

use std::path::Path;

use datafusion::prelude::{CsvReadOptions, JsonReadOptions, ParquetReadOptions, SessionContext};

use crate::config::{SourceConfig, SourceFormat, single_byte};
use crate::error::{PersonaError, clean_message};

/// Registers `source` in `ctx`, resolving its path against `project_dir`.
pub async fn register_source(
    ctx: &SessionContext,
    source: &SourceConfig,
    project_dir: &Path,
) -> Result<(), PersonaError> {
    let path = source.resolved_path(project_dir);
    let fail = |message: String| PersonaError::Source {
        name: source.name.clone(),
        path: source.path.clone(),
        message,
    };
    let single_file = check_path(&path).map_err(fail)?;
    // A single named file is read whatever its extension; a directory lists files by extension.
    let extension = match (&source.options.extension, single_file) {
        (Some(ext), _) => ext.clone(),
        (None, true) => String::new(),
        (None, false) => source.format.extension().to_string(),
    };
    let name = source.name.as_str();
    let o = &source.options;
    let result = match source.format {
        SourceFormat::Parquet => {
            ctx.register_parquet(
                name,
                &path,
                ParquetReadOptions::default().file_extension(&extension),
            )
            .await
        }
        SourceFormat::Csv | SourceFormat::Tsv => {
            let default_delimiter = if source.format == SourceFormat::Tsv {
                b'\t'
            } else {
                b','
            };
            let mut opts = CsvReadOptions::new()
                .has_header(o.header.unwrap_or(true))
                .delimiter(
                    o.delimiter
                        .as_deref()
                        .and_then(single_byte)
                        .unwrap_or(default_delimiter),
                )
                .file_extension(&extension)
                .null_regex(o.null_value.clone());
            if let Some(q) = o.quote.as_deref().and_then(single_byte) {
                opts = opts.quote(q);
            }
            if let Some(e) = o.escape.as_deref().and_then(single_byte) {
                opts = opts.escape(e);
            }
            if let Some(c) = o.comment.as_deref().and_then(single_byte) {
                opts = opts.comment(c);
            }
            ctx.register_csv(name, &path, opts).await
        }
        SourceFormat::Json | SourceFormat::Ndjson => {
            // `json` takes either layout, as DuckDB's read_json does: a file that opens with
            // `[` is one array of objects, anything else one object per line.
            let array =
                source.format == SourceFormat::Json && single_file && starts_with_bracket(&path);
            let opts = JsonReadOptions::default()
                .file_extension(&extension)
                .newline_delimited(!array);
            ctx.register_json(name, &path, opts).await
        }
    };
    result.map_err(|e| fail(clean_message(&e)))
}

/// Whether the file's first non-blank byte is `[` (a JSON array rather than NDJSON).
fn starts_with_bracket(path: &str) -> bool {
    use std::io::Read;
    let mut buf = [0u8; 512];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut buf))
        .unwrap_or(0);
    buf[..n].iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[')
}

/// Checks that `path` names something readable; returns whether it is one plain file.
fn check_path(path: &str) -> Result<bool, String> {
    if path.contains("://") {
        return Ok(!path.ends_with('/'));
    }
    if path.contains(['*', '?', '[']) {
        let matches = glob::glob(path).map_err(|e| format!("bad glob pattern: {e}"))?;
        if matches.filter_map(Result::ok).next().is_none() {
            return Err("no file matches this pattern".into());
        }
        return Ok(false);
    }
    let p = Path::new(path);
    match std::fs::metadata(p) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err("no such file or directory".into())
        }
        Err(e) => Err(e.to_string()),
        Ok(m) if m.is_dir() => {
            let empty = std::fs::read_dir(p)
                .map_err(|e| e.to_string())?
                .next()
                .is_none();
            if empty {
                Err("the directory is empty".into())
            } else {
                Ok(false)
            }
        }
        Ok(_) => std::fs::File::open(p)
            .map(|_| true)
            .map_err(|e| e.to_string()),
    }
}
