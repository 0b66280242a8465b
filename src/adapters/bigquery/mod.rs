//! Google BigQuery (ARCHITECTURE.md: adapters/bigquery): the REST client,
//! credentials, and the SQL each materialization sends. The run module
//! drives it; nothing here knows about nodes.

mod adapter;
pub mod arrow;
mod auth;
pub mod catalog;
pub mod client;
pub mod config;
pub mod error;
pub mod sql;
mod stage;

pub use client::{Field, JobOptions, QueryResult, TableInfo};
pub use config::{BigQueryConfig, SourceStaging};
pub use error::BigQueryError;

use std::collections::{BTreeMap, HashSet};
use tokio::sync::Mutex;

/// A connection to one BigQuery target.
pub struct BigQuery {
    client: std::sync::Arc<client::Client>,
    /// Datasets known to exist (created on first use, as dbt does).
    datasets: Mutex<HashSet<String>>,
    invocation_id: String,
}

/// Rows asked for per result page of a streamed query: what is left of
/// the limit, and at most this many (BigQuery also caps a page at ~10 MB),
/// so memory holds one page, not the result.
const STREAM_PAGE_ROWS: usize = 10_000;

fn page_rows(left: Option<usize>) -> usize {
    left.map_or(STREAM_PAGE_ROWS, |l| l.min(STREAM_PAGE_ROWS))
}

impl BigQuery {
    pub fn open(config: BigQueryConfig, invocation_id: &str) -> Result<BigQuery, BigQueryError> {
        Ok(BigQuery {
            client: std::sync::Arc::new(client::Client::new(config)?),
            datasets: Mutex::new(HashSet::new()),
            invocation_id: invocation_id.to_string(),
        })
    }

    pub fn config(&self) -> &BigQueryConfig {
        self.client.config()
    }

    /// `project`.`dataset`.`table`.
    pub fn relation(&self, dataset: &str, table: &str) -> String {
        format!(
            "{}.{}.{}",
            sql::quote(&self.config().project),
            sql::quote(dataset),
            sql::quote(table)
        )
    }

    /// Job labels: the invocation and, for node jobs, the node.
    pub fn labels(&self, node: Option<&str>) -> BTreeMap<String, String> {
        let mut labels =
            BTreeMap::from([("dbt_invocation_id".to_string(), self.invocation_id.clone())]);
        if let Some(n) = node {
            labels.insert("dbt_model".into(), n.to_string());
        }
        labels
    }

    pub async fn ensure_dataset(&self, dataset: &str) -> Result<(), BigQueryError> {
        if self.datasets.lock().await.contains(dataset) {
            return Ok(());
        }
        self.client.ensure_dataset(dataset).await?;
        self.datasets.lock().await.insert(dataset.to_string());
        Ok(())
    }

    async fn job(
        &self,
        sql: &str,
        node: Option<&str>,
        fetch_rows: bool,
        dry_run: bool,
    ) -> Result<QueryResult, BigQueryError> {
        let options = JobOptions {
            dry_run,
            fetch_rows,
            max_rows: None,
            labels: self.labels(node),
        };
        self.client.query(sql, &options).await
    }

    /// Runs a query and streams its rows, a result page at a time, at most
    /// `limit` of them: a page is asked for only when the stream is polled.
    pub async fn fetch_stream(
        &self,
        sql: &str,
        limit: Option<usize>,
    ) -> Result<crate::adapters::QueryStream, crate::adapters::AdapterError> {
        use crate::adapters::AdapterError;
        struct Pages {
            client: std::sync::Arc<client::Client>,
            job_id: String,
            fields: Vec<Field>,
            token: Option<String>,
            left: Option<usize>,
            first: Option<Vec<Vec<serde_json::Value>>>,
        }
        let options = JobOptions {
            labels: self.labels(None),
            ..Default::default()
        };
        let job = self.client.query(sql, &options).await?;
        let mut fields = job.schema;
        let (rows, token) = self
            .client
            .result_page(&job.job_id, Some(page_rows(limit)), None, &mut fields)
            .await?;
        let schema = std::sync::Arc::new(arrow::schema_of(&fields));
        let pages = Pages {
            client: self.client.clone(),
            job_id: job.job_id,
            fields,
            token,
            left: limit,
            first: Some(rows),
        };
        let batches = futures::stream::try_unfold(pages, |mut pages| async move {
            let mut rows = match pages.first.take() {
                Some(rows) => rows,
                None => {
                    let Some(token) = pages.token.take() else {
                        return Ok(None);
                    };
                    if pages.left == Some(0) {
                        return Ok(None);
                    }
                    let (rows, next) = pages
                        .client
                        .result_page(
                            &pages.job_id,
                            Some(page_rows(pages.left)),
                            Some(&token),
                            &mut pages.fields,
                        )
                        .await?;
                    pages.token = next;
                    rows
                }
            };
            if let Some(left) = pages.left.as_mut() {
                rows.truncate(*left);
                *left -= rows.len();
            }
            let batch = arrow::batch_of(&pages.fields, &rows).map_err(AdapterError::new)?;
            Ok(Some((batch, pages)))
        });
        Ok(crate::adapters::QueryStream {
            schema,
            batches: Box::pin(batches),
        })
    }

    /// Runs a statement (DDL, DML, a script) for its effect.
    pub async fn execute(
        &self,
        sql: &str,
        node: Option<&str>,
    ) -> Result<QueryResult, BigQueryError> {
        self.job(sql, node, false, false).await
    }

    /// Runs a query and returns its rows.
    pub async fn fetch(&self, sql: &str, node: Option<&str>) -> Result<QueryResult, BigQueryError> {
        self.job(sql, node, true, false).await
    }

    /// Asks BigQuery to validate `sql` without running it: bytes it would
    /// process, and its output schema.
    pub async fn dry_run(
        &self,
        sql: &str,
        node: Option<&str>,
    ) -> Result<QueryResult, BigQueryError> {
        self.job(sql, node, false, true).await
    }

    pub async fn table(
        &self,
        dataset: &str,
        table: &str,
    ) -> Result<Option<TableInfo>, BigQueryError> {
        self.client.get_table(dataset, table).await
    }

    pub async fn list_tables(&self, dataset: &str) -> Result<Vec<(String, String)>, BigQueryError> {
        self.client.list_tables(dataset).await
    }

    pub async fn list_datasets(&self) -> Result<Vec<String>, BigQueryError> {
        self.client.list_datasets().await
    }

    pub async fn drop_table(&self, dataset: &str, table: &str) -> Result<(), BigQueryError> {
        self.client.delete_table(dataset, table).await
    }

    /// Replaces `dataset.table` with CSV rows of an explicit schema: loaded
    /// aside, then swapped in by one statement, so a failed load leaves the
    /// previous table as it was.
    pub async fn replace_with_csv(
        &self,
        dataset: &str,
        table: &str,
        fields: &[Field],
        csv: Vec<u8>,
        node: Option<&str>,
    ) -> Result<u64, BigQueryError> {
        self.ensure_dataset(dataset).await?;
        let staging = format!("{table}__rdbt_load");
        self.drop_table(dataset, &staging).await?;
        let loaded = self
            .client
            .load_csv(dataset, &staging, fields, csv, &self.labels(node))
            .await;
        let outcome = match loaded {
            Ok(rows) => {
                let swap = sql::create_table_as(
                    &self.relation(dataset, table),
                    &format!("select * from {}", self.relation(dataset, &staging)),
                    &sql::TableOptions::default(),
                );
                self.execute(&swap, node).await.map(|_| rows)
            }
            Err(e) => Err(e),
        };
        let _ = self.drop_table(dataset, &staging).await;
        outcome
    }
}
