//! `rdbt parse`: read and render the whole project, write the manifest.

use crate::cli::EXIT_OK;
use crate::cli::args::GlobalArgs;
use crate::cli::session::{Failure, Session};
use std::time::Instant;

pub fn run(g: &GlobalArgs) -> Result<u8, Failure> {
    let started = Instant::now();
    let session = Session::open(g)?;
    let parsed = session.parse()?;
    session.write_manifest(&parsed)?;
    let count = |t: crate::project::ResourceType| {
        parsed
            .parsed
            .nodes
            .values()
            .filter(|n| n.resource_type == t)
            .count()
    };
    use crate::project::ResourceType as R;
    session.printer.info(&format!(
        "Found {} models, {} seeds, {} snapshots, {} data tests, {} sources, {} exposures, {} macros in {:.2}s",
        count(R::Model),
        count(R::Seed),
        count(R::Snapshot),
        count(R::Test),
        count(R::Source),
        count(R::Exposure),
        parsed.parsed.macros.len(),
        started.elapsed().as_secs_f64()
    ));
    session.printer.info(&format!(
        "Wrote {}",
        session.project.target_dir().join("manifest.json").display()
    ));
    // The process ends next; freeing the parsed project (hundreds of MB on
    // large projects) would only add time.
    std::mem::forget(parsed);
    std::mem::forget(session);
    Ok(EXIT_OK)
}
