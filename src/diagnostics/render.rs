//! The one place diagnostics become text: `error[R301]: message`, then
//! `--> path:line:col`, the line, a caret under the span, and the hint.

use super::{Diagnostic, Severity};
use std::fmt::Write as _;
use std::path::Path;

/// Renders one diagnostic. Paths are shown relative to `base` when they are
/// inside it, so output is the same on every machine.
pub fn render_diagnostic(d: &Diagnostic, base: &Path, color: bool) -> String {
    let (label, paint) = match d.severity {
        Severity::Error => ("error", "\x1b[1;31m"),
        Severity::Warning => ("warning", "\x1b[1;33m"),
    };
    let (on, off, blue) = if color {
        (paint, "\x1b[0m", "\x1b[1;34m")
    } else {
        ("", "", "")
    };
    let mut out = String::new();
    let _ = writeln!(out, "{on}{label}[{}]{off}: {}", d.code.0, d.message);
    if let Some(loc) = &d.location {
        let shown = loc.path.strip_prefix(base).unwrap_or(&loc.path);
        let gutter = loc.line.to_string().len();
        let pad = " ".repeat(gutter);
        let _ = writeln!(
            out,
            "{pad}{blue}-->{off} {}:{}:{}",
            shown.display(),
            loc.line,
            loc.column
        );
        if let Some(line) = &d.source_line {
            let _ = writeln!(out, "{pad} {blue}|{off}");
            let _ = writeln!(out, "{blue}{}{off} {blue}|{off} {line}", loc.line);
            let indent: String = line
                .chars()
                .take(loc.column.saturating_sub(1))
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            let _ = writeln!(
                out,
                "{pad} {blue}|{off} {indent}{on}{}{off}",
                "^".repeat(d.span_len.max(1))
            );
        }
    }
    if let Some(help) = &d.help {
        let _ = writeln!(out, "  = help: {help}");
    }
    out
}

/// `2 errors, 1 warning` style tail line.
pub fn render_summary(errors: usize, warnings: usize) -> String {
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    format!(
        "{}, {}",
        plural(errors, "error"),
        plural(warnings, "warning")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostics::{Diagnostic, codes};

    #[test]
    fn caret_points_at_the_column() {
        let src = "select *\nfrom {{ ref('nope') }}\n";
        let d = Diagnostic::error(codes::UNKNOWN_REF, "unknown ref")
            .at_offset(Path::new("/p/models/a.sql"), src, 17, 6)
            .with_help("did you mean `nope2`?");
        let text = render_diagnostic(&d, Path::new("/p"), false);
        assert_eq!(
            text,
            "error[R301]: unknown ref\n --> models/a.sql:2:9\n  |\n2 | from {{ ref('nope') }}\n  |         ^^^^^^\n  = help: did you mean `nope2`?\n"
        );
    }
}
