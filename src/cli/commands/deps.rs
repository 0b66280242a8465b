//! `rdbt deps`: install the packages of packages.yml.

use crate::cli::EXIT_OK;
use crate::cli::args::GlobalArgs;
use crate::cli::session::{Failure, early_printer};
use crate::project::packages;

pub fn run(g: &GlobalArgs) -> Result<u8, Failure> {
    let printer = early_printer(g);
    let dir = g.project_dir.clone().unwrap_or_else(|| ".".into());
    let dir = std::path::absolute(&dir).unwrap_or(dir);
    let Some((file, root)) = crate::project::project_file::find_project_file(&dir) else {
        let d = crate::diagnostics::Diagnostic::error(
            crate::diagnostics::codes::PROJECT_NOT_FOUND,
            format!("no project file in {}", dir.display()),
        )
        .with_help("run rdbt deps from the project's folder or pass --project-dir");
        printer.diagnostics(&[d]);
        return Err(Failure::Reported);
    };
    let mut diags = crate::diagnostics::Diagnostics::default();
    let project_file = crate::project::ProjectFile::load(&file, &mut diags).map_err(|d| {
        printer.diagnostics(&[d]);
        Failure::Reported
    })?;
    let install_dir = root.join(&project_file.packages_install_path);
    match packages::install(&root, &install_dir) {
        Ok(names) if names.is_empty() => {
            printer.info("No packages to install (no packages.yml or dependencies.yml).")
        }
        Ok(names) => {
            for n in &names {
                printer.info(&format!(
                    "Installed package {n} into {}",
                    install_dir.join(n).display()
                ));
            }
        }
        Err(d) => {
            printer.diagnostics(&d.into_sorted());
            return Err(Failure::Reported);
        }
    }
    Ok(EXIT_OK)
}
