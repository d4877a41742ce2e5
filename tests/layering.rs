//! Modules import only modules below them, so data flows one way:
//! value types, then inputs, then the pure plan, then files and images,
//! then fetching, recipes, the registry client, and the pipeline on top
//! (the binary's `cli` sits above everything and is not checked here).

use std::collections::BTreeMap;
use std::path::Path;

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

fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
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
