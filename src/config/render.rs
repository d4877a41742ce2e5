//! The `[render]` section of matrix.toml: how a cell's build context is
//! assembled (runtime contexts per CRI, build-time templates) and the
//! kubeadm facts chosen by rule (apiVersion, criSocket).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{Condition, RawCondition, S, parse_at, resolve_condition};
use crate::axis::Cri;
use crate::cell::Cell;
use crate::placeholder::Placeholders;
use crate::source::{InputError, Source};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRender {
    registry: S<String>,
    lvscare: S<String>,
    lvscare_dev: S<String>,
    vip: S<String>,
    pod_subnet: String,
    service_subnet: String,
    dns_domain: String,
    #[serde(default)]
    author: Option<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    templates: Vec<RawTemplateOut>,
    cri: BTreeMap<S<String>, RawCriRender>,
    #[serde(default)]
    overrides: Vec<RawOverride>,
    kubeadm_api: Vec<RawApiRule>,
    cri_socket: Vec<RawSocketRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTemplateOut {
    template: S<String>,
    to: S<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCriRender {
    contexts: Vec<S<String>>,
    data: String,
    endpoint: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    templates: Option<Vec<RawTemplateOut>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOverride {
    path: S<String>,
    context: S<String>,
    reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApiRule {
    #[serde(default)]
    when: RawCondition,
    version: S<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSocketRule {
    #[serde(default)]
    when: RawCondition,
    socket: String,
}

/// A kubeadm configuration API version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum KubeadmApi {
    /// `kubeadm.k8s.io/v1beta1` (kube < 1.15).
    V1beta1,
    /// `kubeadm.k8s.io/v1beta2` (1.15 <= kube < 1.23).
    V1beta2,
    /// `kubeadm.k8s.io/v1beta3` (1.23 <= kube < 1.31).
    V1beta3,
    /// `kubeadm.k8s.io/v1beta4` (kube >= 1.31).
    V1beta4,
}

impl KubeadmApi {
    /// The short name (`v1beta3`).
    pub fn as_str(self) -> &'static str {
        match self {
            KubeadmApi::V1beta1 => "v1beta1",
            KubeadmApi::V1beta2 => "v1beta2",
            KubeadmApi::V1beta3 => "v1beta3",
            KubeadmApi::V1beta4 => "v1beta4",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text.trim_start_matches("kubeadm.k8s.io/") {
            "v1beta1" => Some(KubeadmApi::V1beta1),
            "v1beta2" => Some(KubeadmApi::V1beta2),
            "v1beta3" => Some(KubeadmApi::V1beta3),
            "v1beta4" => Some(KubeadmApi::V1beta4),
            _ => None,
        }
    }
}

fn template_outs(source: &Source, raw: &[RawTemplateOut]) -> Result<Vec<TemplateOut>, InputError> {
    raw.iter()
        .map(|out| {
            Ok(TemplateOut {
                template: relative_path(source, "render.templates.template", &out.template)?,
                to: relative_path(source, "render.templates.to", &out.to)?,
            })
        })
        .collect()
}

/// One build-time template and where its output goes in the context.
#[derive(Debug, Clone)]
pub struct TemplateOut {
    /// File name under `templates/`.
    pub template: String,
    /// Path of the rendered file in the context (`etc/kubeadm.yml`).
    pub to: String,
}

/// What a CRI's cells are built from.
#[derive(Debug, Clone)]
pub struct CriRender {
    /// Folders under `runtime/`, merged in this order.
    pub contexts: Vec<String>,
    /// The CRI's data directory (`criData`).
    pub data: String,
    /// The CRI socket sealos talks to (`SEALOS_SYS_CRI_ENDPOINT`).
    pub endpoint: String,
    /// Labels that replace or add to `[render.labels]` for this CRI.
    pub labels: BTreeMap<String, String>,
    /// Env that replaces or adds to `[render.env]` for this CRI.
    pub env: BTreeMap<String, String>,
    /// Build-time templates instead of `[render] templates` (k3s renders
    /// no kubeadm.yml).
    pub templates: Option<Vec<TemplateOut>>,
}

/// A path that a later context may replace with different bytes.
#[derive(Debug, Clone)]
pub struct Override {
    /// Path inside the context.
    pub path: String,
    /// The context whose version wins.
    pub context: String,
    /// Why.
    pub reason: String,
}

/// The resolved `[render]` section.
#[derive(Debug, Clone)]
pub struct RenderConfig {
    /// Node-local registry `host:port` (`sealos.hub:5000`).
    pub registry: String,
    /// lvscare image for releases; `{sealos}` is the sealos version.
    pub lvscare: Placeholders,
    /// lvscare image for dev builds.
    pub lvscare_dev: String,
    /// Default virtual IP of the API server.
    pub vip: String,
    /// Pod network CIDR.
    pub pod_subnet: String,
    /// Service network CIDR.
    pub service_subnet: String,
    /// Cluster DNS domain.
    pub dns_domain: String,
    /// The image config's `author` (labring's Kubefiles say `MAINTAINER sealos`).
    pub author: Option<String>,
    /// Extra image env for every cell (registry credentials defaults, ...).
    pub env: BTreeMap<String, String>,
    /// Extra labels for every cell (sealos's init/clean/check commands).
    pub labels: BTreeMap<String, String>,
    /// Build-time templates.
    pub templates: Vec<TemplateOut>,
    /// Per-CRI contexts and paths.
    pub cri: BTreeMap<Cri, CriRender>,
    /// Declared overrides.
    pub overrides: Vec<Override>,
    api: Vec<(Condition, KubeadmApi)>,
    sockets: Vec<(Condition, String)>,
}

impl RenderConfig {
    /// The registry host without the port (`sealos.hub`).
    pub fn registry_domain(&self) -> &str {
        self.registry
            .rsplit_once(':')
            .map_or(self.registry.as_str(), |(host, _)| host)
    }

    /// The registry port (`5000`).
    pub fn registry_port(&self) -> &str {
        self.registry.rsplit_once(':').map_or("", |(_, port)| port)
    }

    /// The kubeadm API version for a cell (first matching rule).
    pub fn kubeadm_api(&self, cell: &Cell) -> Option<KubeadmApi> {
        self.api
            .iter()
            .find(|(when, _)| when.matches(cell))
            .map(|(_, api)| *api)
    }

    /// The kubeadm criSocket for a cell (first matching rule).
    pub fn cri_socket(&self, cell: &Cell) -> Option<&str> {
        self.sockets
            .iter()
            .find(|(when, _)| when.matches(cell))
            .map(|(_, socket)| socket.as_str())
    }

    /// The lvscare image of a sealos version.
    pub fn lvscare_image(&self, cell: &Cell) -> String {
        if cell.sealos.is_dev() {
            self.lvscare_dev.clone()
        } else {
            self.lvscare.fill(&[("sealos", &cell.sealos.to_string())])
        }
    }
}

fn relative_path(source: &Source, key: &str, value: &S<String>) -> Result<String, InputError> {
    super::relative_path(source, key, value, "etc/kubeadm.yml")
}

pub(super) fn resolve_render(source: &Source, raw: &RawRender) -> Result<RenderConfig, InputError> {
    let lvscare = Placeholders::parse(raw.lvscare.get_ref(), &["sealos"]).map_err(|error| {
        source.invalid(
            raw.lvscare.span(),
            "render.lvscare",
            error.to_string(),
            "write e.g. \"ghcr.io/labring/lvscare:v{sealos}\"",
        )
    })?;
    if !lvscare.uses("sealos") {
        return Err(source.invalid(
            raw.lvscare.span(),
            "render.lvscare",
            "the lvscare image must contain {sealos}",
            "write e.g. \"ghcr.io/labring/lvscare:v{sealos}\"",
        ));
    }
    if !raw.registry.get_ref().contains(':') {
        return Err(source.invalid(
            raw.registry.span(),
            "render.registry",
            "the node-local registry needs a port",
            "write host:port, e.g. \"sealos.hub:5000\"",
        ));
    }
    let mut cri = BTreeMap::new();
    for (name, value) in &raw.cri {
        let parsed = parse_at(
            source,
            "render.cri",
            name,
            str::parse::<Cri>,
            "key by a known CRI",
        )?;
        let contexts = value
            .contexts
            .iter()
            .map(|context| relative_path(source, "render.cri.contexts", context))
            .collect::<Result<Vec<_>, _>>()?;
        cri.insert(
            parsed,
            CriRender {
                contexts,
                data: value.data.clone(),
                endpoint: value.endpoint.clone(),
                labels: value.labels.clone(),
                env: value.env.clone(),
                templates: value
                    .templates
                    .as_ref()
                    .map(|list| template_outs(source, list))
                    .transpose()?,
            },
        );
    }
    let templates = template_outs(source, &raw.templates)?;
    let overrides = raw
        .overrides
        .iter()
        .map(|item| {
            Ok(Override {
                path: relative_path(source, "render.overrides.path", &item.path)?,
                context: item.context.get_ref().clone(),
                reason: item.reason.clone(),
            })
        })
        .collect::<Result<Vec<_>, InputError>>()?;
    let api = raw
        .kubeadm_api
        .iter()
        .enumerate()
        .map(|(index, rule)| {
            let key = format!("render.kubeadm_api[{index}]");
            let api = KubeadmApi::parse(rule.version.get_ref()).ok_or_else(|| {
                source.invalid(
                    rule.version.span(),
                    format!("{key}.version"),
                    format!("unknown kubeadm API `{}`", rule.version.get_ref()),
                    "use v1beta1, v1beta2, v1beta3 or v1beta4",
                )
            })?;
            Ok((resolve_condition(source, &key, &rule.when)?, api))
        })
        .collect::<Result<Vec<_>, InputError>>()?;
    let sockets = raw
        .cri_socket
        .iter()
        .enumerate()
        .map(|(index, rule)| {
            let key = format!("render.cri_socket[{index}]");
            Ok((resolve_condition(source, &key, &rule.when)?, rule.socket.clone()))
        })
        .collect::<Result<Vec<_>, InputError>>()?;
    Ok(RenderConfig {
        registry: raw.registry.get_ref().clone(),
        lvscare,
        lvscare_dev: raw.lvscare_dev.get_ref().clone(),
        vip: raw.vip.get_ref().clone(),
        pod_subnet: raw.pod_subnet.clone(),
        service_subnet: raw.service_subnet.clone(),
        dns_domain: raw.dns_domain.clone(),
        author: raw.author.clone(),
        env: raw.env.clone(),
        labels: raw.labels.clone(),
        templates,
        cri,
        overrides,
        api,
        sockets,
    })
}
