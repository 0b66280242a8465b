//! Calling project macros from anywhere. A macro is a [`MacroFn`] value: when
//! called it evaluates the macro's file with the caller's scope and invokes
//! the macro, so `ref()`, `this` and `config` inside it mean the caller's.
//! Also implements dbt's `return()`, which plain Jinja lacks.

use super::errors::tagged_error;
use super::scope::{NodeScope, RenderContext};
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
        let args = args.as_slice();
        let template = state.env().get_template(&self.info.template_name)?;
        let ctx = Value::from_object(RenderContext {
            scope,
            package: self.info.package.clone(),
        });
        let mut captured = template.render_captured(ctx)?;
        RETURN_SLOTS.with(|s| s.borrow_mut().push(None));
        let result = captured.with_state_mut(|st| match st.lookup(&self.info.name) {
            Some(m) => m.call(st, args),
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
    let Some(kwargs) = args.last().and_then(super::functions::as_kwargs) else {
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
