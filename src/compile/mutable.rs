//! dbt's Jinja mutates containers (`{% do cols.append(c) %}`,
//! `{% do d.update({...}) %}`), which plain minijinja values cannot do.
//! Literal lists and dicts bound by `{% set %}` are therefore rewritten to
//! mutable objects that behave like sequences and mappings everywhere else.

use minijinja::value::{Enumerator, Object, ObjectRepr, Value};
use minijinja::{Error, ErrorKind, State};
use std::borrow::Cow;
use std::sync::{Arc, Mutex};

/// Rewrites every list literal (`[...]`) and dict literal (`{...}`) inside
/// a Jinja tag to `__rdbt_list([...])` / `__rdbt_dict({...})`, so the value
/// can be mutated wherever it ends up (`{% do d[k].append(x) %}` on a list
/// stored in a dict, as dbt packages do). Text outside tags, comments and
/// `{% raw %}` blocks are untouched, and no newline is added or removed, so
/// error positions keep their lines.
pub fn rewrite_literals(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    // Fast path: no tag holds a bracket or brace.
    if !bytes.contains(&b'[') && memchr::memmem::find(bytes, b"{%").is_none() {
        let inner_brace = memchr::memmem::find_iter(bytes, b"{{").any(|start| {
            let rest = &bytes[start + 2..];
            let end = memchr::memmem::find(rest, b"}}").unwrap_or(rest.len());
            rest[..end].contains(&b'{')
        });
        if !inner_brace {
            return Cow::Borrowed(text);
        }
    }
    let mut out = String::with_capacity(text.len() + 64);
    let mut last = 0;
    let mut i = 0;
    let mut changed = false;
    while let Some(off) = memchr::memchr(b'{', &bytes[i..]) {
        let open = i + off;
        let next = bytes.get(open + 1).copied();
        match next {
            Some(b'#') => {
                // A comment: skip to its end.
                i = memchr::memmem::find(&bytes[open + 2..], b"#}")
                    .map_or(bytes.len(), |e| open + 2 + e + 2);
            }
            Some(b'{') | Some(b'%') => {
                let body_start = open + 2;
                if next == Some(b'%') && is_raw_tag(&text[body_start..]) {
                    i = find_endraw(text, body_start).unwrap_or(bytes.len());
                    continue;
                }
                let close = if next == Some(b'{') { b'}' } else { b'%' };
                let Some((end, edits)) = scan_tag(text, body_start, close) else {
                    // An unterminated tag: leave it for the engine's error.
                    break;
                };
                if !edits.is_empty() {
                    changed = true;
                    for (at, insert) in edits {
                        out.push_str(&text[last..at]);
                        out.push_str(insert);
                        last = at;
                    }
                }
                i = end;
            }
            _ => i = open + 1,
        }
        if i >= bytes.len() {
            break;
        }
    }
    if !changed {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[last..]);
    Cow::Owned(out)
}

fn is_raw_tag(body: &str) -> bool {
    let t = body.trim_start_matches(['-', '+']).trim_start();
    t.starts_with("raw")
        && t[3..]
            .trim_start()
            .trim_start_matches(['-', '+'])
            .starts_with("%}")
}

/// The end of the `{% endraw %}` tag after `from`.
fn find_endraw(text: &str, from: usize) -> Option<usize> {
    let mut at = from;
    while let Some(off) = text[at..].find("{%") {
        let tag = at + off + 2;
        let t = text[tag..].trim_start_matches(['-', '+']).trim_start();
        if t.starts_with("endraw") {
            return text[tag..].find("%}").map(|e| tag + e + 2);
        }
        at = tag;
    }
    None
}

/// Scans one tag's expression from `start` (after `{{` or `{%`) to its
/// closing `}}`/`%}` at bracket depth zero. Returns the end of the tag and
/// the insertions that wrap each literal.
fn scan_tag(text: &str, start: usize, close: u8) -> Option<(usize, Vec<(usize, &'static str)>)> {
    let b = text.as_bytes();
    // Most tags (`{{ ref('x') }}`, `{% if ... %}`) hold no bracket or
    // brace: find their end with memchr and skip the byte-by-byte scan.
    // Balanced quotes make sure the end found is not inside a string.
    let closing = [close, b'}'];
    if let Some(off) = memchr::memmem::find(&b[start..], &closing) {
        let body = &b[start..start + off];
        if memchr::memchr2(b'[', b'{', body).is_none()
            && memchr::memchr_iter(b'\'', body).count().is_multiple_of(2)
            && memchr::memchr_iter(b'"', body).count().is_multiple_of(2)
            && memchr::memchr(b'\\', body).is_none()
        {
            return Some((start + off + 2, Vec::new()));
        }
    }
    let mut edits: Vec<(usize, &'static str)> = Vec::new();
    // For each open bracket: whether it is a literal we wrapped.
    let mut stack: Vec<(u8, bool)> = Vec::new();
    // Whether the previous token ends an operand (a `[` after it indexes).
    let mut after_operand = false;
    // Whether the previous token is the keyword `in`: a literal there is
    // only iterated or searched (`for x in [...]`, `x in [...]`) and can
    // never be reached to mutate, so it stays a plain (cheaper) list.
    let mut after_in = false;
    let mut i = start;
    while i < b.len() {
        let c = b[i];
        match c {
            b'\'' | b'"' => {
                i += 1;
                while i < b.len() && b[i] != c {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
                after_operand = true;
                after_in = false;
                continue;
            }
            b'[' => {
                let literal = !after_operand && !after_in;
                if literal {
                    edits.push((i, "__rdbt_list("));
                }
                stack.push((b']', literal));
                after_operand = false;
                after_in = false;
            }
            b'{' => {
                edits.push((i, "__rdbt_dict("));
                stack.push((b'}', true));
                after_operand = false;
                after_in = false;
            }
            b'(' => {
                stack.push((b')', false));
                after_operand = false;
                after_in = false;
            }
            b']' | b'}' | b')' if !stack.is_empty() => {
                let (expected, literal) = stack.pop()?;
                if expected != c {
                    return None;
                }
                if literal {
                    edits.push((i + 1, ")"));
                }
                after_operand = true;
                after_in = false;
            }
            _ if stack.is_empty()
                && (c == close || ((c == b'-' || c == b'+') && b.get(i + 1) == Some(&close)))
                && {
                    let at = if c == close { i } else { i + 1 };
                    b.get(at + 1) == Some(&b'}')
                } =>
            {
                let at = if c == close { i } else { i + 1 };
                return Some((at + 2, edits));
            }
            _ if c.is_ascii_alphanumeric() || c == b'_' => {
                let word_start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                let word = &text[word_start..i];
                after_in = word == "in";
                after_operand = !matches!(
                    word,
                    "in" | "not"
                        | "and"
                        | "or"
                        | "if"
                        | "else"
                        | "is"
                        | "do"
                        | "set"
                        | "return"
                        | "elif"
                        | "for"
                        | "with"
                );
                continue;
            }
            _ if c.is_ascii_whitespace() => {}
            _ => {
                after_operand = false;
                after_in = false;
            }
        }
        i += 1;
    }
    None
}

pub fn list_fn(items: Option<Value>) -> Result<Value, Error> {
    let items: Vec<Value> = match items {
        Some(v) if !v.is_undefined() && !v.is_none() => v.try_iter()?.collect(),
        _ => Vec::new(),
    };
    Ok(Value::from_object(MutableList(Items::new(items))))
}

pub fn dict_fn(map: Option<Value>) -> Result<Value, Error> {
    let mut entries = Vec::new();
    if let Some(m) = map.filter(|v| !v.is_undefined() && !v.is_none()) {
        for k in m.try_iter()? {
            let v = m.get_item(&k)?;
            entries.push((k, v));
        }
    }
    Ok(Value::from_object(MutableMap(Mutex::new(entries))))
}

/// The items of a mutable sequence, and the sequence behaviour a list and
/// a set share: Python-style indexing (negative from the end), iteration,
/// length and truth.
#[derive(Debug, Default)]
struct Items(Mutex<Vec<Value>>);

impl Items {
    fn new(items: Vec<Value>) -> Items {
        Items(Mutex::new(items))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Value>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self, key: &Value) -> Option<Value> {
        let items = self.lock();
        let idx = i64::try_from(key.clone()).ok()?;
        let idx = if idx < 0 {
            items.len() as i64 + idx
        } else {
            idx
        };
        items.get(usize::try_from(idx).ok()?).cloned()
    }

    fn enumerate(&self) -> Enumerator {
        Enumerator::Values(self.lock().clone())
    }

    fn len(&self) -> usize {
        self.lock().len()
    }
}

#[derive(Debug)]
pub struct MutableList(Items);

impl MutableList {
    fn items(&self) -> std::sync::MutexGuard<'_, Vec<Value>> {
        self.0.lock()
    }
}

impl Object for MutableList {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.0.get(key)
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        self.0.enumerate()
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.0.len())
    }

    fn is_true(self: &Arc<Self>) -> bool {
        self.0.len() > 0
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let mut items = self.items();
        let arg = |i: usize| {
            args.get(i).cloned().ok_or_else(|| {
                Error::new(
                    ErrorKind::MissingArgument,
                    format!("list.{method}() needs an argument"),
                )
            })
        };
        match method {
            "append" => items.push(arg(0)?),
            "extend" => items.extend(arg(0)?.try_iter()?),
            "insert" => {
                let at = usize::try_from(arg(0)?).unwrap_or(0).min(items.len());
                items.insert(at, arg(1)?);
            }
            "pop" => {
                let v = match args.first() {
                    Some(i) => {
                        let i = usize::try_from(i.clone())
                            .map_err(|_| Error::new(ErrorKind::InvalidOperation, "pop index"))?;
                        (i < items.len()).then(|| items.remove(i))
                    }
                    None => items.pop(),
                };
                return v
                    .ok_or_else(|| Error::new(ErrorKind::InvalidOperation, "pop from empty list"));
            }
            "remove" => {
                let v = arg(0)?;
                if let Some(pos) = items.iter().position(|x| *x == v) {
                    items.remove(pos);
                }
            }
            "index" => {
                let v = arg(0)?;
                return items
                    .iter()
                    .position(|x| *x == v)
                    .map(Value::from)
                    .ok_or_else(|| Error::new(ErrorKind::InvalidOperation, "value not in list"));
            }
            "count" => {
                let v = arg(0)?;
                return Ok(Value::from(items.iter().filter(|x| **x == v).count()));
            }
            "reverse" => items.reverse(),
            "sort" => items.sort(),
            "copy" => return Ok(Value::from_object(MutableList(Items::new(items.clone())))),
            "clear" => items.clear(),
            _ => return Err(Error::from(ErrorKind::UnknownMethod)),
        }
        Ok(Value::from(""))
    }
}

/// `set(iterable)`: a Python set, kept in insertion order so output is
/// deterministic; two sets are equal when they hold the same items.
pub fn set_fn(items: Option<Value>) -> Result<Value, Error> {
    let mut out: Vec<Value> = Vec::new();
    if let Some(v) = items.filter(|v| !v.is_undefined() && !v.is_none()) {
        for item in v.try_iter()? {
            if !out.contains(&item) {
                out.push(item);
            }
        }
    }
    Ok(Value::from_object(PySet(Items::new(out))))
}

#[derive(Debug)]
pub struct PySet(Items);

impl PySet {
    fn items(&self) -> std::sync::MutexGuard<'_, Vec<Value>> {
        self.0.lock()
    }
}

impl Object for PySet {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.0.get(key)
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        self.0.enumerate()
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.0.len())
    }

    fn is_true(self: &Arc<Self>) -> bool {
        self.0.len() > 0
    }

    fn custom_cmp(
        self: &Arc<Self>,
        other: &minijinja::value::DynObject,
    ) -> Option<std::cmp::Ordering> {
        let other = other.downcast_ref::<Self>()?;
        let (a, b) = (self.items().clone(), other.items().clone());
        (a.len() == b.len() && a.iter().all(|x| b.contains(x))).then_some(std::cmp::Ordering::Equal)
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let other = || -> Result<Vec<Value>, Error> {
            let mut all = Vec::new();
            for a in args {
                all.extend(a.try_iter()?);
            }
            Ok(all)
        };
        let mut items = self.items();
        let new_set = |v: Vec<Value>| set_fn(Some(Value::from(v)));
        match method {
            "add" => {
                if let Some(v) = args.first()
                    && !items.contains(v)
                {
                    items.push(v.clone());
                }
                Ok(Value::from(""))
            }
            "update" => {
                for v in other()? {
                    if !items.contains(&v) {
                        items.push(v);
                    }
                }
                Ok(Value::from(""))
            }
            "remove" | "discard" => {
                let v = args.first().cloned().unwrap_or_default();
                match items.iter().position(|x| *x == v) {
                    Some(p) => {
                        items.remove(p);
                        Ok(Value::from(""))
                    }
                    None if method == "discard" => Ok(Value::from("")),
                    None => Err(Error::new(
                        ErrorKind::InvalidOperation,
                        format!("KeyError: {v}"),
                    )),
                }
            }
            "union" => {
                let mut all = items.clone();
                all.extend(other()?);
                new_set(all)
            }
            "intersection" => {
                let o = other()?;
                new_set(items.iter().filter(|x| o.contains(x)).cloned().collect())
            }
            "difference" => {
                let o = other()?;
                new_set(items.iter().filter(|x| !o.contains(x)).cloned().collect())
            }
            "symmetric_difference" => {
                let o = other()?;
                let mut all: Vec<Value> =
                    items.iter().filter(|x| !o.contains(x)).cloned().collect();
                all.extend(o.iter().filter(|x| !items.contains(x)).cloned());
                new_set(all)
            }
            "issubset" => {
                let o = other()?;
                Ok(Value::from(items.iter().all(|x| o.contains(x))))
            }
            "issuperset" => {
                let o = other()?;
                Ok(Value::from(o.iter().all(|x| items.contains(x))))
            }
            "isdisjoint" => {
                let o = other()?;
                Ok(Value::from(!items.iter().any(|x| o.contains(x))))
            }
            "copy" => new_set(items.clone()),
            "clear" => {
                items.clear();
                Ok(Value::from(""))
            }
            "pop" => items
                .pop()
                .ok_or_else(|| Error::new(ErrorKind::InvalidOperation, "pop from an empty set")),
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }
}

#[derive(Debug)]
pub struct MutableMap(Mutex<Vec<(Value, Value)>>);

impl MutableMap {
    fn entries(&self) -> std::sync::MutexGuard<'_, Vec<(Value, Value)>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets `key` (replacing its value if present).
    pub fn insert(&self, key: Value, value: Value) {
        let mut entries = self.entries();
        match entries.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => entries.push((key, value)),
        }
    }
}

impl Object for MutableMap {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.entries()
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.entries().iter().map(|(k, _)| k.clone()).collect())
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.entries().len())
    }

    fn is_true(self: &Arc<Self>) -> bool {
        !self.entries().is_empty()
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let mut entries = self.entries();
        let set = |entries: &mut Vec<(Value, Value)>, k: Value, v: Value| match entries
            .iter_mut()
            .find(|(ek, _)| *ek == k)
        {
            Some(slot) => slot.1 = v,
            None => entries.push((k, v)),
        };
        match method {
            "update" => {
                for other in args {
                    if other.is_kwargs() || matches!(other.kind(), minijinja::value::ValueKind::Map)
                    {
                        for k in other.try_iter()? {
                            let v = other.get_item(&k)?;
                            set(&mut entries, k, v);
                        }
                    }
                }
                Ok(Value::from(""))
            }
            "get" => Ok(entries
                .iter()
                .find(|(k, _)| Some(k) == args.first())
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| args.get(1).cloned().unwrap_or(Value::from(())))),
            "pop" => {
                let key = args.first().cloned().unwrap_or_default();
                match entries.iter().position(|(k, _)| *k == key) {
                    Some(pos) => Ok(entries.remove(pos).1),
                    None => args.get(1).cloned().ok_or_else(|| {
                        Error::new(
                            ErrorKind::InvalidOperation,
                            format!("key {key} not in dict"),
                        )
                    }),
                }
            }
            "setdefault" => {
                let key = args.first().cloned().unwrap_or_default();
                if let Some((_, v)) = entries.iter().find(|(k, _)| *k == key) {
                    return Ok(v.clone());
                }
                let v = args.get(1).cloned().unwrap_or(Value::from(()));
                entries.push((key, v.clone()));
                Ok(v)
            }
            "keys" => Ok(Value::from(
                entries.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>(),
            )),
            "values" => Ok(Value::from(
                entries.iter().map(|(_, v)| v.clone()).collect::<Vec<_>>(),
            )),
            "items" => Ok(Value::from(
                entries
                    .iter()
                    .map(|(k, v)| Value::from(vec![k.clone(), v.clone()]))
                    .collect::<Vec<_>>(),
            )),
            "copy" => Ok(Value::from_object(MutableMap(Mutex::new(entries.clone())))),
            "clear" => {
                entries.clear();
                Ok(Value::from(""))
            }
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_inside_tags_are_rewritten() {
        let t =
            "{% set cols = [] %}{%- set d = {'a': [1]} -%}{% set n = 3 %}{% set s = '[x]' %}[1]";
        assert_eq!(
            rewrite_literals(t),
            "{% set cols = __rdbt_list([]) %}{%- set d = __rdbt_dict({'a': __rdbt_list([1])}) -%}{% set n = 3 %}{% set s = '[x]' %}[1]"
        );
        assert!(matches!(rewrite_literals("select 1"), Cow::Borrowed(_)));
        // A tag's end inside a string is not its end (the quick scan of
        // tags without brackets must not stop there).
        assert_eq!(
            rewrite_literals(
                "{% set s = '%}' %}{% set l = [1] %}{{ \"}}\" ~ [2] }}{%- if a -%}x{%- endif -%}"
            ),
            "{% set s = '%}' %}{% set l = __rdbt_list([1]) %}{{ \"}}\" ~ __rdbt_list([2]) }}{%- if a -%}x{%- endif -%}"
        );
        assert!(matches!(
            rewrite_literals("select {{ ref('a') }}, x[1] from {{ this }}"),
            Cow::Borrowed(_)
        ));
    }

    // #28: lists anywhere in an expression can be mutated, indexing and
    // slicing are left alone, and comments and raw blocks are not touched.
    #[test]
    fn indexing_comments_and_raw_blocks_are_left_alone() {
        let t = "{{ xs[0] ~ f(a)[1] ~ 'ab'[0] ~ [1][0] }}{# [2] #}{% raw %}{{ [3] }}{% endraw %}{% do m.update({k: []}) -%}";
        assert_eq!(
            rewrite_literals(t),
            "{{ xs[0] ~ f(a)[1] ~ 'ab'[0] ~ __rdbt_list([1])[0] }}{# [2] #}{% raw %}{{ [3] }}{% endraw %}{% do m.update(__rdbt_dict({k: __rdbt_list([])})) -%}"
        );
        let t = "{% for c in ['a', 'b'] if c not in [x] %}{{ return([c]) }}{% endfor %}";
        assert_eq!(
            rewrite_literals(t),
            "{% for c in ['a', 'b'] if c not in [x] %}{{ return(__rdbt_list([c])) }}{% endfor %}"
        );
    }

    #[test]
    fn appends_and_updates_are_seen() {
        let mut env = minijinja::Environment::new();
        env.add_function("__rdbt_list", list_fn);
        env.add_function("__rdbt_dict", dict_fn);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        let src = rewrite_literals("{% set m = {'k': []} %}{% do m['k'].append(1) %}{{ m['k'] | length }} {% set xs = [] %}{% for i in range(3) %}{% do xs.append(i * 2) %}{% endfor %}{% set d = {} %}{% do d.update({'k': xs | length}) %}{{ xs | join(',') }} {{ d.k }} {{ xs[-1] }} {% for k, v in d.items() %}{{ k }}={{ v }}{% endfor %}").into_owned();
        assert_eq!(env.render_str(&src, ()).unwrap(), "1 0,2,4 3 4 k=3");
    }

    // #28: Python sets compare without regard to order (dbt_utils.equality
    // compares column sets).
    #[test]
    fn sets_compare_as_sets() {
        let mut env = minijinja::Environment::new();
        env.add_function("set", set_fn);
        let src = "{{ set(['a', 'b', 'a']) == set(['b', 'a']) }} {{ set(['a']) == set(['b']) }} {{ set(['a', 'b']) | length }} {% set s = set([1]) %}{% do s.add(2) %}{{ s | join(',') }} {{ s.issubset([1, 2, 3]) }}";
        assert_eq!(env.render_str(src, ()).unwrap(), "True False 2 1,2 True");
    }
}
