//! YAML in and out as Helm does it: `toYaml` writes what sigs.k8s.io/yaml
//! (go-yaml v2) writes — keys sorted, two-space indent, sequences in a map
//! not indented, strings quoted when YAML would read them as something
//! else — and `fromYaml` / values files read numbers as float64, as Helm's
//! JSON round trip does.

use std::fmt::Write as _;

use super::Value;

/// Reads YAML into a value (numbers as floats when `floats`, as Helm reads
/// values files; as ints where they are ints otherwise).
pub fn from_yaml(text: &str, floats: bool) -> Result<Value, String> {
    let parsed: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
    Ok(convert(parsed, floats))
}

fn convert(value: serde_yaml::Value, floats: bool) -> Value {
    match value {
        serde_yaml::Value::Null => Value::Nil,
        serde_yaml::Value::Bool(b) => Value::Bool(b),
        serde_yaml::Value::Number(n) => match (n.as_i64(), floats) {
            (Some(i), false) => Value::Int(i),
            _ => Value::Float(n.as_f64().unwrap_or(0.0)),
        },
        serde_yaml::Value::String(s) => Value::Str(s),
        serde_yaml::Value::Sequence(items) => {
            Value::List(items.into_iter().map(|v| convert(v, floats)).collect())
        }
        serde_yaml::Value::Mapping(map) => Value::Map(
            map.into_iter()
                .map(|(k, v)| {
                    let key = match k {
                        serde_yaml::Value::String(s) => s,
                        other => convert(other, floats).print(),
                    };
                    (key, convert(v, floats))
                })
                .collect(),
        ),
        serde_yaml::Value::Tagged(tagged) => convert(tagged.value, floats),
    }
}

/// Whether a plain scalar would be read back as something other than this
/// string (YAML 1.1 booleans, null, numbers) or is not plain-safe.
fn needs_quotes(s: &str) -> bool {
    if s.is_empty() {
        return true;
    }
    let lower = s.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "true"
            | "false"
            | "yes"
            | "no"
            | "on"
            | "off"
            | "y"
            | "n"
            | "null"
            | "~"
            | ".nan"
            | ".inf"
            | "-.inf"
            | "+.inf"
    ) {
        return true;
    }
    if s.parse::<f64>().is_ok() || (s.starts_with("0x") && i64::from_str_radix(&s[2..], 16).is_ok()) {
        return true;
    }
    let first = s.chars().next().unwrap_or(' ');
    if "-?:,[]{}#&*!|>'\"%@`".contains(first) && !(first == '-' && s.len() > 1 && !s[1..].starts_with(' ')) {
        return true;
    }
    if first == ' ' || s.ends_with(' ') || s.contains(": ") || s.contains(" #") || s.ends_with(':') {
        return true;
    }
    s.chars().any(|c| c.is_control() && c != '\n')
}

fn scalar(s: &str) -> String {
    if needs_quotes(s) {
        if s.contains('\'') || s.chars().any(|c| c.is_control()) {
            serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
        } else {
            format!("'{s}'")
        }
    } else {
        s.to_string()
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

fn write(out: &mut String, value: &Value, indent: usize) {
    let pad = " ".repeat(indent);
    match value {
        Value::Map(map) if !map.is_empty() => {
            for (key, item) in map {
                let _ = write!(out, "{pad}{}:", scalar(key));
                write_child(out, item, indent, true);
            }
        }
        Value::List(items) if !items.is_empty() => {
            for item in items {
                let _ = write!(out, "{pad}-");
                match item {
                    Value::Map(map) if !map.is_empty() => {
                        // The first key on the dash's line.
                        let mut inner = String::new();
                        write(&mut inner, item, indent + 2);
                        out.push(' ');
                        out.push_str(inner.trim_start());
                    }
                    _ => write_child(out, item, indent, false),
                }
            }
        }
        other => {
            let _ = writeln!(out, "{pad}{}", inline(other));
        }
    }
}

/// Writes a map value or list item after `key:` or `-`.
fn write_child(out: &mut String, item: &Value, indent: usize, in_map: bool) {
    match item {
        Value::Map(m) if !m.is_empty() => {
            out.push('\n');
            write(out, item, indent + 2);
        }
        Value::List(l) if !l.is_empty() => {
            out.push('\n');
            // go-yaml v2 does not indent a sequence inside a map.
            write(out, item, if in_map { indent } else { indent + 2 });
        }
        Value::Str(s) if s.contains('\n') => {
            let chomp = if s.ends_with('\n') { "" } else { "-" };
            let _ = writeln!(out, " |{chomp}");
            let pad = " ".repeat(indent + 2);
            for line in s.strip_suffix('\n').unwrap_or(s).split('\n') {
                if line.is_empty() {
                    out.push('\n');
                } else {
                    let _ = writeln!(out, "{pad}{line}");
                }
            }
        }
        other => {
            let _ = writeln!(out, " {}", inline(other));
        }
    }
}

fn inline(value: &Value) -> String {
    match value {
        Value::Missing | Value::Nil => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(_) | Value::Float(_) => number(value),
        Value::Str(s) => scalar(s),
        Value::List(_) => "[]".into(),
        Value::Map(_) => "{}".into(),
    }
}

/// `toYaml`: the YAML text without its final newline (Helm trims it).
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    write(&mut out, value, 0);
    out.trim_end_matches('\n').to_string()
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
            "empty: {}\nenv:\n- name: A\n  value: 'true'\nimage:\n  repository: nginx\n  tag: '1.25'\nnote: 'a: b'\nports:\n- 80\n- 443\nscript: |-\n  line1\n  line2"
        );
        assert_eq!(to_yaml(&Value::Str("x".into())), "x");
    }

    #[test]
    fn values_numbers_are_floats_as_in_helm() {
        assert_eq!(from_yaml("n: 3", true).unwrap().print(), "map[n:3]");
        assert_eq!(from_yaml("n: 1000000", true).unwrap().print(), "map[n:1e+06]");
        assert_eq!(
            from_yaml("n: 3", false).unwrap(),
            Value::Map([("n".to_string(), Value::Int(3))].into())
        );
    }
}
