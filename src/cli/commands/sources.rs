//! The project's source tables that rdbt makes readable: those on the land
//! (`ingest:`) and those over files (`external:`, each block read and
//! checked, an error pointing at the YAML), handed to the warehouse to
//! declare (read in place) or stage (BigQuery).

use crate::adapters::{LandAccess, SourceTable};
use crate::compile::node_config::Materialization;
use crate::compile::{ParsedNode, ParsedProject};
use crate::diagnostics::{Diagnostic, codes};
use crate::project::ResourceType;
use crate::settings::Settings;
use crate::store::external::ExternalSpec;
use std::collections::BTreeSet;

fn landed(node: &ParsedNode) -> bool {
    node.resource_type == ResourceType::Source
        && node
            .source
            .as_ref()
            .is_some_and(|s| s.ingest.is_some() || s.external.is_some())
}

/// Every source with an `external:` block, read and checked.
pub fn external_sources<'p>(
    settings: &Settings,
    parsed: &'p ParsedProject,
) -> Result<Vec<(&'p ParsedNode, ExternalSpec)>, Diagnostic> {
    let mut out = Vec::new();
    for node in parsed.nodes.values() {
        let Some(info) = &node.source else { continue };
        let Some(block) = &info.external else {
            continue;
        };
        let columns = node
            .columns
            .values()
            .map(|c| (c.name.clone(), c.data_type.clone()))
            .collect();
        let spec = ExternalSpec::parse(block, columns, &settings.project_dir).map_err(|message| {
            let name = format!("{}.{}", info.source_name, node.name);
            Diagnostic::error(codes::YAML_INVALID, format!("source `{name}`: {message}"))
                .at_file_line(&node.abs_path, external_line(node), 1)
                .with_help("an external source is {location, format: parquet|csv|ndjson, hive or partitions, options}")
        })?;
        out.push((&**node, spec));
    }
    Ok(out)
}

/// The line of the `external:` key under this table, found in its file.
fn external_line(node: &ParsedNode) -> usize {
    let lines: Vec<&str> = node.file_text.lines().collect();
    let named = lines.iter().position(|l| {
        let t = l.trim_start().trim_start_matches("- ").trim();
        t == format!("name: {}", node.name)
            || t == format!("name: '{}'", node.name)
            || t == format!("name: \"{}\"", node.name)
    });
    let start = named.unwrap_or(0);
    lines
        .iter()
        .enumerate()
        .skip(start)
        .find(|(_, l)| l.trim_start().starts_with("external:"))
        .map_or(start + 1, |(i, _)| i + 1)
}

/// Sources with an `ingest:` block that the selected nodes read, directly or
/// through ephemeral models.
pub fn sources_read_by(parsed: &ParsedProject, ids: &BTreeSet<String>) -> Vec<String> {
    let mut found = BTreeSet::new();
    let mut seen = BTreeSet::new();
    let mut todo: Vec<&String> = ids.iter().collect();
    while let Some(id) = todo.pop() {
        let Some(node) = parsed.nodes.get(id) else {
            continue;
        };
        for parent in &node.depends_on {
            let Some(p) = parsed.nodes.get(parent) else {
                continue;
            };
            if landed(p) {
                found.insert(parent.clone());
            } else if p.resource_type == ResourceType::Model
                && *p.materialized() == Materialization::Ephemeral
                && seen.insert(parent.clone())
            {
                todo.push(parent);
            }
        }
    }
    found.into_iter().collect()
}

/// Every source with an `ingest:` or `external:` block (for `run-operation stage_external_sources`).
pub fn all_landed_sources(parsed: &ParsedProject) -> Vec<String> {
    parsed
        .nodes
        .values()
        .filter(|n| landed(n))
        .map(|n| n.unique_id.clone())
        .collect()
}

/// The given source nodes (every landed or external one when `None`) as
/// the warehouse sees them.
pub fn source_tables(
    settings: &Settings,
    parsed: &ParsedProject,
    ids: Option<&[String]>,
) -> Result<Vec<SourceTable>, Diagnostic> {
    let externals = external_sources(settings, parsed)?;
    let wanted: Vec<String> = match ids {
        Some(ids) => ids.to_vec(),
        None => all_landed_sources(parsed),
    };
    Ok(wanted
        .iter()
        .filter_map(|id| parsed.nodes.get(id))
        .map(|node| SourceTable {
            name: format!(
                "{}.{}",
                node.source.as_ref().map_or("", |s| s.source_name.as_str()),
                node.name
            ),
            schema: node.schema.clone(),
            identifier: node.alias.clone(),
            external: externals
                .iter()
                .find(|(n, _)| n.unique_id == node.unique_id)
                .map(|(_, spec)| spec.clone()),
        })
        .collect())
}

/// The target's land, for the warehouse.
pub fn land(settings: &Settings) -> LandAccess {
    LandAccess {
        root: settings.target.land.clone(),
        options: settings.target.land_options(),
    }
}
