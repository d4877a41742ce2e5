//! `matrix verify`: read each selected cell's image back (from the OCI
//! layout a build wrote, or from a registry) and check it against what the
//! matrix promises for that cell and the image contract (`verify`).

use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;

use serde::Serialize;
use thiserror::Error;

use crate::axis::Arch;
use crate::config::Matrix;
use crate::digest::Sha256;
use crate::fetch::Cache;
use crate::oci::Compression;
use crate::oci::{RefName, Store, StoreError};
use crate::plan::PlannedCell;
use crate::progress::{Event, Outcome, Reporter};
use crate::registry::{Client, ImageFrom, ImageReader, RegistryError, Target};
use crate::render::{RenderError, promises};
use crate::verify::{Defect, Expectation, ImageFiles, KubeadmExpectation, check, sbom_defects};

/// Where the images to verify are.
pub enum VerifySource<'a> {
    /// An OCI image layout (`out/oci`).
    Store(PathBuf),
    /// A registry namespace, pulled through the cache.
    Registry {
        /// The client.
        client: &'a Client,
        /// `REG/NS`.
        target: Target,
        /// Where pulled blobs are verified and kept.
        cache: PathBuf,
    },
}

/// One image's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct ImageVerdict {
    /// Image name.
    pub image: String,
    /// Per-arch tag.
    pub tag: String,
    /// Manifest digest, when the image was found.
    pub digest: Option<String>,
    /// Every defect found (none: the image meets the contract).
    pub defects: Vec<Defect>,
}

/// The outcome of `matrix verify --json`.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// Images with no defect.
    pub passed: usize,
    /// Images with defects.
    pub failed: usize,
    /// Every image, in selection order.
    pub images: Vec<ImageVerdict>,
}

/// Why verifying could not start.
#[derive(Debug, Error)]
pub enum VerifyError {
    /// The OCI layout cannot be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The matrix cannot say what the cell should hold.
    #[error("{cell}: {source}")]
    Render {
        /// The cell.
        cell: String,
        /// Why.
        #[source]
        source: RenderError,
    },
    /// The cache for registry pulls cannot be opened.
    #[error("opening the cache {}: {source}", path.display())]
    Cache {
        /// Where.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// What the matrix promises for `planned`.
fn expectation(matrix: &Matrix, planned: &PlannedCell) -> Result<Expectation, VerifyError> {
    let failed = |source| VerifyError::Render {
        cell: planned.cell.to_string(),
        source,
    };
    let (meta, vars, outputs) = promises(matrix, planned).map_err(failed)?;
    let registry = matrix
        .render
        .as_ref()
        .map(|r| r.registry.clone())
        .unwrap_or_default();
    let kubeadm = outputs
        .iter()
        .any(|o| o == "etc/kubeadm.yml")
        .then(|| KubeadmExpectation {
            api: vars.kubeadm_api.to_string(),
            minor: vars.kube_minor,
            kube_version: vars.kube_version.clone(),
            cri_socket: vars.cri_socket.clone(),
            image_repository: registry,
            dns_repository: vars.dns_image_repository.clone(),
        });
    let runtime_env = [
        ("SEALOS_SYS_KUBE_VERSION".to_string(), vars.kube_version.clone()),
        (
            "SEALOS_SYS_SEALOS_VERSION".to_string(),
            planned.cell.sealos.to_string(),
        ),
    ]
    .into();
    Ok(Expectation {
        arch: planned.cell.arch.as_str().to_string(),
        contract: matrix.contract.for_cri(planned.cell.cri),
        labels: meta.labels,
        env: meta.env,
        author: meta.author,
        runtime_env,
        kubeadm,
    })
}

/// A read image: manifest digest, config and layers (path, compression).
struct Pulled {
    digest: Sha256,
    config: oci_spec::image::ImageConfiguration,
    layers: Vec<(PathBuf, Compression)>,
}

/// Verifies every cell's image; a missing or unreadable image is a defect.
pub fn verify(
    matrix: &Matrix,
    cells: &[&PlannedCell],
    source: &VerifySource<'_>,
    reporter: &dyn Reporter,
) -> Result<VerifyReport, VerifyError> {
    let store = match source {
        VerifySource::Store(path) => Some(Store::open_existing(path)?),
        VerifySource::Registry { .. } => None,
    };
    let cache = match source {
        VerifySource::Registry { cache, .. } => {
            Some(Cache::open(cache).map_err(|source| VerifyError::Cache {
                path: cache.clone(),
                source,
            })?)
        }
        VerifySource::Store(_) => None,
    };
    let mut images = Vec::new();
    for planned in cells {
        let expect = expectation(matrix, planned)?;
        let tag = planned.tags.tag.to_string();
        let task = format!("{}:{tag}", planned.image);
        reporter.report(Event::Started {
            task: &task,
            total: None,
        });
        let arch = planned.cell.arch;
        let (reader, reference) = match (source, &store, &cache) {
            (VerifySource::Store(_), Some(store), _) => (
                ImageReader::new(ImageFrom::Store(store)),
                RefName::new(&planned.image, &planned.tags.tag).to_string(),
            ),
            (VerifySource::Registry { client, target, .. }, _, Some(cache)) => (
                ImageReader::new(ImageFrom::Registry {
                    client,
                    host: target.api_host().to_string(),
                    repository: target.repository(&planned.image),
                    cache,
                }),
                tag.clone(),
            ),
            _ => unreachable!("a store or a cache is opened for every source"),
        };
        let pulled = pull(&reader, &reference, arch);
        let verdict = match pulled {
            Ok(pulled) => {
                let mut files = ImageFiles::new();
                let mut defects = Vec::new();
                for (path, compression) in &pulled.layers {
                    let read = File::open(path)
                        .map(BufReader::new)
                        .and_then(|reader| files.apply_layer(reader, *compression));
                    if let Err(error) = read {
                        defects.push(Defect {
                            path: format!("layer {}", path.display()),
                            problem: format!("unreadable: {error}"),
                        });
                    }
                }
                defects.extend(check(&expect, &pulled.config, &files));
                defects.extend(sbom_check(&reader, &pulled.digest, &files, &task));
                ImageVerdict {
                    image: planned.image.clone(),
                    tag: tag.clone(),
                    digest: Some(pulled.digest.to_string()),
                    defects,
                }
            }
            Err(error) => ImageVerdict {
                image: planned.image.clone(),
                tag: tag.clone(),
                digest: None,
                defects: vec![Defect {
                    path: "image".into(),
                    problem: error.to_string(),
                }],
            },
        };
        reporter.report(Event::Finished {
            task: &task,
            outcome: if verdict.defects.is_empty() {
                Outcome::Verified
            } else {
                Outcome::Failed
            },
        });
        images.push(verdict);
    }
    let failed = images.iter().filter(|i| !i.defects.is_empty()).count();
    Ok(VerifyReport {
        passed: images.len() - failed,
        failed,
        images,
    })
}

/// Reads the linux/`arch` image `reference` through the one reader: the
/// manifest typed and bounded, the config bounded, every blob verified.
fn pull(reader: &ImageReader<'_>, reference: &str, arch: Arch) -> Result<Pulled, RegistryError> {
    let image = reader.image(reference, arch)?;
    let config = reader.config(&image.manifest)?;
    let mut layers = Vec::new();
    for layer in image.manifest.layers() {
        layers.push((
            reader.blob(layer)?,
            Compression::of_media_type(layer.media_type()),
        ));
    }
    Ok(Pulled {
        digest: image.digest,
        config,
        layers,
    })
}

/// The image's SBOM against its files: every entry's sha256 must be the
/// file's. Every image this matrix builds has an SBOM referrer, so one
/// without (built before SBOMs, or changed by another tool) fails.
fn sbom_check(reader: &ImageReader<'_>, digest: &Sha256, files: &ImageFiles, name: &str) -> Vec<Defect> {
    match super::sbom::read_sbom(reader, digest, name) {
        Ok(Some(document)) => sbom_defects(&document, files),
        Ok(None) => vec![Defect {
            path: "sbom".into(),
            problem: super::sbom::SbomError::Missing(name.to_string()).to_string(),
        }],
        Err(error) => vec![Defect {
            path: "sbom".into(),
            problem: error.to_string(),
        }],
    }
}
