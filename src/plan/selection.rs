//! One selection for every command that acts on cells (`build`, `push`,
//! `fetch`, `mirror`, `render`, `diff`, `plan`): tag selectors, or every
//! cell; narrowed by axis filters; then cut into a stable shard, so a CI
//! job can run `matrix build --shard 3/19` and the N jobs together build
//! exactly the whole selection.

use std::collections::HashSet;

use thiserror::Error;

use super::{Plan, PlanFilter, PlannedCell, Shard};
use crate::tag::TagSelector;

/// Which cells a command acts on.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Tags in any form; empty means every planned cell.
    pub selectors: Vec<TagSelector>,
    /// Every planned cell was asked for explicitly (`--all`).
    pub all: bool,
    /// Axis filters applied after the selectors.
    pub filter: PlanFilter,
    /// Only these cells (image, per-arch tag), when set: the work a
    /// registry lacks (`--missing-from`). Applied before the shard, so the
    /// shards of that set are stable.
    pub within: Option<HashSet<(String, String)>>,
    /// The part of the result to keep.
    pub shard: Option<Shard>,
    /// A listing (`plan`, `diff`, `sync`) rather than work: nothing given
    /// means every planned cell, and filters that keep nothing give an
    /// empty answer instead of an error.
    pub listing: bool,
}

/// Why a selection chose nothing it could act on.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SelectionError {
    /// Neither a tag nor `--all` nor a filter was given.
    #[error(
        "name at least one tag (e.g. v1.24.4-4.1.3), or pass --all, an axis filter (--kube, --sealos, --cri, --arch) or --shard"
    )]
    Empty,
    /// A tag no planned cell carries.
    #[error("no planned cell carries `{0}`\n  help: `matrix explain {0}` says why")]
    Unknown(String),
    /// The filters removed every selected cell.
    #[error("the selection has no cells after the axis filters")]
    Filtered,
}

impl Selection {
    /// True if nothing narrows the plan (no tags, filters or shard).
    fn is_open(&self) -> bool {
        !self.listing
            && self.selectors.is_empty()
            && !self.all
            && self.filter.is_empty()
            && self.shard.is_none()
            && self.within.is_none()
    }

    /// The chosen cells, each once, in plan order. A shard of an empty
    /// selection is fine (some CI jobs get no work); an empty result of
    /// tags and filters is not.
    pub fn cells<'p>(&self, plan: &'p Plan) -> Result<Vec<&'p PlannedCell>, SelectionError> {
        if self.is_open() {
            return Err(SelectionError::Empty);
        }
        let mut chosen: HashSet<(&str, &str)> = HashSet::new();
        for selector in &self.selectors {
            let cells = plan.select(selector);
            if cells.is_empty() {
                return Err(SelectionError::Unknown(selector.to_string()));
            }
            chosen.extend(cells.iter().map(|c| (c.image.as_str(), c.tags.tag.as_str())));
        }
        let cells: Vec<&PlannedCell> = plan
            .cells
            .iter()
            .filter(|c| {
                self.selectors.is_empty() || chosen.contains(&(c.image.as_str(), c.tags.tag.as_str()))
            })
            .filter(|c| self.filter.matches(&c.cell))
            .collect();
        if cells.is_empty() && !self.listing {
            return Err(SelectionError::Filtered);
        }
        // Nothing missing is fine: a nightly with no new work.
        let cells = match &self.within {
            Some(keep) => cells
                .into_iter()
                .filter(|c| keep.contains(&(c.image.clone(), c.tags.tag.to_string())))
                .collect(),
            None => cells,
        };
        Ok(match self.shard {
            Some(shard) => shard.take(cells),
            None => cells,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Matrix;

    fn plan() -> Plan {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("matrix.toml");
        Plan::build(&Matrix::load(&path).unwrap()).unwrap()
    }

    fn tag(text: &str) -> TagSelector {
        text.parse().unwrap()
    }

    fn kube(text: &str) -> PlanFilter {
        PlanFilter {
            kube: vec![text.parse().unwrap()],
            ..PlanFilter::default()
        }
    }

    #[test]
    fn work_needs_a_selection_and_a_result() {
        let plan = plan();
        assert_eq!(
            Selection::default().cells(&plan).unwrap_err(),
            SelectionError::Empty
        );
        let unknown = Selection {
            selectors: vec![tag("v1.24.4-9.9.9")],
            ..Selection::default()
        };
        assert!(matches!(unknown.cells(&plan), Err(SelectionError::Unknown(_))));
        let filtered = Selection {
            selectors: vec![tag("v1.24.4-4.2.1")],
            filter: kube("1.25"),
            ..Selection::default()
        };
        assert_eq!(filtered.cells(&plan).unwrap_err(), SelectionError::Filtered);
        let cells = Selection {
            selectors: vec![tag("v1.24.4-4.2.1")],
            ..Selection::default()
        }
        .cells(&plan)
        .unwrap();
        assert!(cells.len() >= 4 && cells.iter().all(|c| c.tags.index_tag.as_str() == "v1.24.4-4.2.1"));
    }

    #[test]
    fn a_listing_is_the_whole_plan_and_may_be_empty() {
        let plan = plan();
        let all = Selection {
            listing: true,
            ..Selection::default()
        };
        assert_eq!(all.cells(&plan).unwrap().len(), plan.cells.len());
        let none = Selection {
            listing: true,
            filter: kube("1.99"),
            ..Selection::default()
        };
        assert!(none.cells(&plan).unwrap().is_empty());
    }

    #[test]
    fn within_narrows_before_the_shard() {
        let plan = plan();
        let first = &plan.cells[0];
        let keep: HashSet<(String, String)> = plan
            .cells
            .iter()
            .filter(|c| c.image == first.image && c.tags.index_tag == first.tags.index_tag)
            .map(|c| (c.image.clone(), c.tags.tag.to_string()))
            .collect();
        let narrowed = Selection {
            all: true,
            within: Some(keep.clone()),
            shard: Some(Shard { index: 1, count: 3 }),
            ..Selection::default()
        };
        // The whole index group lands in shard 1 of the narrowed set.
        assert_eq!(narrowed.cells(&plan).unwrap().len(), keep.len());
        let second = Selection {
            shard: Some(Shard { index: 2, count: 3 }),
            ..narrowed
        };
        assert!(second.cells(&plan).unwrap().is_empty());
    }
}
