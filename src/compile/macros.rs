//! Calling project macros from anywhere. A macro is a [`MacroFn`] value: when
//! called it evaluates the macro's file with the caller's scope and invokes
//! the macro, so `ref()`, `this` and `config` inside it mean the caller's.
//! Also implements dbt's `return()`, which plain Jinja lacks.

use super::context::RenderContext;
use super::errors::tagged_error;
use super::scope::NodeScope;
use super::world::MacroInfo;
use crate::diagnostics::codes;
use minijinja::value::{Enumerator, Object, Value};
use minijinja::{Error, State};
use std::cell::{Cell, RefCell};
use std::sync::Arc;

thread_local! {
    /// One slot per active macro call; `return(x)` fills the innermost.
    static RETURN_SLOTS: RefCell<Vec<Option<Value>>> = const { RefCell::new(Vec::new()) };
    static DEPTH: Cell<usize> = const { Cell::new(0) };
}

const MAX_MACRO_DEPTH: usize = 250;
const RETURN_MARKER: &str = "__rdbt_return__";

#[derive(Debug)]
pub struct MacroFn {
    pub info: MacroInfo,
}

impl MacroFn {
    pub fn new(info: MacroInfo) -> Self {
        MacroFn { info }
    }
}

/// The scope of the render in progress.
pub fn current_scope(state: &State) -> Result<Arc<NodeScope>, Error> {
    state
        .lookup("__scope")
        .and_then(|v| v.downcast_object::<NodeScope>())
        .ok_or_else(|| {
            Error::new(
                minijinja::ErrorKind::InvalidOperation,
                "this function is only available while rendering a node",
            )
        })
}

impl Object for MacroFn {
    fn call(self: &Arc<Self>, state: &mut State<'_, '_>, args: &[Value]) -> Result<Value, Error> {
        let scope = current_scope(state)?;
        scope.recorded().macros.insert(self.info.unique_id.clone());
        let depth = DEPTH.with(|d| {
            d.set(d.get() + 1);
            d.get()
        });
        let _guard = DepthGuard;
        if depth > MAX_MACRO_DEPTH {
            return Err(tagged_error(
                codes::JINJA_RUNTIME,
                &format!(
                    "macro `{}` recursed more than {MAX_MACRO_DEPTH} levels deep",
                    self.info.name
                ),
                "check the macro for unbounded recursion",
            ));
        }
        let args = bridge_caller(state, args)?;
        let template = state.env().get_template(&self.info.template_name)?;
        let ctx = Value::from_object(RenderContext {
            scope,
            package: self.info.package.clone(),
        });
        let mut captured = template.render_captured(ctx)?;
        RETURN_SLOTS.with(|s| s.borrow_mut().push(None));
        let result = captured.with_state_mut(|st| match st.lookup(&self.info.name) {
            Some(m) => {
                let args = gather_variadic(&m, args)?;
                m.call(st, &args)
            }
            None => Err(Error::new(
                minijinja::ErrorKind::UnknownFunction,
                format!("macro `{}` is not defined in its file", self.info.name),
            )),
        });
        let returned = RETURN_SLOTS.with(|s| s.borrow_mut().pop().flatten());
        match returned {
            Some(v) => Ok(v),
            None => result,
        }
    }

    fn call_method(
        self: &Arc<Self>,
        state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        match method {
            "__call__" => self.call(state, args),
            _ => Err(Error::from(minijinja::ErrorKind::UnknownMethod)),
        }
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "name" => Some(Value::from(self.info.name.clone())),
            "package_name" => Some(Value::from(self.info.package.clone())),
            _ => None,
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::NonEnumerable
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<macro {}.{}>", self.info.package, self.info.name)
    }
}

struct DepthGuard;

impl Drop for DepthGuard {
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

/// dbt's `return(value)`: stops the macro and hands `value` to its caller.
pub fn return_fn(value: Option<Value>) -> Result<Value, Error> {
    let stored = RETURN_SLOTS.with(|s| {
        let mut slots = s.borrow_mut();
        match slots.last_mut() {
            Some(slot) => {
                *slot = Some(value.unwrap_or(Value::from(())));
                true
            }
            None => false,
        }
    });
    if stored {
        Err(Error::new(
            minijinja::ErrorKind::InvalidOperation,
            RETURN_MARKER,
        ))
    } else {
        Err(tagged_error(
            codes::JINJA_RUNTIME,
            "return() was called outside a macro",
            "use return() only inside {% macro %} blocks",
        ))
    }
}

/// A `{% call %}` body, rendered in the caller's own state before the macro
/// runs: minijinja macros only run in the state that defined them, and the
/// macro runs in a state of its own.
#[derive(Debug)]
struct RenderedCaller(Value);

impl Object for RenderedCaller {
    fn call(self: &Arc<Self>, _state: &mut State<'_, '_>, args: &[Value]) -> Result<Value, Error> {
        if !args.is_empty() {
            return Err(tagged_error(
                codes::JINJA_RUNTIME,
                "caller() with arguments is not supported across macro files",
                "pass the values as macro arguments instead of through caller(...)",
            ));
        }
        Ok(self.0.clone())
    }
}

fn bridge_caller(state: &mut State, args: &[Value]) -> Result<Vec<Value>, Error> {
    let mut args = args.to_vec();
    let Some(kwargs) = args.last().and_then(super::values::as_kwargs) else {
        return Ok(args);
    };
    if !kwargs.has("caller") {
        return Ok(args);
    }
    let mut pairs: Vec<(String, Value)> = Vec::new();
    for key in kwargs.args() {
        let v: Value = kwargs.peek(key)?;
        if key == "caller" {
            let takes_args = v
                .get_attr("arguments")
                .ok()
                .and_then(|a| a.len())
                .unwrap_or(0)
                > 0;
            let rendered = if takes_args {
                Value::from(())
            } else {
                v.call(state, &[])?
            };
            pairs.push((
                key.to_string(),
                Value::from_object(RenderedCaller(rendered)),
            ));
        } else {
            pairs.push((key.to_string(), v));
        }
    }
    let last = args.len() - 1;
    args[last] = Value::from(minijinja::value::Kwargs::from_iter(pairs));
    Ok(args)
}

/// Jinja2 gives a macro whose body reads `kwargs` (or `varargs`) the keyword
/// (positional) arguments it does not declare; dbt packages rely on it
/// (`test_x(model, **kwargs)`). minijinja macros take only declared
/// arguments, so such a macro gets two trailing parameters,
/// `varargs=none, kwargs=none`, which [`gather_variadic`] fills. The
/// signature stays on its line, so error positions do not move.
pub fn with_variadic_params(body: &str) -> std::borrow::Cow<'_, str> {
    let Some(sig_end) = body.find("%}") else {
        return body.into();
    };
    let rest = &body[sig_end..];
    let uses = |word: &str| {
        rest.match_indices(word).any(|(i, _)| {
            let before = rest[..i].chars().next_back();
            let after = rest[i + word.len()..].chars().next();
            let ident = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
            !ident(before) && !ident(after)
        })
    };
    if !uses("kwargs") && !uses("varargs") {
        return body.into();
    }
    let sig = &body[..sig_end];
    let Some(close) = sig.rfind(')') else {
        return body.into();
    };
    let open = sig.find('(').unwrap_or(close);
    let declared = sig[open + 1..close].trim();
    if declared.split(',').any(|p| {
        let name = p.split('=').next().unwrap_or("").trim();
        name == "kwargs" || name == "varargs"
    }) {
        return body.into();
    }
    let sep = if declared.is_empty() { "" } else { ", " };
    format!(
        "{}{sep}varargs=none, kwargs=none{}",
        &body[..close],
        &body[close..]
    )
    .into()
}

/// Moves the arguments a variadic macro does not declare into its
/// `varargs` (extra positional) and `kwargs` (extra keyword) parameters.
fn gather_variadic(m: &Value, args: Vec<Value>) -> Result<Vec<Value>, Error> {
    let declared: Vec<String> = m
        .get_attr("arguments")
        .ok()
        .and_then(|a| {
            a.try_iter()
                .ok()
                .map(|it| it.map(|v| v.to_string()).collect())
        })
        .unwrap_or_default();
    let n = declared.len();
    if n < 2 || declared[n - 2] != "varargs" || declared[n - 1] != "kwargs" {
        return Ok(args);
    }
    let own = &declared[..n - 2];
    let (positional, kwargs) = match args.last().and_then(super::values::as_kwargs) {
        Some(k) => (&args[..args.len() - 1], Some(k)),
        None => (args.as_slice(), None),
    };
    let mut out: Vec<Value> = positional.iter().take(own.len()).cloned().collect();
    let extra_positional: Vec<Value> = positional.iter().skip(own.len()).cloned().collect();
    let mut named: Vec<(String, Value)> = Vec::new();
    let mut extra_named: Vec<(Value, Value)> = Vec::new();
    if let Some(kw) = &kwargs {
        for key in kw.args() {
            let v: Value = kw.peek(key)?;
            if own.iter().any(|d| d == key) || key == "caller" {
                named.push((key.to_string(), v));
            } else {
                extra_named.push((Value::from(key), v));
            }
        }
    }
    named.push((
        "varargs".into(),
        super::mutable::list_fn(Some(Value::from(extra_positional)))?,
    ));
    let extra = super::mutable::dict_fn(None)?;
    for (k, v) in extra_named {
        if let Some(map) = extra.downcast_object_ref::<super::mutable::MutableMap>() {
            map.insert(k, v);
        }
    }
    named.push(("kwargs".into(), extra));
    out.push(Value::from(minijinja::value::Kwargs::from_iter(named)));
    Ok(out)
}

/// The sentinel a late-bound default starts as (see [`with_late_defaults`]).
const LATE_DEFAULT: &str = "__rdbt_late_default__";

/// Jinja2 evaluates a macro argument's default when the macro is called, so
/// a default may name an earlier argument (`{% macro m(schema, name=schema) %}`);
/// minijinja evaluates it where the macro is defined. Such a default becomes
/// a sentinel, replaced at the start of the body by the expression. The
/// signature keeps its line, and the body's whitespace control is kept.
pub fn with_late_defaults(body: &str) -> std::borrow::Cow<'_, str> {
    let Some(sig_end) = body.find("%}") else {
        return body.into();
    };
    let sig = &body[..sig_end];
    let (Some(open), Some(close)) = (sig.find('('), sig.rfind(')')) else {
        return body.into();
    };
    if open >= close {
        return body.into();
    }
    let params = split_top_level(&sig[open + 1..close]);
    let mut names: Vec<String> = Vec::new();
    let mut late: Vec<(String, String)> = Vec::new();
    let mut rewritten: Vec<String> = Vec::new();
    for p in &params {
        let (name, default) = match p.split_once('=') {
            Some((n, d)) => (n.trim().to_string(), Some(d.trim().to_string())),
            None => (p.trim().to_string(), None),
        };
        match default {
            Some(d) if names.iter().any(|earlier| names_word(&d, earlier)) => {
                rewritten.push(format!("{name}='{LATE_DEFAULT}'"));
                late.push((name.clone(), d));
            }
            _ => rewritten.push(p.trim().to_string()),
        }
        names.push(name);
    }
    if late.is_empty() {
        return body.into();
    }
    let trims = sig.trim_end().ends_with('-');
    let mut prelude = String::new();
    for (i, (name, default)) in late.iter().enumerate() {
        let last = i + 1 == late.len();
        let close_tag = if last && trims { "-%}" } else { "%}" };
        prelude.push_str(&format!(
            "{{% if {name} == '{LATE_DEFAULT}' %}}{{% set {name} = {default} %}}{{% endif {close_tag}"
        ));
    }
    format!(
        "{}{}{}{}{}",
        &body[..open + 1],
        rewritten.join(", "),
        &body[close..sig_end + 2],
        prelude,
        &body[sig_end + 2..]
    )
    .into()
}

/// Whether `expr` reads the variable `name` (outside string literals).
fn names_word(expr: &str, name: &str) -> bool {
    let mut quote: Option<char> = None;
    let chars: Vec<char> = expr.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if let Some(q) = quote {
            if c == q {
                quote = None;
            }
            i += 1;
            continue;
        }
        if c == '\'' || c == '"' {
            quote = Some(c);
            i += 1;
            continue;
        }
        if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let after_dot = start > 0 && chars[start - 1] == '.';
            if word == name && !after_dot {
                return true;
            }
            continue;
        }
        i += 1;
    }
    false
}

/// Splits a parameter list at commas outside brackets and strings.
fn split_top_level(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    let mut current = String::new();
    for c in text.chars() {
        if let Some(q) = quote {
            current.push(c);
            if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => {
                quote = Some(c);
                current.push(c);
            }
            '(' | '[' | '{' => {
                depth += 1;
                current.push(c);
            }
            ')' | ']' | '}' => {
                depth -= 1;
                current.push(c);
            }
            ',' if depth == 0 => out.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    if !current.trim().is_empty() {
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // #28: a default naming an earlier argument is evaluated at call time.
    #[test]
    fn late_defaults_are_rewritten_in_place() {
        let body =
            "{% macro m(schema_name, name=schema_name, n=1) -%}\n  {{ name }}\n{%- endmacro %}";
        assert_eq!(
            with_late_defaults(body),
            "{% macro m(schema_name, name='__rdbt_late_default__', n=1) -%}{% if name == '__rdbt_late_default__' %}{% set name = schema_name %}{% endif -%}\n  {{ name }}\n{%- endmacro %}"
        );
        let plain = "{% macro m(a, b='a', c=none) %}{% endmacro %}";
        assert_eq!(with_late_defaults(plain), plain);
    }
}
