//! Building blocks of parsed nodes, shared by the parse of files and the
//! generic tests built from YAML: blank nodes and their default config,
//! folder configs, the index of YAML patches, and line offsets.

use super::node::ParsedNode;
use crate::project::config::{Config, merge_into};
use crate::project::properties::NodePatch;
use crate::project::{Package, Project, ResourceType};
use rustc_hash::FxHashMap;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Every package's patches by (package, kind, name), each with a flag set
/// once a node has used it (for the unused-patch warning).
pub struct PatchIndex<'a> {
    /// Fx-hashed: looked up once per node, and SipHash was most of it.
    by_key: FxHashMap<(&'a str, &'a str, &'a str), (&'a NodePatch, usize)>,
    used: Vec<AtomicBool>,
}

impl<'a> PatchIndex<'a> {
    /// The patch for this node, marked as used.
    pub(super) fn find(&self, package: &str, kind: &str, name: &str) -> Option<&'a NodePatch> {
        let &(patch, at) = self.by_key.get(&(package, kind, name))?;
        self.used[at].store(true, Ordering::Relaxed);
        Some(patch)
    }

    pub(super) fn was_used(&self, package: &str, kind: &str, name: &str) -> bool {
        self.by_key
            .get(&(package, kind, name))
            .is_some_and(|&(_, at)| self.used[at].load(Ordering::Relaxed))
    }

    /// Every patch, in no particular order.
    pub fn patches(&self) -> impl Iterator<Item = &'a NodePatch> + '_ {
        self.by_key.values().map(|&(patch, _)| patch)
    }
}

pub(super) fn index_patches(project: &Project) -> PatchIndex<'_> {
    let patches: usize = project
        .packages
        .iter()
        .map(|p| p.properties.patches.len())
        .sum();
    let mut by_key = FxHashMap::with_capacity_and_hasher(patches, Default::default());
    for p in &project.packages {
        for patch in &p.properties.patches {
            let at = by_key.len();
            by_key
                .entry((p.name.as_str(), patch.kind.as_str(), patch.name.as_str()))
                .and_modify(|entry: &mut (&NodePatch, usize)| entry.0 = patch)
                .or_insert((patch, at));
        }
    }
    let used = (0..by_key.len()).map(|_| AtomicBool::new(false)).collect();
    PatchIndex { by_key, used }
}

/// The package's own folder config, then the root project's for the same
/// path (the root project can configure its packages).
pub fn folder_config(
    project: &Project,
    package: &Package,
    kind: ResourceType,
    fqn: &[String],
) -> Config {
    let key = kind.config_key();
    let mut config = package.file.folder_config(key, fqn);
    if !package.is_root {
        let root = project.root_package();
        let mut from_root = root.file.folder_config(key, fqn);
        // Top-level keys of the root tree apply to the root project only
        // unless nested under the package's name.
        if root
            .file
            .config_tree(key)
            .and_then(|t| t.get(&package.name))
            .is_none()
        {
            from_root = Config::new();
        }
        merge_into(&mut config, &from_root);
    }
    config
}

pub fn default_config(kind: ResourceType) -> Config {
    let mut c = Config::new();
    c.insert("enabled".into(), true.into());
    let materialized = match kind {
        ResourceType::Model | ResourceType::Analysis => "view",
        ResourceType::Seed => "seed",
        ResourceType::Snapshot => "snapshot",
        ResourceType::Test => "test",
        _ => return c,
    };
    c.insert("materialized".into(), materialized.into());
    if kind == ResourceType::Test {
        c.insert("severity".into(), "ERROR".into());
        c.insert("fail_calc".into(), "count(*)".into());
        c.insert("warn_if".into(), "!= 0".into());
        c.insert("error_if".into(), "!= 0".into());
    }
    c
}

pub fn blank_node(
    unique_id: String,
    resource_type: ResourceType,
    package: &str,
    name: &str,
    fqn: Vec<String>,
) -> ParsedNode {
    ParsedNode {
        unique_id,
        resource_type,
        package_name: package.to_string(),
        name: name.to_string(),
        path: String::new(),
        original_file_path: String::new(),
        abs_path: Default::default(),
        fqn,
        raw_code: Arc::from(""),
        file_text: Arc::from(""),
        body_offset: 0,
        checksum: String::new(),
        config: crate::project::config::empty_shared(),
        unrendered_config: crate::project::config::empty_shared(),
        resolved: super::node_config::NodeConfig::default_shared(),
        description: String::new(),
        columns: BTreeMap::new(),
        patch_path: None,
        docs: None,
        refs: Vec::new(),
        sources: Vec::new(),
        macros: Vec::new(),
        depends_on: Vec::new(),
        database: String::new(),
        schema: String::new(),
        alias: name.to_string(),
        relation_name: None,
        test_metadata: None,
        attached_node: None,
        column_name: None,
        source: None,
        exposure: None,
        unit_test: None,
        compiled_code: None,
        call_sites: Vec::new(),
        inferred: None,
        version: None,
    }
}

/// Byte offsets of a file's line starts, computed once per file so that
/// locating thousands of YAML entries stays linear.
#[derive(Default)]
pub struct LineIndex {
    files: std::collections::HashMap<usize, Vec<usize>>,
}

impl LineIndex {
    /// Byte offset of a 1-based line and column of `text`.
    pub fn offset(&mut self, text: &Arc<str>, line: usize, column: usize) -> usize {
        let key = Arc::as_ptr(text) as *const u8 as usize;
        let starts = self.files.entry(key).or_insert_with(|| {
            std::iter::once(0)
                .chain(memchr::memchr_iter(b'\n', text.as_bytes()).map(|i| i + 1))
                .collect()
        });
        let Some(&start) = starts.get(line.saturating_sub(1)) else {
            return text.len();
        };
        let rest = &text[start..];
        start
            + rest
                .char_indices()
                .nth(column.saturating_sub(1))
                .map_or(0, |(b, _)| b)
    }
}

/// Byte offset of a 1-based line and column.
pub fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let mut offset = 0;
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if i + 1 == line {
            return offset
                + l.char_indices()
                    .nth(column.saturating_sub(1))
                    .map_or(0, |(b, _)| b);
        }
        offset += l.len();
    }
    offset.min(text.len())
}
