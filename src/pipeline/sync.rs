//! `matrix sync`: bring a lagging registry level with another, for the
//! planned tags: every tag the source has and the target lacks is copied
//! (index, its manifests, their blobs through the verified cache), and the
//! moving tags (aliases such as `v1.27.1`) are re-pointed where they differ.
//! Versioned tags are reproducible builds, so an existing one is left alone.
//! Each per-arch manifest copied brings its referrers (SBOM, provenance),
//! found on the source by the referrers API or the `sha256-<hex>` tag and
//! written the way push writes them; a per-arch tag the target already
//! has at the same digest gets the referrers it lacks.

use std::collections::{BTreeSet, HashSet};

use serde::Serialize;

use crate::fetch::Cache;
use crate::plan::PlannedCell;
use crate::progress::{Event, Outcome, Reporter};
use oci_spec::image::Descriptor;

use crate::digest::Sha256;
use crate::oci::{Document, manifest_blobs};
use crate::registry::{
    Client, ImageFrom, ImageReader, Referrer, RegistryError, Target, list_referrers, names_subject,
    put_referrers,
};

/// What a sync did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct SyncReport {
    /// Tags written on the target.
    pub tags_copied: usize,
    /// Tags the target already had right.
    pub tags_unchanged: usize,
    /// Planned tags the source does not have either.
    pub tags_absent: usize,
    /// Blobs uploaded.
    pub blobs_sent: usize,
    /// Bytes uploaded.
    pub bytes_sent: u64,
    /// Blobs the target had.
    pub blobs_skipped: usize,
    /// Referrers (SBOM, provenance) written on the target.
    pub referrers_copied: usize,
}

struct Syncer<'a> {
    client: &'a Client,
    from: &'a Target,
    to: &'a Target,
    cache: &'a Cache,
    /// Manifests known to be on the target (repository, digest).
    present: HashSet<(String, String)>,
    report: SyncReport,
    reporter: &'a dyn Reporter,
}

/// Copies what `to` lacks of the planned tags of `cells` from `from`.
pub fn sync(
    client: &Client,
    from: &Target,
    to: &Target,
    cells: &[&PlannedCell],
    cache: &Cache,
    reporter: &dyn Reporter,
) -> Result<SyncReport, RegistryError> {
    let mut syncer = Syncer {
        client,
        from,
        to,
        cache,
        present: HashSet::new(),
        report: SyncReport::default(),
        reporter,
    };
    let mut images: BTreeSet<&str> = BTreeSet::new();
    for cell in cells {
        images.insert(cell.image.as_str());
    }
    for image in images {
        let mine: Vec<&&PlannedCell> = cells.iter().filter(|c| c.image == image).collect();
        let mut fixed: BTreeSet<String> = BTreeSet::new();
        let mut moving: BTreeSet<String> = BTreeSet::new();
        let mut per_arch: BTreeSet<String> = BTreeSet::new();
        for cell in &mine {
            per_arch.insert(cell.tags.tag.to_string());
            fixed.insert(cell.tags.tag.to_string());
            fixed.insert(cell.tags.index_tag.to_string());
            moving.extend(cell.tags.aliases.iter().map(ToString::to_string));
            moving.extend(cell.tags.index_aliases.iter().map(ToString::to_string));
        }
        let source_repo = from.repository(image);
        let target_repo = to.repository(image);
        let source: BTreeSet<String> = client.tags(from.api_host(), &source_repo)?.into_iter().collect();
        let target: BTreeSet<String> = client.tags(to.api_host(), &target_repo)?.into_iter().collect();
        for tag in fixed.iter().chain(&moving) {
            if !source.contains(tag) {
                syncer.report.tags_absent += 1;
                continue;
            }
            let check = moving.contains(tag) && target.contains(tag);
            if target.contains(tag) && !check {
                syncer.report.tags_unchanged += 1;
                if per_arch.contains(tag) {
                    syncer.missing_referrers(&source_repo, &target_repo, tag)?;
                }
                continue;
            }
            syncer.tag(&source_repo, &target_repo, tag, check)?;
        }
    }
    Ok(syncer.report)
}

impl Syncer<'_> {
    /// A reader of `repository` on the source.
    fn reader(&self, repository: &str) -> ImageReader<'_> {
        ImageReader::new(ImageFrom::Registry {
            client: self.client,
            host: self.from.api_host().to_string(),
            repository: repository.to_string(),
            cache: self.cache,
        })
    }

    /// Copies one tag; with `check`, only if the target's digest differs.
    fn tag(
        &mut self,
        source_repo: &str,
        target_repo: &str,
        tag: &str,
        check: bool,
    ) -> Result<(), RegistryError> {
        let pulled = self.reader(source_repo).document(tag)?;
        if check
            && self
                .client
                .manifest_digest(self.to.api_host(), target_repo, tag)?
                .as_deref()
                == Some(pulled.digest.to_string().as_str())
        {
            self.report.tags_unchanged += 1;
            return Ok(());
        }
        self.content(source_repo, target_repo, &pulled.document)?;
        self.client.put_manifest(
            self.to.api_host(),
            target_repo,
            tag,
            &pulled.bytes,
            pulled.media_type.as_ref(),
        )?;
        // A manifest an index brought this run brought its referrers too.
        let fresh = self
            .present
            .insert((target_repo.to_string(), pulled.digest.to_string()));
        self.report.tags_copied += 1;
        if fresh && matches!(pulled.document, Document::Manifest(_)) {
            self.referrers(source_repo, target_repo, &pulled.digest)?;
        }
        Ok(())
    }

    /// Makes sure everything a manifest or index refers to is on the target.
    fn content(
        &mut self,
        source_repo: &str,
        target_repo: &str,
        document: &Document,
    ) -> Result<(), RegistryError> {
        let manifest = match document {
            Document::Manifest(manifest) => manifest,
            Document::Index(index) => {
                for child in index.manifests() {
                    let digest = child.digest().to_string();
                    let key = (target_repo.to_string(), digest.clone());
                    if self.present.contains(&key) {
                        continue;
                    }
                    if self
                        .client
                        .manifest_digest(self.to.api_host(), target_repo, &digest)?
                        .is_none()
                    {
                        let pulled = self.reader(source_repo).child(child)?;
                        self.content(source_repo, target_repo, &pulled.document)?;
                        self.client.put_manifest(
                            self.to.api_host(),
                            target_repo,
                            &digest,
                            &pulled.bytes,
                            pulled.media_type.as_ref(),
                        )?;
                        if matches!(pulled.document, Document::Manifest(_)) {
                            self.referrers(source_repo, target_repo, &pulled.digest)?;
                        }
                    }
                    self.present.insert(key);
                }
                return Ok(());
            }
        };
        for blob in manifest_blobs(manifest) {
            self.blob(source_repo, target_repo, blob)?;
        }
        Ok(())
    }

    /// Copies the referrers (SBOM, provenance) the source lists for a
    /// manifest just copied: their blobs, then through push's referrer
    /// writer (by digest, and the fallback tag where the target keeps no
    /// list). A listed referrer that names another subject is not copied.
    fn referrers(
        &mut self,
        source_repo: &str,
        target_repo: &str,
        subject: &Sha256,
    ) -> Result<(), RegistryError> {
        self.referrers_but(source_repo, target_repo, subject, &HashSet::new())
    }

    /// An image whose per-arch tag the target already has (synced before
    /// referrers were, or copied by another tool) gets the referrers the
    /// source lists and the target lacks; a tag whose digest differs is
    /// left alone, as its image is.
    fn missing_referrers(
        &mut self,
        source_repo: &str,
        target_repo: &str,
        tag: &str,
    ) -> Result<(), RegistryError> {
        let Some(digest) = self
            .client
            .manifest_digest(self.from.api_host(), source_repo, tag)?
        else {
            return Ok(());
        };
        if self
            .client
            .manifest_digest(self.to.api_host(), target_repo, tag)?
            .as_deref()
            != Some(digest.as_str())
        {
            return Ok(());
        }
        let subject: Sha256 =
            digest
                .parse()
                .map_err(|e: crate::digest::DigestError| RegistryError::Invalid {
                    what: format!("the digest of {source_repo}:{tag}"),
                    message: e.to_string(),
                })?;
        let have: HashSet<String> = list_referrers(self.client, self.to.api_host(), target_repo, &subject)?
            .iter()
            .map(|d| d.digest().to_string())
            .collect();
        self.referrers_but(source_repo, target_repo, &subject, &have)
    }

    /// Copies the referrers of `subject` the source lists, but those in
    /// `have` (already on the target).
    fn referrers_but(
        &mut self,
        source_repo: &str,
        target_repo: &str,
        subject: &Sha256,
        have: &HashSet<String>,
    ) -> Result<(), RegistryError> {
        let mut found = Vec::new();
        {
            let reader = self.reader(source_repo);
            let listed = reader.referrers(subject)?;
            for descriptor in listed
                .into_iter()
                .filter(|d| !have.contains(&d.digest().to_string()))
            {
                let pulled = reader.child(&descriptor)?;
                if let Document::Manifest(manifest) = pulled.document
                    && names_subject(&manifest, subject)
                {
                    found.push((descriptor, pulled.bytes, manifest));
                }
            }
        }
        let mut referrers = Vec::new();
        for (descriptor, bytes, manifest) in found {
            for blob in manifest_blobs(&manifest) {
                self.blob(source_repo, target_repo, blob)?;
            }
            referrers.push(Referrer { descriptor, bytes });
        }
        if referrers.is_empty() {
            return Ok(());
        }
        put_referrers(self.client, self.to.api_host(), target_repo, subject, &referrers)?;
        self.report.referrers_copied += referrers.len();
        Ok(())
    }

    fn blob(
        &mut self,
        source_repo: &str,
        target_repo: &str,
        descriptor: &Descriptor,
    ) -> Result<(), RegistryError> {
        let digest = descriptor.digest().to_string();
        if self
            .client
            .blob_exists(self.to.api_host(), target_repo, &digest)?
        {
            self.report.blobs_skipped += 1;
            return Ok(());
        }
        let task = format!("{target_repo}@{}", &digest[..digest.len().min(19)]);
        self.reporter.report(Event::Started {
            task: &task,
            total: None,
        });
        let path = self.reader(source_repo).blob(descriptor)?;
        let size = descriptor.size();
        let sent = self
            .client
            .upload_blob(self.to.api_host(), target_repo, &digest, &path, size);
        self.reporter.report(Event::Finished {
            task: &task,
            outcome: if sent.is_ok() {
                Outcome::Pushed
            } else {
                Outcome::Failed
            },
        });
        sent?;
        self.report.blobs_sent += 1;
        self.report.bytes_sent += size;
        Ok(())
    }
}
