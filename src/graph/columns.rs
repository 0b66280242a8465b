//! Column-level selection: `column:model.col+` (its downstream columns),
//! `+column:model.col` (its upstream columns), over the column lineage that
//! static analysis left on each node.

use crate::compile::ParsedProject;
use crate::diagnostics::{Diagnostic, codes};
use crate::sql::analysis::Derivation;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// A parsed `column:` selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnSelector {
    pub node: String,
    pub column: String,
    pub upstream: bool,
    pub downstream: bool,
}

/// One selected column: the node, the column, and how it derives from the
/// selected one (`None` for the selected column itself).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SelectedColumn {
    pub node: String,
    pub column: String,
    pub derivation: Option<Derivation>,
}

/// Whether a selector is a column selector (`column:...`, `+column:...`).
pub fn is_column_selector(s: &str) -> bool {
    s.trim_start_matches('+').starts_with("column:")
}

pub fn parse_column_selector(
    parsed: &ParsedProject,
    text: &str,
) -> Result<ColumnSelector, Diagnostic> {
    let upstream = text.starts_with('+');
    let body = text.trim_start_matches('+');
    let downstream = body.ends_with('+');
    let body = body.trim_start_matches("column:").trim_end_matches('+');
    let Some((model, column)) = body.rsplit_once('.') else {
        return Err(
            Diagnostic::error(codes::BAD_SELECTOR, format!("`{text}` names no column"))
                .with_help("write column:<model>.<column>, e.g. column:fact_order.order_total+"),
        );
    };
    use crate::project::ResourceType as R;
    let node = parsed
        .nodes
        .values()
        .filter(|n| n.name == model)
        .find(|n| {
            matches!(
                n.resource_type,
                R::Model | R::Seed | R::Snapshot | R::Source
            )
        })
        .ok_or_else(|| {
            Diagnostic::error(
                codes::BAD_SELECTOR,
                format!("`{text}`: no model named `{model}`"),
            )
            .with_help("check the model's name with `rdbt ls --resource-type model`")
        })?;
    Ok(ColumnSelector {
        node: node.unique_id.clone(),
        column: column.to_string(),
        upstream,
        downstream,
    })
}

/// A column edge: the other node, its column, and how they relate.
type Edge<'a> = (&'a str, &'a str, Derivation);
type UpEdges<'a> = BTreeMap<(&'a str, &'a str), Vec<(&'a str, String, Derivation)>>;

/// The columns a selector reaches, the selected one first.
pub fn select_columns(parsed: &ParsedProject, selector: &ColumnSelector) -> Vec<SelectedColumn> {
    // (node, column) -> [(node, column, derivation)] in both directions.
    let mut down: BTreeMap<(&str, String), Vec<Edge<'_>>> = BTreeMap::new();
    let mut up: UpEdges<'_> = BTreeMap::new();
    for node in parsed.nodes.values() {
        let Some(inferred) = &node.inferred else {
            continue;
        };
        for (column, sources) in &inferred.lineage {
            for s in sources {
                down.entry((s.node.as_str(), s.column.to_lowercase()))
                    .or_default()
                    .push((&node.unique_id, column, s.derivation));
                up.entry((&node.unique_id, column)).or_default().push((
                    &s.node,
                    s.column.to_lowercase(),
                    s.derivation,
                ));
            }
        }
    }
    let start = SelectedColumn {
        node: selector.node.clone(),
        column: selector.column.clone(),
        derivation: None,
    };
    let mut out = vec![start];
    let mut seen: BTreeSet<(String, String)> = BTreeSet::new();
    seen.insert((selector.node.clone(), selector.column.to_lowercase()));
    if selector.downstream {
        let mut queue = VecDeque::from([(selector.node.clone(), selector.column.to_lowercase())]);
        while let Some((node, column)) = queue.pop_front() {
            for (child, child_column, derivation) in
                down.get(&(node.as_str(), column)).into_iter().flatten()
            {
                let key = (child.to_string(), child_column.to_lowercase());
                if seen.insert(key.clone()) {
                    out.push(SelectedColumn {
                        node: child.to_string(),
                        column: child_column.to_string(),
                        derivation: Some(*derivation),
                    });
                    queue.push_back(key);
                }
            }
        }
    }
    if selector.upstream {
        let mut queue = VecDeque::from([(selector.node.clone(), selector.column.clone())]);
        while let Some((node, column)) = queue.pop_front() {
            for (parent, parent_column, derivation) in up
                .get(&(node.as_str(), column.as_str()))
                .into_iter()
                .flatten()
            {
                let key = (parent.to_string(), parent_column.clone());
                if seen.insert(key.clone()) {
                    out.push(SelectedColumn {
                        node: parent.to_string(),
                        column: parent_column.clone(),
                        derivation: Some(*derivation),
                    });
                    queue.push_back(key);
                }
            }
        }
    }
    out
}
