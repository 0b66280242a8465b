//! `rdbt run`, `seed`, `test`, `build` and `retry`: select, open the
//! warehouse as its one writer, execute, print dbt-style progress, and write
//! `run_results.json`, `target/run/` and the manifest.

use crate::cli::args::{GlobalArgs, RunArgs};
use crate::cli::printer::{Event, clock};
use crate::cli::session::{Failure, Session};
use crate::cli::{EXIT_FAILURE, EXIT_OK};
use crate::compile::node_config::Materialization;
use crate::diagnostics::{Diagnostic, codes};
use crate::project::ResourceType;
use crate::run::results::{NodeResult, NodeStatus, run_results_json, summarize};
use crate::run::{RunEvent, RunOptions};
use crate::settings::{LogFormat, LogLevel};
use serde_json::json;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Run,
    Seed,
    Test,
    Snapshot,
    Build,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Run => "run",
            Kind::Seed => "seed",
            Kind::Test => "test",
            Kind::Snapshot => "snapshot",
            Kind::Build => "build",
        }
    }

    fn parse(s: &str) -> Option<Kind> {
        [
            Kind::Run,
            Kind::Seed,
            Kind::Test,
            Kind::Snapshot,
            Kind::Build,
        ]
        .into_iter()
        .find(|k| k.name() == s)
    }

    fn types(self) -> &'static [ResourceType] {
        match self {
            Kind::Run => &[ResourceType::Model],
            Kind::Seed => &[ResourceType::Seed],
            Kind::Test => &[ResourceType::Test, ResourceType::UnitTest],
            Kind::Snapshot => &[ResourceType::Snapshot],
            Kind::Build => &[
                ResourceType::Seed,
                ResourceType::Snapshot,
                ResourceType::Model,
                ResourceType::Test,
                ResourceType::UnitTest,
            ],
        }
    }
}

pub fn run(g: &GlobalArgs, args: &RunArgs, kind: Kind) -> Result<u8, Failure> {
    let session = Session::open(g)?;
    let parse_types = |names: &[String]| -> Result<Vec<ResourceType>, Failure> {
        let mut types = Vec::new();
        for t in names.iter().flat_map(|t| t.split(',')) {
            match ResourceType::parse(t) {
                Some(rt) => types.push(rt),
                None if t == "all" || t == "default" => types.extend(kind.types()),
                None => {
                    return Err(session.fail(
                        Diagnostic::error(codes::USAGE, format!("`{t}` is not a resource type"))
                            .with_help("use model, seed, snapshot, test or unit_test"),
                    ));
                }
            }
        }
        Ok(types)
    };
    let wanted = parse_types(&args.resource_types)?;
    let unwanted = parse_types(&args.exclude_resource_types)?;
    let types: Vec<ResourceType> = kind
        .types()
        .iter()
        .copied()
        .filter(|t| wanted.is_empty() || wanted.contains(t))
        .filter(|t| !unwanted.contains(t))
        .collect();
    let mut parsed = session.parse()?;
    // No kind left (`build --resource-type source`): nothing, not all.
    let selected = if types.is_empty() {
        BTreeSet::new()
    } else {
        session.select(g, &parsed, &types)?
    };
    if args.store_failures {
        // dbt's flag: every test stores its failures unless its own config
        // says otherwise.
        for id in &selected {
            if let Some(node) = parsed.parsed.nodes.get_mut(id)
                && node.resource_type == ResourceType::Test
                && node
                    .config
                    .get("store_failures")
                    .is_none_or(|v| v.is_null())
            {
                let mut config = (*node.config).clone();
                config.insert("store_failures".into(), serde_json::Value::Bool(true));
                node.set_config(std::sync::Arc::new(config)).map_err(|e| {
                    session.fail(Diagnostic::error(
                        codes::INVALID_CONFIG,
                        format!("{e} (in test `{}`)", node.name),
                    ))
                })?;
            }
        }
    }
    execute(&session, g, parsed, selected, args, kind, HashMap::new())
}

/// Re-runs the failed and skipped nodes of the last run, with its command.
pub fn retry(g: &GlobalArgs, args: &RunArgs) -> Result<u8, Failure> {
    let session = Session::open(g)?;
    let path = session.project.target_dir().join("run_results.json");
    let previous: crate::artifacts::RunResults =
        crate::artifacts::results::read(&path).map_err(|e| {
            session.fail(
                Diagnostic::error(codes::USAGE, format!("no previous run to retry: {e}"))
                    .with_help("run `rdbt build` (or run, seed, test) first"),
            )
        })?;
    let kind = previous
        .args
        .pointer("/which")
        .and_then(|v| v.as_str())
        .and_then(Kind::parse)
        .unwrap_or(Kind::Build);
    let ids: BTreeSet<String> = previous
        .results
        .iter()
        .filter(|r| {
            matches!(
                r.status.as_str(),
                "error" | "fail" | "skipped" | "partial success"
            )
        })
        .map(|r| r.unique_id.clone())
        .collect();
    // A microbatch model runs again only its failed batches.
    let retry_batches: RetryBatches = previous
        .results
        .iter()
        .filter(|r| r.status == "error" || r.status == "partial success")
        .filter_map(|r| {
            let windows: Vec<_> = r
                .batch_results
                .as_ref()?
                .failed
                .iter()
                .filter_map(|(start, end)| {
                    let bound = crate::compile::node_config::parse_event_time;
                    Some((bound(start)?, bound(end)?))
                })
                .collect();
            Some((r.unique_id.clone(), windows))
        })
        .filter(|(_, w)| !w.is_empty())
        .collect();
    let parsed = session.parse()?;
    let ids: BTreeSet<String> = ids
        .into_iter()
        .filter(|id| parsed.parsed.nodes.contains_key(id))
        .collect();
    if ids.is_empty() {
        session
            .printer
            .info("Nothing to retry: the last run had no failed or skipped nodes.");
        return Ok(EXIT_OK);
    }
    execute(&session, g, parsed, ids, args, kind, retry_batches)
}

/// Failed microbatch windows by node.
type RetryBatches = HashMap<String, Vec<(chrono::NaiveDateTime, chrono::NaiveDateTime)>>;

/// `--event-time-start`/`--event-time-end`, read and checked.
fn event_time_window(
    session: &Session,
    args: &RunArgs,
) -> Result<(Option<chrono::NaiveDateTime>, Option<chrono::NaiveDateTime>), Failure> {
    let read = |flag: &str, v: &Option<String>| {
        v.as_deref()
            .map(|text| {
                crate::compile::node_config::parse_event_time(text).ok_or_else(|| {
                    session.fail(
                        Diagnostic::error(codes::USAGE, format!("{flag} `{text}` is not a time"))
                            .with_help(
                                "write a UTC date or time: 2024-01-01 or 2024-01-01 06:00:00",
                            ),
                    )
                })
            })
            .transpose()
    };
    let start = read("--event-time-start", &args.event_time_start)?;
    let end = read("--event-time-end", &args.event_time_end)?;
    match (start, end) {
        (None, Some(_)) => Err(session.fail(
            Diagnostic::error(codes::USAGE, "--event-time-end needs --event-time-start")
                .with_help("pass both: --event-time-start 2024-01-01 --event-time-end 2024-02-01"),
        )),
        (Some(s), Some(e)) if s >= e => Err(session.fail(
            Diagnostic::error(
                codes::USAGE,
                format!("--event-time-start ({s}) is not before --event-time-end ({e})"),
            )
            .with_help("the window is [start, end): start must come first"),
        )),
        window => Ok(window),
    }
}

/// `--sample`: `3 days` (back from now: hours, days, months, years) or
/// `{start: 2024-01-01, end: 2024-01-08}`, as dbt 1.10 reads it.
fn sample_window(
    session: &Session,
    args: &RunArgs,
) -> Result<Option<(chrono::NaiveDateTime, chrono::NaiveDateTime)>, Failure> {
    use crate::compile::node_config::{BatchSize, parse_event_time};
    let Some(text) = args.sample.as_deref() else {
        return Ok(None);
    };
    let bad = |why: &str| {
        session.fail(
            Diagnostic::error(codes::USAGE, format!("--sample `{text}`: {why}")).with_help(
                "write a relative window such as `3 days` or `12 hours`, or `{start: 2024-01-01, end: 2024-01-08}`",
            ),
        )
    };
    let now = chrono::Utc::now().naive_utc();
    let window = if text.trim_start().starts_with('{') {
        let map = crate::settings::parse_vars(Some(text)).map_err(|d| bad(&d.message))?;
        let bound = |key: &str| {
            map.get(key).map(|v| {
                let t = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                parse_event_time(&t).ok_or_else(|| bad(&format!("`{key}` is not a date or time")))
            })
        };
        let start = bound("start").ok_or_else(|| bad("it needs a `start`"))??;
        let end = bound("end").transpose()?.unwrap_or(now);
        (start, end)
    } else {
        let mut parts = text.split_whitespace();
        let (Some(n), Some(unit), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("not a number and a unit"));
        };
        let n: i64 = n.parse().map_err(|_| bad("not a number and a unit"))?;
        let size = BatchSize::parse(unit.trim_end_matches('s'))
            .ok_or_else(|| bad("the unit is not hours, days, months or years"))?;
        (size.step(now, -n), now)
    };
    if window.0 >= window.1 {
        return Err(bad("its start is not before its end"));
    }
    Ok(Some(window))
}

fn execute(
    session: &Session,
    g: &GlobalArgs,
    mut p: crate::cli::session::Parsed,
    selected: BTreeSet<String>,
    args: &RunArgs,
    kind: Kind,
    retry_batches: RetryBatches,
) -> Result<u8, Failure> {
    let (event_time_start, event_time_end) = event_time_window(session, args)?;
    let sample = sample_window(session, args)?;
    let settings = &session.settings;
    // Ephemeral models are inlined where used; they never run on their own.
    let ids: BTreeSet<String> = selected
        .into_iter()
        .filter(|id| {
            p.parsed.nodes.get(id).is_some_and(|n| {
                !(n.resource_type == ResourceType::Model
                    && *n.materialized() == Materialization::Ephemeral)
            })
        })
        .collect();
    let started = Instant::now();
    let printer = session.printer.clone();
    print_header(&printer, &crate::cli::session::found_stats(&p.parsed));
    if ids.is_empty() {
        printer.event(
            &Event::new(
                "NothingToDo",
                "Q035",
                LogLevel::Warn,
                "Nothing to do. Try checking your model configs and model specification args",
            )
            .clocked(),
        );
        return Ok(EXIT_OK);
    }
    printer.event(
        &Event::new(
            "ConcurrencyLine",
            "Q027",
            LogLevel::Info,
            &format!(
                "Concurrency: {} threads (target='{}')",
                settings.threads, settings.target.name
            ),
        )
        .data(json!({"num_threads": settings.threads, "target_name": settings.target.name}))
        .clocked(),
    );
    let limit = super::dry_run::max_bytes(session, args.max_bytes.as_deref())?;
    let runtime = session.runtime()?;
    // Signal handlers first: a Ctrl-C during setup must not kill the process.
    let stop = {
        let _inside = runtime.enter();
        interrupted()
    };
    let access = super::connect::Access {
        writer: true,
        max_bytes: limit,
    };
    let adapter = runtime
        .block_on(super::connect::open(
            session,
            &p.compiler,
            &p.parsed,
            access,
        ))
        .map_err(|d| session.fail(d))?;
    if args.defer {
        defer(session, g, args, &runtime, &adapter, &mut p, &ids)?;
    }
    if let Some(exit) = dry_run_gate(session, &runtime, &adapter, &mut p, &ids, args, limit)? {
        return Ok(exit);
    }
    prepare(session, &runtime, &adapter, &mut p, &ids)?;
    session.write_manifest(&p)?;
    let invocation_id = p.compiler.world.invocation_id.clone();
    let options = RunOptions {
        threads: settings.threads,
        full_refresh: args.full_refresh,
        fail_fast: args.fail_fast,
        empty: args.empty,
        tests_gate_children: kind == Kind::Build,
        target_name: settings.target.name.clone(),
        event_time_start,
        event_time_end,
        retry_batches,
        sample,
    };
    let event_printer = printer.clone();
    let progress = progress_bar(&printer, ids.len());
    let bar = progress.clone();
    let on_event: Arc<dyn Fn(RunEvent) + Send + Sync> = Arc::new(move |e| {
        if let (Some(bar), RunEvent::Finish { description, .. }) = (&bar, &e) {
            bar.inc(1);
            bar.set_message(description.clone());
        }
        print_event(&event_printer, &e, bar.as_ref());
    });
    let nodes = p.parsed.nodes.clone();
    let target_dir = session.project.target_dir();
    let hooks = &session.project.root_package().file;
    let input = crate::run::RunInput {
        compiler: p.compiler,
        parsed: p.parsed,
        adapter,
        options,
        on_run_start: hooks.on_run_start.clone(),
        on_run_end: hooks.on_run_end.clone(),
    };
    let output = runtime.block_on(crate::run::execute(input, &p.dag, &ids, on_event, stop));
    if let Some(bar) = &progress {
        bar.finish_and_clear();
    }
    let elapsed = started.elapsed();
    let results = output.results;
    write_run_artifacts(
        session,
        &target_dir,
        &nodes,
        &results,
        &invocation_id,
        elapsed,
        kind,
    )?;
    print_summary(&printer, &nodes, &results, elapsed);
    if let Some(e) = &output.hook_error {
        printer.diagnostics(&[Diagnostic::error(codes::USAGE, e.clone())
            .with_help("fix the hook under on-run-start / on-run-end in the project file")]);
        return Ok(EXIT_FAILURE);
    }
    let failed = results.iter().any(|r| r.status.is_failure())
        || results
            .iter()
            .any(|r| r.message.as_deref() == Some("not run: the run was interrupted"));
    Ok(if failed { EXIT_FAILURE } else { EXIT_OK })
}

/// The run's first lines, as dbt's: the version and what the project holds.
fn print_header(printer: &crate::cli::printer::Printer, stat_line: &str) {
    printer.event(
        &Event::new(
            "MainReportVersion",
            "A001",
            LogLevel::Info,
            &format!("Running with rdbt={}", env!("CARGO_PKG_VERSION")),
        )
        .data(json!({"version": env!("CARGO_PKG_VERSION")}))
        .clocked(),
    );
    printer.event(
        &Event::new(
            "FoundStats",
            "W006",
            LogLevel::Info,
            &format!("Found {stat_line}"),
        )
        .data(json!({"stat_line": stat_line}))
        .clocked(),
    );
}

/// `--dry-run` and `--max-bytes`: estimates what the selected models would
/// read; `Some(exit code)` when the command ends here (a dry run, or a
/// refusal over the limit is an error).
fn dry_run_gate(
    session: &Session,
    runtime: &tokio::runtime::Runtime,
    adapter: &Arc<dyn crate::adapters::Adapter>,
    p: &mut crate::cli::session::Parsed,
    ids: &BTreeSet<String>,
    args: &RunArgs,
    limit: Option<u64>,
) -> Result<Option<u8>, Failure> {
    if args.dry_run || limit.is_some() {
        super::dry_run::require_dry_run(session, adapter.as_ref())?;
        let models: Vec<String> = ids.iter().cloned().collect();
        crate::compile::compile_nodes(&p.compiler, &mut p.parsed, &models)
            .map_err(|d| session.report(d))?;
        let estimate = runtime.block_on(super::dry_run::estimate(
            adapter.as_ref(),
            &p.parsed,
            &models,
        ));
        super::dry_run::print(&session.printer, &estimate)?;
        if let Some(d) = limit.and_then(|l| super::dry_run::over_limit(&estimate, l)) {
            return Err(session.fail(d));
        }
        if args.dry_run {
            return Ok(Some(if estimate.invalid() > 0 {
                EXIT_FAILURE
            } else {
                EXIT_OK
            }));
        }
    }
    Ok(None)
}

/// Before the run: stages the sources the warehouse cannot read in place
/// (only those the selected nodes read), lets templates query the
/// warehouse, and runs the static analysis of the selected nodes.
fn prepare(
    session: &Session,
    runtime: &tokio::runtime::Runtime,
    adapter: &Arc<dyn crate::adapters::Adapter>,
    p: &mut crate::cli::session::Parsed,
    ids: &BTreeSet<String>,
) -> Result<(), Failure> {
    let settings = &session.settings;
    if !adapter.capabilities().reads_sources_in_place {
        let needed = super::sources::sources_read_by(&p.parsed, ids);
        let sources = super::sources::source_tables(settings, &p.parsed, Some(&needed))
            .map_err(|d| session.fail(d))?;
        let report = |line: String| session.printer.info(&line);
        runtime
            .block_on(adapter.stage_sources(&sources, &super::sources::land(settings), &report))
            .map_err(|e| session.fail(super::connect::diagnostic(&e)))?;
    }
    // Templates compiled by the static analysis may query the warehouse.
    let _ = p
        .compiler
        .world
        .warehouse
        .set(crate::run::bridge(adapter, runtime.handle().clone()));
    let analyzed: Vec<String> = ids
        .iter()
        .filter(|id| {
            p.parsed.nodes.get(*id).is_some_and(|n| {
                matches!(
                    n.resource_type,
                    ResourceType::Model | ResourceType::Snapshot | ResourceType::Test
                )
            })
        })
        .cloned()
        .collect();
    crate::compile::static_analysis::analyze(
        &p.compiler,
        &mut p.parsed,
        &analyzed,
        session.static_analysis,
    )
    .map_err(|d| session.report(d))?;
    Ok(())
}

/// A future that resolves on Ctrl-C or SIGTERM. The handlers are installed
/// now, before any work starts, so an early signal is not fatal; must be
/// called inside the runtime.
fn interrupted() -> impl std::future::Future<Output = ()> + Send {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate()).ok();
        let int = signal(SignalKind::interrupt()).ok();
        async move {
            match (term, int) {
                (Some(mut t), Some(mut i)) => {
                    tokio::select! {
                        _ = t.recv() => {},
                        _ = i.recv() => {},
                    }
                }
                (Some(mut t), None) => {
                    t.recv().await;
                }
                (None, Some(mut i)) => {
                    i.recv().await;
                }
                (None, None) => std::future::pending::<()>().await,
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// `left ........ [RIGHT]`, padded as dbt pads it.
fn dotted(left: &str, right: &str) -> String {
    let width: usize = 80;
    let dots = width.saturating_sub(left.chars().count() + 1).max(3);
    format!("{left} {} [{right}]", ".".repeat(dots))
}

/// A progress bar under the log lines, only for a person at a terminal.
fn progress_bar(
    printer: &crate::cli::printer::Printer,
    total: usize,
) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if printer.quiet() || printer.format != LogFormat::Text || !std::io::stdout().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(total as u64),
        indicatif::ProgressDrawTarget::stdout(),
    );
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{bar:40.cyan/blue} {pos}/{len} {elapsed_precise} {wide_msg}",
    ) {
        bar.set_style(style);
    }
    Some(bar)
}

fn print_event(
    printer: &crate::cli::printer::Printer,
    e: &RunEvent,
    bar: Option<&indicatif::ProgressBar>,
) {
    let (name, code, level, line, data) = match e {
        RunEvent::Start {
            index,
            total,
            description,
        } => (
            "LogStartLine",
            "Q011",
            LogLevel::Info,
            dotted(&format!("{index} of {total} START {description}"), "RUN"),
            json!({"description": description, "index": index, "total": total}),
        ),
        RunEvent::Finish {
            index,
            total,
            description,
            result,
        } => {
            let secs = result.execution_time.as_secs_f64();
            let (verb, right) = match result.status {
                NodeStatus::Success => ("OK", format!("{} in {secs:.2}s", result.adapter_message)),
                NodeStatus::Pass => ("PASS", format!("PASS in {secs:.2}s")),
                NodeStatus::Warn => (
                    "WARN",
                    format!("WARN {} in {secs:.2}s", result.failures.unwrap_or(0)),
                ),
                NodeStatus::Fail => (
                    "FAIL",
                    format!("FAIL {} in {secs:.2}s", result.failures.unwrap_or(0)),
                ),
                NodeStatus::Error => ("ERROR", format!("ERROR in {secs:.2}s")),
                NodeStatus::PartialSuccess => (
                    "PARTIAL SUCCESS",
                    format!("PARTIAL SUCCESS ({}) in {secs:.2}s", batches_done(result)),
                ),
                NodeStatus::Skipped => ("SKIP", "SKIP".to_string()),
            };
            let text = match result.status {
                NodeStatus::Success => format!("{index} of {total} OK {}", created(description)),
                NodeStatus::Error => format!("{index} of {total} ERROR creating {description}"),
                NodeStatus::PartialSuccess => {
                    format!("{index} of {total} PARTIAL SUCCESS creating {description}")
                }
                NodeStatus::Skipped => format!(
                    "{index} of {total} {}",
                    skipped(&result.unique_id, description)
                ),
                _ => format!("{index} of {total} {verb} {description}"),
            };
            let resource_type = result.unique_id.split('.').next().unwrap_or_default();
            let (name, code) = match (result.status, resource_type) {
                (NodeStatus::Skipped, _) => ("SkippingDetails", "Q034"),
                (_, "test" | "unit_test") => ("LogTestResult", "Q007"),
                (_, "seed") => ("LogSeedResult", "Q016"),
                (_, "snapshot") => ("LogSnapshotResult", "Q015"),
                _ => ("LogModelResult", "Q012"),
            };
            let level = match result.status {
                NodeStatus::Error | NodeStatus::Fail | NodeStatus::PartialSuccess => {
                    LogLevel::Error
                }
                NodeStatus::Warn => LogLevel::Warn,
                _ => LogLevel::Info,
            };
            (
                name,
                code,
                level,
                dotted(&text, &right),
                json!({
                    "description": description, "index": index, "total": total,
                    "status": result.status.as_str(), "execution_time": secs,
                    "rows_affected": result.rows_affected, "num_failures": result.failures,
                    "message": result.message,
                    "node_info": {"unique_id": result.unique_id, "resource_type": resource_type,
                                  "node_status": result.status.as_str()},
                }),
            )
        }
    };
    match bar {
        // Lines go above the bar so it stays at the bottom.
        Some(bar) if printer.format == LogFormat::Text => {
            if printer.shows(level) {
                bar.println(format!("{}  {line}", clock()));
            }
        }
        _ => printer.event(&Event::new(name, code, level, &line).data(data).clocked()),
    }
}

/// `2/3 batches`: a microbatch model's batches written of those it ran.
fn batches_done(result: &NodeResult) -> String {
    let (done, failed) = result
        .batch_results
        .as_ref()
        .map_or((0, 0), |b| (b.successful.len(), b.failed.len()));
    format!("{done}/{} batches", done + failed)
}

fn created(description: &str) -> String {
    if let Some(rest) = description.strip_prefix("seed file ") {
        format!("loaded seed file {rest}")
    } else {
        format!("created {description}")
    }
}

fn print_summary(
    printer: &crate::cli::printer::Printer,
    nodes: &std::collections::BTreeMap<String, Box<crate::compile::ParsedNode>>,
    results: &[NodeResult],
    elapsed: Duration,
) {
    let s = summarize(results);
    let secs = elapsed.as_secs_f64();
    printer.blank();
    printer.event(
        &Event::new(
            "FinishedRunningStats",
            "E047",
            LogLevel::Info,
            &format!("Finished running {} nodes in {secs:.2}s.", s.total),
        )
        .data(json!({"stat_line": format!("{} nodes", s.total), "execution_time": secs}))
        .clocked(),
    );
    let problems: Vec<&NodeResult> = results
        .iter()
        .filter(|r| {
            matches!(
                r.status,
                NodeStatus::Error
                    | NodeStatus::Fail
                    | NodeStatus::Warn
                    | NodeStatus::PartialSuccess
            )
        })
        .collect();
    let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    let ended = if s.partial_success > 0 {
        format!(
            "Completed with {}, {} and {}:",
            plural(s.error, "error"),
            match s.partial_success {
                1 => "1 partial success".to_string(),
                n => format!("{n} partial successes"),
            },
            plural(s.warn, "warning")
        )
    } else if s.error > 0 {
        format!(
            "Completed with {} and {}:",
            plural(s.error, "error"),
            plural(s.warn, "warning")
        )
    } else if s.warn > 0 {
        format!("Completed with {}:", plural(s.warn, "warning"))
    } else {
        "Completed successfully".to_string()
    };
    printer.event(
        &Event::new("EndOfRunSummary", "Z030", LogLevel::Info, &ended)
            .data(json!({"num_errors": s.error, "num_warnings": s.warn,
                         "num_partial_success": s.partial_success}))
            .clocked(),
    );
    for r in problems {
        let n = nodes.get(&r.unique_id);
        let what = n.map_or_else(
            || r.unique_id.clone(),
            |n| format!("{} {} ({})", n.resource_type, n.name, n.original_file_path),
        );
        let (label, name, code, level) = match r.status {
            NodeStatus::Warn => ("Warning in", "RunResultWarning", "Z021", LogLevel::Warn),
            NodeStatus::Fail => ("Failure in", "RunResultFailure", "Z022", LogLevel::Error),
            _ => (
                r.error.as_ref().map_or("Error", |e| e.label()),
                "RunResultFailure",
                "Z022",
                LogLevel::Error,
            ),
        };
        let label = match r.status {
            NodeStatus::Warn | NodeStatus::Fail => label.to_string(),
            _ => format!("{label} in"),
        };
        let mut node_info = json!({"unique_id": r.unique_id, "node_status": r.status.as_str()});
        if let Some(e) = &r.error {
            node_info["error_code"] = json!(e.code().0);
            node_info["error_kind"] = json!(e.kind());
        }
        if printer.shows(level) {
            printer.blank();
        }
        printer.event(
            &Event::new(name, code, level, &format!("{label} {what}"))
                .data(json!({"node_info": node_info}))
                .clocked(),
        );
        if let Some(m) = &r.message {
            let indented: Vec<String> = m.lines().map(|l| format!("  {l}")).collect();
            let (name, code) = match r.status {
                NodeStatus::Warn => ("RunResultWarningMessage", "Z046"),
                _ => ("RunResultError", "Z024"),
            };
            printer.event(
                &Event::new(name, code, level, &indented.join("\n"))
                    .data(json!({"msg": m, "node_info": node_info}))
                    .clocked(),
            );
        }
    }
    printer.blank();
    let stats = format!(
        "Done. PASS={} WARN={} ERROR={} SKIP={} TOTAL={}",
        s.pass, s.warn, s.error, s.skip, s.total
    );
    printer.event(
        &Event::new("StatsLine", "Z023", LogLevel::Info, &stats)
            .data(
                json!({"stats": {"pass": s.pass, "warn": s.warn, "error": s.error,
                                   "skip": s.skip, "total": s.total}}),
            )
            .clocked(),
    );
}

fn write_run_artifacts(
    session: &Session,
    target_dir: &std::path::Path,
    nodes: &std::collections::BTreeMap<String, Box<crate::compile::ParsedNode>>,
    results: &[NodeResult],
    invocation_id: &str,
    elapsed: Duration,
    kind: Kind,
) -> Result<(), Failure> {
    for r in results {
        let (Some(code), Some(node)) = (&r.compiled_code, nodes.get(&r.unique_id)) else {
            continue;
        };
        let path = crate::compile::compiled_path(&target_dir.join("run_tmp"), node);
        let rel = path
            .strip_prefix(target_dir.join("run_tmp").join("compiled"))
            .map(|p| p.to_path_buf())
            .unwrap_or_default();
        let dest = target_dir.join("run").join(rel);
        crate::artifacts::write_artifact(&dest, code.as_bytes()).map_err(|d| session.fail(d))?;
    }
    let args = serde_json::json!({"which": kind.name(), "threads": session.settings.threads, "target": session.settings.target.name});
    let json = run_results_json(results, invocation_id, elapsed, args);
    let bytes = serde_json::to_vec_pretty(&json).map_err(|e| {
        session.fail(Diagnostic::internal(format!(
            "run_results serialization: {e}"
        )))
    })?;
    crate::artifacts::write_artifact(&target_dir.join("run_results.json"), &bytes)
        .map_err(|d| session.fail(d))
}

/// dbt's `SkippingDetails` line: `SKIP relation schema.name` for what
/// `ref` names (the relation ends the node's description), else `SKIP
/// <resource type> <name>`.
fn skipped(unique_id: &str, description: &str) -> String {
    let resource_type = unique_id.split('.').next().unwrap_or_default();
    let last = description.rsplit(' ').next().unwrap_or(description);
    match resource_type {
        "model" | "seed" | "snapshot" => format!("SKIP relation {last}"),
        other => format!("SKIP {other} {last}"),
    }
}

/// dbt's `--defer`: each model, seed and snapshot that is not selected and
/// that this target lacks (or every one, with `--favor-state`) is read from
/// the state's relation. On the embedded warehouse the state's warehouse
/// folder is attached as the `rdbt_state` catalog.
fn defer(
    session: &Session,
    g: &GlobalArgs,
    args: &RunArgs,
    runtime: &tokio::runtime::Runtime,
    adapter: &Arc<dyn crate::adapters::Adapter>,
    p: &mut crate::cli::session::Parsed,
    ids: &BTreeSet<String>,
) -> Result<(), Failure> {
    let Some(dir) = &g.state else {
        return Ok(());
    };
    let state = crate::graph::PreviousState::load(dir).map_err(|d| session.fail(d))?;
    let embedded = adapter.adapter_type() == "datafusion";
    if embedded {
        let warehouse = args
            .state_warehouse
            .clone()
            .unwrap_or_else(|| dir.join("warehouse"));
        runtime
            .block_on(adapter.attach_state(&warehouse))
            .map_err(|e| session.fail(super::connect::diagnostic(&e)))?;
    }
    let dialect = p.compiler.world.dialect;
    for (id, node) in p.parsed.nodes.iter_mut() {
        if ids.contains(id)
            || !matches!(
                node.resource_type,
                ResourceType::Model | ResourceType::Seed | ResourceType::Snapshot
            )
            || *node.materialized() == Materialization::Ephemeral
        {
            continue;
        }
        let Some((database, schema, name)) = state.relation_of(id) else {
            continue;
        };
        if !args.favor_state {
            let here = runtime
                .block_on(adapter.relation_kind(&node.schema, &node.alias))
                .map_err(|e| session.fail(super::connect::diagnostic(&e)))?;
            if here.is_some() {
                continue;
            }
        }
        node.database = if embedded {
            crate::adapters::STATE_CATALOG.to_string()
        } else {
            database
        };
        node.schema = schema;
        node.alias = name;
        node.relation_name = Some(dialect.relation_name(&node.database, &node.schema, &node.alias));
    }
    Ok(())
}
