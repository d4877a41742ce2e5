//! `matrix verify`'s checks: a built rootfs image, read back, against the
//! contract sealos relies on. Each defect names the path (a file of the
//! image, or `config.Labels.init`) and what is wrong. Pure: the pipeline
//! reads the image; this only judges it.

mod files;
pub mod kubeadm;

use std::collections::BTreeMap;

use oci_spec::image::ImageConfiguration;

use crate::oci::Document;
use serde::Serialize;

pub use files::{FileInfo, ImageFiles, Kind};

use crate::config::ContractPart;
use crate::gotmpl::{Options, Value, render_text};

/// One thing wrong with an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Defect {
    /// The image path or config field it concerns.
    pub path: String,
    /// What is wrong.
    pub problem: String,
}

impl Defect {
    fn new(path: impl Into<String>, problem: impl Into<String>) -> Defect {
        Defect {
            path: path.into(),
            problem: problem.into(),
        }
    }
}

/// What the matrix promises for one cell's image.
#[derive(Debug, Clone)]
pub struct Expectation {
    /// `amd64` / `arm64`.
    pub arch: String,
    /// Files, label keys and env keys of the CRI.
    pub contract: ContractPart,
    /// Labels the matrix renders for the cell (exact).
    pub labels: BTreeMap<String, String>,
    /// Env the matrix renders for the cell (exact).
    pub env: BTreeMap<String, String>,
    /// The config author.
    pub author: Option<String>,
    /// Env sealos adds at run time (`SEALOS_SYS_KUBE_VERSION`), for
    /// rendering the image's `.tmpl` files as sealos will.
    pub runtime_env: BTreeMap<String, String>,
    /// kubeadm.yml expectations, when the cell has one.
    pub kubeadm: Option<KubeadmExpectation>,
}

/// What the cell's `etc/kubeadm.yml` must say.
#[derive(Debug, Clone)]
pub struct KubeadmExpectation {
    /// The kubeadm API version (`v1beta3`).
    pub api: String,
    /// The Kubernetes minor (for component config fields).
    pub minor: u64,
    /// `kubernetesVersion` (`v1.24.4`).
    pub kube_version: String,
    /// `nodeRegistration.criSocket`.
    pub cri_socket: String,
    /// `imageRepository` (the node-local registry).
    pub image_repository: String,
    /// `dns.imageRepository`, when kubeadm lists CoreDNS one level down.
    pub dns_repository: Option<String>,
}

/// Where images are saved in the image.
const REGISTRY_ROOT: &str = "registry/docker/registry/v2";
/// The image lists sealos reads.
const SHIM_DIR: &str = "images/shim/";

/// Checks an image's config (the OCI config JSON) and tree against `expect`.
pub fn check(expect: &Expectation, config: &ImageConfiguration, files: &ImageFiles) -> Vec<Defect> {
    let mut defects = Vec::new();
    check_config(expect, config, &mut defects);
    check_tree(expect, files, &mut defects);
    if let Some(kubeadm) = &expect.kubeadm {
        check_kubeadm(kubeadm, files, &mut defects);
    }
    check_templates(expect, files, &mut defects);
    check_scripts(files, &mut defects);
    check_registry(expect, files, &mut defects);
    defects
}

fn check_config(expect: &Expectation, config: &ImageConfiguration, defects: &mut Vec<Defect>) {
    let (arch, os) = (config.architecture().to_string(), config.os().to_string());
    for (field, got, want) in [
        ("architecture", arch.as_str(), expect.arch.as_str()),
        ("os", os.as_str(), "linux"),
    ] {
        if got != want {
            defects.push(Defect::new(
                format!("config.{field}"),
                format!("is `{got}`, the cell is `{want}`"),
            ));
        }
    }
    let meta = crate::oci::ImageConfig::from_oci(config);
    if meta.author != expect.author {
        defects.push(Defect::new(
            "config.author",
            format!("is {:?}, the matrix gives {:?}", meta.author, expect.author),
        ));
    }
    for (what, got, want, required, absent) in [
        (
            "Labels",
            &meta.labels,
            &expect.labels,
            &expect.contract.labels,
            &Vec::new(),
        ),
        (
            "Env",
            &meta.env,
            &expect.env,
            &expect.contract.env,
            &expect.contract.absent_env,
        ),
    ] {
        for key in required {
            if !got.contains_key(key) {
                defects.push(Defect::new(
                    format!("config.{what}.{key}"),
                    "missing: sealos needs it",
                ));
            }
        }
        for key in absent {
            if got.contains_key(key) {
                defects.push(Defect::new(
                    format!("config.{what}.{key}"),
                    "set, but images of this CRI must not carry it",
                ));
            }
        }
        for (key, value) in want {
            match got.get(key) {
                Some(have) if have == value => {}
                Some(have) => defects.push(Defect::new(
                    format!("config.{what}.{key}"),
                    format!("is {have:?}, the matrix gives {value:?}"),
                )),
                None if required.contains(key) => {}
                None => defects.push(Defect::new(
                    format!("config.{what}.{key}"),
                    format!("missing (the matrix gives {value:?})"),
                )),
            }
        }
        for key in got.keys().filter(|k| !want.contains_key(*k)) {
            defects.push(Defect::new(
                format!("config.{what}.{key}"),
                "not in what the matrix renders for this cell",
            ));
        }
    }
}

fn check_tree(expect: &Expectation, files: &ImageFiles, defects: &mut Vec<Defect>) {
    for path in &expect.contract.files {
        match files.get(path) {
            Some(info) if info.kind == Kind::File => {
                let executable = path.starts_with("bin/")
                    || (path.starts_with("scripts/") && path.ends_with(".sh"))
                    || path.starts_with("opt/")
                    || (path.starts_with("cri/") && !path.contains('.'));
                if executable && info.mode & 0o111 == 0 {
                    defects.push(Defect::new(path.clone(), "not executable"));
                }
            }
            Some(_) => defects.push(Defect::new(path.clone(), "not a regular file")),
            None => defects.push(Defect::new(path.clone(), "missing")),
        }
    }
}

fn check_kubeadm(expect: &KubeadmExpectation, files: &ImageFiles, defects: &mut Vec<Defect>) {
    const PATH: &str = "etc/kubeadm.yml";
    let Some(text) = files.text(PATH) else {
        defects.push(Defect::new(PATH, "missing"));
        return;
    };
    for problem in kubeadm::check(&text, &expect.api, expect.minor) {
        defects.push(Defect::new(PATH, problem));
    }
    let docs: Vec<serde_yaml::Value> = serde_yaml::Deserializer::from_str(&text)
        .filter_map(|d| <serde_yaml::Value as serde::Deserialize>::deserialize(d).ok())
        .collect();
    let kind = |k: &str| {
        docs.iter()
            .find(|d| d.get("kind").and_then(|v| v.as_str()) == Some(k))
    };
    let field = |doc: Option<&serde_yaml::Value>, path: &[&str]| -> Option<String> {
        let mut value = doc?;
        for key in path {
            value = value.get(key)?;
        }
        value.as_str().map(str::to_string)
    };
    let mut want = |doc: &str, path: &[&str], expected: Option<&str>| {
        let got = field(kind(doc), path);
        if got.as_deref() != expected {
            defects.push(Defect::new(
                PATH,
                format!("{doc}.{} is {got:?}, the cell needs {expected:?}", path.join(".")),
            ));
        }
    };
    want(
        "InitConfiguration",
        &["nodeRegistration", "criSocket"],
        Some(&expect.cri_socket),
    );
    want(
        "JoinConfiguration",
        &["nodeRegistration", "criSocket"],
        Some(&expect.cri_socket),
    );
    want(
        "ClusterConfiguration",
        &["kubernetesVersion"],
        Some(&expect.kube_version),
    );
    want(
        "ClusterConfiguration",
        &["imageRepository"],
        Some(&expect.image_repository),
    );
    want(
        "ClusterConfiguration",
        &["dns", "imageRepository"],
        expect.dns_repository.as_deref(),
    );
}

/// Values sealos renders `.tmpl` files with: the image env plus what
/// sealos adds at run time.
fn template_data(expect: &Expectation) -> Value {
    let mut data = expect.env.clone();
    data.extend(expect.runtime_env.clone());
    Value::from(data)
}

fn check_templates(expect: &Expectation, files: &ImageFiles, defects: &mut Vec<Defect>) {
    let data = template_data(expect);
    let options = Options {
        max_steps: 1_000_000,
        max_output: 4 << 20,
        ..Options::default()
    };
    for (path, _) in files
        .paths()
        .filter(|(p, f)| p.ends_with(".tmpl") && f.kind == Kind::File)
    {
        if !(path.starts_with("etc/") || path.starts_with("scripts/") || path.starts_with("manifests/")) {
            continue;
        }
        let Some(text) = files.text(path) else {
            defects.push(Defect::new(path, "too large to check"));
            continue;
        };
        match render_text(path, &text, &data, &options) {
            Ok(out) if out.contains("<no value>") => defects.push(Defect::new(
                path,
                "renders `<no value>`: it names a variable the image env does not set",
            )),
            Ok(_) => {}
            Err(error) => defects.push(Defect::new(path, error.to_string())),
        }
    }
}

fn check_scripts(files: &ImageFiles, defects: &mut Vec<Defect>) {
    for (path, _) in files
        .paths()
        .filter(|(p, f)| p.starts_with("scripts/") && p.ends_with(".sh") && f.kind == Kind::File)
    {
        let Some(text) = files.text(path) else {
            continue;
        };
        if let Err(problem) = bash_syntax(&text) {
            defects.push(Defect::new(path, problem.to_string()));
        }
    }
}

/// Why a script fails `bash -n`, or bash could not judge it.
#[derive(Debug, thiserror::Error)]
enum BashCheck {
    /// bash could not be started or waited for.
    #[error("cannot run bash -n: {0}")]
    Run(#[source] std::io::Error),
    /// bash refused the script.
    #[error("bash -n: {0}")]
    Syntax(String),
}

/// `bash -n` on a script's text.
fn bash_syntax(text: &str) -> Result<(), BashCheck> {
    use std::io::Write;
    let mut child = std::process::Command::new("bash")
        .arg("-n")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(BashCheck::Run)?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(text.as_bytes());
    }
    let output = child.wait_with_output().map_err(BashCheck::Run)?;
    if output.status.success() {
        Ok(())
    } else {
        let message = String::from_utf8_lossy(&output.stderr);
        Err(BashCheck::Syntax(message.trim().replace("bash: ", "")))
    }
}

/// The images of `images/shim/*`, one a line.
fn listed_images(files: &ImageFiles) -> Vec<(String, String)> {
    let mut images = Vec::new();
    for (path, _) in files
        .paths()
        .filter(|(p, f)| p.starts_with(SHIM_DIR) && f.kind == Kind::File)
    {
        for line in files.text(path).unwrap_or_default().lines() {
            let image = line.trim().trim_matches(['"', '\'']);
            if !image.is_empty() && !image.starts_with('#') {
                images.push((path.to_string(), image.to_string()));
            }
        }
    }
    images
}

/// What is wrong with a blob of the saved registry.
#[derive(Debug, thiserror::Error)]
enum BlobDefect {
    /// The digest a document names is not sha256.
    #[error("`{0}` is not a sha256 digest")]
    NotSha256(String),
    /// No file at the blob's path.
    #[error("blob {digest} is missing ({path})")]
    Missing {
        /// The digest.
        digest: String,
        /// Where it should be.
        path: String,
    },
    /// The file does not hash to its name.
    #[error("blob {digest} does not match its digest ({path})")]
    Mismatch {
        /// The digest.
        digest: String,
        /// Its path.
        path: String,
    },
}

/// A verified blob of the saved registry: its bytes when small.
fn registry_blob<'f>(files: &'f ImageFiles, digest: &str) -> Result<&'f FileInfo, BlobDefect> {
    let Ok(parsed) = digest.parse::<crate::digest::Sha256>() else {
        return Err(BlobDefect::NotSha256(digest.to_string()));
    };
    let hex = parsed.hex();
    let path = format!("{REGISTRY_ROOT}/blobs/sha256/{}/{hex}/data", &hex[..2]);
    let Some(info) = files.get(&path) else {
        return Err(BlobDefect::Missing {
            digest: digest.to_string(),
            path,
        });
    };
    match &info.digest {
        Some(got) if *got == parsed => Ok(info),
        _ => Err(BlobDefect::Mismatch {
            digest: digest.to_string(),
            path,
        }),
    }
}

/// Why a manifest or index saved in `registry/` cannot be read.
#[derive(Debug, thiserror::Error)]
enum SavedDefect {
    /// Its blob is missing or does not hash to its digest.
    #[error(transparent)]
    Blob(#[from] BlobDefect),
    /// It does not parse as a manifest or index.
    #[error(transparent)]
    Document(#[from] crate::oci::DocumentError),
    /// It is not text.
    #[error("manifest {0} is not JSON")]
    NotJson(String),
}

/// A manifest or index saved in `registry/`, parsed.
fn saved_document(files: &ImageFiles, digest: &str) -> Result<Document, SavedDefect> {
    let saved = registry_blob(files, digest)?;
    let bytes = saved
        .text
        .as_ref()
        .ok_or_else(|| SavedDefect::NotJson(digest.to_string()))?;
    Ok(Document::parse(&format!("manifest {digest}"), bytes, None)?)
}

/// One platform's saved manifest: its config is for `arch` (when known)
/// and every layer is present, hashing to its digest, and linked.
fn check_platform(
    files: &ImageFiles,
    repo: &str,
    manifest: &oci_spec::image::ImageManifest,
    arch: Option<&str>,
    problem: &dyn Fn(String) -> Defect,
    defects: &mut Vec<Defect>,
) {
    let config = manifest.config().digest().to_string();
    match registry_blob(files, &config).map(|info| {
        info.text
            .as_ref()
            .and_then(|bytes| serde_json::from_slice::<ImageConfiguration>(bytes).ok())
    }) {
        Ok(Some(saved)) => {
            let saved_arch = saved.architecture().to_string();
            if let Some(arch) = arch
                && saved_arch != arch
            {
                defects.push(problem(format!(
                    "saved for `{saved_arch}`, the image is `{arch}`"
                )));
            }
        }
        Ok(None) => defects.push(problem(format!("config {config} is not an image config"))),
        Err(defect) => defects.push(problem(defect.to_string())),
    }
    for layer in manifest.layers() {
        let digest = layer.digest().to_string();
        if let Err(defect) = registry_blob(files, &digest) {
            defects.push(problem(defect.to_string()));
        }
        let hex = digest.strip_prefix("sha256:").unwrap_or(&digest);
        if files.get(&format!("{repo}/_layers/sha256/{hex}/link")).is_none() {
            defects.push(problem(format!("layer link of {digest} is missing")));
        }
    }
}

fn check_registry(expect: &Expectation, files: &ImageFiles, defects: &mut Vec<Defect>) {
    let mut pause = None;
    for (list, image) in listed_images(files) {
        let Ok(reference) = image.parse::<crate::registry::ImageRef>() else {
            defects.push(Defect::new(list, format!("`{image}` is not an image reference")));
            continue;
        };
        if reference.repository.ends_with("/pause") || reference.repository == "pause" {
            pause = Some(format!("pause:{}", reference.reference));
        }
        let repo = format!("{REGISTRY_ROOT}/repositories/{}", reference.repository);
        let link = format!("{repo}/_manifests/tags/{}/current/link", reference.reference);
        let problem = |message: String| Defect::new(format!("registry/ ({image})"), message);
        let Some(digest) = files.text(&link) else {
            defects.push(problem(format!("not saved: {link} is missing")));
            continue;
        };
        let digest = digest.trim().to_string();
        let index = match saved_document(files, &digest) {
            Ok(Document::Index(index)) => index,
            Ok(Document::Manifest(manifest)) => {
                check_platform(files, &repo, &manifest, Some(&expect.arch), &problem, defects);
                continue;
            }
            Err(defect) => {
                defects.push(problem(defect.to_string()));
                continue;
            }
        };
        // Saved for every platform: the tag names the index, which must
        // have the image's platform, and each platform it lists (all but
        // attestation entries) must be saved whole.
        let mut own = false;
        for entry in crate::oci::platform_entries(&index) {
            let platform = crate::oci::platform_name(entry);
            let arch = entry.platform().as_ref().map(|p| p.architecture().to_string());
            own |= entry.platform().as_ref().is_some_and(|p| {
                p.os().to_string() == "linux" && p.architecture().to_string() == expect.arch
            });
            let digest = entry.digest().to_string();
            match saved_document(files, &digest) {
                Ok(Document::Manifest(manifest)) => {
                    let problem = |message: String| problem(format!("{platform}: {message}"));
                    check_platform(files, &repo, &manifest, arch.as_deref(), &problem, defects)
                }
                Ok(Document::Index(_)) => defects.push(problem(format!(
                    "the {platform} entry {digest} of its index is another index"
                ))),
                Err(defect) => defects.push(problem(format!("{platform}: {defect}"))),
            }
        }
        if !own {
            defects.push(problem(format!(
                "its index {digest} has no linux/{} manifest",
                expect.arch
            )));
        }
    }
    // The sandbox image the CRI config names must be the listed pause.
    if let (Some(listed), Some(sandbox)) = (pause, expect.env.get("sandboxImage"))
        && &listed != sandbox
    {
        defects.push(Defect::new(
            "config.Env.sandboxImage",
            format!("is {sandbox:?}, but the image list saves {listed:?}"),
        ));
    }
}

/// Every SBOM file entry whose sha256 is not the file's in the image
/// (changed after the build, or missing), named by path.
pub fn sbom_defects(document: &serde_json::Value, files: &ImageFiles) -> Vec<Defect> {
    crate::attest::sbom_files(document)
        .into_iter()
        .filter_map(|(path, want)| {
            let problem = match files.get(&path).and_then(|f| f.digest.as_ref()) {
                None => "listed in the SBOM but not a file in the image".to_string(),
                Some(have) if have.hex() == want => return None,
                Some(have) => format!("SBOM says sha256:{want}, the image has {have}"),
            };
            Some(Defect::new(path, problem))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bash_syntax_errors_are_reported() {
        assert!(bash_syntax("echo ok\n").is_ok());
        let error = bash_syntax("if true; then\n").unwrap_err().to_string();
        assert!(error.contains("syntax error"), "{error}");
    }
}
