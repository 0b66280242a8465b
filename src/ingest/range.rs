//! The open range of one stream (a Kafka partition, a file): messages
//! decoded into landed rows or quarantined, until the range is full and is
//! encoded into files.

use super::IngestError;
use super::batch::{Position, RowBatch};
use super::config::TableSpec;
use super::decode::{Decoder, RejectCode, Rejection, Typed};
use super::landing::{PendingRange, TableLand};
use super::quarantine::QuarantineBatch;
use super::schema::LandSchema;
use std::sync::Arc;
use std::time::Instant;

pub struct RangeBuffer {
    /// The stream's token in file names: the partition number, or `f<hash>`.
    pub stream: String,
    schema: Arc<LandSchema>,
    rows: RowBatch,
    bad: QuarantineBatch,
    pub first: Option<i64>,
    pub last: i64,
    /// Payload bytes in the range.
    pub bytes: usize,
    /// When the range's first message arrived (for time-based flushes).
    pub opened: Option<Instant>,
    typed: Vec<Typed<'static>>,
}

impl RangeBuffer {
    /// `source_name` is written on quarantined rows: the topic or file.
    pub fn new(spec: &TableSpec, stream: &str, source_name: &str) -> RangeBuffer {
        RangeBuffer {
            stream: stream.to_string(),
            schema: spec.schema.clone(),
            rows: RowBatch::new(spec.schema.clone(), spec.batch_size.min(1 << 16)),
            bad: QuarantineBatch::new(source_name),
            first: None,
            last: -1,
            bytes: 0,
            opened: None,
            typed: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.rows.len() + self.bad.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn is_full(&self, spec: &TableSpec) -> bool {
        self.len() >= spec.batch_size || self.bytes >= spec.max_batch_bytes
    }

    /// Adds one message: it lands or is quarantined with its reason.
    pub fn add(&mut self, payload: Option<&[u8]>, at: &Position) {
        if self.first.is_none() {
            self.first = Some(at.offset);
            self.opened = Some(Instant::now());
        }
        self.last = at.offset;
        let raw = payload.unwrap_or_default();
        self.bytes += raw.len();
        let outcome = match payload {
            None => Err(Rejection {
                code: RejectCode::InvalidJson,
                detail: "the message has no value".into(),
            }),
            Some(bytes) => {
                // The typed values borrow the payload only until they are
                // appended; the vector's allocation is reused across messages.
                let mut typed: Vec<Typed<'_>> = std::mem::take(&mut self.typed)
                    .into_iter()
                    .map(|_| Typed::Null)
                    .collect();
                let result = Decoder::default().decode(&self.schema, bytes, &mut typed);
                if result.is_ok() {
                    self.rows.push(&typed, at);
                }
                typed.clear();
                self.typed = typed.into_iter().map(|_| Typed::Null).collect();
                result
            }
        };
        if let Err(why) = outcome {
            self.bad.push(raw, at, &why);
        }
    }

    /// Encodes the range into files (empty afterwards), or `None` when it
    /// holds nothing.
    pub fn take(
        &mut self,
        land: &TableLand,
        suffix: &str,
    ) -> Result<Option<PendingRange>, IngestError> {
        match self.take_rows()? {
            Some(rows) => rows.encode(land, suffix).map(Some),
            None => Ok(None),
        }
    }

    /// The range's rows, not yet encoded (empty afterwards), so encoding
    /// can happen on another thread.
    pub fn take_rows(&mut self) -> Result<Option<RangeRows>, IngestError> {
        let Some(first) = self.first else {
            return Ok(None);
        };
        let landing_hour = chrono::Utc::now().timestamp().div_euclid(3600);
        let rows = RangeRows {
            stream: self.stream.clone(),
            first,
            last: self.last,
            good: self.rows.finish(Some(landing_hour))?,
            bad: self.bad.finish()?,
        };
        self.reset();
        Ok(Some(rows))
    }

    /// Drops the range without writing it (its partition was revoked; the
    /// next owner reads it again from the committed offset).
    pub fn discard(&mut self) -> Result<(), IngestError> {
        self.rows.finish(None)?;
        self.bad.finish()?;
        self.reset();
        Ok(())
    }

    fn reset(&mut self) {
        self.first = None;
        self.last = -1;
        self.bytes = 0;
        self.opened = None;
    }
}

/// A closed range's rows by hour folder and its rejected messages.
pub struct RangeRows {
    pub stream: String,
    pub first: i64,
    pub last: i64,
    pub good: Vec<(
        super::batch::HourKey,
        datafusion::arrow::record_batch::RecordBatch,
    )>,
    pub bad: Option<datafusion::arrow::record_batch::RecordBatch>,
}

impl RangeRows {
    pub fn encode(self, land: &TableLand, suffix: &str) -> Result<PendingRange, IngestError> {
        land.encode(
            &self.stream,
            (self.first, self.last),
            self.good,
            self.bad,
            suffix,
        )
    }
}
