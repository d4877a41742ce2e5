//! Helm charts rendered as `helm template` (and `sealos build`) render
//! them, with the Go template engine of `gotmpl` in Helm's mode: charts
//! from folders or `.tgz`, `values.yaml` coalesced with overrides and
//! handed down to subcharts (`global` too), dependencies switched by their
//! `condition` and `tags`, `.Release` (name `dryrun`), `.Chart`,
//! `.Capabilities`, `.Files` and `.Template`, `define`s shared across the
//! chart tree, `include`, `tpl`, `required`, `toYaml`.
//!
//! Charts are untrusted: archives and folders are bounded in files and
//! bytes, paths may not leave the chart, and rendering is bounded.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use thiserror::Error;

use crate::gotmpl::{Missing, Options, RECEIVER, Templates, Value, from_yaml};

/// Most files of one chart (subcharts included).
const MAX_FILES: usize = 10_000;
/// Most bytes of one chart (subcharts included).
const MAX_BYTES: u64 = 64 << 20;
/// Deepest nesting of subcharts.
const MAX_DEPTH: usize = 16;

/// A chart that cannot be loaded or rendered.
#[derive(Debug, Error)]
pub enum HelmError {
    /// Reading the chart failed or was refused.
    #[error("chart {chart}: {message}")]
    Load {
        /// The chart's path.
        chart: String,
        /// What is wrong.
        message: String,
    },
    /// A template failed.
    #[error("chart {chart}: {source}")]
    Render {
        /// The chart's name.
        chart: String,
        /// The template error (file:line:col).
        #[source]
        source: crate::gotmpl::TemplateError,
    },
}

/// A loaded chart: its files by path below the chart root, and subcharts.
#[derive(Debug, Clone)]
pub struct Chart {
    /// `Chart.yaml`, parsed.
    pub metadata: BTreeMap<String, Value>,
    /// Files by relative path.
    pub files: BTreeMap<String, Vec<u8>>,
    /// Subcharts (from `charts/`), with the name they are known by.
    pub subcharts: Vec<Chart>,
}

impl Chart {
    /// The chart's name (`Chart.yaml` `name`).
    pub fn name(&self) -> String {
        match self.metadata.get("name") {
            Some(Value::Str(name)) => name.clone(),
            _ => String::new(),
        }
    }

    /// Loads a chart folder or `.tgz`.
    pub fn load(path: &Path) -> Result<Chart, HelmError> {
        let bad = |message: String| HelmError::Load {
            chart: path.display().to_string(),
            message,
        };
        let mut files = BTreeMap::new();
        let mut budget = (MAX_FILES, MAX_BYTES);
        if path.is_dir() {
            read_dir(path, "", &mut files, &mut budget).map_err(bad)?;
        } else {
            let archive = std::fs::File::open(path).map_err(|e| bad(e.to_string()))?;
            read_tgz(archive, &mut files, &mut budget).map_err(bad)?;
        }
        Chart::from_files(files, 0).map_err(bad)
    }

    fn from_files(files: BTreeMap<String, Vec<u8>>, depth: usize) -> Result<Chart, String> {
        if depth > MAX_DEPTH {
            return Err(format!("subcharts nested more than {MAX_DEPTH} deep"));
        }
        let text = |name: &str| files.get(name).map(|b| String::from_utf8_lossy(b).into_owned());
        let metadata = match text("Chart.yaml") {
            Some(yaml) => match from_yaml(&yaml, false).map_err(|e| format!("Chart.yaml: {e}"))? {
                Value::Map(map) => map,
                _ => return Err("Chart.yaml is not a mapping".into()),
            },
            None => return Err("no Chart.yaml".into()),
        };
        let mut subcharts = Vec::new();
        let mut own = BTreeMap::new();
        let mut nested: BTreeMap<String, BTreeMap<String, Vec<u8>>> = BTreeMap::new();
        for (path, bytes) in files {
            match path.strip_prefix("charts/") {
                Some(rest) if rest.ends_with(".tgz") && !rest.contains('/') => {
                    let mut sub = BTreeMap::new();
                    let mut budget = (MAX_FILES, MAX_BYTES);
                    read_tgz(bytes.as_slice(), &mut sub, &mut budget)
                        .map_err(|e| format!("charts/{rest}: {e}"))?;
                    subcharts
                        .push(Chart::from_files(sub, depth + 1).map_err(|e| format!("charts/{rest}: {e}"))?);
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
                subcharts.push(Chart::from_files(sub, depth + 1).map_err(|e| format!("charts/{dir}: {e}"))?);
            }
        }
        Ok(Chart {
            metadata,
            files: own,
            subcharts,
        })
    }

    fn values(&self) -> Result<Value, String> {
        match self.files.get("values.yaml") {
            Some(bytes) => match from_yaml(&String::from_utf8_lossy(bytes), true)? {
                Value::Nil => Ok(Value::Map(BTreeMap::new())),
                map @ Value::Map(_) => Ok(map),
                _ => Err("values.yaml is not a mapping".into()),
            },
            None => Ok(Value::Map(BTreeMap::new())),
        }
    }

    /// Dependencies declared in Chart.yaml (or requirements.yaml).
    fn dependencies(&self) -> Vec<BTreeMap<String, Value>> {
        let from_meta = match self.metadata.get("dependencies") {
            Some(Value::List(items)) => items.clone(),
            _ => match self
                .files
                .get("requirements.yaml")
                .and_then(|b| from_yaml(&String::from_utf8_lossy(b), false).ok())
            {
                Some(Value::Map(map)) => match map.get("dependencies") {
                    Some(Value::List(items)) => items.clone(),
                    _ => Vec::new(),
                },
                _ => Vec::new(),
            },
        };
        from_meta
            .into_iter()
            .filter_map(|d| match d {
                Value::Map(map) => Some(map),
                _ => None,
            })
            .collect()
    }
}

fn read_dir(
    dir: &Path,
    prefix: &str,
    files: &mut BTreeMap<String, Vec<u8>>,
    budget: &mut (usize, u64),
) -> Result<(), String> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = format!("{prefix}{name}");
        let meta = std::fs::symlink_metadata(entry.path()).map_err(|e| e.to_string())?;
        if meta.is_dir() {
            read_dir(&entry.path(), &format!("{path}/"), files, budget)?;
        } else if meta.is_file() {
            take(budget, meta.len(), &path)?;
            let bytes = std::fs::read(entry.path()).map_err(|e| format!("{path}: {e}"))?;
            files.insert(path, bytes);
        }
        // Links are skipped: a chart's files are its own.
    }
    Ok(())
}

fn take(budget: &mut (usize, u64), size: u64, path: &str) -> Result<(), String> {
    if budget.0 == 0 {
        return Err(format!("more than {MAX_FILES} files (at {path})"));
    }
    if size > budget.1 {
        return Err(format!("more than {MAX_BYTES} bytes (at {path})"));
    }
    budget.0 -= 1;
    budget.1 -= size;
    Ok(())
}

/// Reads a chart archive: one top folder (`name/...`), stripped.
fn read_tgz(
    archive: impl Read,
    files: &mut BTreeMap<String, Vec<u8>>,
    budget: &mut (usize, u64),
) -> Result<(), String> {
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive));
    for entry in tar.entries().map_err(|e| e.to_string())? {
        let mut entry = entry.map_err(|e| e.to_string())?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry
            .path()
            .map_err(|e| e.to_string())?
            .to_string_lossy()
            .into_owned();
        let Some((_, inner)) = path.trim_start_matches("./").split_once('/') else {
            continue;
        };
        if inner.is_empty() || inner.split('/').any(|p| p == ".." || p.is_empty()) || inner.starts_with('/') {
            return Err(format!("member `{}` leaves the chart", path.escape_default()));
        }
        let size = entry.header().size().unwrap_or(0);
        take(budget, size, inner)?;
        let mut bytes = Vec::with_capacity(size as usize);
        entry
            .by_ref()
            .take(size)
            .read_to_end(&mut bytes)
            .map_err(|e| e.to_string())?;
        files.insert(inner.to_string(), bytes);
    }
    Ok(())
}

/// Helm's coalescing: `over` wins; maps merge key by key; a `null` in
/// `over` deletes the key.
fn coalesce(base: &Value, over: &Value) -> Value {
    match (base, over) {
        (Value::Map(b), Value::Map(o)) => {
            let mut out = b.clone();
            for (key, value) in o {
                match (out.get(key), value) {
                    (_, Value::Nil) => {
                        out.remove(key);
                    }
                    (Some(existing @ Value::Map(_)), Value::Map(_)) => {
                        let merged = coalesce(existing, value);
                        out.insert(key.clone(), merged);
                    }
                    _ => {
                        out.insert(key.clone(), value.clone());
                    }
                }
            }
            Value::Map(out)
        }
        (_, Value::Missing) => base.clone(),
        _ => over.clone(),
    }
}

fn get_path<'v>(values: &'v Value, path: &str) -> Option<&'v Value> {
    let mut value = values;
    for key in path.split('.') {
        value = match value {
            Value::Map(map) => map.get(key)?,
            _ => return None,
        };
    }
    Some(value)
}

/// The release Helm renders a dry run as.
pub const RELEASE_NAME: &str = "dryrun";

fn release() -> Value {
    let mut map = BTreeMap::new();
    for (k, v) in [
        ("Name", RELEASE_NAME),
        ("Namespace", "default"),
        ("Service", "Helm"),
    ] {
        map.insert(k.to_string(), Value::from(v));
    }
    map.insert("Revision".into(), Value::Int(1));
    map.insert("IsInstall".into(), Value::Bool(true));
    map.insert("IsUpgrade".into(), Value::Bool(false));
    Value::Map(map)
}

/// Helm's default capabilities: the Kubernetes version of the client
/// library Helm was built with (v1.36.0 for the Helm 4 engine the tests
/// compare with) and the built-in API versions charts ask for.
fn capabilities() -> Value {
    let versions = [
        "v1",
        "apps/v1",
        "batch/v1",
        "policy/v1",
        "networking.k8s.io/v1",
        "rbac.authorization.k8s.io/v1",
        "storage.k8s.io/v1",
        "apiextensions.k8s.io/v1",
        "admissionregistration.k8s.io/v1",
        "autoscaling/v1",
        "autoscaling/v2",
        "coordination.k8s.io/v1",
        "scheduling.k8s.io/v1",
        "certificates.k8s.io/v1",
        "discovery.k8s.io/v1",
        "events.k8s.io/v1",
        "node.k8s.io/v1",
        "apiregistration.k8s.io/v1",
    ];
    let mut api = BTreeMap::new();
    api.insert(RECEIVER.to_string(), Value::from("apiversions"));
    api.insert(
        "list".into(),
        Value::List(versions.iter().map(|v| Value::from(*v)).collect()),
    );
    let mut kube = BTreeMap::new();
    for (k, v) in [
        ("Version", "v1.36.0"),
        ("GitVersion", "v1.36.0"),
        ("Major", "1"),
        ("Minor", "36"),
    ] {
        kube.insert(k.to_string(), Value::from(v));
    }
    let mut caps = BTreeMap::new();
    caps.insert("APIVersions".into(), Value::Map(api));
    caps.insert("KubeVersion".into(), Value::Map(kube));
    Value::Map(caps)
}

/// One chart of the tree with the values it renders with.
struct Node<'c> {
    chart: &'c Chart,
    /// `parent/charts/child` path, the template name prefix.
    path: String,
    values: Value,
}

/// Collects the enabled charts of the tree with their coalesced values.
fn walk<'c>(chart: &'c Chart, path: String, values: Value, out: &mut Vec<Node<'c>>) -> Result<(), String> {
    let deps = chart.dependencies();
    let globals = get_path(&values, "global")
        .cloned()
        .unwrap_or(Value::Map(BTreeMap::new()));
    for sub in &chart.subcharts {
        let name = sub.name();
        let dep = deps
            .iter()
            .find(|d| matches!(d.get("name"), Some(Value::Str(n)) if *n == name));
        let alias = dep
            .and_then(|d| match d.get("alias") {
                Some(Value::Str(a)) => Some(a.clone()),
                _ => None,
            })
            .unwrap_or_else(|| name.clone());
        if let Some(dep) = dep {
            if let Some(Value::Str(conditions)) = dep.get("condition") {
                let decided = conditions
                    .split(',')
                    .map(str::trim)
                    .find_map(|c| match get_path(&values, c) {
                        Some(Value::Bool(b)) => Some(*b),
                        _ => None,
                    });
                if decided == Some(false) {
                    continue;
                }
            }
            if let Some(Value::List(tags)) = dep.get("tags") {
                let decided: Vec<bool> = tags
                    .iter()
                    .filter_map(|t| match t {
                        Value::Str(t) => match get_path(&values, &format!("tags.{t}")) {
                            Some(Value::Bool(b)) => Some(*b),
                            _ => None,
                        },
                        _ => None,
                    })
                    .collect();
                if !decided.is_empty() && !decided.iter().any(|b| *b) {
                    continue;
                }
            }
        }
        let defaults = sub.values()?;
        let mut own = match get_path(&values, &alias) {
            Some(v @ Value::Map(_)) => coalesce(&defaults, v),
            _ => defaults,
        };
        let sub_globals = get_path(&own, "global")
            .cloned()
            .unwrap_or(Value::Map(BTreeMap::new()));
        if let Value::Map(map) = &mut own {
            map.insert("global".into(), coalesce(&sub_globals, &globals));
        }
        walk(sub, format!("{path}/charts/{alias}"), own, out)?;
    }
    out.push(Node { chart, path, values });
    Ok(())
}

/// Renders a chart as `helm template dryrun CHART -f overrides` does: every
/// template that is not a partial (`_*`), by path (`name/templates/x.yaml`).
pub fn render(chart: &Chart, overrides: Option<&Value>) -> Result<BTreeMap<String, String>, HelmError> {
    let name = chart.name();
    let failed = |message: String| HelmError::Load {
        chart: name.clone(),
        message,
    };
    let defaults = chart.values().map_err(failed)?;
    let values = match overrides {
        Some(over) => coalesce(&defaults, over),
        None => defaults,
    };
    let mut nodes = Vec::new();
    walk(chart, name.clone(), values, &mut nodes).map_err(failed)?;
    let mut set = Templates::new();
    let mut renderable = Vec::new();
    for node in &nodes {
        for (path, bytes) in &node.chart.files {
            if !path.starts_with("templates/") {
                continue;
            }
            let full = format!("{}/{path}", node.path);
            let text = String::from_utf8_lossy(bytes);
            set.add(&full, &text).map_err(|source| HelmError::Render {
                chart: name.clone(),
                source,
            })?;
            let base = path.rsplit('/').next().unwrap_or(path);
            if !base.starts_with('_') {
                renderable.push((full, node));
            }
        }
    }
    let options = Options {
        missing: Missing::Empty,
        max_output: 64 << 20,
        max_steps: 50_000_000,
        max_depth: 200,
    };
    let mut out = BTreeMap::new();
    for (full, node) in renderable {
        let data = template_data(node, &full);
        let text = set
            .render(&full, &data, &options)
            .map_err(|source| HelmError::Render {
                chart: name.clone(),
                source,
            })?;
        out.insert(full, text.replace("<no value>", ""));
    }
    Ok(out)
}

fn template_data(node: &Node<'_>, full: &str) -> Value {
    let chart = node.chart;
    let mut chart_map = BTreeMap::new();
    for (key, value) in &chart.metadata {
        // .Chart fields are capitalised (Name, Version, AppVersion, ...).
        let mut chars = key.chars();
        let capital = chars
            .next()
            .map(|c| c.to_uppercase().collect::<String>() + chars.as_str())
            .unwrap_or_default();
        chart_map.insert(capital, value.clone());
    }
    let mut files: BTreeMap<String, Value> = chart
        .files
        .iter()
        .filter(|(path, _)| {
            !path.starts_with("templates/") && path.as_str() != "values.yaml" && path.as_str() != "Chart.yaml"
        })
        .map(|(path, bytes)| {
            (
                path.clone(),
                Value::Str(String::from_utf8_lossy(bytes).into_owned()),
            )
        })
        .collect();
    files.insert(RECEIVER.into(), Value::from("files"));
    let mut template = BTreeMap::new();
    template.insert("Name".to_string(), Value::from(full));
    template.insert(
        "BasePath".to_string(),
        Value::Str(format!("{}/templates", node.path)),
    );
    let mut data = BTreeMap::new();
    data.insert("Values".to_string(), node.values.clone());
    data.insert("Release".to_string(), release());
    data.insert("Chart".to_string(), Value::Map(chart_map));
    data.insert("Capabilities".to_string(), capabilities());
    data.insert("Files".to_string(), Value::Map(files));
    data.insert("Template".to_string(), Value::Map(template));
    Value::Map(data)
}

crate::error::fault!(bad_input: HelmError);

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(files: &[(&str, &str)]) -> Chart {
        Chart::from_files(
            files
                .iter()
                .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
                .collect(),
            0,
        )
        .unwrap()
    }

    #[test]
    fn values_flow_into_subcharts_and_conditions_switch_them() {
        let parent = chart(&[
            (
                "Chart.yaml",
                "apiVersion: v2\nname: web\nversion: 1.0.0\ndependencies:\n- name: cache\n  condition: cache.enabled\n- name: db\n  condition: db.enabled\n",
            ),
            (
                "values.yaml",
                "global:\n  registry: example.com\nimage: nginx\ncache:\n  enabled: true\n  tag: \"7\"\ndb:\n  enabled: false\n",
            ),
            (
                "templates/_helpers.tpl",
                "{{- define \"web.image\" -}}{{ .Values.global.registry }}/{{ .Values.image }}{{- end }}",
            ),
            (
                "templates/deploy.yaml",
                "image: {{ include \"web.image\" . }}\nname: {{ .Release.Name }}-{{ .Chart.Name }}\n",
            ),
            (
                "charts/cache/Chart.yaml",
                "apiVersion: v2\nname: cache\nversion: 0.1.0\n",
            ),
            ("charts/cache/values.yaml", "tag: \"6\"\nrepo: redis\n"),
            (
                "charts/cache/templates/sts.yaml",
                "image: {{ .Values.global.registry }}/{{ .Values.repo }}:{{ .Values.tag }}\n",
            ),
            (
                "charts/db/Chart.yaml",
                "apiVersion: v2\nname: db\nversion: 0.1.0\n",
            ),
            ("charts/db/templates/db.yaml", "image: postgres\n"),
        ]);
        let out = render(&parent, None).unwrap();
        assert_eq!(
            out["web/templates/deploy.yaml"],
            "image: example.com/nginx\nname: dryrun-web\n"
        );
        assert_eq!(
            out["web/charts/cache/templates/sts.yaml"],
            "image: example.com/redis:7\n"
        );
        assert!(!out.contains_key("web/charts/db/templates/db.yaml"));
        assert!(!out.keys().any(|k| k.contains("_helpers")));
        let over = from_yaml("image: httpd\ndb:\n  enabled: true\n", true).unwrap();
        let out = render(&parent, Some(&over)).unwrap();
        assert_eq!(
            out["web/templates/deploy.yaml"],
            "image: example.com/httpd\nname: dryrun-web\n"
        );
        assert!(out.contains_key("web/charts/db/templates/db.yaml"));
    }

    #[test]
    fn crafted_archives_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, entries: &[(&str, &[u8])]| {
            let path = dir.path().join(name);
            let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
                std::fs::File::create(&path).unwrap(),
                flate2::Compression::fast(),
            ));
            for (member, bytes) in entries {
                let mut header = tar::Header::new_gnu();
                header.set_size(bytes.len() as u64);
                header.set_mode(0o644);
                // set_path refuses `..`; write the raw name as an attacker would.
                header.as_gnu_mut().unwrap().name[..member.len()].copy_from_slice(member.as_bytes());
                header.set_cksum();
                tar.append(&header, *bytes).unwrap();
            }
            tar.into_inner().unwrap().finish().unwrap();
            path
        };
        let climbing = write(
            "climb.tgz",
            &[("c/Chart.yaml", b"name: c\n"), ("c/../../evil.yaml", b"x")],
        );
        let error = Chart::load(&climbing).unwrap_err().to_string();
        assert!(error.contains("leaves the chart"), "{error}");
        let no_chart = write("empty.tgz", &[("c/values.yaml", b"a: 1\n")]);
        assert!(
            Chart::load(&no_chart)
                .unwrap_err()
                .to_string()
                .contains("no Chart.yaml")
        );
        let garbage = dir.path().join("garbage.tgz");
        std::fs::write(&garbage, b"not gzip at all").unwrap();
        assert!(Chart::load(&garbage).is_err());
    }

    #[test]
    fn files_and_capabilities() {
        let c = chart(&[
            ("Chart.yaml", "name: x\nversion: 1.0.0\n"),
            ("files/a.conf", "k=v\n"),
            (
                "templates/cm.yaml",
                "{{ .Files.Get \"files/a.conf\" }}{{ if .Capabilities.APIVersions.Has \"apps/v1\" }}apps{{ end }} {{ .Capabilities.KubeVersion.Version }}\n{{ (.Files.Glob \"files/*\").AsConfig }}",
            ),
        ]);
        let out = render(&c, None).unwrap();
        assert_eq!(out["x/templates/cm.yaml"], "k=v\napps v1.36.0\na.conf: |\n  k=v");
    }
}
