//! The cells a command acts on, when `--missing-from` narrows the
//! selection to what registries lack: the one place that policy lives, so
//! `plan`, `build` and `push` pick the same cells and shard them the same.

use std::collections::HashSet;

use thiserror::Error;

use crate::config::Matrix;
use crate::oci::Store;
use crate::plan::{Plan, PlannedCell, Selection, SelectionError};
use crate::registry::{Client, RegistryError, Target};

/// Registries whose missing or stale tags narrow a selection.
pub struct MissingFrom<'a> {
    /// How to reach them.
    pub client: &'a Client,
    /// Any of these lacking a tag makes its cells work to do.
    pub targets: Vec<Target>,
    /// The local layout, so a tag built differently counts as stale.
    pub store: Option<&'a Store>,
}

/// Why the cells to act on could not be chosen.
#[derive(Debug, Error)]
pub enum SelectError {
    /// The selection is empty or names unknown tags.
    #[error(transparent)]
    Selection(#[from] SelectionError),
    /// A registry could not be listed.
    #[error("listing {target}: {source}")]
    Registry {
        /// The registry.
        target: String,
        /// Why.
        #[source]
        source: RegistryError,
    },
}

impl crate::error::Fault for SelectError {
    fn is_bad_input(&self) -> bool {
        match self {
            SelectError::Selection(_) => true,
            SelectError::Registry { source, .. } => crate::error::Fault::is_bad_input(source),
        }
    }
}

/// The selected cells of `plan`, in plan order. With `missing`, only the
/// cells whose tags some target lacks or holds stale (with the other
/// arches of their index), as `diff` reports them; the shard is cut from
/// that set, so N jobs share exactly the missing work.
pub fn select<'p>(
    matrix: &Matrix,
    plan: &'p Plan,
    selection: &Selection,
    missing: Option<&MissingFrom<'_>>,
) -> Result<Vec<&'p PlannedCell>, SelectError> {
    let Some(missing) = missing.filter(|m| !m.targets.is_empty()) else {
        return Ok(selection.cells(plan)?);
    };
    let mut unsharded = selection.clone();
    unsharded.shard = None;
    unsharded.all |= unsharded.selectors.is_empty();
    let base = unsharded.cells(plan)?;
    let mut keep: HashSet<(String, String)> = HashSet::new();
    for target in &missing.targets {
        let lacking = super::missing_from(
            missing.client,
            std::slice::from_ref(target),
            matrix,
            &base,
            missing.store,
        )
        .map_err(|source| SelectError::Registry {
            target: target.to_string(),
            source,
        })?;
        keep.extend(lacking);
    }
    let mut narrowed = unsharded;
    narrowed.within = Some(keep);
    narrowed.shard = selection.shard;
    Ok(narrowed.cells(plan)?)
}
