//! Publishing built images from the OCI layout: per-arch manifests first
//! (their blobs: skipped if present, mounted if pushed to a sibling
//! repository this run, else streamed), then indexes, then aliases. A tag
//! that already points at the same digest is left alone, so a re-push
//! sends nothing.

use std::collections::HashMap;

use oci_spec::image::{Descriptor, ImageIndex, ImageManifest, MediaType};
use serde::Serialize;

use crate::digest::Sha256;
use crate::oci::{RefName, Store, manifest_blobs};
use crate::plan::PlannedCell;
use crate::progress::{Event, Outcome, Reporter};
use crate::registry::Target;
use crate::registry::{Client, Referrer, RegistryError, put_referrers};

/// What a push did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct PushReport {
    /// Tags written.
    pub tags_put: usize,
    /// Tags already right.
    pub tags_unchanged: usize,
    /// Blobs uploaded.
    pub blobs_sent: usize,
    /// Bytes uploaded.
    pub bytes_sent: u64,
    /// Blobs the registry had.
    pub blobs_skipped: usize,
    /// Bytes not sent because the registry had them.
    pub bytes_skipped: u64,
    /// Blobs mounted from another repository.
    pub blobs_mounted: usize,
    /// Tags that could not be pushed because they are not built.
    pub not_built: Vec<String>,
    /// Each per-arch and index tag pushed, with the digest it names (what
    /// the ChatOps answer lists).
    pub pushed: Vec<PushedRef>,
}

struct Pusher<'a> {
    client: &'a Client,
    store: &'a Store,
    target: &'a Target,
    /// Where each blob was pushed this run, for cross-repository mounts.
    pushed: HashMap<String, String>,
    report: PushReport,
    reporter: &'a dyn Reporter,
}

/// Pushes the selected cells, their indexes and aliases.
pub fn push(
    client: &Client,
    store: &Store,
    target: &Target,
    cells: &[&PlannedCell],
    reporter: &dyn Reporter,
) -> Result<PushReport, RegistryError> {
    let mut pusher = Pusher::new(client, store, target, reporter);
    let mut manifests: Vec<(&PlannedCell, oci_spec::image::Descriptor)> = Vec::new();
    for cell in cells {
        let name = RefName::new(&cell.image, &cell.tags.tag);
        match store.resolve(&name).map_err(store_error)? {
            Some(descriptor) => manifests.push((cell, descriptor)),
            None => pusher.report.not_built.push(name.to_string()),
        }
    }
    for (cell, descriptor) in &manifests {
        pusher.manifest(
            &target.repository(&cell.image),
            descriptor.digest().as_ref(),
            &[cell.tags.tag.to_string()],
        )?;
        pusher.record(&cell.image, cell.tags.tag.as_str(), descriptor);
    }
    let mut indexes: Vec<(RefName, Vec<String>)> = Vec::new();
    for (cell, _) in &manifests {
        let name = RefName::new(&cell.image, &cell.tags.index_tag);
        if indexes.iter().any(|(known, _)| *known == name) {
            continue;
        }
        let aliases = cell.tags.index_aliases.iter().map(ToString::to_string).collect();
        indexes.push((name, aliases));
    }
    for (name, _) in &indexes {
        if let Some(descriptor) = store.resolve(name).map_err(store_error)? {
            let repository = target.repository(name.image());
            pusher.index(&repository, descriptor.digest().as_ref(), name.tag().as_str())?;
            pusher.record(name.image(), name.tag().as_str(), &descriptor);
        }
    }
    for (cell, descriptor) in &manifests {
        let aliases: Vec<String> = cell.tags.aliases.iter().map(ToString::to_string).collect();
        pusher.tags(
            &target.repository(&cell.image),
            descriptor.digest().as_ref(),
            &aliases,
            &MediaType::ImageManifest,
        )?;
    }
    for (name, aliases) in &indexes {
        if let Some(descriptor) = store.resolve(name).map_err(store_error)? {
            pusher.tags(
                &target.repository(name.image()),
                descriptor.digest().as_ref(),
                aliases,
                &MediaType::ImageIndex,
            )?;
        }
    }
    Ok(pusher.report)
}

/// A tag written by [`push_image`].
#[derive(Debug, Clone, Serialize)]
pub struct PushedRef {
    /// `REGISTRY/NAMESPACE/image:tag`.
    pub reference: String,
    /// Its digest.
    pub digest: String,
}

/// Pushes one image's per-arch tags and its index tag from the store (an
/// application, config or container image).
pub fn push_image(
    client: &Client,
    store: &Store,
    target: &Target,
    image: &str,
    arch_tags: &[crate::tag::Tag],
    index_tag: &crate::tag::Tag,
    reporter: &dyn Reporter,
) -> Result<PushReport, RegistryError> {
    let mut pusher = Pusher::new(client, store, target, reporter);
    let repository = target.repository(image);
    for tag in arch_tags {
        let name = RefName::new(image, tag);
        match store.resolve(&name).map_err(store_error)? {
            Some(descriptor) => {
                pusher.manifest(&repository, descriptor.digest().as_ref(), &[tag.to_string()])?;
                pusher.record(image, tag.as_str(), &descriptor);
            }
            None => pusher.report.not_built.push(name.to_string()),
        }
    }
    if let Some(descriptor) = store
        .resolve(&RefName::new(image, index_tag))
        .map_err(store_error)?
    {
        pusher.index(&repository, descriptor.digest().as_ref(), index_tag.as_str())?;
        pusher.record(image, index_tag.as_str(), &descriptor);
    }
    Ok(pusher.report)
}

fn store_error(error: crate::oci::StoreError) -> RegistryError {
    RegistryError::Invalid {
        what: "the OCI layout".into(),
        message: error.to_string(),
    }
}

impl<'a> Pusher<'a> {
    fn new(client: &'a Client, store: &'a Store, target: &'a Target, reporter: &'a dyn Reporter) -> Self {
        Pusher {
            client,
            store,
            target,
            pushed: HashMap::new(),
            report: PushReport::default(),
            reporter,
        }
    }

    /// Notes a tag pushed (or found right) and the digest it names.
    fn record(&mut self, image: &str, tag: &str, descriptor: &Descriptor) {
        self.report.pushed.push(PushedRef {
            reference: format!("{}/{image}:{tag}", self.target),
            digest: descriptor.digest().to_string(),
        });
    }

    fn host(&self) -> &str {
        self.target.api_host()
    }

    fn blob(&mut self, repository: &str, digest: &str, size: u64) -> Result<(), RegistryError> {
        let task = format!("{repository}@{}", &digest[..digest.len().min(19)]);
        self.reporter.report(Event::Started {
            task: &task,
            total: Some(size),
        });
        let outcome = self.send_blob(repository, digest, size);
        self.reporter.report(Event::Finished {
            task: &task,
            outcome: match &outcome {
                Ok(outcome) => *outcome,
                Err(_) => Outcome::Failed,
            },
        });
        outcome.map(|_| ())
    }

    fn send_blob(&mut self, repository: &str, digest: &str, size: u64) -> Result<Outcome, RegistryError> {
        let outcome;
        if self.client.blob_exists(self.host(), repository, digest)? {
            self.report.blobs_skipped += 1;
            self.report.bytes_skipped += size;
            outcome = Outcome::Present;
        } else if let Some(from) = self
            .pushed
            .get(digest)
            .filter(|from| *from != repository)
            .cloned()
            && self.client.mount_blob(self.host(), repository, digest, &from)?
        {
            self.report.blobs_mounted += 1;
            self.report.bytes_skipped += size;
            outcome = Outcome::Mounted;
        } else {
            let path = self.store.blob_path(&sha(digest)?);
            self.client
                .upload_blob(self.host(), repository, digest, &path, size)?;
            self.report.blobs_sent += 1;
            self.report.bytes_sent += size;
            outcome = Outcome::Pushed;
        }
        self.pushed.insert(digest.to_string(), repository.to_string());
        Ok(outcome)
    }

    /// Pushes a per-arch manifest (blobs first), tags it, then pushes its
    /// referrers (SBOM, provenance) after it.
    fn manifest(&mut self, repository: &str, digest: &str, tags: &[String]) -> Result<(), RegistryError> {
        self.manifest_only(repository, digest, tags)?;
        self.referrers(repository, digest)
    }

    /// Pushes the referrers the store lists for `subject` (their blobs,
    /// then each through the one referrer writer: by digest, and in the
    /// `sha256-<hex>` fallback tag when the registry keeps no list).
    fn referrers(&mut self, repository: &str, subject: &str) -> Result<(), RegistryError> {
        let subject = sha(subject)?;
        let mut referrers = Vec::new();
        for descriptor in self.store.referrers(&subject).map_err(store_error)? {
            let digest = descriptor.digest().to_string();
            let manifest: ImageManifest = self.store.read_json(&sha(&digest)?).map_err(store_error)?;
            for blob in manifest_blobs(&manifest) {
                self.blob(repository, blob.digest().as_ref(), blob.size())?;
            }
            referrers.push(Referrer {
                bytes: self.bytes(&digest)?,
                descriptor,
            });
        }
        if referrers.is_empty() {
            return Ok(());
        }
        put_referrers(self.client, self.host(), repository, &subject, &referrers)
    }

    fn manifest_only(
        &mut self,
        repository: &str,
        digest: &str,
        tags: &[String],
    ) -> Result<(), RegistryError> {
        let manifest: ImageManifest = self.store.read_json(&sha(digest)?).map_err(store_error)?;
        let config = manifest.config();
        self.blob(repository, config.digest().as_ref(), config.size())?;
        for layer in manifest.layers() {
            self.blob(repository, layer.digest().as_ref(), layer.size())?;
        }
        if tags.is_empty() {
            let bytes = self.bytes(digest)?;
            self.client.put_manifest(
                self.host(),
                repository,
                digest,
                &bytes,
                MediaType::ImageManifest.as_ref(),
            )?;
            return Ok(());
        }
        self.tags(repository, digest, tags, &MediaType::ImageManifest)
    }

    fn index(&mut self, repository: &str, digest: &str, tag: &str) -> Result<(), RegistryError> {
        let index: ImageIndex = self.store.read_json(&sha(digest)?).map_err(store_error)?;
        for child in index.manifests() {
            let child_digest = child.digest().to_string();
            if self
                .client
                .manifest_digest(self.host(), repository, &child_digest)?
                .is_none()
            {
                self.manifest(repository, &child_digest, &[])?;
            }
        }
        self.tags(repository, digest, &[tag.to_string()], &MediaType::ImageIndex)
    }

    fn bytes(&self, digest: &str) -> Result<Vec<u8>, RegistryError> {
        std::fs::read(self.store.blob_path(&sha(digest)?)).map_err(|source| RegistryError::Io {
            what: format!("reading {digest}"),
            source,
        })
    }

    /// Points tags at a manifest or index already in the store (the store
    /// writes only OCI manifests and indexes, of the type given).
    fn tags(
        &mut self,
        repository: &str,
        digest: &str,
        tags: &[String],
        media_type: &MediaType,
    ) -> Result<(), RegistryError> {
        let bytes = self.bytes(digest)?;
        let media_type = media_type.to_string();
        for tag in tags {
            if self
                .client
                .manifest_digest(self.host(), repository, tag)?
                .as_deref()
                == Some(digest)
            {
                self.report.tags_unchanged += 1;
                continue;
            }
            self.client
                .put_manifest(self.host(), repository, tag, &bytes, &media_type)?;
            self.report.tags_put += 1;
        }
        Ok(())
    }
}

/// A digest the store wrote, as sha256.
fn sha(digest: &str) -> Result<Sha256, RegistryError> {
    digest
        .parse()
        .map_err(|e: crate::digest::DigestError| RegistryError::Invalid {
            what: format!("digest {digest}"),
            message: e.to_string(),
        })
}
