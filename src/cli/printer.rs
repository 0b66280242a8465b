//! Everything rdbt prints goes through the `Printer`: human text or one JSON
//! object per line, diagnostics through the one renderer, and a broken pipe
//! (`rdbt ls | head`) treated as a normal end, not an error.

use crate::diagnostics::{Diagnostic, Severity, render_diagnostic, render_summary};
use crate::settings::LogFormat;
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct Printer {
    pub format: LogFormat,
    pub quiet: bool,
    pub color: bool,
    /// Paths in diagnostics are shown relative to this folder.
    pub base: PathBuf,
}

/// Stdout was closed by the reader; stop quietly.
#[derive(Debug)]
pub struct BrokenPipe;

impl Printer {
    pub fn new(format: LogFormat, quiet: bool, color: bool, base: PathBuf) -> Self {
        Printer {
            format,
            quiet,
            color,
            base,
        }
    }

    /// A progress or summary line (suppressed by --quiet).
    pub fn info(&self, msg: &str) {
        if self.quiet {
            return;
        }
        match self.format {
            LogFormat::Text => eprintln!("{msg}"),
            LogFormat::Json => eprintln!(
                "{}",
                serde_json::json!({"level": "info", "msg": msg, "ts": now()})
            ),
        }
    }

    /// The output a command exists for (ls lines, compiled SQL); never
    /// suppressed.
    pub fn output(&self, line: &str) -> Result<(), BrokenPipe> {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}").map_err(|_| BrokenPipe)
    }

    pub fn diagnostics(&self, diags: &[Diagnostic]) {
        let (mut errors, mut warnings) = (0, 0);
        for d in diags {
            match d.severity {
                Severity::Error => errors += 1,
                Severity::Warning => {
                    warnings += 1;
                    if self.quiet {
                        continue;
                    }
                }
            }
            match self.format {
                LogFormat::Text => eprint!("{}", render_diagnostic(d, &self.base, self.color)),
                LogFormat::Json => {
                    let mut v = serde_json::to_value(d).unwrap_or_default();
                    if let Some(obj) = v.as_object_mut() {
                        obj.insert(
                            "level".into(),
                            serde_json::json!(if d.is_error() { "error" } else { "warn" }),
                        );
                        obj.insert("ts".into(), serde_json::json!(now()));
                        if let Some(loc) = obj.get_mut("location")
                            && let Some(path) = loc.get("path").and_then(|p| p.as_str())
                        {
                            let shown = std::path::Path::new(path)
                                .strip_prefix(&self.base)
                                .map(|p| p.display().to_string())
                                .unwrap_or_else(|_| path.to_string());
                            loc["path"] = serde_json::json!(shown);
                        }
                    }
                    eprintln!("{v}");
                }
            }
        }
        if errors > 0 && self.format == LogFormat::Text {
            eprintln!("{}", render_summary(errors, warnings));
        }
    }
}

fn now() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}
