//! List functions: Go's `len`, `index`, `slice` and sprig's lists.

use super::args::{go_type, is_empty, list, text, to_int};
use super::{Outcome, Problem};
use crate::gotmpl::Value;

pub(super) fn len(a: &[Value]) -> Outcome {
    Ok(Value::Int(match &a[0] {
        Value::Str(s) => s.len(),
        Value::List(l) => l.len(),
        Value::Map(m) => m.visible_len(),
        other => return Err(Problem::bad(0, other, format!("len of type {}", go_type(other)))),
    } as i64))
}

pub(super) fn index(a: &[Value]) -> Outcome {
    let (first, keys) = a.split_first().unwrap_or((&Value::Nil, &[]));
    let mut value = first.clone();
    for (i, key) in keys.iter().enumerate() {
        value = match (&value, key) {
            (Value::List(items), Value::Int(n)) => usize::try_from(*n)
                .ok()
                .and_then(|n| items.get(n))
                .cloned()
                .ok_or_else(|| Problem::bad(i + 1, key, format!("index out of range: {n}")))?,
            (Value::List(items), Value::Float(f)) if f.fract() == 0.0 => items
                .get(*f as usize)
                .cloned()
                .ok_or_else(|| Problem::bad(i + 1, key, format!("index out of range: {f}")))?,
            (Value::Str(s), Value::Int(n)) => usize::try_from(*n)
                .ok()
                .and_then(|n| s.as_bytes().get(n))
                .map(|b| Value::Int(i64::from(*b)))
                .ok_or_else(|| Problem::bad(i + 1, key, format!("index out of range: {n}")))?,
            (Value::Map(map), Value::Str(k)) => map.get(k).unwrap_or(Value::Nil),
            (Value::Map(_), Value::Missing | Value::Nil) => Value::Nil,
            (Value::Missing | Value::Nil, _) => {
                return Err(Problem::bad(0, first, "index of untyped nil"));
            }
            (v, k) => {
                return Err(Problem::bad(
                    i + 1,
                    k,
                    format!("can't index item of type {} with {}", go_type(v), go_type(k)),
                ));
            }
        };
    }
    Ok(value)
}

/// sprig's `slice` (it replaces Go's builtin): `slice LIST [START [END]]`,
/// strings too.
pub(super) fn slice(a: &[Value]) -> Outcome {
    let bounds: Vec<usize> = a[1..]
        .iter()
        .map(|b| usize::try_from(to_int(b)).unwrap_or(0))
        .collect();
    match &a[0] {
        Value::Str(text) => {
            let (from, to) = (
                bounds.first().copied().unwrap_or(0),
                bounds.get(1).copied().unwrap_or(text.len()),
            );
            text.get(from..to)
                .map(|t| Value::Str(t.to_string()))
                .ok_or_else(|| Problem::bad(1, &a[1], "slice out of range"))
        }
        Value::List(items) => {
            let (from, to) = (
                bounds.first().copied().unwrap_or(0),
                bounds.get(1).copied().unwrap_or(items.len()),
            );
            items
                .get(from..to)
                .map(|t| Value::List(t.to_vec()))
                .ok_or_else(|| Problem::bad(1, &a[1], "slice out of range"))
        }
        other => Err(Problem::bad(
            0,
            other,
            format!("list should be type of slice or array but {}", go_type(other)),
        )),
    }
}

pub(super) fn list_of(a: &[Value]) -> Outcome {
    Ok(Value::List(a.to_vec()))
}

pub(super) fn first(a: &[Value]) -> Outcome {
    Ok(list(a, 0, "first")?.first().cloned().unwrap_or(Value::Nil))
}

pub(super) fn last(a: &[Value]) -> Outcome {
    Ok(list(a, 0, "last")?.last().cloned().unwrap_or(Value::Nil))
}

pub(super) fn rest(a: &[Value]) -> Outcome {
    let items = list(a, 0, "rest")?;
    Ok(Value::List(items.get(1..).unwrap_or(&[]).to_vec()))
}

pub(super) fn initial(a: &[Value]) -> Outcome {
    let items = list(a, 0, "initial")?;
    Ok(Value::List(items[..items.len().saturating_sub(1)].to_vec()))
}

pub(super) fn uniq(a: &[Value]) -> Outcome {
    let mut out: Vec<Value> = Vec::new();
    for item in list(a, 0, "uniq")? {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    Ok(Value::List(out))
}

pub(super) fn compact(a: &[Value]) -> Outcome {
    Ok(Value::List(
        list(a, 0, "compact")?
            .into_iter()
            .filter(|v| !is_empty(v))
            .collect(),
    ))
}

pub(super) fn reverse(a: &[Value]) -> Outcome {
    Ok(Value::List(list(a, 0, "reverse")?.into_iter().rev().collect()))
}

pub(super) fn sort_alpha(a: &[Value]) -> Outcome {
    let mut items: Vec<String> = match &a[0] {
        Value::List(items) => items.iter().map(text).collect(),
        other => vec![text(other)],
    };
    items.sort();
    Ok(Value::List(items.into_iter().map(Value::Str).collect()))
}

pub(super) fn has(a: &[Value]) -> Outcome {
    Ok(Value::Bool(list(a, 1, "has")?.contains(&a[0])))
}

pub(super) fn push(a: &[Value]) -> Outcome {
    let mut items = list(a, 0, "push")?;
    items.push(a[1].clone());
    Ok(Value::List(items))
}

pub(super) fn prepend(a: &[Value]) -> Outcome {
    let mut items = vec![a[1].clone()];
    items.extend(list(a, 0, "prepend")?);
    Ok(Value::List(items))
}

pub(super) fn concat(a: &[Value]) -> Outcome {
    let mut items = Vec::new();
    for index in 0..a.len() {
        items.extend(list(a, index, "concat")?);
    }
    Ok(Value::List(items))
}

pub(super) fn without(a: &[Value]) -> Outcome {
    let items = list(a, 0, "without")?;
    Ok(Value::List(
        items.into_iter().filter(|item| !a[1..].contains(item)).collect(),
    ))
}

pub(super) fn chunk(a: &[Value]) -> Outcome {
    let size = usize::try_from(to_int(&a[0])).unwrap_or(0);
    if size == 0 {
        return Err(Problem::bad(0, &a[0], "size must be positive"));
    }
    let items = list(a, 1, "chunk")?;
    Ok(Value::List(
        items.chunks(size).map(|c| Value::List(c.to_vec())).collect(),
    ))
}

pub(super) fn to_strings(a: &[Value]) -> Outcome {
    Ok(Value::List(match &a[0] {
        Value::List(items) => items.iter().map(|v| Value::Str(text(v))).collect(),
        Value::Missing | Value::Nil => Vec::new(),
        other => vec![Value::Str(text(other))],
    }))
}

/// sprig's `all`: every argument is non-empty.
pub(super) fn all(a: &[Value]) -> Outcome {
    Ok(Value::Bool(a.iter().all(|v| !is_empty(v))))
}

/// sprig's `any`: some argument is non-empty.
pub(super) fn any(a: &[Value]) -> Outcome {
    Ok(Value::Bool(a.iter().any(|v| !is_empty(v))))
}
