//! `render` as a pipeline step: the build context of each selected cell
//! (optionally with its binaries placed) written to disk, one folder per
//! cell, with every file's origin reported. Every cell is rendered before
//! anything is downloaded or written.

use std::path::PathBuf;

use serde::Serialize;
use thiserror::Error;

use super::cell::{AssembleError, CellPlan, PrepareError, plans_artifacts, prepare, take_lists};
use super::fetch::fetch_set;
use crate::config::Matrix;
use crate::context::{Context, ContextError};
use crate::fetch::{Cache, FetchError, FetchOptions};
use crate::plan::PlannedCell;
use crate::progress::Progress;

/// Where and how to write contexts.
#[derive(Debug, Clone)]
pub struct RenderRequest {
    /// The output folder.
    pub out: PathBuf,
    /// Write the one cell straight into `out` (else `out/<image>/<tag>`).
    pub single: bool,
    /// Replace folders an earlier render wrote.
    pub force: bool,
    /// Also fetch the cells' binaries and place them, this way.
    pub binaries: Option<FetchOptions>,
}

/// One file of a written context.
#[derive(Debug, Serialize)]
pub struct FileRecord {
    /// Path inside the context.
    pub path: String,
    /// Who put it there (`context:kube`, `artifact:kubelet`, ...).
    pub origin: String,
    /// Octal mode.
    pub mode: String,
}

/// One written context (`matrix render --json` prints a list of these).
#[derive(Debug, Serialize)]
pub struct RenderRecord {
    /// Image name.
    pub image: String,
    /// Per-arch tag.
    pub tag: String,
    /// The folder written.
    pub dir: PathBuf,
    /// Its files.
    pub files: Vec<FileRecord>,
}

/// Why a context could not be written.
#[derive(Debug, Error)]
pub enum RenderStepError {
    /// A cell does not render (or its needs cannot be resolved).
    #[error(transparent)]
    Prepare(#[from] PrepareError),
    /// A binary the cell needs was not fetched.
    #[error("fetching binaries: {source}")]
    Binaries {
        /// Why (the first artifact that failed).
        #[source]
        source: FetchError,
    },
    /// The cell's image list is a download, and `--binaries` was not given.
    #[error(
        "{cell}: its image list comes from `{component}`, a download\n  help: pass --binaries (with --mirror on an offline machine)"
    )]
    NeedsBinaries {
        /// The cell.
        cell: String,
        /// The component holding the list.
        component: String,
    },
    /// `--binaries` cannot place files that come out of an image.
    #[error(
        "{cell}: `{component}` takes files out of the image {image}, which render does not pull\n  help: build the cell (`matrix build`) and unpack it, or render without --binaries"
    )]
    NeedsImage {
        /// The cell.
        cell: String,
        /// The component.
        component: String,
        /// The image.
        image: String,
    },
    /// Fetching could not start (the cache cannot be opened).
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// Placing a binary failed.
    #[error(transparent)]
    Assemble(#[from] AssembleError),
    /// Writing the context failed or was refused.
    #[error(transparent)]
    Context(#[from] ContextError),
}

/// Renders every cell, then (with `binaries`) fetches and places what they
/// need, then writes each context.
pub fn render_contexts(
    matrix: &Matrix,
    cells: &[&PlannedCell],
    request: &RenderRequest,
    progress: &dyn Progress,
) -> Result<Vec<RenderRecord>, RenderStepError> {
    let plans = prepare(matrix, cells)?;
    for plan in &plans {
        refuse_unrenderable(plan, request.binaries.is_some())?;
    }
    let contexts = match &request.binaries {
        None => plans.into_iter().map(|plan| plan.rendered.context).collect(),
        Some(options) => with_binaries(matrix, plans, options, progress)?,
    };
    let mut records = Vec::new();
    for (planned, context) in cells.iter().zip(contexts) {
        let dir = if request.single {
            request.out.clone()
        } else {
            request.out.join(&planned.image).join(planned.tags.tag.as_str())
        };
        context.write_to(&dir, request.force)?;
        records.push(RenderRecord {
            image: planned.image.clone(),
            tag: planned.tags.tag.to_string(),
            dir,
            files: context
                .entries()
                .map(|(path, entry)| FileRecord {
                    path: path.to_string(),
                    origin: entry.origin.to_string(),
                    mode: format!("{:o}", entry.mode),
                })
                .collect(),
        });
    }
    Ok(records)
}

/// A cell whose image list is a download cannot be rendered without its
/// binaries; one that takes files out of an image cannot be rendered with
/// them (render pulls no images).
fn refuse_unrenderable(plan: &CellPlan<'_>, binaries: bool) -> Result<(), RenderStepError> {
    let cell = plan.planned.cell.to_string();
    match (binaries, plan.needs.image_list(), plan.needs.parts.first()) {
        (false, Some(list), _) => Err(RenderStepError::NeedsBinaries {
            cell,
            component: list.component.clone(),
        }),
        (true, _, Some(part)) => Err(RenderStepError::NeedsImage {
            cell,
            component: part.component.clone(),
            image: part.image.clone(),
        }),
        _ => Ok(()),
    }
}

/// Fetches every artifact the cells need (all must arrive) and assembles
/// each cell's full context.
fn with_binaries(
    matrix: &Matrix,
    mut plans: Vec<CellPlan<'_>>,
    options: &FetchOptions,
    progress: &dyn Progress,
) -> Result<Vec<Context>, RenderStepError> {
    let artifacts = plans_artifacts(&plans);
    let mut set = {
        let reporter = progress.stage("fetch", artifacts.len());
        fetch_set(matrix, options.clone(), &artifacts, reporter.as_ref())?
    };
    if let Some((_, source)) = set.take_failures().into_iter().next() {
        return Err(RenderStepError::Binaries { source });
    }
    take_lists(matrix, &mut plans, &set)?;
    let cache = Cache::open(&options.cache).map_err(|source| FetchError::Io {
        what: format!("opening cache {}", options.cache.display()),
        source,
    })?;
    plans
        .into_iter()
        .map(|plan| Ok(plan.assemble(matrix, &set, &cache, &[])?.context))
        .collect()
}
