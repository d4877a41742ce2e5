//! Reading arguments the way Go's text/template and sprig convert them.

use super::Problem;
use crate::gotmpl::Value;
use crate::gotmpl::value::Dict;

/// Go's name of a value's type, as its errors print it.
pub(crate) fn go_type(value: &Value) -> &'static str {
    match value {
        Value::Missing | Value::Nil => "<nil>",
        Value::Bool(_) => "bool",
        Value::Int(_) => "int",
        Value::Float(_) => "float64",
        Value::Str(_) => "string",
        Value::List(_) => "[]interface {}",
        Value::Map(_) => "map[string]interface {}",
    }
}

/// Argument `index` for a `string` parameter: Go refuses other kinds.
pub(crate) fn string(args: &[Value], index: usize) -> Result<&str, Problem> {
    match args.get(index) {
        Some(Value::Str(s)) => Ok(s),
        Some(Value::Missing) | None => Err(Problem::Invalid {
            index,
            expected: "string",
        }),
        Some(other) => Err(Problem::Type {
            index,
            expected: "string",
            got: go_type(other),
        }),
    }
}

/// Argument `index` for a `map[string]interface{}` parameter.
pub(crate) fn dict(args: &[Value], index: usize) -> Result<Dict, Problem> {
    match args.get(index) {
        Some(Value::Map(map)) => Ok(map.clone()),
        // A nil from a missing key is an interface{}, which Go will not
        // pass as a map.
        Some(Value::Nil) => Err(Problem::Type {
            index,
            expected: "map[string]interface {}",
            got: "interface {}",
        }),
        // No value (a pipeline that ended in nil) is Go's nil map: it
        // reads as empty; what is written to it is lost.
        Some(Value::Missing) | None => Ok(Dict::default()),
        Some(other) => Err(Problem::Type {
            index,
            expected: "map[string]interface {}",
            got: go_type(other),
        }),
    }
}

/// Argument `index` for an `interface{}` parameter.
pub(crate) fn any(args: &[Value], index: usize) -> &Value {
    args.get(index).unwrap_or(&Value::Nil)
}

/// sprig's `strval`: a string as is, anything else as `%v` (nil `<nil>`).
pub(crate) fn text(value: &Value) -> String {
    match value {
        Value::Missing | Value::Nil => "<nil>".into(),
        other => other.print(),
    }
}

/// spf13/cast's `ToInt64`: strings parse with Go's base prefixes
/// (`0x10`, `0755`) after a `.0` suffix is dropped; what does not parse is 0.
pub(crate) fn to_int(value: &Value) -> i64 {
    match value {
        Value::Int(i) => *i,
        Value::Float(f) => *f as i64,
        Value::Bool(b) => i64::from(*b),
        Value::Str(s) => parse_go_int(trim_zero_decimal(s)).unwrap_or(0),
        _ => 0,
    }
}

fn trim_zero_decimal(s: &str) -> &str {
    match s.split_once('.') {
        Some((whole, fraction))
            if !whole.is_empty() && !fraction.is_empty() && fraction.bytes().all(|b| b == b'0') =>
        {
            whole
        }
        _ => s,
    }
}

/// Go's `strconv.ParseInt(s, 0, 64)`.
pub(crate) fn parse_go_int(s: &str) -> Option<i64> {
    let (negative, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let digits = digits.replace('_', "");
    let lower = digits.to_ascii_lowercase();
    let magnitude = if let Some(hex) = lower.strip_prefix("0x") {
        i64::from_str_radix(hex, 16).ok()?
    } else if let Some(oct) = lower.strip_prefix("0o") {
        i64::from_str_radix(oct, 8).ok()?
    } else if let Some(bin) = lower.strip_prefix("0b") {
        i64::from_str_radix(bin, 2).ok()?
    } else if lower.len() > 1 && lower.starts_with('0') {
        i64::from_str_radix(&lower[1..], 8).ok()?
    } else if !lower.is_empty() && lower.bytes().all(|b| b.is_ascii_digit()) {
        lower.parse().ok()?
    } else {
        return None;
    };
    Some(if negative { -magnitude } else { magnitude })
}

/// spf13/cast's `ToFloat64` (what does not parse is 0).
pub(crate) fn to_float(value: &Value) -> f64 {
    match value {
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Str(s) => s.trim().parse().unwrap_or(0.0),
        _ => 0.0,
    }
}

/// The items of a list argument (nil is an empty list).
pub(crate) fn list(args: &[Value], index: usize, function: &str) -> Result<Vec<Value>, Problem> {
    match args.get(index) {
        Some(Value::List(items)) => Ok(items.clone()),
        Some(Value::Missing | Value::Nil) | None => Ok(Vec::new()),
        Some(other) => Err(Problem::bad(
            index,
            other,
            format!("Cannot {function} on type {}", go_type(other)),
        )),
    }
}

/// sprig's `empty`: the zero value of its kind.
pub(crate) fn is_empty(value: &Value) -> bool {
    !value.truth()
}
