//! Kafka → land. One consumer in the table's group; each assigned
//! partition has its own open range. A range is flushed when it is full (by
//! count or bytes), when `flush_interval` has passed (`--follow`), or at
//! the end (`--once`, stop signal); its offset is committed only after its
//! files are durable. A revoked partition's open range is discarded (its
//! next owner reads it again from the committed offset), and a newly
//! assigned partition first undoes any range a crashed owner left half
//! written (see `landing`).

use super::batch::Position;
use super::config::{KafkaSpec, StartOffset, TableSpec};
use super::landing::TableLand;
use super::range::RangeBuffer;
use super::{IngestError, Progress, Stats};
use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How long to wait for brokers to answer a metadata or offset request.
const BROKER_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Drain every partition to the end offsets seen at start, then exit.
    Once,
    /// Run until stopped, flushing by size and time.
    Follow,
}

/// Rebalance events, recorded inside `poll` and handled after it returns
/// (files cannot be written from inside librdkafka's callback).
#[derive(Default)]
struct Rebalances {
    assigned: Mutex<Vec<i32>>,
    revoked: Mutex<Vec<i32>>,
    /// The last error librdkafka reported on its own (broker down, ...).
    error: Mutex<Option<String>>,
}

impl ClientContext for Rebalances {
    fn error(&self, error: KafkaError, reason: &str) {
        if let Ok(mut e) = self.error.lock() {
            *e = Some(format!("{error}: {reason}"));
        }
    }
    fn log(&self, _: rdkafka::config::RDKafkaLogLevel, _: &str, _: &str) {}
}

impl ConsumerContext for Rebalances {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(list) = rebalance
            && let Ok(mut revoked) = self.revoked.lock()
        {
            revoked.extend(list.elements().iter().map(|e| e.partition()));
        }
    }
    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(list) = rebalance
            && let Ok(mut assigned) = self.assigned.lock()
        {
            assigned.extend(list.elements().iter().map(|e| e.partition()));
        }
    }
}

fn take_all(list: &Mutex<Vec<i32>>) -> Vec<i32> {
    list.lock()
        .map(|mut l| std::mem::take(&mut *l))
        .unwrap_or_default()
}

/// librdkafka settings rdbt relies on; user `properties` may add to them
/// but not turn off manual commits.
fn consumer_config(kafka: &KafkaSpec, mode: Mode) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &kafka.brokers)
        .set("group.id", &kafka.group_id)
        .set(
            "auto.offset.reset",
            match kafka.start_offset {
                StartOffset::Earliest => "earliest",
                StartOffset::Latest => "latest",
            },
        )
        .set(
            "enable.partition.eof",
            if mode == Mode::Once { "true" } else { "false" },
        )
        .set("client.id", "rdbt-ingest")
        // Keep fetching while rows are being landed: librdkafka otherwise
        // pauses a partition's fetches for a second once its local queue
        // is full, and waits up to 500 ms per fetch; measured 10x slower
        // on the mock cluster. `properties` may set them back.
        .set("fetch.wait.max.ms", "10")
        .set("fetch.queue.backoff.ms", "0")
        .set("fetch.error.backoff.ms", "50");
    for (k, v) in &kafka.properties {
        config.set(k, v);
    }
    config
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false");
    config
}

/// Checks that the brokers answer and the topic exists; returns its
/// partitions. Done before anything is consumed.
fn check_topic<C: Consumer<Rebalances>>(
    consumer: &C,
    kafka: &KafkaSpec,
) -> Result<Vec<i32>, IngestError> {
    let metadata = consumer
        .fetch_metadata(Some(&kafka.topic), BROKER_TIMEOUT)
        .map_err(|e| {
            IngestError::kafka(
                "ingest.kafka.brokers",
                format!(
                    "cannot reach the brokers `{}` within {} s ({e})",
                    kafka.brokers,
                    BROKER_TIMEOUT.as_secs()
                ),
            )
        })?;
    let topic = metadata.topics().iter().find(|t| t.name() == kafka.topic);
    match topic {
        Some(t) if t.error().is_none() && !t.partitions().is_empty() => {
            Ok(t.partitions().iter().map(|p| p.id()).collect())
        }
        _ => Err(IngestError::kafka(
            "ingest.kafka.topic",
            format!(
                "topic `{}` does not exist on `{}`",
                kafka.topic, kafka.brokers
            ),
        )),
    }
}

/// One assigned partition's state.
struct PartitionState {
    range: RangeBuffer,
    /// The next offset to read (committed, then past each message).
    next: i64,
    /// `--once`: the end offset seen at start.
    end: i64,
    reached_end: bool,
}

/// Lands `spec`'s topic until it is drained (`Once`) or `stop` is set.
pub fn land_topic(
    spec: &TableSpec,
    land: &TableLand,
    mode: Mode,
    stop: &AtomicBool,
    runtime: &tokio::runtime::Handle,
    progress: &dyn Progress,
) -> Result<Stats, IngestError> {
    let Some(kafka) = &spec.kafka else {
        return Err(IngestError::config(
            "ingest.kafka",
            "the table has no `kafka:` block; use --from-file to land a file",
        ));
    };
    let started = Instant::now();
    let table = spec.display_name();
    let consumer: BaseConsumer<Rebalances> = consumer_config(kafka, mode)
        .create_with_context(Rebalances::default())
        .map_err(|e| IngestError::kafka("ingest.kafka.properties", e.to_string()))?;
    let partitions = check_topic(&consumer, kafka)?;
    let ends = end_offsets(&consumer, kafka, &partitions)?;
    consumer
        .subscribe(&[&kafka.topic])
        .map_err(|e| IngestError::kafka("ingest.kafka.topic", e.to_string()))?;
    progress.started(
        &table,
        &format!(
            "topic {} ({} partitions, group {})",
            kafka.topic,
            partitions.len(),
            kafka.group_id
        ),
        (mode == Mode::Once).then(|| ends.values().map(|h| *h as u64).sum()),
    );

    let mut run = TopicRun {
        spec,
        kafka,
        land,
        runtime,
        progress,
        consumer: &consumer,
        table,
        started,
        stats: Stats::default(),
        partitions: BTreeMap::new(),
        ends,
        last_lag_check: Instant::now(),
    };
    let assignment_deadline = Instant::now() + Duration::from_secs(60);
    let mut ever_assigned = false;
    let mut first_message: Option<Instant> = None;
    loop {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let polled = consumer.poll(Duration::from_millis(100));
        for p in take_all(&consumer.context().revoked) {
            if let Some(mut state) = run.partitions.remove(&p) {
                state.range.discard()?;
            }
        }
        for p in take_all(&consumer.context().assigned) {
            ever_assigned = true;
            run.assign(p)?;
        }
        match polled {
            Some(Ok(message)) => {
                // Throughput counts from the first message, not from the
                // group join (seconds on a fresh group).
                if run.stats.messages == 0 && first_message.is_none() {
                    first_message = Some(Instant::now());
                    run.started = Instant::now();
                }
                run.receive(&message)?;
            }
            Some(Err(KafkaError::PartitionEOF(p))) => {
                if let Some(state) = run.partitions.get_mut(&p)
                    && state.next >= state.end
                {
                    state.reached_end = true;
                }
            }
            Some(Err(e)) => {
                run.progress.note(&run.table, &format!("kafka: {e}"));
            }
            None => {}
        }
        if mode == Mode::Follow {
            let due: Vec<i32> = run
                .partitions
                .iter()
                .filter(|(_, s)| {
                    s.range
                        .opened
                        .is_some_and(|t| t.elapsed() >= spec.flush_interval)
                })
                .map(|(p, _)| *p)
                .collect();
            run.flush_all(&due)?;
        } else if ever_assigned
            && !run.partitions.is_empty()
            && run.partitions.values().all(|s| s.reached_end)
        {
            break;
        } else if !ever_assigned && Instant::now() > assignment_deadline {
            let detail = consumer
                .context()
                .error
                .lock()
                .ok()
                .and_then(|e| e.clone())
                .map(|e| format!(" (last error: {e})"))
                .unwrap_or_default();
            return Err(IngestError::kafka(
                "ingest.kafka.group_id",
                format!(
                    "no partition of `{}` was assigned to this consumer within 60 s{detail}; other consumers of group `{}` may hold them all",
                    kafka.topic, kafka.group_id
                ),
            ));
        }
    }
    let open: Vec<i32> = run.partitions.keys().copied().collect();
    run.flush_all(&open)?;
    run.refresh_lag(true);
    run.stats.tick(run.started);
    progress.finished(&run.table, &run.stats);
    let stats = run.stats.clone();
    drop(run);
    consumer.unsubscribe();
    Ok(stats)
}

/// Each partition's end offset (its high watermark) when the run starts.
fn end_offsets(
    consumer: &BaseConsumer<Rebalances>,
    kafka: &KafkaSpec,
    partitions: &[i32],
) -> Result<BTreeMap<i32, i64>, IngestError> {
    let mut ends = BTreeMap::new();
    for p in partitions {
        let (_, high) = consumer
            .fetch_watermarks(&kafka.topic, *p, BROKER_TIMEOUT)
            .map_err(|e| {
                IngestError::kafka(
                    "ingest.kafka.brokers",
                    format!("reading the end offset of partition {p}: {e}"),
                )
            })?;
        ends.insert(*p, high);
    }
    Ok(ends)
}

struct TopicRun<'a> {
    spec: &'a TableSpec,
    kafka: &'a KafkaSpec,
    land: &'a TableLand,
    runtime: &'a tokio::runtime::Handle,
    progress: &'a dyn Progress,
    consumer: &'a BaseConsumer<Rebalances>,
    table: String,
    started: Instant,
    stats: Stats,
    partitions: BTreeMap<i32, PartitionState>,
    /// End offsets seen at start (`--once` stops there).
    ends: BTreeMap<i32, i64>,
    last_lag_check: Instant,
}

impl TopicRun<'_> {
    /// Adds a polled message to its partition's open range (a message
    /// before the partition's position was landed already), flushing the
    /// range when it is full.
    fn receive(
        &mut self,
        message: &rdkafka::message::BorrowedMessage<'_>,
    ) -> Result<(), IngestError> {
        let p = message.partition();
        let Some(state) = self.partitions.get_mut(&p) else {
            return Ok(());
        };
        if message.offset() < state.next {
            return Ok(());
        }
        state.range.add(
            message.payload(),
            &Position {
                partition: p,
                offset: message.offset(),
                key: message.key(),
                timestamp_ms: message.timestamp().to_millis(),
            },
        );
        state.next = message.offset() + 1;
        if state.next >= state.end {
            state.reached_end = true;
        }
        if state.range.is_full(self.spec) {
            self.flush(p)?;
        }
        Ok(())
    }

    /// A partition arrived: find its committed offset and undo whatever a
    /// previous owner wrote past it.
    fn assign(&mut self, p: i32) -> Result<(), IngestError> {
        let mut list = TopicPartitionList::new();
        list.add_partition(&self.kafka.topic, p);
        let committed = self
            .consumer
            .committed_offsets(list, BROKER_TIMEOUT)
            .map_err(|e| {
                IngestError::kafka(
                    "ingest.kafka.group_id",
                    format!("reading the committed offset of partition {p}: {e}"),
                )
            })?
            .find_partition(&self.kafka.topic, p)
            .and_then(|e| match e.offset() {
                Offset::Offset(o) => Some(o),
                _ => None,
            });
        let next = match committed {
            Some(o) => o,
            None => {
                let (low, high) = self
                    .consumer
                    .fetch_watermarks(&self.kafka.topic, p, BROKER_TIMEOUT)
                    .map_err(|e| IngestError::kafka("ingest.kafka.brokers", e.to_string()))?;
                match self.kafka.start_offset {
                    StartOffset::Earliest => low,
                    StartOffset::Latest => high,
                }
            }
        };
        let stream = p.to_string();
        let removed = self.runtime.block_on(self.land.recover(&stream, next))?;
        if removed > 0 {
            self.progress.note(
                &self.table,
                &format!(
                    "partition {p}: removed {removed} uncommitted file(s) of an interrupted run; reading from offset {next}"
                ),
            );
        }
        let end = self.ends.get(&p).copied().unwrap_or(0);
        self.partitions.insert(
            p,
            PartitionState {
                range: RangeBuffer::new(self.spec, &stream, &self.kafka.topic),
                next,
                end,
                reached_end: next >= end,
            },
        );
        Ok(())
    }

    /// Writes partition `p`'s open range, and with it every other range at
    /// least half full, then commits past all of them at once: encoding
    /// runs on every core, the files are written concurrently and one
    /// commit serves them all.
    fn flush(&mut self, p: i32) -> Result<(), IngestError> {
        let half = (self.spec.batch_size / 2).max(1);
        let mut due: Vec<i32> = self
            .partitions
            .iter()
            .filter(|(q, s)| **q != p && s.range.len() >= half)
            .map(|(q, _)| *q)
            .collect();
        due.push(p);
        self.flush_all(&due)
    }

    /// Writes the open ranges of `partitions`, then commits past them.
    fn flush_all(&mut self, partitions: &[i32]) -> Result<(), IngestError> {
        use rayon::prelude::*;
        let mut taken = Vec::new();
        for p in partitions {
            if let Some(state) = self.partitions.get_mut(p)
                && let Some(rows) = state.range.take_rows()?
            {
                taken.push((*p, rows));
            }
        }
        if taken.is_empty() {
            return Ok(());
        }
        let land = self.land;
        let pending: Vec<(i32, super::landing::PendingRange)> = taken
            .into_par_iter()
            .map(|(p, rows)| rows.encode(land, "").map(|r| (p, r)))
            .collect::<Result<_, _>>()?;
        let writes = pending.iter().map(|(_, r)| land.write_range(r));
        for written in self.runtime.block_on(futures::future::join_all(writes)) {
            written?;
        }
        hold_before_commit();
        let mut list = TopicPartitionList::new();
        for (p, range) in &pending {
            list.add_partition_offset(&self.kafka.topic, *p, Offset::Offset(range.last + 1))
                .map_err(|e| IngestError::internal(e.to_string()))?;
        }
        let mut attempt = 0;
        let committed = loop {
            match self.consumer.commit(&list, CommitMode::Sync) {
                Ok(()) => break Ok(()),
                Err(_) if attempt < 3 => {
                    attempt += 1;
                    std::thread::sleep(Duration::from_millis(200 * attempt));
                }
                Err(e) => break Err(e),
            }
        };
        match committed {
            Ok(()) => {
                let finished = pending.iter().map(|(_, r)| land.finish_range(&r.stream));
                for done in self.runtime.block_on(futures::future::join_all(finished)) {
                    done?;
                }
                for (_, r) in &pending {
                    self.stats
                        .add_batch(r.landed, r.quarantined, r.files.len(), r.bytes());
                }
            }
            Err(e) => {
                // The files are durable but not committed: undo them and
                // read the ranges again (or let the partitions' next owner).
                for (p, r) in &pending {
                    self.runtime.block_on(land.recover(&r.stream, r.first))?;
                    self.progress.note(
                        &self.table,
                        &format!(
                            "partition {p}: commit failed ({e}); the range from offset {} will be read again",
                            r.first
                        ),
                    );
                    if let Some(state) = self.partitions.get_mut(p) {
                        state.next = r.first;
                        state.reached_end = false;
                    }
                    let _ = self.consumer.seek(
                        &self.kafka.topic,
                        *p,
                        Offset::Offset(r.first),
                        BROKER_TIMEOUT,
                    );
                }
            }
        }
        self.refresh_lag(false);
        self.stats.tick(self.started);
        self.progress.batch(&self.table, &self.stats);
        Ok(())
    }

    /// Messages between each partition's position and its end, refreshed
    /// from the brokers at most every 5 s.
    fn refresh_lag(&mut self, force: bool) {
        if !force && self.last_lag_check.elapsed() < Duration::from_secs(5) {
            return;
        }
        self.last_lag_check = Instant::now();
        let mut lag = 0;
        for (p, state) in &self.partitions {
            let high = self
                .consumer
                .fetch_watermarks(&self.kafka.topic, *p, Duration::from_secs(1))
                .map(|(_, h)| h)
                .unwrap_or(state.end);
            lag += (high - state.next).max(0);
        }
        self.stats.lag = Some(lag);
    }
}

/// Fault injection for the crash tests: `RDBT_FAULT_COMMIT_DELAY_MS` holds
/// every range between its files becoming durable and its commit, so a test
/// can kill the process exactly there.
fn hold_before_commit() {
    static DELAY: std::sync::LazyLock<Option<Duration>> = std::sync::LazyLock::new(|| {
        std::env::var("RDBT_FAULT_COMMIT_DELAY_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .map(Duration::from_millis)
    });
    if let Some(delay) = *DELAY {
        std::thread::sleep(delay);
    }
}

/// Delivery results of a producer run.
#[derive(Default)]
struct Deliveries {
    failed: std::sync::atomic::AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl ClientContext for Deliveries {
    fn log(&self, _: rdkafka::config::RDKafkaLogLevel, _: &str, _: &str) {}
}

impl rdkafka::producer::ProducerContext for Deliveries {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &rdkafka::message::DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            self.failed.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut first) = self.first_error.lock()
                && first.is_none()
            {
                *first = Some(e.to_string());
            }
        }
    }
}

/// Produces `(key, value)` messages to `topic`; returns how many were
/// delivered. Fails if the brokers cannot be reached or any delivery fails.
pub fn produce(
    brokers: &str,
    topic: &str,
    properties: &BTreeMap<String, String>,
    messages: impl Iterator<Item = (Option<Vec<u8>>, Vec<u8>)>,
) -> Result<u64, IngestError> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        // Large batches: fewer requests for a broker, and librdkafka's mock
        // cluster serves one produced batch per partition per fetch.
        .set("linger.ms", "100")
        .set("batch.num.messages", "10000")
        .set("batch.size", "1000000")
        .set("compression.type", "lz4")
        .set("enable.idempotence", "true");
    for (k, v) in properties {
        config.set(k, v);
    }
    let producer: BaseProducer<Deliveries> = config
        .create_with_context(Deliveries::default())
        .map_err(|e| IngestError::kafka("--brokers", e.to_string()))?;
    producer
        .client()
        .fetch_metadata(Some(topic), BROKER_TIMEOUT)
        .map_err(|e| IngestError::kafka("--brokers", format!("cannot reach `{brokers}` ({e})")))?;
    let mut sent = 0u64;
    for (key, value) in messages {
        let mut record = BaseRecord::to(topic).payload(&value);
        if let Some(k) = &key {
            record = record.key(k);
        }
        let mut record = Some(record);
        while let Some(r) = record.take() {
            match producer.send(r) {
                Ok(()) => {}
                Err((
                    KafkaError::MessageProduction(rdkafka::types::RDKafkaErrorCode::QueueFull),
                    r,
                )) => {
                    producer.poll(Duration::from_millis(50));
                    record = Some(r);
                }
                Err((e, _)) => return Err(IngestError::kafka("--topic", e.to_string())),
            }
        }
        sent += 1;
        if sent.is_multiple_of(10_000) {
            producer.poll(Duration::ZERO);
        }
    }
    producer
        .flush(Duration::from_secs(60))
        .map_err(|e| IngestError::kafka("--brokers", format!("flushing: {e}")))?;
    let failed = producer.context().failed.load(Ordering::Relaxed);
    if failed > 0 {
        let first = producer
            .context()
            .first_error
            .lock()
            .ok()
            .and_then(|e| e.clone())
            .unwrap_or_default();
        return Err(IngestError::kafka(
            "--topic",
            format!("{failed} of {sent} messages were not delivered (first error: {first})"),
        ));
    }
    Ok(sent)
}
