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
use crate::config::{CriRender, KubeadmApi, Matrix, RenderConfig};
use crate::context::{Content, Context, ContextError, Entry, Origin};
use crate::lock::KubeadmImages;
use crate::plan::PlannedCell;
use crate::version::KubeVersion;

/// Where the image list goes in the context.
pub const IMAGE_LIST: &str = "images/shim/DefaultImageList";
/// Where the lvscare image is listed on its own, as labring's images do.
pub const LVSCARE_LIST: &str = "images/shim/LvscareImageList";

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
    /// A fetched image list is not a list of image references.
    #[error(
        "the image list from `{component}` is unusable: line {line}: {reason}\n  help: check the component's URL names the release's image list"
    )]
    ImageList {
        /// The component that supplied it.
        component: String,
        /// 1-based line (0 for the whole file).
        line: usize,
        /// What is wrong.
        reason: String,
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

/// A rendered cell: its context and image metadata.
#[derive(Debug, Clone)]
pub struct RenderedCell {
    /// The merged context (runtime files, rendered templates, image lists,
    /// Kubefile).
    pub context: Context,
    /// Labels, env and cmd for the image config.
    pub meta: ImageMeta,
}

impl RenderedCell {
    /// The images its context lists under `images/shim/` ([`shim_images`]).
    pub fn images(&self) -> Result<Vec<String>, RenderError> {
        shim_images(&self.context)
    }
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
    let (config, facts) = config_and_facts(matrix, planned)?;
    let cell = &planned.cell;
    let cri = config
        .cri
        .get(&cell.cri)
        .ok_or(RenderError::NoCriContexts { cri: cell.cri })?;
    let root = matrix.root();
    let mut context = Context::new();
    for name in &cri.contexts {
        context.add_dir(name, &root.join("runtime").join(name), &config.overrides)?;
    }
    let vars = template_vars(config, planned, &facts)?;
    let value = minijinja::Value::from(minijinja::value::Serde(&vars));
    for out in cri.templates.as_ref().unwrap_or(&config.templates) {
        let text = template::render(&template::templates_dir(root), &out.template, &value)?;
        add_generated(
            &mut context,
            &out.to,
            text.into_bytes(),
            Origin::Template(out.template.clone()),
            config,
        )?;
    }
    for (path, entry) in shim_lists(matrix, planned, None)? {
        context.insert(path.to_string(), entry, &config.overrides)?;
    }
    let meta = image_meta(config, planned, &facts, cri);
    add_generated(
        &mut context,
        "Kubefile",
        meta.kubefile().into_bytes(),
        Origin::Generated("Kubefile"),
        config,
    )?;
    context.check_links()?;
    Ok(RenderedCell { context, meta })
}

/// What the matrix promises a cell's image carries, without assembling its
/// context: its metadata, the build-time template values, and the paths its
/// build-time templates write (`etc/kubeadm.yml`).
pub fn promises(
    matrix: &Matrix,
    planned: &PlannedCell,
) -> Result<(ImageMeta, TemplateVars, Vec<String>), RenderError> {
    let (config, facts) = config_and_facts(matrix, planned)?;
    let cri = config
        .cri
        .get(&planned.cell.cri)
        .ok_or(RenderError::NoCriContexts {
            cri: planned.cell.cri,
        })?;
    let vars = template_vars(config, planned, &facts)?;
    let outputs = cri
        .templates
        .as_ref()
        .unwrap_or(&config.templates)
        .iter()
        .map(|out| out.to.clone())
        .collect();
    Ok((image_meta(config, planned, &facts, cri), vars, outputs))
}

/// The `[render]` section and the kubeadm facts of the cell's version.
fn config_and_facts<'m>(
    matrix: &'m Matrix,
    planned: &PlannedCell,
) -> Result<(&'m RenderConfig, KubeadmImages), RenderError> {
    let config = matrix
        .render
        .as_ref()
        .ok_or_else(|| RenderError::NoRenderSection {
            path: matrix.path.clone(),
        })?;
    let kube = &planned.cell.kube;
    let facts = matrix
        .lock
        .kubeadm_images(kube)
        .ok_or_else(|| RenderError::NoKubeadmFacts {
            kube: kube.clone(),
            minor: kube.minor().to_string(),
        })?;
    Ok((config, facts))
}

fn list_bytes(images: &[String]) -> Vec<u8> {
    let mut list = images.join("\n");
    list.push('\n');
    list.into_bytes()
}

/// Most lines a fetched image list may have.
const LIST_LINES: usize = 1_000;
/// Most bytes a fetched image list may have.
pub const IMAGE_LIST_BYTES: usize = 256 * 1024;

/// The image lists the matrix gives a cell under `images/shim/`: in
/// [`IMAGE_LIST`] kubeadm's images for its version, or the images of the
/// list a component supplies (`supplied`: its name and text; k3s's
/// `k3s-images.txt`) without their pause, then the pause of the cell's
/// kubeadm facts (the one the image env names as `sandboxImage`); in
/// [`LVSCARE_LIST`] lvscare alone. A supplied list is untrusted text:
/// bounded, one plain image reference a line.
fn shim_lists(
    matrix: &Matrix,
    planned: &PlannedCell,
    supplied: Option<(&str, &[u8])>,
) -> Result<[(&'static str, Entry); 2], RenderError> {
    let (config, facts) = config_and_facts(matrix, planned)?;
    let (images, origin) = match supplied {
        Some((component, text)) => {
            let mut images = parse_image_list(component, text)?;
            images.push(format!("{}/pause:{}", facts.registry, facts.pause));
            (images, Origin::Artifact(component.to_string()))
        }
        None => (kubeadm_images(planned, &facts), Origin::Generated("image list")),
    };
    let list = |images: &[String], origin| Entry {
        content: Content::Bytes(list_bytes(images)),
        mode: 0o644,
        origin,
    };
    let lvscare = [config.lvscare_image(&planned.cell)];
    Ok([
        (IMAGE_LIST, list(&images, origin)),
        (
            LVSCARE_LIST,
            list(&lvscare, Origin::Generated("lvscare image list")),
        ),
    ])
}

/// Puts the image list a component supplies (see [`shim_lists`]) in place
/// of the rendered one.
pub fn supply_image_list(
    matrix: &Matrix,
    planned: &PlannedCell,
    context: &mut Context,
    component: &str,
    text: &[u8],
) -> Result<(), RenderError> {
    let [(path, entry), _] = shim_lists(matrix, planned, Some((component, text)))?;
    context.replace(path.to_string(), entry);
    Ok(())
}

/// Every image a cell saves into `registry/` (its image lists as the
/// matrix gives them), without assembling its context; `supplied` is the
/// text of a component's image list when the cell takes its list from one
/// (k3s).
pub fn cell_images(
    matrix: &Matrix,
    planned: &PlannedCell,
    supplied: Option<(&str, &[u8])>,
) -> Result<Vec<String>, RenderError> {
    let mut lists = Context::new();
    for (path, entry) in shim_lists(matrix, planned, supplied)? {
        lists.replace(path.to_string(), entry);
    }
    shim_images(&lists)
}

/// The images of an untrusted list, one plain reference a line (comments
/// and blank lines skipped), without its pause images; bounded in bytes and
/// lines.
fn parse_image_list(component: &str, text: &[u8]) -> Result<Vec<String>, RenderError> {
    // Any pause image (`rancher/mirrored-pause:3.6`), as labring drops them.
    let images: Vec<String> = plain_images(component, text)?
        .into_iter()
        .filter(|image| !image.contains("pause:"))
        .collect();
    if images.is_empty() {
        return Err(RenderError::ImageList {
            component: component.to_string(),
            line: 0,
            reason: "it names no image".into(),
        });
    }
    Ok(images)
}

/// Every image of `images/shim/*` in a context, as sealos reads them (one a
/// line, `#` comments and blank lines skipped, quotes removed), in path
/// then line order, without repeats. This decides what a cell saves into
/// `registry/`: whatever put the lists there (the renderer, a component's
/// list, files out of an image).
pub fn shim_images(context: &Context) -> Result<Vec<String>, RenderError> {
    let mut seen = std::collections::HashSet::new();
    let mut images = Vec::new();
    for (path, entry) in context.entries().filter(|(p, _)| p.starts_with("images/shim/")) {
        let mut text = Vec::new();
        Context::open(entry)
            .and_then(|reader| {
                std::io::Read::read_to_end(
                    &mut std::io::Read::take(reader, IMAGE_LIST_BYTES as u64 + 1),
                    &mut text,
                )
            })
            .map_err(|error| RenderError::ImageList {
                component: path.to_string(),
                line: 0,
                reason: error.to_string(),
            })?;
        let unquoted: Vec<u8> = text
            .iter()
            .copied()
            .filter(|b| *b != b'"' && *b != b'\'')
            .collect();
        for image in plain_images(path, &unquoted)? {
            if seen.insert(image.clone()) {
                images.push(image);
            }
        }
    }
    Ok(images)
}

/// The plain image references of an untrusted list, bounded.
fn plain_images(component: &str, text: &[u8]) -> Result<Vec<String>, RenderError> {
    let bad = |line: usize, reason: String| RenderError::ImageList {
        component: component.to_string(),
        line,
        reason,
    };
    if text.len() > IMAGE_LIST_BYTES {
        return Err(bad(
            0,
            format!("{} bytes, more than {IMAGE_LIST_BYTES}", text.len()),
        ));
    }
    let text = std::str::from_utf8(text).map_err(|_| bad(0, "not UTF-8 text".into()))?;
    let mut images = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let image = line.trim();
        if image.is_empty() || image.starts_with('#') {
            continue;
        }
        if index >= LIST_LINES {
            return Err(bad(index + 1, format!("more than {LIST_LINES} lines")));
        }
        let plain = image.len() <= 255
            && !image.starts_with(['-', '.', '/'])
            && image.contains(':')
            && image
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-/:@".contains(&b));
        if !plain {
            return Err(bad(
                index + 1,
                format!("`{}` is not an image reference", image.escape_default()),
            ));
        }
        images.push(image.to_string());
    }
    Ok(images)
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

/// kubeadm's default images for the cell's version (lvscare is listed
/// apart, in [`LVSCARE_LIST`]).
fn kubeadm_images(planned: &PlannedCell, facts: &KubeadmImages) -> Vec<String> {
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
    images
}

fn image_meta(
    config: &RenderConfig,
    planned: &PlannedCell,
    facts: &KubeadmImages,
    cri: &CriRender,
) -> ImageMeta {
    let mut meta = ImageMeta {
        author: config.author.clone(),
        ..ImageMeta::default()
    };
    meta.labels.extend(config.labels.clone());
    meta.labels.extend(cri.labels.clone());
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
        ("criData", cri.data.clone()),
        ("registryDomain", config.registry_domain().to_string()),
        ("registryPort", config.registry_port().to_string()),
        ("defaultVIP", config.vip.clone()),
        ("sandboxImage", format!("pause:{}", facts.pause)),
        ("SEALOS_SYS_CRI_ENDPOINT", cri.endpoint.clone()),
    ];
    for (key, value) in env {
        meta.env.insert(key.to_string(), value);
    }
    meta.env.extend(cri.env.clone());
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

impl crate::error::Fault for RenderError {
    fn is_bad_input(&self) -> bool {
        self.is_usage()
    }
}

#[cfg(test)]
mod tests {
    use super::{RenderError, parse_image_list};

    fn refused(text: &[u8]) -> (usize, String) {
        match parse_image_list("k3s-images", text) {
            Err(RenderError::ImageList { line, reason, .. }) => (line, reason),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn image_lists_drop_pause_and_refuse_what_is_not_an_image() {
        let list =
            b"# k3s images\ndocker.io/rancher/klipper-helm:v0.8.2\n\ndocker.io/rancher/mirrored-pause:3.6\n";
        assert_eq!(
            parse_image_list("k3s-images", list).unwrap(),
            ["docker.io/rancher/klipper-helm:v0.8.2"]
        );
        let (line, reason) = refused(b"docker.io/a:1\n\x1b[31mred:1\n");
        assert_eq!(line, 2);
        assert!(reason.contains("\\u{1b}") && !reason.contains('\x1b'), "{reason}");
        assert_eq!(refused(b"docker.io/a:1\n--flag:1\n").0, 2);
        assert_eq!(refused(b"../../etc/passwd:1\n").0, 1);
        assert_eq!(refused(b"docker.io/no-tag\n").0, 1);
        assert!(
            refused(b"docker.io/rancher/mirrored-pause:3.6\n")
                .1
                .contains("no image")
        );
        assert!(refused(&[0xff, 0xfe]).1.contains("UTF-8"));
        let long = "docker.io/a:1\n".repeat(1_001);
        assert!(refused(long.as_bytes()).1.contains("more than 1000 lines"));
        let huge = vec![b'a'; super::IMAGE_LIST_BYTES + 1];
        assert!(refused(&huge).1.contains("bytes"));
    }
}
