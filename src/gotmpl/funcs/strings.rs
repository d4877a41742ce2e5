//! String functions of sprig, and its path and URL helpers.

use std::collections::BTreeMap;

use super::args::{any, string, text, to_int};
use super::{Outcome, Problem};
use crate::gotmpl::Value;

fn s(value: String) -> Outcome {
    Ok(Value::Str(value))
}

pub(super) fn hello(_: &[Value]) -> Outcome {
    s("Hello!".into())
}

pub(super) fn upper(a: &[Value]) -> Outcome {
    s(string(a, 0)?.to_uppercase())
}

pub(super) fn lower(a: &[Value]) -> Outcome {
    s(string(a, 0)?.to_lowercase())
}

/// Go's `strings.Title`: the first letter after anything not a letter.
pub(super) fn title(a: &[Value]) -> Outcome {
    let mut out = String::new();
    let mut previous_letter = false;
    for c in string(a, 0)?.chars() {
        if !previous_letter && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        previous_letter = c.is_alphanumeric() || c == '_' || c == '\'';
    }
    s(out)
}

pub(super) fn untitle(a: &[Value]) -> Outcome {
    let mut out = String::new();
    let mut at_start = true;
    for c in string(a, 0)?.chars() {
        if at_start && !c.is_whitespace() {
            out.extend(c.to_lowercase());
            at_start = false;
        } else {
            out.push(c);
        }
        if c.is_whitespace() {
            at_start = true;
        }
    }
    s(out)
}

pub(super) fn trim(a: &[Value]) -> Outcome {
    s(string(a, 0)?.trim().to_string())
}

pub(super) fn nospace(a: &[Value]) -> Outcome {
    s(string(a, 0)?.chars().filter(|c| !c.is_whitespace()).collect())
}

pub(super) fn trim_all(a: &[Value]) -> Outcome {
    let cut = string(a, 0)?;
    s(string(a, 1)?.trim_matches(|c| cut.contains(c)).to_string())
}

pub(super) fn trim_suffix(a: &[Value]) -> Outcome {
    let text = string(a, 1)?;
    s(text.strip_suffix(string(a, 0)?).unwrap_or(text).to_string())
}

pub(super) fn trim_prefix(a: &[Value]) -> Outcome {
    let text = string(a, 1)?;
    s(text.strip_prefix(string(a, 0)?).unwrap_or(text).to_string())
}

pub(super) fn replace(a: &[Value]) -> Outcome {
    s(string(a, 2)?.replace(string(a, 0)?, string(a, 1)?))
}

pub(super) fn contains(a: &[Value]) -> Outcome {
    Ok(Value::Bool(string(a, 1)?.contains(string(a, 0)?)))
}

pub(super) fn has_prefix(a: &[Value]) -> Outcome {
    Ok(Value::Bool(string(a, 1)?.starts_with(string(a, 0)?)))
}

pub(super) fn has_suffix(a: &[Value]) -> Outcome {
    Ok(Value::Bool(string(a, 1)?.ends_with(string(a, 0)?)))
}

pub(super) fn split_list(a: &[Value]) -> Outcome {
    let (sep, text) = (string(a, 0)?, string(a, 1)?);
    Ok(Value::List(
        go_split(text, sep, usize::MAX)
            .into_iter()
            .map(Value::from)
            .collect(),
    ))
}

/// Go's `strings.SplitN` (an empty separator splits into characters).
fn go_split<'t>(text: &'t str, sep: &str, limit: usize) -> Vec<&'t str> {
    if sep.is_empty() {
        let mut parts: Vec<&str> = Vec::new();
        let mut indices = text.char_indices().peekable();
        while let Some((i, c)) = indices.next() {
            if parts.len() + 1 == limit {
                parts.push(&text[i..]);
                break;
            }
            parts.push(&text[i..i + c.len_utf8()]);
            let _ = indices.peek();
        }
        return parts;
    }
    text.splitn(limit, sep).collect()
}

pub(super) fn split(a: &[Value]) -> Outcome {
    let (sep, text) = (string(a, 0)?, string(a, 1)?);
    Ok(Value::map(
        go_split(text, sep, usize::MAX)
            .into_iter()
            .enumerate()
            .map(|(i, part)| (format!("_{i}"), Value::from(part)))
            .collect(),
    ))
}

pub(super) fn splitn(a: &[Value]) -> Outcome {
    let (sep, limit, text) = (string(a, 0)?, to_int(&a[1]), string(a, 2)?);
    if limit == 0 {
        return Ok(Value::empty_map());
    }
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    Ok(Value::map(
        go_split(text, sep, limit)
            .into_iter()
            .enumerate()
            .map(|(i, part)| (format!("_{i}"), Value::from(part)))
            .collect(),
    ))
}

pub(super) fn join(a: &[Value]) -> Outcome {
    let sep = string(a, 0)?;
    let items: Vec<String> = match &a[1] {
        Value::List(items) => items.iter().map(text).collect(),
        Value::Missing | Value::Nil => Vec::new(),
        other => vec![text(other)],
    };
    s(items.join(sep))
}

/// Go's `%q` of a string (`strconv.Quote`).
pub(crate) fn go_quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\x7f' => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_control() => {
                let code = c as u32;
                if code < 0x10000 {
                    out.push_str(&format!("\\u{code:04x}"));
                } else {
                    out.push_str(&format!("\\U{code:08x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

pub(super) fn quote(a: &[Value]) -> Outcome {
    s(a.iter()
        .filter(|v| !matches!(v, Value::Missing | Value::Nil))
        .map(|v| go_quote(&text(v)))
        .collect::<Vec<_>>()
        .join(" "))
}

pub(super) fn squote(a: &[Value]) -> Outcome {
    s(a.iter()
        .filter(|v| !matches!(v, Value::Missing | Value::Nil))
        .map(|v| format!("'{}'", text(v)))
        .collect::<Vec<_>>()
        .join(" "))
}

pub(super) fn cat(a: &[Value]) -> Outcome {
    s(a.iter()
        .filter(|v| !matches!(v, Value::Missing | Value::Nil))
        .map(text)
        .collect::<Vec<_>>()
        .join(" "))
}

/// Widest padding `indent`, `nindent` and printf widths may ask for: a
/// hostile template must not make one call allocate gigabytes.
pub(crate) const MAX_PAD: usize = 1 << 16;

fn indent_text(spaces: i64, text: &str) -> String {
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

pub(super) fn indent(a: &[Value]) -> Outcome {
    s(indent_text(to_int(&a[0]), string(a, 1)?))
}

pub(super) fn nindent(a: &[Value]) -> Outcome {
    s(format!("\n{}", indent_text(to_int(&a[0]), string(a, 1)?)))
}

/// Longest text `repeat` makes.
const MAX_REPEAT: usize = 16 << 20;

pub(super) fn repeat(a: &[Value]) -> Outcome {
    let count = usize::try_from(to_int(&a[0])).unwrap_or(0);
    let text = string(a, 1)?;
    if count.saturating_mul(text.len()) > MAX_REPEAT {
        return Err(Problem::bad(0, &a[0], "repeat would exceed 16 MiB"));
    }
    s(text.repeat(count))
}

pub(super) fn trunc(a: &[Value]) -> Outcome {
    let n = to_int(&a[0]);
    let text = string(a, 1)?;
    let len = text.len() as i64;
    // sprig cuts bytes, as Go slices strings.
    let cut = if n >= 0 {
        text.get(..n.min(len) as usize)
    } else if -n < len {
        text.get((len + n) as usize..)
    } else {
        Some(text)
    };
    s(cut.unwrap_or(text).to_string())
}

pub(super) fn abbrev(a: &[Value]) -> Outcome {
    let width = usize::try_from(to_int(&a[0])).unwrap_or(0);
    let text = string(a, 1)?;
    s(if width < 4 || text.len() <= width {
        text.to_string()
    } else {
        text.chars().take(width - 3).collect::<String>() + "..."
    })
}

pub(super) fn abbrevboth(a: &[Value]) -> Outcome {
    let (offset, width) = (
        usize::try_from(to_int(&a[0])).unwrap_or(0),
        usize::try_from(to_int(&a[1])).unwrap_or(0),
    );
    let text = string(a, 2)?;
    if width < 4 || text.len() <= width {
        return s(text.to_string());
    }
    if offset <= 4 {
        return s(text.chars().take(width - 3).collect::<String>() + "...");
    }
    let rest: String = text.chars().skip(offset).collect();
    let inner = if rest.len() + 3 > width {
        rest.chars().take(width.saturating_sub(6)).collect::<String>() + "..."
    } else {
        rest
    };
    s(format!("...{inner}"))
}

pub(super) fn substr(a: &[Value]) -> Outcome {
    let text = string(a, 2)?;
    let (start, end) = (to_int(&a[0]), to_int(&a[1]));
    let len = text.len() as i64;
    let start = start.clamp(0, len);
    let end = if end < 0 || end > len { len } else { end.max(start) };
    s(text.get(start as usize..end as usize).unwrap_or("").to_string())
}

pub(super) fn initials(a: &[Value]) -> Outcome {
    s(string(a, 0)?
        .split_whitespace()
        .filter_map(|w| w.chars().next())
        .collect())
}

pub(super) fn plural(a: &[Value]) -> Outcome {
    s(if to_int(&a[2]) == 1 {
        string(a, 0)?
    } else {
        string(a, 1)?
    }
    .to_string())
}

/// Words of an identifier for snake and kebab case (xstrings' rules:
/// a new word at a lower-to-upper change and before the last capital of a
/// run followed by a lower-case letter).
fn words(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut words: Vec<String> = Vec::new();
    let mut current = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c == '_' || c == '-' || c.is_whitespace() {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            continue;
        }
        let previous = i.checked_sub(1).map(|p| chars[p]);
        let next = chars.get(i + 1).copied();
        let boundary = c.is_uppercase()
            && previous.is_some_and(|p| {
                p.is_lowercase()
                    || p.is_ascii_digit()
                    || (p.is_uppercase() && next.is_some_and(char::is_lowercase))
            });
        if boundary && !current.is_empty() {
            words.push(std::mem::take(&mut current));
        }
        current.extend(c.to_lowercase());
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

pub(super) fn snakecase(a: &[Value]) -> Outcome {
    s(words(string(a, 0)?).join("_"))
}

pub(super) fn kebabcase(a: &[Value]) -> Outcome {
    s(words(string(a, 0)?).join("-"))
}

/// xstrings' `ToCamelCase`: underscores part words, each word capitalised.
pub(super) fn camelcase(a: &[Value]) -> Outcome {
    s(string(a, 0)?
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                .unwrap_or_default()
        })
        .collect())
}

pub(super) fn swapcase(a: &[Value]) -> Outcome {
    s(string(a, 0)?
        .chars()
        .map(|c| {
            if c.is_uppercase() {
                c.to_lowercase().collect::<String>()
            } else {
                c.to_uppercase().collect()
            }
        })
        .collect())
}

/// Deterministic: renders feed image lists.
pub(super) fn shuffle(a: &[Value]) -> Outcome {
    s(string(a, 0)?.to_string())
}

fn wrap_text(width: i64, sep: &str, text: &str) -> String {
    let width = usize::try_from(width).unwrap_or(0).max(1);
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
    lines.join(sep)
}

pub(super) fn wrap(a: &[Value]) -> Outcome {
    s(wrap_text(to_int(&a[0]), "\n", string(a, 1)?))
}

pub(super) fn wrap_with(a: &[Value]) -> Outcome {
    s(wrap_text(to_int(&a[0]), string(a, 1)?, string(a, 2)?))
}

pub(super) fn to_string(a: &[Value]) -> Outcome {
    s(text(any(a, 0)))
}

/// Go's `path.Clean`.
fn clean_path(path: &str) -> String {
    if path.is_empty() {
        return ".".into();
    }
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

pub(super) fn clean(a: &[Value]) -> Outcome {
    s(clean_path(string(a, 0)?))
}

pub(super) fn base(a: &[Value]) -> Outcome {
    let path = string(a, 0)?;
    if path.is_empty() {
        return s(".".into());
    }
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return s("/".into());
    }
    s(trimmed.rsplit('/').next().unwrap_or("").to_string())
}

pub(super) fn dir(a: &[Value]) -> Outcome {
    let path = string(a, 0)?;
    let dir = match path.rfind('/') {
        Some(i) => &path[..=i],
        None => "",
    };
    s(clean_path(dir))
}

pub(super) fn ext(a: &[Value]) -> Outcome {
    let path = string(a, 0)?;
    let last = path.rsplit('/').next().unwrap_or("");
    s(last.rfind('.').map(|i| last[i..].to_string()).unwrap_or_default())
}

pub(super) fn is_abs(a: &[Value]) -> Outcome {
    Ok(Value::Bool(string(a, 0)?.starts_with('/')))
}

/// A compiled regular expression (bounded in size: patterns come from charts).
fn regex(a: &[Value], index: usize) -> Result<regex::Regex, Problem> {
    regex::RegexBuilder::new(string(a, index)?)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| Problem::bad(index, &a[index], e.to_string()))
}

pub(super) fn regex_match(a: &[Value]) -> Outcome {
    Ok(Value::Bool(regex(a, 0)?.is_match(string(a, 1)?)))
}

pub(super) fn regex_find(a: &[Value]) -> Outcome {
    s(regex(a, 0)?
        .find(string(a, 1)?)
        .map(|m| m.as_str().to_string())
        .unwrap_or_default())
}

pub(super) fn regex_find_all(a: &[Value]) -> Outcome {
    let limit = to_int(&a[2]);
    let re = regex(a, 0)?;
    let found = re.find_iter(string(a, 1)?).map(|m| Value::from(m.as_str()));
    Ok(Value::List(if limit < 0 {
        found.collect()
    } else {
        found.take(limit as usize).collect()
    }))
}

/// Go's `$1`/`${name}` expansion becomes the regex crate's `${1}`.
pub(super) fn regex_replace_all(a: &[Value]) -> Outcome {
    s(regex(a, 0)?
        .replace_all(string(a, 1)?, string(a, 2)?)
        .into_owned())
}

pub(super) fn regex_replace_all_literal(a: &[Value]) -> Outcome {
    s(regex(a, 0)?
        .replace_all(string(a, 1)?, regex::NoExpand(string(a, 2)?))
        .into_owned())
}

pub(super) fn regex_split(a: &[Value]) -> Outcome {
    let limit = to_int(&a[2]);
    let re = regex(a, 0)?;
    let text = string(a, 1)?;
    let parts: Vec<Value> = match limit {
        0 => Vec::new(),
        n if n < 0 => re.split(text).map(Value::from).collect(),
        n => re.splitn(text, n as usize).map(Value::from).collect(),
    };
    Ok(Value::List(parts))
}

/// Go's `regexp.QuoteMeta`.
pub(super) fn regex_quote_meta(a: &[Value]) -> Outcome {
    let mut out = String::new();
    for c in string(a, 0)?.chars() {
        if r"\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    s(out)
}

/// sprig's `urlParse`: the parts of a URL as a dict.
pub(super) fn url_parse(a: &[Value]) -> Outcome {
    let raw = string(a, 0)?;
    let (rest, fragment) = raw.split_once('#').unwrap_or((raw, ""));
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (scheme, rest) = match rest.split_once(':') {
        Some((scheme, rest))
            if !scheme.is_empty()
                && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
        {
            (scheme.to_ascii_lowercase(), rest)
        }
        _ => (String::new(), rest),
    };
    let (mut userinfo, mut host, mut path, mut opaque) =
        (String::new(), String::new(), String::new(), String::new());
    if let Some(authority_path) = rest.strip_prefix("//") {
        let (authority, p) = match authority_path.find('/') {
            Some(i) => (&authority_path[..i], &authority_path[i..]),
            None => (authority_path, ""),
        };
        path = p.to_string();
        match authority.rsplit_once('@') {
            Some((user, h)) => {
                userinfo = user.to_string();
                host = h.to_string();
            }
            None => host = authority.to_string(),
        }
    } else if !scheme.is_empty() && !rest.starts_with('/') {
        opaque = rest.to_string();
    } else {
        path = rest.to_string();
    }
    let hostname = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or("").to_string(),
        None => host.split(':').next().unwrap_or("").to_string(),
    };
    let parts: BTreeMap<String, Value> = [
        ("scheme", scheme),
        ("host", host),
        ("hostname", hostname),
        ("path", path),
        ("query", query.to_string()),
        ("opaque", opaque),
        ("fragment", fragment.to_string()),
        ("userinfo", userinfo),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), Value::Str(v)))
    .collect();
    Ok(Value::map(parts))
}

/// sprig's `urlJoin`: a URL from the parts `urlParse` gives.
pub(super) fn url_join(a: &[Value]) -> Outcome {
    let map = super::args::dict(a, 0)?;
    let part = |key: &str| match map.get(key) {
        Some(Value::Str(v)) => v,
        _ => String::new(),
    };
    let mut out = String::new();
    if !part("scheme").is_empty() {
        out.push_str(&part("scheme"));
        out.push(':');
    }
    if !part("opaque").is_empty() {
        out.push_str(&part("opaque"));
    } else {
        if !part("host").is_empty() || !part("scheme").is_empty() || !part("userinfo").is_empty() {
            out.push_str("//");
            if !part("userinfo").is_empty() {
                out.push_str(&part("userinfo"));
                out.push('@');
            }
            out.push_str(&part("host"));
        }
        let path = part("path");
        if !path.is_empty() && !path.starts_with('/') && !part("host").is_empty() {
            out.push('/');
        }
        out.push_str(&path);
    }
    if !part("query").is_empty() {
        out.push('?');
        out.push_str(&part("query"));
    }
    if !part("fragment").is_empty() {
        out.push('#');
        out.push_str(&part("fragment"));
    }
    s(out)
}
