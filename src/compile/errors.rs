//! Turning template-engine errors into diagnostics at the user's file, line
//! and column, and the tagged errors rdbt's own Jinja functions raise so their
//! stable code survives the trip through the engine.

use crate::diagnostics::{Code, Diagnostic, Location, codes};
use minijinja::{Error, ErrorKind};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

const TAG: &str = "\u{1}rdbt:";

/// An error carrying a stable code and a hint through minijinja.
pub fn tagged_error(code: Code, message: &str, help: &str) -> Error {
    Error::new(
        ErrorKind::InvalidOperation,
        format!("{TAG}{}\u{1}{message}\u{1}{help}", code.0),
    )
}

fn untag(detail: &str) -> Option<(Code, String, String)> {
    let rest = detail.strip_prefix(TAG)?;
    let mut parts = rest.splitn(3, '\u{1}');
    let code = parts.next()?;
    let message = parts.next()?.to_string();
    let help = parts.next().unwrap_or("").to_string();
    let code = ALL_CODES
        .iter()
        .copied()
        .find(|c| c.0 == code)
        .unwrap_or(codes::JINJA_RUNTIME);
    Some((code, message, help))
}

const ALL_CODES: &[Code] = &[
    codes::JINJA_RUNTIME,
    codes::MISSING_MACRO,
    codes::MISSING_VAR,
    codes::COMPILER_ERROR,
    codes::INVALID_CONFIG,
    codes::UNKNOWN_REF,
    codes::UNKNOWN_SOURCE,
];

/// Where a template's text came from: the file, its text, the template's
/// own text, and the 0-based line and column where the template starts in
/// the file (a macro or snapshot block starts mid-file).
#[derive(Debug, Clone)]
pub struct TemplateOrigin {
    pub path: PathBuf,
    pub file_text: Arc<str>,
    pub template_text: Arc<str>,
    pub first_line: usize,
    pub first_column: usize,
}

impl TemplateOrigin {
    /// A template that starts at byte `offset` of `file_text`.
    pub fn new(path: PathBuf, file_text: Arc<str>, template_text: Arc<str>, offset: usize) -> Self {
        let before = &file_text[..offset.min(file_text.len())];
        let first_line = before.matches('\n').count();
        let first_column = before.len() - before.rfind('\n').map_or(0, |i| i + 1);
        TemplateOrigin {
            path,
            file_text,
            template_text,
            first_line,
            first_column,
        }
    }

    /// A template whose first character is at the 0-based `first_line` and
    /// `first_column` of the file.
    pub fn at_position(
        path: PathBuf,
        file_text: Arc<str>,
        template_text: Arc<str>,
        first_line: usize,
        first_column: usize,
    ) -> Self {
        TemplateOrigin {
            path,
            file_text,
            template_text,
            first_line,
            first_column,
        }
    }

    /// The file location of byte `offset` of the template.
    fn locate(&self, offset: usize, len: usize) -> (Location, usize) {
        let text = &self.template_text;
        let offset = offset.min(text.len());
        let mut start = offset;
        while start > 0 && !text.is_char_boundary(start) {
            start -= 1;
        }
        let before = &text[..start];
        let line_in_template = before.matches('\n').count();
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let mut column = before[line_start..].chars().count();
        if line_in_template == 0 {
            column += self.first_column;
        }
        let span = text[start..]
            .chars()
            .take(len.max(1))
            .take_while(|c| *c != '\n')
            .count();
        (
            Location::new(
                &self.path,
                self.first_line + line_in_template + 1,
                column + 1,
            ),
            span,
        )
    }
}

/// Template name → origin, for every template that can raise an error.
pub type TemplateOrigins = HashMap<String, TemplateOrigin>;

/// The engine's error chain as one diagnostic at the innermost known place.
pub fn to_diagnostic(
    err: &Error,
    origins: &TemplateOrigins,
    node_origin: Option<(&str, &TemplateOrigin)>,
) -> Diagnostic {
    let mut chain: Vec<&Error> = vec![err];
    let mut cur: &dyn std::error::Error = err;
    while let Some(next) = cur.source() {
        if let Some(e) = next.downcast_ref::<Error>() {
            chain.push(e);
        }
        cur = next;
    }
    let tagged = chain.iter().rev().find_map(|e| e.detail().and_then(untag));
    let (code, message, help) = match tagged {
        Some(t) => t,
        None => {
            let innermost = chain
                .iter()
                .rev()
                .find(|e| e.detail().is_some())
                .copied()
                .unwrap_or(err);
            describe(innermost)
        }
    };
    let mut d = Diagnostic::error(code, message);
    if !help.is_empty() {
        d = d.with_help(help);
    }
    // The innermost error that knows its template and line.
    let placed = chain
        .iter()
        .rev()
        .find(|e| e.name().is_some() && e.line().is_some());
    if let Some(e) = placed {
        let name = e.name().unwrap_or_default();
        let origin = origins
            .get(name)
            .or_else(|| node_origin.filter(|(n, _)| *n == name).map(|(_, o)| o));
        if let Some(origin) = origin {
            let (location, span) = match e.range() {
                Some(range) => origin.locate(range.start, range.len()),
                None => (
                    Location::new(&origin.path, origin.first_line + e.line().unwrap_or(1), 1),
                    1,
                ),
            };
            d = d.at(location, Some(&origin.file_text));
            d.span_len = span.max(1);
        }
    }
    d
}

fn describe(e: &Error) -> (Code, String, String) {
    let detail = e.detail().unwrap_or("").to_string();
    match e.kind() {
        ErrorKind::SyntaxError => (codes::JINJA_SYNTAX, format!("Jinja syntax error: {detail}"), "check the matching {% %} / {{ }} tags and the expression syntax".into()),
        ErrorKind::UnknownFunction => (
            codes::MISSING_MACRO,
            format!("unknown macro or function: {detail}"),
            "define the macro under macros/, install the package that provides it (`rdbt deps`), or check the spelling".into(),
        ),
        ErrorKind::UnknownFilter => (codes::JINJA_RUNTIME, format!("unknown filter: {detail}"), "check the filter name".into()),
        ErrorKind::UnknownTest => (codes::JINJA_RUNTIME, format!("unknown test: {detail}"), "check the test name after `is`".into()),
        ErrorKind::UnknownMethod => (codes::JINJA_RUNTIME, format!("unknown method: {detail}"), String::new()),
        ErrorKind::UndefinedError => (codes::JINJA_RUNTIME, format!("undefined value: {detail}"), "a variable or attribute used here is not defined".into()),
        ErrorKind::TemplateNotFound => (codes::JINJA_RUNTIME, format!("template not found: {detail}"), String::new()),
        kind => (codes::JINJA_RUNTIME, if detail.is_empty() { kind.to_string() } else { format!("{kind}: {detail}") }, String::new()),
    }
}
