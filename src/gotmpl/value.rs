//! Values templates see: the shapes YAML and JSON data take, plus Go's
//! "no value" (a missing map key), printed the way Go's fmt prints them.
//! Maps are shared as Go's are: a copy of a `Value::Map` is the same map,
//! so `set`/`merge` through any holder is seen by every other holder
//! (Helm's `.Values` is one map for all templates of a release).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard};

/// Deepest nesting printed or serialised: a map can be made to hold
/// itself (`set $d "self" $d`), which must not recurse without end.
pub(crate) const MAX_NESTING: usize = 512;
/// Most values one deep copy makes.
const MAX_COPIED: usize = 4_000_000;
/// Longest text one value prints as (its print stops there).
pub(crate) const MAX_PRINTED: usize = 64 << 20;

/// A map with Go's reference semantics: clones share one map.
#[derive(Clone, Default)]
pub struct Dict(Arc<Mutex<BTreeMap<String, Value>>>);

impl Dict {
    /// A new map holding `entries`.
    pub fn new(entries: BTreeMap<String, Value>) -> Self {
        Dict(Arc::new(Mutex::new(entries)))
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Value>> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The value at `key` (a shared copy).
    pub fn get(&self, key: &str) -> Option<Value> {
        self.lock().get(key).cloned()
    }

    /// Sets `key` for every holder of this map.
    pub fn insert(&self, key: impl Into<String>, value: Value) {
        self.lock().insert(key.into(), value);
    }

    /// Removes `key` for every holder of this map.
    pub fn remove(&self, key: &str) -> Option<Value> {
        self.lock().remove(key)
    }

    /// Whether `key` is set.
    pub fn contains_key(&self, key: &str) -> bool {
        self.lock().contains_key(key)
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Number of keys a template sees (the engine's own markers, such as
    /// what makes `.Files` a receiver, start with NUL and are not counted:
    /// an empty `.Files.Glob` is false, as in Helm).
    pub fn visible_len(&self) -> usize {
        self.lock().keys().filter(|k| !k.starts_with('\0')).count()
    }

    /// The entries now, in key order (values shared, not deep-copied),
    /// without the engine's own markers (keys starting with NUL).
    pub fn entries(&self) -> BTreeMap<String, Value> {
        self.lock()
            .iter()
            .filter(|(k, _)| !k.starts_with('\0'))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Whether both are the same map.
    pub fn same(&self, other: &Dict) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl PartialEq for Dict {
    fn eq(&self, other: &Self) -> bool {
        self.same(other) || self.entries() == other.entries()
    }
}

impl std::fmt::Debug for Dict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.entries()).finish()
    }
}

impl From<BTreeMap<String, Value>> for Dict {
    fn from(entries: BTreeMap<String, Value>) -> Self {
        Dict::new(entries)
    }
}

/// A template value.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    /// A missing map key (Go's invalid value, printed `<no value>`).
    #[default]
    Missing,
    /// `nil` (printed `<nil>`).
    Nil,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// A string.
    Str(String),
    /// A list.
    List(Vec<Value>),
    /// A map, shared like Go's; Go ranges over map keys in sorted order,
    /// as this does.
    Map(Dict),
}

impl Value {
    /// Go's truth: false, 0, nil, empty strings, lists and maps are false.
    pub fn truth(&self) -> bool {
        match self {
            Value::Missing | Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => m.visible_len() > 0,
        }
    }

    /// The Go kind name (`string`, `map`, `slice`, `int`, `float64`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Missing => "invalid",
            Value::Nil => "invalid",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::List(_) => "slice",
            Value::Map(_) => "map",
        }
    }

    /// A map value holding `entries`.
    pub fn map(entries: BTreeMap<String, Value>) -> Value {
        Value::Map(Dict::new(entries))
    }

    /// An empty map value.
    pub fn empty_map() -> Value {
        Value::map(BTreeMap::new())
    }

    /// A copy sharing nothing with `self` (sprig's `deepCopy`).
    /// Bounded in depth and in total values: a map holding itself copies
    /// as far as the bounds, not forever.
    pub fn deep_copy(&self) -> Value {
        let mut budget = MAX_COPIED;
        self.deep_copy_at(0, &mut budget)
    }

    fn deep_copy_at(&self, depth: usize, budget: &mut usize) -> Value {
        if depth > MAX_NESTING || *budget == 0 {
            return Value::Nil;
        }
        *budget -= 1;
        match self {
            Value::Map(map) => Value::map(
                map.entries()
                    .into_iter()
                    .map(|(k, v)| (k, v.deep_copy_at(depth + 1, budget)))
                    .collect(),
            ),
            Value::List(items) => {
                Value::List(items.iter().map(|v| v.deep_copy_at(depth + 1, budget)).collect())
            }
            other => other.clone(),
        }
    }

    /// The text `{{ . }}` prints (Go's `%v`).
    pub fn print(&self) -> String {
        let mut out = String::new();
        self.write_to(&mut out, 0);
        out
    }

    fn write_to(&self, out: &mut String, depth: usize) {
        if depth > MAX_NESTING || out.len() > MAX_PRINTED {
            out.push_str("...");
            return;
        }
        match self {
            Value::Missing => out.push_str("<no value>"),
            Value::Nil => out.push_str("<nil>"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Float(f) => out.push_str(&format_float(*f)),
            Value::Str(s) => out.push_str(s),
            Value::List(items) => {
                out.push('[');
                for (n, item) in items.iter().enumerate() {
                    if n > 0 {
                        out.push(' ');
                    }
                    item.write_to(out, depth + 1);
                }
                out.push(']');
            }
            Value::Map(map) if map.contains_key(super::PRINTS_AS) => {
                if let Some(Value::Str(text)) = map.get(super::PRINTS_AS) {
                    out.push_str(&text);
                }
            }
            Value::Map(map) => {
                out.push_str("map[");
                for (n, (key, value)) in map.entries().iter().enumerate() {
                    if n > 0 {
                        out.push(' ');
                    }
                    out.push_str(key);
                    out.push(':');
                    value.write_to(out, depth + 1);
                }
                out.push(']');
            }
        }
    }

    /// As a number, if it is one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }
}

/// Go's `%v` of a float64: shortest digits, exponent form below 1e-4 or
/// from 1e6 (`strconv.FormatFloat(f, 'g', -1, 64)`), so a YAML `1000000`
/// read as a float prints `1e+06`, as Helm users know.
pub fn format_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    // Shortest round-trip digits and the decimal exponent.
    let sci = format!("{f:e}"); // e.g. "1.5e6"
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let sign = if negative { "-" } else { "" };
    if !(-4..6).contains(&exp) {
        let mut m = digits[..1].to_string();
        if digits.len() > 1 {
            m.push('.');
            m.push_str(&digits[1..]);
        }
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{m}e{esign}{:02}", exp.abs());
    }
    let point = exp + 1; // digits before the decimal point
    let body = if point <= 0 {
        format!("0.{}{}", "0".repeat(point.unsigned_abs() as usize), digits)
    } else if point as usize >= digits.len() {
        format!("{}{}", digits, "0".repeat(point as usize - digits.len()))
    } else {
        format!("{}.{}", &digits[..point as usize], &digits[point as usize..])
    };
    format!("{sign}{body}")
}

impl From<serde_json::Value> for Value {
    fn from(value: serde_json::Value) -> Self {
        match value {
            serde_json::Value::Null => Value::Nil,
            serde_json::Value::Bool(b) => Value::Bool(b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or(0.0)),
            },
            serde_json::Value::String(s) => Value::Str(s),
            serde_json::Value::Array(items) => Value::List(items.into_iter().map(Value::from).collect()),
            serde_json::Value::Object(map) => {
                Value::map(map.into_iter().map(|(k, v)| (k, Value::from(v))).collect())
            }
        }
    }
}

impl From<&str> for Value {
    fn from(text: &str) -> Self {
        Value::Str(text.to_string())
    }
}

impl From<BTreeMap<String, String>> for Value {
    fn from(map: BTreeMap<String, String>) -> Self {
        Value::map(map.into_iter().map(|(k, v)| (k, Value::Str(v))).collect())
    }
}

impl From<BTreeMap<String, Value>> for Value {
    fn from(map: BTreeMap<String, Value>) -> Self {
        Value::map(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_like_go() {
        for (value, text) in [
            (1.0, "1"),
            (1.5, "1.5"),
            (100000.0, "100000"),
            (1e6, "1e+06"),
            (1234567.0, "1.234567e+06"),
            (1e21, "1e+21"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-2.25, "-2.25"),
        ] {
            assert_eq!(format_float(value), text, "{value}");
        }
    }

    #[test]
    fn composite_values_print_like_go() {
        let map = Value::map(
            [
                ("b".to_string(), Value::Int(2)),
                ("a".to_string(), Value::List(vec![Value::from("x"), Value::Nil])),
            ]
            .into(),
        );
        assert_eq!(map.print(), "map[a:[x <nil>] b:2]");
        assert_eq!(Value::Missing.print(), "<no value>");
    }

    #[test]
    fn maps_are_shared_like_go_maps_and_deep_copies_are_not() {
        let map = Value::empty_map();
        let held = map.clone();
        let copy = map.deep_copy();
        if let Value::Map(m) = &map {
            m.insert("k", Value::Int(1));
            // A map holding itself prints bounded.
            m.insert("self", map.clone());
        }
        assert!(held.print().starts_with("map[k:1 self:map[k:1"));
        assert_eq!(copy.print(), "map[]");
    }
}
