//! Property YAML (`version: 2`): models, sources, seeds, snapshots,
//! analyses, exposures, macros, unit tests and their columns and data tests.
//! Reading only; attaching patches to nodes happens in `compile/`.

use super::config::{Config, normalize_key};
use crate::diagnostics::{Diagnostic, Diagnostics, codes};
use crate::yaml::{self, MapReader, Mark, Node, SourceFile};
use serde_json::Value;
use std::sync::Arc;

/// Where a YAML definition was written.
#[derive(Debug, Clone)]
pub struct Origin {
    pub file: Arc<SourceFile>,
    pub mark: Mark,
}

/// A data test as written: `unique`, `{accepted_values: {values: [...]}}`,
/// `{name: x, test_name: y, ...}`, or `dbt_utils.expression_is_true`.
#[derive(Debug, Clone)]
pub struct TestDef {
    /// The generic test, possibly namespaced (`dbt_utils.at_least_one`).
    pub test_name: String,
    /// An explicit node name (`name:`), if given.
    pub custom_name: Option<String>,
    pub args: serde_json::Map<String, Value>,
    pub config: Config,
    pub origin: Origin,
}

#[derive(Debug, Clone)]
pub struct ColumnDef {
    pub name: String,
    pub description: String,
    pub data_type: Option<String>,
    pub meta: Value,
    pub tags: Vec<String>,
    pub quote: Option<bool>,
    pub constraints: Vec<Value>,
    pub tests: Vec<TestDef>,
    pub origin: Origin,
}

/// The YAML description of a model, seed, snapshot or analysis.
#[derive(Debug, Clone)]
pub struct NodePatch {
    /// `models`, `seeds`, `snapshots` or `analyses`.
    pub kind: String,
    pub name: String,
    pub description: String,
    pub config: Config,
    pub columns: Vec<ColumnDef>,
    pub tests: Vec<TestDef>,
    pub docs: Value,
    pub origin: Origin,
    pub package: String,
    /// For one version of a versioned model (`versions:`): which. The patch
    /// is then keyed by the version's file (`defined_in`, else
    /// `<model>_v<v>`) and holds the model's YAML with the version's own
    /// config, columns and tests applied.
    pub version: Option<Box<ModelVersion>>,
}

/// A snapshot whose YAML names the relation it records.
#[derive(Debug, Clone)]
pub struct YamlSnapshot {
    pub name: String,
    /// `ref('orders')` or `source('shop', 'orders')`, as written.
    pub relation: String,
    /// Where `relation`'s value starts in the file.
    pub origin: Origin,
}

/// One version of a versioned model.
#[derive(Debug, Clone)]
pub struct ModelVersion {
    /// The model's name (every version shares it).
    pub model: String,
    /// `v` as written (`1`, `2`, `3a`).
    pub version: String,
    /// `latest_version`, else the greatest `v`.
    pub latest: String,
    pub deprecation_date: Option<String>,
}

#[derive(Debug, Clone)]
pub struct SourceTableDef {
    pub source_name: String,
    pub name: String,
    pub identifier: Option<String>,
    pub schema: Option<String>,
    pub database: Option<String>,
    pub description: String,
    pub source_description: String,
    pub loader: String,
    pub loaded_at_field: Option<String>,
    pub freshness: Value,
    pub columns: Vec<ColumnDef>,
    pub tests: Vec<TestDef>,
    pub meta: Value,
    pub tags: Vec<String>,
    pub config: Config,
    /// `ingest:` (Kafka/Postgres landing), kept verbatim for the ingest path.
    pub ingest: Option<Value>,
    /// `external:` (files in object storage), kept verbatim.
    pub external: Option<Value>,
    pub origin: Origin,
    pub package: String,
}

#[derive(Debug, Clone)]
pub struct ExposureDef {
    pub name: String,
    pub label: Option<String>,
    pub exposure_type: String,
    pub maturity: Option<String>,
    pub url: Option<String>,
    pub description: String,
    pub owner: Value,
    /// `ref('x')` / `source('a', 'b')` strings, rendered in `compile/`.
    pub depends_on: Vec<(String, Mark)>,
    pub meta: Value,
    pub tags: Vec<String>,
    pub config: Config,
    /// Everything else (charts of dashboards-as-code), verbatim.
    pub extra: serde_json::Map<String, Value>,
    pub origin: Origin,
    pub package: String,
}

#[derive(Debug, Clone)]
pub struct MacroPatch {
    pub name: String,
    pub description: String,
    pub arguments: Value,
    pub origin: Origin,
}

#[derive(Debug, Clone)]
pub struct UnitTestDef {
    pub name: String,
    pub model: String,
    pub raw: Value,
    pub origin: Origin,
    pub package: String,
}

/// Everything one package's property files declare.
#[derive(Debug, Default, Clone)]
pub struct Properties {
    pub patches: Vec<NodePatch>,
    /// Snapshots defined in YAML (dbt 1.9's `snapshots:` with `relation:`);
    /// their config, columns and tests are in `patches` under their name.
    pub yaml_snapshots: Vec<YamlSnapshot>,
    pub sources: Vec<SourceTableDef>,
    pub exposures: Vec<ExposureDef>,
    pub macros: Vec<MacroPatch>,
    pub unit_tests: Vec<UnitTestDef>,
}

impl Properties {
    /// Appends what another file declared, after this one's.
    pub fn append(&mut self, other: Properties) {
        self.patches.extend(other.patches);
        self.yaml_snapshots.extend(other.yaml_snapshots);
        self.sources.extend(other.sources);
        self.exposures.extend(other.exposures);
        self.macros.extend(other.macros);
        self.unit_tests.extend(other.unit_tests);
    }
}

/// Reads one property file; problems go to `diags`, and whatever is valid is
/// kept so all problems of a parse are reported together.
pub fn read_property_file(
    file: Arc<SourceFile>,
    package: &str,
    props: &mut Properties,
    diags: &mut Diagnostics,
) {
    let root = match yaml::parse(&file) {
        Ok(Some(root)) => root,
        Ok(None) => return,
        Err(d) => {
            diags.push(d);
            return;
        }
    };
    let mut r = match MapReader::new(&file, &root, "a property file") {
        Ok(r) => r,
        Err(d) => {
            diags.push(d);
            return;
        }
    };
    let reader = PropertyReader {
        file: &file,
        package,
        diags,
    };
    reader.read_all(&mut r, props);
}

struct PropertyReader<'a> {
    file: &'a Arc<SourceFile>,
    package: &'a str,
    diags: &'a mut Diagnostics,
}

impl PropertyReader<'_> {
    fn origin(&self, mark: Mark) -> Origin {
        Origin {
            file: self.file.clone(),
            mark,
        }
    }

    fn read_all(mut self, r: &mut MapReader, props: &mut Properties) {
        r.allow(&[
            "version",
            "semantic_models",
            "metrics",
            "saved_queries",
            "groups",
        ]);
        for (kind, what) in [
            ("models", "an entry of `models`"),
            ("seeds", "an entry of `seeds`"),
            ("snapshots", "an entry of `snapshots`"),
            ("analyses", "an entry of `analyses`"),
        ] {
            let items = match r.seq(kind) {
                Ok(items) => items,
                Err(d) => {
                    self.diags.push(d);
                    continue;
                }
            };
            for item in items {
                if kind == "snapshots"
                    && let Some(relation) = item.get("relation")
                {
                    match (item.get("name").and_then(Node::as_str), relation.as_str()) {
                        (Some(name), Some(text)) => props.yaml_snapshots.push(YamlSnapshot {
                            name: name.to_string(),
                            relation: text.trim().trim_start_matches("{{").trim_end_matches("}}").trim().to_string(),
                            origin: self.origin(relation.mark),
                        }),
                        // A missing name is reported with the entry below.
                        (None, Some(_)) => {}
                        (_, None) => self.diags.push(self.file.error_at(
                            relation.mark,
                            codes::YAML_INVALID,
                            "a snapshot's `relation` must be a string: ref('model') or source('source', 'table')",
                        )),
                    }
                }
                match self.node_patch(kind, what, item) {
                    Ok(p) => props.patches.extend(p),
                    Err(d) => self.diags.push(d),
                }
            }
        }
        self.each(r, "sources", |s, item| {
            s.source(item).map(|tables| props.sources.extend(tables))
        });
        self.each(r, "exposures", |s, item| {
            s.exposure(item).map(|e| props.exposures.push(e))
        });
        self.each(r, "macros", |s, item| {
            s.macro_patch(item).map(|m| props.macros.push(m))
        });
        self.each(r, "unit_tests", |s, item| {
            s.unit_test(item).map(|u| props.unit_tests.push(u))
        });
        let unknown = r.unknown_keys("a property file");
        self.diags.extend(unknown);
    }

    fn each(
        &mut self,
        r: &mut MapReader,
        key: &'static str,
        mut f: impl FnMut(&mut Self, &Node) -> Result<(), Diagnostic>,
    ) {
        match r.seq(key) {
            Ok(items) => {
                for item in items {
                    if let Err(d) = f(self, item) {
                        self.diags.push(d);
                    }
                }
            }
            Err(d) => self.diags.push(d),
        }
    }

    fn config(&mut self, r: &mut MapReader) -> Result<Config, Diagnostic> {
        let mut config = Config::new();
        if let Some(node) = r.map("config")? {
            for (k, key_node, v) in node.entries().into_iter().flatten() {
                if let Some((message, help)) = crate::project::config::unknown_config_key(&k) {
                    self.diags.push(
                        self.file
                            .diagnostic_at(
                                key_node.mark,
                                Diagnostic::warning(codes::UNKNOWN_CONFIG, message),
                            )
                            .with_help(help),
                    );
                }
                config.insert(normalize_key(&k), v.to_json());
            }
        }
        Ok(config)
    }

    /// One entry under `kind`; `what` names it in errors. A versioned model
    /// gives one patch per version.
    fn node_patch(
        &mut self,
        kind: &str,
        what: &str,
        item: &Node,
    ) -> Result<Vec<NodePatch>, Diagnostic> {
        let mut r = MapReader::new(self.file, item, what)?;
        let name = r.required_string("name", what)?;
        let description = r.string("description")?.unwrap_or_default();
        let mut config = self.config(&mut r)?;
        // Top-level shorthands dbt still accepts beside `config:`.
        for key in ["tags", "meta", "docs", "access", "group"] {
            if let Some(v) = r.get(key) {
                config.entry(key.to_string()).or_insert_with(|| v.to_json());
            }
        }
        let columns = self.columns(&mut r)?;
        let tests = self.tests(&mut r)?;
        let docs = r.get("docs").map(Node::to_json).unwrap_or(Value::Null);
        let latest = r.get("latest_version").and_then(Node::as_scalar_string);
        let deprecation_date = r.string("deprecation_date")?;
        let versions = r.seq("versions")?;
        r.allow(&["constraints", "time_spine", "contract"]);
        if kind == "snapshots" {
            r.allow(&["relation"]);
        }
        if let Some(c) = r.get("constraints") {
            config
                .entry("constraints".to_string())
                .or_insert_with(|| c.to_json());
        }
        self.diags
            .extend(r.unknown_keys(format_args!("model `{name}`")));
        let base = NodePatch {
            kind: kind.to_string(),
            name,
            description,
            config,
            columns,
            tests,
            docs,
            origin: self.origin(item.mark),
            package: self.package.to_string(),
            version: None,
        };
        if versions.is_empty() {
            return Ok(vec![base]);
        }
        self.versions(base, versions, latest, deprecation_date)
    }

    /// dbt's model versions: each entry of `versions:` is the model's YAML
    /// with the version's `config` merged over it, its `columns` (`include`
    /// / `exclude` pick among the model's; named ones replace or add), and
    /// the model's tests plus the version's.
    fn versions(
        &mut self,
        base: NodePatch,
        items: &[Node],
        latest: Option<String>,
        deprecation_date: Option<String>,
    ) -> Result<Vec<NodePatch>, Diagnostic> {
        let mut read = Vec::new();
        for item in items {
            let what = "an entry of `versions`";
            let mut r = MapReader::new(self.file, item, what)?;
            let v = r.get("v").and_then(Node::as_scalar_string).ok_or_else(|| {
                self.file.error_at(
                    item.mark,
                    codes::YAML_INVALID,
                    format!(
                        "{what} of model `{}` is missing the required key `v`",
                        base.name
                    ),
                )
            })?;
            let defined_in = r.string("defined_in")?;
            let config = self.config(&mut r)?;
            let description = r.string("description")?;
            let version_deprecation = r.string("deprecation_date")?;
            let mut include: Option<Vec<String>> = None;
            let mut exclude: Vec<String> = Vec::new();
            let mut named = Vec::new();
            for column in r.seq("columns")? {
                if let Some(inc) = column.get("include") {
                    include = match inc.as_str() {
                        Some("all" | "*") => None,
                        _ => Some(yaml::string_list(self.file, "include", inc)?),
                    };
                    if let Some(ex) = column.get("exclude") {
                        exclude = yaml::string_list(self.file, "exclude", ex)?;
                    }
                } else {
                    named.push(self.column(column)?);
                }
            }
            let tests = self.tests(&mut r)?;
            r.allow(&["docs", "constraints", "access", "group", "contract"]);
            self.diags
                .extend(r.unknown_keys(format_args!("version {v} of model `{}`", base.name)));
            let mut columns: Vec<ColumnDef> = base
                .columns
                .iter()
                .filter(|c| include.as_ref().is_none_or(|i| i.contains(&c.name)))
                .filter(|c| !exclude.contains(&c.name))
                .filter(|c| !named.iter().any(|n: &ColumnDef| n.name == c.name))
                .cloned()
                .collect();
            columns.extend(named);
            let mut merged = base.config.clone();
            for (k, v) in config {
                merged.insert(k, v);
            }
            let mut all_tests = base.tests.clone();
            all_tests.extend(tests);
            read.push((
                v,
                defined_in,
                merged,
                description,
                version_deprecation,
                columns,
                all_tests,
                item.mark,
            ));
        }
        // dbt: `latest_version`, else the greatest version (numbers compared
        // as numbers).
        let latest = latest.unwrap_or_else(|| {
            read.iter()
                .map(|r| r.0.clone())
                .max_by(|a, b| match (a.parse::<f64>(), b.parse::<f64>()) {
                    (Ok(x), Ok(y)) => x.total_cmp(&y),
                    _ => a.cmp(b),
                })
                .unwrap_or_default()
        });
        Ok(read
            .into_iter()
            .map(
                |(v, defined_in, config, description, dep, columns, tests, mark)| NodePatch {
                    kind: base.kind.clone(),
                    name: defined_in.unwrap_or_else(|| format!("{}_v{v}", base.name)),
                    description: description.unwrap_or_else(|| base.description.clone()),
                    config,
                    columns,
                    tests,
                    docs: base.docs.clone(),
                    origin: self.origin(mark),
                    package: base.package.clone(),
                    version: Some(Box::new(ModelVersion {
                        model: base.name.clone(),
                        version: v,
                        latest: latest.clone(),
                        deprecation_date: dep.or_else(|| deprecation_date.clone()),
                    })),
                },
            )
            .collect())
    }

    fn columns(&mut self, r: &mut MapReader) -> Result<Vec<ColumnDef>, Diagnostic> {
        let mut out = Vec::new();
        for item in r.seq("columns")? {
            out.push(self.column(item)?);
        }
        // Kept until the parse ends, for tens of thousands of models: a
        // grown list holds up to twice its columns.
        out.shrink_to_fit();
        Ok(out)
    }

    fn column(&mut self, item: &Node) -> Result<ColumnDef, Diagnostic> {
        {
            let mut c = MapReader::new(self.file, item, "a column entry")?;
            let name = c.required_string("name", "a column entry")?;
            let description = c.string("description")?.unwrap_or_default();
            let data_type = c.string("data_type")?;
            let meta = c
                .get("meta")
                .map(Node::to_json)
                .unwrap_or(Value::Object(Default::default()));
            let tags = c.string_list("tags")?;
            let quote = c.bool("quote")?;
            let constraints = c.seq("constraints")?.iter().map(Node::to_json).collect();
            let tests = self.tests(&mut c)?;
            c.allow(&[
                "config",
                "granularity",
                "policy_tags",
                "docs",
                "dimension",
                "entity",
            ]);
            self.diags
                .extend(c.unknown_keys(format_args!("column `{name}`")));
            Ok(ColumnDef {
                name,
                description,
                data_type,
                meta,
                tags,
                quote,
                constraints,
                tests,
                origin: self.origin(item.mark),
            })
        }
    }

    /// `tests:` and `data_tests:` (dbt 1.8's name) both hold data tests.
    fn tests(&mut self, r: &mut MapReader) -> Result<Vec<TestDef>, Diagnostic> {
        let mut out = Vec::new();
        for key in ["data_tests", "tests"] {
            for item in r.seq(key)? {
                out.push(self.test(item)?);
            }
        }
        // Most columns have one or two tests; a first push reserves four.
        out.shrink_to_fit();
        Ok(out)
    }

    fn test(&mut self, item: &Node) -> Result<TestDef, Diagnostic> {
        let origin = self.origin(item.mark);
        if let Some(name) = item.as_str() {
            return Ok(TestDef {
                test_name: name.to_string(),
                custom_name: None,
                args: Default::default(),
                config: Config::new(),
                origin,
            });
        }
        let entries: Vec<_> = item.entries().into_iter().flatten().collect();
        let bad = || {
            self.file
                .error_at(item.mark, codes::YAML_INVALID, "a data test must be a name (`- unique`) or a mapping with one test name (`- accepted_values: {values: [...]}`)")
        };
        // `{name: custom, test_name: accepted_values, ...}` form.
        let (test_name, body) = if item.get("test_name").is_some() {
            (
                item.get("test_name")
                    .and_then(Node::as_scalar_string)
                    .ok_or_else(bad)?,
                item,
            )
        } else if entries.len() == 1 {
            let (name, _, body) = &entries[0];
            (name.clone(), *body)
        } else {
            return Err(bad());
        };
        let mut args = serde_json::Map::new();
        let mut config = Config::new();
        let mut custom_name = None;
        if let Some(body_entries) = body.entries() {
            for (key, _, value) in body_entries {
                match key.as_str() {
                    "test_name" => {}
                    "name" => custom_name = value.as_scalar_string(),
                    "config" => {
                        for (k, _, v) in value.entries().into_iter().flatten() {
                            config.insert(normalize_key(&k), v.to_json());
                        }
                    }
                    "arguments" => {
                        for (k, _, v) in value.entries().into_iter().flatten() {
                            args.insert(k, v.to_json());
                        }
                    }
                    "severity" | "error_if" | "warn_if" | "where" | "limit" | "store_failures"
                    | "store_failures_as" | "tags" | "enabled" | "meta" | "fail_calc" => {
                        config.insert(key.clone(), value.to_json());
                    }
                    _ => {
                        args.insert(key, value.to_json());
                    }
                }
            }
        } else if !body.is_null() {
            return Err(bad());
        }
        Ok(TestDef {
            test_name,
            custom_name,
            args,
            config,
            origin,
        })
    }

    fn source(&mut self, item: &Node) -> Result<Vec<SourceTableDef>, Diagnostic> {
        let mut r = MapReader::new(self.file, item, "a source entry")?;
        let source_name = r.required_string("name", "a source entry")?;
        let source_description = r.string("description")?.unwrap_or_default();
        let schema = r.string("schema")?.or_else(|| Some(source_name.clone()));
        let database = r.string("database")?.or(r.string("project")?);
        let loader = r.string("loader")?.unwrap_or_default();
        let source_loaded_at = r.string("loaded_at_field")?;
        let source_freshness = r.get("freshness").map(Node::to_json);
        let source_meta = r.get("meta").map(Node::to_json);
        let source_tags = r.string_list("tags")?;
        let source_config = self.config(&mut r)?;
        let mut tables = Vec::new();
        for t in r.seq("tables")? {
            let mut tr = MapReader::new(self.file, t, "a source table entry")?;
            let name = tr.required_string("name", "a source table entry")?;
            let mut config = source_config.clone();
            super::config::merge_into(&mut config, &self.config(&mut tr)?);
            let mut tags = source_tags.clone();
            tags.extend(tr.string_list("tags")?);
            let table = SourceTableDef {
                source_name: source_name.clone(),
                identifier: tr.string("identifier")?,
                schema: schema.clone(),
                database: database.clone(),
                description: tr.string("description")?.unwrap_or_default(),
                source_description: source_description.clone(),
                loader: loader.clone(),
                loaded_at_field: tr
                    .string("loaded_at_field")?
                    .or_else(|| source_loaded_at.clone()),
                freshness: tr
                    .get("freshness")
                    .map(Node::to_json)
                    .or_else(|| source_freshness.clone())
                    .unwrap_or(Value::Null),
                columns: self.columns(&mut tr)?,
                tests: self.tests(&mut tr)?,
                meta: tr
                    .get("meta")
                    .map(Node::to_json)
                    .or_else(|| source_meta.clone())
                    .unwrap_or(Value::Object(Default::default())),
                tags,
                config,
                ingest: tr.get("ingest").map(Node::to_json),
                external: tr.get("external").map(Node::to_json),
                origin: self.origin(t.mark),
                name,
                package: self.package.to_string(),
            };
            tr.allow(&["quoting", "loader", "docs"]);
            self.diags.extend(tr.unknown_keys(format_args!(
                "source table `{}.{}`",
                source_name, table.name
            )));
            tables.push(table);
        }
        r.allow(&["quoting", "overrides", "docs"]);
        self.diags
            .extend(r.unknown_keys(format_args!("source `{source_name}`")));
        Ok(tables)
    }

    fn exposure(&mut self, item: &Node) -> Result<ExposureDef, Diagnostic> {
        let mut r = MapReader::new(self.file, item, "an exposure entry")?;
        let name = r.required_string("name", "an exposure entry")?;
        let exposure_type = r.required_string("type", &format!("exposure `{name}`"))?;
        const TYPES: &[&str] = &["dashboard", "notebook", "analysis", "ml", "application"];
        if !TYPES.contains(&exposure_type.as_str()) {
            let mark = item.get("type").map(|n| n.mark).unwrap_or(item.mark);
            return Err(self.file.error_at(
                mark,
                codes::YAML_INVALID,
                format!(
                    "exposure type `{exposure_type}` is not one of {}",
                    TYPES.join(", ")
                ),
            ));
        }
        let depends_on = r
            .seq("depends_on")?
            .iter()
            .map(|n| {
                n.as_scalar_string().map(|s| (s, n.mark)).ok_or_else(|| {
                    self.file.error_at(
                        n.mark,
                        codes::YAML_INVALID,
                        "`depends_on` entries must be strings like \"ref('model')\"",
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let config = self.config(&mut r)?;
        let def = ExposureDef {
            label: r.string("label")?,
            maturity: r.string("maturity")?,
            url: r.string("url")?,
            description: r.string("description")?.unwrap_or_default(),
            owner: r.get("owner").map(Node::to_json).unwrap_or(Value::Null),
            meta: r
                .get("meta")
                .map(Node::to_json)
                .unwrap_or(Value::Object(Default::default())),
            tags: r.string_list("tags")?,
            depends_on,
            config,
            extra: item
                .entries()
                .into_iter()
                .flatten()
                .filter(|(k, _, _)| {
                    ![
                        "name",
                        "label",
                        "type",
                        "maturity",
                        "url",
                        "description",
                        "owner",
                        "meta",
                        "tags",
                        "depends_on",
                        "config",
                    ]
                    .contains(&k.as_str())
                })
                .map(|(k, _, v)| (k, v.to_json()))
                .collect(),
            origin: self.origin(item.mark),
            package: self.package.to_string(),
            exposure_type,
            name,
        };
        Ok(def)
    }

    fn macro_patch(&mut self, item: &Node) -> Result<MacroPatch, Diagnostic> {
        let mut r = MapReader::new(self.file, item, "a macro entry")?;
        let name = r.required_string("name", "a macro entry")?;
        let description = r.string("description")?.unwrap_or_default();
        let arguments = r
            .get("arguments")
            .map(Node::to_json)
            .unwrap_or(Value::Array(vec![]));
        r.allow(&["docs", "meta"]);
        self.diags
            .extend(r.unknown_keys(format_args!("macro `{name}`")));
        Ok(MacroPatch {
            name,
            description,
            arguments,
            origin: self.origin(item.mark),
        })
    }

    fn unit_test(&mut self, item: &Node) -> Result<UnitTestDef, Diagnostic> {
        let mut r = MapReader::new(self.file, item, "a unit test entry")?;
        let name = r.required_string("name", "a unit test entry")?;
        let model = r.required_string("model", &format!("unit test `{name}`"))?;
        Ok(UnitTestDef {
            name,
            model,
            raw: item.to_json(),
            origin: self.origin(item.mark),
            package: self.package.to_string(),
        })
    }
}
