//! The ingest path (ARCHITECTURE: `ingest/`): Kafka topics and newline-
//! delimited JSON files → validated, typed Parquet in the land; bad messages
//! → the quarantine, never dropped, never stopping the run.
//!
//! Guarantees, and how they are kept:
//! - A file's name is its stream and offset range, so rewriting a range
//!   replaces the same objects (idempotent).
//! - Before a range's files are written, their names go to an in-flight
//!   journal; the stream's position (Kafka commit, or the file's progress
//!   record) moves only after every file is durable. A restart deletes the
//!   files of a journal whose range was never committed, then re-reads it:
//!   nothing lost, nothing twice, whatever the batch boundaries.
//!
//! This module never imports the build path (`compile/`, `run/`); the CLI
//! hands it the declared tables.

pub mod batch;
pub mod config;
pub mod decode;
pub mod events;
pub mod file;
pub mod kafka;
pub mod landing;
pub mod postgres;
pub mod quarantine;
pub mod range;
pub mod replay;
pub mod schema;

pub use config::{IngestTable, TableSpec, table_spec};
pub use landing::TableLand;
pub use schema::DeclaredColumn;

use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// A setting of the table's `ingest:` block (or its columns) is wrong.
    #[error("{setting}: {message}")]
    Config { setting: String, message: String },
    /// The land cannot be opened, read or written.
    #[error(transparent)]
    Land(#[from] crate::store::StoreError),
    /// Kafka refused or could not be reached.
    #[error("{setting}: {message}")]
    Kafka { setting: String, message: String },
    /// The input file of `--from-file` cannot be read.
    #[error("{path}: {message}")]
    Input { path: String, message: String },
    #[error("{0}")]
    Internal(String),
}

impl IngestError {
    pub fn config(setting: &str, message: &str) -> IngestError {
        IngestError::Config {
            setting: setting.to_string(),
            message: message.to_string(),
        }
    }

    pub fn kafka(setting: &str, message: impl Into<String>) -> IngestError {
        IngestError::Kafka {
            setting: setting.to_string(),
            message: message.into(),
        }
    }

    pub fn internal(message: impl Into<String>) -> IngestError {
        IngestError::Internal(message.into())
    }

    /// What the user should do about it.
    pub fn help(&self) -> Option<&'static str> {
        match self {
            IngestError::Config { .. } => {
                Some("fix the table's `ingest:` block or columns in its properties file")
            }
            IngestError::Land(_) => Some(
                "check the target's `land` in profiles.yml: the folder must be writable, a bucket must exist and its credentials (GOOGLE_APPLICATION_CREDENTIALS, a service-account key, AWS_*) must be valid",
            ),
            IngestError::Kafka { .. } => {
                Some("check that the brokers are reachable and the topic exists")
            }
            IngestError::Input { .. } => Some("check the path given to --from-file"),
            IngestError::Internal(_) => None,
        }
    }
}

/// Counts of one table's ingestion, reported while it runs and at the end.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    /// Messages read (landed + quarantined).
    pub messages: u64,
    pub landed: u64,
    pub quarantined: u64,
    /// Files written (data and quarantine).
    pub files: u64,
    /// Parquet bytes written.
    pub bytes: u64,
    /// Messages between the committed position and the end of the stream
    /// (Kafka only).
    pub lag: Option<i64>,
    pub elapsed_s: f64,
    /// Messages per second since the start.
    pub rate: f64,
}

impl Stats {
    pub fn add_batch(&mut self, landed: usize, quarantined: usize, files: usize, bytes: usize) {
        self.messages += (landed + quarantined) as u64;
        self.landed += landed as u64;
        self.quarantined += quarantined as u64;
        self.files += files as u64;
        self.bytes += bytes as u64;
    }

    pub fn tick(&mut self, started: std::time::Instant) {
        self.elapsed_s = started.elapsed().as_secs_f64();
        self.rate = if self.elapsed_s > 0.0 {
            self.messages as f64 / self.elapsed_s
        } else {
            0.0
        };
    }
}

/// How ingestion reports progress (a progress bar on a terminal, JSON lines
/// with `--log-format json`); implemented by the CLI.
pub trait Progress: Send + Sync {
    /// A table starts: `what` says from where (topic, file, quarantine).
    fn started(&self, table: &str, what: &str, expected: Option<u64>);
    /// A batch of files became durable.
    fn batch(&self, table: &str, stats: &Stats);
    fn finished(&self, table: &str, stats: &Stats);
    /// Something the operator should know that does not stop the run.
    fn note(&self, table: &str, message: &str);
}
