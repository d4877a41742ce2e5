//! The image list of an application folder, as `sealos build` computes it:
//! every chart under `charts/` rendered (values from
//! `charts/<chart name>.values.yaml`) then line-scanned, the line scan of
//! `manifests/`, the lines of `images/shim/*`; merged, sorted, without
//! repeats, minus the exact names in `.sealignore`. A folder that is itself
//! a chart (`Chart.yaml`) is rendered as one.
//!
//! Beyond sealos, the rendered documents and manifests are also read as
//! YAML: every `containers`, `initContainers` and `ephemeralContainers`
//! image of every object; those the line scan misses (a cluster would pull
//! them, sealos would not save them) are reported in `missed`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::AppError;
use crate::gotmpl::Value;
use crate::helm::{Chart, render};
use crate::registry::ImageRef;

/// One image and the file it came from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ListedImage {
    /// The reference as written (`nginx:1.25`, `docker.io/x/y@sha256:...`).
    pub image: String,
    /// The file (or rendered template) that names it.
    pub source: String,
}

/// What the scan found, and what it skipped with a warning.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImageScan {
    /// Images in sealos's order (sorted, one entry per image: its first source).
    pub images: Vec<ListedImage>,
    /// `source:line: text` of `image:` values that are not references.
    pub skipped: Vec<String>,
    /// Container images the YAML names that the line scan misses.
    pub missed: Vec<ListedImage>,
}

/// `app images --strict`: container images the line scan misses are an
/// error (a failed check, exit 1), not a warning.
#[derive(Debug, thiserror::Error)]
#[error("{} container image(s) the `image:` line scan misses (--strict): {}", .0.len(), .0.iter().map(|m| format!("{} ({})", m.image, m.source)).collect::<Vec<_>>().join(", "))]
pub struct MissedImages(pub Vec<ListedImage>);

impl crate::error::Fault for MissedImages {
    fn is_bad_input(&self) -> bool {
        false
    }
}

/// The templates of one chart under `charts/`, rendered.
#[derive(Debug, Clone)]
pub struct RenderedChart {
    /// The chart's place (`charts/web`, or `.` for a folder that is a chart).
    pub folder: String,
    /// Rendered text by template path (`web/templates/x.yaml`).
    pub templates: BTreeMap<String, String>,
}

/// Most files scanned in one folder tree.
const MAX_FILES: usize = 20_000;
/// Largest file scanned.
const MAX_FILE: u64 = 16 << 20;

/// Whether `value` is a reference by the distribution grammar
/// (`[host[:port]/]path[:tag][@sha256:digest]`, lower-case path): what
/// sealos's parser accepts, so `"x:1"}]` from a flow mapping is not one.
fn is_reference(value: &str) -> bool {
    static GRAMMAR: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    GRAMMAR
        .get_or_init(|| {
            regex::Regex::new(
                r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$",
            )
            .expect("a valid pattern")
        })
        .is_match(value)
}

/// The `image:` line scan of one text.
fn scan(text: &str, source: &str, found: &mut Vec<ListedImage>, skipped: &mut Vec<String>) {
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') {
            continue;
        }
        let Some((_, after)) = trimmed.split_once("image:") else {
            continue;
        };
        let value = after.trim().trim_matches(|c| c == '"' || c == '\'').trim();
        if value.is_empty() {
            continue;
        }
        // A tag and a digest together keep both (`name:tag@sha256:...`).
        let name = match value.split_once("@sha256:") {
            Some((name, digest)) if digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit()) => {
                name
            }
            _ => value,
        };
        if is_reference(value) && name.parse::<ImageRef>().is_ok() {
            found.push(ListedImage {
                image: value.to_string(),
                source: source.to_string(),
            });
        } else {
            skipped.push(format!("{source}:{}: {}", index + 1, value.escape_default()));
        }
    }
}

/// `root/relative` for reading, refused when it or a folder on the way
/// is a symbolic link: what the scan reads (charts, values, manifests,
/// image lists) can become an image reference a registry is asked for, so
/// nothing is read from outside the application folder.
fn unlinked(root: &Path, relative: &str) -> Result<PathBuf, AppError> {
    super::beneath(root, relative, true).map_err(|e| AppError::Bad {
        file: relative.to_string(),
        message: e.to_string(),
    })
}

fn read_text(path: &Path, label: &str) -> Result<String, AppError> {
    let meta = std::fs::metadata(path).map_err(|e| AppError::io(label, e))?;
    if meta.len() > MAX_FILE {
        return Err(AppError::Bad {
            file: label.to_string(),
            message: format!("{} bytes, more than {MAX_FILE} to scan", meta.len()),
        });
    }
    let bytes = std::fs::read(path).map_err(|e| AppError::io(label, e))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Files below `dir` (relative, sorted), regular files only, bounded.
fn walk(dir: &Path) -> Result<Vec<String>, AppError> {
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), String::new())];
    while let Some((path, prefix)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&path) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name().to_string_lossy().into_owned();
            let relative = format!("{prefix}{name}");
            let Ok(meta) = std::fs::symlink_metadata(entry.path()) else {
                continue;
            };
            if meta.is_dir() {
                stack.push((entry.path(), format!("{relative}/")));
            } else if meta.is_file() {
                out.push(relative);
                if out.len() > MAX_FILES {
                    return Err(AppError::Bad {
                        file: dir.display().to_string(),
                        message: format!("more than {MAX_FILES} files"),
                    });
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Renders one chart with its values file, if there is one.
fn render_one(path: &Path, folder: String, values_dir: &Path) -> Result<RenderedChart, AppError> {
    let failed = |e: crate::helm::HelmError| AppError::Chart {
        chart: folder.clone(),
        error: Box::new(e),
    };
    let chart = Chart::load(path).map_err(failed)?;
    let label = format!("charts/{}.values.yaml", chart.name());
    let values_file = if folder == "." {
        values_dir.join(&label)
    } else {
        unlinked(values_dir, &format!("{}.values.yaml", chart.name())).map_err(|e| match e {
            AppError::Bad { message, .. } => AppError::Bad {
                file: label.clone(),
                message,
            },
            other => other,
        })?
    };
    let overrides: Option<Value> = if values_file.is_file() && folder != "." {
        let text = read_text(&values_file, &label)?;
        Some(crate::gotmpl::from_yaml(&text, true).map_err(|e| AppError::Bad {
            file: label,
            message: e.to_string(),
        })?)
    } else {
        None
    };
    let templates = render(&chart, overrides.as_ref()).map_err(failed)?;
    Ok(RenderedChart { folder, templates })
}

/// Every chart of an application tree rendered as `sealos build` renders
/// it: each folder with a `Chart.yaml` and each `.tgz` under `charts/`,
/// by name; a folder that is itself a chart is rendered alone.
pub fn render_charts(root: &Path) -> Result<Vec<RenderedChart>, AppError> {
    if root.join("Chart.yaml").is_file() {
        return Ok(vec![render_one(root, ".".into(), root)?]);
    }
    let charts = unlinked(root, "charts")?;
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&charts) {
        let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_symlink()) {
                return Err(AppError::Bad {
                    file: format!("charts/{name}"),
                    message: "a symbolic link; it is not followed (copy the chart in)".into(),
                });
            }
            let is_chart = (path.is_dir() && path.join("Chart.yaml").is_file()) || name.ends_with(".tgz");
            if is_chart {
                out.push(render_one(&path, format!("charts/{name}"), &charts)?);
            }
        }
    }
    Ok(out)
}

/// The charts an application tree ships, for its SBOM: found as
/// [`render_charts`] finds them; name and version from `Chart.yaml`; the
/// sha256 of a `.tgz` is the archive's, of a folder the digest of its
/// `sha256  path` listing (every file, sorted), so equal charts agree.
pub fn chart_facts(root: &Path) -> Result<Vec<crate::attest::Chart>, AppError> {
    let mut found = Vec::new();
    if root.join("Chart.yaml").is_file() {
        found.push((root.to_path_buf(), ".".to_string()));
    } else {
        let charts = unlinked(root, "charts")?;
        if let Ok(entries) = std::fs::read_dir(&charts) {
            for entry in entries.filter_map(Result::ok) {
                let name = entry.file_name().to_string_lossy().into_owned();
                let path = entry.path();
                let plain = entry.file_type().is_ok_and(|t| !t.is_symlink());
                if plain && ((path.is_dir() && path.join("Chart.yaml").is_file()) || name.ends_with(".tgz")) {
                    found.push((path, format!("charts/{name}")));
                }
            }
        }
    }
    found.sort();
    found
        .into_iter()
        .map(|(path, folder)| {
            let chart = Chart::load(&path).map_err(|e| AppError::Chart {
                chart: folder.clone(),
                error: Box::new(e),
            })?;
            let sha256 = if path.is_dir() {
                let mut listing = String::new();
                for file in walk(&path)? {
                    let bytes = std::fs::read(path.join(&file)).map_err(|e| AppError::io(&folder, e))?;
                    listing.push_str(&format!("{}  {file}\n", crate::digest::Sha256::of(&bytes).hex()));
                }
                crate::digest::Sha256::of(listing.as_bytes())
            } else {
                let bytes = std::fs::read(&path).map_err(|e| AppError::io(&folder, e))?;
                crate::digest::Sha256::of(&bytes)
            };
            Ok(crate::attest::Chart {
                name: chart.name(),
                version: chart.text_field("version"),
                path: folder,
                sha256,
            })
        })
        .collect()
}

/// Container images a YAML value names (`containers`, `initContainers`,
/// `ephemeralContainers` at any depth).
fn containers(value: &serde_yaml::Value, depth: usize, out: &mut Vec<String>) {
    if depth > 64 {
        return;
    }
    match value {
        serde_yaml::Value::Mapping(map) => {
            for (key, item) in map {
                let listed = matches!(
                    key.as_str(),
                    Some("containers" | "initContainers" | "ephemeralContainers")
                );
                if let (true, serde_yaml::Value::Sequence(list)) = (listed, item) {
                    for container in list {
                        if let Some(image) = container.get("image").and_then(serde_yaml::Value::as_str) {
                            out.push(image.trim().to_string());
                        }
                    }
                }
                containers(item, depth + 1, out);
            }
        }
        serde_yaml::Value::Sequence(items) => items.iter().for_each(|i| containers(i, depth + 1, out)),
        serde_yaml::Value::Tagged(tagged) => containers(&tagged.value, depth + 1, out),
        _ => {}
    }
}

/// The structural scan of one text: its documents read as YAML (those
/// that do not parse are skipped; the line scan still covers them).
fn structural(text: &str, source: &str, found: &mut Vec<ListedImage>) {
    // One document at a time: serde_yaml's stream does not move past a
    // document that fails.
    let mut documents = vec![String::new()];
    for line in text.split_inclusive('\n') {
        if line.trim_end() == "---" || line.starts_with("--- ") {
            documents.push(String::new());
        } else if let Some(last) = documents.last_mut() {
            last.push_str(line);
        }
    }
    for document in documents {
        let Ok(value) = serde_yaml::from_str::<serde_yaml::Value>(&document) else {
            continue;
        };
        let mut images = Vec::new();
        containers(&value, 0, &mut images);
        found.extend(
            images
                .into_iter()
                .filter(|i| !i.is_empty())
                .map(|image| ListedImage {
                    image,
                    source: source.to_string(),
                }),
        );
    }
}

/// Scans an application tree (the image's files).
pub fn image_list(root: &Path) -> Result<ImageScan, AppError> {
    let mut found = Vec::new();
    let mut skipped = Vec::new();
    let mut structured = Vec::new();
    for chart in render_charts(root)? {
        for (template, text) in &chart.templates {
            let source = format!("{}: {template}", chart.folder);
            scan(text, &source, &mut found, &mut skipped);
            structural(text, &source, &mut structured);
        }
    }
    // manifests/: .yaml, .yml, .tmpl of any case.
    let manifests = unlinked(root, "manifests")?;
    for file in walk(&manifests)? {
        let lower = file.to_ascii_lowercase();
        if lower.ends_with(".yaml") || lower.ends_with(".yml") || lower.ends_with(".tmpl") {
            let label = format!("manifests/{file}");
            let text = read_text(&manifests.join(&file), &label)?;
            scan(&text, &label, &mut found, &mut skipped);
            structural(&text, &label, &mut structured);
        }
    }
    // images/shim/: one image a line.
    let shim = unlinked(root, "images/shim")?;
    for file in walk(&shim)? {
        let label = format!("images/shim/{file}");
        let text = read_text(&shim.join(&file), &label)?;
        for line in text.lines() {
            let image = line.trim().trim_matches(|c| c == '"' || c == '\'').trim();
            if !image.is_empty() && !image.starts_with('#') {
                found.push(ListedImage {
                    image: image.to_string(),
                    source: label.clone(),
                });
            }
        }
    }
    let ignore: Vec<String> = std::fs::read_to_string(unlinked(root, ".sealignore")?)
        .unwrap_or_default()
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let mut first: BTreeMap<String, String> = BTreeMap::new();
    for item in found {
        if !ignore.contains(&item.image) {
            first.entry(item.image).or_insert(item.source);
        }
    }
    let mut missed: BTreeMap<String, String> = BTreeMap::new();
    for item in structured {
        if !first.contains_key(&item.image) && !ignore.contains(&item.image) {
            missed.entry(item.image).or_insert(item.source);
        }
    }
    let listed = |map: BTreeMap<String, String>| {
        map.into_iter()
            .map(|(image, source)| ListedImage { image, source })
            .collect()
    };
    Ok(ImageScan {
        images: listed(first),
        skipped,
        missed: listed(missed),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_scan_follows_sealos() {
        let mut found = Vec::new();
        let mut skipped = Vec::new();
        let text = "  - image: \"nginx:1.25\"\n# image: commented:1\n    image: '{{ .Values.x }}'\n  image: busybox # trailing\n  imagePullPolicy: Always\n  image: ghcr.io/a/b:v1@sha256:0000000000000000000000000000000000000000000000000000000000000000\n";
        scan(text, "m.yaml", &mut found, &mut skipped);
        let images: Vec<&str> = found.iter().map(|i| i.image.as_str()).collect();
        assert_eq!(
            images,
            [
                "nginx:1.25",
                "ghcr.io/a/b:v1@sha256:0000000000000000000000000000000000000000000000000000000000000000"
            ]
        );
        assert_eq!(skipped.len(), 2, "{skipped:?}");
    }

    #[test]
    fn the_structural_scan_finds_what_the_line_scan_misses() {
        let text = "kind: Pod\nspec:\n  containers: [{name: a, image: \"flow/style:1\"}]\n  initContainers:\n  - name: b\n    image: >-\n      folded/image:2\n---\nkind: CronJob\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          containers:\n          - image: plain/job:3\n";
        let mut found = Vec::new();
        structural(text, "t.yaml", &mut found);
        let images: Vec<&str> = found.iter().map(|i| i.image.as_str()).collect();
        assert_eq!(images, ["flow/style:1", "folded/image:2", "plain/job:3"]);
        let (mut lines, mut skipped) = (Vec::new(), Vec::new());
        scan(text, "t.yaml", &mut lines, &mut skipped);
        let lined: Vec<&str> = lines.iter().map(|i| i.image.as_str()).collect();
        // The line scan misses both (and reads `folded/image:2` as the image `2`).
        assert_eq!(lined, ["2", "plain/job:3"]);
    }
}
