//! One `Diagnostic` type for every problem found in a user's files, and the
//! one renderer that prints it (`models/x.sql:12:7`, the line, a caret, a hint).
//!
//! Modules never print; they return diagnostics (or errors that convert into
//! them) and `cli/` decides how to show them. Codes are stable and grouped by
//! phase: R1xx load, R2xx compile, R3xx graph, R4xx run, R5xx ingest, R9xx
//! internal ("this is a bug in rdbt").

mod render;

pub use render::{render_diagnostic, render_summary};

use serde::Serialize;
use std::path::{Path, PathBuf};

/// How bad a problem is: errors stop the command, warnings are reported and
/// counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

/// A stable code, e.g. `R201`. Tests and users grep for these, so a code keeps
/// its meaning forever once released.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Code(pub &'static str);

/// The codes rdbt emits, one constant each so a code is written once.
pub mod codes {
    use super::Code;
    /// No project file was found.
    pub const PROJECT_NOT_FOUND: Code = Code("R101");
    /// A YAML file does not parse.
    pub const YAML_SYNTAX: Code = Code("R102");
    /// A YAML value has the wrong type or an invalid value.
    pub const YAML_INVALID: Code = Code("R103");
    /// A YAML key rdbt does not know (a warning).
    pub const YAML_UNKNOWN_KEY: Code = Code("R104");
    /// Two resources share one name.
    pub const DUPLICATE_NAME: Code = Code("R105");
    /// A file could not be read.
    pub const FILE_UNREADABLE: Code = Code("R106");
    /// profiles.yml problems: missing profile, target, or bad target.
    pub const PROFILE: Code = Code("R107");
    /// A package of packages.yml could not be installed or loaded.
    pub const PACKAGE: Code = Code("R108");
    /// A config path in the project file matches no resource (a warning).
    pub const UNUSED_CONFIG_PATH: Code = Code("R109");
    /// Property YAML describes a resource that does not exist (a warning).
    pub const PATCH_WITHOUT_NODE: Code = Code("R110");
    /// A Jinja template does not parse.
    pub const JINJA_SYNTAX: Code = Code("R201");
    /// A Jinja template failed while rendering.
    pub const JINJA_RUNTIME: Code = Code("R202");
    /// A macro that does not exist was called.
    pub const MISSING_MACRO: Code = Code("R203");
    /// `var()` of an undefined variable without a default.
    pub const MISSING_VAR: Code = Code("R204");
    /// `exceptions.raise_compiler_error` was called.
    pub const COMPILER_ERROR: Code = Code("R205");
    /// A config value of the wrong type or an unknown choice.
    pub const INVALID_CONFIG: Code = Code("R206");
    /// A warning raised by `exceptions.warn`.
    pub const JINJA_WARNING: Code = Code("R207");
    /// `ref()` names no model, seed or snapshot.
    /// SQL that its dialect cannot run faithfully on the target.
    pub const SQL_DIALECT: Code = Code("R208");
    /// A model or test that static analysis shows cannot run.
    pub const STATIC_ANALYSIS: Code = Code("R209");
    /// A config key nothing reads (a misspelling, or a custom key).
    pub const UNKNOWN_CONFIG: Code = Code("R210");
    pub const UNKNOWN_REF: Code = Code("R301");
    /// `source()` names no declared source table.
    pub const UNKNOWN_SOURCE: Code = Code("R302");
    /// The graph has a cycle.
    pub const CYCLE: Code = Code("R303");
    /// A selector does not parse or names an unknown selector.
    pub const BAD_SELECTOR: Code = Code("R304");
    /// `--state` holds no usable manifest.
    pub const STATE: Code = Code("R305");
    /// A model version past its `deprecation_date`, or a reference to one
    /// (a warning).
    pub const DEPRECATED: Code = Code("R306");
    /// Command-line input that is wrong (`--vars` YAML and the like).
    pub const USAGE: Code = Code("R401");
    /// Writing artifacts or compiled files failed.
    pub const ARTIFACT_WRITE: Code = Code("R402");
    /// The warehouse could not run a query (division by zero, a failed
    /// cast, a missing table): the SQL's or the data's problem.
    pub const QUERY_FAILED: Code = Code("R403");
    /// A source table's `ingest:` block or columns cannot be used.
    pub const INGEST_CONFIG: Code = Code("R501");
    /// The land cannot be opened, read or written.
    pub const LAND: Code = Code("R502");
    /// Kafka cannot be reached, or refused a request.
    pub const KAFKA: Code = Code("R503");
    /// The input of `--from-file` (or of `rdbt produce`) cannot be read.
    pub const INGEST_INPUT: Code = Code("R504");
    /// Messages went to the quarantine (a warning: the run goes on).
    pub const QUARANTINED: Code = Code("R505");
    /// Something that can only be a bug in rdbt.
    /// A node's SQL or Jinja failed at run time.
    pub const RUN_COMPILE: Code = Code("R601");
    /// The warehouse failed a node's statement.
    pub const RUN_WAREHOUSE: Code = Code("R602");
    /// A model's output breaks its contract.
    pub const RUN_CONTRACT: Code = Code("R603");
    /// A config value a materialization cannot use.
    pub const RUN_CONFIG: Code = Code("R604");
    /// A test or unit test could not run.
    pub const RUN_TEST: Code = Code("R605");
    /// A pre- or post-hook failed.
    pub const RUN_HOOK: Code = Code("R606");
    /// The run was interrupted.
    pub const RUN_CANCELLED: Code = Code("R607");
    pub const INTERNAL: Code = Code("R901");
}

/// A place in a file. Lines and columns are 1-based, as editors show them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Location {
    pub path: PathBuf,
    pub line: usize,
    pub column: usize,
}

impl Location {
    pub fn new(path: impl Into<PathBuf>, line: usize, column: usize) -> Self {
        Location {
            path: path.into(),
            line: line.max(1),
            column: column.max(1),
        }
    }

    /// The location of byte `offset` in `source`.
    pub fn from_offset(path: impl Into<PathBuf>, source: &str, offset: usize) -> Self {
        let offset = offset.min(source.len());
        let before = &source[..floor_char_boundary(source, offset)];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        Location::new(path, line, column)
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// One problem, ready to be rendered for a person or serialized as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    /// The text of the offending line, kept so rendering needs no file access.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_line: Option<String>,
    /// How many characters the caret underlines (at least one).
    #[serde(skip)]
    pub span_len: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(code: Code, message: impl Into<String>) -> Self {
        Diagnostic {
            code,
            severity: Severity::Error,
            message: message.into(),
            location: None,
            source_line: None,
            span_len: 1,
            help: None,
        }
    }

    pub fn warning(code: Code, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, message)
        }
    }

    /// An error that can only be a bug in rdbt; says so, and how to report it.
    pub fn internal(message: impl Into<String>) -> Self {
        Diagnostic::error(codes::INTERNAL, message).with_help(
            "this is a bug in rdbt: please report it with the command you ran and this message",
        )
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Points the diagnostic at `location`, copying the line from `source`.
    pub fn at(mut self, location: Location, source: Option<&str>) -> Self {
        if let Some(source) = source {
            self.source_line = source
                .lines()
                .nth(location.line - 1)
                .map(|l| l.trim_end_matches('\r').to_string());
        }
        self.location = Some(location);
        self
    }

    /// Points at byte `offset` of the file `path` whose text is `source`,
    /// underlining `len` bytes.
    pub fn at_offset(self, path: &Path, source: &str, offset: usize, len: usize) -> Self {
        let location = Location::from_offset(path, source, offset);
        let mut d = self.at(location, Some(source));
        let end = floor_char_boundary(source, (offset + len).min(source.len()));
        let start = floor_char_boundary(source, offset.min(end));
        d.span_len = source[start..end]
            .split('\n')
            .next()
            .map_or(1, |s| s.chars().count().max(1));
        d
    }

    /// Reads the offending line from disk when the caller did not have the text.
    pub fn at_file_line(self, path: &Path, line: usize, column: usize) -> Self {
        let source = std::fs::read_to_string(path).ok();
        self.at(Location::new(path, line, column), source.as_deref())
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// The problems of one phase, reported together.
#[derive(Debug, Default, Clone)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        self.items.push(d);
    }

    pub fn extend(&mut self, other: impl IntoIterator<Item = Diagnostic>) {
        self.items.extend(other);
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(Diagnostic::is_error)
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter()
    }

    /// Sorted by file, line and code so output does not depend on thread timing.
    pub fn into_sorted(mut self) -> Vec<Diagnostic> {
        self.items.sort_by(|a, b| {
            (a.location.as_ref(), a.code, &a.message).cmp(&(
                b.location.as_ref(),
                b.code,
                &b.message,
            ))
        });
        self.items.dedup();
        self.items
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

impl From<Diagnostic> for Diagnostics {
    fn from(d: Diagnostic) -> Self {
        Diagnostics { items: vec![d] }
    }
}

impl FromIterator<Diagnostic> for Diagnostics {
    fn from_iter<T: IntoIterator<Item = Diagnostic>>(iter: T) -> Self {
        Diagnostics {
            items: iter.into_iter().collect(),
        }
    }
}

/// Names within `max_distance` edits of `wanted`, closest first; for "did you
/// mean" hints.
pub fn closest_names<'a>(
    wanted: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Vec<String> {
    let mut scored: Vec<(f64, &str)> = candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(wanted, c), c))
        .filter(|(score, _)| *score >= 0.8)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    scored.dedup_by(|a, b| a.1 == b.1);
    scored
        .into_iter()
        .take(3)
        .map(|(_, c)| c.to_string())
        .collect()
}

/// "did you mean `a` or `b`?" or a fallback text when nothing is close.
pub fn did_you_mean(suggestions: &[String], fallback: &str) -> String {
    match suggestions {
        [] => fallback.to_string(),
        [one] => format!("did you mean `{one}`?"),
        many => {
            let quoted: Vec<String> = many.iter().map(|s| format!("`{s}`")).collect();
            format!("did you mean one of {}?", quoted.join(", "))
        }
    }
}
