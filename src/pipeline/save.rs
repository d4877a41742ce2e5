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
use crate::oci::{Compression, ImageConfig, LayerDesc, RefLayout};
use crate::progress::{Event, Outcome, Reporter};
use crate::registry::{Client, RegistryError};
use crate::registry::{ImageMirror, ImageRef, pull_source};
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
    /// Placing the pulled files clashed with the context.
    #[error("saving images into registry/: {0}")]
    Context(Arc<ContextError>),
    /// A base image's manifest or config is not usable.
    #[error("base image {image}: {reason}")]
    Base {
        /// The image.
        image: String,
        /// What is wrong.
        reason: String,
    },
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

/// One image resolved for one platform, its blobs in the cache.
#[derive(Debug, Clone)]
struct Resolved {
    repository: String,
    tag: Option<String>,
    manifest: (Sha256, PathBuf),
    blobs: Vec<(Sha256, PathBuf)>,
}

impl Resolved {
    /// `wanted` resolved to a manifest and its blobs, kept by tag unless
    /// it was asked for by digest.
    fn of(wanted: &ImageRef, manifest: (Sha256, PathBuf), blobs: Vec<(Sha256, PathBuf)>) -> Resolved {
        Resolved {
            repository: wanted.repository.clone(),
            tag: (!wanted.reference.starts_with("sha256:")).then(|| wanted.reference.clone()),
            manifest,
            blobs,
        }
    }
}

type Slot = Arc<OnceLock<Result<Resolved, SaveError>>>;

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
            reporter,
        }
    }

    fn resolve(&self, image: &str, arch: Arch) -> Result<Resolved, SaveError> {
        let slot = {
            let mut map = self.resolved.lock().unwrap_or_else(|p| p.into_inner());
            map.entry((image.to_string(), arch)).or_default().clone()
        };
        slot.get_or_init(|| {
            let task = format!("{image} ({arch})");
            self.reporter.report(Event::Started {
                task: &task,
                total: None,
            });
            let pulled = self.pull(image, arch);
            self.reporter.report(Event::Finished {
                task: &task,
                outcome: if pulled.is_ok() {
                    Outcome::Fetched
                } else {
                    Outcome::Failed
                },
            });
            pulled.map_err(|error| SaveError::Pull {
                image: image.to_string(),
                arch,
                reason: Arc::new(error),
            })
        })
        .clone()
    }

    fn pull(&self, image: &str, arch: Arch) -> Result<Resolved, RegistryError> {
        let wanted: ImageRef =
            image
                .parse()
                .map_err(|e: crate::registry::ReferenceError| RegistryError::Invalid {
                    what: "image list".into(),
                    message: e.to_string(),
                })?;
        let (client, mirrors) = match &self.from {
            Puller::Registry { client, mirrors } => (*client, mirrors),
            Puller::Layout(layout) => return self.pull_layout(layout, wanted, arch),
        };
        let source = pull_source(&wanted, mirrors);
        let host = source.api_host().to_string();
        let (mut bytes, mut media_type, mut digest) =
            client.manifest(&host, &source.repository, &source.reference)?;
        if media_type.contains("index") || media_type.contains("manifest.list") {
            let child = platform_manifest(&bytes, arch).ok_or_else(|| RegistryError::Invalid {
                what: source.to_string(),
                message: format!("the index has no linux/{arch} manifest"),
            })?;
            (bytes, media_type, digest) = client.manifest(&host, &source.repository, &child)?;
        }
        let _ = media_type;
        let manifest_path = self.cache_bytes(&digest, &bytes)?;
        let manifest: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| RegistryError::Invalid {
                what: format!("manifest of {source}"),
                message: e.to_string(),
            })?;
        let mut blobs = Vec::new();
        for blob in manifest_blobs(&manifest) {
            let path = client.fetch_blob(&host, &source.repository, &blob, self.cache)?;
            let parsed: Sha256 =
                blob.parse()
                    .map_err(|e: crate::digest::DigestError| RegistryError::Invalid {
                        what: source.to_string(),
                        message: e.to_string(),
                    })?;
            blobs.push((parsed, path));
        }
        Ok(Resolved::of(&wanted, (digest, manifest_path), blobs))
    }

    /// Takes `wanted` for `arch` from an image layout: its manifest and
    /// blobs are copied into the cache only if they verify.
    fn pull_layout(
        &self,
        layout: &RefLayout,
        wanted: ImageRef,
        arch: Arch,
    ) -> Result<Resolved, RegistryError> {
        let io = |what: String| {
            move |source| RegistryError::Io {
                what: what.clone(),
                source,
            }
        };
        let name = wanted.to_string();
        let (digest, bytes) = layout
            .manifest(&name, arch)
            .map_err(io(format!("reading {name} from {}", layout.root().display())))?
            .ok_or_else(|| RegistryError::Invalid {
                what: name.clone(),
                message: format!(
                    "the image layout {} has no linux/{arch} image of that name; add it with `skopeo copy --all docker://{name} oci:{}:{name}` or `matrix mirror --stand-ins`",
                    layout.root().display(),
                    layout.root().display()
                ),
            })?;
        let manifest_path = self.cache_bytes(&digest, &bytes)?;
        let manifest: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| RegistryError::Invalid {
                what: format!("manifest of {name}"),
                message: e.to_string(),
            })?;
        let mut blobs = Vec::new();
        for blob in manifest_blobs(&manifest) {
            let parsed: Sha256 =
                blob.parse()
                    .map_err(|e: crate::digest::DigestError| RegistryError::Invalid {
                        what: name.clone(),
                        message: e.to_string(),
                    })?;
            let path = match self.cache.verified(&parsed) {
                Some(path) => path,
                None => {
                    let source = layout.blob_path(&parsed);
                    let what = format!("copying {} from the image layout", source.display());
                    let mut temp = self.cache.temp_file().map_err(io(what.clone()))?;
                    let file = std::fs::File::open(&source).map_err(io(what.clone()))?;
                    let mut writer = crate::digest::HashingWriter::new(temp.as_file_mut());
                    std::io::copy(&mut std::io::BufReader::new(file), &mut writer)
                        .map_err(io(what.clone()))?;
                    let (_, (got, _)) = writer.finish();
                    if got != parsed {
                        return Err(RegistryError::Invalid {
                            what: source.display().to_string(),
                            message: format!("the blob hashes to {got}, not {parsed}"),
                        });
                    }
                    self.cache.commit(temp, &parsed).map_err(io(what))?
                }
            };
            blobs.push((parsed, path));
        }
        Ok(Resolved::of(&wanted, (digest, manifest_path), blobs))
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

/// The config and layer digests a manifest names, in order.
fn manifest_blobs(manifest: &serde_json::Value) -> Vec<String> {
    let config = manifest.pointer("/config/digest").and_then(|d| d.as_str());
    let layers = manifest
        .get("layers")
        .and_then(|l| l.as_array())
        .into_iter()
        .flatten()
        .filter_map(|layer| layer.get("digest").and_then(|d| d.as_str()));
    config.into_iter().chain(layers).map(str::to_string).collect()
}

/// The digest of the linux/`arch` manifest of an index.
fn platform_manifest(index: &[u8], arch: Arch) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(index).ok()?;
    value.get("manifests")?.as_array()?.iter().find_map(|m| {
        let platform = m.get("platform")?;
        (platform.get("os")?.as_str()? == "linux" && platform.get("architecture")?.as_str()? == arch.as_str())
            .then(|| m.get("digest")?.as_str().map(str::to_string))
            .flatten()
    })
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

impl RegistrySaver<'_> {
    /// A base image from its resolved manifest and config.
    fn base_image(&self, image: &str, resolved: &Resolved) -> Result<BaseImage, SaveError> {
        let bad = |reason: String| SaveError::Base {
            image: image.to_string(),
            reason,
        };
        let read_json = |path: &std::path::Path| -> Result<serde_json::Value, SaveError> {
            // Manifests and configs are small; a registry serving a huge one
            // is not read into memory.
            let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
            if size > 4 << 20 {
                return Err(bad(format!(
                    "{} is {size} bytes, more than a manifest or config may be",
                    path.display()
                )));
            }
            let bytes = std::fs::read(path).map_err(|e| bad(format!("reading {}: {e}", path.display())))?;
            serde_json::from_slice(&bytes).map_err(|e| bad(format!("{}: {e}", path.display())))
        };
        let blob_path = |digest: &str| -> Result<&std::path::Path, SaveError> {
            resolved
                .blobs
                .iter()
                .find(|(d, _)| d.to_string() == digest)
                .map(|(_, path)| path.as_path())
                .ok_or_else(|| bad(format!("blob {digest} was not pulled")))
        };
        let manifest = read_json(&resolved.manifest.1)?;
        let config_digest = manifest
            .pointer("/config/digest")
            .and_then(|d| d.as_str())
            .ok_or_else(|| bad("the manifest has no config".into()))?;
        let config = read_json(blob_path(config_digest)?)?;
        let diff_ids: Vec<&str> = config
            .pointer("/rootfs/diff_ids")
            .and_then(|d| d.as_array())
            .map(|ids| ids.iter().filter_map(|id| id.as_str()).collect())
            .unwrap_or_default();
        let listed = manifest
            .get("layers")
            .and_then(|l| l.as_array())
            .cloned()
            .unwrap_or_default();
        if listed.len() != diff_ids.len() {
            return Err(bad(format!(
                "the manifest lists {} layers but the config {} diff_ids",
                listed.len(),
                diff_ids.len()
            )));
        }
        let mut layers = Vec::new();
        for (layer, diff_id) in listed.iter().zip(diff_ids) {
            let digest = layer.get("digest").and_then(|d| d.as_str()).unwrap_or_default();
            let media_type = layer
                .get("mediaType")
                .and_then(|m| m.as_str())
                .unwrap_or_default();
            let parse = |text: &str| text.parse::<Sha256>().map_err(|e| bad(format!("`{text}`: {e}")));
            let compression = Compression::of_media_type(media_type);
            layers.push(BaseLayer {
                desc: LayerDesc {
                    digest: parse(digest)?,
                    diff_id: parse(diff_id)?,
                    size: layer.get("size").and_then(|s| s.as_u64()).unwrap_or(0),
                    compression,
                },
                path: blob_path(digest)?.to_path_buf(),
            });
        }
        Ok(BaseImage {
            layers,
            config: ImageConfig::from_config_json(&config),
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
            let resolved = self.resolve(image, arch)?;
            let repo = format!("{REGISTRY_ROOT}/repositories/{}", resolved.repository);
            let (digest, path) = &resolved.manifest;
            blob(context, digest, path)?;
            let hex = digest.hex();
            link(
                context,
                format!("{repo}/_manifests/revisions/sha256/{hex}/link"),
                digest,
            )?;
            if let Some(tag) = &resolved.tag {
                link(
                    context,
                    format!("{repo}/_manifests/tags/{tag}/current/link"),
                    digest,
                )?;
                link(
                    context,
                    format!("{repo}/_manifests/tags/{tag}/index/sha256/{hex}/link"),
                    digest,
                )?;
            }
            for (digest, path) in &resolved.blobs {
                blob(context, digest, path)?;
                link(
                    context,
                    format!("{repo}/_layers/sha256/{}/link", digest.hex()),
                    digest,
                )?;
            }
        }
        Ok(())
    }
}
