//! The no-change parse. After a clean `rdbt parse`, a stamp records a
//! fingerprint of every input: the project's files (by size and time), the
//! profiles files, the flags, and the environment variables the parse read.
//! When the next `rdbt parse` finds the same stamp, the manifest on disk is
//! already what a parse would write, apart from the invocation id and time,
//! which are refreshed in place.

use super::args::GlobalArgs;
use crate::graph::InvocationFields;
use crate::project::inputs::{InputFingerprint, input_fingerprint, stamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const STAMP_FILE: &str = "parse_stamp.json";

#[derive(Serialize, Deserialize)]
struct Stamp {
    version: String,
    inputs: String,
    flags: String,
    /// Every variable the parse read, with the value it saw.
    env: BTreeMap<String, Option<String>>,
    manifest: InvocationFields,
    /// The "Found N models, ..." line, without its timing.
    summary: String,
    /// The machine's boot: the manifest is not fsynced, so after a restart
    /// what reached the disk may be part old, part new.
    #[serde(default)]
    boot: Option<String>,
}

/// What the parse command needs to remember between its start and its end.
pub struct Check {
    target_dir: PathBuf,
    inputs: Inputs,
    flags: String,
}

/// The inputs' fingerprint, or the thread still taking it: a full parse
/// does not need it until the end, so the directory walk runs beside it.
enum Inputs {
    Taken(Option<InputFingerprint>),
    Taking(std::thread::JoinHandle<Option<InputFingerprint>>),
}

impl Inputs {
    fn get(self) -> Option<InputFingerprint> {
        match self {
            Inputs::Taken(inputs) => inputs,
            Inputs::Taking(thread) => thread.join().ok().flatten(),
        }
    }
}

/// Starts a parse: returns the previous summary if nothing changed (the
/// manifest has been refreshed), else what [`record`] needs afterwards.
pub fn check(g: &GlobalArgs) -> Result<String, Check> {
    // Files changed after this instant make the stamp untrustworthy, even
    // when the fingerprint is taken later, beside the parse.
    let started = std::time::SystemTime::now();
    let dir = g.project_dir_arg();
    let dir = std::path::absolute(&dir).unwrap_or(dir);
    let flags = flags_fingerprint(g, &dir);
    let target_dir = target_dir(&dir);
    // Asked for a full parse, by flag or as settings read it from the environment.
    let no_partial_parse =
        crate::settings::read_env("RDBT_NO_PARTIAL_PARSE").is_some_and(|v| !v.is_empty());
    if g.no_partial_parse || no_partial_parse {
        let taking = std::thread::spawn(move || input_fingerprint(&dir, started));
        return Err(Check {
            target_dir,
            inputs: Inputs::Taking(taking),
            flags,
        });
    }
    let inputs = input_fingerprint(&dir, started);
    let unchanged = inputs.as_ref().and_then(|inputs| {
        let previous = load(&target_dir)?;
        let same = previous.version == env!("CARGO_PKG_VERSION")
            && previous.boot == boot_id()
            && previous.inputs == inputs.hash
            && previous.flags == flags
            && previous
                .env
                .iter()
                .all(|(name, seen)| crate::settings::read_env(name) == *seen);
        same.then_some(previous)
    });
    let check = Check {
        target_dir,
        inputs: Inputs::Taken(inputs),
        flags,
    };
    let Some(previous) = unchanged else {
        return Err(check);
    };
    let invocation_id = crate::invocation_id().to_string();
    let generated_at = chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string();
    match crate::graph::refresh_invocation_fields(
        &check.target_dir,
        &previous.manifest,
        &invocation_id,
        &generated_at,
    ) {
        Ok(true) => {
            let stamp = Stamp {
                manifest: InvocationFields {
                    invocation_id,
                    generated_at,
                    ..previous.manifest
                },
                ..previous
            };
            save(&check.target_dir, &stamp);
            Ok(stamp.summary)
        }
        _ => Err(check),
    }
}

/// Records a finished clean parse so the next one can be skipped.
pub fn record(check: Check, manifest: InvocationFields, summary: String) {
    let Some(inputs) = check.inputs.get() else {
        return;
    };
    // Inputs edited within the timestamp granularity could change again
    // unseen; the next parse runs in full and stamps then.
    if inputs.racy {
        return;
    }
    let env = crate::settings::env_names_read()
        .into_iter()
        .map(|name| {
            let value = std::env::var(&name).ok();
            (name, value)
        })
        .collect();
    save(
        &check.target_dir,
        &Stamp {
            version: env!("CARGO_PKG_VERSION").to_string(),
            inputs: inputs.hash,
            flags: check.flags,
            env,
            manifest,
            summary,
            boot: boot_id(),
        },
    );
}

/// This boot of the machine, where the system tells it (Linux, the one
/// system where the manifest's blocks are overwritten in place).
fn boot_id() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|id| id.trim().to_string())
}

/// Drops the stamp: the manifest is about to be written by something else.
pub fn forget(target_dir: &Path) {
    let _ = std::fs::remove_file(target_dir.join(STAMP_FILE));
}

fn load(target_dir: &Path) -> Option<Stamp> {
    let bytes = std::fs::read(target_dir.join(STAMP_FILE)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn save(target_dir: &Path, stamp: &Stamp) {
    if let Ok(bytes) = serde_json::to_vec(stamp) {
        // A lost stamp only costs the next parse its shortcut.
        let _ = crate::artifacts::write_atomic(&target_dir.join(STAMP_FILE), &bytes);
    }
}

/// The target folder as the project file names it; a wrong guess only
/// means no stamp is found.
fn target_dir(dir: &Path) -> PathBuf {
    let mut diags = crate::diagnostics::Diagnostics::default();
    crate::project::project_file::find_project_file(dir)
        .and_then(|(file, root)| {
            crate::project::ProjectFile::load(&file, &mut diags)
                .ok()
                .map(|f| root.join(f.target_path))
        })
        .unwrap_or_else(|| dir.join("target"))
}

/// Everything outside the project's files that a parse depends on: flags,
/// rdbt's own and dbt's environment variables, and every profiles.yml that
/// could be picked.
fn flags_fingerprint(g: &GlobalArgs, dir: &Path) -> String {
    let mut h = blake3::Hasher::new();
    let flags = format!(
        "{:?}|{:?}|{:?}|{:?}|{:?}|{:?}",
        g.vars, g.target, g.profile, g.profiles_dir, g.threads, dir
    );
    h.update(flags.as_bytes());
    let mut env: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| (k.starts_with("DBT_") || k.starts_with("RDBT_")) && k != "RDBT_TIMINGS")
        .collect();
    env.sort();
    for (k, v) in env {
        h.update(k.as_bytes());
        h.update(v.as_bytes());
    }
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let mut profiles: Vec<PathBuf> = vec![dir.join("profiles.yml")];
    if let Some(d) = &g.profiles_dir {
        profiles.push(d.join("profiles.yml"));
    }
    if let Some(home) = home {
        profiles.push(home.join(".rdbt/profiles.yml"));
        profiles.push(home.join(".dbt/profiles.yml"));
    }
    let mut newest = std::time::SystemTime::UNIX_EPOCH;
    for p in profiles {
        stamp(&mut h, &mut newest, &p);
    }
    h.finalize().to_hex().to_string()
}
