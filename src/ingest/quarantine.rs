//! Messages that cannot land, kept whole with the reason: raw bytes, key,
//! stream position and timestamp, under `<land>/_quarantine/<source>/<table>/`
//! in files named like the land's, so a rewrite after a crash replaces them.

use super::IngestError;
use super::batch::Position;
use super::decode::Rejection;
use datafusion::arrow::array::{
    ArrayRef, BinaryBuilder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder,
    TimestampMillisecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use std::sync::{Arc, LazyLock};

/// The columns of every quarantine file.
pub static QUARANTINE_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("_partition", DataType::Int64, false),
        Field::new("_offset", DataType::Int64, false),
        Field::new("_key", DataType::Binary, true),
        Field::new(
            "_timestamp",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            true,
        ),
        Field::new("raw", DataType::Binary, false),
        Field::new("reason_code", DataType::Utf8, false),
        Field::new("reason", DataType::Utf8, false),
        Field::new("stream", DataType::Utf8, false),
        Field::new(
            "quarantined_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
    ]))
});

/// Rejected messages of one file range.
pub struct QuarantineBatch {
    partition: Int64Builder,
    offset: Int64Builder,
    key: BinaryBuilder,
    timestamp: TimestampMillisecondBuilder,
    raw: BinaryBuilder,
    reason_code: StringBuilder,
    reason: StringBuilder,
    stream: StringBuilder,
    quarantined_at: TimestampMicrosecondBuilder,
    rows: usize,
    /// The stream's name (topic or file) written on every row.
    stream_name: String,
}

impl QuarantineBatch {
    pub fn new(stream_name: &str) -> QuarantineBatch {
        QuarantineBatch {
            partition: Int64Builder::new(),
            offset: Int64Builder::new(),
            key: BinaryBuilder::new(),
            timestamp: TimestampMillisecondBuilder::new().with_timezone("UTC"),
            raw: BinaryBuilder::new(),
            reason_code: StringBuilder::new(),
            reason: StringBuilder::new(),
            stream: StringBuilder::new(),
            quarantined_at: TimestampMicrosecondBuilder::new().with_timezone("UTC"),
            rows: 0,
            stream_name: stream_name.to_string(),
        }
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    pub fn push(&mut self, raw: &[u8], at: &Position, why: &Rejection) {
        self.partition.append_value(i64::from(at.partition));
        self.offset.append_value(at.offset);
        self.key.append_option(at.key);
        self.timestamp.append_option(at.timestamp_ms);
        self.raw.append_value(raw);
        self.reason_code.append_value(why.code.as_str());
        self.reason.append_value(&why.detail);
        self.stream.append_value(&self.stream_name);
        self.quarantined_at
            .append_value(chrono::Utc::now().timestamp_micros());
        self.rows += 1;
    }

    /// The rows so far (empty afterwards), or `None` when there are none.
    pub fn finish(&mut self) -> Result<Option<RecordBatch>, IngestError> {
        if self.rows == 0 {
            return Ok(None);
        }
        self.rows = 0;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.partition.finish()),
            Arc::new(self.offset.finish()),
            Arc::new(self.key.finish()),
            Arc::new(self.timestamp.finish()),
            Arc::new(self.raw.finish()),
            Arc::new(self.reason_code.finish()),
            Arc::new(self.reason.finish()),
            Arc::new(self.stream.finish()),
            Arc::new(self.quarantined_at.finish()),
        ];
        RecordBatch::try_new(QUARANTINE_SCHEMA.clone(), columns)
            .map(Some)
            .map_err(|e| IngestError::internal(format!("building the quarantine batch: {e}")))
    }
}

/// One quarantined message read back for a replay.
#[derive(Debug, Clone)]
pub struct QuarantinedMessage {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub timestamp_ms: Option<i64>,
    pub raw: Vec<u8>,
    pub stream: String,
}

/// The messages of decoded quarantine batches, in file order.
pub fn read_messages(batches: &[RecordBatch]) -> Result<Vec<QuarantinedMessage>, IngestError> {
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::{Int64Type, TimestampMillisecondType};
    let mut out = Vec::new();
    for b in batches {
        let col = |name: &str| {
            b.column_by_name(name).ok_or_else(|| {
                IngestError::internal(format!("a quarantine file has no `{name}` column"))
            })
        };
        let partition = col("_partition")?.as_primitive::<Int64Type>();
        let offset = col("_offset")?.as_primitive::<Int64Type>();
        let key = col("_key")?.as_binary::<i32>();
        let timestamp = col("_timestamp")?.as_primitive::<TimestampMillisecondType>();
        let raw = col("raw")?.as_binary::<i32>();
        let stream = col("stream")?.as_string::<i32>();
        for i in 0..b.num_rows() {
            out.push(QuarantinedMessage {
                partition: partition.value(i) as i32,
                offset: offset.value(i),
                key: (!key.is_null(i)).then(|| key.value(i).to_vec()),
                timestamp_ms: (!timestamp.is_null(i)).then(|| timestamp.value(i)),
                raw: raw.value(i).to_vec(),
                stream: stream.value(i).to_string(),
            });
        }
    }
    Ok(out)
}
