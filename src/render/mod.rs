//! Rendering one cell into its build context: the runtime contexts of its
//! CRI merged in order, the build-time templates (kubeadm.yml), the image
//! list and the Kubefile, each file with its origin. Binaries (fetch) and
//! saved registry images (registry) are added by later stages.

mod meta;
mod template;

use std::path::{Path, PathBuf};

use serde::Serialize;
use thiserror::Error;

pub use meta::{ImageMeta, Kubefile};

use crate::axis::Cri;
use crate::config::{KubeadmApi, Matrix, RenderConfig};
use crate::context::{Content, Context, ContextError, Entry, Origin};
use crate::lock::KubeadmImages;
use crate::plan::PlannedCell;
use crate::version::KubeVersion;

/// Where the image list goes in the context.
pub const IMAGE_LIST: &str = "images/shim/DefaultImageList";

/// Why a cell could not be rendered.
#[derive(Debug, Error)]
pub enum RenderError {
    /// matrix.toml has no `[render]` section.
    #[error("{} has no [render] section\n  help: add one (see the matrix.toml reference in README.md)", path.display())]
    NoRenderSection {
        /// matrix.toml.
        path: PathBuf,
    },
    /// The CRI has no `[render.cri.X]` table.
    #[error(
        "no [render.cri.{cri}] in matrix.toml, so {cri} cells have no runtime contexts\n  help: add contexts, data and endpoint for {cri}"
    )]
    NoCriContexts {
        /// The CRI.
        cri: Cri,
    },
    /// matrix.lock lacks kubeadm facts for the minor.
    #[error(
        "matrix.lock has no [kubeadm.\"{minor}\"] facts, so the image list of {kube} is unknown\n  help: add registry, pause, etcd and coredns for {minor}"
    )]
    NoKubeadmFacts {
        /// The version.
        kube: KubeVersion,
        /// Its minor.
        minor: String,
    },
    /// No rule gives the cell a kubeadm apiVersion or criSocket.
    #[error("cell {cell}: no [[render.{what}]] rule matches\n  help: add a rule whose `when` covers it")]
    NoRule {
        /// The cell.
        cell: String,
        /// `kubeadm_api` or `cri_socket`.
        what: &'static str,
    },
    /// A template file could not be read.
    #[error("cannot read template {}: {source}", path.display())]
    ReadTemplate {
        /// The template.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A template uses a variable the cell does not define.
    #[error("{}:{line}: undefined variable `{variable}`\n  help: use one of the variables listed in README.md (templates)", template.display())]
    UndefinedVariable {
        /// The template.
        template: PathBuf,
        /// 1-based line (0 if unknown).
        line: usize,
        /// The variable.
        variable: String,
    },
    /// A template failed to parse or render.
    #[error("{}:{line}: {message}", template.display())]
    Template {
        /// The template.
        template: PathBuf,
        /// 1-based line (0 if unknown).
        line: usize,
        /// minijinja's message.
        message: String,
    },
    /// Merging contexts failed.
    #[error(transparent)]
    Context(#[from] ContextError),
}

impl RenderError {
    /// True when the fix is in the user's input (matrix.toml, templates,
    /// runtime contexts) rather than the machine.
    pub fn is_usage(&self) -> bool {
        !matches!(
            self,
            RenderError::ReadTemplate { .. }
                | RenderError::Context(ContextError::Read { .. } | ContextError::Write { .. })
        )
    }
}

/// A rendered cell: its context, image metadata and image list.
#[derive(Debug, Clone)]
pub struct RenderedCell {
    /// The merged context (runtime files, rendered templates, Kubefile).
    pub context: Context,
    /// Labels, env and cmd for the image config.
    pub meta: ImageMeta,
    /// Images to save into `registry/`, in list order.
    pub images: Vec<String>,
}

/// The variables build-time templates see.
#[derive(Debug, Clone, Serialize)]
pub struct TemplateVars {
    /// `v1.24.4`.
    pub kube_version: String,
    /// Minor number (`24`), for version conditions in templates.
    pub kube_minor: u64,
    /// `v1beta3`.
    pub kubeadm_api: &'static str,
    /// `containerd`, `docker`, ...
    pub cri: &'static str,
    /// kubeadm criSocket.
    pub cri_socket: String,
    /// kubeadm imageRepository: the node-local registry.
    pub image_repository: String,
    /// `dns.imageRepository`, set when CoreDNS lives under `coredns/`.
    pub dns_image_repository: Option<String>,
    /// Pause image tag (`3.7`).
    pub pause: String,
    /// Pod network CIDR.
    pub pod_subnet: String,
    /// Service network CIDR.
    pub service_subnet: String,
    /// Cluster DNS domain.
    pub dns_domain: String,
    /// API server virtual IP.
    pub vip: String,
}

/// Renders one planned cell. Pure apart from reading runtime/ and templates/.
pub fn render_cell(matrix: &Matrix, planned: &PlannedCell) -> Result<RenderedCell, RenderError> {
    let config = matrix
        .render
        .as_ref()
        .ok_or_else(|| RenderError::NoRenderSection {
            path: matrix.path.clone(),
        })?;
    let cell = &planned.cell;
    let cri = config
        .cri
        .get(&cell.cri)
        .ok_or(RenderError::NoCriContexts { cri: cell.cri })?;
    let facts = matrix
        .lock
        .kubeadm_images(&cell.kube)
        .ok_or_else(|| RenderError::NoKubeadmFacts {
            kube: cell.kube.clone(),
            minor: cell.kube.minor().to_string(),
        })?;
    let root = matrix.root();
    let mut context = Context::new();
    for name in &cri.contexts {
        context.add_dir(name, &root.join("runtime").join(name), &config.overrides)?;
    }
    let vars = template_vars(config, planned, &facts)?;
    let value = minijinja::Value::from(minijinja::value::Serde(&vars));
    for out in &config.templates {
        let text = template::render(&template::templates_dir(root), &out.template, &value)?;
        add_generated(
            &mut context,
            &out.to,
            text.into_bytes(),
            Origin::Template(out.template.clone()),
            config,
        )?;
    }
    let images = image_list(config, planned, &facts);
    let mut list = images.join("\n");
    list.push('\n');
    add_generated(
        &mut context,
        IMAGE_LIST,
        list.into_bytes(),
        Origin::Generated("image list"),
        config,
    )?;
    let meta = image_meta(config, planned, &facts, &cri.data, &cri.endpoint);
    add_generated(
        &mut context,
        "Kubefile",
        meta.kubefile().into_bytes(),
        Origin::Generated("Kubefile"),
        config,
    )?;
    context.check_links()?;
    Ok(RenderedCell {
        context,
        meta,
        images,
    })
}

fn add_generated(
    context: &mut Context,
    path: &str,
    bytes: Vec<u8>,
    origin: Origin,
    config: &RenderConfig,
) -> Result<(), ContextError> {
    let entry = Entry {
        content: Content::Bytes(bytes),
        mode: 0o644,
        origin,
    };
    context.insert(path.to_string(), entry, &config.overrides)
}

fn template_vars(
    config: &RenderConfig,
    planned: &PlannedCell,
    facts: &KubeadmImages,
) -> Result<TemplateVars, RenderError> {
    let cell = &planned.cell;
    let api: KubeadmApi = config.kubeadm_api(cell).ok_or_else(|| RenderError::NoRule {
        cell: cell.to_string(),
        what: "kubeadm_api",
    })?;
    let socket = config.cri_socket(cell).ok_or_else(|| RenderError::NoRule {
        cell: cell.to_string(),
        what: "cri_socket",
    })?;
    let dns_image_repository = facts
        .coredns
        .starts_with("coredns/")
        .then(|| format!("{}/coredns", config.registry));
    Ok(TemplateVars {
        kube_version: cell.kube.to_string(),
        kube_minor: cell.kube.minor().minor,
        kubeadm_api: api.as_str(),
        cri: cell.cri.as_str(),
        cri_socket: socket.to_string(),
        image_repository: config.registry.clone(),
        dns_image_repository,
        pause: facts.pause.clone(),
        pod_subnet: config.pod_subnet.clone(),
        service_subnet: config.service_subnet.clone(),
        dns_domain: config.dns_domain.clone(),
        vip: config.vip.clone(),
    })
}

/// kubeadm's default images for the cell's version, plus lvscare.
pub fn image_list(config: &RenderConfig, planned: &PlannedCell, facts: &KubeadmImages) -> Vec<String> {
    let kube = planned.cell.kube.to_string();
    let registry = &facts.registry;
    let mut images: Vec<String> = [
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kube-proxy",
    ]
    .iter()
    .map(|name| format!("{registry}/{name}:{kube}"))
    .collect();
    images.push(format!("{registry}/pause:{}", facts.pause));
    images.push(format!("{registry}/etcd:{}", facts.etcd));
    images.push(format!("{registry}/{}", facts.coredns));
    images.push(config.lvscare_image(&planned.cell));
    images
}

fn image_meta(
    config: &RenderConfig,
    planned: &PlannedCell,
    facts: &KubeadmImages,
    cri_data: &str,
    cri_endpoint: &str,
) -> ImageMeta {
    let mut meta = ImageMeta::default();
    meta.labels.extend(config.labels.clone());
    let computed = [
        ("sealos.io.type", "rootfs".to_string()),
        ("sealos.io.version", "v1beta1".to_string()),
        ("version", planned.cell.kube.to_string()),
        ("image", config.lvscare_image(&planned.cell)),
    ];
    for (key, value) in computed {
        meta.labels.insert(key.to_string(), value);
    }
    meta.env.extend(config.env.clone());
    let env = [
        ("criData", cri_data.to_string()),
        ("registryDomain", config.registry_domain().to_string()),
        ("registryPort", config.registry_port().to_string()),
        ("defaultVIP", config.vip.clone()),
        ("sandboxImage", format!("pause:{}", facts.pause)),
        ("SEALOS_SYS_CRI_ENDPOINT", cri_endpoint.to_string()),
    ];
    for (key, value) in env {
        meta.env.insert(key.to_string(), value);
    }
    meta
}

impl Matrix {
    /// The folder holding matrix.toml, runtime/ and templates/.
    pub fn root(&self) -> &Path {
        self.path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
    }
}
