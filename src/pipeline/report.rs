//! `matrix report`: the compatibility grid of every image — Kubernetes
//! patch (rows, grouped by minor) x sealos release (columns) — with each
//! cell's state: planned, published, missing, stale, or why it is not built
//! (the rule and its reason), and where the `v<kube>` alias points. With
//! registries, each cell says which of them have its index tag.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;

use crate::config::Matrix;
use crate::oci::{RefName, Store};
use crate::plan::{Candidate, Plan, PlanError, Verdict, candidates};
use crate::registry::{Client, RegistryError, Target};

/// What a grid cell is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// Planned and on every registry asked (or no registry was asked).
    Planned,
    /// Planned, on every registry asked, and matching the local build.
    Published,
    /// Planned, absent from at least one registry.
    Missing,
    /// Published with another digest than the local build.
    Stale,
    /// Removed by an `[[exclude]]` rule.
    Excluded,
    /// Released after its sealos release was frozen.
    OutsideWindow,
    /// A patch the `[[select]]` rule does not keep.
    NotSelected,
}

/// One cell of the grid: one index tag (both arches).
#[derive(Debug, Clone, Serialize)]
pub struct GridCell {
    /// The state.
    pub state: State,
    /// The index tag (`v1.27.1-4.3.7`).
    pub tag: String,
    /// The arches planned (or considered).
    pub arches: Vec<String>,
    /// The rule that decided, for cells not built or built as exceptions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// That rule's reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Index aliases this cell carries (`v1.27.1`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// Registries lacking the index tag.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing_from: Vec<String>,
}

/// A row: one Kubernetes patch.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// `v1.27.1`.
    pub kube: String,
    /// Cells by column (sealos release), `None` where no candidate exists.
    pub cells: Vec<Option<GridCell>>,
}

/// The rows of one minor.
#[derive(Debug, Clone, Serialize)]
pub struct MinorRows {
    /// `1.27`.
    pub minor: String,
    /// Its patches, newest first.
    pub rows: Vec<Row>,
}

/// How far a registry lags behind the plan for one image.
#[derive(Debug, Clone, Serialize)]
pub struct Lag {
    /// `REGISTRY/NAMESPACE`.
    pub registry: String,
    /// Planned index tags it lacks.
    pub missing: usize,
}

/// One image's grid.
#[derive(Debug, Clone, Serialize)]
pub struct ImageGrid {
    /// `kubernetes`.
    pub image: String,
    /// Its CRI.
    pub cri: String,
    /// Columns: sealos releases, oldest first.
    pub sealos: Vec<String>,
    /// Rows grouped by minor, newest minor first.
    pub minors: Vec<MinorRows>,
    /// Cells per state.
    pub counts: BTreeMap<State, usize>,
    /// Per registry asked.
    pub lag: Vec<Lag>,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// When it was made (RFC 3339, UTC).
    pub generated: String,
    /// The matrix file.
    pub matrix: String,
    /// The registries compared with.
    pub registries: Vec<String>,
    /// The local layout compared with, if any.
    pub from: Option<String>,
    /// Per image.
    pub images: Vec<ImageGrid>,
}

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The plan is inconsistent.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// A registry could not be read.
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

/// Builds the report; with `registries`, reads their tag lists (and, with
/// `store`, compares published digests with the local builds).
pub fn report(
    matrix: &Matrix,
    plan: &Plan,
    client: Option<&Client>,
    registries: &[Target],
    store: Option<&Store>,
    generated: String,
) -> Result<Report, ReportError> {
    let all = candidates(matrix)?;
    // Final aliases come from the plan.
    let aliases: HashMap<(String, String), Vec<String>> = plan
        .cells
        .iter()
        .map(|c| {
            (
                (c.image.clone(), c.tags.index_tag.to_string()),
                c.tags.index_aliases.iter().map(ToString::to_string).collect(),
            )
        })
        .collect();
    let mut images = Vec::new();
    for (cri, image) in &matrix.images {
        let mine: Vec<&Candidate<'_>> = all.iter().filter(|c| c.planned.cell.cri == *cri).collect();
        if mine.is_empty() {
            continue;
        }
        let mut published: Vec<(String, BTreeSet<String>)> = Vec::new();
        if let Some(client) = client {
            for target in registries {
                let tags = client.tags(target.api_host(), &target.repository(image))?;
                published.push((target.to_string(), tags.into_iter().collect()));
            }
        }
        images.push(grid(
            image,
            &cri.to_string(),
            &mine,
            &aliases,
            &published,
            store,
            client,
            registries,
        )?);
    }
    Ok(Report {
        generated,
        matrix: matrix.path.display().to_string(),
        registries: registries.iter().map(ToString::to_string).collect(),
        from: store.map(|s| s.root().display().to_string()),
        images,
    })
}

/// The rule name and reason of a verdict, for cells not built as planned.
fn rule_of(verdict: &Verdict<'_>) -> (Option<String>, Option<String>) {
    match verdict {
        Verdict::Planned => (None, None),
        Verdict::Extra(rule) => (Some(rule.name.clone()), Some(rule.reason.clone())),
        Verdict::Excluded(rules) => (
            Some(
                rules
                    .iter()
                    .map(|r| r.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            Some(
                rules
                    .iter()
                    .map(|r| r.reason.as_str())
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
        ),
        Verdict::OutsideWindow { rule, released } => (
            Some(rule.name.clone()),
            Some(format!("{} (released {released})", rule.reason)),
        ),
        Verdict::NotSelected { rule, .. } => (Some(rule.name.clone()), Some(rule.reason.clone())),
    }
}

#[allow(clippy::too_many_arguments)]
fn grid(
    image: &str,
    cri: &str,
    mine: &[&Candidate<'_>],
    aliases: &HashMap<(String, String), Vec<String>>,
    published: &[(String, BTreeSet<String>)],
    store: Option<&Store>,
    client: Option<&Client>,
    registries: &[Target],
) -> Result<ImageGrid, ReportError> {
    let mut columns: BTreeSet<crate::version::SealosVersion> = BTreeSet::new();
    // (kube, sealos) -> cells of both arches.
    let mut groups: BTreeMap<
        (crate::version::KubeVersion, crate::version::SealosVersion),
        Vec<&Candidate<'_>>,
    > = BTreeMap::new();
    for candidate in mine {
        let cell = &candidate.planned.cell;
        columns.insert(cell.sealos.clone());
        groups
            .entry((cell.kube.clone(), cell.sealos.clone()))
            .or_default()
            .push(candidate);
    }
    let columns: Vec<_> = columns.into_iter().collect();
    let mut counts: BTreeMap<State, usize> = BTreeMap::new();
    let mut lag: Vec<Lag> = published
        .iter()
        .map(|(registry, _)| Lag {
            registry: registry.clone(),
            missing: 0,
        })
        .collect();
    let mut rows: BTreeMap<crate::version::KubeVersion, Vec<Option<GridCell>>> = BTreeMap::new();
    for ((kube, sealos), cells) in &groups {
        let first = cells[0];
        let tag = first.planned.tags.index_tag.to_string();
        let planned = cells.iter().any(|c| c.verdict.is_planned());
        let chosen = cells
            .iter()
            .find(|c| c.verdict.is_planned())
            .copied()
            .unwrap_or(first);
        let (rule, reason) = rule_of(&chosen.verdict);
        let arches: Vec<String> = cells
            .iter()
            .filter(|c| c.verdict.is_planned() == planned)
            .map(|c| c.planned.cell.arch.to_string())
            .collect();
        let mut missing_from = Vec::new();
        let state = if planned {
            for ((registry, tags), lagging) in published.iter().zip(lag.iter_mut()) {
                if !tags.contains(&tag) {
                    missing_from.push(registry.clone());
                    lagging.missing += 1;
                }
            }
            if !missing_from.is_empty() {
                State::Missing
            } else if published.is_empty() {
                State::Planned
            } else if is_stale(image, &tag, store, client, registries)? {
                State::Stale
            } else {
                State::Published
            }
        } else {
            match chosen.verdict {
                Verdict::Excluded(_) => State::Excluded,
                Verdict::OutsideWindow { .. } => State::OutsideWindow,
                _ => State::NotSelected,
            }
        };
        *counts.entry(state).or_default() += 1;
        let column = columns.iter().position(|s| s == sealos).unwrap_or(0);
        let row = rows
            .entry(kube.clone())
            .or_insert_with(|| vec![None; columns.len()]);
        row[column] = Some(GridCell {
            state,
            tag: tag.clone(),
            arches,
            rule,
            reason,
            aliases: if planned {
                aliases
                    .get(&(image.to_string(), tag.clone()))
                    .cloned()
                    .unwrap_or_default()
            } else {
                Vec::new()
            },
            missing_from,
        });
    }
    let mut minors: Vec<MinorRows> = Vec::new();
    for (kube, cells) in rows.into_iter().rev() {
        let minor = kube.minor().to_string();
        if minors.last().is_none_or(|m| m.minor != minor) {
            minors.push(MinorRows {
                minor,
                rows: Vec::new(),
            });
        }
        if let Some(group) = minors.last_mut() {
            group.rows.push(Row {
                kube: kube.to_string(),
                cells,
            });
        }
    }
    Ok(ImageGrid {
        image: image.to_string(),
        cri: cri.to_string(),
        sealos: columns.iter().map(ToString::to_string).collect(),
        minors,
        counts,
        lag,
    })
}

/// Whether the first registry's index tag differs from the local build.
fn is_stale(
    image: &str,
    tag: &str,
    store: Option<&Store>,
    client: Option<&Client>,
    registries: &[Target],
) -> Result<bool, ReportError> {
    let (Some(store), Some(client), Some(target)) = (store, client, registries.first()) else {
        return Ok(false);
    };
    let Ok(parsed) = tag.parse::<crate::tag::Tag>() else {
        return Ok(false);
    };
    let Ok(Some(local)) = store.resolve(&RefName::new(image, &parsed)) else {
        return Ok(false);
    };
    let remote = client.manifest_digest(target.api_host(), &target.repository(image), tag)?;
    Ok(remote.as_deref() != Some(local.digest().as_ref()))
}
