//! What a cell needs besides its rendered context: the downloads
//! (`[[component]]` with a `url`) and the files taken out of images
//! (`[[component]]` with an `image`), each component's version and URL
//! resolved for the cell. Pure: decided from matrix.toml and matrix.lock
//! alone, once per cell, before anything is fetched.

use std::collections::BTreeMap;

use serde::Serialize;
use thiserror::Error;

use crate::axis::Arch;
use crate::cell::Cell;
use crate::config::{Component, Matrix, Placement};
use crate::net::SecretUrl;

/// Why a cell's needs cannot be decided.
#[derive(Debug, Error)]
pub enum NeedsError {
    /// No version rule of the component matches the cell.
    #[error(
        "component `{component}`: no version rule matches cell {cell}\n  help: add a version rule covering it in matrix.toml"
    )]
    NoVersion {
        /// Component.
        component: String,
        /// The cell.
        cell: String,
    },
}

/// A cell no version rule covers is matrix.toml's to fix.
impl crate::error::Fault for NeedsError {
    fn is_bad_input(&self) -> bool {
        true
    }
}

/// One file to download for one arch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Artifact {
    /// Component name.
    pub component: String,
    /// Resolved version.
    pub version: String,
    /// Architecture.
    pub arch: Arch,
    /// Upstream URL (before mirrors); written out redacted.
    pub url: SecretUrl,
    /// Upstream checksum file URL, if any.
    pub checksum_url: Option<SecretUrl>,
    /// Where it lands in the context.
    #[serde(skip)]
    pub placement: Placement,
}

impl Artifact {
    /// The key its digest is pinned under in matrix.lock.
    pub fn key(&self) -> String {
        format!("{}/{}/{}", self.component, self.version, self.arch)
    }

    /// A short human name (`kubelet 1.24.4 amd64`).
    pub fn label(&self) -> String {
        format!("{} {} {}", self.component, self.version, self.arch)
    }

    /// The file name at the end of the URL.
    pub fn file_name(&self) -> &str {
        let url = self.url.expose();
        url.rsplit('/').next().unwrap_or(url)
    }
}

/// Files a cell takes out of an image's layers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagePart {
    /// Component name.
    pub component: String,
    /// The image reference (`ghcr.io/labring/sealos-patch:latest-amd64`).
    pub image: String,
    /// Path in the image -> path in the context.
    pub files: BTreeMap<String, String>,
}

/// Everything a cell takes from outside its rendered context.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CellNeeds {
    /// Downloads, in component order.
    pub artifacts: Vec<Artifact>,
    /// Files out of images, in component order.
    pub parts: Vec<ImagePart>,
}

impl CellNeeds {
    /// Resolves every component that applies to `cell`.
    pub fn of(matrix: &Matrix, cell: &Cell) -> Result<CellNeeds, NeedsError> {
        let mut needs = CellNeeds::default();
        for component in matrix.components.iter().filter(|c| c.when.matches(cell)) {
            if let Some(url) = &component.url {
                let (version, values) = template_values(matrix, component, cell)?;
                let url = url.fill(&values.vars());
                let checksum_url = component.checksum.as_ref().map(|template| {
                    let mut with_url = values.vars();
                    with_url.push(("url", url.as_str()));
                    template.fill(&with_url)
                });
                needs.artifacts.push(Artifact {
                    component: component.name.clone(),
                    version,
                    arch: cell.arch,
                    url: url.into(),
                    checksum_url: checksum_url.map(SecretUrl::from),
                    placement: component.placement.clone(),
                });
            }
            if let Some(image) = &component.image {
                let (_, values) = template_values(matrix, component, cell)?;
                let files = match &component.placement {
                    Placement::Extract(files) => files.clone(),
                    _ => BTreeMap::new(),
                };
                needs.parts.push(ImagePart {
                    component: component.name.clone(),
                    image: image.fill(&values.vars()),
                    files,
                });
            }
        }
        Ok(needs)
    }

    /// The download whose text becomes the cell's image list (k3s's
    /// `k3s-images.txt`), if the cell takes its list from one.
    pub fn image_list(&self) -> Option<&Artifact> {
        self.artifacts
            .iter()
            .find(|artifact| artifact.placement == Placement::ImageList)
    }
}

/// Placeholder values of a URL or image template.
struct TemplateValues(Vec<(&'static str, String)>);

impl TemplateValues {
    fn vars(&self) -> Vec<(&str, &str)> {
        self.0.iter().map(|(k, v)| (*k, v.as_str())).collect()
    }
}

/// The version of `component` for `cell` and the placeholder values of its
/// URL or image template.
fn template_values(
    matrix: &Matrix,
    component: &Component,
    cell: &Cell,
) -> Result<(String, TemplateValues), NeedsError> {
    let version = component
        .version(cell, &matrix.lock)
        .ok_or_else(|| NeedsError::NoVersion {
            component: component.name.clone(),
            cell: cell.to_string(),
        })?;
    let uname_arch = match cell.arch {
        Arch::Amd64 => "x86_64",
        Arch::Arm64 => "aarch64",
    };
    let values = vec![
        ("version", version.clone()),
        ("arch", cell.arch.as_str().to_string()),
        ("uname_arch", uname_arch.to_string()),
        ("name", component.name.clone()),
        ("kube", cell.kube.tag_form()),
        ("minor", cell.kube.minor().to_string()),
        ("sealos", cell.sealos.compare_as().to_string()),
        ("cri", cell.cri.as_str().to_string()),
    ];
    Ok((version, TemplateValues(values)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Plan;

    fn needs(matrix: &Matrix, tag: &str, arch: &str) -> CellNeeds {
        let plan = Plan::build(matrix).unwrap();
        let planned = plan
            .select(&tag.parse().unwrap())
            .into_iter()
            .find(|c| c.cell.arch.as_str() == arch)
            .unwrap();
        CellNeeds::of(matrix, &planned.cell).unwrap()
    }

    fn matrix() -> Matrix {
        Matrix::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("matrix.toml")).unwrap()
    }

    #[test]
    fn a_kubeadm_cell_downloads_its_binaries_and_takes_no_list() {
        let matrix = matrix();
        let needs = needs(&matrix, "kubernetes:v1.24.4-4.2.1", "arm64");
        assert!(needs.parts.is_empty());
        assert!(needs.image_list().is_none());
        let kubeadm = &needs.artifacts[0];
        assert_eq!(kubeadm.key(), "kubeadm/1.24.4/arm64");
        assert_eq!(
            kubeadm.url,
            "https://dl.k8s.io/release/v1.24.4/bin/linux/arm64/kubeadm"
        );
        assert_eq!(kubeadm.file_name(), "kubeadm");
    }

    #[test]
    fn a_k3s_cell_takes_its_list_from_its_release() {
        let matrix = matrix();
        let needs = needs(&matrix, "k3s:v1.28.1-4.3.3", "amd64");
        let names: Vec<&str> = needs.artifacts.iter().map(|a| a.component.as_str()).collect();
        assert!(names.contains(&"k3s") && !names.contains(&"kubeadm"), "{names:?}");
        let list = needs.image_list().unwrap();
        assert_eq!(
            list.url,
            "https://github.com/k3s-io/k3s/releases/download/v1.28.1+k3s1/k3s-images.txt"
        );
        assert_eq!(
            list.checksum_url.as_ref().map(SecretUrl::expose),
            Some("https://github.com/k3s-io/k3s/releases/download/v1.28.1+k3s1/sha256sum-amd64.txt")
        );
    }

    #[test]
    fn a_dev_cell_takes_files_out_of_the_patch_image_for_its_arch() {
        let matrix = matrix();
        let plan = Plan::build(&matrix).unwrap();
        let dev = plan
            .cells
            .iter()
            .find(|c| c.cell.sealos.is_dev() && c.cell.arch == Arch::Arm64)
            .unwrap();
        let needs = CellNeeds::of(&matrix, &dev.cell).unwrap();
        assert_eq!(needs.parts.len(), 1);
        assert_eq!(needs.parts[0].image, "ghcr.io/labring/sealos-patch:latest-arm64");
        assert_eq!(
            needs.parts[0].files["images/shim/LvscareImageList"],
            "images/shim/LvscareImageList"
        );
    }
}
