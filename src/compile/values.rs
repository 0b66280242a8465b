//! Jinja values the way rdbt's globals take and give them: keyword
//! arguments split off a call, and mappings built from pairs.

use minijinja::value::{Kwargs, Value};

/// A call's positional arguments and its trailing keyword arguments.
pub fn split_kwargs(args: &[Value]) -> (&[Value], Option<Kwargs>) {
    match args.last().and_then(as_kwargs) {
        Some(k) => (&args[..args.len() - 1], Some(k)),
        None => (args, None),
    }
}

/// The trailing keyword arguments of a call, if any.
pub fn as_kwargs(v: &Value) -> Option<Kwargs> {
    if v.is_kwargs() {
        Kwargs::try_from(v.clone()).ok()
    } else {
        None
    }
}

/// A Jinja mapping from key/value pairs (`Value::from_iter` of pairs makes a
/// list of tuples, not a mapping).
pub fn map_value<K: Into<String>>(pairs: impl IntoIterator<Item = (K, Value)>) -> Value {
    Value::from(
        pairs
            .into_iter()
            .map(|(k, v)| (k.into(), v))
            .collect::<std::collections::BTreeMap<String, Value>>(),
    )
}
