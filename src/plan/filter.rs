//! Narrowing a plan: axis filters (`--kube 1.24`, `--cri docker`, ...) and
//! stable shards (`--shard 2/4`) that split the work across CI runners.

use std::str::FromStr;

use thiserror::Error;

use super::{Cell, PlannedCell};
use crate::axis::{Arch, Cri};
use crate::version::{KubeMinor, KubeVersion, SealosVersion, VersionError};

/// `--kube`: a whole minor (`1.24`) or one patch (`1.24.4`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KubeFilter {
    /// Every patch of a minor.
    Minor(KubeMinor),
    /// One patch.
    Exact(KubeVersion),
}

impl FromStr for KubeFilter {
    type Err = VersionError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let dots = input.matches('.').count();
        if dots == 1 {
            input.parse().map(KubeFilter::Minor)
        } else {
            input.parse().map(KubeFilter::Exact)
        }
    }
}

/// `--sealos`: a release (`4.1.3`) or the development line (`dev`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SealosFilter {
    /// One release.
    Release(SealosVersion),
    /// The dev line.
    Dev,
}

impl FromStr for SealosFilter {
    type Err = VersionError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        match input {
            "dev" | "latest" => Ok(SealosFilter::Dev),
            _ => SealosVersion::parse_release(input).map(SealosFilter::Release),
        }
    }
}

/// Axis filters; an empty list means "any".
#[derive(Debug, Clone, Default)]
pub struct PlanFilter {
    /// Kubernetes versions or minors.
    pub kube: Vec<KubeFilter>,
    /// Sealos versions.
    pub sealos: Vec<SealosFilter>,
    /// CRIs.
    pub cri: Vec<Cri>,
    /// Arches.
    pub arch: Vec<Arch>,
}

impl PlanFilter {
    /// True if no axis is filtered.
    pub fn is_empty(&self) -> bool {
        self.kube.is_empty() && self.sealos.is_empty() && self.cri.is_empty() && self.arch.is_empty()
    }

    /// True if `cell` passes every filter.
    pub fn matches(&self, cell: &Cell) -> bool {
        let kube_ok = self.kube.is_empty()
            || self.kube.iter().any(|filter| match filter {
                KubeFilter::Minor(minor) => cell.kube.minor() == *minor,
                KubeFilter::Exact(version) => cell.kube == *version,
            });
        let sealos_ok = self.sealos.is_empty()
            || self.sealos.iter().any(|filter| match filter {
                SealosFilter::Dev => cell.sealos.is_dev(),
                SealosFilter::Release(version) => cell.sealos == *version,
            });
        kube_ok
            && sealos_ok
            && (self.cri.is_empty() || self.cri.contains(&cell.cri))
            && (self.arch.is_empty() || self.arch.contains(&cell.arch))
    }
}

/// A bad `--shard` value.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("`{0}` is not a shard: write K/N with 1 <= K <= N, e.g. `--shard 2/4`")]
pub struct ShardError(pub String);

/// `--shard K/N`: the K-th of N parts (1-based).
///
/// Cells that share an index tag stay together (one runner builds both
/// arches and the index), and index groups are dealt round-robin in plan
/// order, so the N parts are disjoint, cover the plan, and differ in size
/// by at most one group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// Which part, 1-based.
    pub index: usize,
    /// How many parts.
    pub count: usize,
}

impl FromStr for Shard {
    type Err = ShardError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let error = || ShardError(input.to_string());
        let (index, count) = input.split_once('/').ok_or_else(error)?;
        let index: usize = index.trim().parse().map_err(|_| error())?;
        let count: usize = count.trim().parse().map_err(|_| error())?;
        if index == 0 || count == 0 || index > count {
            return Err(error());
        }
        Ok(Shard { index, count })
    }
}

impl Shard {
    /// Keeps this shard's cells of `cells` (which must be in plan order).
    pub fn take<'a>(&self, cells: Vec<&'a PlannedCell>) -> Vec<&'a PlannedCell> {
        let mut group = 0usize;
        let mut previous: Option<(&str, &str)> = None;
        let mut out = Vec::new();
        for cell in cells {
            let key = (cell.image.as_str(), cell.tags.index_tag.as_str());
            if previous.is_some_and(|previous| previous != key) {
                group += 1;
            }
            previous = Some(key);
            if group % self.count == self.index - 1 {
                out.push(cell);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_parsing() {
        assert_eq!("2/4".parse::<Shard>().unwrap(), Shard { index: 2, count: 4 });
        for bad in ["0/4", "5/4", "1/0", "a/b", "3", "1/2/3"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn kube_filter_tells_minor_from_patch() {
        assert!(matches!("1.24".parse::<KubeFilter>(), Ok(KubeFilter::Minor(_))));
        assert!(matches!(
            "v1.24.4".parse::<KubeFilter>(),
            Ok(KubeFilter::Exact(_))
        ));
        assert!("1".parse::<KubeFilter>().is_err());
    }
}
