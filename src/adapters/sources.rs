//! What commands other than a build ask a warehouse: which source tables it
//! must be able to read, what a query would cost, what its catalog holds.

use crate::artifacts::CatalogEntry;
use crate::store::external::ExternalSpec;
use std::collections::BTreeMap;

/// A source table rdbt makes readable: one on the land (`ingest:`) or over
/// files (`external:`).
#[derive(Debug, Clone)]
pub struct SourceTable {
    /// `source_name.table_name`.
    pub name: String,
    pub schema: String,
    pub identifier: String,
    /// The `external:` block; `None` for a table on the land.
    pub external: Option<ExternalSpec>,
}

/// Where the land is, for warehouses that read or load it.
#[derive(Debug, Clone)]
pub struct LandAccess {
    /// `land` of the target: a folder, `gs://` or `s3://` prefix.
    pub root: String,
    /// The target's `land_options` (object-store settings).
    pub options: BTreeMap<String, String>,
}

/// A dry run's verdict on one query.
#[derive(Debug, Clone, PartialEq)]
pub enum DryRun {
    /// Valid, and would process this many bytes.
    Bytes(u64),
    /// An upstream relation does not exist yet, so it cannot be planned.
    NotPlannable(String),
}

/// A relation the project expects in the catalog.
#[derive(Debug, Clone)]
pub struct CatalogRequest {
    pub unique_id: String,
    pub database: String,
    pub schema: String,
    pub name: String,
    /// Column descriptions from the YAML, for warehouses that store none.
    pub column_descriptions: BTreeMap<String, String>,
}

/// What reading the catalog found: the entries, and one line per relation
/// or schema that could not be read.
#[derive(Debug, Default)]
pub struct Catalog {
    pub entries: Vec<CatalogEntry>,
    pub errors: Vec<String>,
}
