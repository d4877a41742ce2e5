//! Building cells into OCI images: each cell's rendered context plus its
//! fetched binaries (plus saved registry images) is split into layers that
//! cells share, written once, and assembled into per-arch manifests, then
//! multi-arch indexes and aliases. Cells run in parallel; a failing cell
//! is reported and the others finish.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use oci_spec::image::Descriptor;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::axis::Arch;
use crate::config::Matrix;
use crate::context::{Context, Origin};
use crate::digest::Sha256;
use crate::fetch::{Cache, Fetched, artifacts_for, place};
use crate::oci::{
    Compression, IndexEntry, LayerDesc, LayerFile, LayerSpec, Store, StoreError, build_index, build_manifest,
    write_layer,
};
use crate::plan::PlannedCell;
use crate::progress::{Event, Reporter};
use crate::render::{RenderError, RenderedCell, render_cell};

/// Fills `registry/` of a context with the images a cell lists.
pub trait ImageSaver: Sync {
    /// Adds the distribution-layout files of `images` for `arch`.
    fn save(&self, images: &[String], arch: Arch, context: &mut Context) -> Result<(), String>;
}

/// How to build.
pub struct BuildOptions<'a> {
    /// The output store.
    pub store: &'a Store,
    /// The fetch cache (for unpacked archives).
    pub cache: &'a Cache,
    /// Fetched artifacts by upstream URL.
    pub fetched: &'a HashMap<String, Fetched>,
    /// Fetch failures by upstream URL.
    pub fetch_failures: &'a HashMap<String, String>,
    /// Layer compression.
    pub compression: Compression,
    /// Timestamp stamped into images.
    pub epoch: u64,
    /// Cells built at once.
    pub jobs: usize,
    /// The registry stage, if any.
    pub saver: Option<&'a dyn ImageSaver>,
    /// Every planned cell, so an index can gather arches built earlier.
    pub plan: &'a [PlannedCell],
}

/// What happened to a cell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Written now.
    Built,
    /// Inputs unchanged since the last build into this store.
    Unchanged,
    /// Failed; the message says why.
    Failed(String),
}

/// One cell's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct CellResult {
    /// Image name.
    pub image: String,
    /// Per-arch tag.
    pub tag: String,
    /// Outcome.
    pub status: Status,
    /// Manifest digest, when built or unchanged.
    pub digest: Option<String>,
    /// Config plus layer bytes.
    pub size: u64,
    /// Wall time in seconds.
    pub seconds: f64,
    /// Layers written now (the rest were reused).
    pub layers_written: usize,
}

/// Errors that stop a whole build (cell errors are reported per cell).
#[derive(Debug, Error)]
pub enum BuildError {
    /// The store could not be updated.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A cell does not render (template, context or lock facts).
    #[error("{cell}: {source}")]
    Render {
        /// The cell's image and tag.
        cell: String,
        /// Why.
        #[source]
        source: RenderError,
    },
}

/// What the store remembers of a cell, to skip unchanged rebuilds.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CellRecord {
    key: String,
    digest: String,
    size: u64,
    descriptor: Descriptor,
}

type LayerSlot = Arc<OnceLock<Result<LayerDesc, String>>>;

/// Renders every cell before anything is downloaded or written, so a
/// template or context mistake stops the build at once (and is bad input,
/// not a failed cell).
pub fn render_all(matrix: &Matrix, cells: &[&PlannedCell]) -> Result<Vec<RenderedCell>, BuildError> {
    cells
        .par_iter()
        .map(|planned| {
            render_cell(matrix, planned).map_err(|source| BuildError::Render {
                cell: format!("{}:{}", planned.image, planned.tags.tag),
                source,
            })
        })
        .collect()
}

/// Builds cells (rendered by [`render_all`], in the same order) and
/// publishes their tags in the store.
pub fn build_cells(
    matrix: &Matrix,
    cells: &[&PlannedCell],
    rendered: Vec<RenderedCell>,
    options: &BuildOptions<'_>,
    reporter: &dyn Reporter,
) -> Result<Vec<CellResult>, BuildError> {
    let slots: Mutex<HashMap<String, LayerSlot>> = Mutex::new(HashMap::new());
    let run = || -> Vec<(CellResult, Option<Descriptor>)> {
        cells
            .par_iter()
            .zip(rendered.into_par_iter())
            .map(|(cell, rendered)| build_one(matrix, cell, rendered, options, &slots, reporter))
            .collect()
    };
    let results = match rayon::ThreadPoolBuilder::new()
        .num_threads(options.jobs.max(1))
        .build()
    {
        Ok(pool) => pool.install(run),
        Err(_) => run(),
    };
    publish(options.store, options.plan, cells, &results)?;
    Ok(results.into_iter().map(|(result, _)| result).collect())
}

fn build_one(
    matrix: &Matrix,
    planned: &PlannedCell,
    rendered: RenderedCell,
    options: &BuildOptions<'_>,
    slots: &Mutex<HashMap<String, LayerSlot>>,
    reporter: &dyn Reporter,
) -> (CellResult, Option<Descriptor>) {
    let task = format!("{}:{}", planned.image, planned.tags.tag);
    reporter.report(Event::Started {
        task: &task,
        total: None,
    });
    let start = Instant::now();
    let outcome = build_cell(matrix, planned, rendered, options, slots);
    let seconds = start.elapsed().as_secs_f64();
    let (status, record, written) = match outcome {
        Ok((record, unchanged, written)) => (
            if unchanged {
                Status::Unchanged
            } else {
                Status::Built
            },
            Some(record),
            written,
        ),
        Err(message) => (Status::Failed(message), None, 0),
    };
    let word = match &status {
        Status::Built => "built",
        Status::Unchanged => "unchanged",
        Status::Failed(_) => "failed",
    };
    reporter.report(Event::Finished {
        task: &task,
        outcome: word,
    });
    let result = CellResult {
        image: planned.image.clone(),
        tag: planned.tags.tag.to_string(),
        status,
        digest: record.as_ref().map(|r| r.digest.clone()),
        size: record.as_ref().map_or(0, |r| r.size),
        seconds,
        layers_written: written,
    };
    (result, record.map(|r| r.descriptor))
}

/// Renders, fetches, splits and writes one cell.
fn build_cell(
    matrix: &Matrix,
    planned: &PlannedCell,
    rendered: RenderedCell,
    options: &BuildOptions<'_>,
    slots: &Mutex<HashMap<String, LayerSlot>>,
) -> Result<(CellRecord, bool, usize), String> {
    let mut context = rendered.context;
    for artifact in artifacts_for(matrix, &planned.cell).map_err(|e| e.to_string())? {
        let fetched = options.fetched.get(&artifact.url).ok_or_else(|| {
            options
                .fetch_failures
                .get(&artifact.url)
                .cloned()
                .unwrap_or_else(|| format!("{} was not fetched", artifact.label()))
        })?;
        place(&mut context, fetched, options.cache).map_err(|e| e.to_string())?;
    }
    if let Some(saver) = options.saver {
        saver.save(&rendered.images, planned.cell.arch, &mut context)?;
    }
    context.check_links().map_err(|e| e.to_string())?;
    let specs = split_layers(matrix, &context, options.compression, options.epoch);
    let mut keys = Vec::with_capacity(specs.len());
    for spec in &specs {
        keys.push(spec.input_key().map_err(|e| e.to_string())?);
    }
    let cell_key = cell_key(planned, &rendered.meta, &specs, &keys);
    let record_name = format!("{}:{}", planned.image, planned.tags.tag);
    if let Some(record) = options.store.record::<CellRecord>("cells", &record_name)
        && record.key == cell_key.to_string()
        && options.store.check_closure(&record.descriptor).is_ok()
    {
        return Ok((record, true, 0));
    }
    // Layers of one cell are written in parallel too.
    let built: Vec<Result<(LayerDesc, bool), String>> = specs
        .par_iter()
        .zip(keys.par_iter())
        .map(|(spec, key)| layer(options.store, spec, key, slots))
        .collect();
    let mut layers = Vec::with_capacity(specs.len());
    let mut written = 0;
    for (spec, result) in specs.iter().zip(built) {
        let (desc, fresh) = result?;
        written += usize::from(fresh);
        layers.push((spec.name.clone(), desc));
    }
    let info = build_manifest(
        options.store,
        planned.cell.arch,
        &rendered.meta,
        &layers,
        options.epoch,
    )
    .map_err(|e| e.to_string())?;
    let record = CellRecord {
        key: cell_key.to_string(),
        digest: info.descriptor.digest().to_string(),
        size: info.size,
        descriptor: info.descriptor,
    };
    options
        .store
        .put_record("cells", &record_name, &record)
        .map_err(|e| e.to_string())?;
    Ok((record, false, written))
}

/// A layer by input key: from the store's records, from another cell of
/// this run, or written now (the bool says which).
fn layer(
    store: &Store,
    spec: &LayerSpec<'_>,
    key: &Sha256,
    slots: &Mutex<HashMap<String, LayerSlot>>,
) -> Result<(LayerDesc, bool), String> {
    let name = key.hex();
    // A damaged or missing blob is not reused: the layer is written again
    // and the bad file replaced.
    if let Some(desc) = store.record::<LayerDesc>("layers", &name)
        && store.check_blob(&desc.digest, desc.size).is_ok()
    {
        return Ok((desc, false));
    }
    let slot = {
        let mut slots = slots.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        slots.entry(name.clone()).or_default().clone()
    };
    let mut fresh = false;
    let result = slot.get_or_init(|| {
        fresh = true;
        let desc = write_layer(store, spec).map_err(|e| e.to_string())?;
        store
            .put_record("layers", &name, &desc)
            .map_err(|e| e.to_string())?;
        Ok(desc)
    });
    result.clone().map(|desc| (desc, fresh))
}

/// Groups context files into layers that cells share: the runtime files of
/// the CRI, one layer per component layer group, saved registry images,
/// then the cell's own rendered files last.
fn split_layers<'c>(
    matrix: &Matrix,
    context: &'c Context,
    compression: Compression,
    epoch: u64,
) -> Vec<LayerSpec<'c>> {
    let order: Vec<String> = matrix.components.iter().map(|c| c.layer.clone()).collect();
    let group_of = |origin: &Origin| -> (usize, String) {
        match origin {
            Origin::Context(_) => (0, "runtime".to_string()),
            Origin::Artifact(component) => {
                let layer = matrix
                    .components
                    .iter()
                    .find(|c| &c.name == component)
                    .map_or_else(|| component.clone(), |c| c.layer.clone());
                let position = order.iter().position(|l| *l == layer).unwrap_or(order.len());
                (1 + position, layer)
            }
            Origin::Registry => (usize::MAX - 1, "registry".to_string()),
            Origin::Template(_) | Origin::Generated(_) => (usize::MAX, "cell".to_string()),
        }
    };
    let mut groups: BTreeMap<(usize, String), Vec<LayerFile<'c>>> = BTreeMap::new();
    for (path, entry) in context.entries() {
        groups
            .entry(group_of(&entry.origin))
            .or_default()
            .push(LayerFile { path, entry });
    }
    groups
        .into_iter()
        .map(|((_, name), files)| LayerSpec {
            name,
            files,
            compression,
            mtime: epoch,
        })
        .collect()
}

fn cell_key(
    planned: &PlannedCell,
    meta: &crate::render::ImageMeta,
    specs: &[LayerSpec<'_>],
    keys: &[Sha256],
) -> Sha256 {
    let mut text = format!(
        "matrix {}\narch {}\nmeta {}\n",
        env!("CARGO_PKG_VERSION"),
        planned.cell.arch,
        serde_json::to_string(meta).unwrap_or_default()
    );
    for (spec, key) in specs.iter().zip(keys) {
        text.push_str(&format!("layer {} {key}\n", spec.name));
    }
    Sha256::of(text.as_bytes())
}

/// Points the per-arch tags and aliases at the new manifests, then builds
/// each touched multi-arch index from every arch the store has for it.
fn publish(
    store: &Store,
    plan: &[PlannedCell],
    cells: &[&PlannedCell],
    results: &[(CellResult, Option<Descriptor>)],
) -> Result<(), StoreError> {
    let mut refs: Vec<(String, Descriptor)> = Vec::new();
    let mut groups: BTreeMap<(String, String), Vec<(&PlannedCell, Descriptor)>> = BTreeMap::new();
    for (cell, (_, descriptor)) in cells.iter().zip(results) {
        let Some(descriptor) = descriptor else { continue };
        for tag in std::iter::once(&cell.tags.tag).chain(&cell.tags.aliases) {
            refs.push((format!("{}:{tag}", cell.image), descriptor.clone()));
        }
        groups
            .entry((cell.image.clone(), cell.tags.index_tag.to_string()))
            .or_default()
            .push((cell, descriptor.clone()));
    }
    store.set_refs(refs)?;
    let mut index_refs = Vec::new();
    for ((image, index_tag), members) in groups {
        let Some((first, _)) = members.first() else {
            continue;
        };
        let mut entries: BTreeMap<Arch, Descriptor> = members
            .iter()
            .map(|(cell, d)| (cell.cell.arch, d.clone()))
            .collect();
        // Arches built earlier into this store join the index too; an index
        // is only published when every planned arch of it exists.
        let group: Vec<&PlannedCell> = plan
            .iter()
            .filter(|c| c.image == image && c.tags.index_tag.as_str() == index_tag)
            .collect();
        for other in &group {
            if !entries.contains_key(&other.cell.arch)
                && let Some(descriptor) = store.resolve(&format!("{image}:{}", other.tags.tag))?
            {
                entries.insert(other.cell.arch, descriptor);
            }
        }
        if group.iter().any(|c| !entries.contains_key(&c.cell.arch)) {
            continue;
        }
        let entries: Vec<IndexEntry> = entries
            .into_iter()
            .map(|(arch, descriptor)| IndexEntry { descriptor, arch })
            .collect();
        let index = build_index(store, &entries)?;
        for tag in std::iter::once(&first.tags.index_tag).chain(&first.tags.index_aliases) {
            index_refs.push((format!("{image}:{tag}"), index.clone()));
        }
    }
    store.set_refs(index_refs)
}
