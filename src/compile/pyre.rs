//! `modules.re` as Python's `re`: `match`, `search`, `fullmatch`,
//! `findall`, `finditer`, `sub`, `split`, `compile`, `escape`, the flags,
//! and match objects (`group`, `groups`, `groupdict`, `start`, `end`,
//! `span`). Patterns use Python's syntax, look-around and back-references
//! included (fancy-regex), with a `{` that starts no repetition read
//! literally, as Python reads it.

use minijinja::value::{Enumerator, Object, Value};
use minijinja::{Error, ErrorKind, State};
use std::sync::Arc;

fn bad(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, message.into())
}

const IGNORECASE: i64 = 2;
const MULTILINE: i64 = 8;
const DOTALL: i64 = 16;
const VERBOSE: i64 = 64;

/// Python's pattern text in fancy-regex's syntax, with `flags` inline.
fn translate(pattern: &str, flags: i64) -> String {
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut inline = String::new();
    if flags & IGNORECASE != 0 {
        inline.push('i');
    }
    if flags & MULTILINE != 0 {
        inline.push('m');
    }
    if flags & DOTALL != 0 {
        inline.push('s');
    }
    if flags & VERBOSE != 0 {
        inline.push('x');
    }
    if !inline.is_empty() {
        out.push_str(&format!("(?{inline})"));
    }
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    let mut in_class = false;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' => {
                out.push(c);
                if let Some(n) = chars.get(i + 1) {
                    // Python's `\Z` is the end of the text.
                    if *n == 'Z' {
                        out.push('z');
                    } else {
                        out.push(*n);
                    }
                }
                i += 2;
                continue;
            }
            '[' if !in_class => in_class = true,
            ']' if in_class => in_class = false,
            '{' if !in_class && !is_repetition(&chars[i..]) => {
                out.push_str("\\{");
                i += 1;
                continue;
            }
            '}' if !in_class && !closes_repetition(&chars[..i]) => {
                out.push_str("\\}");
                i += 1;
                continue;
            }
            _ => {}
        }
        out.push(c);
        i += 1;
    }
    out
}

/// `{n}`, `{n,}`, `{,m}` or `{n,m}` at the start of `rest`.
fn is_repetition(rest: &[char]) -> bool {
    let Some(end) = rest.iter().position(|c| *c == '}') else {
        return false;
    };
    let inner: String = rest[1..end].iter().collect();
    !inner.is_empty()
        && inner.chars().all(|c| c.is_ascii_digit() || c == ',')
        && inner.matches(',').count() <= 1
        && inner != ","
}

/// Whether the `}` after `before` ends a repetition.
fn closes_repetition(before: &[char]) -> bool {
    match before.iter().rposition(|c| *c == '{' || *c == '}') {
        Some(open) if before[open] == '{' => {
            let inner: String = before[open + 1..].iter().collect();
            // An escaped `\{` opens no repetition.
            let escaped = open > 0 && before[open - 1] == '\\';
            !escaped
                && !inner.is_empty()
                && inner != ","
                && inner.chars().all(|c| c.is_ascii_digit() || c == ',')
                && inner.matches(',').count() <= 1
        }
        _ => false,
    }
}

fn compile(pattern: &str, flags: i64) -> Result<fancy_regex::Regex, Error> {
    fancy_regex::Regex::new(&translate(pattern, flags))
        .map_err(|e| bad(format!("re.error: bad pattern `{pattern}`: {e}")))
}

/// A compiled pattern (`re.compile(...)`) or, through the module, one
/// compiled per call.
#[derive(Debug)]
struct Pattern {
    text: String,
    regex: fancy_regex::Regex,
}

impl Pattern {
    fn call(&self, method: &str, args: &[Value]) -> Result<Value, Error> {
        let (positional, kwargs) = super::values::split_kwargs(args);
        let arg = |i: usize, name: &str| -> Option<Value> {
            positional
                .get(i)
                .cloned()
                .or_else(|| kwargs.as_ref()?.get::<Option<Value>>(name).ok()?)
        };
        let text = |i: usize| arg(i, "string").map(|v| v.to_string()).unwrap_or_default();
        let run_err = |e: fancy_regex::Error| bad(format!("re: {e}"));
        match method {
            "match" | "search" | "fullmatch" => {
                let subject = text(0);
                let found = self.regex.captures(subject.as_str()).map_err(run_err)?;
                let Some(caps) = found else {
                    return Ok(Value::from(()));
                };
                let whole = caps.get(0).map_or(0..0, |m| m.range());
                let ok = match method {
                    "match" => whole.start == 0,
                    "fullmatch" => whole.start == 0 && whole.end == subject.len(),
                    _ => true,
                };
                if !ok {
                    // Anchor and try again: a later match may not be the
                    // one Python's anchored search finds.
                    let anchored = if method == "match" {
                        format!("^(?:{})", self.text)
                    } else {
                        format!("^(?:{})$", self.text)
                    };
                    let re = fancy_regex::Regex::new(&anchored).map_err(|e| bad(e.to_string()))?;
                    return Ok(match re.captures(subject.as_str()).map_err(run_err)? {
                        Some(c) => Value::from_object(Match::new(&c, &re)),
                        None => Value::from(()),
                    });
                }
                Ok(Value::from_object(Match::new(&caps, &self.regex)))
            }
            "findall" => {
                let subject = text(0);
                let groups = self.regex.captures_len() - 1;
                let mut out = Vec::new();
                for caps in self.regex.captures_iter(subject.as_str()) {
                    let caps = caps.map_err(run_err)?;
                    let g = |i: usize| Value::from(caps.get(i).map_or("", |m| m.as_str()));
                    out.push(match groups {
                        0 => g(0),
                        1 => g(1),
                        n => Value::from((1..=n).map(g).collect::<Vec<_>>()),
                    });
                }
                Ok(Value::from(out))
            }
            "finditer" => {
                let subject = text(0);
                let mut out = Vec::new();
                for caps in self.regex.captures_iter(subject.as_str()) {
                    out.push(Value::from_object(Match::new(
                        &caps.map_err(run_err)?,
                        &self.regex,
                    )));
                }
                Ok(Value::from(out))
            }
            "sub" | "subn" => {
                let repl = arg(0, "repl").map(|v| v.to_string()).unwrap_or_default();
                let subject = text(1);
                let count = arg(2, "count")
                    .and_then(|v| usize::try_from(v).ok())
                    .unwrap_or(0);
                let replacement = python_replacement(&repl);
                let mut n = 0usize;
                let mut out = String::new();
                let mut last = 0;
                for caps in self.regex.captures_iter(subject.as_str()) {
                    if count != 0 && n == count {
                        break;
                    }
                    let caps = caps.map_err(run_err)?;
                    let Some(m) = caps.get(0) else { continue };
                    out.push_str(&subject[last..m.start()]);
                    caps.expand(&replacement, &mut out);
                    last = m.end();
                    n += 1;
                }
                out.push_str(&subject[last..]);
                Ok(if method == "subn" {
                    Value::from(vec![Value::from(out), Value::from(n)])
                } else {
                    Value::from(out)
                })
            }
            "split" => {
                let subject = text(0);
                let mut out = Vec::new();
                let mut last = 0;
                for caps in self.regex.captures_iter(subject.as_str()) {
                    let caps = caps.map_err(run_err)?;
                    let Some(m) = caps.get(0) else { continue };
                    out.push(Value::from(&subject[last..m.start()]));
                    for i in 1..caps.len() {
                        out.push(
                            caps.get(i)
                                .map_or(Value::from(()), |g| Value::from(g.as_str())),
                        );
                    }
                    last = m.end();
                }
                out.push(Value::from(&subject[last..]));
                Ok(Value::from(out))
            }
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }
}

/// Python's `\1`, `\g<1>` and `\g<name>` in a replacement, as fancy-regex's
/// `${1}` / `${name}`; a `$` stays a `$`.
fn python_replacement(repl: &str) -> String {
    let chars: Vec<char> = repl.chars().collect();
    let mut out = String::with_capacity(repl.len());
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '$' => out.push_str("$$"),
            '\\' if i + 1 < chars.len() => {
                let n = chars[i + 1];
                if n.is_ascii_digit() {
                    let mut j = i + 1;
                    while j < chars.len() && chars[j].is_ascii_digit() && j < i + 3 {
                        j += 1;
                    }
                    let group: String = chars[i + 1..j].iter().collect();
                    out.push_str(&format!("${{{group}}}"));
                    i = j;
                    continue;
                }
                if n == 'g'
                    && chars.get(i + 2) == Some(&'<')
                    && let Some(end) = chars[i + 3..].iter().position(|c| *c == '>')
                {
                    let group: String = chars[i + 3..i + 3 + end].iter().collect();
                    out.push_str(&format!("${{{group}}}"));
                    i += 4 + end;
                    continue;
                }
                out.push(match n {
                    'n' => '\n',
                    't' => '\t',
                    '\\' => '\\',
                    other => other,
                });
                i += 2;
                continue;
            }
            c => out.push(c),
        }
        i += 1;
    }
    out
}

impl Object for Pattern {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "pattern" => Some(Value::from(self.text.clone())),
            _ => None,
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::NonEnumerable
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        Pattern::call(self, method, args)
    }
}

/// A match object.
#[derive(Debug)]
struct Match {
    groups: Vec<Option<(usize, usize, String)>>,
    names: Vec<(String, usize)>,
}

impl Match {
    fn new(caps: &fancy_regex::Captures<'_, str>, regex: &fancy_regex::Regex) -> Match {
        Match {
            groups: (0..caps.len())
                .map(|i| {
                    caps.get(i)
                        .map(|m| (m.start(), m.end(), m.as_str().to_string()))
                })
                .collect(),
            names: regex
                .capture_names()
                .enumerate()
                .filter_map(|(i, n)| n.map(|n| (n.to_string(), i)))
                .collect(),
        }
    }

    fn index(&self, key: Option<&Value>) -> Result<usize, Error> {
        match key {
            None => Ok(0),
            Some(v) => {
                if let Some(name) = v.as_str() {
                    return self
                        .names
                        .iter()
                        .find(|(n, _)| n == name)
                        .map(|(_, i)| *i)
                        .ok_or_else(|| bad(format!("IndexError: no such group `{name}`")));
                }
                usize::try_from(v.clone())
                    .ok()
                    .filter(|i| *i < self.groups.len())
                    .ok_or_else(|| bad(format!("IndexError: no such group {v}")))
            }
        }
    }

    fn text(&self, i: usize) -> Value {
        self.groups[i]
            .as_ref()
            .map_or(Value::from(()), |(_, _, t)| Value::from(t.clone()))
    }
}

impl Object for Match {
    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::NonEnumerable
    }

    fn is_true(self: &Arc<Self>) -> bool {
        true
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let span = |i: usize| {
            self.groups[i]
                .as_ref()
                .map(|(s, e, _)| (*s as i64, *e as i64))
        };
        match method {
            "group" if args.len() > 1 => Ok(Value::from(
                args.iter()
                    .map(|a| self.index(Some(a)).map(|i| self.text(i)))
                    .collect::<Result<Vec<_>, _>>()?,
            )),
            "group" => Ok(self.text(self.index(args.first())?)),
            "groups" => Ok(Value::from(
                (1..self.groups.len())
                    .map(|i| self.text(i))
                    .collect::<Vec<_>>(),
            )),
            "groupdict" => Ok(super::values::map_value(
                self.names.iter().map(|(n, i)| (n.clone(), self.text(*i))),
            )),
            "start" => Ok(Value::from(
                span(self.index(args.first())?).map_or(-1, |s| s.0),
            )),
            "end" => Ok(Value::from(
                span(self.index(args.first())?).map_or(-1, |s| s.1),
            )),
            "span" => {
                let (s, e) = span(self.index(args.first())?).unwrap_or((-1, -1));
                Ok(Value::from(vec![Value::from(s), Value::from(e)]))
            }
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (s, e, t) = self.groups[0].clone().unwrap_or((0, 0, String::new()));
        write!(f, "<re.Match object; span=({s}, {e}), match='{t}'>")
    }
}

/// `modules.re`.
#[derive(Debug)]
pub struct ReModule;

impl Object for ReModule {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        Some(Value::from(match key.as_str()? {
            "I" | "IGNORECASE" => IGNORECASE,
            "M" | "MULTILINE" => MULTILINE,
            "S" | "DOTALL" => DOTALL,
            "X" | "VERBOSE" => VERBOSE,
            "A" | "ASCII" | "U" | "UNICODE" => 0,
            _ => return None,
        }))
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::NonEnumerable
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let (positional, kwargs) = super::values::split_kwargs(args);
        let pattern = positional.first().map(Value::to_string).unwrap_or_default();
        if method == "escape" {
            return Ok(Value::from(fancy_regex::escape(&pattern).into_owned()));
        }
        // Where each method takes its flags, after the pattern.
        let flags_at = match method {
            "compile" => 1,
            "match" | "search" | "fullmatch" | "findall" | "finditer" => 2,
            "split" => 3,
            "sub" | "subn" => 4,
            _ => return Err(Error::from(ErrorKind::UnknownMethod)),
        };
        let flags = positional
            .get(flags_at)
            .and_then(|v| i64::try_from(v.clone()).ok())
            .or_else(|| kwargs.as_ref()?.get::<Option<i64>>("flags").ok()?)
            .unwrap_or(0);
        let compiled = Pattern {
            regex: compile(&pattern, flags)?,
            text: translate(&pattern, flags),
        };
        if method == "compile" {
            return Ok(Value::from_object(compiled));
        }
        let mut rest: Vec<Value> = positional[1..positional.len().min(flags_at)].to_vec();
        if let Some(kw) = kwargs {
            rest.push(Value::from(kw));
        }
        compiled.call(method, &rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_syntax_is_translated() {
        assert_eq!(translate("a{2}b", 0), "a{2}b");
        assert_eq!(translate("{{ x }}", 0), "\\{\\{ x \\}\\}");
        assert_eq!(translate("[{]x\\Z", IGNORECASE), "(?i)[{]x\\z");
        assert_eq!(python_replacement(r"\1-\g<name>$"), "${1}-${name}$$");
    }
}
