//! One cell assembly. A planned cell is rendered and its needs decided
//! once ([`prepare`] gives a [`CellPlan`]: context, image config,
//! [`CellNeeds`]); after the downloads, [`CellPlan::assemble`] places them
//! and decides the images the cell saves ([`AssembledCell`]). `render`,
//! `build`, `fetch` and `mirror` all take a cell's artifacts from here, and
//! the image list is always what the final context lists under
//! `images/shim/` ([`shim_images`]), whoever put the lists there.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;

use rayon::prelude::*;
use thiserror::Error;

use super::fetch::FetchSet;
use crate::config::Matrix;
use crate::context::Context;
use crate::fetch::{Cache, FetchError, pack_all, place, place_from_layers};
use crate::oci::Compression;
use crate::plan::{Artifact, CellNeeds, NeedsError, PlannedCell};
use crate::render::{
    IMAGE_LIST_BYTES, ImageMeta, RenderError, RenderedCell, render_cell, shim_images, supply_image_list,
};

/// A cell rendered, with what it needs from outside decided once.
#[derive(Debug, Clone)]
pub struct CellPlan<'p> {
    /// The planned cell.
    pub planned: &'p PlannedCell,
    /// Its downloads and image parts.
    pub needs: CellNeeds,
    /// Its rendered context and image config.
    pub rendered: RenderedCell,
}

/// A cell with everything placed: what its image is made of.
#[derive(Debug, Clone)]
pub struct AssembledCell {
    /// The full context: rendered files, downloads, files out of images.
    pub context: Context,
    /// Labels, env and cmd for the image config.
    pub meta: ImageMeta,
    /// The images it saves into `registry/`, as its context lists them.
    pub images: Vec<String>,
}

/// The verified layers of an image for one platform, base first.
pub type ImageLayers = Vec<(PathBuf, Compression)>;

/// Why a cell cannot be planned: bad input, found before any download.
#[derive(Debug, Error)]
pub enum PrepareError {
    /// The cell does not render (template, context, lock facts), or the
    /// image list it takes from a download is unusable.
    #[error("{cell}: {source}")]
    Render {
        /// The cell's image and tag.
        cell: String,
        /// Why.
        #[source]
        source: RenderError,
    },
    /// A component's version cannot be resolved for a cell.
    #[error(transparent)]
    Needs(#[from] NeedsError),
}

impl PrepareError {
    /// True when the fix is in the user's input rather than the machine.
    pub fn is_usage(&self) -> bool {
        match self {
            PrepareError::Render { source, .. } => source.is_usage(),
            PrepareError::Needs(_) => false,
        }
    }
}

/// Why one cell could not be assembled (the other cells go on).
#[derive(Debug, Error)]
pub enum AssembleError {
    /// An artifact the cell needs was not fetched.
    #[error("{artifact} was not fetched{}", reason.as_ref().map(|r| format!(": {r}")).unwrap_or_default())]
    NotFetched {
        /// The artifact (`kubelet 1.24.4 amd64`).
        artifact: String,
        /// The fetch error, if the fetch was tried.
        reason: Option<String>,
    },
    /// Placing an artifact or a file out of an image failed.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The final image lists do not parse.
    #[error("{cell}: {source}")]
    ImageList {
        /// The cell's image and tag.
        cell: String,
        /// Why.
        #[source]
        source: RenderError,
    },
}

/// `image:tag`, how errors name a cell.
fn name(planned: &PlannedCell) -> String {
    format!("{}:{}", planned.image, planned.tags.tag)
}

/// Renders every cell and decides its needs, stopping at a bad cell before
/// anything is downloaded, so template and context mistakes are bad input.
pub fn prepare<'p>(matrix: &Matrix, cells: &[&'p PlannedCell]) -> Result<Vec<CellPlan<'p>>, PrepareError> {
    cells
        .par_iter()
        .map(|planned| {
            let rendered = render_cell(matrix, planned).map_err(|source| PrepareError::Render {
                cell: name(planned),
                source,
            })?;
            Ok(CellPlan {
                planned,
                needs: CellNeeds::of(matrix, &planned.cell)?,
                rendered,
            })
        })
        .collect()
}

/// Each cell's needs, in selection order, without rendering (`fetch`,
/// `mirror`).
pub fn needs_of(matrix: &Matrix, cells: &[&PlannedCell]) -> Result<Vec<CellNeeds>, NeedsError> {
    cells
        .iter()
        .map(|planned| CellNeeds::of(matrix, &planned.cell))
        .collect()
}

/// Every artifact in `needs`, once per URL, in a stable order.
pub fn unique_artifacts<'a>(needs: impl IntoIterator<Item = &'a CellNeeds>) -> Vec<Artifact> {
    let mut by_url = BTreeMap::new();
    for artifact in needs.into_iter().flat_map(|needs| &needs.artifacts) {
        by_url
            .entry(artifact.url.clone())
            .or_insert_with(|| artifact.clone());
    }
    by_url.into_values().collect()
}

/// Every artifact the cells need, once per URL, in a stable order.
pub fn artifacts_of(matrix: &Matrix, cells: &[&PlannedCell]) -> Result<Vec<Artifact>, NeedsError> {
    Ok(unique_artifacts(&needs_of(matrix, cells)?))
}

/// Every artifact the planned cells need, once per URL.
pub fn plans_artifacts(plans: &[CellPlan<'_>]) -> Vec<Artifact> {
    unique_artifacts(plans.iter().map(|plan| &plan.needs))
}

/// Puts the image list each cell takes from a download (k3s's
/// `k3s-images.txt`) in place, read from the verified file. A list that was
/// not fetched is left to [`CellPlan::assemble`], which reports it; an
/// unusable one is bad input and stops here, before any cell is written.
pub fn take_lists(
    matrix: &Matrix,
    plans: &mut [CellPlan<'_>],
    fetched: &FetchSet,
) -> Result<(), PrepareError> {
    for plan in plans {
        let Some(artifact) = plan.needs.image_list() else {
            continue;
        };
        let Some(file) = fetched.get(artifact) else {
            continue;
        };
        let bad = |source| PrepareError::Render {
            cell: name(plan.planned),
            source,
        };
        let mut text = Vec::new();
        // One byte over the renderer's bound is enough to refuse it.
        std::fs::File::open(&file.path)
            .and_then(|f| f.take(IMAGE_LIST_BYTES as u64 + 1).read_to_end(&mut text))
            .map_err(|error| {
                bad(RenderError::ImageList {
                    component: artifact.component.clone(),
                    line: 0,
                    reason: format!("reading {}: {error}", file.path.display()),
                })
            })?;
        supply_image_list(
            matrix,
            plan.planned,
            &mut plan.rendered.context,
            &artifact.component,
            &text,
        )
        .map_err(bad)?;
    }
    Ok(())
}

impl CellPlan<'_> {
    /// The cell's full context: every download placed (and `pack` bundles
    /// packed), then the files of each image part taken out of its image's
    /// layers (`part_layers`, one list per part, in order), then the images
    /// its context lists.
    pub fn assemble(
        self,
        matrix: &Matrix,
        fetched: &FetchSet,
        cache: &Cache,
        part_layers: &[ImageLayers],
    ) -> Result<AssembledCell, AssembleError> {
        let mut context = self.rendered.context;
        for artifact in &self.needs.artifacts {
            let file = fetched.get(artifact).ok_or_else(|| AssembleError::NotFetched {
                artifact: artifact.label(),
                reason: fetched.failure(artifact).map(ToString::to_string),
            })?;
            place(&mut context, artifact, file, cache)?;
        }
        pack_all(matrix, &mut context, cache)?;
        for (index, part) in self.needs.parts.iter().enumerate() {
            let layers = part_layers.get(index).map(Vec::as_slice).unwrap_or_default();
            place_from_layers(&mut context, part, layers, cache)?;
        }
        let images = shim_images(&context).map_err(|source| AssembleError::ImageList {
            cell: name(self.planned),
            source,
        })?;
        Ok(AssembledCell {
            context,
            meta: self.rendered.meta,
            images,
        })
    }
}
