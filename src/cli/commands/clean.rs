//! `rdbt clean`: delete the project's clean-targets, never anything outside
//! the project folder.

use crate::cli::args::GlobalArgs;
use crate::cli::session::{early_printer, Failure};
use crate::cli::EXIT_OK;
use crate::diagnostics::{codes, Diagnostic};

pub fn run(g: &GlobalArgs) -> Result<u8, Failure> {
    let printer = early_printer(g);
    let dir = g.project_dir.clone().unwrap_or_else(|| ".".into());
    let fail = |d: Diagnostic| {
        printer.diagnostics(&[d]);
        Failure::Reported
    };
    let (file, root) = crate::project::project_file::find_project_file(&dir)
        .ok_or_else(|| fail(Diagnostic::error(codes::PROJECT_NOT_FOUND, format!("no project file in {}", dir.display())).with_help("run rdbt clean from the project's folder")))?;
    let mut diags = crate::diagnostics::Diagnostics::default();
    let pf = crate::project::ProjectFile::load(&file, &mut diags).map_err(fail)?;
    let root = std::path::absolute(&root).unwrap_or(root);
    for t in &pf.clean_targets {
        let path = std::path::absolute(root.join(t)).unwrap_or_else(|_| root.join(t));
        let normalized: std::path::PathBuf = path.components().collect();
        if !normalized.starts_with(&root) || normalized == root {
            return Err(fail(Diagnostic::error(codes::USAGE, format!("clean-target `{t}` is outside the project folder; refusing to delete it")).with_help("list only folders inside the project under clean-targets")));
        }
        if normalized.exists() {
            std::fs::remove_dir_all(&normalized).map_err(|e| fail(Diagnostic::error(codes::USAGE, format!("cannot delete {}: {e}", normalized.display()))))?;
            printer.info(&format!("Cleaned {t}/"));
        }
    }
    Ok(EXIT_OK)
}
