//! `target/manifest.json` in dbt's v12 layout, so existing tools read it.
//! Maps are ordered so identical input gives identical bytes apart from the
//! invocation id and timestamps.

use crate::compile::{ParsedNode, ParsedProject};
use crate::diagnostics::{Diagnostic, codes};
use crate::graph::Dag;
use crate::project::ResourceType;
use crate::project::config::ConfigExt;
use rayon::prelude::*;
use serde_json::{Map, Value, json};
use std::io::Write;
use std::path::Path;

/// Writes `manifest.json` under `target_dir`, one node at a time: building
/// the whole document in memory first cost gigabytes on large projects.
/// Top-level keys and every map are written in sorted order.
pub fn write_manifest(
    target_dir: &Path,
    parsed: &ParsedProject,
    dag: &Dag,
    adapter_type: &str,
) -> Result<InvocationFields, Diagnostic> {
    let path = target_dir.join("manifest.json");
    let tmp = target_dir.join(format!("manifest.json.tmp{}", std::process::id()));
    let retired = target_dir.join(RETIRED_MANIFEST);
    let result = (|| -> std::io::Result<InvocationFields> {
        std::fs::create_dir_all(target_dir)?;
        let file = reuse_or_create(&retired, &tmp)?;
        // Small: the nodes come in serialized parts of hundreds of
        // kilobytes, which a buffer smaller than they are passes straight
        // to the file instead of copying (56 MB at 10,000 models).
        let mut w = Counting {
            inner: std::io::BufWriter::with_capacity(1 << 16, file),
            written: 0,
        };
        let step = std::time::Instant::now();
        let mut fields = stream(&mut w, parsed, dag, adapter_type)?;
        fields.manifest_len = w.written;
        crate::timings::phase("  manifest: serialize", step);
        // Written whole, then swapped in: a reader sees the old manifest or
        // the new one, never half of one. Not fsynced: any parse writes it
        // again from the project, and on a slow disk the flush of a large
        // manifest took longer than serializing it (107 ms of 315 ms for
        // 30,000 nodes). A stamp for the next parse is valid only until the
        // machine restarts (`cli::unchanged`).
        let file = w.inner.into_inner().map_err(|e| e.into_error())?;
        // A reused file may have been longer.
        file.set_len(w.written)?;
        drop(file);
        let step = std::time::Instant::now();
        replace(&tmp, &path, &retired)?;
        crate::timings::phase("  manifest: replace", step);
        Ok(fields)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Diagnostic::error(
            codes::ARTIFACT_WRITE,
            format!("cannot write {}: {e}", path.display()),
        )
        .with_help("check that the target folder is writable and the disk is not full")
    })
}

/// The previous manifest, kept under a second name until the next write.
const RETIRED_MANIFEST: &str = ".manifest.json.replaced";

/// The file the new manifest is written into, at `tmp`. On Linux, the
/// manifest replaced last time (kept under a second name) is moved there
/// and overwritten, its blocks reused instead of freed: freeing them took
/// 35–50 ms of kernel time at 10,000 models (ext4 with `discard`) and
/// 130 ms at 100,000, beside the parse on the same two cores. The move
/// makes the file this process's own, even with another writing.
fn reuse_or_create(retired: &Path, tmp: &Path) -> std::io::Result<std::fs::File> {
    #[cfg(target_os = "linux")]
    if std::fs::rename(retired, tmp).is_ok() {
        use std::os::unix::fs::MetadataExt;
        let file = std::fs::File::options().write(true).open(tmp)?;
        if file.metadata()?.nlink() == 1 {
            return Ok(file);
        }
        // Linked elsewhere too (earlier rdbt versions kept it as a second
        // name of the live manifest): overwriting it would change that.
        drop(file);
        std::fs::remove_file(tmp)?;
    }
    std::fs::File::create(tmp)
}

/// Puts the manifest written at `new` in place of the one at `path`,
/// atomically: a reader sees one or the other, whole. The old one is kept
/// at `retired`, for the next write to reuse.
///
/// The two are swapped (`RENAME_EXCHANGE`) rather than renamed over: ext4
/// writes out every block of a file renamed over another before the rename
/// returns (its `auto_da_alloc` guard for programs that never fsync),
/// which took 3–30 ms at 10,000 models and 110–165 ms at 100,000 (a 560 MB
/// manifest). Where swapping is not supported, the old manifest is
/// hard-linked to `retired` and the new one renamed over it.
fn replace(new: &Path, path: &Path, retired: &Path) -> std::io::Result<()> {
    match exchange(new, path) {
        Ok(()) => {
            // `new` names the old manifest now. Losing it only costs the
            // next write its reuse.
            if std::fs::rename(new, retired).is_err() {
                let _ = std::fs::remove_file(new);
            }
            Ok(())
        }
        // No manifest yet: nothing to swap with.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::fs::rename(new, path),
        Err(_) => {
            // Where nothing reuses it (not Linux), the one kept last time
            // is still there.
            let _ = std::fs::remove_file(retired);
            let _ = std::fs::hard_link(path, retired);
            std::fs::rename(new, path)
        }
    }
}

/// Swaps the files at `a` and `b` in one step; both must exist.
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = |p: &Path| {
        std::ffi::CString::new(p.as_os_str().as_bytes())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))
    };
    let (a, b) = (c_path(a)?, c_path(b)?);
    // SAFETY: both are NUL-terminated paths that outlive the call.
    let done = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if done == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn exchange(_: &Path, _: &Path) -> std::io::Result<()> {
    Err(std::io::ErrorKind::Unsupported.into())
}

/// The manifest as one JSON value (small projects, tests).
pub fn manifest_json(parsed: &ParsedProject, dag: &Dag, adapter_type: &str) -> Value {
    let mut buf = Counting {
        inner: Vec::new(),
        written: 0,
    };
    let _ = stream(&mut buf, parsed, dag, adapter_type);
    let buf = buf.inner;
    serde_json::from_slice(&buf).unwrap_or(Value::Null)
}

/// Where the per-invocation values (`invocation_id`, `generated_at`) sit in
/// a written manifest, so an unchanged project's manifest can be refreshed
/// in place instead of rewritten.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct InvocationFields {
    pub invocation_id: String,
    pub invocation_id_offset: u64,
    pub generated_at: String,
    pub generated_at_offset: u64,
    /// The whole manifest's length. The manifest is not fsynced, so after
    /// a system crash it can be shorter than written; then it is written
    /// again instead of refreshed. 0 (in stamps from before it was kept)
    /// checks nothing.
    #[serde(default)]
    pub manifest_len: u64,
}

/// Counts bytes so the writer knows the offsets it wrote at.
struct Counting<W: Write> {
    inner: W,
    written: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Overwrites the invocation id and timestamp of the manifest written with
/// `previous`, byte for byte (both have fixed widths). Returns false, having
/// changed nothing, when the file does not hold `previous`'s values where
/// expected (edited, or written by another command).
pub fn refresh_invocation_fields(
    target_dir: &Path,
    previous: &InvocationFields,
    invocation_id: &str,
    generated_at: &str,
) -> std::io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    if invocation_id.len() != previous.invocation_id.len()
        || generated_at.len() != previous.generated_at.len()
    {
        return Ok(false);
    }
    let mut file = std::fs::File::options()
        .read(true)
        .write(true)
        .open(target_dir.join("manifest.json"))?;
    if previous.manifest_len != 0 && file.metadata()?.len() != previous.manifest_len {
        return Ok(false);
    }
    let fields = [
        (
            previous.invocation_id_offset,
            &previous.invocation_id,
            invocation_id,
        ),
        (
            previous.generated_at_offset,
            &previous.generated_at,
            generated_at,
        ),
    ];
    for (offset, old, _) in fields {
        let mut found = vec![0u8; old.len()];
        file.seek(SeekFrom::Start(offset))?;
        if file.read_exact(&mut found).is_err() || found != old.as_bytes() {
            return Ok(false);
        }
    }
    for (offset, _, new) in fields {
        file.seek(SeekFrom::Start(offset))?;
        file.write_all(new.as_bytes())?;
    }
    Ok(true)
}

fn stream<W: Write + Send>(
    w: &mut Counting<W>,
    parsed: &ParsedProject,
    dag: &Dag,
    adapter_type: &str,
) -> std::io::Result<InvocationFields> {
    w.write_all(b"{")?;
    let step = std::time::Instant::now();
    key(w, "child_map", true)?;
    adjacency(w, dag, petgraph::Direction::Outgoing)?;
    crate::timings::phase("  manifest: child map", step);
    let step = std::time::Instant::now();
    key(w, "disabled", false)?;
    map(
        w,
        parsed
            .disabled
            .values()
            .map(|n| (n.unique_id.as_str(), Value::Array(vec![any_json(n)]))),
    )?;
    key(w, "docs", false)?;
    map(
        w,
        parsed.docs.values().map(|d| {
            (
                d.unique_id.as_str(),
                json!({"name": d.name, "resource_type": "doc", "package_name": d.package_name, "path": d.original_file_path, "original_file_path": d.original_file_path, "unique_id": d.unique_id, "block_contents": d.block_contents}),
            )
        }),
    )?;
    key(w, "exposures", false)?;
    map(
        w,
        parsed
            .nodes
            .values()
            .filter(|n| n.resource_type == ResourceType::Exposure)
            .map(|n| (n.unique_id.as_str(), exposure_json(n))),
    )?;
    for k in ["group_map", "groups"] {
        key(w, k, false)?;
        w.write_all(b"{}")?;
    }
    key(w, "macros", false)?;
    write_macros(w, parsed)?;
    key(w, "metadata", false)?;
    let fields = write_metadata(w, parsed, adapter_type)?;
    key(w, "metrics", false)?;
    w.write_all(b"{}")?;
    key(w, "nodes", false)?;
    w.write_all(b"{")?;
    write_nodes(w, parsed)?;
    w.write_all(b"}")?;
    crate::timings::phase("  manifest: nodes", step);
    key(w, "parent_map", false)?;
    adjacency(w, dag, petgraph::Direction::Incoming)?;
    for k in ["saved_queries", "selectors", "semantic_models"] {
        key(w, k, false)?;
        w.write_all(b"{}")?;
    }
    key(w, "sources", false)?;
    map(
        w,
        parsed
            .nodes
            .values()
            .filter(|n| n.resource_type == ResourceType::Source)
            .map(|n| (n.unique_id.as_str(), source_json(n))),
    )?;
    key(w, "unit_tests", false)?;
    value(w, &parsed.unit_tests)?;
    w.write_all(b"}")?;
    Ok(fields)
}

/// `macros`: every macro with dbt's fields.
fn write_macros<W: Write>(w: &mut W, parsed: &ParsedProject) -> std::io::Result<()> {
    map(
        w,
        parsed.macros.values().map(|m| {
            (
                m.unique_id.as_str(),
                json!({
                    "name": m.name,
                    "resource_type": "macro",
                    "package_name": m.package_name,
                    "path": m.path,
                    "original_file_path": m.original_file_path,
                    "unique_id": m.unique_id,
                    "macro_sql": &*m.macro_sql,
                    "depends_on": {"macros": m.depends_on},
                    "description": m.description,
                    "meta": {},
                    "docs": {"show": true, "node_color": null},
                    "patch_path": null,
                    "arguments": m.arguments,
                    "created_at": 0.0,
                    "supported_languages": null,
                }),
            )
        }),
    )
}

/// `metadata`, and where in the file the invocation's id and time are (so a
/// later command can rewrite them in place).
fn write_metadata<W: Write>(
    w: &mut Counting<W>,
    parsed: &ParsedProject,
    adapter_type: &str,
) -> std::io::Result<InvocationFields> {
    let metadata_offset = w.written;
    let metadata = serde_json::to_vec(&json!({
        "dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json",
        "dbt_version": env!("CARGO_PKG_VERSION"),
        "generated_at": parsed.generated_at,
        "invocation_id": parsed.invocation_id,
        "env": {},
        "project_name": parsed.project_name,
        "project_id": blake3::hash(parsed.project_name.as_bytes()).to_hex()[..32].to_string(),
        "user_id": null,
        "send_anonymous_usage_stats": false,
        "adapter_type": adapter_type,
        "generator": "rdbt",
    }))
    .map_err(std::io::Error::other)?;
    w.write_all(&metadata)?;
    let offset_of = |field: &str, v: &str| -> u64 {
        let needle = format!("\"{field}\":{}", serde_json::Value::from(v));
        let at = find(&metadata, needle.as_bytes()).unwrap_or(0);
        metadata_offset + (at + field.len() + 4) as u64
    };
    let fields = InvocationFields {
        invocation_id: parsed.invocation_id.clone(),
        invocation_id_offset: offset_of("invocation_id", &parsed.invocation_id),
        generated_at: parsed.generated_at.clone(),
        generated_at_offset: offset_of("generated_at", &parsed.generated_at),
        manifest_len: 0,
    };
    Ok(fields)
}

/// The body of `nodes` (every node but sources and exposures), serialized
/// on every core.
fn write_nodes<W: Write + Send>(
    w: &mut Counting<W>,
    parsed: &ParsedProject,
) -> std::io::Result<()> {
    let project_nodes = parsed.nodes.values().filter(|n| {
        !matches!(
            n.resource_type,
            ResourceType::Source | ResourceType::Exposure
        )
    });
    // Most of the manifest is nodes: they are serialized on every core, a
    // window at a time (a few windows' bytes in memory), while a writer
    // thread writes the previous windows in order. Each node is written as
    // `,"id":{...}`; the very first comma is dropped.
    let project_nodes: Vec<&ParsedNode> = project_nodes.map(|n| &**n).collect();
    let out = &mut *w;
    std::thread::scope(|scope| -> std::io::Result<()> {
        let (parts_out, parts_in) = std::sync::mpsc::sync_channel::<Vec<u8>>(WINDOWS_IN_FLIGHT);
        let writer = scope.spawn(move || -> std::io::Result<()> {
            let mut leading_comma = 1;
            for part in parts_in {
                out.write_all(&part[leading_comma..])?;
                leading_comma = 0;
            }
            Ok(())
        });
        let mut serialized = Ok(());
        'windows: for window in project_nodes.chunks(NODE_WINDOW) {
            let parts: Vec<Result<Vec<u8>, crate::json::Error>> = window
                .par_chunks(NODE_CHUNK)
                .map(|chunk| {
                    let mut buf = Vec::with_capacity(chunk.len() * 2048);
                    for n in chunk {
                        buf.push(b',');
                        crate::json::write_str(&mut buf, &n.unique_id);
                        buf.push(b':');
                        crate::json::write(&mut buf, &NodeOut::new(n))?;
                    }
                    Ok(buf)
                })
                .collect();
            for part in parts {
                match part {
                    // A closed channel means the writer failed; it says why.
                    Ok(bytes) => {
                        if parts_out.send(bytes).is_err() {
                            break 'windows;
                        }
                    }
                    Err(e) => {
                        serialized = Err(std::io::Error::other(e));
                        break 'windows;
                    }
                }
            }
        }
        drop(parts_out);
        let written = writer
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the manifest writer stopped")));
        serialized.and(written)
    })
}

/// Nodes serialized per parallel step, and per task within it; how many
/// serialized chunks may wait for the writer.
const NODE_WINDOW: usize = 2048;
const NODE_CHUNK: usize = 256;
const WINDOWS_IN_FLIGHT: usize = 16;

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn key(w: &mut impl Write, k: &str, first: bool) -> std::io::Result<()> {
    if !first {
        w.write_all(b",")?;
    }
    value(w, &k)?;
    w.write_all(b":")
}

fn value(w: &mut impl Write, v: &impl serde::Serialize) -> std::io::Result<()> {
    serde_json::to_writer(&mut *w, v).map_err(std::io::Error::other)
}

/// dbt's `child_map` (`Outgoing`) or `parent_map` (`Incoming`), written
/// straight from the graph, whose nodes are in id order. Serialized on
/// every core in chunks (a few MB in all), then written in order.
fn adjacency(w: &mut impl Write, dag: &Dag, direction: petgraph::Direction) -> std::io::Result<()> {
    let nodes: Vec<petgraph::graph::NodeIndex> = dag.graph.node_indices().collect();
    let parts: Vec<Vec<u8>> = nodes
        .par_chunks(ADJACENCY_CHUNK)
        .map(|chunk| {
            let mut buf = Vec::with_capacity(chunk.len() * 128);
            for &ix in chunk {
                buf.push(b',');
                crate::json::write_str(&mut buf, &dag.graph[ix]);
                buf.extend_from_slice(b":[");
                for (i, neighbor) in dag.neighbors_at(ix, direction).iter().enumerate() {
                    if i > 0 {
                        buf.push(b',');
                    }
                    crate::json::write_str(&mut buf, neighbor);
                }
                buf.push(b']');
            }
            buf
        })
        .collect();
    w.write_all(b"{")?;
    let mut leading_comma = 1;
    for part in parts {
        w.write_all(&part[leading_comma.min(part.len())..])?;
        leading_comma = 0;
    }
    w.write_all(b"}")
}

const ADJACENCY_CHUNK: usize = 1024;

/// A JSON object from already-sorted entries, written as they come.
fn map<'a>(
    w: &mut impl Write,
    entries: impl Iterator<Item = (&'a str, Value)>,
) -> std::io::Result<()> {
    w.write_all(b"{")?;
    for (i, (k, v)) in entries.enumerate() {
        if i > 0 {
            w.write_all(b",")?;
        }
        value(w, &k)?;
        w.write_all(b":")?;
        value(w, &v)?;
    }
    w.write_all(b"}")
}

/// A model's `version`, `latest_version` and `deprecation_date`, as dbt
/// writes them (versions that are numbers as numbers); nulls when the model
/// is not versioned.
fn version_fields(n: &ParsedNode) -> (Value, Value, Value) {
    let Some(v) = &n.version else {
        return (Value::Null, Value::Null, Value::Null);
    };
    let number = |s: &str| {
        s.parse::<i64>()
            .map(Value::from)
            .or_else(|_| s.parse::<f64>().map(Value::from))
            .unwrap_or_else(|_| Value::from(s))
    };
    (
        number(&v.version),
        number(&v.latest),
        v.deprecation_date.clone().map_or(Value::Null, Value::from),
    )
}

/// A node's `docs` property, else its `docs` config (`config: {docs: {show:
/// false}}`, `+docs:` in the project file, `config(docs=...)`), else dbt's
/// default.
fn docs(n: &ParsedNode) -> &Value {
    static DEFAULT: std::sync::LazyLock<Value> =
        std::sync::LazyLock::new(|| json!({"show": true, "node_color": null}));
    n.docs
        .as_ref()
        .or_else(|| n.config.get("docs").filter(|d| d.is_object()))
        .unwrap_or(&DEFAULT)
}

fn any_json(n: &ParsedNode) -> Value {
    match n.resource_type {
        ResourceType::Source => source_json(n),
        ResourceType::Exposure => exposure_json(n),
        _ => node_json(n),
    }
}

fn common(n: &ParsedNode) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("database".into(), json!(n.database));
    m.insert("schema".into(), json!(n.schema));
    m.insert("name".into(), json!(n.name));
    m.insert("resource_type".into(), json!(n.resource_type.as_str()));
    m.insert("package_name".into(), json!(n.package_name));
    m.insert("path".into(), json!(n.path));
    m.insert("original_file_path".into(), json!(n.original_file_path));
    m.insert("unique_id".into(), json!(n.unique_id));
    m.insert("fqn".into(), json!(n.fqn));
    m.insert("description".into(), json!(n.description));
    m.insert(
        "columns".into(),
        serde_json::to_value(&n.columns).unwrap_or_default(),
    );
    m.insert(
        "meta".into(),
        n.config.get("meta").cloned().unwrap_or_else(|| json!({})),
    );
    m.insert("tags".into(), json!(n.tags()));
    m.insert("config".into(), Value::Object((*n.config).clone()));
    m.insert(
        "unrendered_config".into(),
        Value::Object((*n.unrendered_config).clone()),
    );
    m.insert("created_at".into(), json!(0.0));
    m
}

fn node_json(n: &ParsedNode) -> Value {
    let mut m = common(n);
    m.insert("alias".into(), json!(n.alias));
    m.insert(
        "checksum".into(),
        json!({"name": "blake3", "checksum": n.checksum}),
    );
    m.insert(
        "group".into(),
        n.config.get("group").cloned().unwrap_or(Value::Null),
    );
    m.insert("docs".into(), docs(n).clone());
    m.insert("patch_path".into(), json!(n.patch_path));
    m.insert("build_path".into(), Value::Null);
    m.insert("relation_name".into(), json!(n.relation_name));
    m.insert("raw_code".into(), json!(&*n.raw_code));
    m.insert("language".into(), json!(n.language()));
    insert_calls(&mut m, n);
    m.insert("metrics".into(), json!([]));
    m.insert(
        "depends_on".into(),
        json!({"macros": n.macros, "nodes": n.depends_on}),
    );
    m.insert("compiled_path".into(), Value::Null);
    m.insert("contract".into(), json!({"enforced": n.config.get("contract").and_then(|c| c.get("enforced")).and_then(Value::as_bool).unwrap_or(false), "alias_types": true, "checksum": null}));
    if matches!(n.resource_type, ResourceType::Model) {
        m.insert(
            "access".into(),
            n.config
                .get("access")
                .cloned()
                .unwrap_or(json!("protected")),
        );
        m.insert(
            "constraints".into(),
            n.config.get("constraints").cloned().unwrap_or(json!([])),
        );
        let (version, latest, deprecation) = version_fields(n);
        m.insert("version".into(), version);
        m.insert("latest_version".into(), latest);
        m.insert("deprecation_date".into(), deprecation);
    }
    if let Some(code) = &n.compiled_code {
        m.insert("compiled".into(), json!(true));
        m.insert("compiled_code".into(), json!(code));
        m.insert("extra_ctes_injected".into(), json!(true));
        m.insert("extra_ctes".into(), json!([]));
    }
    if let Some(t) = &n.test_metadata {
        m.insert(
            "test_metadata".into(),
            json!({"name": t.name, "kwargs": t.kwargs, "namespace": t.namespace}),
        );
        m.insert("column_name".into(), json!(n.column_name));
        m.insert(
            "file_key_name".into(),
            json!(n.attached_node.as_ref().map(|a| {
                a.split('.').next().unwrap_or("models").to_string()
                    + "s."
                    + n.attached_node
                        .as_deref()
                        .unwrap_or_default()
                        .rsplit('.')
                        .next()
                        .unwrap_or_default()
            })),
        );
        m.insert("attached_node".into(), json!(n.attached_node));
    }
    if n.resource_type == ResourceType::Seed {
        m.insert("root_path".into(), Value::Null);
    }
    Value::Object(m)
}

fn source_json(n: &ParsedNode) -> Value {
    let mut m = common(n);
    if let Some(s) = &n.source {
        m.insert("source_name".into(), json!(s.source_name));
        m.insert("source_description".into(), json!(s.source_description));
        m.insert("loader".into(), json!(s.loader));
        m.insert("identifier".into(), json!(s.identifier));
        m.insert(
            "quoting".into(),
            json!({"database": null, "schema": null, "identifier": null, "column": null}),
        );
        m.insert("loaded_at_field".into(), json!(s.loaded_at_field));
        m.insert("freshness".into(), s.freshness.clone());
        m.insert("external".into(), s.external.clone().unwrap_or(Value::Null));
        m.insert("source_meta".into(), s.meta.clone());
        m.insert("relation_name".into(), json!(n.relation_name));
        m.insert("patch_path".into(), json!(n.patch_path));
        // The ingest block may reference credentials; only its shape is kept.
        m.insert(
            "ingest".into(),
            s.ingest.as_ref().map(redact).unwrap_or(Value::Null),
        );
    }
    Value::Object(m)
}

/// Keeps an `ingest:` block's structure but never a literal secret.
fn redact(v: &Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let secret = [
                        "url",
                        "password",
                        "sasl.password",
                        "token",
                        "keyfile_json",
                        "private_key",
                    ]
                    .contains(&k.as_str());
                    let shown = match v {
                        Value::String(s) if secret && !s.contains("{{") => {
                            Value::String("****".into())
                        }
                        other => redact(other),
                    };
                    (k.clone(), shown)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redact).collect()),
        other => other.clone(),
    }
}

fn exposure_json(n: &ParsedNode) -> Value {
    let mut m = Map::new();
    let e = n.exposure.as_ref();
    m.insert("name".into(), json!(n.name));
    m.insert("resource_type".into(), json!("exposure"));
    m.insert("package_name".into(), json!(n.package_name));
    m.insert("path".into(), json!(n.path));
    m.insert("original_file_path".into(), json!(n.original_file_path));
    m.insert("unique_id".into(), json!(n.unique_id));
    m.insert("fqn".into(), json!(n.fqn));
    m.insert("type".into(), json!(e.map(|e| e.exposure_type.clone())));
    m.insert(
        "owner".into(),
        e.map(|e| e.owner.clone()).unwrap_or(Value::Null),
    );
    m.insert("description".into(), json!(n.description));
    m.insert("label".into(), json!(e.and_then(|e| e.label.clone())));
    m.insert("maturity".into(), json!(e.and_then(|e| e.maturity.clone())));
    m.insert(
        "meta".into(),
        e.map(|e| e.meta.clone()).unwrap_or(json!({})),
    );
    m.insert("tags".into(), json!(n.tags()));
    m.insert("config".into(), Value::Object((*n.config).clone()));
    m.insert("unrendered_config".into(), json!({}));
    m.insert("url".into(), json!(e.and_then(|e| e.url.clone())));
    m.insert(
        "depends_on".into(),
        json!({"macros": [], "nodes": n.depends_on}),
    );
    insert_calls(&mut m, n);
    m.insert("metrics".into(), json!([]));
    m.insert("created_at".into(), json!(0.0));
    if let Some(e) = e {
        for (k, v) in &e.extra {
            m.insert(k.clone(), v.clone());
        }
    }
    Value::Object(m)
}

/// dbt's `refs` and `sources` lists of a node.
fn insert_calls(m: &mut Map<String, Value>, n: &ParsedNode) {
    m.insert(
        "refs".into(),
        Value::Array(
            n.refs
                .iter()
                .map(|r| json!({"name": r.name, "package": r.package, "version": r.version}))
                .collect(),
        ),
    );
    m.insert(
        "sources".into(),
        Value::Array(
            n.sources
                .iter()
                .map(|s| json!([s.source_name, s.table_name]))
                .collect(),
        ),
    );
}

/// A project node as the manifest writes it, borrowing from the parse: the
/// bulk of a manifest, so it is serialized without building JSON values.
/// Same fields as [`node_json`], which serves disabled nodes.
#[derive(serde::Serialize)]
struct NodeOut<'a> {
    database: &'a str,
    schema: &'a str,
    name: &'a str,
    resource_type: &'a str,
    package_name: &'a str,
    path: &'a str,
    original_file_path: &'a str,
    unique_id: &'a str,
    fqn: &'a [String],
    description: &'a str,
    columns: &'a std::collections::BTreeMap<String, Box<crate::compile::ColumnInfo>>,
    meta: &'a Value,
    tags: Vec<&'a str>,
    config: &'a Map<String, Value>,
    unrendered_config: &'a Map<String, Value>,
    created_at: f64,
    alias: &'a str,
    checksum: Checksum<'a>,
    group: &'a Value,
    docs: &'a Value,
    patch_path: &'a Option<String>,
    build_path: Option<()>,
    relation_name: &'a Option<String>,
    raw_code: &'a str,
    language: &'a str,
    refs: Vec<RefOut<'a>>,
    sources: Vec<[&'a str; 2]>,
    metrics: [(); 0],
    depends_on: DependsOn<'a>,
    compiled_path: Option<()>,
    contract: Contract,
    #[serde(skip_serializing_if = "Option::is_none")]
    access: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    constraints: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    latest_version: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    deprecation_date: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    compiled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    compiled_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    extra_ctes_injected: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    extra_ctes: Option<[(); 0]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    test_metadata: Option<TestMetadataOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    column_name: Option<&'a Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file_key_name: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    attached_node: Option<&'a Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    root_path: Option<Option<()>>,
    /// rdbt's static analysis: output columns with their types, in order.
    #[serde(skip_serializing_if = "Option::is_none")]
    inferred_columns: Option<Vec<Value>>,
    /// rdbt's static analysis: per output column, the upstream columns it
    /// derives from and how.
    #[serde(skip_serializing_if = "Option::is_none")]
    column_lineage:
        Option<&'a std::collections::BTreeMap<String, Vec<crate::sql::analysis::ColumnSource>>>,
}

impl<'a> NodeOut<'a> {
    fn new(n: &'a ParsedNode) -> Self {
        let is_model = n.resource_type == ResourceType::Model;
        let test = n.test_metadata.as_ref();
        NodeOut {
            database: &n.database,
            schema: &n.schema,
            name: &n.name,
            resource_type: n.resource_type.as_str(),
            package_name: &n.package_name,
            path: &n.path,
            original_file_path: &n.original_file_path,
            unique_id: &n.unique_id,
            fqn: &n.fqn,
            description: &n.description,
            columns: &n.columns,
            meta: n.config.get("meta").unwrap_or(&EMPTY_OBJECT),
            tags: n.config.tag_strs(),
            config: &n.config,
            unrendered_config: &n.unrendered_config,
            created_at: 0.0,
            alias: &n.alias,
            checksum: Checksum {
                checksum: &n.checksum,
                name: "blake3",
            },
            group: n.config.get("group").unwrap_or(&Value::Null),
            docs: docs(n),
            patch_path: &n.patch_path,
            build_path: None,
            relation_name: &n.relation_name,
            raw_code: &n.raw_code,
            language: n.language(),
            refs: n
                .refs
                .iter()
                .map(|r| RefOut {
                    name: &r.name,
                    package: &r.package,
                    version: &r.version,
                })
                .collect(),
            sources: n
                .sources
                .iter()
                .map(|s| [s.source_name.as_str(), s.table_name.as_str()])
                .collect(),
            metrics: [],
            depends_on: DependsOn {
                macros: &n.macros,
                nodes: &n.depends_on,
            },
            compiled_path: None,
            contract: Contract {
                alias_types: true,
                checksum: None,
                enforced: n
                    .config
                    .get("contract")
                    .and_then(|c| c.get("enforced"))
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            },
            access: is_model.then(|| n.config.get("access").unwrap_or(&PROTECTED)),
            constraints: is_model.then(|| n.config.get("constraints").unwrap_or(&EMPTY_ARRAY)),
            version: is_model.then(|| version_fields(n).0),
            latest_version: is_model.then(|| version_fields(n).1),
            deprecation_date: is_model.then(|| version_fields(n).2),
            compiled: n.compiled_code.as_ref().map(|_| true),
            compiled_code: n.compiled_code.as_deref(),
            inferred_columns: n.inferred.as_ref().map(|m| {
                m.columns
                    .iter()
                    .map(|(name, t)| json!({"name": name, "data_type": t}))
                    .collect()
            }),
            column_lineage: n.inferred.as_ref().map(|m| &m.lineage),
            extra_ctes_injected: n.compiled_code.as_ref().map(|_| true),
            extra_ctes: n.compiled_code.as_ref().map(|_| []),
            test_metadata: test.map(|t| TestMetadataOut {
                kwargs: &t.kwargs,
                name: &t.name,
                namespace: &t.namespace,
            }),
            column_name: test.map(|_| &n.column_name),
            file_key_name: test.map(|_| {
                n.attached_node.as_ref().map(|a| {
                    [
                        a.split('.').next().unwrap_or("model"),
                        "s.",
                        a.rsplit('.').next().unwrap_or_default(),
                    ]
                    .concat()
                })
            }),
            attached_node: test.map(|_| &n.attached_node),
            root_path: (n.resource_type == ResourceType::Seed).then_some(None),
        }
    }
}

// The nested objects of a node, borrowed from it. Their fields are declared
// in key order: that is the order `json!` maps write, and the manifest's
// bytes must not depend on which of the two wrote them.

static EMPTY_OBJECT: std::sync::LazyLock<Value> = std::sync::LazyLock::new(|| json!({}));
static EMPTY_ARRAY: Value = Value::Array(Vec::new());
static PROTECTED: std::sync::LazyLock<Value> = std::sync::LazyLock::new(|| json!("protected"));

#[derive(serde::Serialize)]
struct Checksum<'a> {
    checksum: &'a str,
    name: &'static str,
}

#[derive(serde::Serialize)]
struct RefOut<'a> {
    name: &'a str,
    package: &'a Option<String>,
    version: &'a Option<String>,
}

#[derive(serde::Serialize)]
struct DependsOn<'a> {
    macros: &'a [String],
    nodes: &'a [String],
}

#[derive(serde::Serialize)]
struct Contract {
    alias_types: bool,
    checksum: Option<()>,
    enforced: bool,
}

#[derive(serde::Serialize)]
struct TestMetadataOut<'a> {
    kwargs: &'a crate::compile::TestKwargs,
    name: &'a str,
    namespace: &'a Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(target: &Path, invocation_id: &str) -> String {
        let parsed = ParsedProject {
            invocation_id: invocation_id.to_string(),
            ..Default::default()
        };
        let dag = Dag {
            graph: petgraph::graph::DiGraph::new(),
        };
        write_manifest(target, &parsed, &dag, "datafusion").expect("manifest written");
        std::fs::read_to_string(target.join("manifest.json")).expect("manifest read")
    }

    #[test]
    fn each_write_replaces_the_manifest_and_keeps_only_the_one_before() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("target");
        let first = written(&target, "first");
        assert!(first.contains("\"invocation_id\":\"first\""));
        assert!(!target.join(RETIRED_MANIFEST).exists());

        let second = written(&target, "second");
        assert!(second.contains("\"invocation_id\":\"second\""));
        let kept = std::fs::read_to_string(target.join(RETIRED_MANIFEST)).expect("kept");
        assert_eq!(kept, first);

        let third = written(&target, "third");
        assert!(third.contains("\"invocation_id\":\"third\""));
        let kept = std::fs::read_to_string(target.join(RETIRED_MANIFEST)).expect("kept");
        assert_eq!(kept, second);
        // A kept manifest with another name too is left as it is.
        let elsewhere = dir.path().join("elsewhere.json");
        std::fs::hard_link(target.join(RETIRED_MANIFEST), &elsewhere).expect("link");
        let fourth = written(&target, "fourth");
        assert!(fourth.contains("\"invocation_id\":\"fourth\""));
        assert_eq!(std::fs::read_to_string(&elsewhere).expect("read"), second);
        let kept = std::fs::read_to_string(target.join(RETIRED_MANIFEST)).expect("kept");
        assert_eq!(kept, third);
        written(&target, "fifth");
        assert_eq!(std::fs::read_to_string(&elsewhere).expect("read"), second);
        let names: Vec<String> = std::fs::read_dir(&target)
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 2, "no temporary file is left: {names:?}");
    }

    #[test]
    fn a_manifest_shorter_than_written_is_not_refreshed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("target");
        let parsed = ParsedProject {
            invocation_id: "a".repeat(36),
            generated_at: "2026-12-04T00:00:00.000000Z".into(),
            ..Default::default()
        };
        let dag = Dag {
            graph: petgraph::graph::DiGraph::new(),
        };
        let fields = write_manifest(&target, &parsed, &dag, "datafusion").expect("written");
        let path = target.join("manifest.json");
        assert_eq!(
            fields.manifest_len,
            std::fs::metadata(&path).expect("len").len()
        );
        let (id, at) = ("b".repeat(36), "2026-12-05T00:00:00.000000Z");
        assert!(refresh_invocation_fields(&target, &fields, &id, at).expect("refreshed"));
        let refreshed = std::fs::read_to_string(&path).expect("read");
        assert!(refreshed.contains(&id) && refreshed.contains(at));

        let fields = InvocationFields {
            invocation_id: id,
            generated_at: at.to_string(),
            ..fields
        };
        let file = std::fs::File::options()
            .write(true)
            .open(&path)
            .expect("open");
        file.set_len(fields.manifest_len - 1).expect("truncate");
        let (id, at) = ("c".repeat(36), "2026-12-06T00:00:00.000000Z");
        assert!(!refresh_invocation_fields(&target, &fields, &id, at).expect("checked"));
    }
}
