//! OCI 1.1 referrers on a registry (an image's SBOM and provenance):
//! listed by the referrers API (`GET /v2/<name>/referrers/<digest>`) or,
//! where a registry has none, by the `sha256-<hex>` fallback index tag;
//! put by digest, and added to that fallback tag when the registry does
//! not keep the list itself. Push and sync both write through [`put`];
//! sync, `matrix sbom --registry` and `verify --registry` read through
//! [`list`].

use oci_spec::image::{Descriptor, ImageIndex, ImageIndexBuilder, MediaType};
use reqwest::Method;
use reqwest::StatusCode;
use reqwest::blocking::Response;
use reqwest::header::{self, HeaderValue};

use super::client::{Client, expect_ok};
use super::error::RegistryError;
use crate::digest::Sha256;
use crate::oci::read_small;

/// Most referrers read for one subject (matrix writes two; signatures and
/// attestations of other tools add a few): a longer list is refused
/// before any is fetched.
pub const MAX_REFERRERS: usize = 1000;

/// The fallback tag that lists the referrers of `subject`.
pub fn fallback_tag(subject: &Sha256) -> String {
    format!("sha256-{}", subject.hex())
}

/// One referrer to put: its descriptor (with `artifactType`) and its
/// manifest's bytes. Its blobs must be in the repository already.
#[derive(Debug, Clone)]
pub struct Referrer {
    /// The manifest's descriptor, as an index lists it.
    pub descriptor: Descriptor,
    /// The manifest's bytes.
    pub bytes: Vec<u8>,
}

/// The referrers of `subject` in `repository`: the referrers API's answer,
/// else the fallback tag's index, else none.
pub fn list(
    client: &Client,
    host: &str,
    repository: &str,
    subject: &Sha256,
) -> Result<Vec<Descriptor>, RegistryError> {
    let path = format!("/v2/{repository}/referrers/{subject}");
    let scope = format!("repository:{repository}:pull");
    let mut request = client.request(Method::GET, host, &path, &scope);
    request.headers.insert(
        header::ACCEPT,
        HeaderValue::from_static("application/vnd.oci.image.index.v1+json"),
    );
    let response = client.send(&request)?;
    // No referrers API (distribution 2.x answers 404): the tag schema.
    if response.status() == StatusCode::NOT_FOUND {
        return fallback(client, host, repository, subject);
    }
    let response = expect_ok(&Method::GET, &client.url(host, &path), response)?;
    index_of(&format!("the referrers of {repository}@{subject}"), response)
        .map(|index| index.manifests().clone())
}

/// The referrers the fallback tag lists (none when there is no such tag).
fn fallback(
    client: &Client,
    host: &str,
    repository: &str,
    subject: &Sha256,
) -> Result<Vec<Descriptor>, RegistryError> {
    let tag = fallback_tag(subject);
    if client.manifest_digest(host, repository, &tag)?.is_none() {
        return Ok(Vec::new());
    }
    let (bytes, _, _) = client.manifest(host, repository, &tag)?;
    parse_index(&format!("the referrers tag {repository}:{tag}"), &bytes)
        .map(|index| index.manifests().clone())
}

fn index_of(what: &str, response: Response) -> Result<ImageIndex, RegistryError> {
    let bytes = read_small(what, response)?;
    parse_index(what, &bytes)
}

fn parse_index(what: &str, bytes: &[u8]) -> Result<ImageIndex, RegistryError> {
    let index: ImageIndex = serde_json::from_slice(bytes).map_err(|e| RegistryError::Invalid {
        what: what.to_string(),
        message: e.to_string(),
    })?;
    if index.manifests().len() > MAX_REFERRERS {
        return Err(RegistryError::Invalid {
            what: what.to_string(),
            message: format!(
                "{} referrers listed, more than the {MAX_REFERRERS} read",
                index.manifests().len()
            ),
        });
    }
    Ok(index)
}

/// Puts `referrers` of `subject` by digest (their blobs already sent);
/// those the registry does not list itself (no `OCI-Subject` answer) are
/// added to the fallback tag's index, which keeps what it listed before
/// and is left alone when it already lists them all.
pub fn put(
    client: &Client,
    host: &str,
    repository: &str,
    subject: &Sha256,
    referrers: &[Referrer],
) -> Result<(), RegistryError> {
    let mut unlisted = Vec::new();
    for referrer in referrers {
        let kept = client.put_manifest_subject(
            host,
            repository,
            referrer.descriptor.digest().as_ref(),
            &referrer.bytes,
            MediaType::ImageManifest.as_ref(),
        )?;
        if !kept {
            unlisted.push(referrer.descriptor.clone());
        }
    }
    if unlisted.is_empty() {
        return Ok(());
    }
    let tag = fallback_tag(subject);
    let mut listed = fallback(client, host, repository, subject)?;
    let before = listed.len();
    for descriptor in unlisted {
        if !listed.iter().any(|d| d.digest() == descriptor.digest()) {
            listed.push(descriptor);
        }
    }
    if listed.len() == before && before > 0 {
        return Ok(());
    }
    let what = || format!("the referrers index {repository}:{tag}");
    let index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(listed)
        .build()
        .map_err(|e| RegistryError::Invalid {
            what: what(),
            message: e.to_string(),
        })?;
    let bytes = serde_json::to_vec(&index).map_err(|e| RegistryError::Invalid {
        what: what(),
        message: e.to_string(),
    })?;
    client.put_manifest(host, repository, &tag, &bytes, MediaType::ImageIndex.as_ref())
}

/// Only referrers that are image manifests are read or copied (an index
/// or anything else a registry lists is not one of ours).
pub fn is_manifest(descriptor: &Descriptor) -> bool {
    descriptor.media_type() == &MediaType::ImageManifest
}

/// Whether a referrer's manifest really names `subject` (a listing may
/// not be trusted to: a referrer of another image is not copied or read).
pub fn names_subject(manifest: &oci_spec::image::ImageManifest, subject: &Sha256) -> bool {
    manifest
        .subject()
        .as_ref()
        .is_some_and(|s| s.digest().as_ref() == subject.to_string())
}
