//! Object storage: `s3://` locations for sources, `CREATE EXTERNAL TABLE`, `COPY … TO` and
//! `persona ingest`.
//!
//! Where the settings come from, the first found winning: a statement's `OPTIONS ('aws.region'
//! 'eu-west-1', …)` (the keys datafusion-cli takes: `aws.access_key_id`,
//! `aws.secret_access_key`, `aws.session_token`, `aws.region`, `aws.endpoint`,
//! `aws.allow_http`), then `[s3]` in `persona.toml`, then the AWS environment variables
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`,
//! `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`). A store is registered per bucket, before DataFusion
//! first looks at the location, so the settings of the statement that names a bucket are the
//! ones used for it from then on in the session.
//!
//! Requests are retried twice within ten seconds at most: a wrong endpoint fails in seconds
//! with the endpoint's error, not after the client library's three-minute default.

use std::sync::Arc;
use std::time::Duration;

use datafusion::common::DataFusionError;
use datafusion::common::config::{ConfigEntry, ConfigExtension, ExtensionOptions};
use datafusion::logical_expr::{DdlStatement, LogicalPlan};
use datafusion::prelude::SessionContext;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::{ClientConfigKey, RetryConfig};
use serde::Deserialize;
use url::Url;

use crate::error::{PersonaError, Result};

/// The `aws.*` options of `CREATE EXTERNAL TABLE … OPTIONS (…)` and `COPY … OPTIONS (…)`.
#[derive(Debug, Clone, Default)]
pub struct AwsOptions {
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
    pub region: Option<String>,
    /// Endpoint of an S3-compatible service, e.g. `http://127.0.0.1:9000`.
    pub endpoint: Option<String>,
    pub allow_http: Option<bool>,
}

/// The option names, with what they are.
const AWS_KEYS: [(&str, &str); 6] = [
    ("access_key_id", "access key id"),
    ("secret_access_key", "secret access key"),
    ("session_token", "session token of temporary credentials"),
    ("region", "region, e.g. us-east-1"),
    ("endpoint", "endpoint of an S3-compatible service"),
    ("allow_http", "whether plain HTTP endpoints are allowed"),
];

impl ExtensionOptions for AwsOptions {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }

    fn cloned(&self) -> Box<dyn ExtensionOptions> {
        Box::new(self.clone())
    }

    /// Takes `aws.region` (as table options pass it) or `region`.
    fn set(&mut self, key: &str, value: &str) -> datafusion::common::Result<()> {
        let name = key.strip_prefix("aws.").unwrap_or(key);
        let v = Some(value.to_string());
        match name {
            "access_key_id" => self.access_key_id = v,
            "secret_access_key" => self.secret_access_key = v,
            "session_token" => self.session_token = v,
            "region" => self.region = v,
            "endpoint" => self.endpoint = v,
            "allow_http" => {
                self.allow_http = Some(value.trim().parse().map_err(|_| {
                    DataFusionError::Configuration(format!(
                        "aws.allow_http takes true or false, got '{value}'"
                    ))
                })?)
            }
            _ => {
                let known: Vec<String> = AWS_KEYS.iter().map(|(k, _)| format!("aws.{k}")).collect();
                return Err(DataFusionError::Configuration(format!(
                    "unknown option 'aws.{name}'; the aws options are {}",
                    known.join(", ")
                )));
            }
        }
        Ok(())
    }

    fn entries(&self) -> Vec<ConfigEntry> {
        let secret = |v: &Option<String>| v.as_ref().map(|_| "*****".to_string());
        let values = [
            self.access_key_id.clone(),
            secret(&self.secret_access_key),
            secret(&self.session_token),
            self.region.clone(),
            self.endpoint.clone(),
            self.allow_http.map(|b| b.to_string()),
        ];
        AWS_KEYS
            .iter()
            .zip(values)
            .map(|((k, d), value)| ConfigEntry {
                key: format!("aws.{k}"),
                value,
                description: d,
            })
            .collect()
    }
}

impl ConfigExtension for AwsOptions {
    const PREFIX: &'static str = "aws";
}

/// `[s3]` in `persona.toml`: defaults for every `s3://` location of the project. Keys are best
/// left to the environment (`AWS_ACCESS_KEY_ID`, …) rather than written into the file.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    pub region: Option<String>,
    pub endpoint: Option<String>,
    pub allow_http: Option<bool>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
}

impl S3Config {
    /// The `[s3]` settings as the session's default `aws.*` table options.
    pub fn as_options(&self) -> AwsOptions {
        AwsOptions {
            access_key_id: self.access_key_id.clone(),
            secret_access_key: self.secret_access_key.clone(),
            session_token: self.session_token.clone(),
            region: self.region.clone(),
            endpoint: self.endpoint.clone(),
            allow_http: self.allow_http,
        }
    }
}

/// Whether `location` is on S3.
pub fn is_s3(location: &str) -> bool {
    location
        .get(..5)
        .is_some_and(|p| p.eq_ignore_ascii_case("s3://"))
}

/// Registers an S3 store for the bucket of `location` built from `options` over the
/// environment.
pub fn register_s3(ctx: &SessionContext, location: &str, options: &AwsOptions) -> Result<()> {
    let url = Url::parse(location).map_err(|e| {
        PersonaError::Usage(format!("'{location}' is not a valid s3:// location: {e}"))
    })?;
    let bucket = url.host_str().filter(|b| !b.is_empty()).ok_or_else(|| {
        PersonaError::Usage(format!(
            "'{location}' names no bucket; write s3://BUCKET/PATH"
        ))
    })?;
    let store = s3_store(bucket, options)?;
    let base = Url::parse(&format!("s3://{bucket}")).expect("a bucket makes a valid URL");
    ctx.register_object_store(&base, Arc::new(store));
    Ok(())
}

/// The S3 store of `bucket`: `options` over the environment's `AWS_*` variables.
pub fn s3_store(bucket: &str, options: &AwsOptions) -> Result<object_store::aws::AmazonS3> {
    // Client settings one by one: `with_client_options` would replace those from_env read
    // (AWS_ALLOW_HTTP among them).
    let mut b = AmazonS3Builder::from_env()
        .with_config(
            AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout),
            "5s",
        )
        .with_config(AmazonS3ConfigKey::Client(ClientConfigKey::Timeout), "300s")
        .with_bucket_name(bucket);
    if let Some(v) = &options.access_key_id {
        b = b.with_access_key_id(v);
    }
    if let Some(v) = &options.secret_access_key {
        b = b.with_secret_access_key(v);
    }
    if let Some(v) = &options.session_token {
        b = b.with_token(v);
    }
    if let Some(v) = &options.region {
        b = b.with_region(v);
    }
    if let Some(v) = &options.endpoint {
        b = b.with_endpoint(v);
        if options.allow_http.is_none() && v.starts_with("http://") {
            // An http:// endpoint given explicitly is the user's choice; say so once rather
            // than fail with "builder error" on every request.
            b = b.with_allow_http(true);
        }
    }
    if let Some(v) = options.allow_http {
        b = b.with_allow_http(v);
    }
    let retry = RetryConfig {
        max_retries: 2,
        retry_timeout: Duration::from_secs(10),
        ..Default::default()
    };
    b.with_retry(retry)
        .build()
        .map_err(|e| PersonaError::Usage(format!("s3://{bucket}: {}", object_store_message(&e))))
}

/// The session's `aws.*` defaults (from `[s3]`) with `overrides` (`aws.`-prefixed keys of a
/// statement's OPTIONS) applied.
fn options_with(
    ctx: &SessionContext,
    overrides: &std::collections::HashMap<String, String>,
) -> Result<AwsOptions> {
    let mut o = ctx
        .state()
        .default_table_options()
        .extensions
        .get::<AwsOptions>()
        .cloned()
        .unwrap_or_default();
    for (k, v) in overrides {
        if k.starts_with("aws.") {
            o.set(k, v)?;
        }
    }
    Ok(o)
}

/// Registers the S3 stores a planned statement needs (its `CREATE EXTERNAL TABLE` locations or
/// its `COPY … TO` target), with the statement's `aws.*` options.
pub fn prepare(ctx: &SessionContext, plan: &LogicalPlan) -> Result<()> {
    match plan {
        LogicalPlan::Ddl(DdlStatement::CreateExternalTable(cmd)) => {
            for location in cmd.locations.iter().filter(|l| is_s3(l)) {
                register_s3(ctx, location, &options_with(ctx, &cmd.options)?)?;
            }
        }
        LogicalPlan::Copy(copy) if is_s3(&copy.output_url) => {
            register_s3(ctx, &copy.output_url, &options_with(ctx, &copy.options)?)?;
        }
        _ => {}
    }
    Ok(())
}

/// An object store error as one sentence: the service's own message where it sent one
/// (`NoSuchBucket`, `InvalidAccessKeyId`, …), without the request dump around it.
pub fn object_store_message(e: &dyn std::fmt::Display) -> String {
    let text = e.to_string();
    for (code, say) in [
        ("NoSuchBucket", "the bucket does not exist"),
        (
            "InvalidAccessKeyId",
            "the access key id is not known to the service",
        ),
        (
            "SignatureDoesNotMatch",
            "the secret access key does not match the access key id",
        ),
        ("AccessDenied", "access denied"),
        ("NoSuchKey", "no such object"),
    ] {
        if text.contains(code) {
            return format!("{say} ({code})");
        }
    }
    if text.contains("Connection refused") || text.contains("error sending request") {
        return "cannot connect to the S3 endpoint (is it running, and is the endpoint right?)"
            .into();
    }
    text.lines().next().unwrap_or_default().to_string()
}
