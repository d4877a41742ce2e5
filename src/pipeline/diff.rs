//! Planned tags against published ones, per registry: missing (planned, not
//! published), unexpected (published, not planned) and stale (published
//! digest differs from the local store's image for that tag).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::oci::{RefName, Store};
use crate::plan::PlannedCell;
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
            unexpected: published.difference(planned).cloned().collect(),
            stale,
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

/// Compares the plan's tags with what `target` has.
pub fn diff(
    client: &Client,
    target: &Target,
    cells: &[&PlannedCell],
    store: Option<&Store>,
) -> Result<RegistryDiff, RegistryError> {
    let mut planned: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for cell in cells {
        planned
            .entry(cell.image.as_str())
            .or_default()
            .extend(cell.tags.all().map(ToString::to_string));
    }
    let host = target.api_host();
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
        images.push(ImageDiff::compare(image, repository, &tags, &published, stale));
    }
    Ok(RegistryDiff {
        registry: target.to_string(),
        missing: images.iter().map(|i| i.missing.len()).sum(),
        unexpected: images.iter().map(|i| i.unexpected.len()).sum(),
        stale: images.iter().map(|i| i.stale.len()).sum(),
        images,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
