//! `rdbt docs generate` and `rdbt docs serve`. Generating asks the
//! warehouse for the catalog and the dashboards' data (the build path);
//! the site itself is made from the artifacts alone (`docs/`).

use crate::adapters::{Adapter, CatalogRequest};
use crate::cli::EXIT_OK;
use crate::cli::args::{DocsGenerateArgs, DocsServeArgs, GlobalArgs};
use crate::cli::printer::Out;
use crate::cli::session::{Failure, Session};
use crate::compile::node_config::Materialization;
use crate::compile::{ParsedNode, ParsedProject};
use crate::diagnostics::{Diagnostic, codes};
use crate::docs::charts::{self, ChartSpec};
use crate::project::ResourceType;
use serde_json::{Map, Value, json};

pub fn generate(g: &GlobalArgs, args: &DocsGenerateArgs) -> Result<u8, Failure> {
    let session = Session::open(g)?;
    let mut p = session.parse()?;
    let (runtime, adapter) = super::connect::attach_reader(&session, &p)?;
    // Charts are checked before anything is written: a typo in one must not
    // leave a site that silently lacks it.
    let dashboards = chart_specs(&p.parsed).map_err(|d| session.fail(d))?;
    if !args.no_compile {
        let ids: Vec<String> = p.parsed.nodes.keys().cloned().collect();
        crate::compile::compile_nodes(&p.compiler, &mut p.parsed, &ids)
            .map_err(|d| session.report(d))?;
        crate::compile::static_analysis::analyze(
            &p.compiler,
            &mut p.parsed,
            &ids,
            session.static_analysis,
        )
        .map_err(|d| session.report(d))?;
    }
    session.write_manifest(&p)?;
    let target = session.project.target_dir();
    let invocation_id = p.compiler.world.invocation_id.clone();
    let generated_at = chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string();

    let (entries, errors) = if args.empty_catalog {
        (Vec::new(), Vec::new())
    } else {
        let catalog = runtime
            .block_on(adapter.catalog(&catalog_requests(&p.parsed)))
            .map_err(|e| session.fail(super::connect::diagnostic(&e)))?;
        (catalog.entries, catalog.errors)
    };
    for e in &errors {
        session
            .printer
            .diagnostics(&[Diagnostic::warning(codes::USAGE, format!("catalog: {e}"))]);
    }
    let catalog = crate::artifacts::catalog_json(&entries, &errors, &invocation_id, &generated_at);
    write_json(&session, &target.join("catalog.json"), &catalog)?;
    session.printer.info(&format!(
        "Catalog written to {} ({} relations)",
        target.join("catalog.json").display(),
        entries.len()
    ));

    let data = if args.empty_catalog {
        Map::new()
    } else {
        runtime.block_on(dashboard_data(
            &session,
            &p.parsed,
            &dashboards,
            adapter.as_ref(),
        ))
    };
    write_json(
        &session,
        &target.join("dashboards.json"),
        &Value::Object(data),
    )?;

    let artifacts =
        crate::docs::Artifacts::read(&target).map_err(|e| session.fail(docs_diagnostic(&e)))?;
    let site = crate::docs::write_site(&artifacts, &target.join("docs"))
        .map_err(|e| session.fail(docs_diagnostic(&e)))?;
    session.printer.info(&format!(
        "Docs site written to {} ({} nodes, {} dashboards); open it from disk or run `rdbt docs serve`",
        site.dir.join("index.html").display(),
        site.nodes,
        site.dashboards
    ));
    std::mem::forget(p);
    Ok(EXIT_OK)
}

pub fn serve(g: &GlobalArgs, args: &DocsServeArgs) -> Result<u8, Failure> {
    let session = Session::open(g)?;
    let site = session.project.target_dir().join("docs");
    if !site.join("index.html").is_file() {
        return Err(session.fail(
            Diagnostic::error(
                codes::USAGE,
                format!("there is no docs site at {}", site.display()),
            )
            .with_help("run `rdbt docs generate` first"),
        ));
    }
    let runtime = session.runtime()?;
    runtime.block_on(async {
        let server = crate::docs::serve(&site, &args.host, args.port)
            .await
            .map_err(|e| session.fail(docs_diagnostic(&e)))?;
        let address = server
            .local_addr()
            .map_err(|e| session.fail(Diagnostic::internal(e.to_string())))?;
        let url = format!("http://{address}/");
        // On stdout, so scripts and tests can read the address.
        session
            .printer
            .output(Out::Note, &format!("Serving docs at {url}"))
            .map_err(|_| Failure::BrokenPipe)?;
        session.printer.info("Press Ctrl+C to exit.");
        if !address.ip().is_loopback() {
            session.printer.diagnostics(&[Diagnostic::warning(
                codes::USAGE,
                format!("the docs site is reachable from the network on {address}"),
            )]);
        }
        if args.browser {
            let _ = std::process::Command::new("xdg-open").arg(&url).spawn();
        }
        tokio::select! {
            _ = server.run() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        Ok::<_, Failure>(())
    })?;
    Ok(EXIT_OK)
}

fn docs_diagnostic(e: &crate::docs::DocsError) -> Diagnostic {
    Diagnostic::error(codes::USAGE, e.to_string()).with_help(e.help())
}

fn write_json(session: &Session, path: &std::path::Path, value: &Value) -> Result<(), Failure> {
    let bytes =
        serde_json::to_vec(value).map_err(|e| session.fail(Diagnostic::internal(e.to_string())))?;
    crate::artifacts::write_artifact(path, &bytes).map_err(|d| session.fail(d))
}

/// Relations the catalog describes: built models, seeds, snapshots, sources.
fn catalogued(parsed: &ParsedProject) -> impl Iterator<Item = &ParsedNode> {
    parsed
        .nodes
        .values()
        .map(|n| &**n)
        .filter(|n| match n.resource_type {
            ResourceType::Model => *n.materialized() != Materialization::Ephemeral,
            ResourceType::Seed | ResourceType::Snapshot | ResourceType::Source => true,
            _ => false,
        })
}

fn catalog_requests(parsed: &ParsedProject) -> Vec<CatalogRequest> {
    catalogued(parsed)
        .map(|n| CatalogRequest {
            unique_id: n.unique_id.clone(),
            database: n.database.clone(),
            schema: n.schema.clone(),
            name: n.alias.clone(),
            column_descriptions: n
                .columns
                .iter()
                .map(|(name, c)| (name.clone(), c.description.clone()))
                .collect(),
        })
        .collect()
}

/// Each dashboard exposure's charts, with the relation each one reads.
type Dashboards = Vec<(String, Vec<(ChartSpec, String)>)>;

fn chart_specs(parsed: &ParsedProject) -> Result<Dashboards, Diagnostic> {
    let mut out = Vec::new();
    for n in parsed.nodes.values() {
        let Some(exposure) = &n.exposure else {
            continue;
        };
        let at = |message: String, help: &str| {
            let text = std::fs::read_to_string(&n.abs_path).unwrap_or_default();
            let line = text
                .lines()
                .position(|l| {
                    l.trim_start().trim_start_matches("- ").trim_start()
                        == format!("name: {}", n.name)
                })
                .map_or(1, |i| i + 1);
            Diagnostic::error(
                codes::YAML_INVALID,
                format!("exposure `{}`: {message}", n.name),
            )
            .at_file_line(&n.abs_path, line, 1)
            .with_help(help.to_string())
        };
        let specs = charts::charts_of(&exposure.extra).map_err(|m| {
            at(
                m,
                "a chart is {title, type: line|bar|heatmap|table, model, columns: [...]}",
            )
        })?;
        if specs.is_empty() {
            continue;
        }
        let mut resolved = Vec::new();
        for spec in specs {
            let target = parsed.nodes.values().find(|m| {
                m.name == spec.model
                    && matches!(
                        m.resource_type,
                        ResourceType::Model | ResourceType::Seed | ResourceType::Snapshot
                    )
            });
            let Some(relation) = target.and_then(|m| m.relation_name.clone()) else {
                return Err(at(
                    format!(
                        "chart `{}` reads model `{}`, which does not exist",
                        spec.title, spec.model
                    ),
                    "name a model, seed or snapshot of the project (`rdbt ls`)",
                ));
            };
            resolved.push((spec, relation));
        }
        out.push((n.unique_id.clone(), resolved));
    }
    Ok(out)
}

/// Runs every chart's query; a chart whose query fails (its model not built
/// yet, a column renamed) carries the error to its page and a warning here.
async fn dashboard_data(
    session: &Session,
    parsed: &ParsedProject,
    dashboards: &Dashboards,
    adapter: &dyn Adapter,
) -> Map<String, Value> {
    let mut out = Map::new();
    for (id, specs) in dashboards {
        let mut charts_out = Vec::new();
        for (spec, relation) in specs {
            let dialect = adapter.dialect();
            let sql = charts::query(spec, relation, &|c| dialect.quote_identifier(c));
            let rows = match adapter.query(&sql, None).await {
                Ok(batches) => crate::adapters::format::to_json(&batches)
                    .and_then(|j| {
                        serde_json::from_str::<Vec<Map<String, Value>>>(&j)
                            .map_err(|e| e.to_string())
                    })
                    .map(|objects| {
                        objects
                            .into_iter()
                            .map(|o| {
                                spec.columns
                                    .iter()
                                    .map(|c| o.get(c).cloned().unwrap_or(Value::Null))
                                    .collect()
                            })
                            .collect()
                    }),
                Err(e) => Err(e.to_string()),
            };
            charts_out.push(match rows {
                Ok(rows) => charts::shape(spec, rows),
                Err(e) => {
                    let name = parsed.nodes.get(id).map_or(id.as_str(), |n| n.name.as_str());
                    session.printer.diagnostics(&[Diagnostic::warning(
                        codes::USAGE,
                        format!("dashboard `{name}`, chart `{}`: {e}", spec.title),
                    )
                    .with_help("build the model first (`rdbt build`), then generate the docs again")]);
                    json!({"title": spec.title, "type": spec.kind.as_str(), "model": spec.model, "error": e})
                }
            });
        }
        out.insert(id.clone(), json!({"charts": charts_out}));
    }
    out
}
