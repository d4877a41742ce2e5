//! YAML in and out as Helm does it: `toYaml` writes what sigs.k8s.io/yaml
//! (go-yaml v2) writes — keys sorted, two-space indent, sequences in a map
//! not indented, strings quoted when YAML would read them as something
//! else — and `fromYaml` / values files read numbers as float64, as Helm's
//! JSON round trip does.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use thiserror::Error;

use super::Value;
use super::value::MAX_NESTING;

/// YAML that does not parse.
#[derive(Debug, Clone, PartialEq, Error)]
#[error("{message}")]
pub struct YamlError {
    /// The parser's words (with line and column where it has them).
    pub message: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
}

impl From<serde_yaml::Error> for YamlError {
    fn from(error: serde_yaml::Error) -> Self {
        YamlError {
            line: error.location().map(|l| l.line()),
            message: error.to_string(),
        }
    }
}

/// Reads YAML as Helm does (sigs.k8s.io/yaml on go-yaml v2, so YAML 1.1:
/// plain `yes`/`no`/`on`/`off`/`y`/`n` are booleans, `0755` is octal,
/// `1_000` is 1000, `<<` merges), numbers as floats when `floats` (values
/// files go through JSON in Helm), map keys as strings.
pub fn from_yaml(text: &str, floats: bool) -> Result<Value, YamlError> {
    let mut documents = serde_yaml::Deserializer::from_str(text);
    let Some(first) = documents.next() else {
        return Ok(Value::Nil);
    };
    let seed = Reader {
        source: text,
        floats,
        depth: 0,
    };
    Ok(seed.deserialize(first)?)
}

/// Builds values from serde_yaml's events, telling plain scalars from
/// quoted ones by where their text lies in the source.
#[derive(Clone, Copy)]
struct Reader<'s> {
    source: &'s str,
    floats: bool,
    depth: usize,
}

impl Reader<'_> {
    fn number(self, int: i64) -> Value {
        if self.floats {
            Value::Float(int as f64)
        } else {
            Value::Int(int)
        }
    }

    /// Whether `text` (borrowed from the source) was written quoted.
    fn quoted(self, text: &str) -> bool {
        let base = self.source.as_ptr() as usize;
        let start = (text.as_ptr() as usize).wrapping_sub(base);
        if start > self.source.len() {
            return true;
        }
        if start == 0 {
            return false;
        }
        let bytes = self.source.as_bytes();
        let before = bytes[start - 1];
        (before == b'"' || before == b'\'') && bytes.get(start + text.len()) == Some(&before)
    }

    /// YAML 1.1's reading of a plain scalar YAML 1.2 leaves a string.
    fn plain(self, text: &str) -> Value {
        match text {
            "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => return Value::Bool(true),
            "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => return Value::Bool(false),
            _ => {}
        }
        let digits = text.replace('_', "");
        let numeric = digits
            .strip_prefix(['-', '+'])
            .unwrap_or(&digits)
            .starts_with(|c: char| c.is_ascii_digit());
        if numeric {
            if let Some(int) = super::funcs::parse_go_int(&digits) {
                return self.number(int);
            }
            if let Ok(float) = digits.parse::<f64>() {
                return Value::Float(float);
            }
        }
        Value::Str(text.to_string())
    }
}

impl<'de> DeserializeSeed<'de> for Reader<'_> {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        if self.depth > MAX_NESTING {
            return Err(serde::de::Error::custom("YAML nested too deep"));
        }
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Reader<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("YAML")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Nil)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Nil)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, i: i64) -> Result<Value, E> {
        Ok(self.number(i))
    }

    fn visit_u64<E>(self, u: u64) -> Result<Value, E> {
        Ok(match i64::try_from(u) {
            Ok(i) => self.number(i),
            Err(_) => Value::Float(u as f64),
        })
    }

    fn visit_f64<E>(self, f: f64) -> Result<Value, E> {
        Ok(Value::Float(f))
    }

    fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Value, E> {
        Ok(if self.quoted(text) {
            Value::Str(text.to_string())
        } else {
            self.plain(text)
        })
    }

    fn visit_str<E>(self, text: &str) -> Result<Value, E> {
        Ok(Value::Str(text.to_string()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let inner = Reader {
            depth: self.depth + 1,
            ..self
        };
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(inner)? {
            items.push(item);
        }
        Ok(Value::List(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let inner = Reader {
            depth: self.depth + 1,
            ..self
        };
        let key_reader = Reader {
            floats: false,
            ..inner
        };
        let mut entries = BTreeMap::new();
        let mut merged = Vec::new();
        while let Some(key) = map.next_key_seed(key_reader)? {
            let value = map.next_value_seed(inner)?;
            match key {
                Value::Str(k) if k == "<<" => merged.push(value),
                Value::Str(k) => {
                    entries.insert(k, value);
                }
                Value::Nil => {
                    entries.insert("null".to_string(), value);
                }
                other => {
                    entries.insert(other.print(), value);
                }
            }
        }
        // `<<: *base` (or a list of them) fills keys not given here.
        for value in merged {
            let sources = match value {
                Value::List(items) => items,
                other => vec![other],
            };
            for source in sources {
                if let Value::Map(source) = source {
                    for (k, v) in source.entries() {
                        entries.entry(k).or_insert(v);
                    }
                }
            }
        }
        Ok(Value::map(entries))
    }
}

fn number(value: &Value) -> String {
    match value {
        Value::Int(i) => i.to_string(),
        // JSON numbers through sigs.k8s.io/yaml: integral floats print bare.
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 1e21 => format!("{f:.0}"),
        Value::Float(f) => super::format_float(*f),
        _ => String::new(),
    }
}

/// How YAML is written: go-yaml v2 through JSON (`toYaml`), or go-yaml
/// v3 with a two-space indent (`toYamlPretty`: sequences indented under
/// their key, floats as Go prints them).
#[derive(Clone, Copy)]
struct Style {
    pretty: bool,
}

fn write(out: &mut String, value: &Value, indent: usize, style: Style, depth: usize) {
    if depth > MAX_NESTING || out.len() > super::value::MAX_PRINTED {
        return;
    }
    let pad = " ".repeat(indent);
    match value {
        Value::Map(map) if !map.is_empty() => {
            let mut entries: Vec<(String, Value)> = map.entries().into_iter().collect();
            entries.sort_by(|a, b| key_order(&a.0, &b.0));
            for (key, item) in entries {
                let key = super::yaml_scalar::key(&key);
                let _ = write!(out, "{pad}{key}:");
                let column = indent + key.chars().count() + 2;
                write_child(out, &item, indent, true, style, depth, column);
            }
        }
        Value::List(items) if !items.is_empty() => {
            for item in items {
                let _ = write!(out, "{pad}-");
                match item {
                    Value::Map(map) if !map.is_empty() => {
                        // The first key on the dash's line.
                        let mut inner = String::new();
                        write(&mut inner, item, indent + 2, style, depth + 1);
                        out.push(' ');
                        out.push_str(inner.trim_start());
                    }
                    _ => write_child(out, item, indent, false, style, depth, indent + 2),
                }
            }
        }
        Value::Str(s) if super::yaml_scalar::value(s, indent, indent + 2).is_none() => {
            out.push_str(&pad);
            literal_block(out, s, indent + 2);
        }
        other => {
            let _ = writeln!(out, "{pad}{}", inline(other, style, indent, indent + 2));
        }
    }
}

/// Writes a map value or list item after `key:` or `-`.
fn write_child(
    out: &mut String,
    item: &Value,
    indent: usize,
    in_map: bool,
    style: Style,
    depth: usize,
    column: usize,
) {
    match item {
        Value::Map(m) if !m.is_empty() => {
            out.push('\n');
            write(out, item, indent + 2, style, depth + 1);
        }
        Value::List(l) if !l.is_empty() => {
            out.push('\n');
            // go-yaml v2 does not indent a sequence inside a map; v3 does.
            let inner = if in_map && !style.pretty {
                indent
            } else {
                indent + 2
            };
            write(out, item, inner, style, depth + 1);
        }
        Value::Str(s) if super::yaml_scalar::value(s, column, indent + 2).is_none() => {
            out.push(' ');
            literal_block(out, s, indent + 2);
        }
        other => {
            let _ = writeln!(out, " {}", inline(other, style, column, indent + 2));
        }
    }
}

/// go-yaml's order of map keys: runs of digits compare as numbers, and
/// a letter sorts after anything that is not one (`mirror_percent` before
/// `mirrorPercent`, `port9` before `port10`).
fn key_order(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (ar, br): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    for i in 0..ar.len().min(br.len()) {
        if ar[i] == br[i] {
            continue;
        }
        let (al, bl) = (ar[i].is_alphabetic(), br[i].is_alphabetic());
        if al && bl {
            return ar[i].cmp(&br[i]);
        }
        if al || bl {
            return if bl { Ordering::Less } else { Ordering::Greater };
        }
        let (mut an, mut bn) = (0i64, 0i64);
        if ar[i] == '0' || br[i] == '0' {
            let leading_nonzero = ar[..i]
                .iter()
                .rev()
                .take_while(|c| c.is_ascii_digit())
                .any(|c| *c != '0');
            if leading_nonzero {
                an = 1;
                bn = 1;
            }
        }
        let mut ai = i;
        while ai < ar.len() && ar[ai].is_ascii_digit() {
            an = an
                .saturating_mul(10)
                .saturating_add(i64::from(ar[ai] as u8 - b'0'));
            ai += 1;
        }
        let mut bi = i;
        while bi < br.len() && br[bi].is_ascii_digit() {
            bn = bn
                .saturating_mul(10)
                .saturating_add(i64::from(br[bi] as u8 - b'0'));
            bi += 1;
        }
        if an != bn {
            return an.cmp(&bn);
        }
        if ai != bi {
            return ai.cmp(&bi);
        }
        return ar[i].cmp(&br[i]);
    }
    ar.len().cmp(&br.len())
}

/// A literal block (`|`, `|-`, `|+`; `|2` when the text starts with a
/// space or a line break) with its lines at `indent`.
fn literal_block(out: &mut String, s: &str, indent: usize) {
    let chomp = if s.ends_with("\n\n") {
        "+"
    } else if s.ends_with('\n') {
        ""
    } else {
        "-"
    };
    let indicator = if s.starts_with([' ', '\n']) { "2" } else { "" };
    let _ = writeln!(out, "|{indicator}{chomp}");
    let pad = " ".repeat(indent);
    let body = if chomp == "+" {
        &s[..s.len() - 1]
    } else {
        s.strip_suffix('\n').unwrap_or(s)
    };
    for line in body.split('\n') {
        if line.is_empty() {
            out.push('\n');
        } else {
            let _ = writeln!(out, "{pad}{line}");
        }
    }
}

fn inline(value: &Value, style: Style, column: usize, indent: usize) -> String {
    match value {
        Value::Missing | Value::Nil => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Float(f) if style.pretty => super::format_float(*f),
        Value::Int(_) | Value::Float(_) => number(value),
        Value::Str(s) if style.pretty => {
            super::yaml_scalar::value_unfolded(s, column, indent).unwrap_or_else(|| format!("{s:?}"))
        }
        Value::Str(s) => super::yaml_scalar::value(s, column, indent).unwrap_or_else(|| format!("{s:?}")),
        Value::List(_) => "[]".into(),
        Value::Map(_) => "{}".into(),
    }
}

/// `toYaml`: the YAML text without its final newline (Helm trims it).
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    write(&mut out, value, 0, Style { pretty: false }, 0);
    out.strip_suffix('\n').unwrap_or(&out).to_string()
}

/// `toYamlPretty`: as go-yaml v3 writes with a two-space indent.
pub fn to_yaml_pretty(value: &Value) -> String {
    let mut out = String::new();
    write(&mut out, value, 0, Style { pretty: true }, 0);
    out.strip_suffix('\n').unwrap_or(&out).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_yaml_writes_like_helm() {
        let value = from_yaml(
            "image:\n  repository: nginx\n  tag: \"1.25\"\nports: [80, 443]\nenv:\n- name: A\n  value: \"true\"\nempty: {}\nnote: \"a: b\"\nscript: \"line1\\nline2\"\n",
            true,
        )
        .unwrap();
        assert_eq!(
            to_yaml(&value),
            "empty: {}\nenv:\n- name: A\n  value: \"true\"\nimage:\n  repository: nginx\n  tag: \"1.25\"\nnote: 'a: b'\nports:\n- 80\n- 443\nscript: |-\n  line1\n  line2"
        );
        assert_eq!(to_yaml(&Value::Str("x".into())), "x");
    }

    #[test]
    fn values_numbers_are_floats_as_in_helm() {
        assert_eq!(from_yaml("x: 3", true).unwrap().print(), "map[x:3]");
        assert_eq!(from_yaml("x: 1000000", true).unwrap().print(), "map[x:1e+06]");
        assert_eq!(
            from_yaml("x: 3", false).unwrap(),
            Value::map([("x".to_string(), Value::Int(3))].into())
        );
    }

    #[test]
    fn keys_are_ordered_as_go_yaml_orders_them() {
        let mut keys = vec![
            "mirrorPercent",
            "mirror_percent",
            "port10",
            "port9",
            "b",
            "a1",
            "A",
        ];
        keys.sort_by(|a, b| key_order(a, b));
        assert_eq!(
            keys,
            [
                "A",
                "a1",
                "b",
                "mirror_percent",
                "mirrorPercent",
                "port9",
                "port10"
            ]
        );
    }

    #[test]
    fn values_are_read_as_yaml_1_1_as_helm_reads_them() {
        let value = from_yaml(
            "a: yes\nb: \"yes\"\nc: off\nd: 0755\ne: '0755'\nf: 1_000\ny: 1\nbase: &b {x: 1, z: 2}\nm:\n  <<: *b\n  z: 3\n",
            true,
        )
        .unwrap();
        assert_eq!(
            value.print(),
            "map[a:true b:yes base:map[x:1 z:2] c:false d:493 e:0755 f:1000 m:map[x:1 z:3] true:1]"
        );
        assert_eq!(from_yaml("yes", false).unwrap(), Value::Bool(true));
    }
}
