//! The functions templates can call: Go's builtins and the sprig functions
//! sealos and Helm provide (Helm's own `include`, `tpl` live in `exec`).
//! Functions that read the environment, the clock or randomness are left
//! out: renders must be deterministic.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use base64::Engine as _;

use super::parse::{Arg, Node, Pipe};
use super::{TemplateError, Value, semver_compare};

/// Every function name a template may use.
pub const FUNCTION_NAMES: &[&str] = &[
    // Go builtins.
    "and",
    "or",
    "not",
    "len",
    "index",
    "slice",
    "print",
    "printf",
    "println",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "html",
    "js",
    "urlquery",
    "call",
    // Helm's template helpers.
    "include",
    "tpl",
    "required",
    "fail",
    // sprig.
    "default",
    "empty",
    "coalesce",
    "ternary",
    "quote",
    "squote",
    "upper",
    "lower",
    "title",
    "untitle",
    "trim",
    "trimAll",
    "trimSuffix",
    "trimPrefix",
    "replace",
    "contains",
    "hasPrefix",
    "hasSuffix",
    "splitList",
    "split",
    "join",
    "list",
    "dict",
    "get",
    "set",
    "unset",
    "hasKey",
    "keys",
    "values",
    "pluck",
    "pick",
    "omit",
    "merge",
    "mergeOverwrite",
    "toString",
    "toStrings",
    "toJson",
    "toPrettyJson",
    "toRawJson",
    "int",
    "int64",
    "float64",
    "atoi",
    "add",
    "add1",
    "sub",
    "mul",
    "div",
    "mod",
    "max",
    "min",
    "semverCompare",
    "b64enc",
    "b64dec",
    "indent",
    "nindent",
    "repeat",
    "cat",
    "trunc",
    "substr",
    "first",
    "last",
    "rest",
    "initial",
    "uniq",
    "has",
    "append",
    "prepend",
    "concat",
    "compact",
    "reverse",
    "sortAlpha",
    "until",
    "untilStep",
    "kindOf",
    "kindIs",
    "typeOf",
    "typeIs",
    "deepCopy",
    "sha256sum",
    "nospace",
    "abbrev",
    "plural",
    "base",
    "dir",
    "ext",
    "isAbs",
    "lookup",
    "fromJson",
    "toDecimal",
    "dig",
    "regexMatch",
    "mustRegexMatch",
    "regexFind",
    "regexFindAll",
    "regexReplaceAll",
    "regexReplaceAllLiteral",
    "regexSplit",
    "semver",
    "wrap",
    "wrapWith",
    "randAlphaNum",
    "randAlpha",
    "randNumeric",
    "randAscii",
    "uuidv4",
    "genCA",
    "genSelfSignedCert",
    "genSignedCert",
    "genPrivateKey",
    "htpasswd",
    "derivePassword",
    "sha1sum",
    "camelcase",
    "snakecase",
    "kebabcase",
    "swapcase",
    "tuple",
    "shuffle",
    "without",
    "buildCustomCert",
    "toYaml",
    "mustToYaml",
    "fromYaml",
    "fromYamlArray",
];

/// The base function of sprig's `must*` variants (`mustMerge` -> `merge`).
fn base_name(name: &str) -> Option<String> {
    let rest = name.strip_prefix("must")?;
    let mut chars = rest.chars();
    let first = chars.next()?;
    Some(first.to_lowercase().collect::<String>() + chars.as_str())
}

/// Whether a function exists (directly or as a `must*` variant).
fn known(name: &str) -> bool {
    FUNCTION_NAMES.contains(&name)
        || base_name(name).is_some_and(|base| FUNCTION_NAMES.contains(&base.as_str()))
}

/// Refuses calls of unknown functions before anything runs (as Go does
/// when it parses).
pub(super) fn check_names(template: &str, nodes: &[Node]) -> Result<(), TemplateError> {
    fn check_pipe(template: &str, pipe: &Pipe) -> Result<(), TemplateError> {
        for cmd in &pipe.cmds {
            for arg in &cmd.args {
                match arg {
                    Arg::Ident(name) if !known(name) => {
                        return Err(TemplateError {
                            name: template.to_string(),
                            line: cmd.pos.line,
                            col: cmd.pos.col,
                            message: format!("function {name:?} not defined"),
                        });
                    }
                    Arg::Sub(inner, _) => check_pipe(template, inner)?,
                    _ => {}
                }
            }
        }
        Ok(())
    }
    for node in nodes {
        match node {
            Node::Action(p) => check_pipe(template, p)?,
            Node::If(b) | Node::Range(b) | Node::With(b) => {
                check_pipe(template, &b.pipe)?;
                check_names(template, &b.body)?;
                check_names(template, &b.otherwise)?;
            }
            Node::Template { pipe: Some(p), .. } => check_pipe(template, p)?,
            _ => {}
        }
    }
    Ok(())
}

type Outcome = Result<Value, String>;

fn want(args: &[Value], n: usize, name: &str) -> Result<(), String> {
    if args.len() == n {
        Ok(())
    } else {
        Err(format!(
            "wrong number of args for {name}: want {n} got {}",
            args.len()
        ))
    }
}

/// A string argument; Go refuses other kinds for string parameters.
fn string(value: &Value) -> Result<&str, String> {
    match value {
        Value::Str(s) => Ok(s),
        Value::Missing => Err("invalid value; expected string".into()),
        other => Err(format!(
            "wrong type for value; expected string; got {}",
            go_type(other)
        )),
    }
}

fn go_type(value: &Value) -> &'static str {
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

/// sprig's `toString`/`%v` of any value (nil prints `<nil>`).
fn text(value: &Value) -> String {
    match value {
        Value::Missing | Value::Nil => "<nil>".into(),
        other => other.print(),
    }
}

/// sprig's lenient integer conversion (`toInt64`).
fn to_int(value: &Value) -> i64 {
    match value {
        Value::Int(i) => *i,
        Value::Float(f) => *f as i64,
        Value::Bool(b) => i64::from(*b),
        Value::Str(s) => s
            .trim()
            .parse::<i64>()
            .or_else(|_| s.trim().parse::<f64>().map(|f| f as i64))
            .unwrap_or(0),
        _ => 0,
    }
}

fn to_float(value: &Value) -> f64 {
    match value {
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Str(s) => s.trim().parse().unwrap_or(0.0),
        _ => 0.0,
    }
}

fn list_of(value: &Value, name: &str) -> Result<Vec<Value>, String> {
    match value {
        Value::List(items) => Ok(items.clone()),
        Value::Missing | Value::Nil => Ok(Vec::new()),
        other => Err(format!("Cannot {name} on type {}", go_type(other))),
    }
}

/// sprig's `empty`: the zero value of its kind.
fn is_empty(value: &Value) -> bool {
    !value.truth()
}

/// Go's `eq` of two basic values.
fn equal(a: &Value, b: &Value) -> Result<bool, String> {
    Ok(match (a, b) {
        (Value::Missing | Value::Nil, Value::Missing | Value::Nil) => true,
        (Value::Missing | Value::Nil, _) | (_, Value::Missing | Value::Nil) => false,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::Str(x), Value::Str(y)) => x == y,
        (Value::List(_) | Value::Map(_), _) | (_, Value::List(_) | Value::Map(_)) => {
            return Err("non-comparable type".into());
        }
        _ => return Err("incompatible types for comparison".into()),
    })
}

fn order(a: &Value, b: &Value) -> Result<std::cmp::Ordering, String> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Ok(x.cmp(y)),
        (Value::Float(x), Value::Float(y)) => x.partial_cmp(y).ok_or_else(|| "NaN".to_string()),
        (Value::Str(x), Value::Str(y)) => Ok(x.cmp(y)),
        (
            Value::Int(_) | Value::Float(_) | Value::Str(_),
            Value::Int(_) | Value::Float(_) | Value::Str(_),
        ) => Err("incompatible types for comparison".into()),
        _ => Err("invalid type for comparison".into()),
    }
}

/// Go's `fmt.Sprint`: spaces between operands when neither is a string.
fn sprint(args: &[Value]) -> String {
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
fn sprintf(format: &str, args: &[Value]) -> String {
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
            ('v' | 's', _) => {
                let t = text(arg);
                match precision {
                    Some(p) if verb == 's' => t.chars().take(p).collect(),
                    _ => t,
                }
            }
            ('q', Value::Str(s)) => format!("{s:?}"),
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
            ('g', v) if v.as_f64().is_some() => super::format_float(v.as_f64().unwrap_or(0.0)),
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

/// Widest padding `indent`, `nindent` and printf widths may ask for: a
/// hostile template must not make one call allocate gigabytes.
const MAX_PAD: usize = 1 << 16;

fn indent(spaces: i64, text: &str) -> String {
    let pad = " ".repeat(usize::try_from(spaces).unwrap_or(0).min(MAX_PAD));
    let mut out = String::with_capacity(text.len() + pad.len());
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&pad);
        out.push_str(line);
    }
    out
}

fn json_of(value: &Value) -> serde_json::Value {
    match value {
        Value::Missing | Value::Nil => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Int(i) => serde_json::Value::from(*i),
        Value::Float(f) => {
            serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, serde_json::Value::Number)
        }
        Value::Str(s) => serde_json::Value::String(s.clone()),
        Value::List(items) => serde_json::Value::Array(items.iter().map(json_of).collect()),
        Value::Map(map) => {
            serde_json::Value::Object(map.iter().map(|(k, v)| (k.clone(), json_of(v))).collect())
        }
    }
}

fn map_arg<'v>(value: &'v Value, name: &str) -> Result<&'v BTreeMap<String, Value>, String> {
    match value {
        Value::Map(map) => Ok(map),
        other => Err(format!("{name} wants a dict, got {}", go_type(other))),
    }
}

/// Deep merge: keys of `over` fill (or, with `overwrite`, replace) `into`.
fn merge_into(into: &mut BTreeMap<String, Value>, over: &BTreeMap<String, Value>, overwrite: bool) {
    for (key, value) in over {
        match (into.get_mut(key), value) {
            (Some(Value::Map(inner)), Value::Map(more)) => merge_into(inner, more, overwrite),
            (Some(existing), _) => {
                if overwrite || is_empty(existing) && !matches!(existing, Value::Bool(false)) {
                    *existing = value.clone();
                }
            }
            (None, _) => {
                into.insert(key.clone(), value.clone());
            }
        }
    }
}

/// Calls function `name` with evaluated arguments.
pub(super) fn call(name: &str, args: Vec<Value>) -> Outcome {
    let a = &args;
    let s = |i: usize| -> Result<&str, String> {
        a.get(i)
            .ok_or_else(|| "missing argument".to_string())
            .and_then(string)
    };
    Ok(match name {
        "not" => {
            want(a, 1, name)?;
            Value::Bool(!a[0].truth())
        }
        "len" => {
            want(a, 1, name)?;
            Value::Int(match &a[0] {
                Value::Str(s) => s.len(),
                Value::List(l) => l.len(),
                Value::Map(m) => m.len(),
                other => return Err(format!("len of type {}", go_type(other))),
            } as i64)
        }
        "index" => {
            let Some((first, keys)) = a.split_first() else {
                return Err("wrong number of args for index: want at least 1 got 0".into());
            };
            let mut value = first.clone();
            for key in keys {
                value = match (&value, key) {
                    (Value::List(items), Value::Int(i)) => items
                        .get(usize::try_from(*i).map_err(|_| format!("index out of range: {i}"))?)
                        .cloned()
                        .ok_or_else(|| format!("index out of range: {i}"))?,
                    (Value::Map(map), Value::Str(k)) => map.get(k).cloned().unwrap_or(Value::Nil),
                    (Value::Missing | Value::Nil, _) => return Err("index of untyped nil".into()),
                    (v, k) => {
                        return Err(format!(
                            "can't index item of type {} with {}",
                            go_type(v),
                            go_type(k)
                        ));
                    }
                };
            }
            value
        }
        "slice" => {
            let Some((first, bounds)) = a.split_first() else {
                return Err("wrong number of args for slice".into());
            };
            let bounds: Vec<usize> = bounds
                .iter()
                .map(|b| usize::try_from(to_int(b)).unwrap_or(0))
                .collect();
            match first {
                Value::Str(text) => {
                    let (from, to) = (
                        bounds.first().copied().unwrap_or(0),
                        bounds.get(1).copied().unwrap_or(text.len()),
                    );
                    Value::Str(text.get(from..to).ok_or("slice out of range")?.to_string())
                }
                Value::List(items) => {
                    let (from, to) = (
                        bounds.first().copied().unwrap_or(0),
                        bounds.get(1).copied().unwrap_or(items.len()),
                    );
                    Value::List(items.get(from..to).ok_or("slice out of range")?.to_vec())
                }
                other => return Err(format!("can't slice item of type {}", go_type(other))),
            }
        }
        "print" => Value::Str(sprint(a)),
        "println" => Value::Str(a.iter().map(text).collect::<Vec<_>>().join(" ") + "\n"),
        "printf" => {
            let format = s(0)?;
            Value::Str(sprintf(format, &a[1..]))
        }
        "eq" => {
            let Some((first, rest)) = a.split_first() else {
                return Err("missing argument for comparison".into());
            };
            if rest.is_empty() {
                return Err("missing argument for comparison".into());
            }
            let mut any = false;
            for other in rest {
                any |= equal(first, other)?;
            }
            Value::Bool(any)
        }
        "ne" => {
            want(a, 2, name)?;
            Value::Bool(!equal(&a[0], &a[1])?)
        }
        "lt" | "le" | "gt" | "ge" => {
            want(a, 2, name)?;
            let o = order(&a[0], &a[1])?;
            Value::Bool(match name {
                "lt" => o.is_lt(),
                "le" => o.is_le(),
                "gt" => o.is_gt(),
                _ => o.is_ge(),
            })
        }
        "html" => Value::Str(
            sprint(a)
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', "&#34;")
                .replace('\'', "&#39;"),
        ),
        "js" => Value::Str(
            sprint(a)
                .replace('\\', "\\\\")
                .replace('\'', "\\'")
                .replace('"', "\\\"")
                .replace('<', "\\u003C")
                .replace('>', "\\u003E"),
        ),
        "urlquery" => Value::Str(
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
        ),
        "call" => return Err("call is not supported: values hold no functions".into()),
        "required" => {
            want(a, 2, name)?;
            match &a[1] {
                Value::Missing | Value::Nil => return Err(s(0)?.to_string()),
                Value::Str(v) if v.is_empty() => return Err(s(0)?.to_string()),
                v => v.clone(),
            }
        }
        "fail" => return Err(s(0)?.to_string()),
        "default" => {
            if a.is_empty() || a.len() > 2 {
                return Err(format!(
                    "wrong number of args for default: want 1 or 2 got {}",
                    a.len()
                ));
            }
            match a.get(1) {
                Some(given) if !is_empty(given) => given.clone(),
                _ => a[0].clone(),
            }
        }
        "empty" => {
            want(a, 1, name)?;
            Value::Bool(is_empty(&a[0]))
        }
        "coalesce" => a.iter().find(|v| !is_empty(v)).cloned().unwrap_or(Value::Nil),
        "ternary" => {
            want(a, 3, name)?;
            if a[2].truth() { a[0].clone() } else { a[1].clone() }
        }
        "quote" => Value::Str(
            a.iter()
                .filter(|v| !matches!(v, Value::Missing | Value::Nil))
                .map(|v| format!("{:?}", text(v)))
                .collect::<Vec<_>>()
                .join(" "),
        ),
        "squote" => Value::Str(
            a.iter()
                .filter(|v| !matches!(v, Value::Missing | Value::Nil))
                .map(|v| format!("'{}'", text(v)))
                .collect::<Vec<_>>()
                .join(" "),
        ),
        "upper" => Value::Str(s(0)?.to_uppercase()),
        "lower" => Value::Str(s(0)?.to_lowercase()),
        "title" => Value::Str(
            s(0)?
                .split(' ')
                .map(|w| {
                    let mut c = w.chars();
                    c.next()
                        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                        .unwrap_or_default()
                })
                .collect::<Vec<_>>()
                .join(" "),
        ),
        "untitle" => Value::Str(
            s(0)?
                .split(' ')
                .map(|w| {
                    let mut c = w.chars();
                    c.next()
                        .map(|f| f.to_lowercase().collect::<String>() + c.as_str())
                        .unwrap_or_default()
                })
                .collect::<Vec<_>>()
                .join(" "),
        ),
        "trim" => Value::Str(s(0)?.trim().to_string()),
        "nospace" => Value::Str(s(0)?.chars().filter(|c| !c.is_whitespace()).collect()),
        "trimAll" => Value::Str(s(1)?.trim_matches(|c| s(0).unwrap_or("").contains(c)).to_string()),
        "trimSuffix" => Value::Str(s(1)?.strip_suffix(s(0)?).unwrap_or(s(1)?).to_string()),
        "trimPrefix" => Value::Str(s(1)?.strip_prefix(s(0)?).unwrap_or(s(1)?).to_string()),
        "replace" => {
            want(a, 3, name)?;
            Value::Str(s(2)?.replace(s(0)?, s(1)?))
        }
        "contains" => Value::Bool(s(1)?.contains(s(0)?)),
        "hasPrefix" => Value::Bool(s(1)?.starts_with(s(0)?)),
        "hasSuffix" => Value::Bool(s(1)?.ends_with(s(0)?)),
        "splitList" => Value::List(s(1)?.split(s(0)?).map(Value::from).collect()),
        "split" => Value::Map(
            s(1)?
                .split(s(0)?)
                .enumerate()
                .map(|(i, part)| (format!("_{i}"), Value::from(part)))
                .collect(),
        ),
        "join" => {
            want(a, 2, name)?;
            let items = match &a[1] {
                Value::List(items) => items.iter().map(text).collect::<Vec<_>>(),
                other => vec![text(other)],
            };
            Value::Str(items.join(s(0)?))
        }
        "list" => Value::List(a.clone()),
        "dict" => {
            let mut map = BTreeMap::new();
            for pair in a.chunks(2) {
                let value = pair.get(1).cloned().unwrap_or(Value::Str(String::new()));
                map.insert(text(&pair[0]), value);
            }
            Value::Map(map)
        }
        "get" => {
            want(a, 2, name)?;
            map_arg(&a[0], name)?
                .get(s(1)?)
                .cloned()
                .unwrap_or(Value::Str(String::new()))
        }
        "set" => {
            want(a, 3, name)?;
            let mut map = map_arg(&a[0], name)?.clone();
            map.insert(s(1)?.to_string(), a[2].clone());
            Value::Map(map)
        }
        "unset" => {
            want(a, 2, name)?;
            let mut map = map_arg(&a[0], name)?.clone();
            map.remove(s(1)?);
            Value::Map(map)
        }
        "hasKey" => {
            want(a, 2, name)?;
            Value::Bool(map_arg(&a[0], name)?.contains_key(s(1)?))
        }
        "keys" => {
            let mut keys = Vec::new();
            for map in a {
                keys.extend(map_arg(map, name)?.keys().map(|k| Value::from(k.as_str())));
            }
            Value::List(keys)
        }
        "values" => Value::List(
            map_arg(a.first().ok_or("missing dict")?, name)?
                .values()
                .cloned()
                .collect(),
        ),
        "pluck" => {
            let key = s(0)?;
            Value::List(
                a[1..]
                    .iter()
                    .filter_map(|m| match m {
                        Value::Map(map) => map.get(key).cloned(),
                        _ => None,
                    })
                    .collect(),
            )
        }
        "pick" | "omit" => {
            let map = map_arg(a.first().ok_or("missing dict")?, name)?;
            let names: Vec<String> = a[1..].iter().map(text).collect();
            Value::Map(
                map.iter()
                    .filter(|(k, _)| names.contains(k) == (name == "pick"))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            )
        }
        "merge" | "mergeOverwrite" => {
            let mut into = map_arg(a.first().ok_or("missing dict")?, name)?.clone();
            for over in &a[1..] {
                merge_into(&mut into, map_arg(over, name)?, name == "mergeOverwrite");
            }
            Value::Map(into)
        }
        "dig" => {
            if a.len() < 3 {
                return Err("dig needs keys, a default and a dict".into());
            }
            let (map, rest) = a.split_last().ok_or("missing dict")?;
            let (default, keys) = rest.split_last().ok_or("missing default")?;
            let mut value = map.clone();
            for key in keys {
                value = match value {
                    Value::Map(mut m) => match m.remove(&text(key)) {
                        Some(v) => v,
                        None => return Ok(default.clone()),
                    },
                    _ => return Ok(default.clone()),
                };
            }
            value
        }
        "toString" => Value::Str(text(a.first().ok_or("missing argument")?)),
        "toStrings" => Value::List(
            list_of(a.first().ok_or("missing argument")?, name)?
                .iter()
                .map(|v| Value::Str(text(v)))
                .collect(),
        ),
        "toJson" | "toRawJson" => Value::Str(
            serde_json::to_string(&json_of(a.first().ok_or("missing argument")?))
                .map_err(|e| e.to_string())?,
        ),
        "toPrettyJson" => Value::Str(
            serde_json::to_string_pretty(&json_of(a.first().ok_or("missing argument")?))
                .map_err(|e| e.to_string())?,
        ),
        "fromJson" => serde_json::from_str::<serde_json::Value>(s(0)?)
            .map(Value::from)
            .unwrap_or_else(|e| Value::Map([("Error".to_string(), Value::Str(e.to_string()))].into())),
        "toYaml" | "mustToYaml" => Value::Str(super::yaml::to_yaml(a.first().ok_or("missing argument")?)),
        "fromYaml" => super::yaml::from_yaml(s(0)?, true)
            .map(|v| match v {
                Value::Map(_) => v,
                _ => Value::Map(BTreeMap::new()),
            })
            .unwrap_or_else(|e| Value::Map([("Error".to_string(), Value::Str(e))].into())),
        "fromYamlArray" => super::yaml::from_yaml(s(0)?, true)
            .map(|v| match v {
                Value::List(_) => v,
                _ => Value::List(Vec::new()),
            })
            .unwrap_or_else(|e| Value::List(vec![Value::Str(e)])),
        "regexMatch" | "mustRegexMatch" => Value::Bool(regex(s(0)?)?.is_match(s(1)?)),
        "regexFind" => Value::Str(
            regex(s(0)?)?
                .find(s(1)?)
                .map(|m| m.as_str().to_string())
                .unwrap_or_default(),
        ),
        "regexFindAll" => {
            let limit = to_int(a.get(2).ok_or("missing count")?);
            let re = regex(s(0)?)?;
            let found = re.find_iter(s(1)?).map(|m| Value::from(m.as_str()));
            Value::List(if limit < 0 {
                found.collect()
            } else {
                found.take(limit as usize).collect()
            })
        }
        "regexReplaceAll" => Value::Str(regex(s(0)?)?.replace_all(s(1)?, s(2)?).into_owned()),
        "regexReplaceAllLiteral" => Value::Str(
            regex(s(0)?)?
                .replace_all(s(1)?, regex::NoExpand(s(2)?))
                .into_owned(),
        ),
        "regexSplit" => {
            let limit = to_int(a.get(2).ok_or("missing count")?);
            let re = regex(s(0)?)?;
            let parts: Vec<Value> = if limit < 0 {
                re.split(s(1)?).map(Value::from).collect()
            } else {
                re.splitn(s(1)?, limit as usize).map(Value::from).collect()
            };
            Value::List(parts)
        }
        "semver" => {
            let text = s(0)?;
            let parsed = semver::Version::parse(text.trim_start_matches('v')).map_err(|e| e.to_string())?;
            Value::Map(
                [
                    ("Major".to_string(), Value::Int(parsed.major as i64)),
                    ("Minor".to_string(), Value::Int(parsed.minor as i64)),
                    ("Patch".to_string(), Value::Int(parsed.patch as i64)),
                    ("Prerelease".to_string(), Value::Str(parsed.pre.to_string())),
                    ("Metadata".to_string(), Value::Str(parsed.build.to_string())),
                    ("Original".to_string(), Value::Str(text.to_string())),
                ]
                .into(),
            )
        }
        "wrap" | "wrapWith" => {
            let width = usize::try_from(to_int(&a[0])).unwrap_or(0).max(1);
            let (sep, text) = if name == "wrap" {
                ("\n", s(1)?)
            } else {
                (s(1)?, s(2)?)
            };
            let mut lines: Vec<String> = Vec::new();
            for word in text.split(' ') {
                match lines.last_mut() {
                    Some(line) if line.len() + 1 + word.len() <= width => {
                        line.push(' ');
                        line.push_str(word);
                    }
                    _ => lines.push(word.to_string()),
                }
            }
            Value::Str(lines.join(sep))
        }
        // Renders feed image lists: random and cryptographic values are
        // deterministic placeholders of the right shape.
        "randAlphaNum" | "randAlpha" | "randNumeric" | "randAscii" => {
            let n = usize::try_from(to_int(a.first().ok_or("missing length")?))
                .unwrap_or(0)
                .min(4096);
            let digits = name == "randNumeric";
            Value::Str(
                (0..n)
                    .map(|i| {
                        if digits {
                            char::from(b'0' + (i % 10) as u8)
                        } else {
                            char::from(b'a' + (i % 26) as u8)
                        }
                    })
                    .collect(),
            )
        }
        "uuidv4" => Value::from("00000000-0000-4000-8000-000000000000"),
        "genCA" | "genSelfSignedCert" | "genSignedCert" => Value::Map(
            [
                (
                    "Cert".to_string(),
                    Value::from("-----BEGIN CERTIFICATE-----\nplaceholder\n-----END CERTIFICATE-----\n"),
                ),
                (
                    "Key".to_string(),
                    Value::from(
                        "-----BEGIN RSA PRIVATE KEY-----\nplaceholder\n-----END RSA PRIVATE KEY-----\n",
                    ),
                ),
            ]
            .into(),
        ),
        "genPrivateKey" => {
            Value::from("-----BEGIN RSA PRIVATE KEY-----\nplaceholder\n-----END RSA PRIVATE KEY-----\n")
        }
        "htpasswd" => Value::Str(format!("{}:$2a$10$placeholder", s(0)?)),
        "derivePassword" => Value::from("placeholder"),
        "sha1sum" => Value::Str(sha1_placeholder(s(0)?)),
        "camelcase" | "snakecase" | "kebabcase" => {
            let words: Vec<String> = s(0)?
                .split(['_', '-', ' '])
                .filter(|w| !w.is_empty())
                .map(str::to_lowercase)
                .collect();
            Value::Str(match name {
                "camelcase" => words
                    .iter()
                    .map(|w| {
                        let mut c = w.chars();
                        c.next()
                            .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                            .unwrap_or_default()
                    })
                    .collect(),
                "snakecase" => words.join("_"),
                _ => words.join("-"),
            })
        }
        "swapcase" => Value::Str(
            s(0)?
                .chars()
                .map(|c| {
                    if c.is_uppercase() {
                        c.to_lowercase().collect::<String>()
                    } else {
                        c.to_uppercase().collect()
                    }
                })
                .collect(),
        ),
        "tuple" => Value::List(a.clone()),
        // Deterministic: renders feed image lists.
        "shuffle" => Value::Str(s(0)?.to_string()),
        "without" => {
            let items = list_of(a.first().ok_or("missing list")?, name)?;
            Value::List(items.into_iter().filter(|item| !a[1..].contains(item)).collect())
        }
        "buildCustomCert" => Value::Map(
            [
                ("Cert".to_string(), Value::Str(s(0)?.to_string())),
                ("Key".to_string(), Value::Str(s(1)?.to_string())),
            ]
            .into(),
        ),
        "int" | "int64" => Value::Int(to_int(a.first().ok_or("missing argument")?)),
        "atoi" => Value::Int(s(0)?.trim().parse().unwrap_or(0)),
        "float64" | "toDecimal" => Value::Float(to_float(a.first().ok_or("missing argument")?)),
        "add" => Value::Int(a.iter().map(to_int).fold(0i64, i64::wrapping_add)),
        "add1" => Value::Int(to_int(a.first().ok_or("missing argument")?).wrapping_add(1)),
        "sub" => {
            want(a, 2, name)?;
            Value::Int(to_int(&a[0]).wrapping_sub(to_int(&a[1])))
        }
        "mul" => Value::Int(a.iter().map(to_int).fold(1i64, i64::wrapping_mul)),
        "div" | "mod" => {
            want(a, 2, name)?;
            let divisor = to_int(&a[1]);
            if divisor == 0 {
                return Err("integer divide by zero".into());
            }
            Value::Int(if name == "div" {
                to_int(&a[0]).wrapping_div(divisor)
            } else {
                to_int(&a[0]).wrapping_rem(divisor)
            })
        }
        "max" => Value::Int(a.iter().map(to_int).max().ok_or("missing argument")?),
        "min" => Value::Int(a.iter().map(to_int).min().ok_or("missing argument")?),
        "semverCompare" => {
            want(a, 2, name)?;
            Value::Bool(semver_compare(s(0)?, s(1)?).map_err(|e| e.to_string())?)
        }
        "b64enc" => Value::Str(base64::engine::general_purpose::STANDARD.encode(s(0)?)),
        "b64dec" => Value::Str(
            base64::engine::general_purpose::STANDARD
                .decode(s(0)?)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_else(|e| e.to_string()),
        ),
        "indent" => {
            want(a, 2, name)?;
            Value::Str(indent(to_int(&a[0]), s(1)?))
        }
        "nindent" => {
            want(a, 2, name)?;
            Value::Str(format!("\n{}", indent(to_int(&a[0]), s(1)?)))
        }
        "repeat" => {
            want(a, 2, name)?;
            let count = usize::try_from(to_int(&a[0])).unwrap_or(0);
            let text = s(1)?;
            if count.saturating_mul(text.len()) > 16 << 20 {
                return Err("repeat would exceed 16 MiB".into());
            }
            Value::Str(text.repeat(count))
        }
        "cat" => Value::Str(
            a.iter()
                .filter(|v| !matches!(v, Value::Missing | Value::Nil))
                .map(text)
                .collect::<Vec<_>>()
                .join(" "),
        ),
        "trunc" => {
            want(a, 2, name)?;
            let n = to_int(&a[0]);
            let text = s(1)?;
            let len = text.chars().count() as i64;
            Value::Str(if n >= 0 {
                text.chars().take(n as usize).collect()
            } else if -n < len {
                text.chars().skip((len + n) as usize).collect()
            } else {
                text.to_string()
            })
        }
        "abbrev" => {
            want(a, 2, name)?;
            let width = usize::try_from(to_int(&a[0])).unwrap_or(0);
            let text = s(1)?;
            Value::Str(if width < 4 || text.chars().count() <= width {
                text.to_string()
            } else {
                text.chars().take(width - 3).collect::<String>() + "..."
            })
        }
        "substr" => {
            want(a, 3, name)?;
            let text = s(2)?;
            let (start, end) = (to_int(&a[0]), to_int(&a[1]));
            let len = text.len() as i64;
            let start = if start < 0 { 0 } else { start.min(len) };
            let end = if end < 0 || end > len { len } else { end.max(start) };
            Value::Str(text.get(start as usize..end as usize).unwrap_or("").to_string())
        }
        "first" | "last" => {
            let items = list_of(a.first().ok_or("missing argument")?, name)?;
            let item = if name == "first" {
                items.first()
            } else {
                items.last()
            };
            item.cloned().unwrap_or(Value::Nil)
        }
        "rest" | "initial" => {
            let items = list_of(a.first().ok_or("missing argument")?, name)?;
            if items.is_empty() {
                Value::List(Vec::new())
            } else if name == "rest" {
                Value::List(items[1..].to_vec())
            } else {
                Value::List(items[..items.len() - 1].to_vec())
            }
        }
        "uniq" => {
            let mut out: Vec<Value> = Vec::new();
            for item in list_of(a.first().ok_or("missing argument")?, name)? {
                if !out.contains(&item) {
                    out.push(item);
                }
            }
            Value::List(out)
        }
        "compact" => Value::List(
            list_of(a.first().ok_or("missing argument")?, name)?
                .into_iter()
                .filter(|v| !is_empty(v))
                .collect(),
        ),
        "reverse" => Value::List(
            list_of(a.first().ok_or("missing argument")?, name)?
                .into_iter()
                .rev()
                .collect(),
        ),
        "sortAlpha" => {
            let mut items: Vec<String> = list_of(a.first().ok_or("missing argument")?, name)?
                .iter()
                .map(text)
                .collect();
            items.sort();
            Value::List(items.into_iter().map(Value::Str).collect())
        }
        "has" => {
            want(a, 2, name)?;
            Value::Bool(list_of(&a[1], name)?.contains(&a[0]))
        }
        "append" => {
            want(a, 2, name)?;
            let mut items = list_of(&a[0], name)?;
            items.push(a[1].clone());
            Value::List(items)
        }
        "prepend" => {
            want(a, 2, name)?;
            let mut items = vec![a[1].clone()];
            items.extend(list_of(&a[0], name)?);
            Value::List(items)
        }
        "concat" => {
            let mut items = Vec::new();
            for list in a {
                items.extend(list_of(list, name)?);
            }
            Value::List(items)
        }
        "until" | "untilStep" => {
            let (start, stop, step) = if name == "until" {
                (0, to_int(a.first().ok_or("missing argument")?), 1)
            } else {
                want(a, 3, name)?;
                (to_int(&a[0]), to_int(&a[1]), to_int(&a[2]))
            };
            if step == 0 {
                return Ok(Value::List(Vec::new()));
            }
            let count = ((stop - start) / step).max(0);
            if count > 1_000_000 {
                return Err(format!("{name} would make {count} items, more than 1000000"));
            }
            Value::List((0..count).map(|i| Value::Int(start + i * step)).collect())
        }
        "kindOf" => Value::Str(a.first().ok_or("missing argument")?.kind().to_string()),
        "kindIs" => {
            want(a, 2, name)?;
            Value::Bool(a[1].kind() == s(0)?)
        }
        "typeOf" => Value::Str(go_type(a.first().ok_or("missing argument")?).to_string()),
        "typeIs" => {
            want(a, 2, name)?;
            Value::Bool(go_type(&a[1]) == s(0)?)
        }
        "deepCopy" => a.first().cloned().ok_or("missing argument")?,
        "sha256sum" => Value::Str(crate::digest::Sha256::of(s(0)?.as_bytes()).hex()),
        "plural" => {
            want(a, 3, name)?;
            Value::Str(if to_int(&a[2]) == 1 { s(0)? } else { s(1)? }.to_string())
        }
        "base" => Value::Str(s(0)?.rsplit('/').next().unwrap_or("").to_string()),
        "dir" => Value::Str(match s(0)?.rsplit_once('/') {
            Some(("", _)) => "/".into(),
            Some((dir, _)) => dir.to_string(),
            None => ".".into(),
        }),
        "ext" => Value::Str(
            s(0)?
                .rsplit('/')
                .next()
                .and_then(|b| b.rfind('.').map(|i| b[i..].to_string()))
                .unwrap_or_default(),
        ),
        "isAbs" => Value::Bool(s(0)?.starts_with('/')),
        "lookup" => Value::Map(BTreeMap::new()),
        other => match base_name(other).filter(|base| FUNCTION_NAMES.contains(&base.as_str())) {
            Some(base) => return call(&base, args),
            None => return Err(format!("function {other:?} not defined")),
        },
    })
}

/// A compiled regular expression (bounded in size: patterns come from charts).
fn regex(pattern: &str) -> Result<regex::Regex, String> {
    regex::RegexBuilder::new(pattern)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| e.to_string())
}

/// sha1sum's shape (40 hex digits) from sha256: renders feed image lists,
/// and no image reference is built from a sha1 of a value.
fn sha1_placeholder(text: &str) -> String {
    crate::digest::Sha256::of(text.as_bytes()).hex()[..40].to_string()
}

/// Method names receiver maps answer.
pub(super) const METHODS: &[&str] = &["Has", "Get", "GetBytes", "Lines", "Glob", "AsConfig", "AsSecrets"];

/// Methods of receiver maps (Helm's `.Files` and `.Capabilities.APIVersions`).
pub(super) fn method(receiver: &BTreeMap<String, Value>, name: &str, args: &[Value]) -> Outcome {
    let kind = match receiver.get(super::RECEIVER) {
        Some(Value::Str(kind)) => kind.as_str(),
        _ => "",
    };
    let arg = |i: usize| {
        args.get(i)
            .ok_or_else(|| format!("{name} needs an argument"))
            .and_then(string)
    };
    let files = |pattern: &str| -> Vec<(String, String)> {
        receiver
            .iter()
            .filter(|(k, _)| k.as_str() != super::RECEIVER && glob_match(pattern, k))
            .map(|(k, v)| (k.clone(), text(v)))
            .collect()
    };
    Ok(match (kind, name) {
        ("apiversions", "Has") => {
            let wanted = arg(0)?;
            Value::Bool(
                matches!(receiver.get("list"), Some(Value::List(l)) if l.iter().any(|v| matches!(v, Value::Str(s) if s == wanted))),
            )
        }
        ("files", "Get") => receiver
            .get(arg(0)?)
            .map_or(Value::Str(String::new()), |v| Value::Str(text(v))),
        ("files", "GetBytes") => receiver
            .get(arg(0)?)
            .map_or(Value::Str(String::new()), |v| Value::Str(text(v))),
        ("files", "Lines") => Value::List(
            receiver
                .get(arg(0)?)
                .map(text)
                .unwrap_or_default()
                .lines()
                .map(Value::from)
                .collect(),
        ),
        ("files", "Glob") => {
            let mut map: BTreeMap<String, Value> = files(arg(0)?)
                .into_iter()
                .map(|(k, v)| (k, Value::Str(v)))
                .collect();
            map.insert(super::RECEIVER.into(), Value::Str("files".into()));
            Value::Map(map)
        }
        ("files", "AsConfig") | ("files", "AsSecrets") => {
            let map: BTreeMap<String, Value> = files("**")
                .into_iter()
                .map(|(k, v)| {
                    let base = k.rsplit('/').next().unwrap_or(&k).to_string();
                    let value = if name == "AsSecrets" {
                        base64::engine::general_purpose::STANDARD.encode(v.as_bytes())
                    } else {
                        v
                    };
                    (base, Value::Str(value))
                })
                .collect();
            Value::Str(super::yaml::to_yaml(&Value::Map(map)))
        }
        _ => return Err(format!("no method {name} on {kind}")),
    })
}

/// Glob matching as Helm's `.Files.Glob` (gobwas/glob with `/`): `*` stays
/// within a path segment, `**` crosses them, `?` one character.
pub fn glob_match(pattern: &str, path: &str) -> bool {
    fn go(p: &[u8], s: &[u8]) -> bool {
        match p.first() {
            None => s.is_empty(),
            Some(b'*') if p.get(1) == Some(&b'*') => (0..=s.len()).any(|i| go(&p[2..], &s[i..])),
            Some(b'*') => (0..=s.len())
                .take_while(|i| *i == 0 || s[i - 1] != b'/')
                .any(|i| go(&p[1..], &s[i..])),
            Some(b'?') => !s.is_empty() && s[0] != b'/' && go(&p[1..], &s[1..]),
            Some(c) => s.first() == Some(c) && go(&p[1..], &s[1..]),
        }
    }
    go(pattern.as_bytes(), path.as_bytes())
}
