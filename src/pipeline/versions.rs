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
    #[error("updating {path}: {error}")]
    Write {
        /// The lock file.
        path: String,
        /// Why.
        #[source]
        error: std::io::Error,
    },
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
            .map_err(|error| RefreshError::Write {
                path: matrix.lock.path.display().to_string(),
                error,
            })?;
    }
    Ok(Refresh {
        releases,
        added,
        refused,
    })
}

/// One GitHub release of a project (`GET /repos/{owner}/{repo}/releases`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GithubRelease {
    /// The tag (`v5.1.1`, `v1.37.1+k3s1`).
    pub tag: String,
    /// The day it was published.
    pub published: Day,
    /// GitHub marks it a pre-release.
    pub prerelease: bool,
}

/// Why a release listing could not be read.
#[derive(Debug, Error)]
pub enum ReleasesError {
    /// The request failed or the server refused it.
    #[error("listing releases at {url}: {message}")]
    Http {
        /// The URL asked (redacted).
        url: String,
        /// What went wrong.
        message: String,
    },
    /// The answer is not the JSON GitHub sends.
    #[error("listing releases at {url}: not a GitHub release list: {message}")]
    Malformed {
        /// The URL asked (redacted).
        url: String,
        /// What the parser said.
        message: String,
    },
}

/// At most this many pages of 100 releases are read: a listing that goes
/// on is hostile, not a project's history.
const MAX_RELEASE_PAGES: u32 = 20;

/// Releases asked for per page (GitHub's maximum).
const PER_PAGE: usize = 100;

/// Reads a GitHub release list (one page of the API's JSON). Drafts are
/// skipped; a release without a date or a parseable tag is ignored, as the
/// tag lists of registries are.
pub fn parse_github_releases(json: &str) -> Result<Vec<GithubRelease>, String> {
    parse_page(json).map(|(releases, _)| releases)
}

/// The releases of one page and how many entries the page had.
fn parse_page(json: &str) -> Result<(Vec<GithubRelease>, usize), String> {
    #[derive(serde::Deserialize)]
    struct Raw {
        tag_name: String,
        #[serde(default)]
        draft: bool,
        #[serde(default)]
        prerelease: bool,
        published_at: Option<String>,
    }
    let raw: Vec<Raw> = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let entries = raw.len();
    let releases = raw
        .into_iter()
        .filter(|r| !r.draft && r.tag_name.len() <= 64)
        .filter_map(|r| {
            let day: Day = r.published_at.as_deref()?.get(..10)?.parse().ok()?;
            Some(GithubRelease {
                tag: r.tag_name,
                published: day,
                prerelease: r.prerelease,
            })
        })
        .collect();
    Ok((releases, entries))
}

/// Every release of `repo` (`labring/sealos`) that the GitHub API at `api`
/// (`https://api.github.com`, or a loopback server in tests) lists.
pub fn github_releases(api: &str, repo: &str) -> Result<Vec<GithubRelease>, ReleasesError> {
    let client = crate::net::client(std::time::Duration::from_secs(60)).map_err(|e| ReleasesError::Http {
        url: api.to_string(),
        message: crate::net::plain_error(&e),
    })?;
    let mut all = Vec::new();
    for page in 1..=MAX_RELEASE_PAGES {
        let url = format!(
            "{}/repos/{repo}/releases?per_page={PER_PAGE}&page={page}",
            api.trim_end_matches('/')
        );
        let shown = crate::net::redact(&url);
        let response = client
            .get(&url)
            .header("Accept", "application/vnd.github+json")
            .send()
            .and_then(reqwest::blocking::Response::error_for_status)
            .map_err(|e| ReleasesError::Http {
                url: shown.clone(),
                message: crate::net::plain_error(&e),
            })?;
        let text = response.text().map_err(|e| ReleasesError::Http {
            url: shown.clone(),
            message: crate::net::plain_error(&e),
        })?;
        let (found, entries) = parse_page(&text).map_err(|message| ReleasesError::Malformed {
            url: shown.clone(),
            message,
        })?;
        all.extend(found);
        // GitHub's last page is short.
        if entries < PER_PAGE {
            break;
        }
    }
    all.sort_by(|a, b| a.tag.cmp(&b.tag));
    all.dedup_by(|a, b| a.tag == b.tag);
    Ok(all)
}

/// k3s releases (`v1.37.1+k3s1`, rebuilds `+k3sN` included) of minors the
/// lock knows that the lock does not list yet, ascending. Pre-releases and
/// release candidates are not releases.
pub fn new_k3s_releases(matrix: &Matrix, releases: &[GithubRelease]) -> Vec<KubeVersion> {
    let mut found: BTreeSet<KubeVersion> = BTreeSet::new();
    for release in releases.iter().filter(|r| !r.prerelease) {
        let Some(plain) = release.tag.strip_prefix('v') else {
            continue;
        };
        let Ok(version) = plain.parse::<KubeVersion>() else {
            continue;
        };
        let build = &version.semver().build;
        let rebuild = build
            .as_str()
            .strip_prefix("k3s")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if !version.semver().pre.is_empty() || !rebuild || matrix.lock.patches(version.minor()).is_empty() {
            continue;
        }
        let known = matrix
            .lock
            .k3s_releases(version.minor())
            .iter()
            .any(|k| k == &version);
        if !known {
            found.insert(version);
        }
    }
    found.into_iter().collect()
}

/// A sealos release the matrix does not list, with its day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSealos {
    /// The version (`5.1.2-rc6`).
    pub version: semver::Version,
    /// Published that day.
    pub published: Day,
    /// A pre-release: never a stable alias holder.
    pub prerelease: bool,
}

/// sealos releases and pre-releases (tags `vX.Y.Z[-pre]`) newer than the
/// oldest the matrix lists and not in `[sealos] versions`: a human adds them
/// (and their rules) to matrix.toml.
pub fn new_sealos_releases(matrix: &Matrix, releases: &[GithubRelease]) -> Vec<NewSealos> {
    let listed: Vec<semver::Version> = matrix
        .sealos
        .releases
        .iter()
        .map(|v| v.compare_as().clone())
        .collect();
    let Some(oldest) = listed.iter().min().cloned() else {
        return Vec::new();
    };
    let mut found: Vec<NewSealos> = releases
        .iter()
        .filter_map(|r| {
            let version = semver::Version::parse(r.tag.strip_prefix('v')?).ok()?;
            let plausible = version.build.is_empty() && version > oldest && !listed.contains(&version);
            plausible.then(|| NewSealos {
                prerelease: r.prerelease || !version.pre.is_empty(),
                version,
                published: r.published,
            })
        })
        .collect();
    found.sort_by(|a, b| a.version.cmp(&b.version));
    found.dedup_by(|a, b| a.version == b.version);
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A recorded page of `GET /repos/k3s-io/k3s/releases` (fields trimmed).
    const K3S: &str = r#"[
      {"tag_name": "v1.37.2+k3s1", "draft": false, "prerelease": false, "published_at": "2026-11-03T17:32:00Z"},
      {"tag_name": "v1.37.2-rc1+k3s1", "draft": false, "prerelease": true, "published_at": "2026-10-30T10:00:00Z"},
      {"tag_name": "v1.35.0+k3s3", "draft": false, "prerelease": false, "published_at": "2026-02-03T00:00:00Z"},
      {"tag_name": "v1.37.1+k3s1", "draft": false, "prerelease": false, "published_at": "2026-09-30T00:00:00Z"},
      {"tag_name": "v1.99.0+k3s1", "draft": false, "prerelease": false, "published_at": "2026-09-30T00:00:00Z"},
      {"tag_name": "v1.36.4+k3s1", "draft": true, "prerelease": false, "published_at": null}
    ]"#;

    /// A recorded page of `GET /repos/labring/sealos/releases`.
    const SEALOS: &str = r#"[
      {"tag_name": "v5.1.2-rc6", "prerelease": true, "published_at": "2026-08-16T08:00:00Z"},
      {"tag_name": "v5.1.1", "prerelease": false, "published_at": "2025-11-17T08:00:00Z"},
      {"tag_name": "v5.2.0", "prerelease": false, "published_at": "2026-12-01T08:00:00Z"},
      {"tag_name": "v3.3.9", "prerelease": false, "published_at": "2021-01-01T08:00:00Z"}
    ]"#;

    fn real() -> Matrix {
        Matrix::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("matrix.toml")).unwrap()
    }

    #[test]
    fn k3s_rebuilds_of_known_minors_are_new_and_candidates_are_not() {
        let releases = parse_github_releases(K3S).unwrap();
        assert_eq!(releases.len(), 5, "the draft is skipped");
        assert_eq!(releases[0].published.to_string(), "2026-11-03");
        let new: Vec<String> = new_k3s_releases(&real(), &releases)
            .iter()
            .map(ToString::to_string)
            .collect();
        // 1.37.1+k3s1 and 1.35.0+k3s3 are known; 1.99 is no minor the lock has.
        assert_eq!(new, ["v1.37.2+k3s1"]);
    }

    #[test]
    fn sealos_releases_and_pre_releases_carry_their_days() {
        let releases = parse_github_releases(SEALOS).unwrap();
        let new = new_sealos_releases(&real(), &releases);
        let shown: Vec<(String, String, bool)> = new
            .iter()
            .map(|n| (n.version.to_string(), n.published.to_string(), n.prerelease))
            .collect();
        // 5.1.1 and 5.1.2-rc6 are listed already; 3.3.9 predates the matrix.
        assert_eq!(shown, [("5.2.0".to_string(), "2026-12-01".to_string(), false)]);
    }

    #[test]
    fn a_hostile_listing_is_an_error_not_a_panic() {
        assert!(parse_github_releases("{\"message\": \"rate limited\"}").is_err());
        assert!(parse_github_releases("[{\"tag_name\": 5}]").is_err());
        assert!(parse_github_releases("[]").unwrap().is_empty());
    }
}
