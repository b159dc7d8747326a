//! `persona.toml`: a project's sources and settings.
//!
//! Unknown keys and wrong types are errors with the line and column, because a misspelt key that
//! is silently ignored is a source that silently never loads. Relative paths are relative to the
//! directory that holds `persona.toml`.
//!
//! ```toml
//! [project]
//! name = "shop"
//! as_of = "2024-06-30"            # optional; default: the latest date of as_of_column
//! as_of_column = "orders.order_ts" # optional; default: the first date column of `orders`
//! timezone = "Asia/Shanghai"
//! region = "CN"
//! memory_limit = "4GB"
//!
//! [settings]                        # any SET-able setting, applied when the project opens
//! "persona.rfm.method" = "quartile"
//!
//! [[source]]
//! name = "orders"
//! path = "data/orders/*.csv"
//! format = "csv"
//! options = { delimiter = ";", header = true }
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{PersonaError, Result};

/// The parsed `persona.toml`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectConfig {
    #[serde(default)]
    pub project: ProjectSettings,
    #[serde(default, rename = "source")]
    pub sources: Vec<SourceConfig>,
    /// Session settings applied when the project opens, as `SET key = value` would:
    /// `"persona.rfm.method" = "quartile"`, `"datafusion.execution.batch_size" = 16384`.
    #[serde(default)]
    pub settings: std::collections::BTreeMap<String, toml::Value>,
    /// Data-quality checks run by `persona check` (see [`crate::check`]).
    #[serde(default, rename = "check")]
    pub checks: Vec<crate::check::CheckConfig>,
    /// `persona serve` settings.
    #[serde(default)]
    pub serve: crate::serve::ServeConfig,
    /// Who may connect to `persona serve`.
    #[serde(default, rename = "user")]
    pub users: Vec<crate::serve::UserConfig>,
    /// Identity stitching across the ingested sources (see [`crate::ingest::identity`]).
    #[serde(default)]
    pub identity: IdentityConfig,
    /// Defaults for `s3://` locations (see [`crate::storage`]).
    #[serde(default)]
    pub s3: crate::storage::S3Config,
}

impl ProjectConfig {
    /// The `[settings]` as key and text value pairs.
    pub fn setting_pairs(&self) -> Vec<(String, String)> {
        self.settings
            .iter()
            .map(|(k, v)| {
                let text = match v {
                    toml::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), text)
            })
            .collect()
    }
}

/// The `[project]` table.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectSettings {
    pub name: Option<String>,
    /// Fixed as-of date, `YYYY-MM-DD`.
    pub as_of: Option<String>,
    /// `table.column` whose latest date is the default as-of date.
    pub as_of_column: Option<String>,
    /// Session time zone for timestamps with a zone, e.g. `Asia/Shanghai`.
    pub timezone: Option<String>,
    /// Default region for phone numbers, ISO 3166 alpha-2.
    pub region: Option<String>,
    /// Memory limit such as `4GB`; above it, sorts, joins and aggregates spill to disk.
    pub memory_limit: Option<String>,
    /// Whether persona's built-in views and tags are loaded (default true); false for a
    /// project whose tables have other shapes, which would otherwise warn at every start.
    pub builtin_views: Option<bool>,
}

/// One `[[source]]`: a table read from files.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    pub name: String,
    /// A file, a directory, or a glob such as `data/orders/*.csv`.
    pub path: String,
    pub format: SourceFormat,
    #[serde(default)]
    pub options: SourceOptions,
    /// Text encoding of csv, tsv and json files: `utf-8` (default), `gbk` or `gb18030`.
    pub encoding: Option<String>,
    /// How `persona ingest` turns this source into curated Parquet. A source with this section
    /// is read by `persona ingest` only; sessions see its curated rows as `stg_<name>`.
    pub ingest: Option<IngestConfig>,
}

/// `[source.ingest]`: the cleaning, rules and deduplication of one source.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestConfig {
    /// The curated columns, as SQL select items over the raw columns (which are text for csv and
    /// json): `"std_phone(mobile) AS phone"`. Default: every raw column as it is.
    #[serde(default)]
    pub select: Vec<String>,
    /// Curated columns that identify a record; a row with one of them NULL is rejected.
    #[serde(default)]
    pub key: Vec<String>,
    /// `exact` (default): rows equal in every curated column are one; `latest`: one row per key,
    /// the one with the largest `latest_by`; `none`.
    #[serde(default)]
    pub dedup: Dedup,
    /// For `dedup = "latest"`: the curated column whose largest value wins.
    pub latest_by: Option<String>,
    /// Declared rules: a row failing one is rejected with the rule's reason.
    #[serde(default, rename = "rule")]
    pub rules: Vec<RuleConfig>,
    /// How this source's records take part in identity stitching.
    pub identity: Option<IdentitySource>,
}

/// How duplicate rows of a source are merged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dedup {
    #[default]
    Exact,
    Latest,
    None,
}

/// `[[source.ingest.rule]]`: a condition every curated row must meet.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    pub name: String,
    /// SQL over the curated columns; the raw text values are in the struct `raw`
    /// (`raw['mobile']`). A row passes when it is true.
    pub check: String,
    /// SQL text expression giving the reason (default: `<name> failed: <check>`).
    pub reason: Option<String>,
}

/// `[source.ingest.identity]`: the record id and match keys of a source.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentitySource {
    /// The curated column (or SQL expression) that identifies one record of this source.
    pub id: String,
    /// Match keys by kind (`phone`, `email`, `device_id`, `account_id`, or any name shared across
    /// sources) to the curated column or expression holding them.
    pub keys: std::collections::BTreeMap<String, String>,
    /// Golden-record attributes this source contributes, by name, to curated column or
    /// expression: `{ name = "name", city = "city" }`.
    #[serde(default)]
    pub attributes: std::collections::BTreeMap<String, String>,
    /// The column saying when the record was last true, for the latest-value rule.
    pub updated_at: Option<String>,
}

/// `[identity]`: how records of different sources become one customer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityConfig {
    /// A key value shared by more records than this links none of them; it is listed in
    /// `identity_audit` instead (`test@test.com`, a shop's phone number).
    #[serde(default = "default_max_records_per_key")]
    pub max_records_per_key: usize,
    /// Golden-record attributes taken by the most frequent value rather than the latest.
    #[serde(default)]
    pub most_frequent: Vec<String>,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        IdentityConfig {
            max_records_per_key: default_max_records_per_key(),
            most_frequent: Vec::new(),
        }
    }
}

fn default_max_records_per_key() -> usize {
    5
}

/// File formats a source can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum SourceFormat {
    Csv,
    Tsv,
    /// Newline-delimited JSON objects (as DuckDB's and DataFusion's JSON readers take them).
    Json,
    Ndjson,
    Parquet,
}

impl TryFrom<String> for SourceFormat {
    type Error = String;

    fn try_from(s: String) -> std::result::Result<Self, String> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "csv" => SourceFormat::Csv,
            "tsv" => SourceFormat::Tsv,
            "json" => SourceFormat::Json,
            "ndjson" | "jsonl" => SourceFormat::Ndjson,
            "parquet" => SourceFormat::Parquet,
            _ => {
                return Err(format!(
                    "unknown format '{s}'; use csv, tsv, json, ndjson or parquet"
                ));
            }
        })
    }
}

impl SourceFormat {
    /// The file extension DataFusion lists in a directory of this format.
    pub fn extension(self) -> &'static str {
        match self {
            SourceFormat::Csv => ".csv",
            SourceFormat::Tsv => ".tsv",
            SourceFormat::Json => ".json",
            SourceFormat::Ndjson => ".ndjson",
            SourceFormat::Parquet => ".parquet",
        }
    }
}

/// Reader options; which apply depends on the format (checked in [`SourceConfig::validate`]).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceOptions {
    /// CSV: one-character field delimiter (default `,`, `\t` for tsv).
    pub delimiter: Option<String>,
    /// CSV: whether the first line holds column names (default true).
    pub header: Option<bool>,
    /// CSV: quote character (default `"`).
    pub quote: Option<String>,
    /// CSV: escape character (default none: quotes are doubled).
    pub escape: Option<String>,
    /// CSV: lines starting with this character are skipped.
    pub comment: Option<String>,
    /// CSV: text that stands for NULL, e.g. `NA` (a regular expression).
    pub null_value: Option<String>,
    /// Extension of the files to list in a directory (default by format, e.g. `.csv`).
    pub extension: Option<String>,
}

impl ProjectConfig {
    /// Reads and checks `path` (a `persona.toml`).
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| PersonaError::io(path, &e))?;
        Self::parse(&text, path)
    }

    /// Parses the text of a `persona.toml`; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let config: ProjectConfig = toml::from_str(text).map_err(|e| PersonaError::Config {
            path: path.to_path_buf(),
            message: toml_message(&e, text),
        })?;
        config.validate().map_err(|message| PersonaError::Config {
            path: path.to_path_buf(),
            message,
        })?;
        Ok(config)
    }

    fn validate(&self) -> std::result::Result<(), String> {
        let mut seen = std::collections::HashSet::new();
        for s in &self.sources {
            if !seen.insert(s.name.to_ascii_lowercase()) {
                return Err(format!("source '{}' is defined twice", s.name));
            }
            s.validate()?;
        }
        if let Some(as_of) = &self.project.as_of {
            persona_udfs::config::parse_date_days(as_of).map_err(|_| {
                format!("project.as_of must be a date like '2024-06-30', got '{as_of}'")
            })?;
        }
        if let Some(col) = &self.project.as_of_column
            && !col.contains('.')
        {
            return Err(format!(
                "project.as_of_column must be 'table.column', got '{col}'"
            ));
        }
        if let Some(limit) = &self.project.memory_limit {
            parse_memory_size(limit).map_err(|e| format!("project.memory_limit: {e}"))?;
        }
        Ok(())
    }
}

impl SourceConfig {
    fn validate(&self) -> std::result::Result<(), String> {
        let name = &self.name;
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!(
                "source name '{name}' must be letters, digits and underscores, so SQL can name it unquoted"
            ));
        }
        if self.path.trim().is_empty() {
            return Err(format!("source '{name}' has an empty path"));
        }
        if let Some(enc) = &self.encoding {
            if crate::ingest::read::encoding_for(enc).is_none() {
                return Err(format!(
                    "source '{name}': unknown encoding '{enc}'; use utf-8, gbk or gb18030"
                ));
            }
            if self.format == SourceFormat::Parquet {
                return Err(format!(
                    "source '{name}': encoding applies to csv, tsv and json sources; Parquet text is always UTF-8"
                ));
            }
        }
        if let Some(ingest) = &self.ingest {
            if ingest.dedup == Dedup::Latest
                && (ingest.key.is_empty() || ingest.latest_by.is_none())
            {
                return Err(format!(
                    "source '{name}': dedup = \"latest\" needs a key and latest_by"
                ));
            }
            if ingest.dedup != Dedup::Latest && ingest.latest_by.is_some() {
                return Err(format!(
                    "source '{name}': latest_by applies only with dedup = \"latest\""
                ));
            }
            if let Some(id) = &ingest.identity
                && id.keys.is_empty()
            {
                return Err(format!(
                    "source '{name}': [source.ingest.identity] needs at least one key"
                ));
            }
        }
        let o = &self.options;
        let csv_only = [
            ("delimiter", o.delimiter.is_some()),
            ("header", o.header.is_some()),
            ("quote", o.quote.is_some()),
            ("escape", o.escape.is_some()),
            ("comment", o.comment.is_some()),
            ("null_value", o.null_value.is_some()),
        ];
        if !matches!(self.format, SourceFormat::Csv | SourceFormat::Tsv)
            && let Some((key, _)) = csv_only.iter().find(|(_, set)| *set)
        {
            return Err(format!(
                "source '{name}': option '{key}' applies to csv and tsv sources only"
            ));
        }
        for (key, value) in [
            ("delimiter", &o.delimiter),
            ("quote", &o.quote),
            ("escape", &o.escape),
            ("comment", &o.comment),
        ] {
            if let Some(v) = value
                && single_byte(v).is_none()
            {
                return Err(format!(
                    "source '{name}': option '{key}' must be one character, got '{v}'"
                ));
            }
        }
        Ok(())
    }

    /// The path resolved against the project directory.
    pub fn resolved_path(&self, project_dir: &Path) -> String {
        let p = Path::new(&self.path);
        if p.is_absolute() || self.path.contains("://") {
            self.path.clone()
        } else {
            project_dir.join(p).to_string_lossy().into_owned()
        }
    }
}

/// The byte of a one-character option, accepting the escapes `\t` and `tab`.
pub fn single_byte(v: &str) -> Option<u8> {
    match v {
        "\\t" | "tab" => Some(b'\t'),
        _ if v.len() == 1 => Some(v.as_bytes()[0]),
        _ => None,
    }
}

/// toml's error as one line: "line 3, column 1: unknown field `nmae`, expected …".
pub fn toml_message(err: &toml::de::Error, text: &str) -> String {
    let msg = err.message().trim().replace('\n', " ");
    match err.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            let col = span.start
                - text[..span.start.min(text.len())]
                    .rfind('\n')
                    .map_or(0, |i| i + 1)
                + 1;
            format!("line {line}, column {col}: {msg}")
        }
        None => msg,
    }
}

/// Parses sizes like `4GB`, `512MB`, `2g`, `1.5GiB` or a plain byte count.
pub fn parse_memory_size(s: &str) -> std::result::Result<usize, String> {
    let t = s.trim();
    let split = t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len());
    let (num, unit) = (t[..split].trim(), t[split..].trim().to_ascii_lowercase());
    let value: f64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a size such as 4GB or 512MB"))?;
    let mult: f64 = match unit.as_str() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" | "tib" => 1024.0_f64.powi(4),
        _ => return Err(format!("'{s}' has an unknown unit; use KB, MB, GB or TB")),
    };
    let bytes = value * mult;
    if !(bytes.is_finite() && bytes >= 16.0 * 1024.0 * 1024.0) {
        return Err(format!("'{s}' is too small; persona needs at least 16MB"));
    }
    Ok(bytes as usize)
}

/// Where the project lives and what it holds.
#[derive(Debug, Clone)]
pub struct Project {
    /// The directory holding `persona.toml` and `sql/`.
    pub dir: PathBuf,
    pub config: ProjectConfig,
}

impl Project {
    /// Loads the project in `dir`, which must contain a `persona.toml`.
    pub fn open(dir: &Path) -> Result<Self> {
        if !dir.exists() {
            return Err(PersonaError::Io {
                path: dir.to_path_buf(),
                message: "no such project directory".into(),
            });
        }
        if !dir.is_dir() {
            return Err(PersonaError::Io {
                path: dir.to_path_buf(),
                message: "is a file, expected a project directory".into(),
            });
        }
        let toml = dir.join("persona.toml");
        if !toml.is_file() {
            return Err(PersonaError::Io {
                path: toml,
                message: "not found: a project directory needs a persona.toml".into(),
            });
        }
        Ok(Project {
            dir: dir.to_path_buf(),
            config: ProjectConfig::load(&toml)?,
        })
    }

    /// The project the CLI opens: `dir` if given, else the current directory when it holds a
    /// `persona.toml`, else the bundled sample.
    pub fn discover(dir: Option<&Path>) -> Result<Self> {
        if let Some(dir) = dir {
            return Project::open(dir);
        }
        if Path::new("persona.toml").is_file() {
            return Project::open(Path::new("."));
        }
        Project::open(&sample_dir())
    }

    /// The directory of the project's own views.
    pub fn sql_dir(&self) -> PathBuf {
        self.dir.join("sql")
    }

    /// Whether this is the sample bundled with persona (read-only to commands).
    pub fn is_bundled_sample(&self) -> bool {
        let canon = |p: &Path| std::fs::canonicalize(p).ok();
        canon(&self.dir).is_some_and(|d| Some(d) == canon(&sample_dir()))
    }
}

/// The bundled sample project (`datasets/` of the source tree); `PERSONA_SAMPLE_DIR` overrides
/// it for an installed binary.
pub fn sample_dir() -> PathBuf {
    match std::env::var_os("PERSONA_SAMPLE_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> std::result::Result<ProjectConfig, String> {
        ProjectConfig::parse(text, Path::new("persona.toml")).map_err(|e| e.to_string())
    }

    #[test]
    fn unknown_key_names_the_key_and_the_line() {
        let err = parse("[project]\nname = 'x'\nnmae = 'y'\n").unwrap_err();
        assert!(
            err.starts_with("persona.toml: line 3, column 1: unknown field `nmae`"),
            "{err}"
        );
    }

    #[test]
    fn wrong_type_names_the_line() {
        let err = parse("[[source]]\nname = 'o'\npath = 3\nformat = 'csv'\n").unwrap_err();
        assert!(err.contains("line 3"), "{err}");
        assert!(err.contains("invalid type"), "{err}");
    }

    #[test]
    fn missing_source_path_is_named() {
        let err = parse("[[source]]\nname = 'o'\nformat = 'csv'\n").unwrap_err();
        assert!(err.contains("missing field `path`"), "{err}");
    }

    #[test]
    fn csv_options_on_parquet_are_refused() {
        let err = parse(
            "[[source]]\nname='o'\npath='o.parquet'\nformat='parquet'\noptions={delimiter=';'}\n",
        )
        .unwrap_err();
        assert!(
            err.contains("option 'delimiter' applies to csv and tsv sources only"),
            "{err}"
        );
    }

    #[test]
    fn memory_sizes() {
        assert_eq!(parse_memory_size("4GB"), Ok(4 << 30));
        assert_eq!(parse_memory_size("512mb"), Ok(512 << 20));
        assert_eq!(parse_memory_size("1.5G"), Ok(3 << 29));
        assert!(parse_memory_size("lots").is_err());
        assert!(parse_memory_size("4XB").is_err());
        assert!(parse_memory_size("1KB").is_err());
    }
}
