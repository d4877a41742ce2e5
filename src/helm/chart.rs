//! Loading a chart from a folder or `.tgz`: its files, `Chart.yaml`,
//! `values.yaml`, and its subcharts under `charts/`. Charts are untrusted:
//! files and bytes are bounded (totals over the whole chart tree), archive
//! members may not leave the chart, links are not followed.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use super::{HelmError, LoadProblem};
use crate::gotmpl::{Value, from_yaml};

/// Most files of one chart (subcharts included).
pub(super) const MAX_FILES: usize = 10_000;
/// Most bytes of one chart (subcharts included, archives unpacked).
pub(super) const MAX_BYTES: u64 = 64 << 20;
/// Deepest nesting of subcharts.
const MAX_DEPTH: usize = 16;

/// A loaded chart: its files by path below the chart root, and subcharts.
#[derive(Debug, Clone)]
pub struct Chart {
    /// `Chart.yaml`, parsed.
    pub metadata: BTreeMap<String, Value>,
    /// Files by relative path (subcharts' files are theirs).
    pub files: BTreeMap<String, Vec<u8>>,
    /// Subcharts (from `charts/`).
    pub subcharts: Vec<Chart>,
}

/// What is left of the load budget: files and bytes, over the whole tree.
struct Budget {
    files: usize,
    bytes: u64,
}

impl Budget {
    fn take(&mut self, size: u64, path: &str) -> Result<(), LoadProblem> {
        if self.files == 0 {
            return Err(LoadProblem::TooManyFiles {
                limit: MAX_FILES,
                at: path.to_string(),
            });
        }
        if size > self.bytes {
            return Err(LoadProblem::TooManyBytes {
                limit: MAX_BYTES,
                at: path.to_string(),
            });
        }
        self.files -= 1;
        self.bytes -= size;
        Ok(())
    }
}

impl Chart {
    /// The chart's name (`Chart.yaml` `name`).
    pub fn name(&self) -> String {
        self.text("name")
    }

    /// A text field of `Chart.yaml` (empty when absent), for callers
    /// outside the engine (`version` for an SBOM).
    pub fn text_field(&self, key: &str) -> String {
        self.text(key)
    }

    /// A text field of `Chart.yaml` (empty when absent).
    pub(super) fn text(&self, key: &str) -> String {
        match self.metadata.get(key) {
            Some(Value::Str(text)) => text.clone(),
            Some(Value::Missing | Value::Nil) | None => String::new(),
            Some(other) => other.print(),
        }
    }

    /// Loads a chart folder or `.tgz`.
    pub fn load(path: &Path) -> Result<Chart, HelmError> {
        let chart = path.display().to_string();
        let bad = |problem: LoadProblem| HelmError::Load {
            chart: chart.clone(),
            problem,
        };
        let mut files = BTreeMap::new();
        let mut budget = Budget {
            files: MAX_FILES,
            bytes: MAX_BYTES,
        };
        if path.is_dir() {
            read_dir(path, "", &mut files, &mut budget).map_err(bad)?;
        } else {
            let archive = std::fs::File::open(path).map_err(|source| HelmError::Io {
                path: chart.clone(),
                source,
            })?;
            read_tgz(archive, &mut files, &mut budget).map_err(bad)?;
        }
        Chart::from_files(files, 0, &mut budget).map_err(bad)
    }

    /// A chart from its files (for tests and archives).
    pub fn from_memory(files: BTreeMap<String, Vec<u8>>) -> Result<Chart, HelmError> {
        let mut budget = Budget {
            files: MAX_FILES,
            bytes: MAX_BYTES,
        };
        Chart::from_files(files, 0, &mut budget).map_err(|problem| HelmError::Load {
            chart: "(memory)".into(),
            problem,
        })
    }

    fn from_files(
        files: BTreeMap<String, Vec<u8>>,
        depth: usize,
        budget: &mut Budget,
    ) -> Result<Chart, LoadProblem> {
        if depth > MAX_DEPTH {
            return Err(LoadProblem::TooDeep { limit: MAX_DEPTH });
        }
        let metadata = match files.get("Chart.yaml") {
            Some(bytes) => match from_yaml(&String::from_utf8_lossy(bytes), false).map_err(|source| {
                LoadProblem::Yaml {
                    file: "Chart.yaml".into(),
                    source,
                }
            })? {
                Value::Map(map) => map.entries(),
                _ => {
                    return Err(LoadProblem::NotAMapping {
                        file: "Chart.yaml".into(),
                    });
                }
            },
            None => return Err(LoadProblem::NoChartYaml),
        };
        let mut subcharts = Vec::new();
        let mut own = BTreeMap::new();
        let mut nested: BTreeMap<String, BTreeMap<String, Vec<u8>>> = BTreeMap::new();
        let inside = |name: &str, problem: LoadProblem| LoadProblem::Subchart {
            path: name.to_string(),
            problem: Box::new(problem),
        };
        for (path, bytes) in files {
            match path.strip_prefix("charts/") {
                Some(rest) if rest.ends_with(".tgz") && !rest.contains('/') => {
                    let mut sub = BTreeMap::new();
                    read_tgz(bytes.as_slice(), &mut sub, budget).map_err(|e| inside(&path, e))?;
                    subcharts.push(Chart::from_files(sub, depth + 1, budget).map_err(|e| inside(&path, e))?);
                }
                Some(rest) if rest.contains('/') => {
                    let (dir, inner) = rest.split_once('/').unwrap_or((rest, ""));
                    nested
                        .entry(dir.to_string())
                        .or_default()
                        .insert(inner.to_string(), bytes);
                }
                _ => {
                    own.insert(path, bytes);
                }
            }
        }
        for (dir, sub) in nested {
            if sub.contains_key("Chart.yaml") {
                let path = format!("charts/{dir}");
                subcharts.push(Chart::from_files(sub, depth + 1, budget).map_err(|e| inside(&path, e))?);
            }
        }
        Ok(Chart {
            metadata,
            files: own,
            subcharts,
        })
    }

    /// `values.yaml` (an empty map when absent or empty).
    pub(super) fn values(&self) -> Result<Value, LoadProblem> {
        let Some(bytes) = self.files.get("values.yaml") else {
            return Ok(Value::empty_map());
        };
        match from_yaml(&String::from_utf8_lossy(bytes), true).map_err(|source| LoadProblem::Yaml {
            file: "values.yaml".into(),
            source,
        })? {
            Value::Nil | Value::Missing => Ok(Value::empty_map()),
            map @ Value::Map(_) => Ok(map),
            _ => Err(LoadProblem::NotAMapping {
                file: "values.yaml".into(),
            }),
        }
    }

    /// Dependencies declared in Chart.yaml (or requirements.yaml).
    pub(super) fn dependencies(&self) -> Vec<BTreeMap<String, Value>> {
        let declared = match self.metadata.get("dependencies") {
            Some(Value::List(items)) => items.clone(),
            _ => match self
                .files
                .get("requirements.yaml")
                .and_then(|b| from_yaml(&String::from_utf8_lossy(b), false).ok())
            {
                Some(Value::Map(map)) => match map.get("dependencies") {
                    Some(Value::List(items)) => items,
                    _ => Vec::new(),
                },
                _ => Vec::new(),
            },
        };
        declared
            .into_iter()
            .filter_map(|d| match d {
                Value::Map(map) => Some(map.entries()),
                _ => None,
            })
            .collect()
    }
}

fn read_dir(
    dir: &Path,
    prefix: &str,
    files: &mut BTreeMap<String, Vec<u8>>,
    budget: &mut Budget,
) -> Result<(), LoadProblem> {
    let io = |path: &Path, e: std::io::Error| LoadProblem::Read {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| io(dir, e))?
        .filter_map(Result::ok)
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = format!("{prefix}{name}");
        let meta = std::fs::symlink_metadata(entry.path()).map_err(|e| io(&entry.path(), e))?;
        if meta.is_dir() {
            read_dir(&entry.path(), &format!("{path}/"), files, budget)?;
        } else if meta.is_file() {
            budget.take(meta.len(), &path)?;
            let bytes = std::fs::read(entry.path()).map_err(|e| io(&entry.path(), e))?;
            files.insert(path, bytes);
        }
        // Links are skipped: a chart's files are its own.
    }
    Ok(())
}

/// Reads a chart archive: one top folder (`name/...`), stripped.
fn read_tgz(
    archive: impl Read,
    files: &mut BTreeMap<String, Vec<u8>>,
    budget: &mut Budget,
) -> Result<(), LoadProblem> {
    let broken = |e: std::io::Error| LoadProblem::Archive {
        message: e.to_string(),
    };
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive));
    for entry in tar.entries().map_err(broken)? {
        let mut entry = entry.map_err(broken)?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry.path().map_err(broken)?.to_string_lossy().into_owned();
        let Some((_, inner)) = path.trim_start_matches("./").split_once('/') else {
            continue;
        };
        if inner.is_empty() || inner.split('/').any(|p| p == ".." || p.is_empty()) || inner.starts_with('/') {
            return Err(LoadProblem::LeavesChart {
                member: path.escape_default().to_string(),
            });
        }
        let size = entry.header().size().unwrap_or(0);
        budget.take(size, inner)?;
        let mut bytes = Vec::with_capacity(size.min(MAX_BYTES) as usize);
        entry
            .by_ref()
            .take(size)
            .read_to_end(&mut bytes)
            .map_err(broken)?;
        files.insert(inner.to_string(), bytes);
    }
    Ok(())
}
