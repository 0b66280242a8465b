//! The module map stays a layering (#30 item 5): no two modules or files
//! import each other, directly or through others. A module and its own
//! submodules (a `mod.rs` and the files beside it) are one unit and may
//! refer to each other; any other reference is an edge, and the graph of
//! edges must have no cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Every source file as its module path (`compile::scope`), with its text
/// up to its unit tests.
fn modules() -> BTreeMap<String, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = BTreeMap::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(&root).expect("under src");
            let mut parts: Vec<String> = rel
                .with_extension("")
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if parts.last().is_some_and(|p| p == "mod") {
                parts.pop();
            }
            if parts == ["lib"] || parts == ["main"] {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("read file");
            let text = text.split("#[cfg(test)]").next().unwrap_or("").to_string();
            out.insert(parts.join("::"), text);
        }
    }
    out
}

/// The module a path like `super::world::World` names, seen from `from`.
fn resolve(from: &str, path: &str, known: &BTreeMap<String, String>) -> Option<String> {
    let mut parts: Vec<&str> = path.split("::").collect();
    let mut base: Vec<&str> = from.split("::").collect();
    match parts.first() {
        Some(&"crate") => {
            base.clear();
            parts.remove(0);
        }
        Some(&"self") => {
            parts.remove(0);
        }
        Some(&"super") => {
            // In `a/b.rs` (module a::b), `super` is `a`; in `a/mod.rs`
            // (module a), it is a's parent.
            base.pop();
            parts.remove(0);
            while parts.first() == Some(&"super") {
                base.pop();
                parts.remove(0);
            }
        }
        _ => return None,
    }
    (1..=parts.len()).rev().find_map(|n| {
        let mut candidate = base.clone();
        candidate.extend_from_slice(&parts[..n]);
        let name = candidate.join("::");
        known.contains_key(&name).then_some(name)
    })
}

fn top(module: &str) -> &str {
    module.split("::").next().unwrap_or(module)
}

/// Whether one module contains the other (a module and its submodules are
/// one unit).
fn related(a: &str, b: &str) -> bool {
    a.starts_with(&format!("{b}::")) || b.starts_with(&format!("{a}::"))
}

#[test]
fn no_module_or_file_imports_back() {
    let known = modules();
    let reference = regex::Regex::new(r"\b((?:crate|super|self)(?:::\w+)+)").expect("regex");
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, text) in &known {
        for m in reference.find_iter(text) {
            let Some(target) = resolve(module, m.as_str(), &known) else {
                continue;
            };
            if target != *module && !related(module, &target) {
                edges
                    .entry(module.clone())
                    .or_default()
                    .insert(target.clone());
                // Top-level modules must layer too (`artifacts` and
                // `compile` through any of their files).
                let (a, b) = (top(module), top(&target));
                if a != b {
                    edges
                        .entry(a.to_string())
                        .or_default()
                        .insert(b.to_string());
                }
            }
        }
    }
    // Tarjan's strongly connected components.
    struct State<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        next: usize,
        cycles: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on_stack.insert(v);
        let edges = s.edges;
        for w in edges.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.cycles.push(component);
            }
        }
    }
    let mut state = State {
        edges: &edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        cycles: Vec::new(),
    };
    for v in known.keys() {
        if !state.index.contains_key(v.as_str()) {
            visit(&mut state, v);
        }
    }
    assert!(
        state.cycles.is_empty(),
        "modules that import each other (through the others listed): {:#?}",
        state.cycles
    );
}
