//! Helm charts rendered as `helm template` (and `sealos build`) render
//! them, with the Go template engine of `gotmpl` in Helm's mode: charts
//! from folders or `.tgz` (`chart`), values coalesced with overrides and
//! handed down to subcharts with `global`, dependencies switched by their
//! `condition` and `tags` (`values`), and every template rendered in
//! Helm's order with one values map shared by all of them (`.Release`
//! named `dryrun`, `.Chart`, `.Capabilities`, `.Files`, `.Template`).
//!
//! Charts are untrusted: archives and folders are bounded in files and
//! bytes, paths may not leave the chart, and rendering is bounded in
//! steps, output and nesting, each a total over the whole chart.

mod chart;
mod manifests;
mod values;

use std::collections::BTreeMap;

use thiserror::Error;

pub use chart::Chart;
pub use manifests::{Document, documents, template_output};

use crate::gotmpl::{Dict, Missing, Options, RECEIVER, TemplateError, Templates, Usage, Value, YamlError};

/// Why a chart cannot be loaded.
#[derive(Debug, Error)]
pub enum LoadProblem {
    /// More files than the budget.
    #[error("more than {limit} files (at {at})")]
    TooManyFiles {
        /// The budget.
        limit: usize,
        /// The file that went over it.
        at: String,
    },
    /// More bytes than the budget.
    #[error("more than {limit} bytes (at {at})")]
    TooManyBytes {
        /// The budget.
        limit: u64,
        /// The file that went over it.
        at: String,
    },
    /// An archive member's path climbs out of the chart.
    #[error("member `{member}` leaves the chart")]
    LeavesChart {
        /// The member's path, escaped.
        member: String,
    },
    /// No `Chart.yaml`.
    #[error("no Chart.yaml")]
    NoChartYaml,
    /// Subcharts nested deeper than the limit.
    #[error("subcharts nested more than {limit} deep")]
    TooDeep {
        /// The limit.
        limit: usize,
    },
    /// A YAML file does not parse.
    #[error("{file}: {source}")]
    Yaml {
        /// The file, relative to its chart.
        file: String,
        /// The parser's error.
        #[source]
        source: YamlError,
    },
    /// A YAML file is not a mapping.
    #[error("{file} is not a mapping")]
    NotAMapping {
        /// The file, relative to its chart.
        file: String,
    },
    /// The archive is not a readable gzip'd tar.
    #[error("archive: {message}")]
    Archive {
        /// The reader's words.
        message: String,
    },
    /// A file or folder cannot be read.
    #[error("{path}: {message}")]
    Read {
        /// The path.
        path: String,
        /// The system's words.
        message: String,
    },
    /// A problem inside a subchart.
    #[error("{path}: {problem}")]
    Subchart {
        /// The subchart's path in its parent.
        path: String,
        /// What is wrong there.
        problem: Box<LoadProblem>,
    },
}

/// A chart that cannot be loaded or rendered.
#[derive(Debug, Error)]
pub enum HelmError {
    /// Reading the chart failed or was refused.
    #[error("chart {chart}: {problem}")]
    Load {
        /// The chart's path or name.
        chart: String,
        /// What is wrong.
        problem: LoadProblem,
    },
    /// The chart file cannot be opened.
    #[error("chart {path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// A template failed.
    #[error("chart {chart}: {source}")]
    Render {
        /// The chart's name.
        chart: String,
        /// The template error (file:line:col).
        #[source]
        source: TemplateError,
    },
}

/// The release Helm renders a dry run as.
pub const RELEASE_NAME: &str = "dryrun";

/// Budgets of one chart's render, totals over all its templates.
fn options() -> Options {
    Options {
        missing: Missing::Empty,
        max_output: 64 << 20,
        max_steps: 50_000_000,
        max_depth: 200,
    }
}

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
    Value::map(map)
}

/// The API versions Helm 4's engine offers by default (its client
/// library's scheme, as `.Capabilities.APIVersions` lists them).
const API_VERSIONS: &[&str] = &[
    "v1",
    "admissionregistration.k8s.io/v1",
    "admissionregistration.k8s.io/v1alpha1",
    "admissionregistration.k8s.io/v1beta1",
    "internal.apiserver.k8s.io/v1alpha1",
    "apps/v1",
    "apps/v1beta1",
    "apps/v1beta2",
    "authentication.k8s.io/v1",
    "authentication.k8s.io/v1alpha1",
    "authentication.k8s.io/v1beta1",
    "authorization.k8s.io/v1",
    "authorization.k8s.io/v1beta1",
    "autoscaling/v1",
    "autoscaling/v2",
    "batch/v1",
    "batch/v1beta1",
    "certificates.k8s.io/v1",
    "certificates.k8s.io/v1beta1",
    "certificates.k8s.io/v1alpha1",
    "coordination.k8s.io/v1alpha2",
    "coordination.k8s.io/v1beta1",
    "coordination.k8s.io/v1",
    "discovery.k8s.io/v1",
    "discovery.k8s.io/v1beta1",
    "events.k8s.io/v1",
    "events.k8s.io/v1beta1",
    "extensions/v1beta1",
    "flowcontrol.apiserver.k8s.io/v1",
    "flowcontrol.apiserver.k8s.io/v1beta1",
    "flowcontrol.apiserver.k8s.io/v1beta2",
    "flowcontrol.apiserver.k8s.io/v1beta3",
    "networking.k8s.io/v1",
    "networking.k8s.io/v1beta1",
    "node.k8s.io/v1",
    "node.k8s.io/v1alpha1",
    "node.k8s.io/v1beta1",
    "policy/v1",
    "policy/v1beta1",
    "rbac.authorization.k8s.io/v1",
    "rbac.authorization.k8s.io/v1beta1",
    "rbac.authorization.k8s.io/v1alpha1",
    "resource.k8s.io/v1",
    "resource.k8s.io/v1beta2",
    "resource.k8s.io/v1beta1",
    "resource.k8s.io/v1alpha3",
    "scheduling.k8s.io/v1alpha2",
    "scheduling.k8s.io/v1beta1",
    "scheduling.k8s.io/v1",
    "storage.k8s.io/v1beta1",
    "storage.k8s.io/v1",
    "storage.k8s.io/v1alpha1",
    "storagemigration.k8s.io/v1beta1",
    "apiextensions.k8s.io/v1beta1",
    "apiextensions.k8s.io/v1",
];

/// Helm's default capabilities: Kubernetes v1.36.0 (the client library of
/// the Helm 4 engine the tests compare with) and its API versions.
fn capabilities() -> Value {
    let mut api = BTreeMap::new();
    api.insert(RECEIVER.to_string(), Value::from("apiversions"));
    api.insert(
        "list".into(),
        Value::List(API_VERSIONS.iter().map(|v| Value::from(*v)).collect()),
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
    kube.insert(crate::gotmpl::PRINTS_AS.to_string(), Value::from("v1.36.0"));
    let mut helm = BTreeMap::new();
    for (k, v) in [
        ("Version", "v4.2"),
        ("GitCommit", ""),
        ("GitTreeState", ""),
        ("GoVersion", "go1.26.6"),
    ] {
        helm.insert(k.to_string(), Value::from(v));
    }
    let mut caps = BTreeMap::new();
    caps.insert("APIVersions".into(), Value::map(api));
    caps.insert("KubeVersion".into(), Value::map(kube));
    caps.insert("HelmVersion".into(), Value::map(helm));
    Value::map(caps)
}

/// `Chart.yaml` keys as `.Chart` names them (Go's field names).
fn chart_field(key: &str) -> String {
    match key {
        "apiVersion" => "APIVersion".into(),
        other => {
            let mut chars = other.chars();
            chars
                .next()
                .map(|c| c.to_uppercase().collect::<String>() + chars.as_str())
                .unwrap_or_default()
        }
    }
}

/// Files `.Files` does not offer (Helm consumes them while loading).
fn consumed(path: &str) -> bool {
    path.starts_with("templates/")
        || matches!(
            path,
            "Chart.yaml"
                | "values.yaml"
                | "values.schema.json"
                | "requirements.yaml"
                | "requirements.lock"
                | "Chart.lock"
        )
}

/// The top-level data (`.`) of one chart's templates: one map per chart,
/// shared by its templates (only `.Template` changes between them).
fn chart_data(node: &values::Node<'_>, release: &Value, capabilities: &Value) -> Dict {
    let chart = node.chart;
    let mut chart_map: BTreeMap<String, Value> = chart
        .metadata
        .iter()
        .map(|(key, value)| (chart_field(key), value.clone()))
        .collect();
    chart_map.insert("Name".into(), Value::Str(node.name.clone()));
    let mut files: BTreeMap<String, Value> = chart
        .files
        .iter()
        .filter(|(path, _)| !consumed(path))
        .map(|(path, bytes)| {
            (
                path.clone(),
                Value::Str(String::from_utf8_lossy(bytes).into_owned()),
            )
        })
        .collect();
    files.insert(RECEIVER.into(), Value::from("files"));
    let mut data = BTreeMap::new();
    data.insert("Values".to_string(), Value::Map(node.values.clone()));
    data.insert("Release".to_string(), release.clone());
    data.insert("Chart".to_string(), Value::map(chart_map));
    data.insert("Capabilities".to_string(), capabilities.clone());
    data.insert("Files".to_string(), Value::map(files));
    Dict::new(data)
}

/// Helm's template order: deeper paths first, then reverse lexical order
/// (`sort.Reverse(byPathLen)`); templates are parsed and run in it, so a
/// `define` of the shallowest chart wins and values set by one template
/// are seen by those after it.
fn helm_order(a: &str, b: &str) -> std::cmp::Ordering {
    let depth = |s: &str| s.matches('/').count();
    depth(b).cmp(&depth(a)).then_with(|| b.cmp(a))
}

/// Renders a chart as `helm template dryrun CHART -f overrides` does: every
/// template that is not a partial (`_*`), by path (`name/templates/x.yaml`).
pub fn render(chart: &Chart, overrides: Option<&Value>) -> Result<BTreeMap<String, String>, HelmError> {
    render_within(chart, overrides, &options())
}

/// [`render`] within `options`' budgets, totals over all templates.
fn render_within(
    chart: &Chart,
    overrides: Option<&Value>,
    options: &Options,
) -> Result<BTreeMap<String, String>, HelmError> {
    let name = chart.name();
    let failed = |problem: LoadProblem| HelmError::Load {
        chart: name.clone(),
        problem,
    };
    let defaults = chart.values().map_err(failed)?;
    let top = values::coalesce(&defaults, overrides.unwrap_or(&Value::Missing));
    let Value::Map(top_map) = top.clone() else {
        return Err(failed(LoadProblem::NotAMapping {
            file: "values".into(),
        }));
    };
    let mut nodes = Vec::new();
    values::walk(chart, name.clone(), name.clone(), top_map, &top, &mut nodes).map_err(failed)?;
    let (release, capabilities) = (release(), capabilities());
    let mut templates: Vec<(String, usize)> = Vec::new();
    for (index, node) in nodes.iter().enumerate() {
        for path in node.chart.files.keys().filter(|p| p.starts_with("templates/")) {
            templates.push((format!("{}/{path}", node.path), index));
        }
    }
    templates.sort_by(|a, b| helm_order(&a.0, &b.0));
    let rendering = |source| HelmError::Render {
        chart: name.clone(),
        source,
    };
    let mut set = Templates::new();
    for (full, index) in &templates {
        let node = &nodes[*index];
        let path = &full[node.path.len() + 1..];
        let text = String::from_utf8_lossy(&node.chart.files[path]);
        set.add(full, &text).map_err(rendering)?;
    }
    let data: Vec<Dict> = nodes
        .iter()
        .map(|node| chart_data(node, &release, &capabilities))
        .collect();
    // `.Subcharts`: each enabled subchart's own `.`, by the name it has.
    for (parent, node) in nodes.iter().enumerate() {
        let children: BTreeMap<String, Value> = nodes
            .iter()
            .enumerate()
            .filter(|(_, child)| child.path == format!("{}/charts/{}", node.path, child.name))
            .map(|(index, child)| (child.name.clone(), Value::Map(data[index].clone())))
            .collect();
        data[parent].insert("Subcharts", Value::map(children));
    }
    let mut usage = Usage::default();
    let mut out = BTreeMap::new();
    for (full, index) in &templates {
        let base = full.rsplit('/').next().unwrap_or(full);
        if base.starts_with('_') {
            continue;
        }
        let node = &nodes[*index];
        let mut template = BTreeMap::new();
        template.insert("Name".to_string(), Value::from(full.as_str()));
        template.insert(
            "BasePath".to_string(),
            Value::Str(format!("{}/templates", node.path)),
        );
        data[*index].insert("Template", Value::map(template));
        let text = set
            .render_counted(full, &Value::Map(data[*index].clone()), options, &mut usage)
            .map_err(rendering)?;
        out.insert(full.clone(), text.replace("<no value>", ""));
    }
    Ok(out)
}

crate::error::fault!(bad_input: HelmError);

#[cfg(test)]
mod tests;
