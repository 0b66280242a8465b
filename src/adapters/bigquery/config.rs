//! A `type: bigquery` target's keys, as dbt-bigquery names them.

use crate::settings::Target;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

pub const DEFAULT_ENDPOINT: &str = "https://bigquery.googleapis.com";

/// How rdbt gets an access token.
#[derive(Debug, Clone)]
pub enum AuthMethod {
    /// `method: service-account` with `keyfile` (a path).
    ServiceAccountFile(PathBuf),
    /// `method: service-account-json` (or `service-account` with
    /// `keyfile_json`): the key inline.
    ServiceAccountJson(Value),
    /// `method: oauth`: application default credentials.
    ApplicationDefault,
    /// `method: oauth-secrets`: a `token` used as it is, or a refresh token
    /// with its client.
    Secrets {
        token: Option<String>,
        refresh_token: Option<String>,
        client_id: Option<String>,
        client_secret: Option<String>,
        token_uri: Option<String>,
    },
}

/// Where sources with an `ingest:` block come from on BigQuery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceStaging {
    /// External tables over the Hive-partitioned Parquet land (production).
    External,
    /// The land read here and loaded into native tables (an emulator, or a
    /// project without access from BigQuery to the bucket).
    Load,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    Interactive,
    Batch,
}

impl Priority {
    pub fn as_api(self) -> &'static str {
        match self {
            Priority::Interactive => "INTERACTIVE",
            Priority::Batch => "BATCH",
        }
    }
}

#[derive(Debug, Clone)]
pub struct BigQueryConfig {
    pub project: String,
    /// The execution project (`execution_project`), which runs and pays for
    /// jobs; defaults to `project`.
    pub execution_project: String,
    pub dataset: String,
    pub location: Option<String>,
    pub method: AuthMethod,
    pub job_execution_timeout: Option<Duration>,
    /// Retries of a job on rate limits and 5xx (dbt-bigquery's default is 1).
    pub job_retries: u32,
    pub maximum_bytes_billed: Option<u64>,
    pub priority: Priority,
    pub impersonate_service_account: Option<String>,
    /// `https://bigquery.googleapis.com` unless an emulator or a private
    /// endpoint is named.
    pub api_endpoint: String,
    /// Labels added to every job (`job_labels` in profiles.yml).
    pub labels: BTreeMap<String, String>,
    pub source_staging: SourceStaging,
}

/// A wrong or missing key: what, and what to write instead.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ConfigError {
    pub message: String,
    pub help: String,
}

fn error(message: impl Into<String>, help: impl Into<String>) -> ConfigError {
    ConfigError {
        message: message.into(),
        help: help.into(),
    }
}

fn text(options: &serde_json::Map<String, Value>, key: &str) -> Option<String> {
    match options.get(key)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn number(
    options: &serde_json::Map<String, Value>,
    key: &str,
    target: &str,
) -> Result<Option<u64>, ConfigError> {
    match options.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_u64().map(Some).ok_or_else(|| {
            error(
                format!("`{key}` of target `{target}` must be a whole number, not {n}"),
                format!("write `{key}: 300` (a positive integer)"),
            )
        }),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => s.trim().parse::<u64>().map(Some).map_err(|_| {
            error(
                format!("`{key}` of target `{target}` must be a whole number, not `{s}`"),
                format!("write `{key}: 300` (a positive integer)"),
            )
        }),
        Some(other) => Err(error(
            format!("`{key}` of target `{target}` must be a whole number, not {other}"),
            format!("write `{key}: 300` (a positive integer)"),
        )),
    }
}

impl BigQueryConfig {
    pub fn from_target(target: &Target) -> Result<BigQueryConfig, ConfigError> {
        let o = &target.options;
        let name = target.name.as_str();
        let project = text(o, "project")
            .or_else(|| text(o, "database"))
            .ok_or_else(|| {
                error(
                    format!("target `{name}` (type bigquery) has no `project`"),
                    "add `project: <gcp-project-id>` to the target in profiles.yml",
                )
            })?;
        let dataset = text(o, "dataset")
            .or_else(|| text(o, "schema"))
            .ok_or_else(|| {
                error(
                    format!("target `{name}` (type bigquery) has no `dataset`"),
                    "add `dataset: <dataset>` to the target in profiles.yml",
                )
            })?;
        let method_name = text(o, "method").unwrap_or_else(|| "oauth".into());
        let method = match method_name.as_str() {
            "service-account" => match (text(o, "keyfile"), o.get("keyfile_json")) {
                (Some(path), _) => AuthMethod::ServiceAccountFile(PathBuf::from(path)),
                (None, Some(json)) if !json.is_null() => {
                    AuthMethod::ServiceAccountJson(json.clone())
                }
                _ => {
                    return Err(error(
                        format!(
                            "target `{name}` uses `method: service-account` but has no `keyfile`"
                        ),
                        "set `keyfile: /path/to/key.json` (or `keyfile_json:` with the key itself)",
                    ));
                }
            },
            "service-account-json" => match o.get("keyfile_json") {
                Some(json) if !json.is_null() => AuthMethod::ServiceAccountJson(json.clone()),
                _ => {
                    return Err(error(
                        format!(
                            "target `{name}` uses `method: service-account-json` but has no `keyfile_json`"
                        ),
                        "put the service account key's fields under `keyfile_json:`",
                    ));
                }
            },
            "oauth" => AuthMethod::ApplicationDefault,
            "oauth-secrets" => {
                let secrets = AuthMethod::Secrets {
                    token: text(o, "token"),
                    refresh_token: text(o, "refresh_token"),
                    client_id: text(o, "client_id"),
                    client_secret: text(o, "client_secret"),
                    token_uri: text(o, "token_uri"),
                };
                if let AuthMethod::Secrets {
                    token: None,
                    refresh_token: None,
                    ..
                } = secrets
                {
                    return Err(error(
                        format!(
                            "target `{name}` uses `method: oauth-secrets` but has neither `token` nor `refresh_token`"
                        ),
                        "set `token:` (used as it is), or `refresh_token`, `client_id`, `client_secret` and `token_uri`",
                    ));
                }
                secrets
            }
            other => {
                return Err(error(
                    format!("target `{name}` has an unknown `method: {other}`"),
                    "use service-account, service-account-json, oauth or oauth-secrets",
                ));
            }
        };
        let priority = match text(o, "priority").as_deref() {
            None | Some("interactive") => Priority::Interactive,
            Some("batch") => Priority::Batch,
            Some(other) => {
                return Err(error(
                    format!("target `{name}` has `priority: {other}`"),
                    "use `priority: interactive` or `priority: batch`",
                ));
            }
        };
        let source_staging = match text(o, "external_sources").as_deref() {
            None | Some("external") => SourceStaging::External,
            Some("load") => SourceStaging::Load,
            Some(other) => {
                return Err(error(
                    format!("target `{name}` has `external_sources: {other}`"),
                    "use `external` (external tables over the land, the default) or `load` (load the land into native tables)",
                ));
            }
        };
        let labels = match o.get("job_labels").or_else(|| o.get("labels")) {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(Value::Object(m)) => m
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().map_or_else(|| v.to_string(), str::to_string),
                    )
                })
                .collect(),
            Some(_) => {
                return Err(error(
                    format!("`job_labels` of target `{name}` must be a mapping"),
                    "write `job_labels: {team: analytics}`",
                ));
            }
        };
        let api_endpoint = text(o, "api_endpoint")
            .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string())
            .trim_end_matches('/')
            .to_string();
        if url::Url::parse(&api_endpoint).is_err() {
            return Err(error(
                format!("`api_endpoint` of target `{name}` is not a URL: `{api_endpoint}`"),
                "write the endpoint's base URL, e.g. `http://127.0.0.1:9050`",
            ));
        }
        let timeout = number(o, "job_execution_timeout_seconds", name)?
            .or(number(o, "timeout_seconds", name)?)
            .map(Duration::from_secs);
        Ok(BigQueryConfig {
            execution_project: text(o, "execution_project").unwrap_or_else(|| project.clone()),
            project,
            dataset,
            location: text(o, "location"),
            method,
            job_execution_timeout: timeout,
            job_retries: number(o, "job_retries", name)?.unwrap_or(1) as u32,
            maximum_bytes_billed: number(o, "maximum_bytes_billed", name)?,
            priority,
            impersonate_service_account: text(o, "impersonate_service_account"),
            api_endpoint,
            labels,
            source_staging,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::TargetKind;

    fn target(yaml: serde_json::Value) -> Target {
        Target {
            name: "prod".into(),
            kind: TargetKind::BigQuery,
            adapter_type: "bigquery".into(),
            schema: "analytics".into(),
            database: "p".into(),
            threads: None,
            path: None,
            land: "gs://b/land".into(),
            options: yaml.as_object().cloned().unwrap_or_default(),
        }
    }

    #[test]
    fn reads_dbt_bigquery_keys() {
        let c = BigQueryConfig::from_target(&target(serde_json::json!({
            "project": "acme", "dataset": "retention", "location": "EU",
            "method": "oauth-secrets", "token": "t0k", "job_retries": 3,
            "job_execution_timeout_seconds": "600", "maximum_bytes_billed": 1000000,
            "priority": "batch", "api_endpoint": "http://127.0.0.1:9050/",
            "job_labels": {"team": "growth"}
        })))
        .unwrap();
        assert_eq!(c.project, "acme");
        assert_eq!(c.execution_project, "acme");
        assert_eq!(c.dataset, "retention");
        assert_eq!(c.job_retries, 3);
        assert_eq!(c.job_execution_timeout, Some(Duration::from_secs(600)));
        assert_eq!(c.maximum_bytes_billed, Some(1_000_000));
        assert_eq!(c.priority, Priority::Batch);
        assert_eq!(c.api_endpoint, "http://127.0.0.1:9050");
        assert_eq!(c.labels["team"], "growth");
        assert!(matches!(c.method, AuthMethod::Secrets { token: Some(ref t), .. } if t == "t0k"));
    }

    #[test]
    fn a_missing_keyfile_says_which_key_to_add() {
        let e = BigQueryConfig::from_target(&target(serde_json::json!({
            "project": "acme", "dataset": "d", "method": "service-account"
        })))
        .unwrap_err();
        assert!(e.message.contains("no `keyfile`"), "{}", e.message);
        let e = BigQueryConfig::from_target(&target(serde_json::json!({
            "project": "acme", "dataset": "d", "job_retries": "many"
        })))
        .unwrap_err();
        assert!(e.message.contains("job_retries"), "{}", e.message);
    }
}
