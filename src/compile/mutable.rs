//! dbt's Jinja mutates containers (`{% do cols.append(c) %}`,
//! `{% do d.update({...}) %}`), which plain minijinja values cannot do.
//! Literal lists and dicts bound by `{% set %}` are therefore rewritten to
//! mutable objects that behave like sequences and mappings everywhere else.

use minijinja::value::{Enumerator, Object, ObjectRepr, Value};
use minijinja::{Error, ErrorKind, State};
use std::borrow::Cow;
use std::sync::{Arc, LazyLock, Mutex};

static SET_TAG: LazyLock<regex::Regex> =
    LazyLock::new(|| crate::regexes::static_regex(r"\{%-?\s*set\s+[A-Za-z_][A-Za-z0-9_]*\s*=\s*"));

/// Rewrites `{% set x = [..] %}` / `{% set x = {..} %}` so the value is
/// mutable. Nothing else changes, and no newline is added or removed.
pub fn rewrite_literals(text: &str) -> Cow<'_, str> {
    if !text.contains("set") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 32);
    let mut last = 0;
    for m in SET_TAG.find_iter(text) {
        let expr_start = m.end();
        let Some(close) = text[expr_start..].find("%}") else {
            continue;
        };
        let mut expr_end = expr_start + close;
        if text[..expr_end].ends_with('-') {
            expr_end -= 1;
        }
        let expr = text[expr_start..expr_end].trim_end();
        let wrapper = match expr.as_bytes().first() {
            Some(b'[') => "__rdbt_list",
            Some(b'{') => "__rdbt_dict",
            _ => continue,
        };
        if matching_close(expr) != Some(expr.len() - 1) {
            continue;
        }
        out.push_str(&text[last..expr_start]);
        out.push_str(wrapper);
        out.push('(');
        out.push_str(expr);
        out.push(')');
        last = expr_start + expr.len();
    }
    if last == 0 {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[last..]);
    Cow::Owned(out)
}

/// Index of the bracket closing the one at position 0, skipping strings.
fn matching_close(expr: &str) -> Option<usize> {
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in expr.char_indices() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => quote = Some(c),
            '[' | '{' | '(' => depth += 1,
            ']' | '}' | ')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

pub fn list_fn(items: Option<Value>) -> Result<Value, Error> {
    let items: Vec<Value> = match items {
        Some(v) if !v.is_undefined() && !v.is_none() => v.try_iter()?.collect(),
        _ => Vec::new(),
    };
    Ok(Value::from_object(MutableList(Mutex::new(items))))
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

#[derive(Debug)]
pub struct MutableList(Mutex<Vec<Value>>);

impl MutableList {
    fn items(&self) -> std::sync::MutexGuard<'_, Vec<Value>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Object for MutableList {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let items = self.items();
        let idx = i64::try_from(key.clone()).ok()?;
        let idx = if idx < 0 {
            items.len() as i64 + idx
        } else {
            idx
        };
        items.get(usize::try_from(idx).ok()?).cloned()
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.items().clone())
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.items().len())
    }

    fn is_true(self: &Arc<Self>) -> bool {
        !self.items().is_empty()
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
            "copy" => return Ok(Value::from_object(MutableList(Mutex::new(items.clone())))),
            "clear" => items.clear(),
            _ => return Err(Error::from(ErrorKind::UnknownMethod)),
        }
        Ok(Value::from(""))
    }
}

#[derive(Debug)]
pub struct MutableMap(Mutex<Vec<(Value, Value)>>);

impl MutableMap {
    fn entries(&self) -> std::sync::MutexGuard<'_, Vec<(Value, Value)>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
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
    fn only_set_literals_are_rewritten() {
        let t =
            "{% set cols = [] %}{%- set d = {'a': [1]} -%}{% set n = 3 %}{% set s = '[x]' %}[1]";
        assert_eq!(
            rewrite_literals(t),
            "{% set cols = __rdbt_list([]) %}{%- set d = __rdbt_dict({'a': [1]}) -%}{% set n = 3 %}{% set s = '[x]' %}[1]"
        );
        assert!(matches!(rewrite_literals("select 1"), Cow::Borrowed(_)));
    }

    #[test]
    fn appends_and_updates_are_seen() {
        let mut env = minijinja::Environment::new();
        env.add_function("__rdbt_list", list_fn);
        env.add_function("__rdbt_dict", dict_fn);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        let src = rewrite_literals("{% set xs = [] %}{% for i in range(3) %}{% do xs.append(i * 2) %}{% endfor %}{% set d = {} %}{% do d.update({'k': xs | length}) %}{{ xs | join(',') }} {{ d.k }} {{ xs[-1] }} {% for k, v in d.items() %}{{ k }}={{ v }}{% endfor %}").into_owned();
        assert_eq!(env.render_str(&src, ()).unwrap(), "0,2,4 3 4 k=3");
    }
}
