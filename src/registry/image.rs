//! The one typed image reader: a reference in a registry, an image layout
//! by full reference (`skopeo copy ... oci:DIR:REF`), or the build's own
//! store, read as typed oci-spec documents. Manifests are bounded
//! ([`MAX_MANIFEST`]) before they are read; an index is narrowed to one
//! platform; blobs stop at their descriptor's size and verify against its
//! digest. Save, verify, sync, `COPY --from`, base images and image
//! components all read images through it.

use std::path::PathBuf;

use oci_spec::image::{Descriptor, ImageConfiguration, ImageManifest, MediaType};

use super::client::Client;
use super::error::RegistryError;
use crate::axis::Arch;
use crate::digest::Sha256;
use crate::fetch::Cache;
use crate::oci::{
    Document, DocumentError, MAX_MANIFEST, RefLayout, Store, descriptor_digest, platform_manifest, read_small,
};

/// Where images are read from.
pub enum ImageFrom<'a> {
    /// A repository of a registry; blobs are kept in the verified cache.
    Registry {
        /// The client.
        client: &'a Client,
        /// The API host.
        host: String,
        /// The repository.
        repository: String,
        /// Where blobs are verified and kept.
        cache: &'a Cache,
    },
    /// An OCI layout holding images by full reference; blobs are copied
    /// into the cache once they verify.
    Layout {
        /// The layout.
        layout: &'a RefLayout,
        /// Where blobs are verified and kept.
        cache: &'a Cache,
    },
    /// The build's own store (`out/oci`), by `image:tag`.
    Store(&'a Store),
}

/// A manifest or index as read: its digest, bytes, media type and
/// typed form.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The digest of `bytes`.
    pub digest: Sha256,
    /// The bytes, as served (what a copy must put back).
    pub bytes: Vec<u8>,
    /// The media type it was served or described with.
    pub media_type: MediaType,
    /// The typed document.
    pub document: Document,
}

impl Pulled {
    /// Types `bytes` (named `what` in errors) by their media type.
    fn parse(
        what: &str,
        digest: Sha256,
        bytes: Vec<u8>,
        media_type: MediaType,
    ) -> Result<Pulled, RegistryError> {
        let document = Document::parse(what, &bytes, Some(&media_type))?;
        Ok(Pulled {
            digest,
            bytes,
            media_type,
            document,
        })
    }
}

/// One platform's image manifest.
#[derive(Debug, Clone)]
pub struct PulledImage {
    /// The manifest's digest.
    pub digest: Sha256,
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// The typed manifest.
    pub manifest: ImageManifest,
}

/// Reads images from one place.
pub struct ImageReader<'a> {
    from: ImageFrom<'a>,
}

impl<'a> ImageReader<'a> {
    /// A reader of `from`.
    pub fn new(from: ImageFrom<'a>) -> ImageReader<'a> {
        ImageReader { from }
    }

    /// The manifest or index `reference` names (a tag or digest in a
    /// registry, a full reference in a layout, `image:tag` in the store).
    pub fn document(&self, reference: &str) -> Result<Pulled, RegistryError> {
        match &self.from {
            ImageFrom::Registry {
                client,
                host,
                repository,
                ..
            } => {
                let (bytes, media_type, digest) = client.manifest(host, repository, reference)?;
                let what = format!("{host}/{repository}:{reference}");
                Pulled::parse(&what, digest, bytes, media_type)
            }
            ImageFrom::Layout { layout, .. } => {
                let descriptor = layout
                    .descriptor(reference)
                    .map_err(io(format!("reading {}", layout.root().display())))?
                    .ok_or_else(|| missing(reference, &layout.root().display().to_string()))?;
                self.child(&descriptor)
            }
            ImageFrom::Store(store) => {
                let descriptor = store
                    .index()?
                    .into_iter()
                    .find(|d| crate::oci::ref_name(d) == Some(reference))
                    .ok_or_else(|| missing(reference, &store.root().display().to_string()))?;
                self.child(&descriptor)
            }
        }
    }

    /// The document a descriptor names (an index's manifest).
    pub fn child(&self, descriptor: &Descriptor) -> Result<Pulled, RegistryError> {
        let what = format!("manifest {}", descriptor.digest());
        if descriptor.size() > MAX_MANIFEST {
            return Err(DocumentError::TooLarge {
                what,
                size: descriptor.size(),
                limit: MAX_MANIFEST,
            }
            .into());
        }
        let (digest, bytes, media_type) = match &self.from {
            ImageFrom::Registry {
                client,
                host,
                repository,
                ..
            } => {
                let (bytes, media_type, digest) =
                    client.manifest(host, repository, descriptor.digest().as_ref())?;
                (digest, bytes, media_type)
            }
            ImageFrom::Layout { layout, .. } => {
                let (digest, bytes) = layout
                    .json_blob(descriptor)
                    .map_err(io(format!("reading {what} from {}", layout.root().display())))?;
                (digest, bytes, descriptor.media_type().clone())
            }
            ImageFrom::Store(store) => {
                let digest = descriptor_digest(&what, descriptor)?;
                store.check_blob(&digest, descriptor.size())?;
                let file = std::fs::File::open(store.blob_path(&digest))
                    .map_err(io(format!("reading {what} from {}", store.root().display())))?;
                (digest, read_small(&what, file)?, descriptor.media_type().clone())
            }
        };
        if bytes.len() as u64 != descriptor.size() {
            return Err(RegistryError::Invalid {
                what,
                message: format!("{} bytes, its descriptor says {}", bytes.len(), descriptor.size()),
            });
        }
        Pulled::parse(&what, digest, bytes, media_type)
    }

    /// The linux/`arch` image of `reference`: its manifest, or the
    /// platform's manifest of its index.
    pub fn image(&self, reference: &str, arch: Arch) -> Result<PulledImage, RegistryError> {
        let pulled = self.document(reference)?;
        let pulled = match &pulled.document {
            Document::Manifest(_) => pulled,
            Document::Index(index) => {
                let child = platform_manifest(index, arch).ok_or_else(|| DocumentError::NoPlatform {
                    what: reference.to_string(),
                    arch,
                })?;
                self.child(child)?
            }
        };
        match pulled.document {
            Document::Manifest(manifest) => Ok(PulledImage {
                digest: pulled.digest,
                bytes: pulled.bytes,
                manifest: *manifest,
            }),
            Document::Index(_) => Err(RegistryError::Invalid {
                what: reference.to_string(),
                message: format!("the linux/{arch} entry of its index is another index"),
            }),
        }
    }

    /// The blob a descriptor names, as a verified file; a registry is read
    /// no further than the descriptor's size.
    pub fn blob(&self, descriptor: &Descriptor) -> Result<PathBuf, RegistryError> {
        match &self.from {
            ImageFrom::Registry {
                client,
                host,
                repository,
                cache,
            } => client.fetch_descriptor(host, repository, descriptor, cache),
            ImageFrom::Layout { layout, cache } => {
                let digest = descriptor_digest("a layout blob", descriptor)?;
                if let Some(path) = cache.verified(&digest) {
                    return Ok(path);
                }
                let source = layout.blob_path(&digest);
                let what = format!("copying {} from the image layout", source.display());
                let mut temp = cache.temp_file().map_err(io(what.clone()))?;
                let file = std::fs::File::open(&source).map_err(io(what.clone()))?;
                let mut writer = crate::digest::HashingWriter::new(temp.as_file_mut());
                let limit = descriptor.size();
                let copied = std::io::copy(&mut std::io::Read::take(file, limit + 1), &mut writer)
                    .map_err(io(what.clone()))?;
                let (_, (got, _)) = writer.finish();
                if copied != limit || got != digest {
                    return Err(RegistryError::Digest {
                        what: source.display().to_string(),
                        expected: format!("{digest} ({limit} bytes)"),
                        actual: format!("{got} ({copied} bytes)"),
                    });
                }
                cache.commit(temp, &digest).map_err(io(what))
            }
            ImageFrom::Store(store) => {
                let digest = descriptor_digest("a store blob", descriptor)?;
                store.check_blob(&digest, descriptor.size())?;
                Ok(store.blob_path(&digest))
            }
        }
    }

    /// The image-manifest referrers of `subject` (its SBOM, provenance):
    /// a registry's referrers API or fallback tag, the store's
    /// `index.json`; an image layout by reference keeps none.
    pub fn referrers(&self, subject: &Sha256) -> Result<Vec<Descriptor>, RegistryError> {
        let all = match &self.from {
            ImageFrom::Registry {
                client,
                host,
                repository,
                ..
            } => super::referrers::list(client, host, repository, subject)?,
            ImageFrom::Layout { .. } => Vec::new(),
            ImageFrom::Store(store) => store.referrers(subject)?,
        };
        Ok(all.into_iter().filter(super::referrers::is_manifest).collect())
    }

    /// The verified blob a descriptor names, read whole when it is no
    /// larger than `limit` (a document, not a layer).
    pub fn small_blob(&self, descriptor: &Descriptor, limit: u64) -> Result<Vec<u8>, RegistryError> {
        let what = format!("blob {}", descriptor.digest());
        if descriptor.size() > limit {
            return Err(DocumentError::TooLarge {
                what,
                size: descriptor.size(),
                limit,
            }
            .into());
        }
        let path = self.blob(descriptor)?;
        std::fs::read(&path).map_err(io(format!("reading {what}")))
    }

    /// An image's config, read (bounded) from its verified blob.
    pub fn config(&self, manifest: &ImageManifest) -> Result<ImageConfiguration, RegistryError> {
        let what = format!("config {}", manifest.config().digest());
        if manifest.config().size() > MAX_MANIFEST {
            return Err(DocumentError::TooLarge {
                what,
                size: manifest.config().size(),
                limit: MAX_MANIFEST,
            }
            .into());
        }
        let path = self.blob(manifest.config())?;
        let file = std::fs::File::open(&path).map_err(io(format!("reading {what}")))?;
        let bytes = read_small(&what, file)?;
        serde_json::from_slice(&bytes).map_err(|e| RegistryError::Invalid {
            what,
            message: e.to_string(),
        })
    }
}

fn io(what: String) -> impl Fn(std::io::Error) -> RegistryError {
    move |source| RegistryError::Io {
        what: what.clone(),
        source,
    }
}

fn missing(reference: &str, place: &str) -> RegistryError {
    RegistryError::NotFound {
        reference: reference.to_string(),
        place: place.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stand_ins_are_found_per_platform_and_verified() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(&dir.path().join("cache")).unwrap();
        let layout = RefLayout::at(&dir.path().join("layout"));
        let name = "registry.k8s.io/pause:3.7".to_string();
        layout
            .write_stand_ins(std::slice::from_ref(&name), &[Arch::Amd64, Arch::Arm64])
            .unwrap();
        let reader = ImageReader::new(ImageFrom::Layout {
            layout: &layout,
            cache: &cache,
        });
        let image = reader.image(&name, Arch::Arm64).unwrap();
        assert_eq!(Sha256::of(&image.bytes), image.digest);
        let config = reader.config(&image.manifest).unwrap();
        assert_eq!(config.architecture().to_string(), "arm64");
        assert!(matches!(
            reader.image("registry.k8s.io/pause:3.8", Arch::Arm64),
            Err(RegistryError::NotFound { .. })
        ));
        // Same names, same digests.
        let again = RefLayout::at(&dir.path().join("again"));
        again
            .write_stand_ins(std::slice::from_ref(&name), &[Arch::Amd64, Arch::Arm64])
            .unwrap();
        let other = ImageReader::new(ImageFrom::Layout {
            layout: &again,
            cache: &cache,
        })
        .image(&name, Arch::Arm64)
        .unwrap();
        assert_eq!(image.digest, other.digest);
        // A tampered manifest blob is refused.
        std::fs::write(layout.blob_path(&image.digest), b"{}").unwrap();
        assert!(reader.image(&name, Arch::Arm64).is_err());
    }
}
