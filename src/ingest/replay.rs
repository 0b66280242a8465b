//! `rdbt ingest --replay-quarantine`: re-validates a table's quarantined
//! messages against the current schema (after a fix) and lands those that
//! now pass, exactly once.
//!
//! A quarantine file `part-S-A-B.parquet` has generation 0; a replay that
//! lands some of its messages writes them as `part-S-A-B-r1.parquet` in
//! their hour folders, then the still-bad rest as `part-S-A-B.r1.parquet`,
//! then deletes generation 0. A crash between steps leaves either the old
//! generation (the replay is redone and overwrites the same `-r1` names) or
//! both (the newer wins and the older is deleted): never a message twice.

use super::batch::Position;
use super::batch::decode_parquet;
use super::config::TableSpec;
use super::landing::TableLand;
use super::quarantine::read_messages;
use super::range::RangeBuffer;
use super::{IngestError, Progress, Stats};
use std::collections::BTreeMap;
use std::time::Instant;

/// `part-S-A-B.parquet` or `part-S-A-B.rG.parquet` → (`part-S-A-B`, G).
fn generation(file_name: &str) -> Option<(&str, u32)> {
    let stem = file_name.strip_suffix(".parquet")?;
    if !stem.starts_with("part-") {
        return None;
    }
    match stem.rsplit_once(".r") {
        Some((base, g)) => Some((base, g.parse().ok()?)),
        None => Some((stem, 0)),
    }
}

/// `part-S-A-B` → `S` (streams never contain `-`).
fn stream_of(base: &str) -> Option<&str> {
    base.strip_prefix("part-")?.split('-').next()
}

pub fn replay_quarantine(
    spec: &TableSpec,
    land: &TableLand,
    runtime: &tokio::runtime::Handle,
    progress: &dyn Progress,
) -> Result<Stats, IngestError> {
    let started = Instant::now();
    let table = spec.display_name();
    let objects = runtime.block_on(land.land.list(&land.quarantine_dir()))?;
    // base name → (generation, path), newest generation kept.
    let mut latest: BTreeMap<String, (u32, String)> = BTreeMap::new();
    let mut stale = Vec::new();
    for object in objects {
        let name = object
            .path
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string();
        let Some((base, generation)) = generation(&name) else {
            continue;
        };
        match latest.get(base) {
            Some((g, _)) if *g >= generation => stale.push(object.path),
            _ => {
                if let Some((_, older)) = latest.insert(base.to_string(), (generation, object.path))
                {
                    stale.push(older);
                }
            }
        }
    }
    for path in stale {
        runtime.block_on(land.land.delete(&path))?;
    }
    let mut stats = Stats::default();
    progress.started(&table, "the quarantine", None);
    let mut still_bad = 0u64;
    for (base, (generation, path)) in latest {
        let Some(stream) = stream_of(&base) else {
            continue;
        };
        if runtime.block_on(land.in_flight(stream))? {
            progress.note(
                &table,
                &format!("{base} belongs to a range whose ingest did not finish; run `rdbt ingest` first, it will be replayed next time"),
            );
            continue;
        }
        let Some(bytes) = runtime.block_on(land.land.get(&path))? else {
            continue;
        };
        let messages = read_messages(&decode_parquet(bytes)?)?;
        let Some(first) = messages.first() else {
            continue;
        };
        let mut range = RangeBuffer::new(spec, stream, &first.stream);
        for m in &messages {
            let at = Position {
                partition: m.partition,
                offset: m.offset,
                key: m.key.as_deref(),
                timestamp_ms: m.timestamp_ms,
            };
            range.add(Some(&m.raw), &at);
        }
        // Split what passed from what did not: the range's own quarantine
        // batch holds the failures with their new reasons.
        let next = generation + 1;
        let Some(mut pending) = range.take(land, &format!("-r{next}"))? else {
            continue;
        };
        if pending.landed == 0 {
            still_bad += pending.quarantined as u64;
            continue;
        }
        let quarantine_file = pending
            .files
            .iter()
            .position(|(p, _)| p.starts_with(&land.quarantine_dir()));
        let failures = quarantine_file.map(|i| pending.files.remove(i));
        // Land the passing messages under names derived from the quarantine
        // file, so a redo overwrites them.
        let writes = pending
            .files
            .iter()
            .map(|(p, b)| land.land.put(p, b.clone()));
        for r in runtime.block_on(futures::future::join_all(writes)) {
            r?;
        }
        if let Some((_, bytes)) = failures {
            let renamed = format!("{}/{base}.r{next}.parquet", land.quarantine_dir());
            runtime.block_on(land.land.put(&renamed, bytes))?;
        }
        runtime.block_on(land.land.delete(&path))?;
        still_bad += pending.quarantined as u64;
        stats.add_batch(pending.landed, 0, pending.files.len(), pending.bytes());
        stats.tick(started);
        progress.batch(&table, &stats);
    }
    stats.quarantined = still_bad;
    stats.tick(started);
    progress.finished(&table, &stats);
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generations_are_read_from_names() {
        assert_eq!(
            generation("part-3-0-999.parquet"),
            Some(("part-3-0-999", 0))
        );
        assert_eq!(
            generation("part-3-0-999.r2.parquet"),
            Some(("part-3-0-999", 2))
        );
        assert_eq!(
            generation("part-fabc-1-10.parquet"),
            Some(("part-fabc-1-10", 0))
        );
        assert_eq!(generation(".write-check"), None);
        assert_eq!(stream_of("part-fabc-1-10"), Some("fabc"));
    }
}
