//! A source table's `ingest:` block, read and checked before anything is
//! consumed. Strings may hold `{{ env_var('X') }}`; they are rendered here
//! (by the caller's renderer) and never printed back, since they may hold
//! secrets.

use super::IngestError;
use super::schema::{DeclaredColumn, LandSchema};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// What the project says about one source table, handed over by the CLI
/// (ingestion does not read the project itself).
#[derive(Debug, Clone)]
pub struct IngestTable {
    pub source_name: String,
    pub table_name: String,
    /// The table's folder name in the land (its identifier).
    pub identifier: String,
    pub columns: Vec<DeclaredColumn>,
    /// The `ingest:` block as written.
    pub ingest: Value,
}

/// Where to start reading a partition that has no committed offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartOffset {
    Earliest,
    Latest,
}

#[derive(Debug, Clone)]
pub struct KafkaSpec {
    pub brokers: String,
    pub topic: String,
    pub group_id: String,
    pub start_offset: StartOffset,
    /// librdkafka settings passed through (SASL, SSL, timeouts...).
    pub properties: BTreeMap<String, String>,
}

/// Everything needed to land one table.
#[derive(Debug, Clone)]
pub struct TableSpec {
    pub source_name: String,
    pub table_name: String,
    pub identifier: String,
    pub schema: Arc<LandSchema>,
    pub kafka: Option<KafkaSpec>,
    pub postgres: Option<super::postgres::PostgresSpec>,
    /// Messages per file (per partition); default 1000.
    pub batch_size: usize,
    /// Payload bytes per file before it is flushed early; default 64 MiB.
    pub max_batch_bytes: usize,
    /// In `--follow`, a partition's open batch is flushed after this long.
    pub flush_interval: Duration,
}

/// Messages per landed file when landing a file (`--from-file`): nobody
/// waits for a file's rows the way a stream's consumers do, while every
/// reader of the table pays per file, so files are as large as this or
/// `max_batch_bytes` allow.
pub const FILE_BATCH_ROWS: usize = 100_000;

impl TableSpec {
    /// `source.table`, as selectors name it.
    pub fn display_name(&self) -> String {
        format!("{}.{}", self.source_name, self.table_name)
    }

    /// This spec with the batch size used when landing a file: the
    /// configured one, at least [`FILE_BATCH_ROWS`].
    pub fn for_file(&self) -> TableSpec {
        TableSpec {
            batch_size: self.batch_size.max(FILE_BATCH_ROWS),
            ..self.clone()
        }
    }
}

type Render<'a> = &'a dyn Fn(&str) -> Result<String, String>;

/// Reads and checks a table's ingest block.
pub fn table_spec(table: &IngestTable, render: Render) -> Result<TableSpec, IngestError> {
    let block = table.ingest.as_object().ok_or_else(|| {
        IngestError::config(
            "ingest",
            "must be a mapping with a `kafka:` or `postgres:` block",
        )
    })?;
    let known = [
        "kafka",
        "postgres",
        "required",
        "accepted_values",
        "partition_by",
        "format",
    ];
    if let Some(unknown) = block.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(IngestError::config(
            &format!("ingest.{unknown}"),
            &format!("unknown setting; the settings are {}", known.join(", ")),
        ));
    }
    if let Some(format) = block.get("format").and_then(Value::as_str)
        && format != "json"
    {
        return Err(IngestError::config(
            "ingest.format",
            "only `json` (one JSON object per message) is supported",
        ));
    }
    let required = string_list(block.get("required"), "ingest.required")?;
    let mut accepted = Vec::new();
    if let Some(v) = block.get("accepted_values") {
        let map = v.as_object().ok_or_else(|| {
            IngestError::config(
                "ingest.accepted_values",
                "must map a column to its list of values",
            )
        })?;
        for (column, values) in map {
            accepted.push((
                column.clone(),
                string_list(Some(values), &format!("ingest.accepted_values.{column}"))?,
            ));
        }
    }
    // By default a row lands under the hour it arrived (the Kafka message
    // timestamp, or the landing time of a file's range): a batch then fills
    // one or two folders, however old its events. `partition_by` picks an
    // event-time column instead.
    let partition_by = match block.get("partition_by") {
        Some(Value::String(s)) => Some(s.clone()),
        None | Some(Value::Null) => None,
        Some(_) => {
            return Err(IngestError::config(
                "ingest.partition_by",
                "must name a TIMESTAMP column",
            ));
        }
    };
    // A Postgres table lands the server's types; declared types are for
    // documentation and tests, so only JSON-fed tables build a schema.
    let postgres = match block.get("postgres") {
        Some(p) => {
            let names: Vec<String> = table.columns.iter().map(|c| c.name.clone()).collect();
            Some(super::postgres::spec(p, &names, render)?)
        }
        None => None,
    };
    // A Postgres table's declared columns still describe its rows as JSON,
    // for `--from-file` and `--sample`; when they cannot, only pulls work.
    let schema = if postgres.is_some() && block.get("kafka").is_none() {
        LandSchema::new(
            &table.columns,
            &required,
            &accepted,
            partition_by.as_deref(),
        )
        .unwrap_or_else(|_| LandSchema::empty())
    } else {
        LandSchema::new(
            &table.columns,
            &required,
            &accepted,
            partition_by.as_deref(),
        )?
    };

    let mut spec = TableSpec {
        source_name: table.source_name.clone(),
        table_name: table.table_name.clone(),
        identifier: table.identifier.clone(),
        schema: Arc::new(schema),
        kafka: None,
        postgres,
        batch_size: 1000,
        max_batch_bytes: 64 << 20,
        flush_interval: Duration::from_secs(10),
    };
    if let Some(kafka) = block.get("kafka") {
        kafka_settings(kafka, render, &mut spec)?;
    }
    Ok(spec)
}

/// The `kafka:` block: the consumer's settings, and the batch size, byte
/// budget and flush interval of the table's landing.
fn kafka_settings(kafka: &Value, render: Render, spec: &mut TableSpec) -> Result<(), IngestError> {
    let k = kafka.as_object().ok_or_else(|| {
        IngestError::config(
            "ingest.kafka",
            "must be a mapping (brokers, topic, group_id, ...)",
        )
    })?;
    let known = [
        "brokers",
        "topic",
        "group_id",
        "batch_size",
        "max_batch_bytes",
        "flush_interval",
        "start_offset",
        "properties",
    ];
    if let Some(unknown) = k.keys().find(|key| !known.contains(&key.as_str())) {
        return Err(IngestError::config(
            &format!("ingest.kafka.{unknown}"),
            &format!(
                "unknown setting; the settings are {} (librdkafka settings go under `properties:`)",
                known.join(", ")
            ),
        ));
    }
    let text = |key: &str| -> Result<Option<String>, IngestError> {
        let setting = format!("ingest.kafka.{key}");
        match k.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => render_setting(&setting, s, render).map(Some),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(_) => Err(IngestError::config(&setting, "must be a string")),
        }
    };
    let need = |key: &str| -> Result<String, IngestError> {
        text(key)?
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| IngestError::config(&format!("ingest.kafka.{key}"), "is required"))
    };
    let count = |key: &str, default: usize| -> Result<usize, IngestError> {
        match text(key)? {
            None => Ok(default),
            Some(s) => s
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| {
                    IngestError::config(
                        &format!("ingest.kafka.{key}"),
                        &format!("`{s}` is not a positive whole number"),
                    )
                }),
        }
    };
    spec.batch_size = count("batch_size", 1000)?;
    spec.max_batch_bytes = count("max_batch_bytes", 64 << 20)?;
    if let Some(s) = text("flush_interval")? {
        spec.flush_interval = parse_duration(&s).ok_or_else(|| {
            IngestError::config(
                "ingest.kafka.flush_interval",
                &format!("`{s}` is not a duration such as 500ms, 10s or 5m"),
            )
        })?;
    }
    let start_offset = match text("start_offset")?.as_deref() {
        None | Some("earliest") => StartOffset::Earliest,
        Some("latest") => StartOffset::Latest,
        Some(other) => {
            return Err(IngestError::config(
                "ingest.kafka.start_offset",
                &format!("`{other}` is not `earliest` or `latest`"),
            ));
        }
    };
    let mut properties = BTreeMap::new();
    if let Some(p) = k.get("properties") {
        let map = p.as_object().ok_or_else(|| {
            IngestError::config(
                "ingest.kafka.properties",
                "must map librdkafka setting names to values",
            )
        })?;
        for (key, value) in map {
            let setting = format!("ingest.kafka.properties.{key}");
            let value = match value {
                Value::String(s) => render_setting(&setting, s, render)?,
                Value::Number(_) | Value::Bool(_) => value.to_string(),
                _ => return Err(IngestError::config(&setting, "must be a scalar")),
            };
            properties.insert(key.clone(), value);
        }
    }
    spec.kafka = Some(KafkaSpec {
        brokers: need("brokers")?,
        topic: need("topic")?,
        group_id: need("group_id")?,
        start_offset,
        properties,
    });
    Ok(())
}

fn render_setting(setting: &str, text: &str, render: Render) -> Result<String, IngestError> {
    if !text.contains("{{") && !text.contains("{%") {
        return Ok(text.to_string());
    }
    render(text).map_err(|e| IngestError::config(setting, &e))
}

fn string_list(v: Option<&Value>, setting: &str) -> Result<Vec<String>, IngestError> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| IngestError::config(setting, "must be a list of strings"))
            })
            .collect(),
        Some(_) => Err(IngestError::config(setting, "must be a list of strings")),
    }
}

/// `250ms`, `10s`, `5m`, `1h`, or a number of seconds.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let t = text.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: f64 = number.parse().ok()?;
    let seconds = match unit.trim() {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return None,
    };
    (seconds > 0.0).then(|| Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn table(ingest: Value) -> IngestTable {
        IngestTable {
            source_name: "kafka".into(),
            table_name: "events".into(),
            identifier: "events".into(),
            columns: vec![
                DeclaredColumn {
                    name: "id".into(),
                    data_type: Some("STRING".into()),
                },
                DeclaredColumn {
                    name: "ts".into(),
                    data_type: Some("TIMESTAMP".into()),
                },
            ],
            ingest,
        }
    }

    fn no_env(_: &str) -> Result<String, String> {
        Err("environment variable `KAFKA_BROKERS` is not set".into())
    }

    #[test]
    fn defaults_and_partitioning_by_arrival() {
        let spec = table_spec(
            &table(json!({"kafka": {"brokers": "b:9092", "topic": "t", "group_id": "g"}})),
            &no_env,
        )
        .unwrap();
        assert_eq!(spec.batch_size, 1000);
        assert_eq!(spec.schema.partition_by, None);
        assert_eq!(spec.kafka.unwrap().start_offset, StartOffset::Earliest);
    }

    #[test]
    fn errors_name_the_setting() {
        let err = |v: Value| table_spec(&table(v), &no_env).unwrap_err().to_string();
        assert!(
            err(json!({"kafka": {"topic": "t", "group_id": "g"}})).contains("ingest.kafka.brokers")
        );
        assert!(
            err(json!({"kafka": {"brokers": "{{ env_var('KAFKA_BROKERS') }}", "topic": "t", "group_id": "g"}}))
                .contains("KAFKA_BROKERS")
        );
        assert!(
            err(json!({"kafka": {"brokers": "b", "topic": "t", "group_id": "g", "batch_size": 0}}))
                .contains("batch_size")
        );
        assert!(err(json!({"kafka": {"brokers": "b", "topic": "t", "group_id": "g", "sasl.mechanism": "x"}})).contains("properties"));
        assert!(err(json!({"kafak": {}})).contains("ingest.kafak"));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("soon"), None);
    }
}
