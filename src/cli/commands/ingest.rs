//! `rdbt ingest`: lands the selected sources' `ingest:` blocks. Turns the
//! project's source tables into ingest specs, opens the land, and runs one
//! thread per table (so `--follow` serves every topic at once); progress is a
//! bar on a terminal, lines otherwise, JSON lines with `--log-format json`.

use crate::cli::args::{GlobalArgs, IngestArgs};
use crate::cli::printer::Printer;
use crate::cli::session::{Failure, Session};
use crate::cli::{EXIT_ERROR, EXIT_OK};
use crate::compile::ParsedNode;
use crate::diagnostics::{Diagnostic, Location, codes};
use crate::ingest::{
    DeclaredColumn, IngestError, IngestTable, Progress, Stats, TableLand, TableSpec, table_spec,
};
use crate::project::ResourceType;
use crate::settings::LogFormat;
use crate::store::Land;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub fn run(g: &GlobalArgs, args: &IngestArgs) -> Result<u8, Failure> {
    let session = Session::open(g)?;
    let p = session.parse()?;
    let selected = session.select(g, &p, &[ResourceType::Source])?;
    let nodes: Vec<&ParsedNode> = selected
        .iter()
        .filter_map(|id| p.parsed.nodes.get(id).map(|n| &**n))
        .filter(|n| n.source.as_ref().is_some_and(|s| s.ingest.is_some()))
        .collect();
    if nodes.is_empty() {
        return nothing_to_land(&session, g, &p, &selected);
    }
    let mut specs = Vec::new();
    let mut errors = Vec::new();
    for node in &nodes {
        match table_spec(&ingest_table(node), &crate::compile::render_env_string) {
            Ok(spec) => specs.push(spec),
            Err(e) => errors.push(diagnostic(&e, Some(node))),
        }
    }
    if !errors.is_empty() {
        session.printer.diagnostics(&errors);
        return Err(Failure::Reported);
    }
    if args.from_file.is_some() && specs.len() != 1 {
        return Err(session.fail(
            Diagnostic::error(
                codes::USAGE,
                format!(
                    "--from-file lands one table, but {} are selected: {}",
                    specs.len(),
                    specs
                        .iter()
                        .map(TableSpec::display_name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
            .with_help("add --select source:<source>.<table>"),
        ));
    }
    let sample_files = match args.sample {
        Some(customers) => write_samples(&session, &specs, customers)?,
        None => BTreeMap::new(),
    };
    let sample_files = &sample_files;
    if args.replay_quarantine {
        // Only JSON-fed tables have a quarantine.
        specs.retain(|s| s.kafka.is_some() || s.postgres.is_none());
    }

    let runtime = session.runtime()?;
    let land = open_land(&session, &runtime)?;
    let stop = Arc::new(AtomicBool::new(false));
    runtime.spawn(watch_signals(stop.clone()));
    let reporter = Reporter::new(&session.printer);
    let handle = runtime.handle().clone();
    let mode = if args.follow {
        crate::ingest::kafka::Mode::Follow
    } else {
        crate::ingest::kafka::Mode::Once
    };
    let results: Vec<(String, Result<Stats, IngestError>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = specs
            .iter()
            .map(|spec| {
                let table_land = TableLand::new(land.clone(), &spec.source_name, &spec.identifier);
                let (handle, reporter, stop) = (&handle, &reporter, &*stop);
                scope.spawn(move || {
                    let sample = sample_files.get(&spec.display_name());
                    let result = if let Some(input) = args.from_file.as_ref().or(sample) {
                        crate::ingest::file::land_file(spec, &table_land, input, handle, reporter)
                    } else if args.replay_quarantine {
                        crate::ingest::replay::replay_quarantine(
                            spec,
                            &table_land,
                            handle,
                            reporter,
                        )
                    } else if let Some(pg) = &spec.postgres {
                        crate::ingest::postgres::pull(
                            &spec.display_name(),
                            pg,
                            &table_land,
                            handle,
                            reporter,
                        )
                    } else {
                        crate::ingest::kafka::land_topic(
                            spec,
                            &table_land,
                            mode,
                            stop,
                            handle,
                            reporter,
                        )
                    };
                    (spec.display_name(), result)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join().unwrap_or_else(|_| {
                    (
                        "ingest".to_string(),
                        Err(IngestError::internal("an ingest thread panicked")),
                    )
                })
            })
            .collect()
    });
    let mut failed = false;
    let mut diags = Vec::new();
    for (table, result) in results {
        match result {
            Ok(stats) if stats.quarantined > 0 => diags.push(
                Diagnostic::warning(
                    codes::QUARANTINED,
                    format!(
                        "{table}: {} message(s) did not match the declared schema and are in {}",
                        stats.quarantined,
                        land.url(&format!("_quarantine/{}/", table.replace('.', "/")))
                    ),
                )
                .with_help(
                    "each row keeps the raw message and its reason; after fixing the schema, `rdbt ingest --replay-quarantine` lands those that now pass",
                ),
            ),
            Ok(_) => {}
            Err(e) => {
                failed = true;
                let node = nodes.iter().find(|n| {
                    n.source
                        .as_ref()
                        .is_some_and(|s| format!("{}.{}", s.source_name, n.name) == table)
                });
                diags.push(diagnostic(&e, node.copied()));
            }
        }
    }
    session.printer.diagnostics(&diags);
    Ok(if failed { EXIT_ERROR } else { EXIT_OK })
}

/// No selected source has an `ingest:` block: an error when sources were
/// asked for by name, else a note that there is nothing to land.
fn nothing_to_land(
    session: &Session,
    g: &GlobalArgs,
    p: &crate::cli::session::Parsed,
    selected: &std::collections::BTreeSet<String>,
) -> Result<u8, Failure> {
    let named: Vec<String> = selected
        .iter()
        .filter_map(|id| p.parsed.nodes.get(id))
        .filter_map(|n| Some(format!("{}.{}", n.source.as_ref()?.source_name, n.name)))
        .collect();
    if (!g.select.is_empty() || g.selector.is_some()) && !named.is_empty() {
        // The user asked for these sources by name: landing nothing is
        // not what they asked for.
        let d = crate::diagnostics::Diagnostic::error(
            crate::diagnostics::codes::INGEST_CONFIG,
            format!(
                "nothing to land: the selected source table{} {} {} no `ingest:` block",
                if named.len() == 1 { "" } else { "s" },
                named
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                if named.len() == 1 { "has" } else { "have" },
            ),
        )
        .with_help(
            "rdbt lands only sources with an `ingest:` block (Kafka, files or Postgres); \
             load other sources into the warehouse yourself, or add an `ingest:` block \
             (see docs/ingestion.md)",
        );
        return Err(session.fail(d));
    }
    session.printer.info(
        "No selected source table has an `ingest:` block; nothing to land. Select one with --select source:<source>.<table>.",
    );
    Ok(EXIT_OK)
}

/// `--sample N`: writes each table's sample as NDJSON under the target
/// folder (events for Kafka-fed tables, customers rows for Postgres-fed
/// ones) and returns the file per table, landed like `--from-file`.
fn write_samples(
    session: &Session,
    specs: &[TableSpec],
    customers: u64,
) -> Result<BTreeMap<String, String>, Failure> {
    const SEED: u64 = 42;
    let dir = session.project.target_dir().join("sample");
    let mut files = BTreeMap::new();
    for spec in specs {
        if spec.schema.columns.is_empty() {
            return Err(session.fail(
                Diagnostic::error(
                    codes::INGEST_CONFIG,
                    format!("source `{}`: a sample needs the table's columns declared with their data_type", spec.display_name()),
                )
                .with_help("declare the columns in its properties file, or leave the table out with --exclude"),
            ));
        }
        let lines: Vec<Vec<u8>> = if spec.postgres.is_some() && spec.kafka.is_none() {
            crate::ingest::events::synthetic_customers(customers, SEED)
        } else {
            crate::ingest::events::synthetic(customers, SEED)
                .into_iter()
                .map(|(_, value)| value)
                .collect()
        };
        let path = dir.join(format!("{}.jsonl", spec.display_name()));
        let mut text = Vec::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
        for line in lines {
            text.extend_from_slice(&line);
            text.push(b'\n');
        }
        std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(&path, text))
            .map_err(|e| {
                session.fail(Diagnostic::error(
                    codes::INGEST_INPUT,
                    format!("cannot write the sample {}: {e}", path.display()),
                ))
            })?;
        files.insert(spec.display_name(), path.to_string_lossy().into_owned());
    }
    Ok(files)
}

fn ingest_table(node: &ParsedNode) -> IngestTable {
    let info = node.source.as_ref();
    // Columns are kept by name; they land in the order the YAML declares
    // them, found after the table's own `name:` line.
    let text = &node.file_text;
    let table_at = table_offset(node).unwrap_or(0);
    let mut columns: Vec<(usize, DeclaredColumn)> = node
        .columns
        .values()
        .map(|c| {
            let at = find_name(&text[table_at..], &c.name).unwrap_or(usize::MAX);
            (
                at,
                DeclaredColumn {
                    name: c.name.clone(),
                    data_type: c.data_type.clone(),
                },
            )
        })
        .collect();
    columns.sort_by_key(|(at, _)| *at);
    IngestTable {
        source_name: info.map(|s| s.source_name.clone()).unwrap_or_default(),
        table_name: node.name.clone(),
        identifier: info
            .map(|s| s.identifier.clone())
            .filter(|i| !i.is_empty())
            .unwrap_or_else(|| node.name.clone()),
        columns: columns.into_iter().map(|(_, c)| c).collect(),
        ingest: info.and_then(|s| s.ingest.clone()).unwrap_or_default(),
    }
}

/// Where the table's `- name: <table>` entry starts in its YAML file.
fn table_offset(node: &ParsedNode) -> Option<usize> {
    find_name(&node.file_text, &node.name)
}

/// The first `name: <name>` in `text` not followed by more of a name.
fn find_name(text: &str, name: &str) -> Option<usize> {
    let needle = format!("name: {name}");
    text.match_indices(&needle).map(|(i, _)| i).find(|i| {
        !text[i + needle.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

/// The line of a setting (`ingest.kafka.brokers`) in the table's YAML: the
/// last key of the path, searched after the table's `name:` line.
fn setting_location(node: &ParsedNode, setting: &str) -> Option<Location> {
    let text = &node.file_text;
    let table_at = table_offset(node)?;
    let key = setting.rsplit('.').next().unwrap_or(setting);
    let key_at = text[table_at..]
        .find(&format!("{key}:"))
        .map(|i| table_at + i)
        .unwrap_or(table_at);
    Some(Location::from_offset(&node.abs_path, text, key_at))
}

fn diagnostic(e: &IngestError, node: Option<&ParsedNode>) -> Diagnostic {
    let table = node
        .and_then(|n| {
            n.source
                .as_ref()
                .map(|s| format!("{}.{}", s.source_name, n.name))
        })
        .unwrap_or_default();
    let (code, setting) = match e {
        IngestError::Config { setting, .. } => (codes::INGEST_CONFIG, Some(setting.as_str())),
        IngestError::Kafka { setting, .. } => (codes::KAFKA, Some(setting.as_str())),
        IngestError::Land(_) => (codes::LAND, None),
        IngestError::Input { .. } => (codes::INGEST_INPUT, None),
        IngestError::Internal(_) => (codes::INTERNAL, None),
    };
    let message = if table.is_empty() {
        e.to_string()
    } else {
        format!("source `{table}`: {e}")
    };
    let mut d = if code == codes::INTERNAL {
        Diagnostic::internal(message)
    } else {
        Diagnostic::error(code, message)
    };
    if let Some(help) = e.help() {
        d = d.with_help(help);
    }
    if let (Some(node), Some(setting)) = (node, setting)
        && setting.starts_with("ingest")
        && let Some(location) = setting_location(node, setting)
    {
        d = d.at(location, Some(&node.file_text));
    }
    d
}

/// The target's land, checked writable before anything is consumed.
fn open_land(session: &Session, runtime: &tokio::runtime::Runtime) -> Result<Land, Failure> {
    let target = &session.settings.target;
    let options = target.land_options();
    let fail = |e: crate::store::StoreError| {
        session.fail(
            Diagnostic::error(codes::LAND, format!("target `{}`: {e}", target.name))
                .with_help(IngestError::Land(e).help().unwrap_or_default()),
        )
    };
    let land = Land::open(&target.land, &options).map_err(fail)?;
    runtime
        .block_on(land.check_writable("_ingest"))
        .map_err(fail)?;
    Ok(land)
}

/// Sets `stop` on SIGINT or SIGTERM: `--follow` then flushes, commits and
/// exits cleanly.
async fn watch_signals(stop: Arc<AtomicBool>) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => {
                    let _ = ctrl_c.await;
                    stop.store(true, Ordering::Relaxed);
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    stop.store(true, Ordering::Relaxed);
}

/// Progress as people and machines want it: a bar per table on a terminal,
/// a line every few seconds otherwise, JSON lines with `--log-format json`.
struct Reporter {
    printer: Printer,
    bars: Option<indicatif::MultiProgress>,
    tables: Mutex<BTreeMap<String, TableProgress>>,
}

struct TableProgress {
    bar: Option<indicatif::ProgressBar>,
    last_line: Instant,
}

impl Reporter {
    fn new(printer: &Printer) -> Reporter {
        let terminal = printer.format == LogFormat::Text
            && !printer.quiet()
            && std::io::IsTerminal::is_terminal(&std::io::stdout());
        Reporter {
            printer: printer.clone(),
            bars: terminal.then(|| {
                indicatif::MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::stdout())
            }),
            tables: Mutex::new(BTreeMap::new()),
        }
    }

    /// One machine-readable progress event (`--log-format json`).
    fn json(&self, name: &'static str, table: &str, stats: Option<&Stats>, message: Option<&str>) {
        let mut data = serde_json::json!({"table": table});
        if let Some(stats) = stats
            && let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(stats)
            && let Some(object) = data.as_object_mut()
        {
            object.extend(fields);
        }
        let msg = match (message, stats) {
            (Some(m), _) => format!("{table}: {m}"),
            (None, Some(stats)) => format!("{table}: {}", summary(stats)),
            (None, None) => table.to_string(),
        };
        self.printer.event(
            &crate::cli::printer::Event::new(name, "", crate::settings::LogLevel::Info, &msg)
                .data(data),
        );
    }
}

fn summary(stats: &Stats) -> String {
    let lag = stats.lag.map(|l| format!(", lag {l}")).unwrap_or_default();
    format!(
        "{} messages: {} landed, {} quarantined, {} files ({:.1} MB), {:.0} msg/s{lag}",
        stats.messages,
        stats.landed,
        stats.quarantined,
        stats.files,
        stats.bytes as f64 / 1e6,
        stats.rate
    )
}

impl Progress for Reporter {
    fn started(&self, table: &str, what: &str, expected: Option<u64>) {
        let bar = self.bars.as_ref().map(|bars| {
            let bar = match expected {
                Some(n) => indicatif::ProgressBar::new(n),
                None => indicatif::ProgressBar::new_spinner(),
            };
            if let Ok(style) =
                indicatif::ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg}")
                && expected.is_some()
            {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_prefix(table.to_string());
            let bar = bars.add(bar);
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        if let Ok(mut tables) = self.tables.lock() {
            tables.insert(
                table.to_string(),
                TableProgress {
                    bar,
                    last_line: Instant::now(),
                },
            );
        }
        match self.printer.format {
            LogFormat::Json => self.json("IngestStarted", table, None, Some(what)),
            _ => self.printer.info(&format!("Landing {table} from {what}")),
        }
    }

    fn batch(&self, table: &str, stats: &Stats) {
        let Ok(mut tables) = self.tables.lock() else {
            return;
        };
        let Some(progress) = tables.get_mut(table) else {
            return;
        };
        if let Some(bar) = &progress.bar {
            bar.set_position(stats.messages);
            bar.set_message(summary(stats));
            return;
        }
        let every = match self.printer.format {
            LogFormat::Json => Duration::from_secs(1),
            LogFormat::Text => Duration::from_secs(5),
        };
        if self.printer.quiet() || progress.last_line.elapsed() < every {
            return;
        }
        progress.last_line = Instant::now();
        match self.printer.format {
            LogFormat::Json => self.json("IngestProgress", table, Some(stats), None),
            LogFormat::Text => self.printer.info(&format!("  {table}: {}", summary(stats))),
        }
    }

    fn finished(&self, table: &str, stats: &Stats) {
        if let Ok(mut tables) = self.tables.lock()
            && let Some(progress) = tables.remove(table)
            && let Some(bar) = progress.bar
        {
            bar.finish_and_clear();
        }
        match self.printer.format {
            LogFormat::Json => self.json("IngestFinished", table, Some(stats), None),
            _ => self.printer.info(&format!(
                "Landed {table}: {} in {:.1} s",
                summary(stats),
                stats.elapsed_s
            )),
        }
    }

    fn note(&self, table: &str, message: &str) {
        match self.printer.format {
            LogFormat::Json => self.json("IngestNote", table, None, Some(message)),
            _ => self.printer.info(&format!("{table}: {message}")),
        }
    }
}
