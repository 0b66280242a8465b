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
    let table = spec.display_name();
    let (mut reader, hash) = open_input(input, runtime)?;
    let stream = format!("f{}", &hash[..12]);
    let state_name = format!("files/{hash}.json");
    let state: FileProgress =
        runtime
            .block_on(land.read_state(&state_name))?
            .unwrap_or(FileProgress {
                input: input.to_string(),
                next_line: 1,
                complete: false,
                landed: 0,
                quarantined: 0,
            });
    if state.complete {
        let mut stats = Stats::default();
        progress.note(
            &table,
            &format!(
                "{input} was landed before (same content as {}): nothing to do",
                state.input
            ),
        );
        stats.tick(started);
        return Ok(stats);
    }
    let removed = runtime.block_on(land.recover(&stream, state.next_line))?;
    if removed > 0 {
        progress.note(
            &table,
            &format!("removed {removed} file(s) of an interrupted earlier run; landing them again"),
        );
    }
    progress.started(&table, &format!("file {input}"), None);
    // Lines are decoded here while a second thread encodes, writes and
    // commits the previous range, in order: the file's progress never runs
    // ahead of what is durable.
    let (ranges, queue) = std::sync::mpsc::sync_channel::<super::range::RangeRows>(2);
    let resume_at = state.next_line;
    let (table_ref, state_name_ref) = (&table, &state_name);
    let (number, mut state, mut stats) = std::thread::scope(|scope| {
        let writer = scope.spawn(move || -> Result<(FileProgress, Stats), IngestError> {
            let (table, state_name) = (table_ref, state_name_ref);
            let mut state = state;
            let mut stats = Stats::default();
            for rows in queue {
                let last = rows.last;
                let pending = rows.encode(land, "")?;
                runtime.block_on(land.write_range(&pending))?;
                state.next_line = last + 1;
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
            Ok((state, stats))
        });
        let mut range = RangeBuffer::new(spec, &stream, input);
        let mut line = Vec::with_capacity(4096);
        let mut number: i64 = 0;
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
                range.add(
                    Some(text),
                    &Position {
                        partition: 0,
                        offset: number,
                        key: None,
                        timestamp_ms: None,
                    },
                );
                if range.is_full(spec)
                    && let Some(rows) = range.take_rows()?
                    && ranges.send(rows).is_err()
                {
                    // The writer stopped; its error is reported below.
                    return Ok(());
                }
            }
            if let Some(rows) = range.take_rows()? {
                let _ = ranges.send(rows);
            }
            Ok(())
        })();
        drop(ranges);
        let written = writer
            .join()
            .map_err(|_| IngestError::internal("the landing thread panicked"))?;
        read?;
        let (state, stats) = written?;
        Ok::<_, IngestError>((number, state, stats))
    })?;
    state.complete = true;
    state.next_line = number + 1;
    runtime.block_on(land.write_state(&state_name, &state))?;
    stats.tick(started);
    progress.finished(&table, &stats);
    Ok(stats)
}

fn trim_line_end(line: &[u8]) -> &[u8] {
    let mut end = line.len();
    while end > 0 && matches!(line[end - 1], b'\n' | b'\r') {
        end -= 1;
    }
    &line[..end]
}
