//! `render` as a pipeline step: the build context of each selected cell
//! (optionally with its binaries placed) written to disk, one folder per
//! cell, with every file's origin reported.

use std::path::PathBuf;

use serde::Serialize;
use thiserror::Error;

use super::fetch::{FetchSet, use_fetched_list};
use crate::config::Matrix;
use crate::config::Placement;
use crate::context::ContextError;
use crate::fetch::{Cache, FetchError, artifacts_for, image_parts_for, pack_all, place};
use crate::plan::PlannedCell;
use crate::render::{RenderError, render_cell};

/// Where and how to write contexts.
#[derive(Debug, Clone)]
pub struct RenderRequest {
    /// The output folder.
    pub out: PathBuf,
    /// Write the one cell straight into `out` (else `out/<image>/<tag>`).
    pub single: bool,
    /// Replace folders an earlier render wrote.
    pub force: bool,
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
    /// The cell does not render.
    #[error("rendering {cell}: {source}")]
    Render {
        /// The cell.
        cell: String,
        /// Why.
        #[source]
        source: RenderError,
    },
    /// A binary the cell needs was not fetched.
    #[error("fetching binaries: {0}")]
    Binaries(String),
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
    /// Placing a binary failed.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// Writing the context failed or was refused.
    #[error(transparent)]
    Context(#[from] ContextError),
}

/// Renders and writes each cell; with `binaries`, every artifact the cells
/// need must be in the set.
pub fn render_contexts(
    matrix: &Matrix,
    cells: &[&PlannedCell],
    request: &RenderRequest,
    binaries: Option<(&FetchSet, &Cache)>,
) -> Result<Vec<RenderRecord>, RenderStepError> {
    if let Some((set, _)) = binaries
        && let Some((_, error)) = set.failures().first()
    {
        return Err(RenderStepError::Binaries(error.to_string()));
    }
    let mut records = Vec::new();
    for planned in cells {
        let mut rendered = render_cell(matrix, planned).map_err(|source| RenderStepError::Render {
            cell: planned.cell.to_string(),
            source,
        })?;
        if binaries.is_none()
            && let Some(list) = artifacts_for(matrix, &planned.cell)?
                .into_iter()
                .find(|a| a.placement == Placement::ImageList)
        {
            return Err(RenderStepError::NeedsBinaries {
                cell: planned.cell.to_string(),
                component: list.component,
            });
        }
        if binaries.is_some()
            && let Some(part) = image_parts_for(matrix, &planned.cell)?.into_iter().next()
        {
            return Err(RenderStepError::NeedsImage {
                cell: planned.cell.to_string(),
                component: part.component,
                image: part.image,
            });
        }
        if let Some((set, cache)) = binaries {
            use_fetched_list(matrix, planned, &mut rendered, set).map_err(|source| {
                RenderStepError::Render {
                    cell: planned.cell.to_string(),
                    source,
                }
            })?;
            for artifact in artifacts_for(matrix, &planned.cell)? {
                if let Some(item) = set.get(&artifact) {
                    place(&mut rendered.context, &artifact, item, cache)?;
                }
            }
            pack_all(matrix, &mut rendered.context, cache)?;
        }
        let dir = if request.single {
            request.out.clone()
        } else {
            request.out.join(&planned.image).join(planned.tags.tag.as_str())
        };
        rendered.context.write_to(&dir, request.force)?;
        records.push(RenderRecord {
            image: planned.image.clone(),
            tag: planned.tags.tag.to_string(),
            dir,
            files: rendered
                .context
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
