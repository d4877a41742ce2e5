//! `matrix sbom`: an image's SBOM, read back from the OCI layout through
//! its referrers (the manifest whose `subject` is the image and whose
//! `artifactType` is SPDX).

use serde::Serialize;
use serde_json::Value;
use thiserror::Error;

use crate::attest::SPDX_MEDIA_TYPE;
use crate::digest::{DigestError, Sha256};
use crate::oci::{RefName, Store, StoreError};

/// Why an SBOM could not be read.
#[derive(Debug, Error)]
pub enum SbomError {
    /// The layout cannot be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No such tag in the layout.
    #[error("{0} is not in the layout; build it first or pass --from")]
    NoImage(String),
    /// The tag names an index, not one platform's image.
    #[error("{0} is a multi-arch index; name a per-arch tag (…-amd64, …-arm64)")]
    Index(String),
    /// The image has no SBOM referrer.
    #[error("{0} has no SBOM (an image built before SBOMs were written: build it again)")]
    Missing(String),
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

/// The SPDX document of the image `name` in `store`.
pub fn sbom(store: &Store, name: &RefName) -> Result<Value, SbomError> {
    let descriptor = store
        .resolve(name)?
        .ok_or_else(|| SbomError::NoImage(name.to_string()))?;
    if descriptor.media_type() != &oci_spec::image::MediaType::ImageManifest {
        return Err(SbomError::Index(name.to_string()));
    }
    let digest: Sha256 = descriptor.digest().to_string().parse()?;
    read_sbom(store, &digest)?.ok_or_else(|| SbomError::Missing(name.to_string()))
}

/// The SPDX document a referrer of `subject` holds, if one does.
pub fn read_sbom(store: &Store, subject: &Sha256) -> Result<Option<Value>, SbomError> {
    for referrer in store.referrers(subject)? {
        let is_sbom = referrer
            .artifact_type()
            .as_ref()
            .is_some_and(|t| t.to_string() == SPDX_MEDIA_TYPE);
        if !is_sbom {
            continue;
        }
        let manifest: oci_spec::image::ImageManifest =
            store.read_json(&referrer.digest().to_string().parse()?)?;
        if let Some(layer) = manifest.layers().first() {
            return Ok(Some(store.read_json(&layer.digest().to_string().parse()?)?));
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
