//! Modules import only modules below them, so data flows one way:
//! value types, then inputs, then the pure plan, then files and images,
//! then fetching, recipes, the registry client, and the pipeline on top
//! (the binary's `cli` sits above everything and is not checked here).
//! Below the levels, the shape of each file: no import circle between
//! files, no function a reader cannot hold in their head, and no error
//! that is only a string outside the binary's `cli`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each library module and its level; a module may import its own level
/// or lower.
const LEVELS: &[(&str, u32)] = &[
    ("digest", 0),
    ("error", 0),
    ("fsutil", 0),
    ("gotmpl", 0),
    ("chatops", 0),
    ("kubefile", 0),
    ("helm", 1),
    ("progress", 0),
    ("source", 0),
    ("axis", 0),
    ("version", 0),
    ("net", 0),
    ("placeholder", 0),
    ("tag", 1),
    ("cell", 1),
    ("lock", 2),
    ("config", 3),
    ("plan", 4),
    ("context", 5),
    ("oci", 6),
    ("render", 7),
    ("fetch", 8),
    ("recipe", 9),
    ("registry", 10),
    ("verify", 10),
    ("app", 10),
    ("pipeline", 11),
];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_module_imports_one_above_it() {
    let levels: BTreeMap<&str, u32> = LEVELS.iter().copied().collect();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut checked = 0;
    let mut violations = Vec::new();
    for file in files {
        let relative = file.strip_prefix(&src).unwrap();
        let first = relative
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_str()
            .unwrap();
        let module = first.trim_end_matches(".rs");
        if matches!(module, "cli" | "main" | "lib") {
            continue;
        }
        let level = *levels
            .get(module)
            .unwrap_or_else(|| panic!("module `{module}` has no level in tests/layering.rs"));
        let text = std::fs::read_to_string(&file).unwrap();
        for (index, _) in text.match_indices("crate::") {
            let rest = &text[index + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let Some(&used) = levels.get(name.as_str()) else {
                continue;
            };
            checked += 1;
            if used > level {
                violations.push(format!(
                    "{} (level {level}) imports `{name}` (level {used})",
                    relative.display()
                ));
            }
        }
    }
    assert!(checked > 50, "only {checked} imports seen");
    assert!(
        violations.is_empty(),
        "imports upwards:\n{}",
        violations.join("\n")
    );
}

/// Every source file as (module path, relative path, text), test modules
/// at the end of a file left out (they may use anything).
fn files() -> Vec<(Vec<String>, PathBuf, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut paths = Vec::new();
    sources(&src, &mut paths);
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let relative = path.strip_prefix(&src).unwrap().to_path_buf();
            let mut module: Vec<String> = relative
                .with_extension("")
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if matches!(module.last().map(String::as_str), Some("mod" | "lib" | "main")) {
                module.pop();
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let text = match text.find("#[cfg(test)]\nmod tests") {
                Some(at) => text[..at].to_string(),
                None => text,
            };
            (module, relative, text)
        })
        .collect()
}

/// The path segments after `crate::` or a run of `super::` at `at`.
fn segments(text: &str) -> Vec<String> {
    text.split("::")
        .map(|s| {
            s.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect::<String>()
        })
        .take_while(|s| !s.is_empty())
        .collect()
}

/// Which file each `crate::`/`super::` path (in `use` lines, groups and
/// inline) of a file reaches: the longest module prefix that is a file.
fn edges(files: &[(Vec<String>, PathBuf, String)]) -> BTreeMap<String, BTreeSet<String>> {
    let known: BTreeSet<Vec<String>> = files.iter().map(|(m, _, _)| m.clone()).collect();
    let target = |path: &[String]| -> Option<Vec<String>> {
        (1..=path.len())
            .rev()
            .map(|n| path[..n].to_vec())
            .find(|p| known.contains(p))
    };
    let mut graph = BTreeMap::new();
    for (module, relative, text) in files {
        let is_dir = matches!(
            relative.file_stem().and_then(|s| s.to_str()),
            Some("mod" | "lib" | "main")
        );
        let here = if is_dir {
            module.clone()
        } else {
            module[..module.len().saturating_sub(1)].to_vec()
        };
        let mut reached = BTreeSet::new();
        for keyword in ["crate::", "super::"] {
            for (at, _) in text.match_indices(keyword) {
                if text[..at].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
                    continue;
                }
                let mut base = if keyword == "crate::" {
                    Vec::new()
                } else {
                    here[..here.len().saturating_sub(1)].to_vec()
                };
                let mut rest = &text[at + keyword.len()..];
                while let Some(more) = rest.strip_prefix("super::") {
                    base.pop();
                    rest = more;
                }
                // `use crate::a::{b, c::d}`: each member of a group.
                let head = segments(rest);
                let mut heads = vec![head.clone()];
                let after = &rest[head.iter().map(|s| s.len() + 2).sum::<usize>().min(rest.len())..];
                if let Some(group) = after.strip_prefix('{') {
                    let inner = &group[..group.find('}').unwrap_or(group.len())];
                    for member in inner.split(',') {
                        let mut path = head.clone();
                        path.extend(segments(member.trim()));
                        heads.push(path);
                    }
                }
                for path in heads {
                    let mut full = base.clone();
                    full.extend(path);
                    if let Some(found) = target(&full).filter(|t| t != module) {
                        reached.insert(found.join("::"));
                    }
                }
            }
        }
        graph.insert(module.join("::"), reached);
    }
    graph
}

#[test]
fn no_source_file_imports_one_that_imports_it_back() {
    let files = files();
    let graph = edges(&files);
    assert!(
        graph.values().map(BTreeSet::len).sum::<usize>() > 100,
        "too few imports seen"
    );
    // Depth-first search for a back edge; report each circle once.
    let mut circles = Vec::new();
    for start in graph.keys() {
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        let mut seen = BTreeSet::new();
        while let Some((node, path)) = stack.pop() {
            for next in graph.get(&node).into_iter().flatten() {
                if next == start {
                    circles.push(path.join(" -> ") + " -> " + start);
                } else if seen.insert(next.clone()) {
                    let mut longer = path.clone();
                    longer.push(next.clone());
                    stack.push((next.clone(), longer));
                }
            }
        }
    }
    assert!(circles.is_empty(), "import circles:\n{}", circles.join("\n"));
}

/// Brace depth of a line with string and char literals and comments left out.
fn braces(line: &str) -> (i64, bool) {
    let mut depth = 0;
    let mut any = false;
    let mut chars = line.chars().peekable();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' if in_string => {
                chars.next();
            }
            '"' => in_string = !in_string,
            '/' if !in_string && chars.peek() == Some(&'/') => break,
            '\'' if !in_string => {
                // A char literal ('{', '\''), not a lifetime.
                let rest: String = chars.clone().take(3).collect();
                if rest.starts_with('\\') {
                    chars.next();
                    chars.next();
                    chars.next();
                } else if rest.chars().nth(1) == Some('\'') {
                    chars.next();
                    chars.next();
                }
            }
            '{' if !in_string => {
                depth += 1;
                any = true;
            }
            '}' if !in_string => depth -= 1,
            _ => {}
        }
    }
    (depth, any)
}

#[test]
fn no_function_is_over_150_lines() {
    let mut long = Vec::new();
    for (_, relative, text) in files() {
        let lines: Vec<&str> = text.lines().collect();
        for (start, line) in lines.iter().enumerate() {
            let trimmed = line.trim_start();
            let signature = [
                "fn ",
                "pub fn ",
                "pub(crate) fn ",
                "pub(super) fn ",
                "const fn ",
                "pub const fn ",
            ]
            .iter()
            .any(|p| trimmed.starts_with(p));
            if !signature {
                continue;
            }
            let (mut depth, mut opened) = (0, false);
            for (offset, body) in lines[start..].iter().enumerate() {
                let (delta, any) = braces(body);
                depth += delta;
                opened |= any;
                if !opened && body.trim_end().ends_with(';') {
                    break;
                }
                if opened && depth <= 0 {
                    if offset + 1 > 150 {
                        long.push(format!(
                            "{}:{} ({} lines)",
                            relative.display(),
                            start + 1,
                            offset + 1
                        ));
                    }
                    break;
                }
            }
        }
    }
    assert!(long.is_empty(), "functions over 150 lines:\n{}", long.join("\n"));
}

/// The error type of `Result<T, E>` given the text after `Result<`, when
/// the whole type is on the line.
fn error_type(text: &str) -> Option<&str> {
    let mut depth = 0;
    let mut comma = None;
    for (at, c) in text.char_indices() {
        match c {
            '<' | '(' | '[' => depth += 1,
            '>' | ')' | ']' if depth > 0 => depth -= 1,
            '>' => return comma.map(|start| text[start..at].trim()),
            ',' if depth == 0 => comma = Some(at + 1),
            _ => {}
        }
    }
    None
}

#[test]
fn library_errors_are_types_not_strings() {
    let mut found = Vec::new();
    for (module, relative, text) in files() {
        if module.first().is_some_and(|m| m == "cli") {
            continue;
        }
        for (number, line) in text.lines().enumerate() {
            let string_error = line.contains("type Err = String")
                || line
                    .match_indices("Result<")
                    .any(|(at, _)| error_type(&line[at + "Result<".len()..]) == Some("String"));
            if string_error {
                found.push(format!("{}:{}: {}", relative.display(), number + 1, line.trim()));
            }
        }
    }
    assert!(found.is_empty(), "errors as strings:\n{}", found.join("\n"));
}

#[test]
fn error_types_are_read_from_nested_generics() {
    assert_eq!(
        error_type("BTreeMap<String, String>, InputError> {"),
        Some("InputError")
    );
    assert_eq!(error_type("(), String>"), Some("String"));
    assert_eq!(error_type("Vec<(u8, String)>, String>"), Some("String"));
    assert_eq!(error_type("T>"), None);
}
