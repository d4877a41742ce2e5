//! Manifests and indexes read back as typed oci-spec values: which kind a
//! document is comes from its media type (the `MediaType` enum, OCI or
//! Docker schema 2), never from a substring; sizes are bounded before a
//! document is read whole; an index is narrowed to one platform.

use std::io::Read;

use oci_spec::image::{Arch as OciArch, Descriptor, ImageIndex, ImageManifest, MediaType, Os};
use serde::Deserialize;
use thiserror::Error;

use crate::axis::Arch;
use crate::digest::Sha256;

/// Largest manifest, index or image config read into memory (the limit
/// containers/image uses for manifests).
pub const MAX_MANIFEST: u64 = 4 << 20;

/// Docker schema 2 image manifest.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker schema 2 manifest list.
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// Why a document cannot be used.
#[derive(Debug, Error)]
pub enum DocumentError {
    /// Larger than a manifest, index or config may be.
    #[error("{what} is {size} bytes or more; a manifest, index or config may be at most {limit}")]
    TooLarge {
        /// The document.
        what: String,
        /// Its size (or the bytes read before stopping).
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// Neither an image manifest nor an index.
    #[error("{what}: media type `{media_type}` is neither an image manifest nor an image index")]
    MediaType {
        /// The document.
        what: String,
        /// Its media type.
        media_type: String,
    },
    /// The JSON does not parse as the kind its media type says.
    #[error("{what}: {message}")]
    Parse {
        /// The document.
        what: String,
        /// The parser's message.
        message: String,
    },
    /// A descriptor's digest is not sha256.
    #[error("{what}: `{digest}` is not a sha256 digest")]
    Digest {
        /// Where it was found.
        what: String,
        /// The digest.
        digest: String,
    },
    /// An index without the platform asked for.
    #[error("{what} has no linux/{arch} manifest")]
    NoPlatform {
        /// The index.
        what: String,
        /// The platform's arch.
        arch: Arch,
    },
    /// Reading failed.
    #[error("reading {what}: {source}")]
    Io {
        /// The document.
        what: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// A manifest or an index.
#[derive(Debug, Clone)]
pub enum Document {
    /// One platform's image.
    Manifest(Box<ImageManifest>),
    /// Several platforms' manifests.
    Index(Box<ImageIndex>),
}

/// The two kinds of document an image reference can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentKind {
    /// An image manifest (OCI, or Docker schema 2).
    Manifest,
    /// An image index (OCI, or a Docker manifest list).
    Index,
}

/// Which kind a media type names, if either.
pub fn document_kind(media_type: &MediaType) -> Option<DocumentKind> {
    match media_type {
        MediaType::ImageManifest => Some(DocumentKind::Manifest),
        MediaType::ImageIndex => Some(DocumentKind::Index),
        MediaType::Other(other) if other == DOCKER_MANIFEST => Some(DocumentKind::Manifest),
        MediaType::Other(other) if other == DOCKER_LIST => Some(DocumentKind::Index),
        _ => None,
    }
}

/// The fields that say what a document is, when no media type came with it.
#[derive(Deserialize)]
struct Shape {
    #[serde(rename = "mediaType")]
    media_type: Option<MediaType>,
    manifests: Option<serde::de::IgnoredAny>,
}

impl Document {
    /// Parses `bytes` as the kind `declared` (a Content-Type or a
    /// descriptor's media type) names, or the document's own `mediaType`,
    /// or, with neither, the shape (`manifests` makes an index).
    pub fn parse(what: &str, bytes: &[u8], declared: Option<&MediaType>) -> Result<Document, DocumentError> {
        let parse_error = |e: serde_json::Error| DocumentError::Parse {
            what: what.to_string(),
            message: e.to_string(),
        };
        let declared =
            declared.filter(|m| !matches!(m, MediaType::Other(o) if o.is_empty() || o == "application/json"));
        let kind = match declared.and_then(document_kind) {
            Some(kind) => kind,
            None => {
                let shape: Shape = serde_json::from_slice(bytes).map_err(parse_error)?;
                match (declared.or(shape.media_type.as_ref()), shape.manifests) {
                    (Some(media_type), _) => {
                        document_kind(media_type).ok_or_else(|| DocumentError::MediaType {
                            what: what.to_string(),
                            media_type: media_type.to_string(),
                        })?
                    }
                    (None, Some(_)) => DocumentKind::Index,
                    (None, None) => DocumentKind::Manifest,
                }
            }
        };
        Ok(match kind {
            DocumentKind::Index => {
                Document::Index(Box::new(serde_json::from_slice(bytes).map_err(parse_error)?))
            }
            DocumentKind::Manifest => {
                Document::Manifest(Box::new(serde_json::from_slice(bytes).map_err(parse_error)?))
            }
        })
    }
}

/// Our arch as oci-spec's.
pub(crate) fn oci_arch(arch: Arch) -> OciArch {
    match arch {
        Arch::Amd64 => OciArch::Amd64,
        Arch::Arm64 => OciArch::ARM64,
    }
}

/// The linux/`arch` manifest of an index.
pub fn platform_manifest(index: &ImageIndex, arch: Arch) -> Option<&Descriptor> {
    let want = oci_arch(arch);
    index.manifests().iter().find(|m| {
        m.platform()
            .as_ref()
            .is_some_and(|p| *p.os() == Os::Linux && *p.architecture() == want)
    })
}

/// The platform images an index lists, in its order: every entry but the
/// `unknown/unknown` ones (buildx's attestation manifests, which describe
/// an image rather than run anywhere).
pub fn platform_entries(index: &ImageIndex) -> impl Iterator<Item = &Descriptor> {
    index.manifests().iter().filter(|m| {
        !m.platform()
            .as_ref()
            .is_some_and(|p| p.os().to_string() == "unknown" && p.architecture().to_string() == "unknown")
    })
}

/// An index entry's platform as `os/arch[/variant]` (`unspecified` when
/// the entry has none).
pub fn platform_name(entry: &Descriptor) -> String {
    match entry.platform() {
        Some(p) => match p.variant() {
            Some(variant) => format!("{}/{}/{variant}", p.os(), p.architecture()),
            None => format!("{}/{}", p.os(), p.architecture()),
        },
        None => "unspecified".to_string(),
    }
}

/// The blobs a manifest names: its config, then its layers in order.
pub fn manifest_blobs(manifest: &ImageManifest) -> impl Iterator<Item = &Descriptor> {
    std::iter::once(manifest.config()).chain(manifest.layers())
}

/// A descriptor's digest as sha256.
pub fn descriptor_digest(what: &str, descriptor: &Descriptor) -> Result<Sha256, DocumentError> {
    let text = descriptor.digest().to_string();
    text.parse().map_err(|_| DocumentError::Digest {
        what: what.to_string(),
        digest: text,
    })
}

/// Reads at most [`MAX_MANIFEST`] bytes; a reader with more is refused
/// without reading the rest.
pub fn read_small(what: &str, reader: impl Read) -> Result<Vec<u8>, DocumentError> {
    let mut bytes = Vec::new();
    reader
        .take(MAX_MANIFEST + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| DocumentError::Io {
            what: what.to_string(),
            source,
        })?;
    if bytes.len() as u64 > MAX_MANIFEST {
        return Err(DocumentError::TooLarge {
            what: what.to_string(),
            size: bytes.len() as u64,
            limit: MAX_MANIFEST,
        });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

    #[test]
    fn attestation_entries_are_not_platforms_and_variants_are_kept() {
        let entry = |platform: &str| {
            format!(
                r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{DIGEST}","size":1,"platform":{platform}}}"#
            )
        };
        let index = format!(
            r#"{{"schemaVersion":2,"manifests":[{},{},{},{}]}}"#,
            entry(r#"{"architecture":"amd64","os":"linux"}"#),
            entry(r#"{"architecture":"arm","os":"linux","variant":"v7"}"#),
            entry(r#"{"architecture":"s390x","os":"linux"}"#),
            entry(r#"{"architecture":"unknown","os":"unknown"}"#),
        );
        let Document::Index(index) = Document::parse("index", index.as_bytes(), None).unwrap() else {
            panic!("an index")
        };
        let names: Vec<String> = platform_entries(&index).map(platform_name).collect();
        assert_eq!(names, ["linux/amd64", "linux/arm/v7", "linux/s390x"]);
    }

    #[test]
    fn the_media_type_decides_the_kind() {
        let list = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_LIST}","manifests":[{{"mediaType":"{DOCKER_MANIFEST}","digest":"{DIGEST}","size":1,"platform":{{"architecture":"arm64","os":"linux"}}}}]}}"#
        );
        let Document::Index(index) = Document::parse("list", list.as_bytes(), None).unwrap() else {
            panic!("a Docker manifest list is an index")
        };
        assert!(platform_manifest(&index, Arch::Arm64).is_some());
        assert!(platform_manifest(&index, Arch::Amd64).is_none());
        assert_eq!(
            platform_entries(&index).map(platform_name).collect::<Vec<_>>(),
            ["linux/arm64"]
        );
        let manifest = format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{DIGEST}","size":2}},"layers":[]}}"#
        );
        let declared = MediaType::ImageManifest;
        assert!(matches!(
            Document::parse("m", manifest.as_bytes(), Some(&declared)).unwrap(),
            Document::Manifest(_)
        ));
        // A media type naming something else is refused, whatever the shape.
        let other = MediaType::ImageConfig;
        assert!(matches!(
            Document::parse("c", manifest.as_bytes(), Some(&other)),
            Err(DocumentError::MediaType { .. })
        ));
    }

    #[test]
    fn a_document_over_the_limit_is_not_read_whole() {
        let endless = std::io::repeat(b' ');
        let error = read_small("endless", endless).unwrap_err();
        assert!(matches!(error, DocumentError::TooLarge { size, .. } if size == MAX_MANIFEST + 1));
    }
}
