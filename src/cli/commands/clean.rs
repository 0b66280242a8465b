//! `rdbt clean`: delete the project's clean-targets, never anything outside
//! the project folder.

use crate::cli::EXIT_OK;
use crate::cli::args::GlobalArgs;
use crate::cli::session::{Failure, early_printer};
use crate::diagnostics::{Diagnostic, codes};
use std::path::{Component, Path, PathBuf};

pub fn run(g: &GlobalArgs) -> Result<u8, Failure> {
    let printer = early_printer(g);
    let dir = g.project_dir.clone().unwrap_or_else(|| ".".into());
    let dir = std::path::absolute(&dir).unwrap_or(dir);
    let fail = |d: Diagnostic| {
        printer.diagnostics(&[d]);
        Failure::Reported
    };
    let (file, root) = crate::project::project_file::find_project_file(&dir).ok_or_else(|| {
        fail(
            Diagnostic::error(
                codes::PROJECT_NOT_FOUND,
                format!("no project file in {}", dir.display()),
            )
            .with_help("run rdbt clean from the project's folder"),
        )
    })?;
    let mut diags = crate::diagnostics::Diagnostics::default();
    let pf = crate::project::ProjectFile::load(&file, &mut diags).map_err(fail)?;
    let root = lexical_normalize(&std::path::absolute(&root).unwrap_or(root));
    let canonical_root = root.canonicalize().unwrap_or_else(|_| root.clone());
    for t in &pf.clean_targets {
        let normalized = lexical_normalize(&root.join(t));
        // A symlink inside the project may still point outside it.
        let real = normalized
            .canonicalize()
            .unwrap_or_else(|_| normalized.clone());
        let inside = normalized.starts_with(&root)
            && normalized != root
            && (!normalized.exists()
                || (real.starts_with(&canonical_root) && real != canonical_root));
        if !inside {
            return Err(fail(
                Diagnostic::error(
                    codes::USAGE,
                    format!(
                        "clean-target `{t}` is outside the project folder; refusing to delete it"
                    ),
                )
                .with_help("list only folders inside the project under clean-targets"),
            ));
        }
        if normalized.exists() {
            std::fs::remove_dir_all(&normalized).map_err(|e| {
                fail(Diagnostic::error(
                    codes::USAGE,
                    format!("cannot delete {}: {e}", normalized.display()),
                ))
            })?;
            printer.info(&format!("Cleaned {t}/"));
        }
    }
    Ok(EXIT_OK)
}

/// Resolves `.` and `..` without touching the file system, so `target/..`
/// is seen as the project folder itself.
fn lexical_normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_components_are_resolved() {
        assert_eq!(
            lexical_normalize(Path::new("/a/b/../c/./d")),
            PathBuf::from("/a/c/d")
        );
        assert_eq!(lexical_normalize(Path::new("/a/b/..")), PathBuf::from("/a"));
    }
}
