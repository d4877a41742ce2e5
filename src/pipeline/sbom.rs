//! `matrix sbom`: an image's SBOM, read back through the one image reader
//! (the build's OCI layout or a registry) by its referrers: the manifest
//! whose `subject` is the image and whose `artifactType` is SPDX, found in
//! `index.json`, by the registry's referrers API or its `sha256-<hex>`
//! fallback tag.

use serde::Serialize;
use serde_json::Value;
use thiserror::Error;

use crate::attest::SPDX_MEDIA_TYPE;
use crate::digest::DigestError;
use crate::digest::Sha256;
use crate::oci::{Document, StoreError};
use crate::registry::{ImageFrom, ImageReader, RegistryError, names_subject};

/// The largest SBOM read (a cluster image lists thousands of files).
pub const MAX_SBOM: u64 = 64 * 1024 * 1024;

/// Why an SBOM could not be read.
#[derive(Debug, Error)]
pub enum SbomError {
    /// The layout cannot be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The registry or layout could not be read.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// No such tag in the layout or registry.
    #[error("{0} is not there; build (or push) it first, or name where it is with --from / --registry")]
    NoImage(String),
    /// The tag names an index, not one platform's image.
    #[error("{0} is a multi-arch index; name a per-arch tag (…-amd64, …-arm64)")]
    Index(String),
    /// The image has no SBOM referrer.
    #[error(
        "{0} has no SBOM (an image built before SBOMs, or by another tool): rebuild it with this matrix (`matrix build`) and push it again"
    )]
    Missing(String),
    /// The SBOM blob is not JSON.
    #[error("the SBOM of {image} ({digest}) is not JSON: {message}")]
    Malformed {
        /// The image.
        image: String,
        /// The SBOM blob.
        digest: String,
        /// Why.
        message: String,
    },
    /// A digest in the layout is not sha256.
    #[error(transparent)]
    Digest(#[from] DigestError),
}

impl crate::error::Fault for SbomError {
    fn is_bad_input(&self) -> bool {
        matches!(self, SbomError::NoImage(_) | SbomError::Index(_))
            || matches!(self, SbomError::Store(e) if e.is_bad_input())
    }
}

/// One package row of `matrix sbom --format table`.
#[derive(Debug, Clone, Serialize)]
pub struct SbomRow {
    /// Package name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// Its sha256, hex.
    pub sha256: String,
    /// Where it came from.
    pub location: String,
}

/// The SPDX document of the per-arch image `reference` (`image:tag` in
/// the store, a tag in a registry repository) that `reader` reads;
/// `name` names it in errors.
pub fn sbom(reader: &ImageReader<'_>, reference: &str, name: &str) -> Result<Value, SbomError> {
    let pulled = reader.document(reference).map_err(|error| match error {
        RegistryError::NotFound { .. } | RegistryError::Http { status: 404, .. } => {
            SbomError::NoImage(name.to_string())
        }
        other => other.into(),
    })?;
    if matches!(pulled.document, Document::Index(_)) {
        return Err(SbomError::Index(name.to_string()));
    }
    read_sbom(reader, &pulled.digest, name)?.ok_or_else(|| SbomError::Missing(name.to_string()))
}

/// The SPDX document a referrer of `subject` holds, if one does.
pub fn read_sbom(reader: &ImageReader<'_>, subject: &Sha256, name: &str) -> Result<Option<Value>, SbomError> {
    for referrer in reader.referrers(subject)? {
        let is_sbom = referrer
            .artifact_type()
            .as_ref()
            .is_some_and(|t| t.to_string() == SPDX_MEDIA_TYPE);
        if !is_sbom {
            continue;
        }
        let Document::Manifest(manifest) = reader.child(&referrer)?.document else {
            continue;
        };
        if !names_subject(&manifest, subject) {
            continue;
        }
        if let Some(layer) = manifest.layers().first() {
            let bytes = reader.small_blob(layer, MAX_SBOM)?;
            let document = serde_json::from_slice(&bytes).map_err(|e| SbomError::Malformed {
                image: name.to_string(),
                digest: layer.digest().to_string(),
                message: e.to_string(),
            })?;
            return Ok(Some(document));
        }
    }
    Ok(None)
}

/// The packages of an SPDX document, as table rows.
pub fn sbom_rows(document: &Value) -> Vec<SbomRow> {
    let text = |v: &Value| v.as_str().unwrap_or("").to_string();
    document["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| SbomRow {
            name: text(&p["name"]),
            version: text(&p["versionInfo"]),
            sha256: p["checksums"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| c["algorithm"] == "SHA256")
                .map(|c| text(&c["checksumValue"]))
                .unwrap_or_default(),
            location: text(&p["downloadLocation"]),
        })
        .collect()
}

/// The SBOM of the per-arch image `image:tag` where `source` says: the
/// build's layout, or a registry namespace (pulled through the cache).
pub fn image_sbom(source: &super::VerifySource<'_>, image: &str, tag: &str) -> Result<Value, SbomError> {
    let name = format!("{image}:{tag}");
    match source {
        super::VerifySource::Store(path) => {
            let store = crate::oci::Store::open_existing(path)?;
            sbom(&ImageReader::new(ImageFrom::Store(&store)), &name, &name)
        }
        super::VerifySource::Registry {
            client,
            target,
            cache,
        } => {
            let cache = crate::fetch::Cache::open(cache).map_err(|source| RegistryError::Io {
                what: format!("opening the cache {}", cache.display()),
                source,
            })?;
            let reader = ImageReader::new(ImageFrom::Registry {
                client,
                host: target.api_host().to_string(),
                repository: target.repository(image),
                cache: &cache,
            });
            sbom(&reader, tag, &format!("{target}/{name}"))
        }
    }
}
