//! `rdbt ingest --from-file`: a newline-delimited JSON file (local, or an
//! object-store URL) through the same validation and landing as a topic.
//! The file is its own stream: partition 0, offsets are line numbers, and
//! its token in file names is `f` + the first 12 hex digits of its content
//! hash. Progress is recorded in the land after every range, so a re-run
//! resumes where a crash stopped and landing the same file again (under any
//! name) lands nothing twice.

use super::batch::Position;
use super::config::TableSpec;
use super::landing::TableLand;
use super::range::RangeBuffer;
use super::{IngestError, Progress, Stats};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, Read};
use std::time::Instant;

#[derive(Debug, Serialize, Deserialize)]
struct FileProgress {
    input: String,
    /// The first line not yet committed (1-based).
    next_line: i64,
    complete: bool,
    landed: u64,
    quarantined: u64,
}

/// The input's bytes as a reader, and its content hash.
fn open_input(
    input: &str,
    runtime: &tokio::runtime::Handle,
) -> Result<(Box<dyn BufRead>, String), IngestError> {
    let input_err = |message: String| IngestError::Input {
        path: input.to_string(),
        message,
    };
    if input.contains("://") && !input.starts_with("file://") {
        let (root, name) = input
            .rsplit_once('/')
            .ok_or_else(|| input_err("not a file URL".into()))?;
        let store = crate::store::Land::open(root, &Default::default())
            .map_err(|e| input_err(e.to_string()))?;
        let bytes = runtime
            .block_on(store.get(name))
            .map_err(|e| input_err(e.to_string()))?
            .ok_or_else(|| input_err("no such object".into()))?;
        let hash = blake3::hash(&bytes).to_hex().to_string();
        return Ok((Box::new(std::io::Cursor::new(bytes)), hash));
    }
    let path = input.strip_prefix("file://").unwrap_or(input);
    let mut hasher = blake3::Hasher::new();
    let mut file = std::fs::File::open(path).map_err(|e| input_err(e.to_string()))?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| input_err(e.to_string()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    let file = std::fs::File::open(path).map_err(|e| input_err(e.to_string()))?;
    Ok((
        Box::new(std::io::BufReader::with_capacity(1 << 20, file)),
        hasher.finalize().to_hex().to_string(),
    ))
}

/// Lands every line of `input` into `spec`'s table.
pub fn land_file(
    spec: &TableSpec,
    land: &TableLand,
    input: &str,
    runtime: &tokio::runtime::Handle,
    progress: &dyn Progress,
) -> Result<Stats, IngestError> {
    let started = Instant::now();
    let spec = &spec.for_file();
    let table = spec.display_name();
    let (mut reader, hash) = open_input(input, runtime)?;
    let stream = format!("f{}", &hash[..12]);
    let state_name = format!("files/{hash}.json");
    let Some(state) = resume(land, input, runtime, progress, &table, &stream, &state_name)? else {
        let mut stats = Stats::default();
        stats.tick(started);
        return Ok(stats);
    };
    progress.started(&table, &format!("file {input}"), None);
    // Three stages: this thread cuts the file into ranges of lines; a few
    // workers decode, validate and encode ranges side by side (decoding is
    // most of the work); one writer lands them strictly in file order, so
    // the file's progress never runs ahead of what is durable.
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(1, MAX_DECODE_WORKERS);
    let (blocks, block_queue) = std::sync::mpsc::sync_channel::<Block>(workers);
    // Shared by the workers alone: when they have all stopped (the writer
    // failed), the reader's next send fails instead of waiting forever.
    let block_queue = std::sync::Arc::new(std::sync::Mutex::new(block_queue));
    let (encoded, encoded_queue) =
        std::sync::mpsc::sync_channel::<Result<Encoded, IngestError>>(workers);
    let resume_at = state.next_line;
    let (table_ref, state_name_ref) = (&table, &state_name);
    let (number, mut state, mut stats) = std::thread::scope(|scope| {
        for _ in 0..workers {
            let encoded = encoded.clone();
            let block_queue = block_queue.clone();
            scope.spawn(move || {
                loop {
                    let block = match block_queue.lock() {
                        Ok(queue) => queue.recv(),
                        Err(_) => return,
                    };
                    let Ok(block) = block else { return };
                    let result = block.encode(spec, land, input);
                    if encoded.send(result).is_err() {
                        return;
                    }
                }
            });
        }
        drop((encoded, block_queue));
        let writer = scope.spawn(move || -> Result<(FileProgress, Stats, u64), IngestError> {
            let (table, state_name) = (table_ref, state_name_ref);
            let mut state = state;
            let mut stats = Stats::default();
            // Ranges finish out of order; each waits here for its turn.
            let mut waiting = std::collections::BTreeMap::new();
            let mut next = 0u64;
            for result in encoded_queue {
                let range = result?;
                waiting.insert(range.sequence, range);
                while let Some(range) = waiting.remove(&next) {
                    next += 1;
                    let Some(pending) = range.pending else {
                        continue;
                    };
                    runtime.block_on(land.write_range(&pending))?;
                    state.next_line = range.last_line + 1;
                    state.landed += pending.landed as u64;
                    state.quarantined += pending.quarantined as u64;
                    runtime.block_on(land.write_state(state_name, &state))?;
                    runtime.block_on(land.finish_range(&pending.stream))?;
                    stats.add_batch(
                        pending.landed,
                        pending.quarantined,
                        pending.files.len(),
                        pending.bytes(),
                    );
                    stats.tick(started);
                    progress.batch(table, &stats);
                }
            }
            Ok((state, stats, next))
        });
        let mut block = Block::new(0, &stream);
        let mut line = Vec::with_capacity(4096);
        let mut number: i64 = 0;
        let mut sent = 0u64;
        let read = (|| -> Result<(), IngestError> {
            loop {
                line.clear();
                let n = reader
                    .read_until(b'\n', &mut line)
                    .map_err(|e| IngestError::Input {
                        path: input.to_string(),
                        message: e.to_string(),
                    })?;
                if n == 0 {
                    break;
                }
                number += 1;
                if number < resume_at {
                    continue;
                }
                let text = trim_line_end(&line);
                // A blank line holds no message (a trailing newline, a separator).
                if text.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                block.push(number, text);
                if block.is_full(spec) {
                    let sequence = block.sequence + 1;
                    let full = std::mem::replace(&mut block, Block::new(sequence, &stream));
                    if blocks.send(full).is_err() {
                        // The workers or the writer stopped; the error is reported below.
                        return Ok(());
                    }
                    sent += 1;
                }
            }
            if !block.lines.is_empty() && blocks.send(block).is_ok() {
                sent += 1;
            }
            Ok(())
        })();
        drop(blocks);
        let written = writer
            .join()
            .map_err(|_| IngestError::internal("the landing thread panicked"))?;
        read?;
        let (state, stats, landed_ranges) = written?;
        // Never mark the file complete with a range missing.
        if landed_ranges != sent {
            return Err(IngestError::internal(format!(
                "{} of {sent} ranges were landed: a decoding thread stopped",
                landed_ranges
            )));
        }
        Ok::<_, IngestError>((number, state, stats))
    })?;
    state.complete = true;
    state.next_line = number + 1;
    runtime.block_on(land.write_state(&state_name, &state))?;
    stats.tick(started);
    progress.finished(&table, &stats);
    Ok(stats)
}

/// Where landing `input` resumes: `None` when the same content was landed
/// before (said as a note); else its progress, after removing the files an
/// interrupted earlier run left.
fn resume(
    land: &TableLand,
    input: &str,
    runtime: &tokio::runtime::Handle,
    progress: &dyn Progress,
    table: &str,
    stream: &str,
    state_name: &str,
) -> Result<Option<FileProgress>, IngestError> {
    let state: FileProgress =
        runtime
            .block_on(land.read_state(state_name))?
            .unwrap_or(FileProgress {
                input: input.to_string(),
                next_line: 1,
                complete: false,
                landed: 0,
                quarantined: 0,
            });
    if state.complete {
        progress.note(
            table,
            &format!(
                "{input} was landed before (same content as {}): nothing to do",
                state.input
            ),
        );
        return Ok(None);
    }
    let removed = runtime.block_on(land.recover(stream, state.next_line))?;
    if removed > 0 {
        progress.note(
            table,
            &format!("removed {removed} file(s) of an interrupted earlier run; landing them again"),
        );
    }
    Ok(Some(state))
}

/// Decoding threads at most: beyond a few, the single reader and the
/// ordered writer are the limit.
const MAX_DECODE_WORKERS: usize = 4;

/// One range of the file's lines, cut by the reader for a worker.
struct Block {
    /// The range's place in the file: the writer lands ranges in this order.
    sequence: u64,
    stream: String,
    text: Vec<u8>,
    /// (line number, end of the line in `text`); each starts where the last ended.
    lines: Vec<(i64, usize)>,
}

/// A range decoded and encoded by a worker, waiting for its turn to land.
struct Encoded {
    sequence: u64,
    last_line: i64,
    pending: Option<super::landing::PendingRange>,
}

impl Block {
    fn new(sequence: u64, stream: &str) -> Block {
        Block {
            sequence,
            stream: stream.to_string(),
            text: Vec::new(),
            lines: Vec::new(),
        }
    }

    fn push(&mut self, number: i64, line: &[u8]) {
        self.text.extend_from_slice(line);
        self.lines.push((number, self.text.len()));
    }

    /// The same rule as a stream's ranges: `batch_size` messages or
    /// `max_batch_bytes` of payload.
    fn is_full(&self, spec: &TableSpec) -> bool {
        self.lines.len() >= spec.batch_size || self.text.len() >= spec.max_batch_bytes
    }

    fn encode(
        self,
        spec: &TableSpec,
        land: &TableLand,
        input: &str,
    ) -> Result<Encoded, IngestError> {
        let mut range = RangeBuffer::new(spec, &self.stream, input);
        let mut start = 0;
        for &(number, end) in &self.lines {
            range.add(
                Some(&self.text[start..end]),
                &Position {
                    partition: 0,
                    offset: number,
                    key: None,
                    timestamp_ms: None,
                },
            );
            start = end;
        }
        let pending = match range.take_rows()? {
            Some(rows) => Some(rows.encode(land, "")?),
            None => None,
        };
        Ok(Encoded {
            sequence: self.sequence,
            last_line: self.lines.last().map_or(0, |&(number, _)| number),
            pending,
        })
    }
}

fn trim_line_end(line: &[u8]) -> &[u8] {
    let mut end = line.len();
    while end > 0 && matches!(line[end - 1], b'\n' | b'\r') {
        end -= 1;
    }
    &line[..end]
}
