//! YAML with positions. Every node keeps the line and column it was written
//! at, so a wrong type or an unknown key is reported at `file:line:col`.
//!
//! This module only parses and reads; it knows nothing of dbt's schemas.
//! Anchors, aliases and `<<` merge keys are resolved here so readers never
//! see them.

use crate::diagnostics::{Code, Diagnostic, Location, codes};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Where a node starts; 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Mark {
    pub line: usize,
    pub column: usize,
}

/// A YAML value with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub mark: Mark,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    Seq(Vec<Node>),
    /// Keys in file order; keys are always rendered as strings.
    Map(Vec<(Node, Node)>),
}

/// The text of one YAML file and its path, kept together so every error can
/// quote the offending line.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub path: PathBuf,
    pub text: Arc<str>,
}

impl SourceFile {
    pub fn new(path: impl Into<PathBuf>, text: impl Into<Arc<str>>) -> Self {
        SourceFile {
            path: path.into(),
            text: text.into(),
        }
    }

    pub fn read(path: &Path) -> Result<Self, Diagnostic> {
        std::fs::read_to_string(path)
            .map(|t| SourceFile::new(path, t))
            .map_err(|e| {
                Diagnostic::error(
                    codes::FILE_UNREADABLE,
                    format!("cannot read {}: {e}", path.display()),
                )
                .with_help("check that the file exists and is readable")
            })
    }

    /// A diagnostic pointing at `mark` in this file.
    pub fn diagnostic_at(&self, mark: Mark, d: Diagnostic) -> Diagnostic {
        d.at(
            Location::new(&self.path, mark.line, mark.column),
            Some(&self.text),
        )
    }

    pub fn error_at(&self, mark: Mark, code: Code, message: impl Into<String>) -> Diagnostic {
        self.diagnostic_at(mark, Diagnostic::error(code, message))
    }
}

mod block;

/// Parses the first document of `file`. An empty file is `Ok(None)`.
pub fn parse(file: &SourceFile) -> Result<Option<Node>, Diagnostic> {
    match block::parse(&file.text) {
        Some(root) => Ok(Some(root)),
        None => parse_fully(file),
    }
}

/// Any YAML, through yaml_rust2, with its diagnostics.
fn parse_fully(file: &SourceFile) -> Result<Option<Node>, Diagnostic> {
    let mut builder = TreeBuilder::default();
    let mut parser = Parser::new_from_str(&file.text);
    if let Err(e) = parser.load(&mut builder, false) {
        let mark = to_mark(e.marker());
        return Err(file
            .error_at(
                mark,
                codes::YAML_SYNTAX,
                format!("invalid YAML: {}", e.info()),
            )
            .with_help(
                "fix the YAML syntax (indentation, quotes and colons are the usual suspects)",
            ));
    }
    if let Some(problem) = builder.problem {
        return Err(file.error_at(problem.0, codes::YAML_SYNTAX, problem.1));
    }
    Ok(builder.root)
}

fn to_mark(m: &Marker) -> Mark {
    Mark {
        line: m.line().max(1),
        column: m.col() + 1,
    }
}

#[derive(Default)]
struct TreeBuilder {
    stack: Vec<(Node, Option<usize>, Option<Node>)>,
    anchors: HashMap<usize, Node>,
    root: Option<Node>,
    problem: Option<(Mark, String)>,
    done: bool,
}

impl TreeBuilder {
    fn insert(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some((parent, _, pending_key)) => match &mut parent.value {
                Value::Seq(items) => items.push(node),
                Value::Map(entries) => match pending_key.take() {
                    None => *pending_key = Some(node),
                    Some(key) => {
                        if key.is_key("<<") {
                            merge_into(entries, node);
                        } else {
                            entries.push((key, node));
                        }
                    }
                },
                _ => {}
            },
        }
    }
}

/// `<<: *defaults` adds the aliased map's keys that are not set explicitly.
fn merge_into(entries: &mut Vec<(Node, Node)>, source: Node) {
    let maps = match source.value {
        Value::Seq(items) => items,
        other => vec![Node {
            value: other,
            mark: source.mark,
        }],
    };
    for map in maps {
        if let Value::Map(extra) = map.value {
            for (k, v) in extra {
                let name = key_text(&k);
                if !entries.iter().any(|(ek, _)| key_text(ek) == name) {
                    entries.push((k, v));
                }
            }
        }
    }
}

fn key_text(node: &Node) -> Option<String> {
    node.as_scalar_string()
}

impl MarkedEventReceiver for TreeBuilder {
    fn on_event(&mut self, ev: Event, marker: Marker) {
        if self.done {
            return;
        }
        let mark = to_mark(&marker);
        match ev {
            Event::Scalar(text, style, anchor, _tag) => {
                let value = if style == TScalarStyle::Plain {
                    resolve_plain(text)
                } else {
                    Value::String(text)
                };
                self.insert(Node { value, mark }, anchor);
            }
            Event::SequenceStart(anchor, _) => {
                let anchor = (anchor > 0).then_some(anchor);
                self.stack.push((
                    Node {
                        value: Value::Seq(Vec::new()),
                        mark,
                    },
                    anchor,
                    None,
                ));
            }
            Event::MappingStart(anchor, _) => {
                let anchor = (anchor > 0).then_some(anchor);
                self.stack.push((
                    Node {
                        value: Value::Map(Vec::new()),
                        mark,
                    },
                    anchor,
                    None,
                ));
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some((mut node, anchor, _)) = self.stack.pop() {
                    // The parser marks a block mapping after its first key;
                    // the first key is where a reader looks.
                    if let Value::Map(entries) = &node.value
                        && let Some((k, _)) = entries.first()
                    {
                        node.mark = k.mark;
                    }
                    self.insert(node, anchor.unwrap_or(0));
                }
            }
            Event::Alias(id) => match self.anchors.get(&id).cloned() {
                Some(mut node) => {
                    node.mark = mark;
                    self.insert(node, 0);
                }
                None => {
                    self.problem = Some((mark, "YAML alias refers to an unknown anchor".into()))
                }
            },
            Event::DocumentEnd => self.done = self.root.is_some(),
            _ => {}
        }
    }
}

/// YAML 1.2 core schema resolution of a plain scalar, as yaml_rust2's
/// `Yaml::from_str` does it, without its work for the common case: text
/// that cannot be a number, null or boolean is a string as it is.
fn resolve_plain(text: String) -> Value {
    use yaml_rust2::Yaml;
    let may_be_number =
        text.bytes().any(|b| b.is_ascii_digit()) || text.starts_with(['.', '+', '-']);
    let may_be_word = matches!(
        text.as_str(),
        "" | "~" | "null" | "true" | "True" | "TRUE" | "false" | "False" | "FALSE"
    );
    if !may_be_number && !may_be_word {
        return Value::String(text);
    }
    match Yaml::from_str(&text) {
        Yaml::Null => Value::Null,
        Yaml::Boolean(b) => Value::Bool(b),
        Yaml::Integer(i) => Value::Int(i),
        Yaml::Real(r) => match r.parse::<f64>() {
            Ok(f) => Value::Float(f),
            Err(_) => match r.as_str() {
                ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
                    Value::Float(f64::INFINITY)
                }
                "-.inf" | "-.Inf" | "-.INF" => Value::Float(f64::NEG_INFINITY),
                ".nan" | ".NaN" | ".NAN" => Value::Float(f64::NAN),
                _ => Value::String(text),
            },
        },
        _ => Value::String(text),
    }
}

impl Node {
    /// A scalar as text (`1` → "1", `true` → "true"); `None` for containers
    /// and null.
    pub fn as_scalar_string(&self) -> Option<String> {
        match &self.value {
            Value::String(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// Whether this node, as a map key, reads as `key`; string keys are
    /// compared in place (looking keys up cloned them all).
    pub fn is_key(&self, key: &str) -> bool {
        match &self.value {
            Value::String(s) => s == key,
            Value::Int(_) | Value::Float(_) | Value::Bool(_) => {
                self.as_scalar_string().as_deref() == Some(key)
            }
            Value::Null | Value::Seq(_) | Value::Map(_) => false,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }

    /// Map entries with string keys, in file order.
    pub fn entries(&self) -> Option<impl Iterator<Item = (String, &Node, &Node)>> {
        match &self.value {
            Value::Map(entries) => Some(
                entries
                    .iter()
                    .map(|(k, v)| (k.as_scalar_string().unwrap_or_default(), k, v)),
            ),
            _ => None,
        }
    }

    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|(k, _)| k.is_key(key)).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn items(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(items) => Some(items),
            _ => None,
        }
    }

    /// The kind of value, for "expected a mapping, found a string" messages.
    pub fn kind_name(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::String(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    /// The node as JSON, dropping positions (for configs, meta, vars).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::String(s) => J::String(s.clone()),
            Value::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.as_scalar_string().unwrap_or_default(), v.to_json()))
                    .collect(),
            ),
        }
    }

    /// Renders every string scalar through `f`; a rendered `True`/`False`
    /// or number becomes that scalar (as dbt reads rendered config values
    /// such as `+enabled: "{{ target.name == 'prod' }}"`).
    pub fn try_render_strings<E>(
        &mut self,
        f: &mut impl FnMut(&str, Mark) -> Result<Option<String>, E>,
    ) -> Result<(), E> {
        self.try_replace_strings(&mut |s, mark| {
            Ok(f(s, mark)?.map(|new| match new.as_str() {
                "True" | "true" => Value::Bool(true),
                "False" | "false" => Value::Bool(false),
                "None" | "none" => Value::Null,
                t => t
                    .parse::<i64>()
                    .map_or(Value::String(new.clone()), Value::Int),
            }))
        })
    }

    /// Applies `f` to every string scalar, e.g. to render `{{ env_var() }}`.
    pub fn try_map_strings<E>(
        &mut self,
        f: &mut impl FnMut(&str, Mark) -> Result<Option<String>, E>,
    ) -> Result<(), E> {
        self.try_replace_strings(&mut |s, mark| Ok(f(s, mark)?.map(Value::String)))
    }

    /// Replaces every string scalar for which `f` returns a value.
    fn try_replace_strings<E>(
        &mut self,
        f: &mut impl FnMut(&str, Mark) -> Result<Option<Value>, E>,
    ) -> Result<(), E> {
        match &mut self.value {
            Value::String(s) => {
                if let Some(new) = f(s, self.mark)? {
                    self.value = new;
                }
            }
            Value::Seq(items) => {
                for item in items {
                    item.try_replace_strings(f)?;
                }
            }
            Value::Map(entries) => {
                for (_, v) in entries {
                    v.try_replace_strings(f)?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// Reads a mapping key by key, remembering which keys were read so the rest
/// can be reported as unknown. Errors carry the file position of the value.
pub struct MapReader<'a> {
    pub file: &'a SourceFile,
    pub node: &'a Node,
    used: Vec<&'static str>,
}

impl<'a> MapReader<'a> {
    /// `what` names the thing for the error, e.g. "a model entry".
    pub fn new(file: &'a SourceFile, node: &'a Node, what: &str) -> Result<Self, Diagnostic> {
        if !matches!(node.value, Value::Map(_)) {
            return Err(file.error_at(
                node.mark,
                codes::YAML_INVALID,
                format!(
                    "expected {what} to be a mapping, found {}",
                    node.kind_name()
                ),
            ));
        }
        Ok(MapReader {
            file,
            node,
            used: Vec::new(),
        })
    }

    pub fn get(&mut self, key: &'static str) -> Option<&'a Node> {
        self.used.push(key);
        self.node.get(key).filter(|n| !n.is_null())
    }

    /// Marks keys as known without reading them.
    pub fn allow(&mut self, keys: &[&'static str]) {
        self.used.extend_from_slice(keys);
    }

    pub fn string(&mut self, key: &'static str) -> Result<Option<String>, Diagnostic> {
        match self.get(key) {
            None => Ok(None),
            Some(n) => match &n.value {
                Value::String(s) => Ok(Some(s.clone())),
                Value::Int(_) | Value::Float(_) | Value::Bool(_) => Ok(n.as_scalar_string()),
                _ => Err(self.type_error(key, n, "a string")),
            },
        }
    }

    pub fn required_string(&mut self, key: &'static str, what: &str) -> Result<String, Diagnostic> {
        self.string(key)?.ok_or_else(|| {
            self.file.error_at(
                self.node.mark,
                codes::YAML_INVALID,
                format!("{what} is missing the required key `{key}`"),
            )
        })
    }

    pub fn bool(&mut self, key: &'static str) -> Result<Option<bool>, Diagnostic> {
        match self.get(key) {
            None => Ok(None),
            Some(n) => match &n.value {
                Value::Bool(b) => Ok(Some(*b)),
                _ => Err(self.type_error(key, n, "true or false")),
            },
        }
    }

    pub fn int(&mut self, key: &'static str) -> Result<Option<i64>, Diagnostic> {
        match self.get(key) {
            None => Ok(None),
            Some(n) => match &n.value {
                Value::Int(i) => Ok(Some(*i)),
                _ => Err(self.type_error(key, n, "an integer")),
            },
        }
    }

    /// A list of strings; a single string is accepted as a one-item list, as
    /// dbt does for `tags`.
    pub fn string_list(&mut self, key: &'static str) -> Result<Vec<String>, Diagnostic> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(n) => string_list(self.file, key, n),
        }
    }

    pub fn seq(&mut self, key: &'static str) -> Result<&'a [Node], Diagnostic> {
        match self.get(key) {
            None => Ok(&[]),
            Some(n) => n.items().ok_or_else(|| self.type_error(key, n, "a list")),
        }
    }

    pub fn map(&mut self, key: &'static str) -> Result<Option<&'a Node>, Diagnostic> {
        match self.get(key) {
            None => Ok(None),
            Some(n) if matches!(n.value, Value::Map(_)) => Ok(Some(n)),
            Some(n) => Err(self.type_error(key, n, "a mapping")),
        }
    }

    pub fn type_error(&self, key: &str, node: &Node, expected: &str) -> Diagnostic {
        // Point at the key: a block value's own position is where its content starts.
        let mark = self
            .node
            .entries()
            .and_then(|mut e| e.find(|(k, _, _)| k == key).map(|(_, k, _)| k.mark))
            .unwrap_or(node.mark);
        self.file.error_at(
            mark,
            codes::YAML_INVALID,
            format!("`{key}` must be {expected}, found {}", node.kind_name()),
        )
    }

    /// Warnings for every key that no reader asked for. `context` is only
    /// formatted when there is one (pass `format_args!`).
    pub fn unknown_keys(&self, context: impl std::fmt::Display) -> Vec<Diagnostic> {
        let Value::Map(entries) = &self.node.value else {
            return Vec::new();
        };
        entries
            .iter()
            .filter(|(key_node, _)| !self.used.iter().any(|used| key_node.is_key(used)))
            .map(|(key_node, _)| {
                let k = key_node.as_scalar_string().unwrap_or_default();
                let hint = crate::diagnostics::did_you_mean(
                    &crate::diagnostics::closest_names(&k, self.used.iter().copied()),
                    "remove it, or check the spelling against the documentation",
                );
                self.file
                    .diagnostic_at(
                        key_node.mark,
                        Diagnostic::warning(
                            codes::YAML_UNKNOWN_KEY,
                            format!("unknown key `{k}` in {context}; it is ignored"),
                        ),
                    )
                    .with_help(hint)
            })
            .collect()
    }
}

pub fn string_list(file: &SourceFile, key: &str, n: &Node) -> Result<Vec<String>, Diagnostic> {
    match &n.value {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Seq(items) => items
            .iter()
            .map(|i| {
                i.as_scalar_string().ok_or_else(|| {
                    file.error_at(
                        i.mark,
                        codes::YAML_INVALID,
                        format!("`{key}` must be a list of strings, found {}", i.kind_name()),
                    )
                })
            })
            .collect(),
        _ => Err(file.error_at(
            n.mark,
            codes::YAML_INVALID,
            format!(
                "`{key}` must be a string or a list of strings, found {}",
                n.kind_name()
            ),
        )),
    }
}

/// JSON → YAML-free node, for values that arrive as JSON (e.g. `--vars`).
pub fn from_json(v: &serde_json::Value) -> Node {
    use serde_json::Value as J;
    let value = match v {
        J::Null => Value::Null,
        J::Bool(b) => Value::Bool(*b),
        J::Number(n) => n
            .as_i64()
            .map_or_else(|| Value::Float(n.as_f64().unwrap_or(0.0)), Value::Int),
        J::String(s) => Value::String(s.clone()),
        J::Array(a) => Value::Seq(a.iter().map(from_json).collect()),
        J::Object(o) => Value::Map(
            o.iter()
                .map(|(k, v)| {
                    (
                        Node {
                            value: Value::String(k.clone()),
                            mark: Mark::default(),
                        },
                        from_json(v),
                    )
                })
                .collect(),
        ),
    };
    Node {
        value,
        mark: Mark::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Node {
        parse(&SourceFile::new("x.yml", text)).unwrap().unwrap()
    }

    #[test]
    fn nodes_keep_their_positions() {
        let n = parse_str("a: 1\nb:\n  - x\n  - c: true\n");
        let b = n.get("b").unwrap();
        assert_eq!(
            b.items().unwrap()[1].get("c").unwrap().mark,
            Mark { line: 4, column: 8 }
        );
        assert_eq!(n.get("a").unwrap().value, Value::Int(1));
    }

    #[test]
    fn merge_keys_and_aliases_resolve() {
        let n = parse_str("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\n");
        let other = n.get("other").unwrap().to_json();
        assert_eq!(other, serde_json::json!({"y": 3, "x": 1}));
    }

    #[test]
    fn syntax_error_has_a_line() {
        let err = parse(&SourceFile::new("x.yml", "a: [1, 2\nb: 3\n")).unwrap_err();
        assert_eq!(err.code, codes::YAML_SYNTAX);
        assert!(err.location.is_some());
    }

    #[test]
    fn quoted_numbers_stay_strings() {
        let n = parse_str("a: '1'\nb: 1.5\nc: ~\n");
        assert_eq!(n.get("a").unwrap().value, Value::String("1".into()));
        assert_eq!(n.get("b").unwrap().value, Value::Float(1.5));
        assert!(n.get("c").unwrap().is_null());
    }

    #[test]
    fn plain_scalars_resolve_as_yaml_rust2_resolves_them() {
        use yaml_rust2::Yaml;
        let reference = |text: &str| match Yaml::from_str(text) {
            Yaml::Null => Value::Null,
            Yaml::Boolean(b) => Value::Bool(b),
            Yaml::Integer(i) => Value::Int(i),
            Yaml::Real(r) => match r.as_str() {
                ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
                    Value::Float(f64::INFINITY)
                }
                "-.inf" | "-.Inf" | "-.INF" => Value::Float(f64::NEG_INFINITY),
                _ => Value::Float(r.parse().unwrap()),
            },
            _ => Value::String(text.to_string()),
        };
        for text in [
            "",
            "~",
            "null",
            "Null",
            "NULL",
            "true",
            "True",
            "TRUE",
            "false",
            "FALSE",
            "yes",
            "model_000001",
            "abc",
            "1",
            "-7",
            "+12",
            "0x1F",
            "0o17",
            "1.5",
            "1e3",
            "-.5",
            ".inf",
            "-.Inf",
            "+.INF",
            "inf",
            "nan",
            "-",
            "+",
            ".",
            "a1",
            "1a",
            "not_null",
        ] {
            assert_eq!(resolve_plain(text.to_string()), reference(text), "{text:?}");
        }
        assert!(matches!(resolve_plain(".nan".into()), Value::Float(f) if f.is_nan()));
    }

    #[test]
    fn keys_are_found_whatever_their_scalar_type() {
        let n = parse_str("name: a\n1: one\ntrue: yes\n");
        assert_eq!(n.get("name").unwrap().as_str(), Some("a"));
        assert_eq!(n.get("1").unwrap().as_str(), Some("one"));
        assert_eq!(n.get("true").unwrap().as_str(), Some("yes"));
        assert!(n.get("missing").is_none());
    }
}
