//! Artifacts: the files a run leaves for other tools (`manifest.json`, compiled
//! SQL, later `run_results.json` and `catalog.json`), with dbt's field names.
//! Every write is atomic: a reader never sees half a file.

mod catalog;
mod manifest;

pub use crate::atomic::write_atomic;
pub use crate::json::write as write_json;
pub use catalog::{CatalogColumn, CatalogEntry, catalog_json};
pub use manifest::{InvocationFields, manifest_json, refresh_invocation_fields, write_manifest};

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

/// Where the compiled SQL of a node goes: `target/compiled/<package>/<path>`;
/// for a node defined in YAML (a data test, a unit test), a file named
/// after its alias in a folder named after the YAML file, as dbt does.
pub fn compiled_path(target_dir: &Path, node: &crate::compile::ParsedNode) -> std::path::PathBuf {
    let base = target_dir.join("compiled").join(&node.package_name);
    let in_yaml =
        node.original_file_path.ends_with(".yml") || node.original_file_path.ends_with(".yaml");
    if node.test_metadata.is_some() || in_yaml {
        base.join(&node.original_file_path)
            .join(format!("{}.sql", node.alias))
    } else {
        base.join(&node.original_file_path)
    }
}
