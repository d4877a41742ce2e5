//! Methods of receiver maps: Helm's `.Files` and
//! `.Capabilities.APIVersions`.

use std::collections::BTreeMap;

use base64::Engine as _;

use super::args::{string, text};
use super::{FuncError, Problem};
use crate::gotmpl::value::Dict;
use crate::gotmpl::{RECEIVER, Value};

/// Method names receiver maps answer.
pub(crate) const METHODS: &[&str] = &["Has", "Get", "GetBytes", "Lines", "Glob", "AsConfig", "AsSecrets"];

/// Calls method `name` of a receiver map.
pub(crate) fn method(receiver: &Dict, name: &str, args: &[Value]) -> Result<Value, FuncError> {
    let failed = |problem| FuncError {
        function: name.to_string(),
        problem,
    };
    let kind = match receiver.get(RECEIVER) {
        Some(Value::Str(kind)) => kind,
        _ => String::new(),
    };
    let entries = receiver.entries();
    let files = |pattern: &str| -> BTreeMap<String, String> {
        entries
            .iter()
            .filter(|(k, _)| k.as_str() != RECEIVER && glob_match(pattern, k))
            .map(|(k, v)| (k.clone(), text(v)))
            .collect()
    };
    let arg = || string(args, 0).map_err(failed);
    Ok(match (kind.as_str(), name) {
        ("apiversions", "Has") => {
            let wanted = arg()?;
            Value::Bool(
                matches!(entries.get("list"), Some(Value::List(l)) if l.iter().any(|v| matches!(v, Value::Str(s) if s == wanted))),
            )
        }
        ("files", "Get" | "GetBytes") => entries
            .get(arg()?)
            .map_or(Value::Str(String::new()), |v| Value::Str(text(v))),
        ("files", "Lines") => match entries.get(arg()?).map(text) {
            Some(content) if !content.is_empty() => Value::List(
                content
                    .strip_suffix('\n')
                    .unwrap_or(&content)
                    .split('\n')
                    .map(Value::from)
                    .collect(),
            ),
            _ => Value::List(Vec::new()),
        },
        ("files", "Glob") => {
            let mut map: BTreeMap<String, Value> = files(arg()?)
                .into_iter()
                .map(|(k, v)| (k, Value::Str(v)))
                .collect();
            map.insert(RECEIVER.into(), Value::Str("files".into()));
            Value::map(map)
        }
        ("files", "AsConfig" | "AsSecrets") => {
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
            Value::Str(crate::gotmpl::to_yaml(&Value::map(map)))
        }
        _ => {
            return Err(failed(Problem::Failed(format!(
                "can't evaluate field {name} in type {kind}"
            ))));
        }
    })
}

/// Glob matching as Helm's `.Files.Glob` (gobwas/glob with `/`): `*` stays
/// within a path segment, `**` crosses them, `?` one character. Matched
/// by dynamic programming over (pattern, path) positions, so a hostile
/// pattern of many stars stays linear in their product.
pub fn glob_match(pattern: &str, path: &str) -> bool {
    let (p, s) = (pattern.as_bytes(), path.as_bytes());
    // can[j]: the pattern so far matches path[..j].
    let mut can = vec![false; s.len() + 1];
    can[0] = true;
    let mut i = 0;
    while i < p.len() {
        let mut next = vec![false; s.len() + 1];
        match p[i] {
            b'*' if p.get(i + 1) == Some(&b'*') => {
                let mut reached = false;
                for j in 0..=s.len() {
                    reached |= can[j];
                    next[j] = reached;
                }
                i += 2;
            }
            b'*' => {
                let mut reached = false;
                for j in 0..=s.len() {
                    if j > 0 && s[j - 1] == b'/' {
                        reached = false;
                    }
                    reached |= can[j];
                    next[j] = reached;
                }
                i += 1;
            }
            c => {
                for j in 1..=s.len() {
                    next[j] = can[j - 1]
                        && if c == b'?' {
                            s[j - 1] != b'/'
                        } else {
                            s[j - 1] == c
                        };
                }
                i += 1;
            }
        }
        can = next;
    }
    can[s.len()]
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn globs_match_as_helm_files_glob() {
        assert!(glob_match("files/*.conf", "files/a.conf"));
        assert!(!glob_match("files/*.conf", "files/x/a.conf"));
        assert!(glob_match("files/**", "files/x/a.conf"));
        assert!(glob_match("**.conf", "files/x/a.conf"));
        assert!(glob_match("f?les/a.conf", "files/a.conf"));
        assert!(!glob_match("a*", "b"));
        // Many stars do not take exponential time.
        let hostile = "*a".repeat(40) + "b";
        assert!(!glob_match(&hostile, &"a".repeat(200)));
    }
}
