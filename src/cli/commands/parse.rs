//! `rdbt parse`: read and render the whole project, write the manifest.
//! An unchanged project (see `cli::unchanged`) only refreshes the manifest.

use crate::cli::EXIT_OK;
use crate::cli::args::GlobalArgs;
use crate::cli::session::{Failure, Session, phase, resolve_settings};
use crate::cli::unchanged;
use std::time::Instant;

pub fn run(g: &GlobalArgs) -> Result<u8, Failure> {
    let started = Instant::now();
    let check = match unchanged::check(g) {
        Ok(summary) => {
            phase("unchanged check", started);
            return report_unchanged(g, &summary, started);
        }
        Err(check) => check,
    };
    phase("unchanged check", started);
    let session = Session::open(g)?;
    let parsed = session.parse()?;
    // `external:` blocks are read by the commands that open the warehouse;
    // parse reports their mistakes too, as it does every other problem.
    super::sources::external_sources(&session.settings, &parsed.parsed)
        .map_err(|d| session.fail(d))?;
    let fields = session.write_manifest(&parsed)?;
    let summary = format!("Found {}", crate::cli::session::found_stats(&parsed.parsed));
    session.printer.info(&format!(
        "{summary} in {:.2}s",
        started.elapsed().as_secs_f64()
    ));
    session.printer.info(&format!(
        "Wrote {}",
        session.project.target_dir().join("manifest.json").display()
    ));
    if parsed.quiet_parse {
        unchanged::record(check, fields, summary);
    }
    // The process ends next; freeing the parsed project (hundreds of MB on
    // large projects) would only add time.
    std::mem::forget(parsed);
    std::mem::forget(session);
    Ok(EXIT_OK)
}

/// Prints what a full parse would, for a project that did not change.
fn report_unchanged(g: &GlobalArgs, summary: &str, started: Instant) -> Result<u8, Failure> {
    let dir = g.project_dir_arg();
    let dir = std::path::absolute(&dir).unwrap_or(dir);
    let mut diags = crate::diagnostics::Diagnostics::default();
    let Some((file, root)) = crate::project::project_file::find_project_file(&dir) else {
        return Err(Failure::Reported);
    };
    let project_file =
        crate::project::ProjectFile::load(&file, &mut diags).map_err(|_| Failure::Reported)?;
    let (_, printer, _) = resolve_settings(g, &root, &project_file)?;
    printer.info(&format!(
        "{summary} in {:.2}s (nothing changed since the last parse)",
        started.elapsed().as_secs_f64()
    ));
    printer.info(&format!(
        "Wrote {}",
        root.join(&project_file.target_path)
            .join("manifest.json")
            .display()
    ));
    Ok(EXIT_OK)
}
