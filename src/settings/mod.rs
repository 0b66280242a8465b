//! Resolved settings: everything a command needs to know, with nothing left
//! optional. Precedence, written down once here:
//!
//! flags > `RDBT_*` environment variables > the profiles.yml target > the
//! project file > defaults.
//!
//! No clap type enters this module; `cli/` converts flags into [`Flags`].

mod environment;
mod profiles;

pub use environment::{env_names_read, read_env};

pub use profiles::{Target, TargetKind, find_profiles_file, parse_bytes};

use crate::diagnostics::{Diagnostic, Diagnostics, codes};
use crate::yaml::{self, SourceFile};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Renders a string that may hold Jinja (`{{ env_var('X') }}`); supplied by
/// the caller so this module does not depend on the template engine.
pub type StringRenderer<'a> = &'a dyn Fn(&str) -> Result<String, String>;

/// Raw command-line input, as plain data.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    pub project_dir: Option<PathBuf>,
    pub profiles_dir: Option<PathBuf>,
    pub profile: Option<String>,
    pub target: Option<String>,
    pub vars: Option<String>,
    pub threads: Option<usize>,
    pub log_format: Option<LogFormat>,
    pub log_level: Option<LogLevel>,
    pub quiet: bool,
    pub no_color: bool,
    pub no_partial_parse: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// A console line's level, lowest first, as dbt's `--log-level` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
    /// Above every event's level: nothing but printed output.
    None,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
            LogLevel::None => "none",
        }
    }
}

/// Settings with every layer applied.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    pub project_dir: PathBuf,
    /// The profiles.yml that was read, if any.
    pub profiles_file: Option<PathBuf>,
    pub profile_name: String,
    pub target: Target,
    pub threads: usize,
    /// `--vars`, parsed.
    pub cli_vars: serde_json::Map<String, serde_json::Value>,
    pub log_format: LogFormat,
    pub quiet: bool,
    /// The lowest level printed (`--log-level`, raised to errors by
    /// `--quiet`); `None` prints only what a command exists to print.
    pub min_level: LogLevel,
    pub color: bool,
    pub partial_parse: bool,
    /// Where each setting came from, for `rdbt debug`.
    pub sources: Vec<(String, String)>,
}

/// Resolves the settings for a project at `flags.project_dir` (or the current
/// directory). `project_profile` is the project file's `profile:` or name;
/// `profile_named` says whether the project file (or `--profile`) names one:
/// a named profile must exist, as in dbt, and only a project that names
/// none falls back to the built-in local target.
pub fn resolve(
    flags: &Flags,
    project_profile: &str,
    profile_named: bool,
    render: StringRenderer,
) -> Result<(Settings, Diagnostics), Diagnostic> {
    let env = |name: &str| read_env(name).filter(|v| !v.is_empty());
    let mut sources = Vec::new();
    let mut warnings = Diagnostics::default();
    let project_dir = match &flags.project_dir {
        Some(p) => p.clone(),
        None => env("RDBT_PROJECT_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(".")),
    };
    let project_dir = std::path::absolute(&project_dir).unwrap_or(project_dir);
    let profiles_dir = flags
        .profiles_dir
        .clone()
        .or_else(|| env("RDBT_PROFILES_DIR").map(PathBuf::from))
        .or_else(|| env("DBT_PROFILES_DIR").map(PathBuf::from));
    let profiles_file = find_profiles_file(profiles_dir.as_deref(), &project_dir);
    let profile_name = flags
        .profile
        .clone()
        .or_else(|| env("RDBT_PROFILE"))
        .unwrap_or_else(|| project_profile.to_string());
    let target_flag = flags.target.clone().or_else(|| env("RDBT_TARGET"));
    let profile_named = profile_named || flags.profile.is_some() || env("RDBT_PROFILE").is_some();
    let target = match &profiles_file {
        Some(path) => profiles::load_target(
            path,
            &profile_name,
            target_flag.as_deref(),
            profile_named,
            &project_dir,
            render,
            &mut warnings,
        )?,
        None if profile_named => {
            let mut looked = vec![project_dir.join("profiles.yml").display().to_string()];
            if let Some(dir) = &profiles_dir {
                looked = vec![dir.join("profiles.yml").display().to_string()];
            } else if let Some(home) = std::env::var_os("HOME") {
                let home = PathBuf::from(home);
                looked.push(home.join(".rdbt/profiles.yml").display().to_string());
                looked.push(home.join(".dbt/profiles.yml").display().to_string());
            }
            return Err(Diagnostic::error(
                codes::PROFILE,
                format!(
                    "the project uses profile `{profile_name}`, but no profiles.yml was found (looked for {})",
                    looked.join(", ")
                ),
            )
            .with_help(
                "create profiles.yml with that profile (`rdbt init` writes one), pass --profiles-dir, \
                 or remove `profile:` from the project file to build on the built-in local target",
            ));
        }
        None => {
            if let Some(dir) = &profiles_dir {
                return Err(Diagnostic::error(codes::PROFILE, format!("no profiles.yml in {}", dir.display()))
                    .with_help("check --profiles-dir, or remove it to use the built-in local DataFusion target"));
            }
            if let Some(t) = &target_flag
                && t != "local"
                && t != "default"
            {
                return Err(Diagnostic::error(codes::PROFILE, format!("target `{t}` was asked for, but no profiles.yml was found"))
                        .with_help("create profiles.yml in the project folder or ~/.rdbt/, or drop --target to build on the embedded warehouse"));
            }
            Target::default_local(&project_dir)
        }
    };
    sources.push((
        "target".into(),
        match &profiles_file {
            Some(p) => format!("{} ({})", target.name, p.display()),
            None => "local (built-in default: embedded DataFusion)".into(),
        },
    ));
    let threads = if let Some(t) = flags.threads {
        sources.push(("threads".into(), "--threads".into()));
        t
    } else if let Some(t) = env("RDBT_THREADS").and_then(|t| t.parse().ok()) {
        sources.push(("threads".into(), "RDBT_THREADS".into()));
        t
    } else if let Some(t) = target.threads {
        sources.push(("threads".into(), "profiles.yml".into()));
        t
    } else {
        sources.push(("threads".into(), "default: number of cores".into()));
        std::thread::available_parallelism().map_or(1, |n| n.get())
    };
    let cli_vars = parse_vars(flags.vars.as_deref().or(env("RDBT_VARS").as_deref()))?;
    let log_format = flags
        .log_format
        .or_else(|| match env("RDBT_LOG_FORMAT").as_deref() {
            Some("json") => Some(LogFormat::Json),
            Some("text") => Some(LogFormat::Text),
            _ => None,
        });
    let quiet = flags.quiet || env("RDBT_QUIET").is_some();
    // `--log-level` (clap also reads RDBT_LOG_LEVEL for it).
    let level = flags.log_level.unwrap_or(LogLevel::Info);
    let min_level = if quiet {
        level.max(LogLevel::Error)
    } else {
        level
    };
    let no_color = flags.no_color || env("NO_COLOR").is_some() || env("RDBT_NO_COLOR").is_some();
    let settings = Settings {
        project_dir,
        profiles_file,
        profile_name,
        target,
        threads: threads.max(1),
        cli_vars,
        log_format: log_format.unwrap_or(LogFormat::Text),
        quiet,
        min_level,
        color: !no_color && std::io::IsTerminal::is_terminal(&std::io::stdout()),
        partial_parse: !flags.no_partial_parse && env("RDBT_NO_PARTIAL_PARSE").is_none(),
        sources,
    };
    Ok((settings, warnings))
}

/// Parses `--vars '<yaml>'` (YAML or JSON) into a mapping.
pub fn parse_vars(
    text: Option<&str>,
) -> Result<serde_json::Map<String, serde_json::Value>, Diagnostic> {
    let Some(text) = text.filter(|t| !t.trim().is_empty()) else {
        return Ok(Default::default());
    };
    let file = SourceFile::new("--vars", text);
    let node = yaml::parse(&file).map_err(|d| {
        Diagnostic::error(
            codes::USAGE,
            format!("--vars is not valid YAML: {}", d.message),
        )
        .with_help("pass a mapping, e.g. --vars '{as_of_date: 2024-06-30}'")
    })?;
    match node.map(|n| n.to_json()) {
        None => Ok(Default::default()),
        Some(serde_json::Value::Object(map)) => Ok(map),
        Some(other) => Err(Diagnostic::error(
            codes::USAGE,
            format!("--vars must be a mapping, got `{other}`"),
        )
        .with_help("pass a mapping, e.g. --vars '{as_of_date: 2024-06-30}'")),
    }
}

impl Settings {
    /// The absolute path of something under the project.
    pub fn in_project(&self, rel: &Path) -> PathBuf {
        self.project_dir.join(rel)
    }
}
