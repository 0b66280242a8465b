//! External sources for the commands that read the warehouse: each source
//! table's `external:` block read and checked (an error points at the YAML),
//! then declared to the embedded warehouse, which reads the files in place.

use crate::adapters::datafusion::Warehouse;
use crate::adapters::datafusion::external::ExternalSource;
use crate::compile::{ParsedNode, ParsedProject};
use crate::diagnostics::{Diagnostic, codes};
use crate::settings::Settings;
use crate::store::external::ExternalSpec;

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

/// Declares the project's external sources to the warehouse.
pub async fn register(
    warehouse: &Warehouse,
    settings: &Settings,
    parsed: &ParsedProject,
) -> Result<(), Diagnostic> {
    let sources = external_sources(settings, parsed)?
        .into_iter()
        .map(|(node, spec)| {
            let name = format!(
                "{}.{}",
                node.source.as_ref().map_or("", |s| s.source_name.as_str()),
                node.name
            );
            (
                node.schema.clone(),
                node.alias.clone(),
                ExternalSource { name, spec },
            )
        })
        .collect();
    warehouse
        .register_externals(sources, super::connect::land_options(&settings.target))
        .await
        .map_err(|e| Diagnostic::internal(e.to_string()))
}
