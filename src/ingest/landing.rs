//! Where one table's files go in the land, and how a range of a stream is
//! written so that a crash at any moment can be undone: journal first, then
//! the files, then (by the caller) the stream position, then the journal is
//! cleared.
//!
//! Layout under the land root (ARCHITECTURE decision 5):
//! - `<source>/<table>/dt=YYYY-MM-DD/hr=HH/part-<stream>-<first>-<last>.parquet`
//! - `_quarantine/<source>/<table>/part-<stream>-<first>-<last>.parquet`
//! - `_ingest/<source>/<table>/inflight/<stream>.json` (the journal)
//! - `_ingest/<source>/<table>/files/<hash>.json` (a file replay's progress)

use super::IngestError;
use super::batch::{HourKey, encode_parquet, hour_folder};
use crate::store::Land;
use bytes::Bytes;
use datafusion::arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};

/// One table's corner of the land.
#[derive(Debug, Clone)]
pub struct TableLand {
    pub land: Land,
    pub source: String,
    pub table: String,
}

/// Encoded files of one stream range, ready to be written.
#[derive(Debug)]
pub struct PendingRange {
    pub stream: String,
    pub first: i64,
    pub last: i64,
    pub files: Vec<(String, Bytes)>,
    pub landed: usize,
    pub quarantined: usize,
}

impl PendingRange {
    pub fn bytes(&self) -> usize {
        self.files.iter().map(|(_, b)| b.len()).sum()
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Journal {
    first: i64,
    last: i64,
    files: Vec<String>,
}

impl TableLand {
    pub fn new(land: Land, source: &str, table: &str) -> TableLand {
        TableLand {
            land,
            source: source.to_string(),
            table: table.to_string(),
        }
    }

    /// The table's data folder, relative to the land root.
    pub fn data_dir(&self) -> String {
        format!("{}/{}", self.source, self.table)
    }

    pub fn quarantine_dir(&self) -> String {
        format!("_quarantine/{}/{}", self.source, self.table)
    }

    pub fn state_dir(&self) -> String {
        format!("_ingest/{}/{}", self.source, self.table)
    }

    fn journal_path(&self, stream: &str) -> String {
        format!("{}/inflight/{stream}.json", self.state_dir())
    }

    /// `part-<stream>-<first>-<last><suffix>.parquet`
    pub fn file_name(stream: &str, first: i64, last: i64, suffix: &str) -> String {
        format!("part-{stream}-{first}-{last}{suffix}.parquet")
    }

    /// Encodes a range's rows (by hour folder) and its rejected messages.
    /// CPU only; nothing is written.
    pub fn encode(
        &self,
        stream: &str,
        (first, last): (i64, i64),
        good: Vec<(HourKey, RecordBatch)>,
        bad: Option<RecordBatch>,
        suffix: &str,
    ) -> Result<PendingRange, IngestError> {
        let name = Self::file_name(stream, first, last, suffix);
        let mut files = Vec::with_capacity(good.len() + 1);
        let landed = good.iter().map(|(_, b)| b.num_rows()).sum();
        for (hour, batch) in good {
            files.push((
                format!("{}/{}/{name}", self.data_dir(), hour_folder(hour)),
                Bytes::from(encode_parquet(&[batch])?),
            ));
        }
        let quarantined = bad.as_ref().map_or(0, RecordBatch::num_rows);
        if let Some(bad) = bad {
            files.push((
                format!("{}/{name}", self.quarantine_dir()),
                Bytes::from(encode_parquet(&[bad])?),
            ));
        }
        Ok(PendingRange {
            stream: stream.to_string(),
            first,
            last,
            files,
            landed,
            quarantined,
        })
    }

    /// Journals the range's file names, then writes the files (concurrently)
    /// and returns once all are durable. The caller then moves the stream
    /// position and calls [`TableLand::finish_range`].
    pub async fn write_range(&self, range: &PendingRange) -> Result<(), IngestError> {
        let files: Vec<String> = range.files.iter().map(|(p, _)| p.clone()).collect();
        self.begin_range(&range.stream, (range.first, range.last), &files)
            .await?;
        let writes = range
            .files
            .iter()
            .map(|(path, bytes)| self.land.put(path, bytes.clone()));
        for result in futures::future::join_all(writes).await {
            result?;
        }
        Ok(())
    }

    /// Journals the files a range is about to write (see the module doc);
    /// for writers that stream their files instead of using
    /// [`TableLand::write_range`].
    pub async fn begin_range(
        &self,
        stream: &str,
        (first, last): (i64, i64),
        files: &[String],
    ) -> Result<(), IngestError> {
        let journal = Journal {
            first,
            last,
            files: files.to_vec(),
        };
        let text = serde_json::to_vec(&journal)
            .map_err(|e| IngestError::internal(format!("journal: {e}")))?;
        Ok(self
            .land
            .put(&self.journal_path(stream), Bytes::from(text))
            .await?)
    }

    /// The range is committed: its journal is no longer needed.
    pub async fn finish_range(&self, stream: &str) -> Result<(), IngestError> {
        Ok(self.land.delete(&self.journal_path(stream)).await?)
    }

    /// Undoes an interrupted range of `stream`: when its journal starts at
    /// or after `committed_next` (the first position not yet committed), its
    /// files were never committed and are deleted; they will be written
    /// again from the stream. Returns how many files were removed.
    pub async fn recover(&self, stream: &str, committed_next: i64) -> Result<usize, IngestError> {
        let path = self.journal_path(stream);
        let Some(bytes) = self.land.get(&path).await? else {
            return Ok(0);
        };
        let mut removed = 0;
        if let Ok(journal) = serde_json::from_slice::<Journal>(&bytes)
            && journal.first >= committed_next
        {
            for file in &journal.files {
                self.land.delete(file).await?;
                removed += 1;
            }
        }
        self.land.delete(&path).await?;
        Ok(removed)
    }

    /// Whether `stream` has a range in flight (written, not committed).
    pub async fn in_flight(&self, stream: &str) -> Result<bool, IngestError> {
        Ok(self.land.get(&self.journal_path(stream)).await?.is_some())
    }

    /// A small JSON record under the table's state folder.
    pub async fn read_state<T: for<'de> Deserialize<'de>>(
        &self,
        name: &str,
    ) -> Result<Option<T>, IngestError> {
        let path = format!("{}/{name}", self.state_dir());
        match self.land.get(&path).await? {
            Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                IngestError::internal(format!("{} is not readable: {e}", self.land.url(&path)))
            }),
            None => Ok(None),
        }
    }

    pub async fn write_state<T: Serialize>(
        &self,
        name: &str,
        value: &T,
    ) -> Result<(), IngestError> {
        let path = format!("{}/{name}", self.state_dir());
        let text =
            serde_json::to_vec_pretty(value).map_err(|e| IngestError::internal(e.to_string()))?;
        Ok(self.land.put(&path, Bytes::from(text)).await?)
    }
}
