//! Reading environment variables through one door, so a parse can tell
//! which ones it depended on: the no-change parse check compares exactly
//! those, not the whole (noisy) environment.

use std::collections::BTreeSet;
use std::sync::Mutex;

/// Names read during this process. A process runs one command, so the set
/// is that command's dependencies.
static READ: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// `std::env::var`, remembering that `name` was asked for.
pub fn read_env(name: &str) -> Option<String> {
    READ.lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(name.to_string());
    std::env::var(name).ok()
}

/// Every variable read so far, sorted.
pub fn env_names_read() -> Vec<String> {
    READ.lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .cloned()
        .collect()
}
