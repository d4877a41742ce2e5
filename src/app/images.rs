//! The image list of an application folder, as `sealos build` computes it:
//! every chart under `charts/` rendered (values from
//! `charts/<chart name>.values.yaml`) then line-scanned, the line scan of
//! `manifests/`, the lines of `images/shim/*`; merged, sorted, without
//! repeats, minus the exact names in `.sealignore`.

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
}

/// Most files scanned in one folder tree.
const MAX_FILES: usize = 20_000;
/// Largest file scanned.
const MAX_FILE: u64 = 16 << 20;

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
        if name.parse::<ImageRef>().is_ok() && !value.contains(char::is_whitespace) {
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

/// Scans an application tree (the image's files).
pub fn image_list(root: &Path) -> Result<ImageScan, AppError> {
    let mut found = Vec::new();
    let mut skipped = Vec::new();
    // charts/: every sub-folder with a Chart.yaml and every .tgz.
    let charts = unlinked(root, "charts")?;
    if let Ok(entries) = std::fs::read_dir(&charts) {
        let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            let is_chart = (path.is_dir() && path.join("Chart.yaml").is_file()) || name.ends_with(".tgz");
            if !is_chart {
                continue;
            }
            unlinked(root, &format!("charts/{name}"))?;
            let chart = Chart::load(&path).map_err(|e| AppError::Chart {
                chart: format!("charts/{name}"),
                message: e.to_string(),
            })?;
            let label = format!("charts/{}.values.yaml", chart.name());
            let values_file = unlinked(root, &label)?;
            let overrides: Option<Value> = if values_file.is_file() {
                let text = read_text(&values_file, &label)?;
                Some(
                    crate::gotmpl::from_yaml(&text, true)
                        .map_err(|message| AppError::Bad { file: label, message })?,
                )
            } else {
                None
            };
            let rendered = render(&chart, overrides.as_ref()).map_err(|e| AppError::Chart {
                chart: format!("charts/{name}"),
                message: e.to_string(),
            })?;
            for (template, text) in rendered {
                scan(
                    &text,
                    &format!("charts/{name}: {template}"),
                    &mut found,
                    &mut skipped,
                );
            }
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
    Ok(ImageScan {
        images: first
            .into_iter()
            .map(|(image, source)| ListedImage { image, source })
            .collect(),
        skipped,
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
}
