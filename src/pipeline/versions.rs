//! `versions --refresh`: the Kubernetes releases a registry lists (only
//! plausible release tags: a registry is untrusted input), what is new
//! against the lock, and the lock rewritten with them.

use std::collections::{BTreeMap, BTreeSet};

use thiserror::Error;

use crate::config::Matrix;
use crate::registry::{Client, ImageRef, RegistryError};
use crate::version::{Day, KubeMinor, KubeVersion, release_from_tag};

/// What a refresh found.
#[derive(Debug)]
pub struct Refresh {
    /// Every release the registry lists.
    pub releases: BTreeSet<KubeVersion>,
    /// Releases the lock did not know.
    pub added: Vec<KubeVersion>,
    /// Tags that look like releases but are not plausible, with why.
    pub refused: Vec<(String, &'static str)>,
}

/// Why a refresh could not be done.
#[derive(Debug, Error)]
pub enum RefreshError {
    /// Listing the tags failed.
    #[error("listing {source_ref}: {error}")]
    List {
        /// The repository.
        source_ref: String,
        /// Why.
        #[source]
        error: RegistryError,
    },
    /// The repository lists no release at all: a wrong source, or a hostile one.
    #[error(
        "{source_ref} lists no Kubernetes release tags ({tags} tags in all); refusing to refresh from it\n  help: check --source (e.g. registry.k8s.io/kube-apiserver)"
    )]
    NoReleases {
        /// The repository.
        source_ref: String,
        /// How many tags it listed.
        tags: usize,
    },
    /// Writing the lock failed.
    #[error(transparent)]
    Write(#[from] crate::lock::LockWriteError),
}

/// Lists `source`'s release tags and compares them with the lock; with
/// `write`, adds the new ones to the lock.
pub fn refresh(
    matrix: &Matrix,
    client: &Client,
    source: &ImageRef,
    write: bool,
) -> Result<Refresh, RefreshError> {
    let source_ref = format!("{}/{}", source.registry, source.repository);
    let tags = client
        .tags(source.api_host(), &source.repository)
        .map_err(|error| RefreshError::List {
            source_ref: source_ref.clone(),
            error,
        })?;
    let known: BTreeSet<KubeVersion> = matrix.lock.versions().collect();
    let newest_minor = known.iter().map(KubeVersion::minor).max();
    let mut releases = BTreeSet::new();
    let mut refused = Vec::new();
    for tag in &tags {
        match release_from_tag(tag, newest_minor) {
            Ok(version) => {
                releases.insert(version);
            }
            // Pre-releases and other images' tags are expected; only tags
            // that look like releases but are not plausible are reported.
            Err(reason) if tag.starts_with("v1.") && !tag.contains('-') => {
                refused.push((tag.escape_default().to_string(), reason));
            }
            Err(_) => {}
        }
    }
    if releases.is_empty() {
        return Err(RefreshError::NoReleases {
            source_ref,
            tags: tags.len(),
        });
    }
    let added: Vec<KubeVersion> = releases.difference(&known).cloned().collect();
    if write && !added.is_empty() {
        let mut merged: BTreeMap<KubeMinor, BTreeSet<u64>> = BTreeMap::new();
        for version in known.iter().chain(releases.iter()) {
            merged.entry(version.minor()).or_default().insert(version.patch());
        }
        matrix
            .lock
            .write_kube(&merged)
            .and_then(|()| {
                // A registry's tag list carries no dates: a release is dated
                // the day a refresh first sees it (the nightly runs daily),
                // which is what the release windows compare.
                let today = Day::today();
                let dated: Vec<(KubeVersion, Day)> = added.iter().map(|v| (v.clone(), today)).collect();
                matrix.lock.write_released(&dated)
            })
            .map_err(RefreshError::Write)?;
    }
    Ok(Refresh {
        releases,
        added,
        refused,
    })
}
