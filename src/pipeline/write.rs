//! The one image writer: any [`Recipe`] (a rootfs cell, an application or
//! config image) becomes layers, config and manifest in the store. Layers
//! two recipes of one run share are written once ([`LayerSlots`]); a recipe
//! whose inputs are unchanged and whose blobs verify is not written again.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};

use oci_spec::image::Descriptor;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::save::{BaseImage, ImageSaver, SaveError};
use crate::attest;
use crate::context::{Content, Context, ContextError, Entry, Origin};
use crate::digest::Sha256;
use crate::oci::{
    Compression, LayerDesc, LayerError, LayerSpec, Store, StoreError, build_manifest, build_referrer,
    write_layer,
};
use crate::recipe::Recipe;

/// What writing a recipe needs, and nothing else.
#[derive(Clone, Copy)]
pub struct WriteOptions<'a> {
    /// The output store.
    pub store: &'a Store,
    /// Layer compression.
    pub compression: Compression,
    /// Timestamp stamped into images.
    pub epoch: u64,
    /// Where saved images and base images come from (`None`: no pulls).
    pub saver: Option<&'a dyn ImageSaver>,
}

/// Why a recipe could not be written.
#[derive(Debug, Error)]
pub enum WriteError {
    /// Saving the image list or pulling the base image failed.
    #[error(transparent)]
    Save(#[from] SaveError),
    /// The assembled context is unsafe or inconsistent.
    #[error(transparent)]
    Context(#[from] ContextError),
    /// Writing a layer failed (here or in the recipe that shared it).
    #[error(transparent)]
    Layer(#[from] Arc<LayerError>),
    /// The store could not be written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A base image was asked for without image pulls (`--skip-images`).
    #[error("image `{0}` needs image pulls; it cannot be built with --skip-images")]
    NeedsPulls(String),
}

/// What the store remembers of a recipe, to skip unchanged rebuilds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CellRecord {
    pub(super) key: Sha256,
    /// The manifest's digest.
    pub digest: Sha256,
    /// Config plus layer bytes.
    pub size: u64,
    pub(super) descriptor: Descriptor,
    /// Its SBOM and provenance referrers.
    #[serde(default)]
    pub referrers: Vec<Descriptor>,
    /// What the referrers were made from ([`attest_key`]): new inputs
    /// (a license, matrix.toml) make them again, even for the same image.
    #[serde(default)]
    pub(super) attest_key: Option<Sha256>,
}

impl CellRecord {
    /// The stored manifest's descriptor (with platform).
    pub fn descriptor(&self) -> &Descriptor {
        &self.descriptor
    }
}

/// One written recipe.
#[derive(Debug, Clone)]
pub struct Written {
    /// What the store now records for it.
    pub record: CellRecord,
    /// True when the store already had it (nothing written).
    pub unchanged: bool,
    /// Layers written now (the rest were reused).
    pub layers_written: usize,
}

/// One layer of this run: nobody has it yet (`None`), one recipe is
/// writing it, or it is done; the condition variable wakes recipes waiting
/// for it.
type LayerSlot = Arc<(Mutex<Option<SlotState>>, Condvar)>;

enum SlotState {
    Writing,
    Done(Result<LayerDesc, Arc<LayerError>>),
}

/// The layers of one run, shared by every recipe written in it, so a layer
/// two recipes share is written once.
#[derive(Default)]
pub struct LayerSlots(Mutex<HashMap<String, LayerSlot>>);

/// Writes any recipe: saves its images into `registry/`, splits its
/// context by its layer policy, reuses what the store already holds (and
/// verifies), writes the rest, and stores config and manifest. The
/// caller lists the record's referrers in `index.json`
/// ([`Store::add_referrers`]), once for a whole run: a synced rewrite of
/// the index per image cost more than writing a new release's images.
pub fn write_recipe(
    mut recipe: Recipe,
    options: &WriteOptions<'_>,
    slots: &LayerSlots,
) -> Result<Written, WriteError> {
    let base = match (&recipe.base, options.saver) {
        (None, _) => None,
        (Some(image), None) => return Err(WriteError::NeedsPulls(image.clone())),
        (Some(image), Some(saver)) => Some(saver.base(image, recipe.platform)?),
    };
    if let Some(saver) = options.saver {
        saver.save(&recipe.images, recipe.platform, &mut recipe.context)?;
    }
    recipe.context.check_links()?;
    let specs = recipe
        .layers
        .split(&recipe.context, options.compression, options.epoch);
    let mut keys = Vec::with_capacity(specs.len());
    for spec in &specs {
        keys.push(spec.input_key().map_err(Arc::new)?);
    }
    if let Some(base) = &base {
        recipe.config = base.config.merged_with(&recipe.config);
        recipe.inputs.base = recipe.base.clone().map(|reference| attest::SavedImage {
            reference,
            digest: base.digest.clone(),
        });
    }
    let attest_key = attest_key(&recipe);
    let cell_key = recipe_key(&recipe, base.as_ref(), &specs, &keys);
    let record_name = format!("{}:{}", recipe.image, recipe.tag);
    if let Some(mut record) = options.store.record::<CellRecord>("cells", &record_name)
        && record.key == cell_key
        && options.store.check_closure(&record.descriptor).is_ok()
    {
        if record.referrers.is_empty()
            || record.attest_key.as_ref() != Some(&attest_key)
            || record
                .referrers
                .iter()
                .any(|r| options.store.check_closure(r).is_err())
        {
            record.referrers = attest(&recipe, &record.descriptor, options)?;
            record.attest_key = Some(attest_key);
            options.store.put_record("cells", &record_name, &record)?;
        }
        return Ok(Written {
            record,
            unchanged: true,
            layers_written: 0,
        });
    }
    // Layers of one recipe are written in parallel too.
    let built: Vec<Result<(LayerDesc, bool), WriteError>> = specs
        .par_iter()
        .zip(keys.par_iter())
        .map(|(spec, key)| layer(options.store, spec, key, slots))
        .collect();
    let mut layers = Vec::with_capacity(specs.len());
    let mut written = 0;
    for layer in base.iter().flat_map(|base| &base.layers) {
        options
            .store
            .import_blob(&layer.path, &layer.desc.digest, layer.desc.size)?;
        layers.push(("base".to_string(), layer.desc.clone()));
    }
    for (spec, result) in specs.iter().zip(built) {
        let (desc, fresh) = result?;
        written += usize::from(fresh);
        layers.push((spec.name.clone(), desc));
    }
    let info = build_manifest(
        options.store,
        recipe.platform,
        &recipe.config,
        &layers,
        options.epoch,
    )?;
    let digest = info
        .descriptor
        .digest()
        .to_string()
        .parse()
        .map_err(|e: crate::digest::DigestError| StoreError::Invalid {
            path: options.store.root().join("index.json"),
            message: e.to_string(),
        })?;
    let since = std::time::Instant::now();
    let referrers = attest(&recipe, &info.descriptor, options)?;
    tracing::debug!(
        image = %format!("{}:{}", recipe.image, recipe.tag),
        attest_ms = since.elapsed().as_millis(),
        "SBOM and provenance written"
    );
    let record = CellRecord {
        key: cell_key,
        digest,
        size: info.size,
        descriptor: info.descriptor,
        referrers,
        attest_key: Some(attest_key),
    };
    options.store.put_record("cells", &record_name, &record)?;
    Ok(Written {
        record,
        unchanged: false,
        layers_written: written,
    })
}

/// A layer by input key: from the store's records, from another recipe of
/// this run, or written now (the bool says which).
fn layer(
    store: &Store,
    spec: &LayerSpec<'_>,
    key: &Sha256,
    slots: &LayerSlots,
) -> Result<(LayerDesc, bool), WriteError> {
    let name = key.hex();
    // A damaged or missing blob is not reused: the layer is written again
    // and the bad file replaced.
    if let Some(desc) = store.record::<LayerDesc>("layers", &name)
        && store.check_blob(&desc.digest, desc.size).is_ok()
    {
        return Ok((desc, false));
    }
    let slot = {
        let mut slots = slots.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        slots.entry(name.clone()).or_default().clone()
    };
    let since = std::time::Instant::now();
    let (lock, done) = &*slot;
    let mut state = lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if state.is_none() {
        *state = Some(SlotState::Writing);
        drop(state);
        let result = write_layer(store, spec).map_err(Arc::new).and_then(|desc| {
            store.put_record("layers", &name, &desc).map_err(|source| {
                Arc::new(LayerError::Store {
                    layer: spec.name.clone(),
                    source,
                })
            })?;
            Ok(desc)
        });
        *lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(SlotState::Done(result.clone()));
        done.notify_all();
        return result.map(|desc| (desc, true)).map_err(WriteError::Layer);
    }
    // Another recipe is writing it. Blocking is safe: a layer's writer
    // never waits on another layer, and its compression runs on a pool
    // no recipe waits in.
    loop {
        if let Some(SlotState::Done(result)) = &*state {
            tracing::debug!(
                layer = %spec.name,
                waited_ms = since.elapsed().as_millis(),
                "layer shared with another recipe of this run"
            );
            return result
                .clone()
                .map(|desc| (desc, false))
                .map_err(WriteError::Layer);
        }
        state = done.wait(state).unwrap_or_else(|poisoned| poisoned.into_inner());
    }
}

/// What decides a recipe's image: the tool version, platform, config and
/// every layer's input key. Equal keys mean equal images.
fn recipe_key(recipe: &Recipe, base: Option<&BaseImage>, specs: &[LayerSpec<'_>], keys: &[Sha256]) -> Sha256 {
    let mut text = format!(
        "matrix {}\narch {}\nmeta {}\n",
        env!("CARGO_PKG_VERSION"),
        recipe.platform,
        serde_json::to_string(&recipe.config).unwrap_or_default()
    );
    for layer in base.iter().flat_map(|base| &base.layers) {
        text.push_str(&format!("base {}\n", layer.desc.digest));
    }
    for (spec, key) in specs.iter().zip(keys) {
        text.push_str(&format!("layer {} {key}\n", spec.name));
    }
    Sha256::of(text.as_bytes())
}

/// What a recipe's SBOM and provenance are made from besides its files:
/// its inputs and image list.
fn attest_key(recipe: &Recipe) -> Sha256 {
    let text = serde_json::to_string(&(&recipe.inputs, &recipe.images)).unwrap_or_default();
    Sha256::of(text.as_bytes())
}

/// Where a saved image's tag link lies in `registry/` (distribution's
/// storage tree): `<prefix><repository>/_manifests/tags/<tag>/current/link`.
const REPOSITORIES: &str = "registry/docker/registry/v2/repositories/";

/// The image's SBOM and provenance, stored as referrers of `subject`
/// (not yet listed in `index.json`). Every placed file is hashed as it is
/// in the image; saved images are named by their tag links.
fn attest(
    recipe: &Recipe,
    subject: &Descriptor,
    options: &WriteOptions<'_>,
) -> Result<Vec<Descriptor>, WriteError> {
    let store = options.store;
    let invalid = |message: String| StoreError::Invalid {
        path: store.root().join("index.json"),
        message,
    };
    let digest: Sha256 = subject
        .digest()
        .to_string()
        .parse()
        .map_err(|e: crate::digest::DigestError| invalid(e.to_string()))?;
    let entries: Vec<(&str, &Entry)> = recipe.context.entries().collect();
    let files = entries
        .par_iter()
        .filter(|(_, entry)| {
            entry.origin != Origin::Registry && !matches!(entry.content, Content::Symlink(_))
        })
        .map(|(path, entry)| {
            let (sha256, sha1) =
                file_digests(entry).map_err(|e| StoreError::io(format!("reading {path}"), e))?;
            let component = match &entry.origin {
                Origin::Artifact(name) => Some(name.clone()),
                _ => None,
            };
            Ok(attest::File {
                path: path.to_string(),
                sha256,
                sha1,
                component,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let mut images = Vec::new();
    for (path, entry) in &entries {
        let Some(rest) = path.strip_prefix(REPOSITORIES) else {
            continue;
        };
        let Some((repository, tag)) = rest
            .strip_suffix("/current/link")
            .and_then(|r| r.split_once("/_manifests/tags/"))
        else {
            continue;
        };
        let mut text = String::new();
        Context::open(entry)
            .and_then(|mut r| std::io::Read::read_to_string(&mut r, &mut text))
            .map_err(|e| StoreError::io(format!("reading {path}"), e))?;
        let digest = text
            .trim()
            .parse()
            .map_err(|e: crate::digest::DigestError| invalid(format!("{path}: {e}")))?;
        // The image list's own reference (with its registry host) when
        // one names this repository and tag.
        let saved = format!("{repository}:{tag}");
        let reference = recipe
            .images
            .iter()
            .find(|image| **image == saved || image.ends_with(&format!("/{saved}")))
            .cloned()
            .unwrap_or(saved);
        images.push(attest::SavedImage { reference, digest });
    }
    let referenced = recipe
        .images
        .iter()
        .filter(|listed| !images.iter().any(|saved| saved.reference == **listed))
        .cloned()
        .collect();
    let facts = attest::Facts {
        image: &recipe.image,
        tag: &recipe.tag,
        arch: recipe.platform,
        digest: &digest,
        inputs: &recipe.inputs,
        files,
        images,
        referenced,
        epoch: options.epoch,
    };
    Ok(vec![
        build_referrer(store, subject, attest::SPDX_MEDIA_TYPE, &attest::spdx(&facts))?,
        build_referrer(
            store,
            subject,
            attest::IN_TOTO_MEDIA_TYPE,
            &attest::provenance(&facts),
        )?,
    ])
}

/// SHA-256 and SHA-1 (hex) of an entry's bytes. Files are hashed once per
/// run however many cells list them; a verified blob's SHA-256 is not
/// computed again.
fn file_digests(entry: &Entry) -> std::io::Result<(Sha256, String)> {
    use sha1::Digest;
    let hashes = match &entry.content {
        Content::Bytes(bytes) => {
            return Ok((Sha256::of(bytes), hex::encode(sha1::Sha1::digest(bytes))));
        }
        Content::Verified { path, id } => crate::digest::file_hashes(path, Some(id))?,
        Content::File(path) => crate::digest::file_hashes(path, None)?,
        Content::Symlink(_) => {
            return Err(std::io::Error::other("a link has no file digests"));
        }
    };
    Ok((hashes.sha256, hashes.sha1))
}
