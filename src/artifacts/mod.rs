//! Artifacts: the files a run leaves for other tools (`manifest.json`, compiled
//! SQL, later `run_results.json` and `catalog.json`), with dbt's field names.
//! Every write is atomic: a reader never sees half a file.

mod catalog;
pub mod manifest;
pub mod results;

pub use crate::atomic::write_atomic;
pub use crate::json::write as write_json;
pub use catalog::{CatalogColumn, CatalogEntry, catalog_json};
pub use manifest::ManifestFile;
pub use results::{BatchResults, CatalogFile, FreshnessResults, RunResults};

use crate::diagnostics::{Diagnostic, codes};
use std::path::Path;

/// [`write_atomic`] with a user-facing error.
pub fn write_artifact(path: &Path, bytes: &[u8]) -> Result<(), Diagnostic> {
    write_atomic(path, bytes).map_err(|e| {
        Diagnostic::error(
            codes::ARTIFACT_WRITE,
            format!("cannot write {}: {e}", path.display()),
        )
        .with_help("check that the target folder is writable and the disk is not full")
    })
}
