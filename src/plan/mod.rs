//! The planner: every cell and tag the matrix implies, and for every
//! candidate that is not built, the rule that says why. Pure: no I/O.

mod explain;
mod filter;
mod selection;

use std::collections::HashMap;

use serde::Serialize;
use thiserror::Error;

use crate::axis::{Arch, Cri};
use crate::config::{ExcludeRule, Matrix, PatchPolicy, SelectRule};
use crate::tag::{Tag, TagSelector, TagTemplate, TagValues};
use crate::version::{KubeVersion, SealosVersion};

pub use crate::cell::Cell;
pub use explain::{Explanation, Finding, explain};
pub use filter::{KubeFilter, PlanFilter, SealosFilter, Shard, ShardError};
pub use selection::{Selection, SelectionError};

/// The tags one cell's image carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellTags {
    /// The per-arch tag (`v1.24.4-4.1.3-amd64`).
    pub tag: Tag,
    /// The multi-arch index this image joins (`v1.24.4-4.1.3`).
    pub index_tag: Tag,
    /// Extra per-arch tags (`v1.24.4-amd64` for the latest stable sealos).
    pub aliases: Vec<Tag>,
    /// Extra index tags (`v1.24.4`, or `v1.24` for dev builds).
    pub index_aliases: Vec<Tag>,
}

impl CellTags {
    /// Every tag, per-arch and index, this cell takes part in.
    pub fn all(&self) -> impl Iterator<Item = &Tag> {
        std::iter::once(&self.tag)
            .chain(std::iter::once(&self.index_tag))
            .chain(&self.aliases)
            .chain(&self.index_aliases)
    }
}

/// A cell with its image name and tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedCell {
    /// Image (repository) name, e.g. `kubernetes-docker`.
    pub image: String,
    /// The cell.
    pub cell: Cell,
    /// Its tags.
    pub tags: CellTags,
}

impl PlannedCell {
    /// True if `selector` names one of this cell's tags (and its image, if given).
    pub fn is_selected_by(&self, selector: &TagSelector) -> bool {
        selector.image.as_ref().is_none_or(|image| *image == self.image)
            && self.tags.all().any(|tag| *tag == selector.tag)
    }

    /// The JSON form used by `plan --json`.
    pub fn record(&self) -> CellRecord<'_> {
        CellRecord {
            image: &self.image,
            tag: &self.tags.tag,
            index_tag: &self.tags.index_tag,
            aliases: &self.tags.aliases,
            index_aliases: &self.tags.index_aliases,
            kube: self.cell.kube.to_string(),
            minor: self.cell.kube.minor().to_string(),
            sealos: self.cell.sealos.to_string(),
            dev: self.cell.sealos.is_dev(),
            cri: self.cell.cri,
            arch: self.cell.arch,
            platform: format!("linux/{}", self.cell.arch),
        }
    }
}

/// A planned cell as JSON.
#[derive(Debug, Serialize)]
pub struct CellRecord<'a> {
    /// Image name.
    pub image: &'a str,
    /// Per-arch tag.
    pub tag: &'a Tag,
    /// Index tag.
    pub index_tag: &'a Tag,
    /// Per-arch aliases.
    pub aliases: &'a [Tag],
    /// Index aliases.
    pub index_aliases: &'a [Tag],
    /// Kubernetes version (`v1.24.4`).
    pub kube: String,
    /// Kubernetes minor (`1.24`).
    pub minor: String,
    /// Sealos version (`4.1.3` or `dev`).
    pub sealos: String,
    /// True for development builds.
    pub dev: bool,
    /// CRI.
    pub cri: Cri,
    /// Architecture.
    pub arch: Arch,
    /// OCI platform (`linux/amd64`).
    pub platform: String,
}

/// Why a candidate cell is, or is not, in the plan.
#[derive(Debug, Clone)]
pub enum Verdict<'m> {
    /// It is built.
    Planned,
    /// One or more `[[exclude]]` rules remove it.
    Excluded(Vec<&'m ExcludeRule>),
    /// Its patch is not one the matching `[[select]]` rule keeps.
    NotSelected {
        /// The rule that decided.
        rule: &'m SelectRule,
        /// The patches of that minor it keeps.
        kept: Vec<KubeVersion>,
    },
}

/// A candidate cell (every axis combination) with its verdict.
#[derive(Debug, Clone)]
pub struct Candidate<'m> {
    /// The cell, its image and tags.
    pub planned: PlannedCell,
    /// Whether and why it is built.
    pub verdict: Verdict<'m>,
}

/// A plan that cannot be published as declared.
#[derive(Debug, Error)]
pub enum PlanError {
    /// Two different cells would publish the same tag.
    #[error(
        "tag `{image}:{tag}` would be produced by two cells: {first} and {second}\n  help: make the tag templates in [tags] tell them apart, or exclude one of them"
    )]
    TagCollision {
        /// Image name.
        image: String,
        /// The tag.
        tag: Tag,
        /// One cell.
        first: Box<Cell>,
        /// The other.
        second: Box<Cell>,
    },
    /// A rendered tag is not a valid OCI tag.
    #[error(
        "cell {cell}: template `{template}` renders `{rendered}`, which is not a valid tag\n  help: fix the template in [tags]"
    )]
    BadTag {
        /// The cell.
        cell: Box<Cell>,
        /// The template.
        template: String,
        /// What it rendered.
        rendered: String,
    },
}

/// The planned cells, in a stable order (CRI, kube, sealos, arch).
#[derive(Debug, Clone)]
pub struct Plan {
    /// The cells.
    pub cells: Vec<PlannedCell>,
}

impl Plan {
    /// Plans the matrix: every candidate that no rule removes.
    pub fn build(matrix: &Matrix) -> Result<Plan, PlanError> {
        let cells: Vec<PlannedCell> = walk(matrix, true)?
            .into_iter()
            .map(|candidate| candidate.planned)
            .collect();
        check_unique(&cells)?;
        Ok(Plan { cells })
    }

    /// The cells `selector` names (any tag form).
    pub fn select(&self, selector: &TagSelector) -> Vec<&PlannedCell> {
        self.cells
            .iter()
            .filter(|cell| cell.is_selected_by(selector))
            .collect()
    }
}

/// Which kube versions to consider and whether selection applies to them.
struct KubeCandidate {
    version: KubeVersion,
    /// Position among its minor's known patches, if it came from a minor.
    position: Option<(usize, usize)>,
}

fn kube_candidates(matrix: &Matrix) -> Vec<KubeCandidate> {
    let mut out: Vec<KubeCandidate> = Vec::new();
    for minor in &matrix.kube.minors {
        let patches = matrix.lock.patches(*minor);
        for (index, patch) in patches.iter().enumerate() {
            out.push(KubeCandidate {
                version: minor.patch(*patch),
                position: Some((index, patches.len())),
            });
        }
    }
    for version in &matrix.kube.versions {
        match out.iter_mut().find(|c| c.version == *version) {
            // An explicit patch bypasses selection for releases.
            Some(existing) => existing.position = None,
            None => out.push(KubeCandidate {
                version: version.clone(),
                position: None,
            }),
        }
    }
    out.sort_by(|a, b| a.version.cmp(&b.version));
    out
}

/// Every axis combination with its verdict, in plan order.
pub fn candidates(matrix: &Matrix) -> Result<Vec<Candidate<'_>>, PlanError> {
    walk(matrix, false)
}

/// Judges every axis combination; renders tags only for the kept ones.
fn walk(matrix: &Matrix, only_planned: bool) -> Result<Vec<Candidate<'_>>, PlanError> {
    let kubes = kube_candidates(matrix);
    let sealos_values: Vec<&SealosVersion> = matrix
        .sealos
        .releases
        .iter()
        .chain(matrix.sealos.dev.as_ref())
        .collect();
    let mut out =
        Vec::with_capacity(matrix.cris.len() * kubes.len() * sealos_values.len() * matrix.arches.len());
    for &cri in &matrix.cris {
        let image = matrix.image(cri);
        for kube in &kubes {
            for &sealos in &sealos_values {
                if sealos.is_dev() && kube.position.is_none() && !from_minor(matrix, &kube.version) {
                    // Dev builds follow whole minors only; an explicit patch
                    // outside them would give a `v<minor>` tag no minor owns.
                    continue;
                }
                for &arch in &matrix.arches {
                    let cell = Cell {
                        cri,
                        kube: kube.version.clone(),
                        sealos: sealos.clone(),
                        arch,
                    };
                    let verdict = judge(matrix, &cell, kube);
                    if only_planned && !matches!(verdict, Verdict::Planned) {
                        continue;
                    }
                    let tags = render_tags(matrix, &cell)?;
                    out.push(Candidate {
                        planned: PlannedCell {
                            image: image.to_string(),
                            cell,
                            tags,
                        },
                        verdict,
                    });
                }
            }
        }
    }
    Ok(out)
}

fn from_minor(matrix: &Matrix, version: &KubeVersion) -> bool {
    matrix.kube.minors.contains(&version.minor())
        && matrix.lock.patches(version.minor()).contains(&version.patch())
}

fn judge<'m>(matrix: &'m Matrix, cell: &Cell, kube: &KubeCandidate) -> Verdict<'m> {
    let excluded: Vec<&ExcludeRule> = matrix
        .excludes
        .iter()
        .filter(|rule| rule.when.matches(cell))
        .collect();
    if !excluded.is_empty() {
        return Verdict::Excluded(excluded);
    }
    // Explicit patches bypass selection, except for dev builds, which
    // always follow the selection of their minor.
    let position = match kube.position {
        Some(position) => position,
        None if cell.sealos.is_dev() => {
            let patches = matrix.lock.patches(cell.kube.minor());
            match patches.iter().position(|p| *p == cell.kube.patch()) {
                Some(index) => (index, patches.len()),
                None => return Verdict::Planned,
            }
        }
        None => return Verdict::Planned,
    };
    let Some(rule) = matrix.selects.iter().find(|rule| rule.when.matches(cell)) else {
        return Verdict::Planned;
    };
    let (index, len) = position;
    if rule.patches.keeps(index, len) {
        return Verdict::Planned;
    }
    Verdict::NotSelected {
        rule,
        kept: kept_patches(matrix, cell, rule.patches),
    }
}

fn kept_patches(matrix: &Matrix, cell: &Cell, policy: PatchPolicy) -> Vec<KubeVersion> {
    let minor = cell.kube.minor();
    let patches = matrix.lock.patches(minor);
    patches
        .iter()
        .enumerate()
        .filter(|(index, _)| policy.keeps(*index, patches.len()))
        .map(|(_, patch)| minor.patch(*patch))
        .collect()
}

fn render_tags(matrix: &Matrix, cell: &Cell) -> Result<CellTags, PlanError> {
    let kube = cell.kube.tag_form();
    let sealos = cell.sealos.to_string();
    let minor = cell.kube.minor().to_string();
    let values = TagValues {
        kube: &kube,
        sealos: &sealos,
        arch: cell.arch.as_str(),
        minor: &minor,
    };
    let render = |template: &TagTemplate| -> Result<Tag, PlanError> {
        let rendered = template.render(values);
        rendered.parse().map_err(|_| PlanError::BadTag {
            cell: Box::new(cell.clone()),
            template: template.as_str().to_string(),
            rendered,
        })
    };
    let render_all =
        |templates: &[TagTemplate]| -> Result<Vec<Tag>, PlanError> { templates.iter().map(render).collect() };
    let scheme = &matrix.tags;
    match (&cell.sealos, &scheme.dev_arch, &scheme.dev_index) {
        (SealosVersion::Dev(_), Some(dev_arch), Some(dev_index)) => Ok(CellTags {
            tag: render(dev_arch)?,
            index_tag: render(dev_index)?,
            aliases: Vec::new(),
            index_aliases: render_all(&scheme.dev_aliases)?,
        }),
        _ => {
            let latest = cell.sealos == matrix.sealos.latest;
            Ok(CellTags {
                tag: render(&scheme.arch)?,
                index_tag: render(&scheme.index)?,
                aliases: if latest {
                    render_all(&scheme.latest_arch)?
                } else {
                    Vec::new()
                },
                index_aliases: if latest {
                    render_all(&scheme.latest_index)?
                } else {
                    Vec::new()
                },
            })
        }
    }
}

/// Checks that no two cells publish the same per-arch tag, and that an
/// index tag gathers only the arches of one (CRI, kube, sealos).
fn check_unique(cells: &[PlannedCell]) -> Result<(), PlanError> {
    let mut per_arch: HashMap<(&str, &Tag), &Cell> = HashMap::new();
    let mut index: HashMap<(&str, &Tag), &Cell> = HashMap::new();
    let collision = |image: &str, tag: &Tag, first: &Cell, second: &Cell| PlanError::TagCollision {
        image: image.to_string(),
        tag: tag.clone(),
        first: Box::new(first.clone()),
        second: Box::new(second.clone()),
    };
    for planned in cells {
        let cell = &planned.cell;
        for tag in std::iter::once(&planned.tags.tag).chain(&planned.tags.aliases) {
            if let Some(first) = per_arch.insert((&planned.image, tag), cell) {
                return Err(collision(&planned.image, tag, first, cell));
            }
        }
        for tag in std::iter::once(&planned.tags.index_tag).chain(&planned.tags.index_aliases) {
            if let Some(first) = index.insert((&planned.image, tag), cell) {
                let same_group =
                    first.kube == cell.kube && first.sealos == cell.sealos && first.arch != cell.arch;
                if !same_group {
                    return Err(collision(&planned.image, tag, first, cell));
                }
            }
        }
    }
    for (key, cell) in &index {
        if let Some(first) = per_arch.get(key) {
            return Err(collision(key.0, key.1, first, cell));
        }
    }
    Ok(())
}
