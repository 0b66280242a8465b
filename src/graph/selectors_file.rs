//! YAML selectors (`selectors.yml`): named definitions built from `union`,
//! `intersection`, `exclude`, method/value pairs and the CLI string syntax.

use super::Dag;
use super::selector::{Selection, SelectionInput, select_with, union_of};
use crate::compile::ParsedProject;
use crate::diagnostics::{Diagnostic, closest_names, codes, did_you_mean};
use crate::yaml::{Node, SourceFile, Value};
use std::sync::Arc;

fn selector_list(file: Option<&(Arc<SourceFile>, Node)>) -> Vec<&Node> {
    file.and_then(|(_, root)| root.get("selectors"))
        .and_then(Node::items)
        .map(|items| items.iter().collect())
        .unwrap_or_default()
}

/// The selector marked `default: true`, if any.
pub fn default_selector(file: Option<&(Arc<SourceFile>, Node)>) -> Option<String> {
    selector_list(file)
        .into_iter()
        .find(|s| matches!(s.get("default").map(|d| &d.value), Some(Value::Bool(true))))
        .and_then(|s| s.get("name"))
        .and_then(Node::as_scalar_string)
}

pub fn evaluate_named(
    name: &str,
    parsed: &ParsedProject,
    dag: &Dag,
    input: &SelectionInput,
) -> Result<Selection, Diagnostic> {
    evaluate_named_depth(name, parsed, dag, input, 0)
}

fn evaluate_named_depth(
    name: &str,
    parsed: &ParsedProject,
    dag: &Dag,
    input: &SelectionInput,
    depth: usize,
) -> Result<Selection, Diagnostic> {
    let list = selector_list(input.selectors_file);
    let Some(sel) = list
        .iter()
        .find(|s| s.get("name").and_then(Node::as_scalar_string).as_deref() == Some(name))
    else {
        let names: Vec<String> = list
            .iter()
            .filter_map(|s| s.get("name").and_then(Node::as_scalar_string))
            .collect();
        return Err(
            Diagnostic::error(codes::BAD_SELECTOR, format!("no selector named `{name}`"))
                .with_help(did_you_mean(
                    &closest_names(name, names.iter().map(String::as_str)),
                    "define it in selectors.yml under `selectors:`",
                )),
        );
    };
    if depth > 20 {
        return Err(Diagnostic::error(
            codes::BAD_SELECTOR,
            format!("selector `{name}` refers to itself through `selector:`"),
        ));
    }
    let file = input.selectors_file.map(|(f, _)| f.clone());
    let definition = sel.get("definition").ok_or_else(|| {
        Diagnostic::error(
            codes::BAD_SELECTOR,
            format!("selector `{name}` has no `definition:`"),
        )
    })?;
    let ctx = Ctx {
        parsed,
        dag,
        input,
        file,
        depth,
    };
    ctx.eval(definition)
}

struct Ctx<'a> {
    parsed: &'a ParsedProject,
    dag: &'a Dag,
    input: &'a SelectionInput<'a>,
    file: Option<Arc<SourceFile>>,
    depth: usize,
}

impl Ctx<'_> {
    fn error(&self, node: &Node, message: String) -> Diagnostic {
        let d = Diagnostic::error(codes::BAD_SELECTOR, message).with_help(
            "see dbt's YAML selector syntax: union, intersection, exclude, method/value",
        );
        match &self.file {
            Some(f) => f.diagnostic_at(node.mark, d),
            None => d,
        }
    }

    fn eval(&self, node: &Node) -> Result<Selection, Diagnostic> {
        if let Some(text) = node.as_str() {
            return union_of(&[text.to_string()], self.parsed, self.dag, self.input.state);
        }
        if let Some(items) = node.get("union").and_then(Node::items) {
            let mut out = Selection::new();
            let mut excluded = Selection::new();
            for item in items {
                if let Some(ex) = item.get("exclude") {
                    excluded.extend(self.eval_list(ex)?);
                } else {
                    out.extend(self.eval(item)?);
                }
            }
            out.retain(|id| !excluded.contains(id));
            return Ok(out);
        }
        if let Some(items) = node.get("intersection").and_then(Node::items) {
            let mut acc: Option<Selection> = None;
            let mut excluded = Selection::new();
            for item in items {
                if let Some(ex) = item.get("exclude") {
                    excluded.extend(self.eval_list(ex)?);
                    continue;
                }
                let s = self.eval(item)?;
                acc = Some(match acc {
                    None => s,
                    Some(prev) => prev.intersection(&s).cloned().collect(),
                });
            }
            let mut out = acc.unwrap_or_default();
            out.retain(|id| !excluded.contains(id));
            return Ok(out);
        }
        let entries: Vec<(String, &Node)> = node
            .entries()
            .map(|e| e.map(|(k, _, v)| (k, v)).collect())
            .unwrap_or_default();
        let (method, value) = if let (Some(m), Some(v)) = (node.get("method"), node.get("value")) {
            (
                m.as_scalar_string().unwrap_or_default(),
                v.as_scalar_string().unwrap_or_default(),
            )
        } else if let Some((k, v)) = entries.iter().find(|(k, _)| {
            ![
                "parents",
                "children",
                "parents_depth",
                "children_depth",
                "childrens_parents",
                "indirect_selection",
                "exclude",
            ]
            .contains(&k.as_str())
        }) {
            (k.clone(), v.as_scalar_string().unwrap_or_default())
        } else {
            return Err(self.error(node, "a selector definition needs `union`, `intersection`, `method`/`value` or a CLI-style string".into()));
        };
        let flag = |k: &str| matches!(node.get(k).map(|n| &n.value), Some(Value::Bool(true)));
        let depth = |k: &str| match node.get(k).map(|n| &n.value) {
            Some(Value::Int(i)) => Some(*i as usize),
            _ => None,
        };
        let mut selected = if method == "selector" {
            evaluate_named_depth(&value, self.parsed, self.dag, self.input, self.depth + 1)?
        } else {
            let parents = flag("parents") || depth("parents_depth").is_some();
            let children = flag("children") || depth("children_depth").is_some();
            select_with(
                &method,
                &value,
                (
                    parents,
                    depth("parents_depth"),
                    children,
                    depth("children_depth"),
                    flag("childrens_parents"),
                ),
                self.parsed,
                self.dag,
                self.input.state,
            )
            .map_err(|d| self.error(node, d.message))?
        };
        if let Some(ex) = node.get("exclude") {
            let excluded = self.eval_list(ex)?;
            selected.retain(|id| !excluded.contains(id));
        }
        Ok(selected)
    }

    fn eval_list(&self, node: &Node) -> Result<Selection, Diagnostic> {
        match node.items() {
            Some(items) => {
                let mut out = Selection::new();
                for i in items {
                    out.extend(self.eval(i)?);
                }
                Ok(out)
            }
            None => self.eval(node),
        }
    }
}
