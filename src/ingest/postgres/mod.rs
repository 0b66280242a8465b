//! Postgres → land. One pull is one REPEATABLE READ, READ ONLY
//! transaction: the rows are streamed with `COPY (SELECT ...) TO STDOUT
//! (FORMAT binary)`, decoded into Arrow (`binary`) and encoded as one
//! Parquet file that is uploaded as it grows (never the whole table in
//! memory). The file is journaled first and invisible until complete; the
//! pull's number and the incremental watermark move only after it is
//! durable, so a crash leaves no partial file and nothing half-advanced.
//!
//! Incremental pulls (`incremental_column`) read rows at or past the last
//! watermark (at-least-once at the boundary; the bronze model keeps the
//! latest row per primary key). `detect_deletes` scans the primary key in
//! the same snapshot and lands a tombstone row (`_deleted = true`) for each
//! key that has disappeared.

pub mod binary;

use super::landing::TableLand;
use super::{IngestError, Progress, Stats};
use binary::{CopyDecoder, PgKind};
use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, TimestampMicrosecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

/// A table's `ingest.postgres` block.
#[derive(Clone)]
pub struct PostgresSpec {
    /// The connection URL (may hold a password: never printed).
    url: Result<String, String>,
    pub relation: Relation,
    pub primary_key: Vec<String>,
    pub incremental_column: Option<String>,
    /// Rows per Arrow batch and Parquet row group.
    pub chunk_rows: usize,
    pub detect_deletes: bool,
    /// Declared columns to select (none: every column).
    pub columns: Vec<String>,
    /// Declared `_pulled_at` / `_deleted` columns, filled by rdbt.
    pub pulled_at: bool,
    pub deleted: bool,
}

impl std::fmt::Debug for PostgresSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresSpec")
            .field("url", &"****")
            .field("relation", &self.relation)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
pub enum Relation {
    Table(String),
    Query(String),
}

type Render<'a> = &'a dyn Fn(&str) -> Result<String, String>;

/// Reads `ingest.postgres`; `declared` are the table's declared column names.
pub fn spec(
    block: &Value,
    declared: &[String],
    render: Render,
) -> Result<PostgresSpec, IngestError> {
    let setting = |key: &str| format!("ingest.postgres.{key}");
    let map = block.as_object().ok_or_else(|| {
        IngestError::config(
            "ingest.postgres",
            "must be a mapping (url, table or query, ...)",
        )
    })?;
    let known = [
        "url",
        "table",
        "query",
        "primary_key",
        "incremental_column",
        "chunk_rows",
        "detect_deletes",
    ];
    if let Some(unknown) = map.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(IngestError::config(
            &setting(unknown),
            &format!("unknown setting; the settings are {}", known.join(", ")),
        ));
    }
    let text = |key: &str| -> Result<Option<String>, IngestError> {
        match map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.contains("{{") => render(s)
                .map(Some)
                .map_err(|e| IngestError::config(&setting(key), &e)),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(_) => Err(IngestError::config(&setting(key), "must be a string")),
        }
    };
    // The URL is only needed to pull (not to land a file or a sample into
    // the table), so a missing variable is reported when a pull starts.
    let url = match text("url") {
        Ok(Some(u)) if !u.trim().is_empty() => Ok(u),
        Ok(_) => Err("is required (usually \"{{ env_var('DATABASE_URL') }}\")".to_string()),
        Err(IngestError::Config { message, .. }) => Err(message),
        Err(e) => Err(e.to_string()),
    };
    let relation = match (text("table")?, text("query")?) {
        (Some(t), None) => Relation::Table(t),
        (None, Some(q)) => Relation::Query(q),
        (Some(_), Some(_)) => {
            return Err(IngestError::config(
                &setting("query"),
                "give `table` or `query`, not both",
            ));
        }
        (None, None) => {
            return Err(IngestError::config(
                &setting("table"),
                "is required (or `query`)",
            ));
        }
    };
    let primary_key = match map.get("primary_key") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                IngestError::config(
                    &setting("primary_key"),
                    "must be a column or a list of columns",
                )
            })?,
        Some(_) => {
            return Err(IngestError::config(
                &setting("primary_key"),
                "must be a column or a list of columns",
            ));
        }
    };
    let chunk_rows = match text("chunk_rows")? {
        None => 100_000,
        Some(s) => s.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
            IngestError::config(
                &setting("chunk_rows"),
                &format!("`{s}` is not a positive whole number"),
            )
        })?,
    };
    let detect_deletes = match map.get("detect_deletes") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(IngestError::config(
                &setting("detect_deletes"),
                "must be true or false",
            ));
        }
    };
    let has = |name: &str| declared.iter().any(|c| c == name);
    if detect_deletes && (primary_key.is_empty() || !has("_deleted")) {
        return Err(IngestError::config(
            &setting("detect_deletes"),
            "needs a primary_key and a declared `_deleted` column (BOOL) for the tombstones",
        ));
    }
    Ok(PostgresSpec {
        url,
        relation,
        primary_key,
        incremental_column: text("incremental_column")?,
        chunk_rows,
        detect_deletes,
        columns: declared
            .iter()
            .filter(|c| !c.starts_with('_'))
            .cloned()
            .collect(),
        pulled_at: has("_pulled_at"),
        deleted: has("_deleted"),
    })
}

/// What the land remembers between pulls.
#[derive(Debug, Default, Serialize, Deserialize)]
struct PullState {
    /// Pulls committed so far; the next pull is number `pulls + 1`.
    pulls: i64,
    /// The incremental column's largest value landed, as a SQL literal.
    watermark: Option<String>,
    last_pull_at: Option<String>,
    rows: u64,
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn quote_relation(name: &str) -> String {
    name.split('.')
        .map(quote_ident)
        .collect::<Vec<_>>()
        .join(".")
}

/// The server and user of a URL, for messages (never the password).
fn describe(config: &tokio_postgres::Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(h) => h.clone(),
            tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "{host}:{port} as `{}`",
        config.get_user().unwrap_or("(default user)")
    )
}

fn url_error(message: impl Into<String>) -> IngestError {
    IngestError::config("ingest.postgres.url", &message.into())
}

/// TLS as libpq does it: `sslmode` disable/allow/prefer/require encrypt
/// without checking the certificate (unless `sslrootcert` is given);
/// verify-ca and verify-full check it against `sslrootcert` or the system's
/// roots.
fn tls_connector(
    verify: bool,
    root_cert: Option<&str>,
) -> Result<tokio_postgres_rustls::MakeRustlsConnect, IngestError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| url_error(format!("TLS: {e}")))?;
    let config = if verify || root_cert.is_some() {
        let mut roots = rustls::RootCertStore::empty();
        match root_cert {
            Some(path) => {
                let pem = std::fs::read(path)
                    .map_err(|e| url_error(format!("sslrootcert {path}: {e}")))?;
                for cert in rustls_pemfile_certs(&pem) {
                    roots
                        .add(cert)
                        .map_err(|e| url_error(format!("sslrootcert {path}: {e}")))?;
                }
            }
            None => {
                roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
            }
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(EncryptOnly(provider)))
            .with_no_client_auth()
    };
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// Accepts the server's certificate as libpq's `sslmode=require` does:
/// the connection is encrypted, the server is not authenticated.
#[derive(Debug)]
struct EncryptOnly(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The DER certificates of a PEM file.
fn rustls_pemfile_certs(pem: &[u8]) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_slice_iter(pem)
        .filter_map(Result::ok)
        .collect()
}

/// Connects, mapping failures to the setting to fix.
async fn connect(url: &str) -> Result<tokio_postgres::Client, IngestError> {
    // `sslrootcert` and the verifying `sslmode`s are libpq's; tokio-postgres
    // knows neither, so they are taken out here.
    let mut root_cert = None;
    let mut verify = false;
    let url = match url.split_once('?') {
        Some((base, query)) => {
            let mut kept = Vec::new();
            for kv in query.split('&') {
                match kv.split_once('=') {
                    Some(("sslrootcert", path)) => root_cert = Some(path.to_string()),
                    Some(("sslmode", "verify-ca" | "verify-full")) => {
                        verify = true;
                        kept.push("sslmode=require");
                    }
                    Some(("sslmode", "allow")) => kept.push("sslmode=prefer"),
                    _ => kept.push(kv),
                }
            }
            if kept.is_empty() {
                base.to_string()
            } else {
                format!("{base}?{}", kept.join("&"))
            }
        }
        None => url.to_string(),
    };
    let config: tokio_postgres::Config = url
        .parse()
        .map_err(|e| url_error(format!("not a usable connection URL ({e}); expected postgres://user:password@host:port/database")))?;
    let who = describe(&config);
    let tls = tls_connector(verify, root_cert.as_deref())?;
    let (client, connection) =
        tokio::time::timeout(std::time::Duration::from_secs(15), config.connect(tls))
            .await
            .map_err(|_| url_error(format!("cannot reach {who}: no answer within 15 s")))?
            .map_err(|e| {
                let message = match e.as_db_error() {
                    Some(db) if matches!(db.code().code(), "28P01" | "28000") => {
                        format!(
                            "the server at {who} refused the credentials: {}",
                            db.message()
                        )
                    }
                    Some(db) if db.code().code() == "3D000" => format!("{} ({who})", db.message()),
                    Some(db) => format!("{who}: {}", db.message()),
                    None => format!("cannot connect to {who}: {e}"),
                };
                url_error(message)
            })?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

fn db_error(setting: &str, e: &tokio_postgres::Error) -> IngestError {
    let message = match e.as_db_error() {
        Some(db) => db.message().to_string(),
        None => e.to_string(),
    };
    IngestError::config(setting, &message)
}

/// A watermark value (raw binary of an integer, date or timestamp column)
/// as a SQL literal for the next pull's filter.
fn watermark_literal(kind: &PgKind, raw: &[u8]) -> Option<String> {
    let int = |n: usize| -> Option<i64> {
        Some(match n {
            2 => i64::from(i16::from_be_bytes(raw.try_into().ok()?)),
            4 => i64::from(i32::from_be_bytes(raw.try_into().ok()?)),
            _ => i64::from_be_bytes(raw.try_into().ok()?),
        })
    };
    Some(match kind {
        PgKind::Int2 => int(2)?.to_string(),
        PgKind::Int4 => int(4)?.to_string(),
        PgKind::Int8 => int(8)?.to_string(),
        PgKind::Date => {
            let days = int(4)? + 10_957;
            let d = chrono::DateTime::from_timestamp(days * 86_400, 0)?;
            format!("'{}'::date", d.format("%Y-%m-%d"))
        }
        PgKind::Timestamp { utc } => {
            let micros = int(8)? + 946_684_800_000_000;
            let t = chrono::DateTime::from_timestamp_micros(micros)?;
            let text = t.format("%Y-%m-%d %H:%M:%S%.6f");
            if *utc {
                format!("'{text}+00'::timestamptz")
            } else {
                format!("'{text}'::timestamp")
            }
        }
        _ => return None,
    })
}

/// The pulled relation as Postgres describes it: its SQL (a table or a
/// query), the select list, the columns with the types they land as, and
/// the incremental column's position.
struct Described {
    source: String,
    select_list: String,
    columns: Vec<(String, PgKind)>,
    watermark_column: Option<usize>,
}

/// Describes what `pg` pulls, checking that the relation exists, that
/// every column can be landed and that the keys are selected columns.
async fn describe_relation(
    client: &tokio_postgres::Client,
    pg: &PostgresSpec,
) -> Result<Described, IngestError> {
    let source = match &pg.relation {
        Relation::Table(name) => {
            let found: Option<u32> = client
                .query_one("SELECT to_regclass($1)::oid", &[name])
                .await
                .map_err(|e| db_error("ingest.postgres.table", &e))?
                .get(0);
            if found.is_none() {
                return Err(IngestError::config(
                    "ingest.postgres.table",
                    &format!("relation `{name}` does not exist (or this user cannot see it)"),
                ));
            }
            quote_relation(name)
        }
        Relation::Query(q) => format!("({q}) AS rdbt_query"),
    };
    let select_list = if pg.columns.is_empty() {
        "*".to_string()
    } else {
        pg.columns
            .iter()
            .map(|c| quote_ident(c))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let described = client
        .prepare(&format!("SELECT {select_list} FROM {source}"))
        .await
        .map_err(|e| {
            let setting = if matches!(pg.relation, Relation::Query(_)) {
                "ingest.postgres.query"
            } else {
                "columns"
            };
            db_error(setting, &e)
        })?;
    let mut columns = Vec::new();
    for c in described.columns() {
        let kind = PgKind::from_oid(c.type_().oid(), c.type_modifier()).ok_or_else(|| {
            IngestError::config(
                &format!("columns.{}", c.name()),
                &format!(
                    "Postgres type `{}` cannot be landed; cast it in a `query:` (for example to text)",
                    c.type_().name()
                ),
            )
        })?;
        columns.push((c.name().to_string(), kind));
    }
    for key in pg.primary_key.iter().chain(&pg.incremental_column) {
        if !columns.iter().any(|(n, _)| n == key) {
            return Err(IngestError::config(
                "ingest.postgres.primary_key",
                &format!("`{key}` is not a selected column of {source}"),
            ));
        }
    }
    let watermark_column = match &pg.incremental_column {
        Some(name) => {
            let i = columns
                .iter()
                .position(|(n, _)| n == name)
                .unwrap_or_default();
            if !matches!(
                columns[i].1,
                PgKind::Int2
                    | PgKind::Int4
                    | PgKind::Int8
                    | PgKind::Date
                    | PgKind::Timestamp { .. }
            ) {
                return Err(IngestError::config(
                    "ingest.postgres.incremental_column",
                    &format!("`{name}` must be an integer, date or timestamp column"),
                ));
            }
            Some(i)
        }
        None => None,
    };
    Ok(Described {
        source,
        select_list,
        columns,
        watermark_column,
    })
}

/// The landed schema: the selected columns, then `_pulled_at`/`_deleted`.
fn landed_schema(columns: &[(String, PgKind)], pg: &PostgresSpec) -> SchemaRef {
    let mut fields: Vec<Field> = columns
        .iter()
        .map(|(n, k)| Field::new(n, k.arrow_type(), true))
        .collect();
    if pg.pulled_at {
        fields.push(Field::new(
            "_pulled_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ));
    }
    if pg.deleted {
        fields.push(Field::new("_deleted", DataType::Boolean, true));
    }
    Arc::new(Schema::new(fields))
}

/// Pulls `spec`'s relation into the land: in full, or the rows past the
/// watermark.
pub fn pull(
    table: &str,
    pg: &PostgresSpec,
    land: &TableLand,
    runtime: &tokio::runtime::Handle,
    progress: &dyn Progress,
) -> Result<Stats, IngestError> {
    let started = Instant::now();
    let mut state: PullState = runtime
        .block_on(land.read_state("pull.json"))?
        .unwrap_or_default();
    let number = state.pulls + 1;
    let removed = runtime.block_on(land.recover("pull", number))?;
    if removed > 0 {
        progress.note(
            table,
            &format!("removed {removed} file(s) of an interrupted pull; pulling again"),
        );
    }
    let url = pg
        .url
        .as_ref()
        .map_err(|message| IngestError::config("ingest.postgres.url", message))?;
    let client = runtime.block_on(connect(url))?;
    runtime
        .block_on(client.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"))
        .map_err(|e| db_error("ingest.postgres.url", &e))?;
    let Described {
        source,
        select_list,
        columns,
        watermark_column,
    } = runtime.block_on(describe_relation(&client, pg))?;
    let filter = match (&pg.incremental_column, &state.watermark) {
        (Some(column), Some(literal)) => format!(" WHERE {} >= {literal}", quote_ident(column)),
        _ => String::new(),
    };
    let pulled_at: i64 = runtime
        .block_on(client.query_one("SELECT (extract(epoch FROM now()) * 1000000)::int8", &[]))
        .map_err(|e| db_error("ingest.postgres.url", &e))?
        .get(0);
    let what = match (&filter.is_empty(), &state.watermark) {
        (false, Some(mark)) => format!("postgres {source} (rows since the watermark) {mark}"),
        _ => format!("postgres {source} (full pull)"),
    };
    progress.started(table, &what, None);

    let schema = landed_schema(&columns, pg);
    let hour = pulled_at.div_euclid(3_600_000_000);
    let file = format!(
        "{}/{}/{}",
        land.data_dir(),
        super::batch::hour_folder(Some(hour)),
        TableLand::file_name("pull", number, number, "")
    );
    runtime.block_on(land.begin_range("pull", (number, number), std::slice::from_ref(&file)))?;
    let mut writer =
        ParquetStream::start(land, &file, schema.clone(), pg.chunk_rows, runtime.clone());
    let extra = |rows: usize, deleted: bool| -> Vec<ArrayRef> {
        let mut out: Vec<ArrayRef> = Vec::new();
        if pg.pulled_at {
            out.push(Arc::new(
                TimestampMicrosecondArray::from(vec![pulled_at; rows]).with_timezone("UTC"),
            ));
        }
        if pg.deleted {
            out.push(Arc::new(BooleanArray::from(vec![deleted; rows])));
        }
        out
    };
    let copy =
        format!("COPY (SELECT {select_list} FROM {source}{filter}) TO STDOUT (FORMAT binary)");
    let mut decoder = CopyDecoder::new(&columns, pg.chunk_rows, watermark_column);
    let mut stats = Stats::default();
    let result: Result<(), IngestError> = runtime.block_on(async {
        let stream = client
            .copy_out(&copy)
            .await
            .map_err(|e| db_error("ingest.postgres.query", &e))?;
        let mut stream = std::pin::pin!(stream);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| db_error("ingest.postgres.url", &e))?;
            decoder.feed(&chunk)?;
            if decoder.rows() >= pg.chunk_rows {
                hold_between_batches();
                let rows = decoder.rows();
                let mut arrays = decoder.finish_batch();
                arrays.extend(extra(rows, false));
                writer.send(
                    RecordBatch::try_new(schema.clone(), arrays)
                        .map_err(|e| IngestError::internal(e.to_string()))?,
                )?;
                stats.add_batch(rows, 0, 0, 0);
                stats.tick(started);
                progress.batch(table, &stats);
            }
        }
        Ok(())
    });
    if let Err(e) = result {
        writer.abort();
        return Err(e);
    }
    let rows = decoder.rows();
    if rows > 0 {
        let mut arrays = decoder.finish_batch();
        arrays.extend(extra(rows, false));
        writer.send(
            RecordBatch::try_new(schema.clone(), arrays)
                .map_err(|e| IngestError::internal(e.to_string()))?,
        )?;
        stats.add_batch(rows, 0, 0, 0);
    }
    if pg.detect_deletes {
        let gone = runtime.block_on(deleted_keys(&client, land, pg, &columns, &source))?;
        if let Some(tombstones) = gone {
            let n = tombstones.num_rows();
            let arrays = tombstone_columns(&schema, &tombstones, pulled_at);
            if n > 0 {
                writer.send(
                    RecordBatch::try_new(schema.clone(), arrays)
                        .map_err(|e| IngestError::internal(e.to_string()))?,
                )?;
                progress.note(table, &format!("{n} row(s) deleted since the last pull; landed as tombstones (_deleted = true)"));
            }
        }
    }
    let bytes = writer.finish()?;
    runtime
        .block_on(client.batch_execute("COMMIT"))
        .map_err(|e| db_error("ingest.postgres.url", &e))?;
    if let (Some(i), Some(raw)) = (watermark_column, &decoder.max_watermark) {
        state.watermark = watermark_literal(&columns[i].1, raw).or(state.watermark);
    }
    state.pulls = number;
    state.rows += stats.landed;
    state.last_pull_at = chrono::DateTime::from_timestamp_micros(pulled_at).map(|t| t.to_rfc3339());
    runtime.block_on(land.write_state("pull.json", &state))?;
    runtime.block_on(land.finish_range("pull"))?;
    stats.files = 1;
    stats.bytes = bytes;
    stats.tick(started);
    progress.finished(table, &stats);
    Ok(stats)
}

/// The columns of deleted rows' tombstones in the landed schema: their
/// keys, `_pulled_at` of this pull, `_deleted = true`, nulls elsewhere.
fn tombstone_columns(schema: &Schema, tombstones: &RecordBatch, pulled_at: i64) -> Vec<ArrayRef> {
    let n = tombstones.num_rows();
    schema
        .fields()
        .iter()
        .map(|field| -> ArrayRef {
            match tombstones.column_by_name(field.name()) {
                Some(a) => a.clone(),
                None if field.name() == "_pulled_at" => Arc::new(
                    TimestampMicrosecondArray::from(vec![pulled_at; n]).with_timezone("UTC"),
                ),
                None if field.name() == "_deleted" => Arc::new(BooleanArray::from(vec![true; n])),
                None => datafusion::arrow::array::new_null_array(field.data_type(), n),
            }
        })
        .collect()
}

/// Fault injection for the crash test: `RDBT_FAULT_PULL_DELAY_MS` slows
/// each batch so a test can kill a pull in the middle.
fn hold_between_batches() {
    static DELAY: std::sync::LazyLock<Option<std::time::Duration>> =
        std::sync::LazyLock::new(|| {
            std::env::var("RDBT_FAULT_PULL_DELAY_MS")
                .ok()
                .and_then(|v| v.parse().ok())
                .map(std::time::Duration::from_millis)
        });
    if let Some(delay) = *DELAY {
        std::thread::sleep(delay);
    }
}

/// Keys landed alive before but absent now, as record batch columns named
/// like the key columns; `None` when nothing has landed yet.
async fn deleted_keys(
    client: &tokio_postgres::Client,
    land: &TableLand,
    pg: &PostgresSpec,
    columns: &[(String, PgKind)],
    source: &str,
) -> Result<Option<RecordBatch>, IngestError> {
    use datafusion::arrow::row::{RowConverter, SortField};
    let key_columns: Vec<(String, PgKind)> = pg
        .primary_key
        .iter()
        .filter_map(|k| columns.iter().find(|(n, _)| n == k).cloned())
        .collect();
    let converter = RowConverter::new(
        key_columns
            .iter()
            .map(|(_, k)| SortField::new(k.arrow_type()))
            .collect(),
    )
    .map_err(|e| IngestError::internal(e.to_string()))?;
    // The keys now, in this pull's snapshot.
    let list = key_columns
        .iter()
        .map(|(n, _)| quote_ident(n))
        .collect::<Vec<_>>()
        .join(", ");
    let stream = client
        .copy_out(&format!(
            "COPY (SELECT {list} FROM {source}) TO STDOUT (FORMAT binary)"
        ))
        .await
        .map_err(|e| db_error("ingest.postgres.primary_key", &e))?;
    let mut stream = std::pin::pin!(stream);
    let mut decoder = CopyDecoder::new(&key_columns, 65_536, None);
    let mut now = HashSet::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| db_error("ingest.postgres.url", &e))?;
        decoder.feed(&chunk)?;
        if decoder.rows() >= 65_536 || decoder.is_finished() {
            let rows = converter
                .convert_columns(&decoder.finish_batch())
                .map_err(|e| IngestError::internal(e.to_string()))?;
            now.extend(rows.iter().map(|r| r.as_ref().to_vec()));
        }
    }
    // Each key's latest landed state, pull by pull.
    let mut files: Vec<String> = land
        .land
        .list(&land.data_dir())
        .await?
        .into_iter()
        .map(|o| o.path)
        .filter(|p| p.ends_with(".parquet"))
        .collect();
    files.sort_by_key(|p| {
        p.rsplit("part-pull-")
            .next()
            .and_then(|n| n.split('-').next()?.parse::<i64>().ok())
    });
    if files.is_empty() {
        return Ok(None);
    }
    let mut alive: BTreeMap<Vec<u8>, (usize, usize)> = BTreeMap::new();
    let mut batches = Vec::new();
    for path in files {
        let Some(bytes) = land.land.get(&path).await? else {
            continue;
        };
        for batch in super::batch::decode_parquet(bytes)? {
            let keys: Vec<ArrayRef> = key_columns
                .iter()
                .filter_map(|(n, _)| batch.column_by_name(n).cloned())
                .collect();
            if keys.len() != key_columns.len() {
                continue;
            }
            let rows = converter
                .convert_columns(&keys)
                .map_err(|e| IngestError::internal(e.to_string()))?;
            let deleted = batch
                .column_by_name("_deleted")
                .and_then(|a| a.as_any().downcast_ref::<BooleanArray>().cloned());
            let b = batches.len();
            for (i, row) in rows.iter().enumerate() {
                let key = row.as_ref().to_vec();
                if deleted
                    .as_ref()
                    .is_some_and(|d| d.is_valid(i) && d.value(i))
                {
                    alive.remove(&key);
                } else {
                    alive.insert(key, (b, i));
                }
            }
            batches.push(keys);
        }
    }
    let gone: Vec<(usize, usize)> = alive
        .iter()
        .filter(|(k, _)| !now.contains(*k))
        .map(|(_, at)| *at)
        .collect();
    let mut arrays = Vec::new();
    for (c, (name, kind)) in key_columns.iter().enumerate() {
        let parts: Vec<ArrayRef> = gone
            .iter()
            .map(|(b, i)| batches[*b][c].slice(*i, 1))
            .collect();
        let refs: Vec<&dyn Array> = parts.iter().map(|a| a.as_ref()).collect();
        let array = if refs.is_empty() {
            datafusion::arrow::array::new_empty_array(&kind.arrow_type())
        } else {
            datafusion::arrow::compute::concat(&refs)
                .map_err(|e| IngestError::internal(e.to_string()))?
        };
        arrays.push((name.clone(), array));
    }
    let fields: Vec<Field> = arrays
        .iter()
        .map(|(n, a)| Field::new(n, a.data_type().clone(), true))
        .collect();
    RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        arrays.into_iter().map(|(_, a)| a).collect(),
    )
    .map(Some)
    .map_err(|e| IngestError::internal(e.to_string()))
}

/// A Parquet file encoded on its own thread and uploaded as it grows.
struct ParquetStream {
    batches: Option<std::sync::mpsc::SyncSender<RecordBatch>>,
    worker: Option<std::thread::JoinHandle<Result<u64, IngestError>>>,
    /// Set before the sender is dropped to abandon the upload.
    aborted: Arc<std::sync::atomic::AtomicBool>,
}

/// `Write` for the encoder: bytes gather into 8 MiB parts uploaded in turn.
struct UploadSink {
    writer: Option<crate::store::LandWriter>,
    buffer: Vec<u8>,
    runtime: tokio::runtime::Handle,
    written: u64,
    error: Option<crate::store::StoreError>,
}

impl UploadSink {
    fn upload(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let part = bytes::Bytes::from(std::mem::take(&mut self.buffer));
        self.written += part.len() as u64;
        let Some(writer) = self.writer.as_mut() else {
            return Err(std::io::Error::other("the upload was closed"));
        };
        if let Err(e) = self.runtime.block_on(writer.write(part)) {
            let message = e.to_string();
            self.error = Some(e);
            return Err(std::io::Error::other(message));
        }
        Ok(())
    }
}

impl std::io::Write for UploadSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(buf);
        if self.buffer.len() >= 8 << 20 {
            self.upload()?;
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl ParquetStream {
    fn start(
        land: &TableLand,
        path: &str,
        schema: SchemaRef,
        row_group: usize,
        runtime: tokio::runtime::Handle,
    ) -> ParquetStream {
        let (tx, rx) = std::sync::mpsc::sync_channel::<RecordBatch>(2);
        let writer = land.land.writer(path);
        let aborted = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop = aborted.clone();
        let worker = std::thread::spawn(move || -> Result<u64, IngestError> {
            let sink = UploadSink {
                writer: Some(writer),
                buffer: Vec::with_capacity(9 << 20),
                runtime,
                written: 0,
                error: None,
            };
            let props = datafusion::parquet::file::properties::WriterProperties::builder()
                .set_compression(datafusion::parquet::basic::Compression::ZSTD(
                    datafusion::parquet::basic::ZstdLevel::try_new(1).unwrap_or_default(),
                ))
                .set_max_row_group_row_count(Some(row_group.max(1024)))
                .build();
            let mut encoder =
                datafusion::parquet::arrow::ArrowWriter::try_new(sink, schema, Some(props))
                    .map_err(|e| IngestError::internal(e.to_string()))?;
            let mut failed = None;
            for batch in rx {
                if let Err(e) = encoder.write(&batch) {
                    failed = Some(e);
                    break;
                }
            }
            let result = match failed {
                Some(e) => Err(e),
                None => encoder.into_inner(),
            };
            let mut sink = match result {
                Ok(sink) => sink,
                Err(e) => return Err(IngestError::internal(format!("writing Parquet: {e}"))),
            };
            sink.upload()
                .map_err(|e| IngestError::internal(e.to_string()))?;
            if let Some(e) = sink.error.take() {
                return Err(e.into());
            }
            let writer = sink
                .writer
                .take()
                .ok_or_else(|| IngestError::internal("the upload was closed"))?;
            if stop.load(std::sync::atomic::Ordering::SeqCst) {
                sink.runtime.block_on(writer.abort());
                return Err(IngestError::internal("the pull was abandoned"));
            }
            sink.runtime.block_on(writer.finish())?;
            Ok(sink.written)
        });
        ParquetStream {
            batches: Some(tx),
            worker: Some(worker),
            aborted,
        }
    }

    fn send(&mut self, batch: RecordBatch) -> Result<(), IngestError> {
        let sent = self.batches.as_ref().map(|tx| tx.send(batch));
        match sent {
            Some(Ok(())) => Ok(()),
            // The encoder stopped: its error is the one to report.
            _ => match self.finish() {
                Err(e) => Err(e),
                Ok(_) => Err(IngestError::internal("the Parquet encoder stopped")),
            },
        }
    }

    /// Closes the file; returns its size once it is durable.
    fn finish(&mut self) -> Result<u64, IngestError> {
        self.batches.take();
        match self.worker.take() {
            Some(worker) => worker
                .join()
                .map_err(|_| IngestError::internal("the Parquet encoder panicked"))?,
            None => Err(IngestError::internal("the Parquet file was already closed")),
        }
    }

    /// Stops without completing the upload: nothing appears in the land.
    fn abort(mut self) {
        self.aborted
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.batches.take();
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}
