//! A whole selection: a named YAML selector or `--select` terms, the tests
//! they pull in (indirect selection), `--exclude`, and `--resource-type`.

use super::Dag;
use super::selector::{IndirectSelection, Selection, SelectionInput, union_of};
use crate::compile::ParsedProject;
use crate::diagnostics::Diagnostic;
use crate::project::ResourceType;

/// Resolves a full selection to node ids, sorted.
pub fn select(
    parsed: &ParsedProject,
    dag: &Dag,
    input: &SelectionInput,
) -> Result<Selection, Diagnostic> {
    let all: Selection = parsed.nodes.keys().cloned().collect();
    let mut selected = if let Some(name) = input.selector {
        super::selectors_file::evaluate_named(name, parsed, dag, input)?
    } else if input.select.is_empty() {
        match super::selectors_file::default_selector(input.selectors_file) {
            Some(name) => super::selectors_file::evaluate_named(&name, parsed, dag, input)?,
            None => all.clone(),
        }
    } else {
        union_of(input.select, parsed, dag, input.state)?
    };
    let explicitly = selected.clone();
    if input.indirect != IndirectSelection::Empty {
        for node in parsed
            .nodes
            .values()
            .filter(|n| matches!(n.resource_type, ResourceType::Test | ResourceType::UnitTest))
        {
            if selected.contains(&node.unique_id) {
                continue;
            }
            // A unit test belongs to its model alone (as in dbt): its given
            // inputs are mocked, not read.
            // (Its fqn is package, model, name.)
            let parents: Vec<&String> = match (&node.resource_type, node.fqn.get(1)) {
                (ResourceType::UnitTest, Some(model)) => node
                    .depends_on
                    .iter()
                    .filter(|d| d.starts_with("model.") && d.ends_with(&format!(".{model}")))
                    .collect(),
                _ => node.depends_on.iter().collect(),
            };
            let hit = match input.indirect {
                IndirectSelection::Eager => parents.iter().any(|p| explicitly.contains(*p)),
                IndirectSelection::Cautious => {
                    !parents.is_empty() && parents.iter().all(|p| explicitly.contains(*p))
                }
                IndirectSelection::Empty => false,
            };
            if hit {
                selected.insert(node.unique_id.clone());
            }
        }
    }
    if !input.exclude.is_empty() {
        let mut excluded = union_of(input.exclude, parsed, dag, input.state)?;
        // As dbt: excluding a node also excludes the tests that read it
        // (indirect selection applies to --exclude too), unless it is
        // `empty`.
        if input.indirect != IndirectSelection::Empty {
            let tests_of_excluded: Vec<String> = parsed
                .nodes
                .values()
                .filter(|n| matches!(n.resource_type, ResourceType::Test | ResourceType::UnitTest))
                .filter(|n| n.depends_on.iter().any(|p| excluded.contains(p)))
                .map(|n| n.unique_id.clone())
                .collect();
            excluded.extend(tests_of_excluded);
        }
        selected.retain(|id| !excluded.contains(id));
    }
    if !input.resource_types.is_empty() {
        selected.retain(|id| {
            parsed
                .nodes
                .get(id)
                .is_some_and(|n| input.resource_types.contains(&n.resource_type))
        });
    }
    Ok(selected)
}
