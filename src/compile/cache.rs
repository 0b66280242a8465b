//! Partial parsing: the parse render of each node is cached under a key made
//! of its code, its YAML and folder config, and a fingerprint of everything
//! else a render can see (macros, vars, target, rdbt's version). A re-parse
//! after editing one model renders only that model.

use super::environment::Compiler;
use super::scope::Recorded;
use crate::project::config::Config;
use crate::settings::Settings;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

const CACHE_FILE: &str = "partial_parse.json";

#[derive(Default, Serialize, Deserialize)]
struct CacheFile {
    version: String,
    entries: HashMap<String, Entry>,
}

#[derive(Clone, Serialize, Deserialize)]
struct Entry {
    key: String,
    recorded: Recorded,
    sql: String,
}

/// The cache of one parse; thread-safe for the parallel renders.
#[derive(Default)]
pub struct ParseCache {
    path: Option<PathBuf>,
    entries: Mutex<HashMap<String, Entry>>,
    dirty: Mutex<bool>,
}

impl ParseCache {
    /// No cache: every node renders (`--no-partial-parse`).
    pub fn disabled() -> Self {
        ParseCache::default()
    }

    /// Loads the cache from the target folder; a missing or unreadable cache
    /// is simply empty, never an error.
    pub fn load(target_dir: &Path) -> Self {
        let path = target_dir.join(CACHE_FILE);
        let entries = std::fs::read(&path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<CacheFile>(&bytes).ok())
            .filter(|f| f.version == env!("CARGO_PKG_VERSION"))
            .map(|f| f.entries)
            .unwrap_or_default();
        ParseCache {
            path: Some(path),
            entries: Mutex::new(entries),
            dirty: Mutex::new(false),
        }
    }

    /// What every render can see besides its own node.
    pub fn world_fingerprint(&self, compiler: &Compiler, settings: &Settings) -> String {
        let mut h = blake3::Hasher::new();
        h.update(env!("CARGO_PKG_VERSION").as_bytes());
        for (package, file) in &compiler.macro_files {
            h.update(package.as_bytes());
            h.update(file.template_text.as_bytes());
        }
        h.update(
            serde_json::to_string(&settings.cli_vars)
                .unwrap_or_default()
                .as_bytes(),
        );
        h.update(
            serde_json::to_string(&compiler.world.target)
                .unwrap_or_default()
                .as_bytes(),
        );
        for (pkg, vars) in sorted(&compiler.world.package_vars) {
            h.update(pkg.as_bytes());
            h.update(serde_json::to_string(vars).unwrap_or_default().as_bytes());
        }
        let mut env_names: Vec<(String, String)> = std::env::vars()
            .filter(|(k, _)| k.starts_with("DBT_") || k.starts_with("RDBT_"))
            .collect();
        env_names.sort();
        for (k, v) in env_names {
            h.update(k.as_bytes());
            h.update(v.as_bytes());
        }
        h.finalize().to_hex().to_string()
    }

    pub fn node_key(fingerprint: &str, raw_code: &str, base_config: &Config) -> String {
        let mut h = blake3::Hasher::new();
        h.update(fingerprint.as_bytes());
        h.update(raw_code.as_bytes());
        h.update(
            serde_json::to_string(base_config)
                .unwrap_or_default()
                .as_bytes(),
        );
        h.finalize().to_hex().to_string()
    }

    /// What the cached render recorded. Its SQL is kept in the cache file
    /// for inspection, not read back: the parse needs only the calls.
    pub fn lookup(&self, unique_id: &str, key: &str) -> Option<Recorded> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(unique_id)
            .filter(|e| e.key == key)
            .filter(|e| {
                e.recorded
                    .env_vars
                    .iter()
                    .all(|(name, seen)| std::env::var(name).ok() == *seen)
            })
            .map(|e| e.recorded.clone())
    }

    /// False with `--no-partial-parse`: nothing is kept, so callers need
    /// not copy what they would store.
    pub fn is_enabled(&self) -> bool {
        self.path.is_some()
    }

    pub fn store(&self, unique_id: &str, key: String, recorded: Recorded, sql: String) {
        if self.path.is_none() {
            return;
        }
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(unique_id.to_string(), Entry { key, recorded, sql });
        *self.dirty.lock().unwrap_or_else(|e| e.into_inner()) = true;
    }

    /// Drops entries of nodes that no longer exist.
    pub fn retain(&self, live: &[String]) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.is_empty() {
            return;
        }
        let live: std::collections::HashSet<&String> = live.iter().collect();
        let before = entries.len();
        entries.retain(|k, _| live.contains(k));
        if entries.len() != before {
            *self.dirty.lock().unwrap_or_else(|e| e.into_inner()) = true;
        }
    }

    /// Writes the cache if it changed; failures only cost the next parse time.
    pub fn save(&self) {
        let Some(path) = &self.path else { return };
        if !*self.dirty.lock().unwrap_or_else(|e| e.into_inner()) {
            return;
        }
        let entries = self
            .entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let file = CacheFile {
            version: env!("CARGO_PKG_VERSION").to_string(),
            entries,
        };
        if let Ok(bytes) = serde_json::to_vec(&file) {
            let _ = crate::atomic::write_atomic(path, &bytes);
        }
    }
}

fn sorted<V>(m: &HashMap<String, V>) -> Vec<(&String, &V)> {
    let mut v: Vec<_> = m.iter().collect();
    v.sort_by(|a, b| a.0.cmp(b.0));
    v
}
