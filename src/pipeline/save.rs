//! The registry stage of a build: pull the images of a cell's image list
//! for its platform and lay them out as a docker "distribution" storage
//! tree under `registry/`, which the node-local registry serves as is.
//! Each blob is downloaded once (content-addressed cache), whatever the
//! number of cells and arches sharing it.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use crate::axis::Arch;
use crate::context::ContextError;
use crate::context::{Content, Context, Entry, Origin};
use crate::digest::Sha256;
use crate::fetch::Cache;
use crate::oci::{Compression, ImageConfig, LayerDesc, RefLayout, descriptor_digest, manifest_blobs};
use crate::progress::{Event, Outcome, Reporter};
use crate::registry::{Client, RegistryError};
use crate::registry::{ImageFrom, ImageReader};
use crate::registry::{ImageMirror, ImageRef, pull_source};
use oci_spec::image::{Descriptor, ImageConfiguration, ImageManifest};
use thiserror::Error;

/// Root of the distribution tree inside the image.
pub const REGISTRY_ROOT: &str = "registry/docker/registry/v2";

/// Pulls images for recipes: the ones saved into `registry/`, and bases.
pub trait ImageSaver: Sync {
    /// Adds the distribution-layout files of `images` for `arch`.
    fn save(&self, images: &[String], arch: Arch, context: &mut Context) -> Result<(), SaveError>;

    /// Pulls `image` for `arch` as a base: its layers (verified, in the
    /// cache) and its config.
    fn base(&self, image: &str, arch: Arch) -> Result<BaseImage, SaveError>;
}

/// A pulled base image for one platform.
#[derive(Debug, Clone)]
pub struct BaseImage {
    /// Its manifest's digest (this platform's).
    pub digest: Sha256,
    /// Its layers in order.
    pub layers: Vec<BaseLayer>,
    /// Its labels, env, cmd and author.
    pub config: ImageConfig,
}

/// One layer of a base image, a verified blob in the cache.
#[derive(Debug, Clone)]
pub struct BaseLayer {
    /// The layer as the new image's manifest names it.
    pub desc: LayerDesc,
    /// The verified blob.
    pub path: PathBuf,
}

/// Saving a recipe's images into `registry/` failed.
#[derive(Debug, Clone, Error)]
pub enum SaveError {
    /// Pulling an image failed (shared by every cell that lists it).
    #[error("saving {image} ({arch}) into registry/: {reason}")]
    Pull {
        /// The image as listed.
        image: String,
        /// The platform asked for.
        arch: Arch,
        /// The registry's error, as text (one pull serves many cells).
        reason: Arc<crate::registry::RegistryError>,
    },
    /// Pulling one platform of a listed image's index failed
    /// (`--save-platforms all`).
    #[error("saving {image} ({platform}) into registry/: {reason}")]
    Platform {
        /// The image as listed.
        image: String,
        /// The index entry's `os/arch[/variant]`.
        platform: String,
        /// The registry's error.
        reason: Arc<crate::registry::RegistryError>,
    },
    /// Placing the pulled files clashed with the context.
    #[error("saving images into registry/: {0}")]
    Context(Arc<ContextError>),
    /// A base image's manifest or config is not usable.
    #[error("base image {image}: {reason}")]
    Base {
        /// The image.
        image: String,
        /// What is wrong.
        #[source]
        reason: BaseDefect,
    },
}

/// What makes a pulled base image unusable.
#[derive(Debug, Clone, Error)]
pub enum BaseDefect {
    /// Manifest and config disagree on the number of layers.
    #[error("the manifest lists {layers} layers but the config {diff_ids} diff_ids")]
    LayerCount {
        /// Layers in the manifest.
        layers: usize,
        /// diff_ids in the config.
        diff_ids: usize,
    },
    /// A digest that is not sha256.
    #[error("`{0}` is not a sha256 digest")]
    Digest(String),
    /// A layer the pull did not bring.
    #[error("layer {0} was not pulled")]
    NotPulled(Sha256),
}

/// Which platforms of a listed image `registry/` holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SavePlatforms {
    /// The image's own platform (the tag points at that manifest).
    #[default]
    Current,
    /// The listed image's index as published (the tag points at it) and
    /// the manifest and blobs of every platform it lists (all but
    /// attestation entries), so a mixed-arch cluster pulls the right one.
    All,
}

/// A `--save-platforms` value that is neither `current` nor `all`.
#[derive(Debug, Clone, Error)]
#[error("`{0}`: use current or all")]
pub struct SavePlatformsError(String);

crate::error::fault!(bad_input: SavePlatformsError);

impl std::str::FromStr for SavePlatforms {
    type Err = SavePlatformsError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "current" => Ok(SavePlatforms::Current),
            "all" => Ok(SavePlatforms::All),
            _ => Err(SavePlatformsError(text.escape_default().to_string())),
        }
    }
}

/// Where images of the image lists come from.
pub enum ImageSource<'a> {
    /// Leave `registry/` empty (offline demos only).
    Skip,
    /// Pull them through the registry client, with `FROM=TO` mirrors.
    Pull {
        /// The client.
        client: &'a Client,
        /// Where to pull each registry's images from instead.
        mirrors: Vec<ImageMirror>,
    },
    /// Take them from an OCI layout holding them by full reference
    /// (`matrix mirror --stand-ins` writes one under `DIR/images`).
    Layout(PathBuf),
}

impl ImageSource<'_> {
    /// The saver that takes images from this source through `cache`, each
    /// pull reported to `reporter`; `None` for [`ImageSource::Skip`].
    pub fn saver<'s>(&'s self, cache: &'s Cache, reporter: &'s dyn Reporter) -> Option<RegistrySaver<'s>> {
        let from = match self {
            ImageSource::Skip => return None,
            ImageSource::Pull { client, mirrors } => Puller::Registry {
                client,
                mirrors: mirrors.clone(),
            },
            ImageSource::Layout(dir) => Puller::Layout(RefLayout::at(dir)),
        };
        Some(RegistrySaver::new(from, cache, reporter))
    }
}

/// A listed image's index, cached: its digest, bytes' path and the
/// entries of the platforms it lists.
#[derive(Debug, Clone)]
struct ResolvedIndex {
    digest: Sha256,
    path: PathBuf,
    platforms: Vec<Descriptor>,
}

/// One platform's manifest and blobs, in the cache, by digest.
#[derive(Debug, Clone)]
struct SavedManifest {
    manifest: (Sha256, PathBuf),
    blobs: Vec<(Sha256, PathBuf)>,
}

/// One image resolved for one platform, its blobs in the cache.
#[derive(Debug, Clone)]
struct Resolved {
    repository: String,
    tag: Option<String>,
    manifest: (Sha256, PathBuf),
    blobs: Vec<(Sha256, PathBuf)>,
    /// The typed manifest.
    image: ImageManifest,
    /// Its config (read bounded, verified).
    config: ImageConfiguration,
}

type Slot = Arc<OnceLock<Result<Resolved, SaveError>>>;
type PlatformSlot = Arc<OnceLock<Result<SavedManifest, SaveError>>>;

/// Where a saver takes images from.
pub enum Puller<'a> {
    /// Registries, through the client, with `FROM=TO` mirrors.
    Registry {
        /// The client.
        client: &'a Client,
        /// Where to pull each registry's images from instead.
        mirrors: Vec<ImageMirror>,
    },
    /// An OCI layout holding the images by full reference (offline).
    Layout(RefLayout),
}

/// Saves images from registries or an image layout into contexts.
pub struct RegistrySaver<'a> {
    from: Puller<'a>,
    cache: &'a Cache,
    resolved: Mutex<HashMap<(String, Arch), Slot>>,
    indexes: Mutex<HashMap<String, Option<ResolvedIndex>>>,
    /// Index entries pulled by digest, per listed image.
    entries: Mutex<HashMap<(String, Sha256), PlatformSlot>>,
    platforms: SavePlatforms,
    reporter: &'a dyn Reporter,
}

impl<'a> RegistrySaver<'a> {
    /// A saver pulling `from` registries or a layout into `cache`; each
    /// image pulled (once per arch) is a task reported to `reporter`.
    pub fn new(from: Puller<'a>, cache: &'a Cache, reporter: &'a dyn Reporter) -> Self {
        RegistrySaver {
            from,
            cache,
            resolved: Mutex::new(HashMap::new()),
            indexes: Mutex::new(HashMap::new()),
            entries: Mutex::new(HashMap::new()),
            platforms: SavePlatforms::Current,
            reporter,
        }
    }

    /// The same saver, saving `platforms` of each listed image.
    pub fn with_platforms(mut self, platforms: SavePlatforms) -> Self {
        self.platforms = platforms;
        self
    }

    /// The index `image` names, if it names one (cached per image).
    fn resolve_index(&self, image: &str) -> Result<Option<ResolvedIndex>, SaveError> {
        if let Some(found) = self.indexes.lock().unwrap_or_else(|p| p.into_inner()).get(image) {
            return Ok(found.clone());
        }
        let found = self.pull_index(image).map_err(|error| SaveError::Pull {
            image: image.to_string(),
            arch: Arch::Amd64,
            reason: Arc::new(error),
        })?;
        self.indexes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(image.to_string(), found.clone());
        Ok(found)
    }

    fn pull_index(&self, image: &str) -> Result<Option<ResolvedIndex>, RegistryError> {
        let (reader, reference, _) = self.reader(image)?;
        let pulled = reader.document(&reference)?;
        let crate::oci::Document::Index(index) = &pulled.document else {
            return Ok(None);
        };
        let platforms = crate::oci::platform_entries(index).cloned().collect();
        let path = self.cache_bytes(&pulled.digest, &pulled.bytes)?;
        Ok(Some(ResolvedIndex {
            digest: pulled.digest,
            path,
            platforms,
        }))
    }

    /// One platform entry of `image`'s index, pulled once per saver.
    fn resolve_entry(&self, image: &str, entry: &Descriptor) -> Result<SavedManifest, SaveError> {
        let platform = crate::oci::platform_name(entry);
        let failed = |error: RegistryError| SaveError::Platform {
            image: image.to_string(),
            platform: platform.clone(),
            reason: Arc::new(error),
        };
        let digest = descriptor_digest(image, entry).map_err(|e| failed(e.into()))?;
        let slot = {
            let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            map.entry((image.to_string(), digest)).or_default().clone()
        };
        slot.get_or_init(|| {
            self.reported(&format!("{image} ({platform})"), || {
                self.pull_entry(image, entry, &platform)
            })
            .map_err(failed)
        })
        .clone()
    }

    /// Runs one pull as a task of the reporter.
    fn reported<T>(
        &self,
        task: &str,
        pull: impl FnOnce() -> Result<T, RegistryError>,
    ) -> Result<T, RegistryError> {
        self.reporter.report(Event::Started { task, total: None });
        let pulled = pull();
        self.reporter.report(Event::Finished {
            task,
            outcome: if pulled.is_ok() {
                Outcome::Fetched
            } else {
                Outcome::Failed
            },
        });
        pulled
    }

    fn pull_entry(
        &self,
        image: &str,
        entry: &Descriptor,
        platform: &str,
    ) -> Result<SavedManifest, RegistryError> {
        let (reader, reference, _) = self.reader(image)?;
        let pulled = reader.child(entry)?;
        let crate::oci::Document::Manifest(manifest) = &pulled.document else {
            return Err(RegistryError::Invalid {
                what: format!("{reference} ({platform})"),
                message: "the index entry is another index; matrix saves images one index deep".into(),
            });
        };
        let path = self.cache_bytes(&pulled.digest, &pulled.bytes)?;
        let blobs = verified_blobs(&reader, &reference, manifest)?;
        Ok(SavedManifest {
            manifest: (pulled.digest, path),
            blobs,
        })
    }

    /// A reader of where `image` comes from, the reference to ask it for,
    /// and the image as listed.
    fn reader(&self, image: &str) -> Result<(ImageReader<'_>, String, ImageRef), RegistryError> {
        let wanted: ImageRef =
            image
                .parse()
                .map_err(|e: crate::registry::ReferenceError| RegistryError::Invalid {
                    what: "image list".into(),
                    message: e.to_string(),
                })?;
        Ok(match &self.from {
            Puller::Registry { client, mirrors } => {
                let source = pull_source(&wanted, mirrors);
                let reader = ImageReader::new(ImageFrom::Registry {
                    client,
                    host: source.api_host().to_string(),
                    repository: source.repository.clone(),
                    cache: self.cache,
                });
                (reader, source.reference.clone(), wanted)
            }
            Puller::Layout(layout) => (
                ImageReader::new(ImageFrom::Layout {
                    layout,
                    cache: self.cache,
                }),
                wanted.to_string(),
                wanted,
            ),
        })
    }

    fn resolve(&self, image: &str, arch: Arch) -> Result<Resolved, SaveError> {
        let slot = {
            let mut map = self.resolved.lock().unwrap_or_else(|p| p.into_inner());
            map.entry((image.to_string(), arch)).or_default().clone()
        };
        slot.get_or_init(|| {
            self.reported(&format!("{image} ({arch})"), || self.pull(image, arch))
                .map_err(|error| SaveError::Pull {
                    image: image.to_string(),
                    arch,
                    reason: Arc::new(error),
                })
        })
        .clone()
    }

    fn pull(&self, image: &str, arch: Arch) -> Result<Resolved, RegistryError> {
        let (reader, reference, wanted) = self.reader(image)?;
        let pulled = reader.image(&reference, arch).map_err(|error| match (&self.from, error) {
            (
                Puller::Layout(layout),
                error @ (RegistryError::NotFound { .. }
                | RegistryError::Document(crate::oci::DocumentError::NoPlatform { .. })),
            ) => RegistryError::Invalid {
                what: reference.clone(),
                message: format!(
                    "{error}; add it with `skopeo copy --all docker://{reference} oci:{}:{reference}` or `matrix mirror --stand-ins`",
                    layout.root().display()
                ),
            },
            (_, error) => error,
        })?;
        let manifest_path = self.cache_bytes(&pulled.digest, &pulled.bytes)?;
        let blobs = verified_blobs(&reader, &reference, &pulled.manifest)?;
        let config = reader.config(&pulled.manifest)?;
        Ok(Resolved {
            repository: wanted.repository.clone(),
            tag: (!wanted.reference.starts_with("sha256:")).then(|| wanted.reference.clone()),
            manifest: (pulled.digest, manifest_path),
            blobs,
            image: pulled.manifest,
            config,
        })
    }

    fn cache_bytes(&self, digest: &Sha256, bytes: &[u8]) -> Result<PathBuf, RegistryError> {
        if let Some(path) = self.cache.verified(digest) {
            return Ok(path);
        }
        let io = |source| RegistryError::Io {
            what: "caching a manifest".into(),
            source,
        };
        let mut temp = self.cache.temp_file().map_err(io)?;
        std::io::Write::write_all(temp.as_file_mut(), bytes).map_err(io)?;
        self.cache.commit(temp, digest).map_err(io)
    }
}

/// The config and layers a manifest names, each a verified file in the
/// cache.
fn verified_blobs(
    reader: &ImageReader<'_>,
    reference: &str,
    manifest: &ImageManifest,
) -> Result<Vec<(Sha256, PathBuf)>, RegistryError> {
    manifest_blobs(manifest)
        .map(|descriptor| {
            Ok((
                descriptor_digest(reference, descriptor)?,
                reader.blob(descriptor)?,
            ))
        })
        .collect()
}

/// Names `.sealignore` excludes (one per line, `#` comments).
fn ignored(context: &Context) -> BTreeSet<String> {
    let Some(entry) = context.get(".sealignore") else {
        return BTreeSet::new();
    };
    let mut text = String::new();
    if let Ok(mut reader) = Context::open(entry) {
        let _ = std::io::Read::read_to_string(&mut reader, &mut text);
    }
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_string)
        .collect()
}

fn link(context: &mut Context, path: String, digest: &Sha256) -> Result<(), SaveError> {
    let entry = Entry {
        content: Content::Bytes(digest.to_string().into_bytes()),
        mode: 0o644,
        origin: Origin::Registry,
    };
    context
        .insert(path, entry, &[])
        .map_err(|e| SaveError::Context(Arc::new(e)))
}

fn blob(context: &mut Context, digest: &Sha256, path: &std::path::Path) -> Result<(), SaveError> {
    let hex = digest.hex();
    let entry = Entry {
        content: Content::Verified {
            path: path.to_path_buf(),
            id: digest.to_string(),
        },
        mode: 0o644,
        origin: Origin::Registry,
    };
    context
        .insert(
            format!("{REGISTRY_ROOT}/blobs/sha256/{}/{hex}/data", &hex[..2]),
            entry,
            &[],
        )
        .map_err(|e| SaveError::Context(Arc::new(e)))
}

/// One manifest under `repo`: its bytes and revision link, and each blob
/// it names with its layer link.
fn save_manifest(
    context: &mut Context,
    repo: &str,
    (digest, path): &(Sha256, PathBuf),
    blobs: &[(Sha256, PathBuf)],
) -> Result<(), SaveError> {
    blob(context, digest, path)?;
    link(
        context,
        format!("{repo}/_manifests/revisions/sha256/{}/link", digest.hex()),
        digest,
    )?;
    for (digest, path) in blobs {
        blob(context, digest, path)?;
        link(
            context,
            format!("{repo}/_layers/sha256/{}/link", digest.hex()),
            digest,
        )?;
    }
    Ok(())
}

impl RegistrySaver<'_> {
    /// A base image from its resolved manifest and config.
    fn base_image(&self, image: &str, resolved: &Resolved) -> Result<BaseImage, SaveError> {
        let bad = |reason: BaseDefect| SaveError::Base {
            image: image.to_string(),
            reason,
        };
        let diff_ids = resolved.config.rootfs().diff_ids();
        let listed = resolved.image.layers();
        if listed.len() != diff_ids.len() {
            return Err(bad(BaseDefect::LayerCount {
                layers: listed.len(),
                diff_ids: diff_ids.len(),
            }));
        }
        let mut layers = Vec::new();
        for (layer, diff_id) in listed.iter().zip(diff_ids) {
            let digest = descriptor_digest(image, layer)
                .map_err(|_| bad(BaseDefect::Digest(layer.digest().to_string())))?;
            let path = resolved
                .blobs
                .iter()
                .find(|(d, _)| *d == digest)
                .map(|(_, path)| path.clone())
                .ok_or_else(|| bad(BaseDefect::NotPulled(digest.clone())))?;
            layers.push(BaseLayer {
                desc: LayerDesc {
                    digest,
                    diff_id: diff_id
                        .parse()
                        .map_err(|_| bad(BaseDefect::Digest(diff_id.clone())))?,
                    size: layer.size(),
                    compression: Compression::of_media_type(layer.media_type()),
                },
                path,
            });
        }
        Ok(BaseImage {
            digest: resolved.manifest.0.clone(),
            layers,
            config: ImageConfig::from_oci(&resolved.config),
        })
    }
}

impl ImageSaver for RegistrySaver<'_> {
    fn base(&self, image: &str, arch: Arch) -> Result<BaseImage, SaveError> {
        let resolved = self.resolve(image, arch)?;
        self.base_image(image, &resolved)
    }

    fn save(&self, images: &[String], arch: Arch, context: &mut Context) -> Result<(), SaveError> {
        let skip = ignored(context);
        for image in images.iter().filter(|image| !skip.contains(*image)) {
            let index = match self.platforms {
                SavePlatforms::Current => None,
                SavePlatforms::All => self.resolve_index(image)?,
            };
            // The image's own platform first: it must be there either way.
            let own = self.resolve(image, arch)?;
            let repo = format!("{REGISTRY_ROOT}/repositories/{}", own.repository);
            save_manifest(context, &repo, &own.manifest, &own.blobs)?;
            for entry in index.iter().flat_map(|index| &index.platforms) {
                if entry.digest().as_ref() == own.manifest.0.to_string() {
                    continue;
                }
                let saved = self.resolve_entry(image, entry)?;
                save_manifest(context, &repo, &saved.manifest, &saved.blobs)?;
            }
            // The tag names the index when every platform is saved.
            let tagged = match &index {
                Some(index) => {
                    blob(context, &index.digest, &index.path)?;
                    link(
                        context,
                        format!("{repo}/_manifests/revisions/sha256/{}/link", index.digest.hex()),
                        &index.digest,
                    )?;
                    &index.digest
                }
                None => &own.manifest.0,
            };
            if let Some(tag) = &own.tag {
                link(
                    context,
                    format!("{repo}/_manifests/tags/{tag}/current/link"),
                    tagged,
                )?;
                link(
                    context,
                    format!("{repo}/_manifests/tags/{tag}/index/sha256/{}/link", tagged.hex()),
                    tagged,
                )?;
            }
        }
        Ok(())
    }
}
