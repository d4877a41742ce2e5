//! Encodings: base64/base32, JSON as Go's encoding/json writes and reads
//! it, YAML as Helm's sigs.k8s.io/yaml, TOML as BurntSushi/toml.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use base64::Engine as _;

use super::args::{any, string};
use super::{Outcome, Problem};
use crate::gotmpl::Value;
use crate::gotmpl::value::{MAX_NESTING, MAX_PRINTED};

pub(super) fn b64enc(a: &[Value]) -> Outcome {
    Ok(Value::Str(
        base64::engine::general_purpose::STANDARD.encode(string(a, 0)?),
    ))
}

/// sprig returns the decoding error as the text.
pub(super) fn b64dec(a: &[Value]) -> Outcome {
    Ok(Value::Str(
        base64::engine::general_purpose::STANDARD
            .decode(string(a, 0)?)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_else(|e| e.to_string()),
    ))
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

pub(super) fn b32enc(a: &[Value]) -> Outcome {
    let mut out = String::new();
    for chunk in string(a, 0)?.as_bytes().chunks(5) {
        let mut buffer = [0u8; 5];
        buffer[..chunk.len()].copy_from_slice(chunk);
        let bits = buffer.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        let symbols = (chunk.len() * 8).div_ceil(5);
        for i in 0..8 {
            if i < symbols {
                out.push(BASE32[((bits >> (35 - i * 5)) & 31) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    Ok(Value::Str(out))
}

pub(super) fn b32dec(a: &[Value]) -> Outcome {
    let text = string(a, 0)?.trim_end_matches('=');
    let mut bits = 0u64;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text.bytes() {
        let Some(value) = BASE32.iter().position(|b| *b == c) else {
            return Ok(Value::Str(format!(
                "illegal base32 data at input byte {}",
                out.len()
            )));
        };
        bits = (bits << 5) | value as u64;
        count += 5;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    Ok(Value::Str(String::from_utf8_lossy(&out).into_owned()))
}

/// Go's encoding of a float64 in JSON.
fn json_float(f: f64) -> String {
    if !f.is_finite() {
        return "null".into();
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let text = format!("{f:e}");
        let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
        let exponent: i32 = exponent.parse().unwrap_or(0);
        let sign = if exponent < 0 { '-' } else { '+' };
        // Go writes `1e-7` (no zero padding below) but `1e+21`.
        return if exponent < 0 {
            format!("{mantissa}e-{}", exponent.abs())
        } else {
            format!("{mantissa}e{sign}{:02}", exponent)
        };
    }
    // Shortest digits, never an exponent, as Go's 'f' format.
    format!("{f}")
}

/// JSON text of a value, keys sorted, HTML characters escaped unless `raw`.
pub(crate) fn json(value: &Value, indent: Option<&str>, raw: bool) -> String {
    let mut out = String::new();
    write_json(&mut out, value, indent, 0, raw);
    out
}

fn json_string(out: &mut String, s: &str, raw: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' if !raw => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn write_json(out: &mut String, value: &Value, indent: Option<&str>, depth: usize, raw: bool) {
    if depth > MAX_NESTING || out.len() > MAX_PRINTED {
        out.push_str("null");
        return;
    }
    let newline = |out: &mut String, level: usize| {
        if let Some(unit) = indent {
            out.push('\n');
            out.push_str(&unit.repeat(level));
        }
    };
    match value {
        Value::Missing | Value::Nil => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Float(f) => out.push_str(&json_float(*f)),
        Value::Str(s) => json_string(out, s, raw),
        Value::List(items) if items.is_empty() => out.push_str("[]"),
        Value::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, depth + 1);
                write_json(out, item, indent, depth + 1, raw);
            }
            newline(out, depth);
            out.push(']');
        }
        Value::Map(map) => {
            let entries = map.entries();
            if entries.is_empty() {
                out.push_str("{}");
                return;
            }
            out.push('{');
            for (i, (key, item)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, depth + 1);
                json_string(out, key, raw);
                out.push(':');
                if indent.is_some() {
                    out.push(' ');
                }
                write_json(out, item, indent, depth + 1, raw);
            }
            newline(out, depth);
            out.push('}');
        }
    }
}

pub(super) fn to_json(a: &[Value]) -> Outcome {
    Ok(Value::Str(json(any(a, 0), None, false)))
}

pub(super) fn to_raw_json(a: &[Value]) -> Outcome {
    Ok(Value::Str(json(any(a, 0), None, true)))
}

pub(super) fn to_pretty_json(a: &[Value]) -> Outcome {
    Ok(Value::Str(json(any(a, 0), Some("  "), false)))
}

/// JSON read as Go reads it into `interface{}`: every number a float64.
fn from_json_value(value: serde_json::Value) -> Value {
    match value {
        serde_json::Value::Number(n) => Value::Float(n.as_f64().unwrap_or(0.0)),
        serde_json::Value::Array(items) => Value::List(items.into_iter().map(from_json_value).collect()),
        serde_json::Value::Object(map) => {
            Value::map(map.into_iter().map(|(k, v)| (k, from_json_value(v))).collect())
        }
        other => Value::from(other),
    }
}

fn error_map(message: String) -> Value {
    Value::map([("Error".to_string(), Value::Str(message))].into())
}

pub(super) fn from_json(a: &[Value]) -> Outcome {
    Ok(match serde_json::from_str::<serde_json::Value>(string(a, 0)?) {
        Ok(value @ serde_json::Value::Object(_)) => from_json_value(value),
        Ok(_) => error_map("json: cannot unmarshal into Go value of type map[string]interface {}".into()),
        Err(e) => error_map(e.to_string()),
    })
}

pub(super) fn must_from_json(a: &[Value]) -> Outcome {
    serde_json::from_str::<serde_json::Value>(string(a, 0)?)
        .map(from_json_value)
        .map_err(|e| Problem::bad(0, &a[0], e.to_string()))
}

pub(super) fn from_json_array(a: &[Value]) -> Outcome {
    Ok(match serde_json::from_str::<serde_json::Value>(string(a, 0)?) {
        Ok(value @ serde_json::Value::Array(_)) => from_json_value(value),
        Ok(_) => Value::List(vec![Value::from(
            "json: cannot unmarshal object into Go value of type []interface {}",
        )]),
        Err(e) => Value::List(vec![Value::Str(e.to_string())]),
    })
}

pub(super) fn to_yaml(a: &[Value]) -> Outcome {
    Ok(Value::Str(crate::gotmpl::to_yaml(any(a, 0))))
}

pub(super) fn to_yaml_pretty(a: &[Value]) -> Outcome {
    Ok(Value::Str(crate::gotmpl::yaml::to_yaml_pretty(any(a, 0))))
}

pub(super) fn from_yaml(a: &[Value]) -> Outcome {
    Ok(match crate::gotmpl::from_yaml(string(a, 0)?, true) {
        Ok(map @ Value::Map(_)) => map,
        Ok(Value::Nil | Value::Missing) => Value::empty_map(),
        Ok(_) => error_map(
            "error unmarshaling JSON: json: cannot unmarshal into Go value of type map[string]interface {}"
                .into(),
        ),
        Err(e) => error_map(e.to_string()),
    })
}

pub(super) fn from_yaml_array(a: &[Value]) -> Outcome {
    Ok(match crate::gotmpl::from_yaml(string(a, 0)?, true) {
        Ok(list @ Value::List(_)) => list,
        Ok(Value::Nil | Value::Missing) => Value::List(Vec::new()),
        Ok(_) => Value::List(vec![Value::from(
            "error unmarshaling JSON: json: cannot unmarshal object into Go value of type []interface {}",
        )]),
        Err(e) => Value::List(vec![Value::Str(e.to_string())]),
    })
}

fn from_toml_value(value: toml::Value) -> Value {
    match value {
        toml::Value::String(s) => Value::Str(s),
        toml::Value::Integer(i) => Value::Int(i),
        toml::Value::Float(f) => Value::Float(f),
        toml::Value::Boolean(b) => Value::Bool(b),
        toml::Value::Datetime(d) => Value::Str(d.to_string()),
        toml::Value::Array(items) => Value::List(items.into_iter().map(from_toml_value).collect()),
        toml::Value::Table(table) => {
            Value::map(table.into_iter().map(|(k, v)| (k, from_toml_value(v))).collect())
        }
    }
}

pub(super) fn from_toml(a: &[Value]) -> Outcome {
    Ok(match string(a, 0)?.parse::<toml::Table>() {
        Ok(table) => from_toml_value(toml::Value::Table(table)),
        Err(e) => error_map(e.to_string()),
    })
}

fn toml_key(key: &str) -> String {
    if !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        key.to_string()
    } else {
        super::strings::go_quote(key)
    }
}

fn toml_inline(value: &Value) -> String {
    match value {
        Value::Str(s) => super::strings::go_quote(s),
        Value::Int(i) => i.to_string(),
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 1e17 => format!("{f:.1}"),
        Value::Float(f) => crate::gotmpl::format_float(*f),
        Value::Bool(b) => b.to_string(),
        Value::List(items) => format!(
            "[{}]",
            items.iter().map(toml_inline).collect::<Vec<_>>().join(", ")
        ),
        Value::Map(map) => format!(
            "{{{}}}",
            map.entries()
                .iter()
                .map(|(k, v)| format!("{} = {}", toml_key(k), toml_inline(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Missing | Value::Nil => String::new(),
    }
}

fn is_table_list(value: &Value) -> bool {
    matches!(value, Value::List(items) if !items.is_empty() && items.iter().all(|v| matches!(v, Value::Map(_))))
}

fn write_toml(out: &mut String, map: &BTreeMap<String, Value>, path: &[String], depth: usize) {
    if depth > MAX_NESTING || out.len() > MAX_PRINTED {
        return;
    }
    // BurntSushi/toml indents a key by its table's depth, a header by one less.
    let pad = "  ".repeat(path.len());
    for (key, value) in map {
        if matches!(value, Value::Map(_) | Value::Missing | Value::Nil) || is_table_list(value) {
            continue;
        }
        let _ = writeln!(out, "{pad}{} = {}", toml_key(key), toml_inline(value));
    }
    for (key, value) in map {
        let mut inner = path.to_vec();
        inner.push(toml_key(key));
        let name = inner.join(".");
        match value {
            Value::Map(table) => {
                // A blank line between top-level tables only.
                if path.is_empty() && !out.is_empty() {
                    out.push('\n');
                }
                let _ = writeln!(out, "{pad}[{name}]");
                write_toml(out, &table.entries(), &inner, depth + 1);
            }
            Value::List(items) if is_table_list(value) => {
                for item in items {
                    if let Value::Map(table) = item {
                        if !out.is_empty() {
                            out.push('\n');
                        }
                        let _ = writeln!(out, "{pad}[[{name}]]");
                        write_toml(out, &table.entries(), &inner, depth + 1);
                    }
                }
            }
            _ => {}
        }
    }
}

pub(super) fn to_toml(a: &[Value]) -> Outcome {
    let mut out = String::new();
    match any(a, 0) {
        Value::Map(map) => write_toml(&mut out, &map.entries(), &[], 0),
        other => {
            return Ok(Value::Str(format!(
                "toml: top-level values must be Go maps or structs, not {}",
                other.kind()
            )));
        }
    }
    Ok(Value::Str(out))
}
