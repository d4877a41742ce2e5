//! Building cells into OCI images: each cell's rendered context plus its
//! fetched binaries (plus saved registry images) is split into layers that
//! cells share, written once, and assembled into per-arch manifests, then
//! multi-arch indexes and aliases. Cells run in parallel; a failing cell
//! is reported and the others finish.

use std::path::PathBuf;
use std::time::Instant;

use oci_spec::image::Descriptor;
use rayon::prelude::*;
use serde::Serialize;
use thiserror::Error;

use super::cell::{AssembleError, CellPlan, ImageLayers, PrepareError, plans_artifacts, prepare, take_lists};
use super::fetch::{FetchSet, fetch_set};
use super::publish::{Placement, publish};
use super::save::{ImageSaver, ImageSource, SaveError};
use super::write::{CellRecord, LayerSlots, WriteError, WriteOptions, Written, write_recipe};
use crate::attest;
use crate::axis::Arch;
use crate::config::Matrix;
use crate::context::ContextError;
use crate::digest::Sha256;
use crate::fetch::{Cache, FetchError, FetchOptions};
use crate::oci::{Compression, Store, StoreError};
use crate::plan::{ImagePart, Plan, PlannedCell};
use crate::progress::{Event, Outcome, Progress, Reporter};
use crate::recipe::{LayerGroup, LayerPolicy, Recipe, Takes};
use crate::tag::Tag;

/// Why one cell (one recipe) failed; the other cells go on.
#[derive(Debug, Error)]
pub enum CellError {
    /// The cell's downloads or image files could not be placed.
    #[error(transparent)]
    Assemble(#[from] AssembleError),
    /// The assembled context is unsafe or inconsistent.
    #[error(transparent)]
    Context(#[from] ContextError),
    /// Pulling an image component's image failed.
    #[error(transparent)]
    Save(#[from] SaveError),
    /// Writing the image failed.
    #[error(transparent)]
    Write(#[from] WriteError),
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
    /// Which platforms of each listed image `registry/` holds.
    pub save_platforms: super::save::SavePlatforms,
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
    let saver = request
        .images
        .saver(&cache, pulls.as_ref())
        .map(|saver| saver.with_platforms(request.save_platforms));
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

impl BuildOptions<'_> {
    /// What the writer needs of these options.
    pub fn writer(&self) -> WriteOptions<'_> {
        WriteOptions {
            store: self.store,
            compression: self.compression,
            epoch: self.epoch,
            saver: self.saver,
        }
    }
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
    let run = || -> Vec<(CellResult, Option<CellRecord>)> {
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
    let written: Vec<(Placement, Descriptor)> = cells
        .iter()
        .zip(&results)
        .filter_map(|(cell, (_, record))| {
            Some((
                Placement::of_cell(cell, options.plan),
                record.as_ref()?.descriptor().clone(),
            ))
        })
        .collect();
    let referrers: Vec<Descriptor> = results
        .iter()
        .filter_map(|(_, record)| record.as_ref())
        .flat_map(|record| record.referrers.iter().cloned())
        .collect();
    options.store.add_referrers(&referrers)?;
    publish(options.store, &written)?;
    Ok(results.into_iter().map(|(result, _)| result).collect())
}

fn build_one(
    matrix: &Matrix,
    plan: CellPlan<'_>,
    options: &BuildOptions<'_>,
    slots: &LayerSlots,
    reporter: &dyn Reporter,
) -> (CellResult, Option<CellRecord>) {
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
        Ok(written) => (
            if written.unchanged {
                Status::Unchanged
            } else {
                Status::Built
            },
            Some(written.record),
            written.layers_written,
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
    (result, record)
}

/// Turns a rendered cell into a recipe (fetched binaries placed), then
/// writes it.
fn build_cell(
    matrix: &Matrix,
    plan: CellPlan<'_>,
    options: &BuildOptions<'_>,
    slots: &LayerSlots,
) -> Result<Written, CellError> {
    let recipe = cell_recipe(matrix, plan, options)?;
    Ok(write_recipe(recipe, &options.writer(), slots)?)
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
    let inputs = cell_inputs(matrix, &plan, options.fetched);
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
        inputs,
    })
}

/// What a cell is built from, for its SBOM and provenance: each download
/// with its verified digest, matrix.toml and matrix.lock by digest, and
/// the cell asked for.
fn cell_inputs(matrix: &Matrix, plan: &CellPlan<'_>, fetched: &FetchSet) -> attest::Inputs {
    let planned = plan.planned;
    let sources = plan
        .needs
        .artifacts
        .iter()
        .filter_map(|artifact| {
            let got = fetched.get(artifact)?;
            Some(attest::Source {
                component: artifact.component.clone(),
                version: artifact.version.clone(),
                // Written into the SBOM: the redacted form.
                url: artifact.url.to_string(),
                sha256: got.digest.clone(),
                license: matrix
                    .components
                    .iter()
                    .find(|c| c.name == artifact.component)
                    .and_then(|c| c.license.clone()),
            })
        })
        .collect();
    let materials = [("matrix.toml", &matrix.path), ("matrix.lock", &matrix.lock_path)]
        .into_iter()
        // Hashed once per run (memoized by path and file identity), not per cell.
        .filter_map(|(name, path)| Some((name.to_string(), crate::digest::file_sha256(path).ok()?)))
        .collect();
    let parameters = [
        (
            "cell".to_string(),
            format!("{}:{}", planned.image, planned.tags.tag),
        ),
        ("cri".to_string(), planned.cell.cri.to_string()),
        ("kubernetes".to_string(), planned.cell.kube.to_string()),
        ("sealos".to_string(), planned.cell.sealos.to_string()),
    ]
    .into();
    attest::Inputs {
        sources,
        materials,
        parameters,
        ..attest::Inputs::default()
    }
}

/// The verified layers of the image a part comes from, for `arch`.
fn part_layers(
    part: &ImagePart,
    arch: Arch,
    saver: Option<&dyn ImageSaver>,
) -> Result<ImageLayers, CellError> {
    let saver = saver.ok_or_else(|| WriteError::NeedsPulls(part.image.clone()))?;
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
