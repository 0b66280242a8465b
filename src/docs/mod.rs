//! The docs site (ARCHITECTURE.md: docs/): a static site made from the
//! artifacts alone (manifest, catalog, run results, source freshness and
//! dashboard data), and a small server for it.

pub mod charts;
mod server;
mod site;

pub use server::{Server, serve};
pub use site::{Artifacts, SiteSummary, write_site};

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum DocsError {
    #[error("cannot read {}: {message}", path.display())]
    Artifact { path: PathBuf, message: String },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: String,
        source: std::io::Error,
    },
}

impl DocsError {
    pub fn help(&self) -> &'static str {
        match self {
            DocsError::Artifact { .. } => {
                "run `rdbt docs generate` first; it writes the artifacts the site is made of"
            }
            DocsError::Write { .. } => {
                "check that the target folder is writable and the disk is not full"
            }
            DocsError::Bind { .. } => {
                "pick another port with --port, or stop what is using this one"
            }
        }
    }
}
