//! Building cells into OCI images: each cell's rendered context plus its
//! fetched binaries (plus saved registry images) is split into layers that
//! cells share, written once, and assembled into per-arch manifests, then
//! multi-arch indexes and aliases. Cells run in parallel; a failing cell
//! is reported and the others finish.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use oci_spec::image::Descriptor;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::cell::{AssembleError, CellPlan, ImageLayers, PrepareError, plans_artifacts, prepare, take_lists};
use super::fetch::{FetchSet, fetch_set};
use super::save::{Puller, RegistrySaver};
use crate::axis::Arch;
use crate::config::Matrix;
use crate::context::{Context, ContextError};
use crate::digest::Sha256;
use crate::fetch::{Cache, FetchError, FetchOptions};
use crate::oci::{
    Compression, ImageConfig, IndexEntry, LayerDesc, LayerError, LayerSpec, RefLayout, RefName, Store,
    StoreError, build_index, build_manifest, write_layer,
};
use crate::plan::{ImagePart, Plan, PlannedCell};
use crate::progress::{Event, Outcome, Progress, Reporter};
use crate::recipe::{LayerGroup, LayerPolicy, Recipe, Takes};
use crate::registry::{Client, ImageMirror};
use crate::tag::Tag;

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

/// Why one cell (one recipe) failed; the other cells go on.
#[derive(Debug, Error)]
pub enum CellError {
    /// The cell's downloads or image files could not be placed.
    #[error(transparent)]
    Assemble(#[from] AssembleError),
    /// The assembled context is unsafe or inconsistent.
    #[error(transparent)]
    Context(#[from] ContextError),
    /// Saving the image list failed.
    #[error(transparent)]
    Save(#[from] SaveError),
    /// Writing a layer failed (here or in the cell that shared it).
    #[error(transparent)]
    Layer(#[from] Arc<LayerError>),
    /// The store could not be written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A base image was asked for without image pulls (`--skip-images`).
    #[error("image `{0}` needs image pulls; it cannot be built with --skip-images")]
    Base(String),
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

/// Everything one `build` needs, resolved by the caller.
pub struct BuildRequest<'a> {
    /// The matrix.
    pub matrix: &'a Matrix,
    /// The whole plan (an index gathers arches built earlier).
    pub plan: &'a Plan,
    /// The selected cells.
    pub cells: Vec<&'a PlannedCell>,
    /// How to fetch binaries.
    pub fetch: FetchOptions,
    /// The OCI layout to write.
    pub out: PathBuf,
    /// Layer compression.
    pub compression: Compression,
    /// Timestamp stamped into images.
    pub epoch: u64,
    /// Cells built at once.
    pub jobs: usize,
    /// Where saved images come from.
    pub images: ImageSource<'a>,
}

/// The outcome of a build (`matrix build --json`).
#[derive(Debug, Clone, Serialize)]
pub struct BuildReport {
    /// Cells written now.
    pub built: usize,
    /// Cells whose inputs and blobs were unchanged.
    pub unchanged: usize,
    /// Cells that failed.
    pub failed: usize,
    /// Wall time in seconds.
    pub seconds: f64,
    /// Every cell, in selection order.
    pub cells: Vec<CellResult>,
}

/// Renders every cell (stopping on the first bad one, before anything is
/// downloaded), fetches each artifact once, builds the cells in parallel
/// and publishes their tags.
pub fn build(request: BuildRequest<'_>, progress: &dyn Progress) -> Result<BuildReport, BuildError> {
    let start = Instant::now();
    let mut plans = prepare(request.matrix, &request.cells)?;
    let artifacts = plans_artifacts(&plans);
    let cache = Cache::open(&request.fetch.cache).map_err(|source| BuildError::Cache {
        path: request.fetch.cache.clone(),
        source,
    })?;
    let set = {
        let reporter = progress.stage("fetch", artifacts.len());
        fetch_set(
            request.matrix,
            request.fetch.clone(),
            &artifacts,
            reporter.as_ref(),
        )?
    };
    take_lists(request.matrix, &mut plans, &set)?;
    let store = Store::open(&request.out)?;
    // A count for the progress stage; a cell whose lists do not parse fails
    // when it is assembled.
    let images: std::collections::BTreeSet<(String, Arch)> = plans
        .iter()
        .flat_map(|plan| {
            let arch = plan.planned.cell.arch;
            let images = plan.rendered.images().unwrap_or_default();
            images.into_iter().map(move |image| (image, arch))
        })
        .collect();
    let pulls = progress.stage("images", images.len());
    let saver = request.images.saver(&cache, pulls.as_ref());
    let options = BuildOptions {
        store: &store,
        cache: &cache,
        fetched: &set,
        compression: request.compression,
        epoch: request.epoch,
        jobs: request.jobs,
        saver: saver.as_ref().map(|s| s as &dyn ImageSaver),
        plan: &request.plan.cells,
    };
    let reporter = progress.stage("build", request.cells.len());
    let cells = build_cells(request.matrix, plans, &options, reporter.as_ref())?;
    let count = |want: fn(&Status) -> bool| cells.iter().filter(|r| want(&r.status)).count();
    Ok(BuildReport {
        built: count(|s| *s == Status::Built),
        unchanged: count(|s| *s == Status::Unchanged),
        failed: count(|s| matches!(s, Status::Failed(_))),
        seconds: start.elapsed().as_secs_f64(),
        cells,
    })
}

/// How to build.
pub struct BuildOptions<'a> {
    /// The output store.
    pub store: &'a Store,
    /// The fetch cache (for unpacked archives).
    pub cache: &'a Cache,
    /// What the fetch step got, looked up by artifact.
    pub fetched: &'a FetchSet,
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
    pub tag: Tag,
    /// Outcome.
    pub status: Status,
    /// Manifest digest, when built or unchanged.
    pub digest: Option<Sha256>,
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
    /// The download cache cannot be opened.
    #[error("cannot open the cache {}: {source}", path.display())]
    Cache {
        /// The cache folder.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Fetching cannot start.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// A cell does not render (template, context or lock facts), or its
    /// needs cannot be resolved.
    #[error(transparent)]
    Prepare(#[from] PrepareError),
}

/// What the store remembers of a recipe, to skip unchanged rebuilds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CellRecord {
    key: Sha256,
    digest: Sha256,
    size: u64,
    descriptor: Descriptor,
}

/// One layer of this run: nobody has it yet (`None`), one recipe is
/// writing it, or it is done.
type LayerSlot = Arc<Mutex<Option<SlotState>>>;

impl CellRecord {
    /// The stored manifest's descriptor (with platform).
    pub fn descriptor(&self) -> &Descriptor {
        &self.descriptor
    }
}

enum SlotState {
    Writing,
    Done(Result<LayerDesc, Arc<LayerError>>),
}

/// The layers of one run, shared by every recipe written in it, so a layer
/// two recipes share is written once.
#[derive(Default)]
pub struct LayerSlots(Mutex<HashMap<String, LayerSlot>>);

/// Builds cells (planned by [`prepare`]) and publishes their tags in the
/// store.
pub fn build_cells(
    matrix: &Matrix,
    plans: Vec<CellPlan<'_>>,
    options: &BuildOptions<'_>,
    reporter: &dyn Reporter,
) -> Result<Vec<CellResult>, BuildError> {
    let slots = LayerSlots::default();
    let cells: Vec<&PlannedCell> = plans.iter().map(|plan| plan.planned).collect();
    let run = || -> Vec<(CellResult, Option<Descriptor>)> {
        plans
            .into_par_iter()
            .map(|plan| build_one(matrix, plan, options, &slots, reporter))
            .collect()
    };
    let results = match rayon::ThreadPoolBuilder::new()
        .num_threads(options.jobs.max(1))
        .build()
    {
        Ok(pool) => pool.install(run),
        Err(_) => run(),
    };
    publish(options.store, options.plan, &cells, &results)?;
    Ok(results.into_iter().map(|(result, _)| result).collect())
}

fn build_one(
    matrix: &Matrix,
    plan: CellPlan<'_>,
    options: &BuildOptions<'_>,
    slots: &LayerSlots,
    reporter: &dyn Reporter,
) -> (CellResult, Option<Descriptor>) {
    let planned = plan.planned;
    let task = format!("{}:{}", planned.image, planned.tags.tag);
    reporter.report(Event::Started {
        task: &task,
        total: None,
    });
    let start = Instant::now();
    let outcome = build_cell(matrix, plan, options, slots);
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
        Err(error) => (Status::Failed(error.to_string()), None, 0),
    };
    let outcome = match &status {
        Status::Built => Outcome::Built,
        Status::Unchanged => Outcome::Unchanged,
        Status::Failed(_) => Outcome::Failed,
    };
    reporter.report(Event::Finished { task: &task, outcome });
    let result = CellResult {
        image: planned.image.clone(),
        tag: planned.tags.tag.clone(),
        status,
        digest: record.as_ref().map(|r| r.digest.clone()),
        size: record.as_ref().map_or(0, |r| r.size),
        seconds,
        layers_written: written,
    };
    (result, record.map(|r| r.descriptor))
}

/// Turns a rendered cell into a recipe (fetched binaries placed), then
/// writes it.
fn build_cell(
    matrix: &Matrix,
    plan: CellPlan<'_>,
    options: &BuildOptions<'_>,
    slots: &LayerSlots,
) -> Result<(CellRecord, bool, usize), CellError> {
    let recipe = cell_recipe(matrix, plan, options)?;
    write_recipe(recipe, options, slots)
}

/// A rootfs cell as a recipe: its assembled context (the layers of its
/// image parts pulled first), split by [`rootfs_layers`].
fn cell_recipe(matrix: &Matrix, plan: CellPlan<'_>, options: &BuildOptions<'_>) -> Result<Recipe, CellError> {
    let planned = plan.planned;
    let part_layers = plan
        .needs
        .parts
        .iter()
        .map(|part| part_layers(part, planned.cell.arch, options.saver))
        .collect::<Result<Vec<_>, _>>()?;
    let cell = plan.assemble(matrix, options.fetched, options.cache, &part_layers)?;
    Ok(Recipe {
        image: planned.image.clone(),
        tag: planned.tags.tag.to_string(),
        platform: planned.cell.arch,
        context: cell.context,
        layers: rootfs_layers(matrix),
        config: cell.meta,
        images: cell.images,
        base: None,
    })
}

/// The verified layers of the image a part comes from, for `arch`.
fn part_layers(
    part: &ImagePart,
    arch: Arch,
    saver: Option<&dyn ImageSaver>,
) -> Result<ImageLayers, CellError> {
    let saver = saver.ok_or_else(|| CellError::Base(part.image.clone()))?;
    let base = saver.base(&part.image, arch)?;
    Ok(base
        .layers
        .iter()
        .map(|layer| (layer.path.clone(), layer.desc.compression))
        .collect())
}

/// The rootfs layer policy: the CRI's runtime files, one layer per
/// component layer group (`layer = "kube"` in matrix.toml), saved images,
/// then the cell's own rendered files, so cells share all but the last.
pub fn rootfs_layers(matrix: &Matrix) -> LayerPolicy {
    let mut groups = vec![LayerGroup {
        name: "runtime".into(),
        takes: vec![Takes::Contexts],
    }];
    for component in &matrix.components {
        match groups.iter_mut().find(|g| g.name == component.layer) {
            Some(group) => {
                if let Some(Takes::Artifacts(names)) = group.takes.first_mut() {
                    names.push(component.name.clone());
                }
            }
            None => groups.push(LayerGroup {
                name: component.layer.clone(),
                takes: vec![Takes::Artifacts(vec![component.name.clone()])],
            }),
        }
    }
    groups.push(LayerGroup {
        name: "registry".into(),
        takes: vec![Takes::Registry],
    });
    groups.push(LayerGroup {
        name: "cell".into(),
        takes: vec![Takes::Generated],
    });
    LayerPolicy { groups }
}

/// Writes any recipe: saves its images into `registry/`, splits its
/// context by its layer policy, reuses what the store already holds (and
/// verifies), writes the rest, and stores config and manifest. Returns the
/// record, whether it was unchanged, and how many layers were written.
pub fn write_recipe(
    mut recipe: Recipe,
    options: &BuildOptions<'_>,
    slots: &LayerSlots,
) -> Result<(CellRecord, bool, usize), CellError> {
    let base = match (&recipe.base, options.saver) {
        (None, _) => None,
        (Some(image), None) => return Err(CellError::Base(image.clone())),
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
    }
    let cell_key = recipe_key(&recipe, base.as_ref(), &specs, &keys);
    let record_name = format!("{}:{}", recipe.image, recipe.tag);
    if let Some(record) = options.store.record::<CellRecord>("cells", &record_name)
        && record.key == cell_key
        && options.store.check_closure(&record.descriptor).is_ok()
    {
        return Ok((record, true, 0));
    }
    // Layers of one recipe are written in parallel too.
    let built: Vec<Result<(LayerDesc, bool), CellError>> = specs
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
    let record = CellRecord {
        key: cell_key,
        digest,
        size: info.size,
        descriptor: info.descriptor,
    };
    options.store.put_record("cells", &record_name, &record)?;
    Ok((record, false, written))
}

/// A layer by input key: from the store's records, from another recipe of
/// this run, or written now (the bool says which).
fn layer(
    store: &Store,
    spec: &LayerSpec<'_>,
    key: &Sha256,
    slots: &LayerSlots,
) -> Result<(LayerDesc, bool), CellError> {
    let name = key.hex();
    // A damaged or missing blob is not reused: the layer is written again
    // and the bad file replaced.
    if let Some(desc) = store.record::<LayerDesc>("layers", &name)
        && store.check_blob(&desc.digest.to_string(), desc.size).is_ok()
    {
        return Ok((desc, false));
    }
    let slot = {
        let mut slots = slots.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        slots.entry(name.clone()).or_default().clone()
    };
    loop {
        let mut state = slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match &*state {
            None => {
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
                *slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) =
                    Some(SlotState::Done(result.clone()));
                return result.map(|desc| (desc, true)).map_err(CellError::Layer);
            }
            Some(SlotState::Done(result)) => {
                return result.clone().map(|desc| (desc, false)).map_err(CellError::Layer);
            }
            Some(SlotState::Writing) => {
                drop(state);
                // Another recipe is writing this layer: help with pending work
                // (its compression blocks) instead of blocking a worker.
                if rayon::yield_now() != Some(rayon::Yield::Executed) {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
            }
        }
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

/// Points the per-arch tags and aliases at the new manifests, then builds
/// each touched multi-arch index from every arch the store has for it.
fn publish(
    store: &Store,
    plan: &[PlannedCell],
    cells: &[&PlannedCell],
    results: &[(CellResult, Option<Descriptor>)],
) -> Result<(), StoreError> {
    let mut refs: Vec<(RefName, Descriptor)> = Vec::new();
    let mut groups: BTreeMap<(String, String), Vec<(&PlannedCell, Descriptor)>> = BTreeMap::new();
    for (cell, (_, descriptor)) in cells.iter().zip(results) {
        let Some(descriptor) = descriptor else { continue };
        for tag in std::iter::once(&cell.tags.tag).chain(&cell.tags.aliases) {
            refs.push((RefName::new(&cell.image, tag), descriptor.clone()));
        }
        groups
            .entry((cell.image.clone(), cell.tags.index_tag.to_string()))
            .or_default()
            .push((cell, descriptor.clone()));
    }
    store.set_refs(refs)?;
    // Every ref of the store, read once (resolving one by one re-reads
    // index.json per group).
    let existing: HashMap<String, Descriptor> = store
        .index()?
        .into_iter()
        .filter_map(|d| crate::oci::ref_name(&d).map(|name| (name.to_string(), d.clone())))
        .collect();
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
                && let Some(descriptor) = existing
                    .get(&RefName::new(&image, &other.tags.tag).to_string())
                    .cloned()
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
            index_refs.push((RefName::new(&image, tag), index.clone()));
        }
    }
    store.set_refs(index_refs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::{Content, Entry, Origin};
    use crate::oci::{ImageConfig, LayerFile};

    /// A one-layer image for `cell`, as `build_one` would return it.
    fn built(store: &Store, cell: &PlannedCell) -> (CellResult, Option<Descriptor>) {
        let entry = Entry {
            content: Content::Bytes(format!("{}\n", cell.tags.tag).into_bytes()),
            mode: 0o644,
            origin: Origin::Generated("test"),
        };
        let spec = LayerSpec {
            name: "cell".into(),
            files: vec![LayerFile {
                path: "tag.txt",
                entry: &entry,
            }],
            compression: Compression::Gzip(1),
            mtime: 0,
        };
        let layer = write_layer(store, &spec).unwrap();
        let info = build_manifest(
            store,
            cell.cell.arch,
            &ImageConfig::default(),
            &[("cell".into(), layer)],
            0,
        )
        .unwrap();
        let result = CellResult {
            image: cell.image.clone(),
            tag: cell.tags.tag.clone(),
            status: Status::Built,
            digest: None,
            size: info.size,
            seconds: 0.0,
            layers_written: 1,
        };
        (result, Some(info.descriptor))
    }

    #[test]
    fn an_index_is_published_only_when_every_arch_is_built() {
        let matrix =
            Matrix::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("matrix.toml")).unwrap();
        let plan = Plan::build(&matrix).unwrap();
        let selector = "kubernetes:v1.24.4-4.1.3".parse().unwrap();
        let cells = plan.select(&selector);
        assert_eq!(cells.len(), 2, "amd64 and arm64");
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let index = RefName::new("kubernetes", &cells[0].tags.index_tag);

        let first = [built(&store, cells[0])];
        publish(&store, &plan.cells, &cells[..1], &first).unwrap();
        let per_arch = RefName::new("kubernetes", &cells[0].tags.tag);
        assert!(store.resolve(&per_arch).unwrap().is_some());
        assert!(
            store.resolve(&index).unwrap().is_none(),
            "one arch is not an index"
        );

        // A later run builds the other arch: the index gathers both.
        let second = [built(&store, cells[1])];
        publish(&store, &plan.cells, &cells[1..], &second).unwrap();
        let descriptor = store.resolve(&index).unwrap().expect("the index");
        let document: serde_json::Value = store.read_json(descriptor.digest().as_ref()).unwrap();
        let arches: Vec<&str> = document["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["platform"]["architecture"].as_str().unwrap())
            .collect();
        assert_eq!(arches, vec!["amd64", "arm64"]);
    }
}
