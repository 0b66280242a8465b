//! BigQuery's REST API (v2): query jobs (run, dry run, poll, page through
//! results), load jobs (multipart upload), datasets and tables. Rate limits,
//! 5xx and dropped connections are retried with exponential backoff.

use super::auth::Credentials;
use super::config::BigQueryConfig;
use super::error::{BigQueryError, position};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// One column of a result or table schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    /// BigQuery's type name (`INTEGER`, `STRING`, `TIMESTAMP`, `RECORD`…).
    pub data_type: String,
    pub mode: String,
    pub fields: Vec<Field>,
}

impl Field {
    fn from_json(v: &Value) -> Field {
        Field {
            name: v["name"].as_str().unwrap_or_default().to_string(),
            data_type: v["type"].as_str().unwrap_or("STRING").to_string(),
            mode: v["mode"].as_str().unwrap_or("NULLABLE").to_string(),
            fields: fields_of(&v["fields"]),
        }
    }

    pub fn to_json(&self) -> Value {
        let mut v = json!({"name": self.name, "type": self.data_type, "mode": self.mode});
        if !self.fields.is_empty() {
            v["fields"] = Value::Array(self.fields.iter().map(Field::to_json).collect());
        }
        v
    }

    /// The type as SQL spells it (`INT64`, `ARRAY<STRING>`), for catalogs.
    pub fn sql_type(&self) -> String {
        let base = match self.data_type.as_str() {
            "INTEGER" => "INT64".to_string(),
            "FLOAT" => "FLOAT64".into(),
            "BOOLEAN" => "BOOL".into(),
            "RECORD" | "STRUCT" => format!(
                "STRUCT<{}>",
                self.fields
                    .iter()
                    .map(|f| format!("{} {}", f.name, f.sql_type()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            other => other.to_string(),
        };
        if self.mode == "REPEATED" {
            format!("ARRAY<{base}>")
        } else {
            base
        }
    }
}

fn fields_of(v: &Value) -> Vec<Field> {
    v.as_array()
        .map(|a| a.iter().map(Field::from_json).collect())
        .unwrap_or_default()
}

/// What a finished query job reports.
#[derive(Debug, Clone, Default)]
pub struct QueryResult {
    pub job_id: String,
    pub schema: Vec<Field>,
    /// Rows with values typed from the schema (numbers, booleans, text).
    pub rows: Vec<Vec<Value>>,
    pub total_bytes_processed: u64,
    pub statement_type: Option<String>,
    pub affected_rows: Option<u64>,
}

/// A table as `tables.get` describes it.
#[derive(Debug, Clone)]
pub struct TableInfo {
    /// `TABLE`, `VIEW`, `EXTERNAL`, `MATERIALIZED_VIEW`, `SNAPSHOT`.
    pub kind: String,
    pub fields: Vec<Field>,
    pub num_rows: Option<u64>,
    pub num_bytes: Option<u64>,
    /// When the table's data or schema last changed (`lastModifiedTime`).
    pub last_modified: Option<chrono::DateTime<chrono::Utc>>,
    pub description: Option<String>,
    /// Top-level column descriptions, by column name.
    pub column_descriptions: BTreeMap<String, String>,
}

/// Per-job settings beyond the target's.
#[derive(Debug, Clone, Default)]
pub struct JobOptions {
    pub dry_run: bool,
    /// Fetch the result rows (tests, `run_query`); statements do not.
    pub fetch_rows: bool,
    /// Stop fetching after this many rows (`rdbt show --limit`).
    pub max_rows: Option<usize>,
    pub labels: BTreeMap<String, String>,
}

pub struct Client {
    http: reqwest::Client,
    config: BigQueryConfig,
    credentials: Credentials,
    retry_base: Duration,
}

/// BigQuery label values: lowercase letters, digits, `_` and `-`, at most 63.
pub fn label_value(s: &str) -> String {
    s.chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(63)
        .collect()
}

fn percent(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

impl Client {
    pub fn new(config: BigQueryConfig) -> Result<Client, BigQueryError> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("rdbt/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(20))
            .build()
            .map_err(|e| BigQueryError::Network(e.to_string()))?;
        let credentials = Credentials::new(
            &config.method,
            config.impersonate_service_account.clone(),
            http.clone(),
        )?;
        // Tests shorten the backoff; production waits 1 s, 2 s, 4 s… (max 32 s).
        let retry_base = std::env::var("RDBT_BIGQUERY_RETRY_BASE_MS")
            .ok()
            .and_then(|s| s.parse().ok())
            .map_or(Duration::from_secs(1), Duration::from_millis);
        Ok(Client {
            http,
            config,
            credentials,
            retry_base,
        })
    }

    pub fn config(&self) -> &BigQueryConfig {
        &self.config
    }

    fn api(&self, path: &str) -> String {
        format!(
            "{}/bigquery/v2/projects/{}{path}",
            self.config.api_endpoint,
            percent(&self.config.execution_project)
        )
    }

    fn location_query(&self) -> String {
        self.config
            .location
            .as_deref()
            .map(|l| format!("location={}", percent(l)))
            .unwrap_or_default()
    }

    /// One API call with retries; a 404 is `Ok(None)` where `missing_ok`.
    async fn call(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<(&str, Vec<u8>)>,
        missing_ok: bool,
    ) -> Result<Option<Value>, BigQueryError> {
        let mut attempt = 0u32;
        let mut refreshed = false;
        loop {
            let token = self.credentials.token().await?;
            let mut request = self.http.request(method.clone(), url).bearer_auth(token);
            if let Some((content_type, bytes)) = &body {
                request = request
                    .header("Content-Type", *content_type)
                    .body(bytes.clone());
            }
            let error = match request.send().await {
                Err(e) => BigQueryError::Network(e.without_url().to_string()),
                Ok(response) => {
                    let status = response.status().as_u16();
                    let text = response
                        .text()
                        .await
                        .map_err(|e| BigQueryError::Network(e.without_url().to_string()))?;
                    if (200..300).contains(&status) {
                        let v = if text.trim().is_empty() {
                            Value::Null
                        } else {
                            serde_json::from_str(&text).map_err(|e| {
                                BigQueryError::Protocol(format!(
                                    "a response that is not JSON ({e})"
                                ))
                            })?
                        };
                        return Ok(Some(v));
                    }
                    if status == 404 && missing_ok {
                        return Ok(None);
                    }
                    if status == 401 && !refreshed {
                        refreshed = true;
                        self.credentials.invalidate().await;
                        continue;
                    }
                    http_error(status, &text)
                }
            };
            if error.is_transient() && attempt < self.config.job_retries.max(1) + 2 {
                let wait = self.retry_base * 2u32.pow(attempt.min(5));
                attempt += 1;
                tokio::time::sleep(wait).await;
                continue;
            }
            return Err(error);
        }
    }

    async fn call_json(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<Value>,
    ) -> Result<Value, BigQueryError> {
        let body = body.map(|b| ("application/json", b.to_string().into_bytes()));
        Ok(self
            .call(method, url, body, false)
            .await?
            .unwrap_or(Value::Null))
    }

    fn job_reference(&self, job_id: &str) -> Value {
        let mut r = json!({"projectId": self.config.execution_project, "jobId": job_id});
        if let Some(l) = &self.config.location {
            r["location"] = json!(l);
        }
        r
    }

    fn labels(&self, extra: &BTreeMap<String, String>) -> Value {
        let mut all: BTreeMap<String, String> = self
            .config
            .labels
            .iter()
            .map(|(k, v)| (label_value(k), label_value(v)))
            .collect();
        for (k, v) in extra {
            all.insert(label_value(k), label_value(v));
        }
        json!(all)
    }

    /// Runs `sql` as a query job and waits for it; a job that failed for a
    /// transient reason runs again (`job_retries`).
    pub async fn query(
        &self,
        sql: &str,
        options: &JobOptions,
    ) -> Result<QueryResult, BigQueryError> {
        let mut attempt = 0;
        loop {
            match self.query_once(sql, options).await {
                Err(e) if e.is_transient() && attempt < self.config.job_retries => {
                    tokio::time::sleep(self.retry_base * 2u32.pow(attempt.min(5))).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn query_once(
        &self,
        sql: &str,
        options: &JobOptions,
    ) -> Result<QueryResult, BigQueryError> {
        let job_id = format!("rdbt_{}", uuid::Uuid::new_v4().simple());
        let mut query = json!({
            "query": sql,
            "useLegacySql": false,
            "priority": self.config.priority.as_api(),
        });
        if let Some(limit) = self.config.maximum_bytes_billed {
            query["maximumBytesBilled"] = json!(limit.to_string());
        }
        let mut configuration = json!({"query": query});
        let labels = self.labels(&options.labels);
        if labels.as_object().is_some_and(|m| !m.is_empty()) {
            configuration["labels"] = labels;
        }
        if options.dry_run {
            configuration["dryRun"] = json!(true);
        }
        if let Some(t) = self.config.job_execution_timeout {
            configuration["jobTimeoutMs"] = json!(t.as_millis().to_string());
        }
        let body =
            json!({"jobReference": self.job_reference(&job_id), "configuration": configuration});
        let job = self
            .call_json(reqwest::Method::POST, &self.api("/jobs"), Some(body))
            .await?;
        let job = self.wait_for_job(job, &job_id).await?;
        if let Some(error) = job["status"].get("errorResult").filter(|e| !e.is_null()) {
            return Err(job_error(error, &job_id));
        }
        let statistics = &job["statistics"];
        let number = |v: &Value| {
            v.as_str()
                .and_then(|s| s.parse::<u64>().ok())
                .or_else(|| v.as_u64())
        };
        let mut result = QueryResult {
            job_id: job_id.clone(),
            schema: fields_of(&statistics["query"]["schema"]["fields"]),
            rows: Vec::new(),
            total_bytes_processed: number(&statistics["query"]["totalBytesProcessed"])
                .or_else(|| number(&statistics["totalBytesProcessed"]))
                .unwrap_or(0),
            statement_type: statistics["query"]["statementType"]
                .as_str()
                .map(str::to_string),
            affected_rows: number(&statistics["query"]["numDmlAffectedRows"]),
        };
        if options.dry_run || !options.fetch_rows {
            return Ok(result);
        }
        let mut page_token: Option<String> = None;
        loop {
            let left = options
                .max_rows
                .map(|max| max.saturating_sub(result.rows.len()));
            let (rows, next) = self
                .result_page(&job_id, left, page_token.as_deref(), &mut result.schema)
                .await?;
            result.rows.extend(rows);
            page_token = next;
            if let Some(max) = options.max_rows
                && result.rows.len() >= max
            {
                result.rows.truncate(max);
                break;
            }
            if page_token.is_none() {
                break;
            }
        }
        Ok(result)
    }

    /// One page of a finished query job's rows (`jobs.getQueryResults`),
    /// from `token` on and at most `max` rows, with the token of the next
    /// page. `schema` is filled from the page when the job had none.
    pub async fn result_page(
        &self,
        job_id: &str,
        max: Option<usize>,
        token: Option<&str>,
        schema: &mut Vec<Field>,
    ) -> Result<(Vec<Vec<Value>>, Option<String>), BigQueryError> {
        let mut url = self.api(&format!("/queries/{job_id}?{}", self.location_query()));
        if let Some(max) = max {
            url.push_str(&format!("&maxResults={}", max.max(1)));
        }
        if let Some(t) = token {
            url.push_str(&format!("&pageToken={}", percent(t)));
        }
        let page = self.call_json(reqwest::Method::GET, &url, None).await?;
        if schema.is_empty() {
            *schema = fields_of(&page["schema"]["fields"]);
        }
        let rows = page["rows"]
            .as_array()
            .map(|rows| rows.iter().map(|row| decode_row(row, schema)).collect())
            .unwrap_or_default();
        let next = page["pageToken"]
            .as_str()
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        Ok((rows, next))
    }

    /// Polls a job until it is DONE; past `job_execution_timeout_seconds`
    /// (plus a margin for BigQuery's own enforcement) it is cancelled.
    async fn wait_for_job(&self, mut job: Value, job_id: &str) -> Result<Value, BigQueryError> {
        let started = Instant::now();
        let mut pause = Duration::from_millis(100);
        while job["status"]["state"].as_str() != Some("DONE") {
            if let Some(limit) = self.config.job_execution_timeout
                && started.elapsed() > limit + Duration::from_secs(30)
            {
                let _ = self
                    .call_json(
                        reqwest::Method::POST,
                        &self.api(&format!("/jobs/{job_id}/cancel?{}", self.location_query())),
                        None,
                    )
                    .await;
                return Err(BigQueryError::Timeout {
                    job_id: job_id.to_string(),
                    seconds: limit.as_secs(),
                });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(2));
            job = self
                .call_json(
                    reqwest::Method::GET,
                    &self.api(&format!("/jobs/{job_id}?{}", self.location_query())),
                    None,
                )
                .await?;
        }
        Ok(job)
    }

    pub async fn get_table(
        &self,
        dataset: &str,
        table: &str,
    ) -> Result<Option<TableInfo>, BigQueryError> {
        let url = self.api_for(
            &self.config.project,
            &format!("/datasets/{}/tables/{}", percent(dataset), percent(table)),
        );
        let Some(v) = self.call(reqwest::Method::GET, &url, None, true).await? else {
            return Ok(None);
        };
        let number = |v: &Value| v.as_str().and_then(|s| s.parse::<u64>().ok());
        Ok(Some(TableInfo {
            kind: v["type"].as_str().unwrap_or("TABLE").to_string(),
            fields: fields_of(&v["schema"]["fields"]),
            num_rows: number(&v["numRows"]),
            num_bytes: number(&v["numBytes"]),
            last_modified: number(&v["lastModifiedTime"])
                .and_then(|ms| i64::try_from(ms).ok())
                .and_then(chrono::DateTime::from_timestamp_millis),
            description: v["description"].as_str().map(str::to_string),
            column_descriptions: v["schema"]["fields"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| {
                    Some((
                        f["name"].as_str()?.to_string(),
                        f["description"].as_str()?.to_string(),
                    ))
                })
                .collect(),
        }))
    }

    fn api_for(&self, project: &str, path: &str) -> String {
        format!(
            "{}/bigquery/v2/projects/{}{path}",
            self.config.api_endpoint,
            percent(project)
        )
    }

    /// Creates the dataset in the target's location unless it exists.
    pub async fn ensure_dataset(&self, dataset: &str) -> Result<(), BigQueryError> {
        let url = self.api_for(
            &self.config.project,
            &format!("/datasets/{}", percent(dataset)),
        );
        if self
            .call(reqwest::Method::GET, &url, None, true)
            .await?
            .is_some()
        {
            return Ok(());
        }
        let mut body =
            json!({"datasetReference": {"projectId": self.config.project, "datasetId": dataset}});
        if let Some(l) = &self.config.location {
            body["location"] = json!(l);
        }
        match self
            .call_json(
                reqwest::Method::POST,
                &self.api_for(&self.config.project, "/datasets"),
                Some(body),
            )
            .await
        {
            // Created by a concurrent node meanwhile.
            Err(BigQueryError::Http { status: 409, .. }) | Ok(_) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Every page of a `tables.list` or `datasets.list` answer: the items
    /// under `key`.
    async fn list_all(&self, path: &str, key: &str) -> Result<Vec<Value>, BigQueryError> {
        let mut items = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut url = self.api_for(&self.config.project, path);
            url.push_str("?maxResults=1000");
            if let Some(t) = &token {
                url.push_str(&format!("&pageToken={}", percent(t)));
            }
            let Some(page) = self.call(reqwest::Method::GET, &url, None, true).await? else {
                return Ok(items);
            };
            items.extend(page[key].as_array().into_iter().flatten().cloned());
            match page["nextPageToken"].as_str() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => return Ok(items),
            }
        }
    }

    /// The tables and views of `dataset`: (name, `TABLE`/`VIEW`/...).
    pub async fn list_tables(&self, dataset: &str) -> Result<Vec<(String, String)>, BigQueryError> {
        Ok(self
            .list_all(&format!("/datasets/{}/tables", percent(dataset)), "tables")
            .await?
            .iter()
            .filter_map(|t| {
                Some((
                    t["tableReference"]["tableId"].as_str()?.to_string(),
                    t["type"].as_str().unwrap_or("TABLE").to_string(),
                ))
            })
            .collect())
    }

    /// The project's datasets.
    pub async fn list_datasets(&self) -> Result<Vec<String>, BigQueryError> {
        Ok(self
            .list_all("/datasets", "datasets")
            .await?
            .iter()
            .filter_map(|d| Some(d["datasetReference"]["datasetId"].as_str()?.to_string()))
            .collect())
    }

    pub async fn delete_table(&self, dataset: &str, table: &str) -> Result<(), BigQueryError> {
        let url = self.api_for(
            &self.config.project,
            &format!("/datasets/{}/tables/{}", percent(dataset), percent(table)),
        );
        self.call(reqwest::Method::DELETE, &url, None, true).await?;
        Ok(())
    }

    /// Loads CSV (with a header line) into `dataset.table` with an explicit
    /// schema; returns the rows loaded.
    pub async fn load_csv(
        &self,
        dataset: &str,
        table: &str,
        fields: &[Field],
        csv: Vec<u8>,
        labels: &BTreeMap<String, String>,
    ) -> Result<u64, BigQueryError> {
        let job_id = format!("rdbt_{}", uuid::Uuid::new_v4().simple());
        let mut configuration = json!({"load": {
            "destinationTable": {"projectId": self.config.project, "datasetId": dataset, "tableId": table},
            "schema": {"fields": fields.iter().map(Field::to_json).collect::<Vec<_>>()},
            "sourceFormat": "CSV",
            "skipLeadingRows": 1,
        }});
        let labels = self.labels(labels);
        if labels.as_object().is_some_and(|m| !m.is_empty()) {
            configuration["labels"] = labels;
        }
        let metadata =
            json!({"jobReference": self.job_reference(&job_id), "configuration": configuration});
        let boundary = format!("rdbt_{}", uuid::Uuid::new_v4().simple());
        let mut body = Vec::with_capacity(csv.len() + 1024);
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{metadata}\r\n--{boundary}\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(&csv);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let url = format!(
            "{}/upload/bigquery/v2/projects/{}/jobs?uploadType=multipart",
            self.config.api_endpoint,
            percent(&self.config.execution_project)
        );
        let content_type = format!("multipart/related; boundary={boundary}");
        let job = self
            .call(
                reqwest::Method::POST,
                &url,
                Some((&content_type, body)),
                false,
            )
            .await?
            .unwrap_or(Value::Null);
        let job = self.wait_for_job(job, &job_id).await?;
        if let Some(error) = job["status"].get("errorResult").filter(|e| !e.is_null()) {
            let mut e = job_error(error, &job_id);
            if let (BigQueryError::Job { message, .. }, Some(details)) =
                (&mut e, job["status"]["errors"].as_array())
            {
                for d in details.iter().skip(1).take(5) {
                    if let Some(m) = d["message"].as_str() {
                        message.push_str(&format!("\n  {m}"));
                    }
                }
            }
            return Err(e);
        }
        Ok(job["statistics"]["load"]["outputRows"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0))
    }
}

fn http_error(status: u16, body: &str) -> BigQueryError {
    let v: Value = serde_json::from_str(body).unwrap_or_default();
    let message = v["error"]["message"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| body.chars().take(300).collect());
    let reason = v["error"]["errors"][0]["reason"].as_str().unwrap_or("");
    match (status, reason) {
        (403, "quotaExceeded" | "billingNotEnabled" | "bytesBilledLimitExceeded") => BigQueryError::Quota {
            message,
            help: "wait for the quota to refill, raise it in the Cloud console (IAM & Admin > Quotas), or check billing for the project".into(),
        },
        (401, _) => BigQueryError::Auth {
            message,
            help: "the credentials were not accepted: renew the key or token (`gcloud auth application-default login` for `method: oauth`)".into(),
        },
        (403, "accessDenied" | "forbidden" | "") => BigQueryError::Auth {
            message,
            help: "grant the account roles/bigquery.jobUser on the execution project and roles/bigquery.dataEditor on the datasets".into(),
        },
        (400, "invalidQuery" | "invalid") => BigQueryError::Job {
            line: position(&message).map(|p| p.0),
            column: position(&message).map(|p| p.1),
            message,
            reason: reason.to_string(),
            job_id: String::new(),
        },
        _ => BigQueryError::Http { status, message },
    }
}

fn job_error(error: &Value, job_id: &str) -> BigQueryError {
    let message = error["message"]
        .as_str()
        .unwrap_or("the job failed")
        .to_string();
    let reason = error["reason"].as_str().unwrap_or("").to_string();
    if matches!(
        reason.as_str(),
        "quotaExceeded" | "bytesBilledLimitExceeded" | "billingTierLimitExceeded"
    ) {
        return BigQueryError::Quota {
            message,
            help: if reason == "bytesBilledLimitExceeded" {
                "the query would bill more than `maximum_bytes_billed`; raise the limit in profiles.yml or filter on partitions".into()
            } else {
                "wait for the quota to refill or raise it in the Cloud console (IAM & Admin > Quotas)".into()
            },
        };
    }
    if reason == "accessDenied" {
        return BigQueryError::Auth {
            message,
            help: "grant the account access to the datasets the model reads and writes (roles/bigquery.dataEditor)".into(),
        };
    }
    let (line, column) = position(&message).map_or((None, None), |(l, c)| (Some(l), Some(c)));
    BigQueryError::Job {
        message,
        reason,
        line,
        column,
        job_id: job_id.to_string(),
    }
}

/// `{"f": [{"v": …}]}` rows with every scalar as text, typed by the schema.
fn decode_row(row: &Value, schema: &[Field]) -> Vec<Value> {
    let cells = row["f"].as_array().cloned().unwrap_or_default();
    schema
        .iter()
        .zip(cells.iter())
        .map(|(field, cell)| decode_value(&cell["v"], field))
        .collect()
}

fn decode_value(v: &Value, field: &Field) -> Value {
    if v.is_null() {
        return Value::Null;
    }
    if field.mode == "REPEATED" {
        let scalar = Field {
            mode: "NULLABLE".into(),
            ..field.clone()
        };
        return Value::Array(
            v.as_array()
                .map(|items| {
                    items
                        .iter()
                        .map(|i| decode_value(&i["v"], &scalar))
                        .collect()
                })
                .unwrap_or_default(),
        );
    }
    if matches!(field.data_type.as_str(), "RECORD" | "STRUCT") {
        let values = decode_row(v, &field.fields);
        return Value::Object(
            field
                .fields
                .iter()
                .map(|f| f.name.clone())
                .zip(values)
                .collect(),
        );
    }
    let Some(s) = v.as_str() else {
        return v.clone();
    };
    match field.data_type.as_str() {
        "INTEGER" | "INT64" => s.parse::<i64>().map_or_else(|_| json!(s), |n| json!(n)),
        "FLOAT" | "FLOAT64" | "NUMERIC" | "BIGNUMERIC" => s
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or_else(|| json!(s), Value::Number),
        "BOOLEAN" | "BOOL" => json!(s.eq_ignore_ascii_case("true")),
        "TIMESTAMP" => s
            .parse::<f64>()
            .ok()
            .and_then(|secs| {
                let micros = (secs * 1e6).round() as i64;
                chrono::DateTime::from_timestamp_micros(micros)
            })
            .map_or_else(
                || json!(s),
                |t| json!(t.format("%Y-%m-%d %H:%M:%S%.f UTC").to_string()),
            ),
        _ => json!(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_typed_by_the_schema() {
        let schema = fields_of(&json!([
            {"name": "a", "type": "INTEGER"}, {"name": "f", "type": "FLOAT"},
            {"name": "b", "type": "BOOLEAN"}, {"name": "ts", "type": "TIMESTAMP"},
            {"name": "arr", "type": "INTEGER", "mode": "REPEATED"}, {"name": "n", "type": "STRING"}
        ]));
        let row = json!({"f": [{"v": "1"}, {"v": "1.5"}, {"v": "true"}, {"v": "1.7e9"},
            {"v": [{"v": "1"}, {"v": "2"}]}, {"v": null}]});
        assert_eq!(
            decode_row(&row, &schema),
            vec![
                json!(1),
                json!(1.5),
                json!(true),
                json!("2023-11-14 22:13:20 UTC"),
                json!([1, 2]),
                Value::Null
            ]
        );
    }

    #[test]
    fn labels_follow_bigquerys_rules() {
        assert_eq!(label_value("Model.Fact Order"), "model_fact_order");
    }
}
