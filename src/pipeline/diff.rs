//! Planned tags against published ones, per registry: missing (planned, not
//! published), unexpected (published, not planned) and stale (published
//! digest differs from the local store's image for that tag).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::config::Matrix;
use crate::oci::{RefName, Store};
use crate::plan::{Candidate, PlannedCell, candidates, explain_among};
use crate::registry::Target;
use crate::registry::{Client, RegistryError};
use crate::tag::Tag;

/// One image repository's differences.
#[derive(Debug, Clone, Serialize)]
pub struct ImageDiff {
    /// Image name.
    pub image: String,
    /// Repository on the registry.
    pub repository: String,
    /// Planned tag count.
    pub planned: usize,
    /// Published tag count.
    pub published: usize,
    /// Planned, not published.
    pub missing: Vec<String>,
    /// Published, not planned.
    pub unexpected: Vec<String>,
    /// Published with another digest than the local build.
    pub stale: Vec<String>,
    /// The missing tags grouped by why they are missing.
    pub missing_groups: Vec<MissingGroup>,
    /// What the matrix knows of each unexpected tag.
    pub unexpected_notes: Vec<UnexpectedTag>,
}

/// Why a planned tag is not published yet: the work it stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MissingReason {
    /// A new patch of a minor the latest stable release already has.
    NewPatch,
    /// A minor the latest stable release has no image of yet.
    NewMinor,
    /// A development build.
    DevLine,
    /// A per-arch tag whose multi-arch index is published.
    MissingArch,
    /// A tag of a frozen release: a hole in history, not new work.
    FrozenRelease,
}

impl MissingReason {
    /// In words, for the human report.
    pub fn describe(self) -> &'static str {
        match self {
            MissingReason::NewPatch => "new patch for the latest stable release",
            MissingReason::NewMinor => "new minor for the latest stable release",
            MissingReason::DevLine => "development line",
            MissingReason::MissingArch => "per-arch tag of a published index",
            MissingReason::FrozenRelease => "hole in a frozen release",
        }
    }
}

/// Missing tags that share a reason.
#[derive(Debug, Clone, Serialize)]
pub struct MissingGroup {
    /// Why.
    pub reason: MissingReason,
    /// Multi-arch (index and alias) tags.
    pub index_tags: usize,
    /// Per-arch tags.
    pub arch_tags: usize,
    /// The tags.
    pub tags: Vec<String>,
}

/// A published tag the plan does not produce, with the matrix's account of it.
#[derive(Debug, Clone, Serialize)]
pub struct UnexpectedTag {
    /// The tag.
    pub tag: String,
    /// `excluded`, `outside-window`, `not-selected` or `unknown`.
    pub status: String,
    /// The deciding rules and their reasons, or what no axis has.
    pub notes: Vec<String>,
}

/// Groups the missing tags of one image by the work they stand for.
pub fn group_missing(
    cells: &[&PlannedCell],
    missing: &[String],
    published: &BTreeSet<String>,
    latest: &crate::version::SealosVersion,
) -> Vec<MissingGroup> {
    // Each tag's owner cell and whether it is a per-arch tag.
    let mut owner: BTreeMap<String, (&PlannedCell, bool)> = BTreeMap::new();
    for cell in cells {
        for tag in std::iter::once(&cell.tags.tag).chain(&cell.tags.aliases) {
            owner.entry(tag.to_string()).or_insert((cell, true));
        }
        for tag in std::iter::once(&cell.tags.index_tag).chain(&cell.tags.index_aliases) {
            owner.entry(tag.to_string()).or_insert((cell, false));
        }
    }
    let latest_minors: BTreeSet<String> = cells
        .iter()
        .filter(|c| c.cell.sealos == *latest && published.contains(c.tags.index_tag.as_str()))
        .map(|c| c.cell.kube.minor().to_string())
        .collect();
    let mut groups: BTreeMap<MissingReason, MissingGroup> = BTreeMap::new();
    for tag in missing {
        let Some(&(cell, per_arch)) = owner.get(tag) else {
            continue;
        };
        let reason = if per_arch && published.contains(cell.tags.index_tag.as_str()) {
            MissingReason::MissingArch
        } else if cell.cell.sealos.is_dev() {
            MissingReason::DevLine
        } else if cell.cell.sealos == *latest {
            if latest_minors.contains(&cell.cell.kube.minor().to_string()) {
                MissingReason::NewPatch
            } else {
                MissingReason::NewMinor
            }
        } else {
            MissingReason::FrozenRelease
        };
        let group = groups.entry(reason).or_insert(MissingGroup {
            reason,
            index_tags: 0,
            arch_tags: 0,
            tags: Vec::new(),
        });
        if per_arch {
            group.arch_tags += 1;
        } else {
            group.index_tags += 1;
        }
        group.tags.push(tag.clone());
    }
    groups.into_values().collect()
}

/// What the matrix says of a published tag it does not plan.
fn account(matrix: &Matrix, all: &[Candidate<'_>], image: &str, tag: &str) -> UnexpectedTag {
    let found = format!("{image}:{tag}")
        .parse()
        .ok()
        .map(|selector| explain_among(matrix, all, &selector));
    match found {
        Some(explanation) => {
            let mut notes: Vec<String> = explanation
                .cells
                .iter()
                .flat_map(|cell| cell.reasons.iter().cloned())
                .collect();
            notes.extend(explanation.notes);
            notes.sort();
            notes.dedup();
            UnexpectedTag {
                tag: tag.to_string(),
                status: explanation.status.to_string(),
                notes,
            }
        }
        None => UnexpectedTag {
            tag: tag.to_string(),
            status: "unknown".to_string(),
            notes: vec!["not a tag any template of [tags] produces".to_string()],
        },
    }
}

/// `sha256-<64 hex>`: the OCI 1.1 referrers fallback tag `matrix push`
/// writes beside an image (its SBOM and provenance), not an image tag.
fn is_referrers_tag(tag: &str) -> bool {
    tag.strip_prefix("sha256-")
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

impl ImageDiff {
    /// Planned against published tag sets of one repository.
    pub fn compare(
        image: &str,
        repository: String,
        planned: &BTreeSet<String>,
        published: &BTreeSet<String>,
        stale: Vec<String>,
    ) -> ImageDiff {
        ImageDiff {
            image: image.to_string(),
            repository,
            planned: planned.len(),
            published: published.len(),
            missing: planned.difference(published).cloned().collect(),
            unexpected: published
                .difference(planned)
                .filter(|tag| !is_referrers_tag(tag))
                .cloned()
                .collect(),
            stale,
            missing_groups: Vec::new(),
            unexpected_notes: Vec::new(),
        }
    }
}

/// One registry's differences.
#[derive(Debug, Clone, Serialize)]
pub struct RegistryDiff {
    /// `REGISTRY/NAMESPACE`.
    pub registry: String,
    /// Missing tags in all.
    pub missing: usize,
    /// Unexpected tags in all.
    pub unexpected: usize,
    /// Stale tags in all.
    pub stale: usize,
    /// Per image.
    pub images: Vec<ImageDiff>,
}

/// How many unexpected tags get the matrix's account (each one is a scan
/// of every candidate cell).
const ACCOUNTED: usize = 200;

/// Compares the plan's tags with what `target` has.
pub fn diff(
    client: &Client,
    target: &Target,
    matrix: &Matrix,
    cells: &[&PlannedCell],
    store: Option<&Store>,
) -> Result<RegistryDiff, RegistryError> {
    let mut planned: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    let mut by_image: BTreeMap<&str, Vec<&PlannedCell>> = BTreeMap::new();
    for cell in cells {
        planned
            .entry(cell.image.as_str())
            .or_default()
            .extend(cell.tags.all().map(ToString::to_string));
        by_image.entry(cell.image.as_str()).or_default().push(cell);
    }
    let host = target.api_host();
    // Judged once, and only if some tag needs accounting for.
    let mut judged: Option<Vec<Candidate<'_>>> = None;
    let mut images = Vec::new();
    for (image, tags) in planned {
        let repository = target.repository(image);
        let published: BTreeSet<String> = client.tags(host, &repository)?.into_iter().collect();
        let mut stale = Vec::new();
        if let Some(store) = store {
            for tag in tags.intersection(&published) {
                // Planned tags are valid tags by construction.
                let Ok(parsed) = tag.parse::<Tag>() else { continue };
                let local =
                    store
                        .resolve(&RefName::new(image, &parsed))
                        .map_err(|e| RegistryError::Invalid {
                            what: "the OCI layout".into(),
                            message: e.to_string(),
                        })?;
                if let Some(local) = local {
                    let remote = client.manifest_digest(host, &repository, tag)?;
                    if remote.as_deref() != Some(local.digest().as_ref()) {
                        stale.push(tag.clone());
                    }
                }
            }
        }
        let mut compared = ImageDiff::compare(image, repository, &tags, &published, stale);
        let owners = by_image.get(image).map_or(&[][..], Vec::as_slice);
        compared.missing_groups = group_missing(owners, &compared.missing, &published, &matrix.sealos.latest);
        if !compared.unexpected.is_empty() && judged.is_none() {
            judged = Some(candidates(matrix).map_err(|e| RegistryError::Invalid {
                what: "the plan".into(),
                message: e.to_string(),
            })?);
        }
        let all = judged.as_deref().unwrap_or_default();
        compared.unexpected_notes = compared
            .unexpected
            .iter()
            .take(ACCOUNTED)
            .map(|tag| account(matrix, all, image, tag))
            .collect();
        images.push(compared);
    }
    Ok(RegistryDiff {
        registry: target.to_string(),
        missing: images.iter().map(|i| i.missing.len()).sum(),
        unexpected: images.iter().map(|i| i.unexpected.len()).sum(),
        stale: images.iter().map(|i| i.stale.len()).sum(),
        images,
    })
}

/// The cells (image, per-arch tag) of `cells` whose tags some target lacks
/// or holds stale, with the other arches of their index: the work a
/// nightly build must do so that every target has the whole plan.
pub fn missing_from(
    client: &Client,
    targets: &[Target],
    matrix: &Matrix,
    cells: &[&PlannedCell],
    store: Option<&Store>,
) -> Result<std::collections::HashSet<(String, String)>, RegistryError> {
    let mut lacking: BTreeSet<(String, String)> = BTreeSet::new();
    for target in targets {
        let compared = diff(client, target, matrix, cells, store)?;
        for image in compared.images {
            for tag in image.missing.iter().chain(&image.stale) {
                lacking.insert((image.image.clone(), tag.clone()));
            }
        }
    }
    let mut indexes = BTreeSet::new();
    for cell in cells {
        if cell
            .tags
            .all()
            .any(|tag| lacking.contains(&(cell.image.clone(), tag.to_string())))
        {
            indexes.insert((cell.image.clone(), cell.tags.index_tag.to_string()));
        }
    }
    Ok(cells
        .iter()
        .filter(|cell| indexes.contains(&(cell.image.clone(), cell.tags.index_tag.to_string())))
        .map(|cell| (cell.image.clone(), cell.tags.tag.to_string()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn referrers_fallback_tags_are_not_unexpected_images() {
        let fallback = format!("sha256-{}", "a".repeat(64));
        let planned: BTreeSet<String> = ["v1.24.4-4.2.1".to_string()].into();
        let published: BTreeSet<String> =
            ["v1.24.4-4.2.1".to_string(), fallback, "v1.0.0".to_string()].into();
        let diff = ImageDiff::compare(
            "kubernetes",
            "labring/kubernetes".into(),
            &planned,
            &published,
            Vec::new(),
        );
        assert_eq!(diff.unexpected, ["v1.0.0"]);
        assert!(!is_referrers_tag("sha256-abc"));
    }

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn missing_and_unexpected_are_set_differences() {
        let planned = set(&["v1.24.4-4.1.3", "v1.24.4-4.1.3-amd64", "v1.24.4"]);
        let published = set(&["v1.24.4-4.1.3", "v1.23.0-4.0.0"]);
        let diff = ImageDiff::compare(
            "kubernetes",
            "labring/kubernetes".into(),
            &planned,
            &published,
            vec![],
        );
        assert_eq!(diff.missing, vec!["v1.24.4", "v1.24.4-4.1.3-amd64"]);
        assert_eq!(diff.unexpected, vec!["v1.23.0-4.0.0"]);
        assert_eq!((diff.planned, diff.published), (3, 2));
    }
}
