//! The planner: every cell and tag the matrix implies, and for every
//! candidate that is not built, the rule that says why. Pure: no I/O.

mod explain;
mod filter;
mod github;
mod needs;
mod selection;

use std::collections::HashMap;

use serde::Serialize;
use thiserror::Error;

use crate::axis::{Arch, Cri};
use crate::config::{ExcludeRule, ExtraRule, Matrix, SelectRule, WindowRule};
use crate::lock::Released;
use crate::tag::{Tag, TagSelector, TagTemplate, TagValues};
use crate::version::{KubeMinor, KubeVersion, SealosVersion};

pub use crate::cell::Cell;
pub use explain::{Explanation, Finding, explain, explain_among};
pub use filter::{KubeFilter, PlanFilter, SealosFilter, Shard, ShardError};
pub use github::{GITHUB_JOB_LIMIT, GithubJob, GithubMatrix, GithubShard, GithubShards, published_tags};
pub use needs::{Artifact, CellNeeds, ImagePart, NeedsError};
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
    /// It is built as a named exception.
    Extra(&'m ExtraRule),
    /// One or more `[[exclude]]` rules remove it.
    Excluded(Vec<&'m ExcludeRule>),
    /// Its patch came out after the release was frozen.
    OutsideWindow {
        /// The window that decided.
        rule: &'m WindowRule,
        /// What the lock knows of the patch's release.
        released: Released,
    },
    /// Its patch is not one the matching `[[select]]` rule keeps.
    NotSelected {
        /// The rule that decided.
        rule: &'m SelectRule,
        /// The patches of that minor it keeps (shared by every cell of it).
        kept: std::sync::Arc<[KubeVersion]>,
    },
}

impl Verdict<'_> {
    /// True if the cell is built.
    pub fn is_planned(&self) -> bool {
        matches!(self, Verdict::Planned | Verdict::Extra(_))
    }
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
    /// False for an explicit `kube.versions` patch outside the minors.
    from_minor: bool,
}

/// The versions of `minor` a CRI can build: k3s releases for k3s, else
/// the Kubernetes patches the lock knows.
fn minor_pool(matrix: &Matrix, cri: Cri, minor: KubeMinor) -> Vec<KubeVersion> {
    if cri == Cri::K3s {
        return matrix.lock.k3s_releases(minor).to_vec();
    }
    matrix
        .lock
        .patches(minor)
        .iter()
        .map(|patch| minor.patch(*patch))
        .collect()
}

fn kube_candidates(matrix: &Matrix, cri: Cri) -> Vec<KubeCandidate> {
    let mut out: Vec<KubeCandidate> = matrix
        .kube
        .minors
        .iter()
        .flat_map(|minor| minor_pool(matrix, cri, *minor))
        .map(|version| KubeCandidate {
            version,
            from_minor: true,
        })
        .collect();
    if cri != Cri::K3s {
        for version in &matrix.kube.versions {
            match out.iter_mut().find(|c| c.version == *version) {
                // An explicit patch bypasses windows and selection for releases.
                Some(existing) => existing.from_minor = false,
                None => out.push(KubeCandidate {
                    version: version.clone(),
                    from_minor: false,
                }),
            }
        }
    }
    out.sort_by(|a, b| a.version.cmp(&b.version));
    out
}

/// Every axis combination with its verdict, in plan order.
pub fn candidates(matrix: &Matrix) -> Result<Vec<Candidate<'_>>, PlanError> {
    walk(matrix, false)
}

/// Judges every axis combination, adds the `[[extra]]` cells, and gives
/// each patch's aliases to its newest stable build.
fn walk(matrix: &Matrix, only_planned: bool) -> Result<Vec<Candidate<'_>>, PlanError> {
    let sealos_values: Vec<&SealosVersion> = matrix
        .sealos
        .releases
        .iter()
        .chain(matrix.sealos.dev.as_ref())
        .collect();
    let mut out = Vec::new();
    let mut judge = Judge::new(matrix);
    for &cri in &matrix.cris {
        let image = matrix.image(cri);
        let kubes = kube_candidates(matrix, cri);
        for kube in &kubes {
            let explicit = !kube.from_minor && !from_minor(matrix, &kube.version);
            for &sealos in &sealos_values {
                if sealos.is_dev() && explicit {
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
                    let verdict = judge.judge(&cell, kube.from_minor || sealos.is_dev());
                    if only_planned && !verdict.is_planned() {
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
    add_extras(matrix, &mut out)?;
    // Extras join the plan order (CRI, kube, sealos, arch as declared).
    let position = |cri: &Cri, arch: &Arch| {
        (
            matrix.cris.iter().position(|c| c == cri),
            matrix.arches.iter().position(|a| a == arch),
        )
    };
    out.sort_by(|a, b| {
        let (a, b) = (&a.planned.cell, &b.planned.cell);
        let (a_cri, a_arch) = position(&a.cri, &a.arch);
        let (b_cri, b_arch) = position(&b.cri, &b.arch);
        (a_cri, &a.kube, &a.sealos, a_arch).cmp(&(b_cri, &b.kube, &b.sealos, b_arch))
    });
    give_aliases(matrix, &mut out)?;
    Ok(out)
}

/// Adds the cells of `[[extra]]` exceptions (replacing a candidate that
/// rules removed) with their extra index tags.
fn add_extras<'m>(matrix: &'m Matrix, out: &mut Vec<Candidate<'m>>) -> Result<(), PlanError> {
    for rule in &matrix.extras {
        for &cri in rule.cris.iter().filter(|cri| matrix.cris.contains(cri)) {
            for kube in &rule.kube {
                let kube = minor_pool(matrix, cri, kube.minor())
                    .into_iter()
                    .find(|known| known.tag_form() == kube.tag_form())
                    .unwrap_or_else(|| kube.clone());
                for &arch in &matrix.arches {
                    let cell = Cell {
                        cri,
                        kube: kube.clone(),
                        sealos: rule.sealos.clone(),
                        arch,
                    };
                    let mut tags = render_tags(matrix, &cell)?;
                    tags.index_aliases.extend(rule.tags.iter().cloned());
                    let candidate = Candidate {
                        planned: PlannedCell {
                            image: matrix.image(cri).to_string(),
                            cell,
                            tags,
                        },
                        verdict: Verdict::Extra(rule),
                    };
                    match out.iter_mut().find(|c| c.planned.cell == candidate.planned.cell) {
                        Some(existing) if existing.verdict.is_planned() => {
                            existing
                                .planned
                                .tags
                                .index_aliases
                                .extend(rule.tags.iter().cloned());
                        }
                        Some(existing) => *existing = candidate,
                        None => out.push(candidate),
                    }
                }
            }
        }
    }
    Ok(())
}

/// Gives the `v<kube>` aliases of every patch to its newest stable build
/// (not dev, not a pre-release), and the `[tags.newest]` tags to the newest
/// patch of the latest stable release.
fn give_aliases(matrix: &Matrix, out: &mut [Candidate<'_>]) -> Result<(), PlanError> {
    let stable = |c: &Candidate<'_>| {
        c.verdict.is_planned()
            && matches!(&c.planned.cell.sealos, SealosVersion::Release(v) if v.pre.is_empty())
    };
    let unaliased = |cell: &Cell| {
        matrix
            .excludes
            .iter()
            .any(|rule| rule.aliases_only && rule.when.matches(cell))
    };
    let mut owner: HashMap<(&str, String, Arch), usize> = HashMap::new();
    for (index, candidate) in out.iter().enumerate() {
        if !stable(candidate) {
            continue;
        }
        let cell = &candidate.planned.cell;
        let key = (candidate.planned.image.as_str(), cell.kube.tag_form(), cell.arch);
        match owner.get(&key) {
            Some(&other) if out[other].planned.cell.sealos >= cell.sealos => {}
            _ => {
                owner.insert(key, index);
            }
        }
    }
    let mut newest: HashMap<Cri, usize> = HashMap::new();
    for (index, candidate) in out.iter().enumerate() {
        let cell = &candidate.planned.cell;
        if !stable(candidate) || cell.sealos != matrix.sealos.latest {
            continue;
        }
        match newest.get(&cell.cri) {
            Some(&other) if out[other].planned.cell.kube >= cell.kube => {}
            _ => {
                newest.insert(cell.cri, index);
            }
        }
    }
    let newest_kube: HashMap<Cri, KubeVersion> = newest
        .into_iter()
        .map(|(cri, index)| (cri, out[index].planned.cell.kube.clone()))
        .collect();
    let owners: std::collections::HashSet<usize> = owner.into_values().collect();
    for index in owners {
        if unaliased(&out[index].planned.cell) {
            continue;
        }
        let candidate = &mut out[index];
        let cell = candidate.planned.cell.clone();
        let values_kube = cell.kube.tag_form();
        let minor = cell.kube.minor().to_string();
        let sealos = cell.sealos.to_string();
        let values = TagValues {
            kube: &values_kube,
            sealos: &sealos,
            arch: cell.arch.as_str(),
            minor: &minor,
        };
        let tags = &mut candidate.planned.tags;
        for template in &matrix.tags.latest_arch {
            tags.aliases.push(render_one(&cell, template, values)?);
        }
        for template in &matrix.tags.latest_index {
            tags.index_aliases.push(render_one(&cell, template, values)?);
        }
        if cell.sealos == matrix.sealos.latest
            && newest_kube.get(&cell.cri) == Some(&cell.kube)
            && let Some(extra) = matrix.tags.newest.get(&cell.cri)
        {
            tags.index_aliases.extend(extra.iter().cloned());
        }
    }
    Ok(())
}

fn from_minor(matrix: &Matrix, version: &KubeVersion) -> bool {
    matrix.kube.minors.contains(&version.minor())
        && matrix.lock.patches(version.minor()).contains(&version.patch())
}

/// Decides cells: exclusions, then the release window, then the patch
/// selection within the window. Planning judges every axis combination
/// (about 100,000 for labring's matrix), so the work that does not change
/// from cell to cell is done once: the rules whose CRI and Kubernetes parts
/// hold are found once per (CRI, patch), and what a window and a selection
/// rule keep of a minor once per (pool, minor, rules).
struct Judge<'m> {
    matrix: &'m Matrix,
    /// The (CRI, patch) being walked and its rules, by index.
    focus: Option<Focus>,
    /// What a selection keeps, per [`KeptKey`].
    kept: HashMap<KeptKey, std::sync::Arc<[KubeVersion]>>,
}

/// A minor's patches as one selection sees them: k3s's pool or
/// Kubernetes's, the minor, the window rule (by index) and the select rule.
type KeptKey = (bool, KubeMinor, Option<usize>, usize);

/// The rules whose CRI and Kubernetes conditions hold for one (CRI, patch).
struct Focus {
    cri: Cri,
    kube: KubeVersion,
    excludes: Vec<usize>,
    windows: Vec<usize>,
    selects: Vec<usize>,
}

impl<'m> Judge<'m> {
    fn new(matrix: &'m Matrix) -> Self {
        Judge {
            matrix,
            focus: None,
            kept: HashMap::new(),
        }
    }

    /// The rules that may match cells of `cri` and `kube`.
    fn focus(&mut self, cri: Cri, kube: &KubeVersion) -> &Focus {
        let matrix = self.matrix;
        let stale = self
            .focus
            .as_ref()
            .is_none_or(|focus| focus.cri != cri || focus.kube != *kube);
        if stale {
            let holding = |conditions: &mut dyn Iterator<Item = &crate::config::Condition>| {
                conditions
                    .enumerate()
                    .filter(|(_, when)| when.matches_kube(cri, kube))
                    .map(|(index, _)| index)
                    .collect()
            };
            self.focus = Some(Focus {
                cri,
                kube: kube.clone(),
                excludes: holding(&mut matrix.excludes.iter().map(|rule| &rule.when)),
                windows: holding(&mut matrix.windows.iter().map(|rule| &rule.when)),
                selects: holding(&mut matrix.selects.iter().map(|rule| &rule.when)),
            });
        }
        self.focus.as_ref().unwrap_or_else(|| unreachable!("set above"))
    }

    /// Decides one cell. `ruled` is false for explicit patches of
    /// releases, which only exclusions touch.
    fn judge(&mut self, cell: &Cell, ruled: bool) -> Verdict<'m> {
        let matrix = self.matrix;
        let focus = self.focus(cell.cri, &cell.kube);
        let holds = |when: &crate::config::Condition| when.matches_rest(&cell.sealos, cell.arch);
        let excluded: Vec<&ExcludeRule> = focus
            .excludes
            .iter()
            .map(|&index| &matrix.excludes[index])
            .filter(|rule| !rule.aliases_only && holds(&rule.when))
            .collect();
        if !excluded.is_empty() {
            return Verdict::Excluded(excluded);
        }
        if !ruled {
            return Verdict::Planned;
        }
        let window = focus
            .windows
            .iter()
            .map(|&index| (index, &matrix.windows[index]))
            .find(|(_, rule)| holds(&rule.when));
        let select = focus
            .selects
            .iter()
            .map(|&index| (index, &matrix.selects[index]))
            .find(|(_, rule)| holds(&rule.when));
        if let Some((_, rule)) = window {
            let released = matrix.lock.released(&cell.kube);
            if !released.by(rule.until) {
                return Verdict::OutsideWindow { rule, released };
            }
        }
        let Some((select, rule)) = select else {
            return Verdict::Planned;
        };
        let minor = cell.kube.minor();
        let key = (
            cell.cri == Cri::K3s,
            minor,
            window.map(|(index, _)| index),
            select,
        );
        let kept = self
            .kept
            .entry(key)
            .or_insert_with(|| {
                let mut pool = minor_pool(matrix, cell.cri, minor);
                if let Some((_, window)) = window {
                    pool.retain(|version| matrix.lock.released(version).by(window.until));
                }
                let total = pool.len();
                pool.iter()
                    .enumerate()
                    .filter(|(index, version)| {
                        rule.patches.keeps(*index, total)
                            || rule
                                .since
                                .is_some_and(|day| matrix.lock.released(version).since(day))
                    })
                    .map(|(_, version)| version.clone())
                    .collect()
            })
            .clone();
        if kept.contains(&cell.kube) {
            return Verdict::Planned;
        }
        Verdict::NotSelected { rule, kept }
    }
}

fn render_one(cell: &Cell, template: &TagTemplate, values: TagValues<'_>) -> Result<Tag, PlanError> {
    let rendered = template.render(values);
    rendered.parse().map_err(|_| PlanError::BadTag {
        cell: Box::new(cell.clone()),
        template: template.as_str().to_string(),
        rendered,
    })
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
    let render = |template: &TagTemplate| render_one(cell, template, values);
    let scheme = &matrix.tags;
    match (&cell.sealos, &scheme.dev_arch, &scheme.dev_index) {
        (SealosVersion::Dev(_), Some(dev_arch), Some(dev_index)) => Ok(CellTags {
            tag: render(dev_arch)?,
            index_tag: render(dev_index)?,
            aliases: Vec::new(),
            index_aliases: scheme.dev_aliases.iter().map(render).collect::<Result<_, _>>()?,
        }),
        // Aliases are given plan-wide, by `give_aliases`.
        _ => Ok(CellTags {
            tag: render(&scheme.arch)?,
            index_tag: render(&scheme.index)?,
            aliases: Vec::new(),
            index_aliases: Vec::new(),
        }),
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

/// Cells per sealos release and image, for `plan`'s summary.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Image names, in order.
    pub images: Vec<String>,
    /// Per sealos release (ascending, `dev` last): cells per image.
    pub releases: Vec<(String, Vec<usize>)>,
    /// Cells per image in all.
    pub totals: Vec<usize>,
}

impl Summary {
    /// Counts `cells`.
    pub fn of(cells: &[&PlannedCell]) -> Summary {
        let images: Vec<String> = cells
            .iter()
            .map(|c| c.image.clone())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut releases: std::collections::BTreeMap<&SealosVersion, Vec<usize>> = Default::default();
        for cell in cells {
            let column = images.iter().position(|i| *i == cell.image).unwrap_or(0);
            releases
                .entry(&cell.cell.sealos)
                .or_insert_with(|| vec![0; images.len()])[column] += 1;
        }
        let mut totals = vec![0; images.len()];
        for counts in releases.values() {
            for (total, n) in totals.iter_mut().zip(counts) {
                *total += n;
            }
        }
        Summary {
            images,
            releases: releases
                .into_iter()
                .map(|(sealos, counts)| (sealos.to_string(), counts))
                .collect(),
            totals,
        }
    }
}

// A plan that cannot be made, a selection that chose nothing and a bad
// `--shard` are all the input's to fix.
crate::error::fault!(bad_input: PlanError, SelectionError, ShardError);
