//! Everything rdbt prints goes through the `Printer`, as dbt prints it: every
//! line on standard output (so `rdbt build | tee build.log` keeps it all),
//! each line an event with a level that `--log-level` and `--quiet` filter
//! (`--quiet` keeps errors and what a command exists to print), and with
//! `--log-format json` each line one JSON object with dbt's envelope
//! (`{"data": {...}, "info": {"code", "level", "msg", "name", "ts", ...}}`).
//! A broken pipe (`rdbt ls | head`) ends quietly, not as an error.

use crate::diagnostics::{Diagnostic, Severity, render_diagnostic, render_summary};
use crate::settings::{LogFormat, LogLevel};
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
pub struct Printer {
    pub format: LogFormat,
    /// The lowest level shown; `LogLevel::None` shows nothing but printed
    /// output.
    pub min_level: LogLevel,
    pub color: bool,
    /// Paths in diagnostics are shown relative to this folder.
    pub base: PathBuf,
    /// `logs/dbt.log`: every event, debug ones too, as dbt keeps it.
    file: Option<Arc<Mutex<std::fs::File>>>,
    /// Warnings printed so far by this printer and its clones, so the
    /// `N errors, M warnings` line counts those printed before the errors.
    warned: Arc<std::sync::atomic::AtomicUsize>,
}

/// Stdout was closed by the reader; stop quietly.
#[derive(Debug)]
pub struct BrokenPipe;

/// One console event: dbt's event name and code, its level, the message a
/// person reads, and the structured fields a machine reads.
pub struct Event<'a> {
    pub name: &'static str,
    pub code: &'static str,
    pub level: LogLevel,
    pub msg: &'a str,
    pub data: Value,
    /// Text lines start with the time of day, as dbt's run output does.
    pub clock: bool,
}

impl<'a> Event<'a> {
    pub fn new(name: &'static str, code: &'static str, level: LogLevel, msg: &'a str) -> Self {
        Event {
            name,
            code,
            level,
            msg,
            data: json!({}),
            clock: false,
        }
    }

    pub fn data(mut self, data: Value) -> Self {
        self.data = data;
        self
    }

    pub fn clocked(mut self) -> Self {
        self.clock = true;
        self
    }
}

/// What kind of output a command exists to print (never filtered).
#[derive(Debug, Clone, Copy)]
pub enum Out {
    /// `ls` lines.
    List,
    /// Compiled SQL.
    Compiled,
    /// `show` previews.
    Show,
    /// `debug` lines.
    Debug,
    /// Anything else printed for the user (an operation's result, a URL).
    Note,
}

impl Out {
    fn event(self) -> (&'static str, &'static str) {
        match self {
            Out::List => ("ListCmdOut", "Z049"),
            Out::Compiled => ("CompiledNode", "Q042"),
            Out::Show => ("ShowNode", "Q041"),
            Out::Debug => ("DebugCmdOut", "Z047"),
            Out::Note => ("PrintEvent", "Z052"),
        }
    }
}

impl Printer {
    pub fn new(format: LogFormat, min_level: LogLevel, color: bool, base: PathBuf) -> Self {
        Printer {
            format,
            min_level,
            color,
            base,
            file: None,
            warned: Arc::default(),
        }
    }

    /// Appends every event from now on to `path` (dbt's `logs/dbt.log`),
    /// in dbt's debug text format, or JSON lines with `--log-format json`.
    /// A log file that cannot be written is said once, and the run goes on.
    pub fn with_log_file(mut self, path: &Path) -> Self {
        let opened = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
            });
        match opened {
            Ok(mut file) => {
                if self.format == LogFormat::Text {
                    let _ = writeln!(
                        file,
                        "\n\n============================== {} | {} ==============================",
                        chrono::Utc::now().format("%Y-%m-%d %H:%M:%S%.6f"),
                        crate::invocation_id()
                    );
                }
                self.file = Some(Arc::new(Mutex::new(file)));
            }
            Err(e) => self.event(&Event::new(
                "Note",
                "Z050",
                LogLevel::Warn,
                &format!(
                    "cannot write the log file {}: {e} (set --log-path to a writable folder)",
                    path.display()
                ),
            )),
        }
        self
    }

    /// One event into the log file, whatever the console shows.
    fn to_file(&self, e: &Event) {
        let Some(file) = &self.file else {
            return;
        };
        let line = match self.format {
            LogFormat::Json => format!("{}\n", envelope(e)),
            LogFormat::Text => {
                let ts = chrono::Utc::now().format("%H:%M:%S%.6f");
                let level = format!("{:<5}", e.level.as_str());
                let mut text = String::new();
                for line in e.msg.split('\n') {
                    text.push_str(&format!("{ts} [{level}] [MainThread]: {line}\n"));
                }
                text
            }
        };
        if let Ok(mut file) = file.lock() {
            let _ = file.write_all(line.as_bytes());
        }
    }

    /// Whether a line at `level` is shown.
    pub fn shows(&self, level: LogLevel) -> bool {
        level != LogLevel::None && level >= self.min_level
    }

    /// Info lines are hidden (`--quiet`, or a higher `--log-level`): no
    /// progress bars either.
    pub fn quiet(&self) -> bool {
        !self.shows(LogLevel::Info)
    }

    /// A progress or summary line.
    pub fn info(&self, msg: &str) {
        self.event(&Event::new("Note", "Z050", LogLevel::Info, msg));
    }

    /// An empty line between sections of text output.
    pub fn blank(&self) {
        self.event(&Event::new("Formatting", "Z017", LogLevel::Info, ""));
    }

    pub fn event(&self, e: &Event) {
        self.to_file(e);
        if !self.shows(e.level) {
            return;
        }
        match self.format {
            LogFormat::Text => {
                if e.clock {
                    let clock = clock();
                    let mut text = String::new();
                    for line in e.msg.split('\n') {
                        text.push_str(&clock);
                        text.push_str("  ");
                        text.push_str(line);
                        text.push('\n');
                    }
                    write_stdout(&text);
                } else {
                    write_stdout(&format!("{}\n", e.msg));
                }
            }
            LogFormat::Json => write_stdout(&format!("{}\n", envelope(e))),
        }
    }

    /// The output a command exists for (ls lines, compiled SQL); shown even
    /// with `--quiet`.
    pub fn output(&self, kind: Out, text: &str) -> Result<(), BrokenPipe> {
        let (name, code) = kind.event();
        self.to_file(&Event::new(name, code, LogLevel::Info, text).data(json!({"msg": text})));
        let mut out = std::io::stdout().lock();
        match self.format {
            LogFormat::Text => writeln!(out, "{text}"),
            LogFormat::Json => {
                let e = Event::new(name, code, LogLevel::Info, text).data(json!({"msg": text}));
                writeln!(out, "{}", envelope(&e))
            }
        }
        .map_err(|_| BrokenPipe)
    }

    pub fn diagnostics(&self, diags: &[Diagnostic]) {
        let (mut errors, mut warnings) = (0, 0);
        for d in diags {
            let level = match d.severity {
                Severity::Error => {
                    errors += 1;
                    LogLevel::Error
                }
                Severity::Warning => {
                    warnings += 1;
                    LogLevel::Warn
                }
            };
            if self.file.is_some() {
                let msg = render_diagnostic(d, &self.base, false);
                self.to_file(&Event::new("Diagnostic", d.code.0, level, msg.trim_end()));
            }
            if !self.shows(level) {
                continue;
            }
            match self.format {
                LogFormat::Text => write_stdout(&render_diagnostic(d, &self.base, self.color)),
                LogFormat::Json => {
                    let mut data = serde_json::to_value(d).unwrap_or_default();
                    if let Some(loc) = data.get_mut("location")
                        && let Some(path) = loc.get("path").and_then(|p| p.as_str())
                    {
                        let shown = std::path::Path::new(path)
                            .strip_prefix(&self.base)
                            .map(|p| p.display().to_string())
                            .unwrap_or_else(|_| path.to_string());
                        loc["path"] = json!(shown);
                    }
                    let msg = render_diagnostic(d, &self.base, false);
                    let e = Event::new("Diagnostic", d.code.0, level, msg.trim_end()).data(data);
                    write_stdout(&format!("{}\n", envelope(&e)));
                }
            }
        }
        use std::sync::atomic::Ordering;
        let earlier = self.warned.fetch_add(warnings, Ordering::Relaxed);
        if errors > 0 && self.format == LogFormat::Text && self.shows(LogLevel::Error) {
            write_stdout(&format!("{}\n", render_summary(errors, earlier + warnings)));
        }
    }
}

/// dbt's JSON log line: `{"data": ..., "info": {...}}`.
fn envelope(e: &Event) -> Value {
    json!({
        "data": e.data,
        "info": {
            "category": "",
            "code": e.code,
            "extra": {},
            "invocation_id": crate::invocation_id(),
            "level": e.level.as_str(),
            "msg": e.msg,
            "name": e.name,
            "pid": std::process::id(),
            "thread": "MainThread",
            "ts": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        }
    })
}

/// Console lines go to stdout, as dbt's do. A closed pipe loses nothing a
/// command still needs: the artifacts are written regardless.
fn write_stdout(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

pub fn clock() -> String {
    chrono::Local::now().format("%H:%M:%S").to_string()
}
