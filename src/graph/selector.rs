//! dbt's node selection syntax: `name`, globs, `+m`, `m+`, `2+m`, `m+3`,
//! `@m`, `method:value` (tag, path, fqn, config.<key>, source,
//! resource_type, exposure, test_type, test_name, package, state, …), union
//! by spaces, intersection by commas, `--exclude`, and YAML selectors.

use super::Dag;
use super::state::PreviousState;
use crate::compile::{ParsedNode, ParsedProject};
use crate::diagnostics::{Diagnostic, codes};
use crate::project::ResourceType;
use globset::{Glob, GlobMatcher};
use petgraph::Direction;
use std::collections::BTreeSet;

/// How tests of selected nodes are pulled in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IndirectSelection {
    /// A test is selected when any parent is (dbt's default).
    #[default]
    Eager,
    /// Only when every parent is selected.
    Cautious,
    /// Never indirectly.
    Empty,
}

/// Everything selection needs besides the graph.
pub struct SelectionInput<'a> {
    pub select: &'a [String],
    pub exclude: &'a [String],
    pub selector: Option<&'a str>,
    pub resource_types: &'a [ResourceType],
    pub indirect: IndirectSelection,
    pub state: Option<&'a PreviousState>,
    pub selectors_file: Option<&'a (std::sync::Arc<crate::yaml::SourceFile>, crate::yaml::Node)>,
}

pub type Selection = BTreeSet<String>;

const METHODS: &[&str] = &[
    "tag",
    "path",
    "file",
    "fqn",
    "source",
    "resource_type",
    "exposure",
    "test_type",
    "test_name",
    "package",
    "state",
    "config",
    "selector",
    "access",
    "group",
    "version",
    "source_status",
    "result",
];

/// Parsed criteria of one term.
#[derive(Debug, Clone)]
struct Criteria {
    method: String,
    /// `config.materialized` → `materialized`.
    method_arg: Option<String>,
    value: String,
    parents: bool,
    parents_depth: Option<usize>,
    children: bool,
    children_depth: Option<usize>,
    childrens_parents: bool,
}

/// `a b,c d`: union of space-separated terms, each an intersection of its
/// comma-separated parts. Several `-s` values are a union too.
pub(super) fn union_of(
    specs: &[String],
    parsed: &ParsedProject,
    dag: &Dag,
    state: Option<&PreviousState>,
) -> Result<Selection, Diagnostic> {
    let mut out = Selection::new();
    for spec in specs {
        for term in spec.split_whitespace() {
            let mut acc: Option<Selection> = None;
            for part in term.split(',').filter(|p| !p.is_empty()) {
                let hit = select_term(part, parsed, dag, state)?;
                acc = Some(match acc {
                    None => hit,
                    Some(prev) => prev.intersection(&hit).cloned().collect(),
                });
            }
            out.extend(acc.unwrap_or_default());
        }
    }
    Ok(out)
}

fn select_term(
    raw: &str,
    parsed: &ParsedProject,
    dag: &Dag,
    state: Option<&PreviousState>,
) -> Result<Selection, Diagnostic> {
    let criteria = parse_term(raw)?;
    apply_criteria(&criteria, parsed, dag, state)
}

fn apply_criteria(
    c: &Criteria,
    parsed: &ParsedProject,
    dag: &Dag,
    state: Option<&PreviousState>,
) -> Result<Selection, Diagnostic> {
    let base = match_method(c, parsed, state)?;
    let mut out = base.clone();
    for id in &base {
        if c.parents {
            out.extend(dag.reachable(id, Direction::Incoming, c.parents_depth));
        }
        if c.children || c.childrens_parents {
            let kids = dag.reachable(id, Direction::Outgoing, c.children_depth);
            if c.childrens_parents {
                for k in &kids {
                    out.extend(dag.reachable(k, Direction::Incoming, None));
                }
            }
            out.extend(kids);
        }
    }
    Ok(out)
}

fn parse_term(raw: &str) -> Result<Criteria, Diagnostic> {
    let bad = |why: &str| {
        Diagnostic::error(codes::BAD_SELECTOR, format!("cannot understand the selector `{raw}`: {why}"))
            .with_help("examples: `orders`, `+orders`, `orders+2`, `@orders`, `tag:nightly`, `path:models/gold`, `config.materialized:table`")
    };
    let mut s = raw;
    let mut c = Criteria {
        method: String::new(),
        method_arg: None,
        value: String::new(),
        parents: false,
        parents_depth: None,
        children: false,
        children_depth: None,
        childrens_parents: false,
    };
    if let Some(rest) = s.strip_prefix('@') {
        c.childrens_parents = true;
        s = rest;
    } else if let Some(pos) = s
        .find('+')
        .filter(|p| s[..*p].chars().all(|ch| ch.is_ascii_digit()))
    {
        c.parents = true;
        if pos > 0 {
            c.parents_depth = Some(s[..pos].parse().map_err(|_| bad("bad depth"))?);
        }
        s = &s[pos + 1..];
    }
    if let Some(pos) = s
        .rfind('+')
        .filter(|p| s[p + 1..].chars().all(|ch| ch.is_ascii_digit()))
    {
        c.children = true;
        if pos + 1 < s.len() {
            c.children_depth = Some(s[pos + 1..].parse().map_err(|_| bad("bad depth"))?);
        }
        s = &s[..pos];
    }
    if s.is_empty() {
        return Err(bad("nothing to select"));
    }
    match s.split_once(':') {
        Some((method, value)) => {
            let (m, arg) = match method.split_once('.') {
                Some((m, a)) => (m, Some(a.to_string())),
                None => (method, None),
            };
            if !METHODS.contains(&m) {
                let suggestions = crate::diagnostics::closest_names(m, METHODS.iter().copied());
                return Err(Diagnostic::error(
                    codes::BAD_SELECTOR,
                    format!("`{m}` is not a selection method (in `{raw}`)"),
                )
                .with_help(crate::diagnostics::did_you_mean(
                    &suggestions,
                    &format!("methods: {}", METHODS.join(", ")),
                )));
            }
            c.method = m.to_string();
            c.method_arg = arg;
            c.value = value.to_string();
        }
        None => {
            c.method = if s.contains('/')
                || s.contains('\\')
                || s.ends_with(".sql")
                || s.ends_with(".csv")
            {
                "path".into()
            } else {
                "fqn".into()
            };
            c.value = s.to_string();
        }
    }
    Ok(c)
}

fn glob(pattern: &str) -> Result<GlobMatcher, Diagnostic> {
    Glob::new(pattern)
        .map(|g| g.compile_matcher())
        .map_err(|e| {
            Diagnostic::error(codes::BAD_SELECTOR, format!("bad pattern `{pattern}`: {e}"))
        })
}

/// A selection method's test of one node.
type Hit = Box<dyn Fn(&ParsedNode) -> bool>;

fn match_method(
    c: &Criteria,
    parsed: &ParsedProject,
    state: Option<&PreviousState>,
) -> Result<Selection, Diagnostic> {
    let nodes = parsed.nodes.values();
    let v = c.value.as_str();
    let hit: Hit = match c.method.as_str() {
        "fqn" => fqn_hit(v)?,
        "tag" => {
            let g = glob(v)?;
            Box::new(move |n: &ParsedNode| n.tags().iter().any(|t| g.is_match(t)))
        }
        "path" | "file" => path_hit(c, v)?,
        "package" => {
            let g = glob(v)?;
            Box::new(move |n: &ParsedNode| g.is_match(&n.package_name))
        }
        "resource_type" => {
            let t = ResourceType::parse(v).ok_or_else(|| {
                Diagnostic::error(codes::BAD_SELECTOR, format!("`{v}` is not a resource type"))
                    .with_help(
                        "use model, seed, snapshot, test, source, exposure, analysis or unit_test",
                    )
            })?;
            Box::new(move |n: &ParsedNode| n.resource_type == t)
        }
        "source" => source_hit(v)?,
        "exposure" => {
            let g = glob(v)?;
            Box::new(move |n: &ParsedNode| {
                n.resource_type == ResourceType::Exposure && g.is_match(&n.name)
            })
        }
        "test_type" => test_type_hit(v)?,
        "test_name" => test_name_hit(v)?,
        "config" => config_hit(c, v)?,
        "version" => version_hit(v)?,
        "access" | "group" => {
            let key = c.method.clone();
            let wanted = v.to_string();
            Box::new(move |n: &ParsedNode| {
                n.config.get(&key).and_then(|x| x.as_str()) == Some(wanted.as_str())
            })
        }
        "state" => state_hit(v, parsed, state)?,
        "selector" => {
            return Err(Diagnostic::error(
                codes::BAD_SELECTOR,
                "`selector:` is only valid inside selectors.yml",
            )
            .with_help("on the command line use --selector NAME"));
        }
        "source_status" | "result" => artifact_hit(c, v, state)?,
        other => {
            return Err(Diagnostic::error(
                codes::BAD_SELECTOR,
                format!("unknown selection method `{other}`"),
            ));
        }
    };
    Ok(nodes
        .filter(|n| hit(n))
        .map(|n| n.unique_id.clone())
        .collect())
}

/// `fqn:` (and a bare name): a node's name, its fqn, or a version's.
fn fqn_hit(v: &str) -> Result<Hit, Diagnostic> {
    let parts: Vec<GlobMatcher> = v.split('.').map(glob).collect::<Result<_, _>>()?;
    let name = glob(v)?;
    // As in dbt, names and fqns select project nodes, not sources or
    // exposures (those have `source:` and `exposure:`).
    Ok(Box::new(move |n: &ParsedNode| {
        !matches!(
            n.resource_type,
            ResourceType::Source | ResourceType::Exposure
        ) && (name.is_match(&n.name)
            || fqn_matches(&n.fqn, &parts)
            || versioned_matches(n, &name, &parts))
    }))
}

/// `path:` (a folder or file, globbed) and `file:` (a file name).
fn path_hit(c: &Criteria, v: &str) -> Result<Hit, Diagnostic> {
    let wanted = v.trim_end_matches('/').to_string();
    let g = glob(&wanted)?;
    let by_file = c.method == "file";
    Ok(Box::new(move |n: &ParsedNode| {
        let p = &n.original_file_path;
        if by_file {
            let file = p.rsplit('/').next().unwrap_or(p);
            return g.is_match(file) || file.strip_suffix(".sql").is_some_and(|f| g.is_match(f));
        }
        p == &wanted || p.starts_with(&format!("{wanted}/")) || g.is_match(p)
    }))
}

/// `source:`: `src`, `src.table` or `pkg.src.table`, each part globbed.
fn source_hit(v: &str) -> Result<Hit, Diagnostic> {
    let parts: Vec<GlobMatcher> = v.split('.').map(glob).collect::<Result<_, _>>()?;
    Ok(Box::new(move |n: &ParsedNode| {
        let Some(s) = &n.source else { return false };
        let full = [
            n.package_name.as_str(),
            s.source_name.as_str(),
            n.name.as_str(),
        ];
        match parts.len() {
            1 => parts[0].is_match(&s.source_name),
            2 => {
                parts[0].is_match(&s.source_name) && parts[1].is_match(&n.name)
                    || parts[0].is_match(full[0]) && parts[1].is_match(full[1])
            }
            _ => parts.iter().zip(full.iter()).all(|(p, f)| p.is_match(f)),
        }
    }))
}

/// `test_type:` generic, singular, data or unit.
fn test_type_hit(v: &str) -> Result<Hit, Diagnostic> {
    let kind = v.to_string();
    if !["generic", "singular", "data", "unit", "schema"].contains(&kind.as_str()) {
        return Err(
            Diagnostic::error(codes::BAD_SELECTOR, format!("`{v}` is not a test type"))
                .with_help("use generic, singular, data or unit"),
        );
    }
    Ok(Box::new(move |n: &ParsedNode| match kind.as_str() {
        "generic" | "schema" => n.resource_type == ResourceType::Test && n.test_metadata.is_some(),
        "singular" => n.resource_type == ResourceType::Test && n.test_metadata.is_none(),
        "data" => n.resource_type == ResourceType::Test,
        _ => n.resource_type == ResourceType::UnitTest,
    }))
}

/// `test_name:` a generic test's name (or `namespace.name`), or a
/// singular test's.
fn test_name_hit(v: &str) -> Result<Hit, Diagnostic> {
    let g = glob(v)?;
    Ok(Box::new(move |n: &ParsedNode| match &n.test_metadata {
        Some(m) => {
            g.is_match(&m.name)
                || m.namespace
                    .as_ref()
                    .is_some_and(|ns| g.is_match(format!("{ns}.{}", m.name)))
        }
        None => n.resource_type == ResourceType::Test && g.is_match(&n.name),
    }))
}

/// `config.<key>:<value>`: a (dotted) config key holding the value, or a
/// list holding it.
fn config_hit(c: &Criteria, v: &str) -> Result<Hit, Diagnostic> {
    let key = c.method_arg.clone().ok_or_else(|| {
        Diagnostic::error(
            codes::BAD_SELECTOR,
            "`config:` needs a key, as in `config.materialized:table`",
        )
    })?;
    let g = glob(v)?;
    Ok(Box::new(move |n: &ParsedNode| {
        let mut cur = n.config.get(key.split('.').next().unwrap_or_default());
        for part in key.split('.').skip(1) {
            cur = cur.and_then(|c| c.get(part));
        }
        match cur {
            Some(serde_json::Value::String(s)) => g.is_match(s),
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .any(|i| i.as_str().is_some_and(|s| g.is_match(s)) || g.is_match(i.to_string())),
            Some(serde_json::Value::Null) | None => false,
            Some(other) => g.is_match(other.to_string()),
        }
    }))
}

/// `version:` latest, prerelease, old or none.
fn version_hit(v: &str) -> Result<Hit, Diagnostic> {
    // dbt's: latest, prerelease (after the latest), old (before it),
    // none (not versioned).
    let wanted = v.to_ascii_lowercase();
    if !matches!(wanted.as_str(), "latest" | "prerelease" | "old" | "none") {
        return Err(Diagnostic::error(
            codes::BAD_SELECTOR,
            format!("`version:{v}` is not a version selector"),
        )
        .with_help("use version:latest, version:prerelease, version:old or version:none"));
    }
    Ok(Box::new(move |n: &ParsedNode| {
        let Some(ver) = &n.version else {
            return wanted == "none" && n.resource_type == ResourceType::Model;
        };
        let order = compare_versions(&ver.version, &ver.latest);
        match wanted.as_str() {
            "latest" => order.is_eq(),
            "prerelease" => order.is_gt(),
            "old" => order.is_lt(),
            _ => false,
        }
    }))
}

/// `state:` new, modified (and its parts), unmodified or old, against
/// the `--state` manifest.
fn state_hit(
    v: &str,
    parsed: &ParsedProject,
    state: Option<&PreviousState>,
) -> Result<Hit, Diagnostic> {
    let state = state.ok_or_else(|| {
        Diagnostic::error(
            codes::STATE,
            format!("`state:{v}` needs an earlier manifest"),
        )
        .with_help("pass --state DIR, the folder holding the manifest.json of an earlier run")
    })?;
    let wanted = v.to_string();
    if ![
        "new",
        "modified",
        "modified.body",
        "modified.configs",
        "modified.relation",
        "modified.macros",
        "modified.contract",
        "unmodified",
        "old",
    ]
    .contains(&wanted.as_str())
    {
        return Err(Diagnostic::error(
            codes::BAD_SELECTOR,
            format!("`state:{v}` is not a state selector"),
        )
        .with_help(
            "use state:new, state:modified, state:modified.body or state:modified.configs",
        ));
    }
    let ids = state.select(&wanted, parsed);
    Ok(Box::new(move |n: &ParsedNode| ids.contains(&n.unique_id)))
}

/// `result:` and `source_status:`, from the `--state` run artifacts.
fn artifact_hit(c: &Criteria, v: &str, state: Option<&PreviousState>) -> Result<Hit, Diagnostic> {
    let state = state.ok_or_else(|| {
        Diagnostic::error(
            codes::STATE,
            format!("`{}:{v}` needs the artifacts of an earlier run", c.method),
        )
        .with_help("pass --state DIR, the target folder of an earlier run")
    })?;
    let ids = if c.method == "result" {
        const STATUSES: &[&str] = &[
            "success",
            "error",
            "fail",
            "warn",
            "pass",
            "skipped",
            "runtime error",
        ];
        if !STATUSES.contains(&v.to_ascii_lowercase().as_str()) {
            return Err(Diagnostic::error(
                codes::BAD_SELECTOR,
                format!("`result:{v}` is not a result status"),
            )
            .with_help(format!("use one of {}", STATUSES.join(", "))));
        }
        state.select_result(v)?
    } else {
        if v != "fresher" {
            return Err(Diagnostic::error(
                codes::BAD_SELECTOR,
                format!("`source_status:{v}` is not a source status selector"),
            )
            .with_help("use source_status:fresher (with + for what reads them)"));
        }
        state.select_fresher(v)?
    };
    Ok(Box::new(move |n: &ParsedNode| ids.contains(&n.unique_id)))
}

/// A model version is also selected as `<model>_v<v>` and by the last two
/// parts of its fqn (`dim_customers.v2`), as in dbt.
fn versioned_matches(n: &ParsedNode, name: &GlobMatcher, parts: &[GlobMatcher]) -> bool {
    let Some(v) = &n.version else {
        return false;
    };
    if name.is_match(format!("{}_v{}", n.name, v.version)) {
        return true;
    }
    parts.len() >= 2
        && n.fqn.len() >= 2
        && parts[parts.len() - 2..]
            .iter()
            .zip(&n.fqn[n.fqn.len() - 2..])
            .all(|(p, f)| p.is_match(f))
}

/// Versions compared as numbers when both are, else as text.
fn compare_versions(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.total_cmp(&y),
        _ => a.cmp(b),
    }
}

/// dbt's fqn matching: the selector's dotted parts match a prefix of the fqn,
/// or the whole fqn; a bare name matched the node name above.
fn fqn_matches(fqn: &[String], parts: &[GlobMatcher]) -> bool {
    if parts.len() > fqn.len() {
        return false;
    }
    parts.iter().zip(fqn.iter()).all(|(p, f)| p.is_match(f))
}

/// One `{method, value, parents, …}` definition of selectors.yml.
pub(super) fn select_with(
    method: &str,
    value: &str,
    graph: (bool, Option<usize>, bool, Option<usize>, bool),
    parsed: &ParsedProject,
    dag: &Dag,
    state: Option<&PreviousState>,
) -> Result<Selection, Diagnostic> {
    let (m, arg) = match method.split_once('.') {
        Some((m, a)) => (m.to_string(), Some(a.to_string())),
        None => (method.to_string(), None),
    };
    if !METHODS.contains(&m.as_str()) {
        return Err(Diagnostic::error(
            codes::BAD_SELECTOR,
            format!("`{m}` is not a selection method"),
        )
        .with_help(format!("methods: {}", METHODS.join(", "))));
    }
    let c = Criteria {
        method: m,
        method_arg: arg,
        value: value.to_string(),
        parents: graph.0,
        parents_depth: graph.1,
        children: graph.2,
        children_depth: graph.3,
        childrens_parents: graph.4,
    };
    apply_criteria(&c, parsed, dag, state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_operators_parse() {
        let c = parse_term("2+orders+3").unwrap();
        assert!(c.parents && c.children);
        assert_eq!((c.parents_depth, c.children_depth), (Some(2), Some(3)));
        assert_eq!(c.value, "orders");
        let c = parse_term("@tag:nightly").unwrap();
        assert!(c.childrens_parents);
        assert_eq!((c.method.as_str(), c.value.as_str()), ("tag", "nightly"));
        let c = parse_term("config.materialized:table").unwrap();
        assert_eq!(c.method_arg.as_deref(), Some("materialized"));
        assert_eq!(parse_term("models/gold").unwrap().method, "path");
    }

    #[test]
    fn unknown_method_is_an_error_with_a_hint() {
        let e = parse_term("tags:x").unwrap_err();
        assert_eq!(e.code, codes::BAD_SELECTOR);
        assert!(e.help.unwrap_or_default().contains("`tag`"));
    }
}
