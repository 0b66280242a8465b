//! The shared first steps of every project command: resolve settings, load
//! the project, parse (with the partial-parse cache), build the graph.

use super::args::{GlobalArgs, IndirectArg, LogFormatArg, LogLevelArg};
use super::printer::Printer;
use crate::compile::{Compiler, ParseCache, ParsedProject, parse_project};
use crate::diagnostics::{Diagnostic, Diagnostics};
use crate::graph::{Dag, IndirectSelection, PreviousState, Selection, SelectionInput};
use crate::project::{Project, ResourceType, load_project};
use crate::settings::{Flags, LogFormat, LogLevel, Settings};

/// Why a command stopped early: the diagnostics have been printed.
#[derive(Debug)]
pub enum Failure {
    /// Problems in the user's input (exit code 2).
    Reported,
    /// stdout closed; not an error.
    BrokenPipe,
}

pub struct Session {
    pub settings: Settings,
    pub project: Project,
    pub printer: Printer,
    /// Errors found while loading files, reported with the parse's own.
    load_errors: Diagnostics,
    load_warnings: usize,
    pub static_analysis: crate::compile::static_analysis::StaticAnalysis,
}

pub struct Parsed {
    pub parsed: ParsedProject,
    pub dag: Dag,
    pub compiler: Compiler,
    /// True when the parse printed no warning: its output is only the
    /// manifest, so an unchanged project may skip it next time.
    pub quiet_parse: bool,
}

pub fn flags_from(g: &GlobalArgs) -> Flags {
    Flags {
        project_dir: g.project_dir.clone(),
        profiles_dir: g.profiles_dir.clone(),
        profile: g.profile.clone(),
        target: g.target.clone(),
        vars: g.vars.clone(),
        threads: g.threads,
        log_format: g.log_format.map(|f| match f {
            LogFormatArg::Text => LogFormat::Text,
            LogFormatArg::Json => LogFormat::Json,
        }),
        log_level: g.log_level.map(level_of),
        quiet: g.quiet,
        no_color: g.no_color,
        no_partial_parse: g.no_partial_parse,
    }
}

fn level_of(arg: LogLevelArg) -> LogLevel {
    match arg {
        LogLevelArg::Debug => LogLevel::Debug,
        LogLevelArg::Info => LogLevel::Info,
        LogLevelArg::Warn => LogLevel::Warn,
        LogLevelArg::Error => LogLevel::Error,
        LogLevelArg::None => LogLevel::None,
    }
}

/// The lowest level shown before settings exist.
fn early_level(g: &GlobalArgs) -> LogLevel {
    let level = g.log_level.map_or(LogLevel::Info, level_of);
    if g.quiet {
        level.max(LogLevel::Error)
    } else {
        level
    }
}

/// dbt's "Found ..." line: the project's resources (not the selection's), each
/// kind counted only when there is one, e.g. `2 models, 1 seed, 471 macros`.
pub fn found_stats(parsed: &crate::compile::ParsedProject) -> String {
    use ResourceType as R;
    // One pass over the nodes (30,000 at 10,000 models), not one per kind.
    let mut counts: std::collections::HashMap<ResourceType, usize> =
        std::collections::HashMap::new();
    for n in parsed.nodes.values() {
        *counts.entry(n.resource_type).or_default() += 1;
    }
    let count = |t| counts.get(&t).copied().unwrap_or(0);
    let unit_tests = count(R::UnitTest).max(parsed.unit_tests.len());
    [
        (count(R::Model), "model", "models"),
        (count(R::Snapshot), "snapshot", "snapshots"),
        (count(R::Analysis), "analysis", "analyses"),
        (count(R::Seed), "seed", "seeds"),
        (count(R::Test), "data test", "data tests"),
        (count(R::Source), "source", "sources"),
        (count(R::Exposure), "exposure", "exposures"),
        (count(R::Operation), "operation", "operations"),
        (parsed.macros.len(), "macro", "macros"),
        (unit_tests, "unit test", "unit tests"),
    ]
    .into_iter()
    .filter(|(n, ..)| *n > 0)
    .map(|(n, one, many)| format!("{n} {}", if n == 1 { one } else { many }))
    .collect::<Vec<_>>()
    .join(", ")
}

/// A printer usable before settings exist (for errors while resolving them).
pub fn early_printer(g: &GlobalArgs) -> Printer {
    let format = match g.log_format {
        Some(LogFormatArg::Json) => LogFormat::Json,
        _ => LogFormat::Text,
    };
    let base = g
        .project_dir
        .clone()
        .unwrap_or_else(|| std::path::PathBuf::from("."));
    let base = std::path::absolute(&base).unwrap_or(base);
    let color = !g.no_color
        && std::env::var_os("NO_COLOR").is_none()
        && std::io::IsTerminal::is_terminal(&std::io::stdout());
    Printer::new(format, early_level(g), color, base)
}

/// Settings and the printer they configure, for the project at `root`.
pub fn resolve_settings(
    g: &GlobalArgs,
    root: &std::path::Path,
    project_file: &crate::project::ProjectFile,
) -> Result<(Settings, Printer, Vec<Diagnostic>), Failure> {
    let named = project_file.profile.is_some();
    let profile = project_file
        .profile
        .clone()
        .unwrap_or_else(|| project_file.name.clone());
    let mut flags = flags_from(g);
    flags.project_dir = Some(root.to_path_buf());
    let (settings, warnings) =
        match crate::settings::resolve(&flags, &profile, named, &crate::compile::render_env_string)
        {
            Ok(s) => s,
            Err(d) => {
                early_printer(g).diagnostics(&[d]);
                return Err(Failure::Reported);
            }
        };
    let log_dir = match &g.log_path {
        Some(dir) => std::path::absolute(dir).unwrap_or_else(|_| dir.clone()),
        None => root.join("logs"),
    };
    let printer = Printer::new(
        settings.log_format,
        settings.min_level,
        settings.color,
        root.to_path_buf(),
    )
    .with_log_file(&log_dir.join("dbt.log"));
    Ok((settings, printer, warnings.into_iter().collect()))
}

impl Session {
    pub fn open(g: &GlobalArgs) -> Result<Session, Failure> {
        let early = early_printer(g);
        let dir = g.project_dir_arg();
        let load_started = std::time::Instant::now();
        let loaded = load_project(&dir);
        phase("load", load_started);
        let (project, warnings) = match loaded {
            Ok(p) => p,
            Err(diags) => {
                early.diagnostics(&diags.into_sorted());
                return Err(Failure::Reported);
            }
        };
        let (settings, printer, setting_warnings) =
            resolve_settings(g, &project.root, &project.root_package().file)?;
        let mut all = warnings;
        all.extend(setting_warnings);
        let (load_errors, warnings): (Vec<Diagnostic>, Vec<Diagnostic>) =
            all.into_iter().partition(Diagnostic::is_error);
        let load_warnings = warnings.len();
        printer.diagnostics(&Diagnostics::from_iter(warnings).into_sorted());
        Ok(Session {
            settings,
            project,
            printer,
            load_errors: Diagnostics::from_iter(load_errors),
            load_warnings,
            static_analysis: g.static_analysis.mode(),
        })
    }

    pub fn report(&self, diags: Diagnostics) -> Failure {
        self.printer.diagnostics(&diags.into_sorted());
        Failure::Reported
    }

    pub fn fail(&self, d: Diagnostic) -> Failure {
        self.printer.diagnostics(&[d]);
        Failure::Reported
    }

    /// The async runtime that drives the warehouse, one worker per thread.
    pub fn runtime(&self) -> Result<tokio::runtime::Runtime, Failure> {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(self.settings.threads.max(2))
            .enable_all()
            .build()
            .map_err(|e| {
                self.fail(Diagnostic::internal(format!(
                    "cannot start the async runtime: {e}"
                )))
            })
    }

    /// Parses the project and builds the graph; writes the manifest.
    pub fn parse(&self) -> Result<Parsed, Failure> {
        let started = std::time::Instant::now();
        let target_dir = self.project.target_dir();
        let mut cache = if self.settings.partial_parse {
            ParseCache::load(&target_dir)
        } else {
            ParseCache::disabled()
        };
        phase("cache load", started);
        let started = std::time::Instant::now();
        let out = parse_project(&self.project, &self.settings, &mut cache).map_err(|d| {
            let mut all = self.load_errors.clone();
            all.extend(d);
            self.report(all)
        })?;
        let mut errors = self.load_errors.clone();
        errors.extend(out.errors);
        phase("render and build nodes", started);
        let started = std::time::Instant::now();
        let mut parsed = out.parsed;
        let graph = crate::graph::build(&mut parsed);
        phase("graph", started);
        if let Err(graph_errors) = &graph {
            errors.extend(graph_errors.clone());
        }
        if !errors.is_empty() {
            let mut all = errors;
            all.extend(out.warnings);
            return Err(self.report(all));
        }
        let mut warnings = out.warnings;
        warnings.extend(crate::graph::deprecation_warnings(&parsed));
        let quiet_parse = warnings.is_empty() && self.load_warnings == 0;
        self.printer.diagnostics(&warnings.into_sorted());
        let dag = graph.map_err(|d| self.report(d))?;
        // dbt's `graph` object, for the templates that read it (project
        // linters, code generators): the manifest's nodes as dbt has them.
        if crate::compile::reads_graph(&out.compiler, &parsed) {
            let manifest = crate::graph::manifest_json(
                &parsed,
                &dag,
                out.compiler.world.dialect.adapter_type(),
            );
            crate::compile::attach_graph(&out.compiler, manifest);
        }
        let started = std::time::Instant::now();
        cache.save();
        phase("cache save", started);
        // `log(msg, info=True)` from renders after parsing (compile, run,
        // run-operation) is printed as dbt prints it.
        let printer = self.printer.clone();
        let _ =
            out.compiler
                .world
                .log_sink
                .set(std::sync::Arc::new(move |msg: &str, info: bool| {
                    let (name, code, level) = if info {
                        ("JinjaLogInfo", "I062", crate::settings::LogLevel::Info)
                    } else {
                        ("JinjaLogDebug", "I063", crate::settings::LogLevel::Debug)
                    };
                    printer.event(
                        &super::printer::Event::new(name, code, level, msg)
                            .data(serde_json::json!({"msg": msg}))
                            .clocked(),
                    );
                }));
        Ok(Parsed {
            parsed,
            dag,
            compiler: out.compiler,
            quiet_parse,
        })
    }

    pub fn write_manifest(&self, p: &Parsed) -> Result<crate::graph::InvocationFields, Failure> {
        let adapter = p.compiler.world.target_kind.as_str();
        let started = std::time::Instant::now();
        // Whatever wrote the manifest last, only `rdbt parse` vouches for
        // it matching an unchanged project.
        super::unchanged::forget(&self.project.target_dir());
        let written =
            crate::graph::write_manifest(&self.project.target_dir(), &p.parsed, &p.dag, adapter)
                .map_err(|d| self.fail(d));
        phase("manifest", started);
        written
    }

    /// The selection of the global flags, limited to `types` when not empty.
    pub fn select(
        &self,
        g: &GlobalArgs,
        p: &Parsed,
        types: &[ResourceType],
    ) -> Result<Selection, Failure> {
        let state = match &g.state {
            Some(dir) => Some(
                PreviousState::load(dir)
                    .map_err(|d| self.fail(d))?
                    .with_current_freshness(&self.project.target_dir()),
            ),
            None => None,
        };
        let input = SelectionInput {
            select: &g.select,
            exclude: &g.exclude,
            selector: g.selector.as_deref(),
            resource_types: types,
            indirect: match g.indirect_selection {
                IndirectArg::Eager => IndirectSelection::Eager,
                IndirectArg::Cautious => IndirectSelection::Cautious,
                IndirectArg::Empty => IndirectSelection::Empty,
            },
            state: state.as_ref(),
            selectors_file: self.project.selectors.as_ref(),
        };
        crate::graph::select(&p.parsed, &p.dag, &input).map_err(|d| self.fail(d))
    }
}

pub use crate::timings::phase;
