//! Go's printing and comparison builtins (`print`, `printf`, `eq`, `lt`,
//! ...), `html`/`js`/`urlquery`, and Helm's `fail` and `required`.

use std::fmt::Write as _;

use super::args::{go_type, string, text};
use super::strings::{MAX_PAD, go_quote};
use super::{Outcome, Problem};
use crate::gotmpl::{Value, semver_compare as compare};

/// Go's `fmt.Sprint`: spaces between operands when neither is a string.
pub(crate) fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, arg) in args.iter().enumerate() {
        if i > 0 && !matches!(arg, Value::Str(_)) && !matches!(args[i - 1], Value::Str(_)) {
            out.push(' ');
        }
        out.push_str(&text(arg));
    }
    out
}

/// Go's `fmt.Sprintf` for the verbs templates use.
pub(crate) fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut next = 0;
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut flags = String::new();
        while let Some(&f) = chars.peek() {
            if "-+# 0".contains(f) {
                flags.push(f);
                chars.next();
            } else {
                break;
            }
        }
        let mut width = String::new();
        while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            width.push(d);
            chars.next();
        }
        let mut precision: Option<usize> = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut digits = String::new();
            while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                digits.push(d);
                chars.next();
            }
            precision = Some(digits.parse::<usize>().unwrap_or(0).min(MAX_PAD));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(next) else {
            let _ = write!(out, "%!{verb}(MISSING)");
            continue;
        };
        next += 1;
        let body = match (verb, arg) {
            (verb, Value::Missing | Value::Nil) if verb != 'v' => format!("%!{verb}(<nil>)"),
            ('v' | 's', _) => {
                let t = text(arg);
                match precision {
                    Some(p) if verb == 's' => t.chars().take(p).collect(),
                    _ => t,
                }
            }
            ('q', Value::Str(s)) => go_quote(s),
            ('d', Value::Int(i)) => i.to_string(),
            ('x', Value::Int(i)) => format!("{i:x}"),
            ('X', Value::Int(i)) => format!("{i:X}"),
            ('x', Value::Str(s)) => s.bytes().map(|b| format!("{b:02x}")).collect(),
            ('o', Value::Int(i)) => format!("{i:o}"),
            ('b', Value::Int(i)) => format!("{i:b}"),
            ('c', Value::Int(i)) => u32::try_from(*i)
                .ok()
                .and_then(char::from_u32)
                .map(String::from)
                .unwrap_or_default(),
            ('t', Value::Bool(b)) => b.to_string(),
            ('f' | 'F', v) if v.as_f64().is_some() => {
                format!("{:.*}", precision.unwrap_or(6), v.as_f64().unwrap_or(0.0))
            }
            ('e', v) if v.as_f64().is_some() => {
                let formatted = format!("{:.*e}", precision.unwrap_or(6), v.as_f64().unwrap_or(0.0));
                match formatted.split_once('e') {
                    Some((m, e)) => {
                        let exp: i32 = e.parse().unwrap_or(0);
                        format!("{m}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
                    }
                    None => formatted,
                }
            }
            ('g', v) if v.as_f64().is_some() => crate::gotmpl::format_float(v.as_f64().unwrap_or(0.0)),
            (verb, other) => format!("%!{verb}({}={})", go_type(other), text(other)),
        };
        let width: usize = width.parse::<usize>().unwrap_or(0).min(MAX_PAD);
        let len = body.chars().count();
        if len < width {
            let pad = width - len;
            if flags.contains('-') {
                out.push_str(&body);
                out.push_str(&" ".repeat(pad));
            } else if flags.contains('0') && matches!(verb, 'd' | 'f' | 'x' | 'X') {
                let (sign, digits) = body.strip_prefix('-').map_or(("", body.as_str()), |d| ("-", d));
                out.push_str(sign);
                out.push_str(&"0".repeat(pad));
                out.push_str(digits);
            } else {
                out.push_str(&" ".repeat(pad));
                out.push_str(&body);
            }
        } else {
            out.push_str(&body);
        }
    }
    if next < args.len() {
        out.push_str("%!(EXTRA ");
        let extra: Vec<String> = args[next..]
            .iter()
            .map(|a| format!("{}={}", go_type(a), text(a)))
            .collect();
        out.push_str(&extra.join(", "));
        out.push(')');
    }
    out
}

pub(super) fn print(a: &[Value]) -> Outcome {
    Ok(Value::Str(sprint(a)))
}

pub(super) fn println(a: &[Value]) -> Outcome {
    Ok(Value::Str(
        a.iter().map(text).collect::<Vec<_>>().join(" ") + "\n",
    ))
}

pub(super) fn printf(a: &[Value]) -> Outcome {
    Ok(Value::Str(sprintf(string(a, 0)?, &a[1..])))
}

/// Go's `eq` of two basic values.
fn equal(a: &Value, b: &Value, index: usize) -> Result<bool, Problem> {
    Ok(match (a, b) {
        (Value::Missing | Value::Nil, Value::Missing | Value::Nil) => true,
        (Value::Missing | Value::Nil, _) | (_, Value::Missing | Value::Nil) => false,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::Str(x), Value::Str(y)) => x == y,
        (Value::List(_) | Value::Map(_), _) | (_, Value::List(_) | Value::Map(_)) => {
            return Err(Problem::bad(index, b, "non-comparable type"));
        }
        _ => return Err(Problem::bad(index, b, "incompatible types for comparison")),
    })
}

fn order(a: &[Value]) -> Result<std::cmp::Ordering, Problem> {
    match (&a[0], &a[1]) {
        (Value::Int(x), Value::Int(y)) => Ok(x.cmp(y)),
        (Value::Float(x), Value::Float(y)) => x
            .partial_cmp(y)
            .ok_or_else(|| Problem::bad(1, &a[1], "NaN is not ordered")),
        (Value::Str(x), Value::Str(y)) => Ok(x.cmp(y)),
        (
            Value::Int(_) | Value::Float(_) | Value::Str(_),
            Value::Int(_) | Value::Float(_) | Value::Str(_),
        ) => Err(Problem::bad(1, &a[1], "incompatible types for comparison")),
        (x, _) => Err(Problem::bad(0, x, "invalid type for comparison")),
    }
}

pub(super) fn eq(a: &[Value]) -> Outcome {
    if a.len() < 2 {
        return Err(Problem::Arity {
            want: super::Arity::AtLeast(2),
            got: a.len(),
        });
    }
    let mut any = false;
    for (i, other) in a[1..].iter().enumerate() {
        any |= equal(&a[0], other, i + 1)?;
    }
    Ok(Value::Bool(any))
}

pub(super) fn ne(a: &[Value]) -> Outcome {
    Ok(Value::Bool(!equal(&a[0], &a[1], 1)?))
}

pub(super) fn lt(a: &[Value]) -> Outcome {
    Ok(Value::Bool(order(a)?.is_lt()))
}

pub(super) fn le(a: &[Value]) -> Outcome {
    Ok(Value::Bool(order(a)?.is_le()))
}

pub(super) fn gt(a: &[Value]) -> Outcome {
    Ok(Value::Bool(order(a)?.is_gt()))
}

pub(super) fn ge(a: &[Value]) -> Outcome {
    Ok(Value::Bool(order(a)?.is_ge()))
}

pub(super) fn not(a: &[Value]) -> Outcome {
    Ok(Value::Bool(!a[0].truth()))
}

pub(super) fn html(a: &[Value]) -> Outcome {
    Ok(Value::Str(
        sprint(a)
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&#34;")
            .replace('\'', "&#39;"),
    ))
}

pub(super) fn js(a: &[Value]) -> Outcome {
    Ok(Value::Str(
        sprint(a)
            .replace('\\', "\\\\")
            .replace('\'', "\\'")
            .replace('"', "\\\"")
            .replace('<', "\\u003C")
            .replace('>', "\\u003E"),
    ))
}

pub(super) fn urlquery(a: &[Value]) -> Outcome {
    Ok(Value::Str(
        sprint(a)
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                b' ' => "+".into(),
                other => format!("%{other:02X}"),
            })
            .collect(),
    ))
}

/// Values hold no functions, so `call` always fails, as Go does on a
/// non-function.
pub(super) fn call(a: &[Value]) -> Outcome {
    Err(Problem::bad(
        0,
        &a[0],
        "non-function of type ".to_string() + go_type(&a[0]),
    ))
}

pub(super) fn fail(a: &[Value]) -> Outcome {
    Err(Problem::Failed(string(a, 0)?.to_string()))
}

pub(super) fn required(a: &[Value]) -> Outcome {
    match &a[1] {
        Value::Missing | Value::Nil => Err(Problem::Failed(string(a, 0)?.to_string())),
        Value::Str(v) if v.is_empty() => Err(Problem::Failed(string(a, 0)?.to_string())),
        v => Ok(v.clone()),
    }
}

pub(super) fn semver_compare(a: &[Value]) -> Outcome {
    compare(string(a, 0)?, string(a, 1)?)
        .map(Value::Bool)
        .map_err(|e| Problem::bad(1, &a[1], e.to_string()))
}

pub(super) fn semver(a: &[Value]) -> Outcome {
    let text = string(a, 0)?;
    let parsed = ::semver::Version::parse(text.trim_start_matches('v'))
        .map_err(|e| Problem::bad(0, &a[0], e.to_string()))?;
    Ok(Value::map(
        [
            ("Major".to_string(), Value::Int(parsed.major as i64)),
            ("Minor".to_string(), Value::Int(parsed.minor as i64)),
            ("Patch".to_string(), Value::Int(parsed.patch as i64)),
            ("Prerelease".to_string(), Value::Str(parsed.pre.to_string())),
            ("Metadata".to_string(), Value::Str(parsed.build.to_string())),
            ("Original".to_string(), Value::Str(text.to_string())),
        ]
        .into(),
    ))
}
