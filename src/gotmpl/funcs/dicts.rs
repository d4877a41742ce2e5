//! Dict functions of sprig (on shared maps: `set`, `unset` and `merge`
//! change the map every holder sees, as in Go), defaults and reflection.

use std::collections::BTreeMap;

use super::args::{any, dict, go_type, is_empty, string, text};
use super::{Outcome, Problem};
use crate::gotmpl::Value;
use crate::gotmpl::value::Dict;

pub(super) fn default(a: &[Value]) -> Outcome {
    Ok(match a.get(1) {
        Some(given) if !is_empty(given) => given.clone(),
        _ => a[0].clone(),
    })
}

pub(super) fn empty(a: &[Value]) -> Outcome {
    Ok(Value::Bool(is_empty(&a[0])))
}

pub(super) fn coalesce(a: &[Value]) -> Outcome {
    Ok(a.iter().find(|v| !is_empty(v)).cloned().unwrap_or(Value::Nil))
}

pub(super) fn ternary(a: &[Value]) -> Outcome {
    match &a[2] {
        Value::Bool(true) => Ok(a[0].clone()),
        Value::Bool(false) => Ok(a[1].clone()),
        Value::Missing => Err(Problem::Invalid {
            index: 2,
            expected: "bool",
        }),
        other => Err(Problem::Type {
            index: 2,
            expected: "bool",
            got: go_type(other),
        }),
    }
}

pub(super) fn dict_of(a: &[Value]) -> Outcome {
    let mut map = BTreeMap::new();
    for pair in a.chunks(2) {
        let value = pair.get(1).cloned().unwrap_or(Value::Str(String::new()));
        map.insert(text(&pair[0]), value);
    }
    Ok(Value::map(map))
}

pub(super) fn get(a: &[Value]) -> Outcome {
    Ok(dict(a, 0)?
        .get(string(a, 1)?)
        .unwrap_or(Value::Str(String::new())))
}

pub(super) fn set(a: &[Value]) -> Outcome {
    let map = dict(a, 0)?;
    map.insert(string(a, 1)?, a[2].clone());
    Ok(Value::Map(map))
}

pub(super) fn unset(a: &[Value]) -> Outcome {
    let map = dict(a, 0)?;
    map.remove(string(a, 1)?);
    Ok(Value::Map(map))
}

pub(super) fn has_key(a: &[Value]) -> Outcome {
    Ok(Value::Bool(dict(a, 0)?.contains_key(string(a, 1)?)))
}

pub(super) fn keys(a: &[Value]) -> Outcome {
    let mut keys = Vec::new();
    for index in 0..a.len() {
        keys.extend(dict(a, index)?.entries().into_keys().map(Value::Str));
    }
    Ok(Value::List(keys))
}

pub(super) fn values(a: &[Value]) -> Outcome {
    Ok(Value::List(dict(a, 0)?.entries().into_values().collect()))
}

pub(super) fn pluck(a: &[Value]) -> Outcome {
    let key = string(a, 0)?;
    let mut out = Vec::new();
    for index in 1..a.len() {
        if let Some(value) = dict(a, index)?.get(key) {
            out.push(value);
        }
    }
    Ok(Value::List(out))
}

fn pick_or_omit(a: &[Value], keep: bool) -> Outcome {
    let map = dict(a, 0)?;
    let names: Vec<String> = a[1..].iter().map(text).collect();
    Ok(Value::map(
        map.entries()
            .into_iter()
            .filter(|(k, _)| names.contains(k) == keep)
            .collect(),
    ))
}

pub(super) fn pick(a: &[Value]) -> Outcome {
    pick_or_omit(a, true)
}

pub(super) fn omit(a: &[Value]) -> Outcome {
    pick_or_omit(a, false)
}

/// mergo's deep merge of `over` into `into`: keys of `over` fill empty
/// (or, with `overwrite`, any) keys of `into`; maps on both sides merge
/// in place; values taken from `over` are shared, not copied.
fn merge_into(into: &Dict, over: &Dict, overwrite: bool, depth: usize) {
    if depth > crate::gotmpl::value::MAX_NESTING || into.same(over) {
        return;
    }
    for (key, value) in over.entries() {
        match (into.get(&key), &value) {
            (Some(Value::Map(inner)), Value::Map(more)) => merge_into(&inner, more, overwrite, depth + 1),
            (Some(existing), _) => {
                let fill = is_empty(&existing) && !matches!(existing, Value::Bool(false));
                if overwrite && !is_empty(&value) || fill {
                    into.insert(key, value);
                }
            }
            (None, _) => into.insert(key, value),
        }
    }
}

fn merge_all(a: &[Value], overwrite: bool) -> Outcome {
    let into = dict(a, 0)?;
    for index in 1..a.len() {
        merge_into(&into, &dict(a, index)?, overwrite, 0);
    }
    Ok(Value::Map(into))
}

pub(super) fn merge(a: &[Value]) -> Outcome {
    merge_all(a, false)
}

pub(super) fn merge_overwrite(a: &[Value]) -> Outcome {
    merge_all(a, true)
}

/// `dig KEY... DEFAULT DICT`.
pub(super) fn dig(a: &[Value]) -> Outcome {
    let last = a.len() - 1;
    let mut value = Value::Map(dict(a, last)?);
    let default = &a[last - 1];
    for (index, key) in a[..last - 1].iter().enumerate() {
        let key = string(a, index).map_err(|_| Problem::bad(index, key, "keys must be strings"))?;
        value = match value {
            Value::Map(map) => match map.get(key) {
                Some(v) => v,
                None => return Ok(default.clone()),
            },
            _ => return Ok(default.clone()),
        };
    }
    Ok(value)
}

pub(super) fn deep_copy(a: &[Value]) -> Outcome {
    Ok(a[0].deep_copy())
}

/// Go's `reflect.DeepEqual` on template values (an int is never a float).
pub(super) fn deep_equal(a: &[Value]) -> Outcome {
    fn equal(x: &Value, y: &Value) -> bool {
        match (x, y) {
            (Value::Missing | Value::Nil, Value::Missing | Value::Nil) => true,
            (Value::List(p), Value::List(q)) => {
                p.len() == q.len() && p.iter().zip(q).all(|(p, q)| equal(p, q))
            }
            (Value::Map(p), Value::Map(q)) => {
                p.same(q) || {
                    let (p, q) = (p.entries(), q.entries());
                    p.len() == q.len() && p.iter().all(|(k, v)| q.get(k).is_some_and(|w| equal(v, w)))
                }
            }
            _ => x == y,
        }
    }
    Ok(Value::Bool(equal(&a[0], &a[1])))
}

pub(super) fn kind_of(a: &[Value]) -> Outcome {
    Ok(Value::from(any(a, 0).kind()))
}

pub(super) fn kind_is(a: &[Value]) -> Outcome {
    Ok(Value::Bool(string(a, 0)? == any(a, 1).kind()))
}

pub(super) fn type_of(a: &[Value]) -> Outcome {
    Ok(Value::from(go_type(any(a, 0))))
}

pub(super) fn type_is(a: &[Value]) -> Outcome {
    Ok(Value::Bool(string(a, 0)? == go_type(any(a, 1))))
}

pub(super) fn type_is_like(a: &[Value]) -> Outcome {
    let (wanted, actual) = (string(a, 0)?, go_type(any(a, 1)));
    Ok(Value::Bool(
        wanted == actual || actual.strip_prefix('*') == Some(wanted),
    ))
}

/// Helm's `lookup` with no cluster: an empty map.
pub(super) fn lookup(_: &[Value]) -> Outcome {
    Ok(Value::empty_map())
}
