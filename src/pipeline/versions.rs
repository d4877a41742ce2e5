//! `versions --refresh`: the Kubernetes releases a registry lists (only
//! plausible release tags: a registry is untrusted input), what is new
//! against the lock, and the lock rewritten with them.

use std::collections::{BTreeMap, BTreeSet};

use thiserror::Error;

use crate::config::Matrix;
use crate::net::SecretUrl;
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
/// `write`, adds the new ones to the lock, dated from `days` (the
/// publication days of Kubernetes' GitHub releases) where known.
pub fn refresh(
    matrix: &Matrix,
    client: &Client,
    source: &ImageRef,
    days: &BTreeMap<KubeVersion, Day>,
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
                // by its GitHub release when one was read, else the day a
                // refresh first sees it (the nightly runs daily), which is
                // what the release windows compare.
                let today = Day::today();
                let dated: Vec<(KubeVersion, Day)> = added
                    .iter()
                    .map(|v| (v.clone(), days.get(v).copied().unwrap_or(today)))
                    .collect();
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
        /// The URL asked (shown redacted).
        url: SecretUrl,
        /// What went wrong.
        message: String,
    },
    /// The answer is not the JSON GitHub sends.
    #[error("listing releases at {url}: not a GitHub release list: {source}")]
    Malformed {
        /// The URL asked (shown redacted).
        url: SecretUrl,
        /// What the parser said, with line and column.
        #[source]
        source: serde_json::Error,
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
pub fn parse_github_releases(json: &str) -> Result<Vec<GithubRelease>, serde_json::Error> {
    parse_page(json).map(|(releases, _)| releases)
}

/// The releases of one page and how many entries the page had.
fn parse_page(json: &str) -> Result<(Vec<GithubRelease>, usize), serde_json::Error> {
    #[derive(serde::Deserialize)]
    struct Raw {
        tag_name: String,
        #[serde(default)]
        draft: bool,
        #[serde(default)]
        prerelease: bool,
        published_at: Option<String>,
    }
    let raw: Vec<Raw> = serde_json::from_str(json)?;
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
/// (`https://api.github.com`, or a loopback server in tests) lists. A
/// `token` (raising GitHub's rate limit) goes only to that API, and only
/// over https or to loopback.
pub fn github_releases(
    api: &str,
    repo: &str,
    token: Option<&str>,
) -> Result<Vec<GithubRelease>, ReleasesError> {
    let client = crate::net::client(crate::net::idle_timeout()).map_err(|e| ReleasesError::Http {
        url: api.into(),
        message: crate::net::plain_error(&e),
    })?;
    let token = token.filter(|_| token_may_go_to(api));
    let mut all = Vec::new();
    for page in 1..=MAX_RELEASE_PAGES {
        let url = format!(
            "{}/repos/{repo}/releases?per_page={PER_PAGE}&page={page}",
            api.trim_end_matches('/')
        );
        let shown = SecretUrl::new(url.clone());
        let mut request = client.get(&url).header("Accept", "application/vnd.github+json");
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .and_then(reqwest::blocking::Response::error_for_status)
            .map_err(|e| ReleasesError::Http {
                url: shown.clone(),
                message: crate::net::plain_error(&e),
            })?;
        let text = read_page(response).map_err(|message| ReleasesError::Http {
            url: shown.clone(),
            message,
        })?;
        let (found, entries) = parse_page(&text).map_err(|source| ReleasesError::Malformed {
            url: shown.clone(),
            source,
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

/// True when a token may be sent to `api`: https, or plain http to loopback.
fn token_may_go_to(api: &str) -> bool {
    if api.starts_with("https://") {
        return true;
    }
    api.strip_prefix("http://")
        .and_then(|rest| rest.split('/').next())
        .is_some_and(crate::registry::is_loopback)
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

/// The publication day of each Kubernetes release (tags `v1.X.Y`) of a
/// GitHub release list; candidates and pre-releases are left out.
pub fn kube_release_days(releases: &[GithubRelease]) -> BTreeMap<KubeVersion, Day> {
    releases
        .iter()
        .filter(|r| !r.prerelease)
        .filter_map(|r| {
            let version: KubeVersion = r.tag.strip_prefix('v')?.parse().ok()?;
            let plain = version.semver().pre.is_empty() && version.semver().build.is_empty();
            plain.then_some((version, r.published))
        })
        .collect()
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
    fn kubeadm_image_lists_become_lock_facts() {
        let listed = "registry.k8s.io/kube-apiserver:v1.37.0\nregistry.k8s.io/kube-controller-manager:v1.37.0\nregistry.k8s.io/kube-scheduler:v1.37.0\nregistry.k8s.io/kube-proxy:v1.37.0\nregistry.k8s.io/coredns/coredns:v1.14.6\nregistry.k8s.io/pause:3.10.2\nregistry.k8s.io/etcd:3.7.0-0\n";
        let images = parse_kubeadm_images(listed).unwrap();
        assert_eq!(images.registry, "registry.k8s.io");
        assert_eq!(images.pause, "3.10.2");
        assert_eq!(images.etcd, "3.7.0-0");
        assert_eq!(images.coredns, "coredns/coredns:v1.14.6");
        // The lock's facts for 1.37.0 are these: nothing to write.
        let version: KubeVersion = "1.37.0".parse().unwrap();
        assert!(kubeadm_updates(&real(), &[(version.clone(), images.clone())]).is_empty());
        let mut moved = images;
        moved.etcd = "3.7.1-0".into();
        assert_eq!(kubeadm_updates(&real(), &[(version, moved)]).len(), 1);
        // 1.13-era lists without CoreDNS, and noise, are no image lists.
        assert!(parse_kubeadm_images("k8s.gcr.io/kube-apiserver:v1.10.0\n").is_none());
        assert!(parse_kubeadm_images("error: unknown flag\n").is_none());
    }

    #[test]
    fn a_kubeadm_that_does_not_match_its_checksum_is_never_run() {
        let dir = tempfile::tempdir().unwrap();
        let arch = if cfg!(target_arch = "aarch64") {
            "arm64"
        } else {
            "amd64"
        };
        let bin = dir.path().join(format!("release/v1.38.0/bin/linux/{arch}"));
        std::fs::create_dir_all(&bin).unwrap();
        let marker = dir.path().join("ran");
        let script = format!("#!/bin/sh\n: > {}\n", marker.display());
        std::fs::write(bin.join("kubeadm"), &script).unwrap();
        std::fs::write(bin.join("kubeadm.sha256"), format!("{}\n", "0".repeat(64))).unwrap();
        let base = format!("file://{}", dir.path().display());
        let error = kubeadm_images(&base, &"1.38.0".parse().unwrap()).unwrap_err();
        assert!(error.to_string().contains("checksum mismatch"), "{error}");
        assert!(!marker.exists());
        // A binary that prints no image list is an error that says so.
        std::fs::write(
            bin.join("kubeadm.sha256"),
            format!("{}\n", crate::digest::Sha256::of(script.as_bytes()).hex()),
        )
        .unwrap();
        let error = kubeadm_images(&base, &"1.38.0".parse().unwrap()).unwrap_err();
        assert!(error.to_string().contains("printed no image list"), "{error}");
    }

    #[test]
    fn line_diff_names_removed_and_added_lines() {
        let before = "a\nb\nc\nd\n";
        let after = "a\nB\nc\nd\ne\n";
        assert_eq!(line_diff(before, after), ["- b", "+ B", "+ e"]);
        assert!(line_diff(before, before).is_empty());
    }

    #[test]
    fn tokens_go_over_https_or_to_loopback_only() {
        assert!(token_may_go_to("https://api.github.com"));
        assert!(token_may_go_to("http://127.0.0.1:8080"));
        assert!(!token_may_go_to("http://api.github.com"));
        assert!(!token_may_go_to("http://127.0.0.1.evil.example"));
        assert!(!token_may_go_to("file:///tmp"));
    }

    #[test]
    fn a_hostile_listing_is_an_error_not_a_panic() {
        assert!(parse_github_releases("{\"message\": \"rate limited\"}").is_err());
        assert!(parse_github_releases("[{\"tag_name\": 5}]").is_err());
        assert!(parse_github_releases("[]").unwrap().is_empty());
    }
}

/// Why kubeadm's images of a release could not be read.
#[derive(Debug, Error)]
pub enum KubeadmListError {
    /// Downloading kubeadm or its checksum failed.
    #[error("fetching kubeadm {version} from {url}: {source}")]
    Fetch {
        /// The release.
        version: String,
        /// The URL (shown redacted).
        url: SecretUrl,
        /// What went wrong.
        #[source]
        source: UrlReadError,
    },
    /// The download does not match the published checksum.
    #[error("kubeadm {version} from {url}: checksum mismatch (got {got}, published {want})")]
    Checksum {
        /// The release.
        version: String,
        /// The URL (shown redacted).
        url: SecretUrl,
        /// What the download hashes to.
        got: String,
        /// What the `.sha256` file says.
        want: String,
    },
    /// Running it failed or it printed no image list.
    #[error("kubeadm {version}: `config images list` {message}")]
    Run {
        /// The release.
        version: String,
        /// What went wrong.
        message: String,
    },
}

/// kubeadm binaries larger than this are refused (the real one is ~70 MB).
const MAX_KUBEADM_BYTES: u64 = 512 * 1024 * 1024;

/// Reads `kubeadm config images list` output into the lock's facts: the
/// registry, pause and etcd tags and CoreDNS's path below the registry.
pub fn parse_kubeadm_images(output: &str) -> Option<crate::lock::KubeadmImages> {
    let mut registry = None;
    let (mut pause, mut etcd, mut coredns) = (None, None, None);
    for line in output.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (repository, tag) = line.rsplit_once(':')?;
        if let Some(prefix) = repository.strip_suffix("/kube-apiserver") {
            registry = Some(prefix.to_string());
        }
        let name = repository.rsplit('/').next()?;
        match name {
            "pause" => pause = Some(tag.to_string()),
            "etcd" => etcd = Some(tag.to_string()),
            _ => {}
        }
        if line.contains("coredns") {
            coredns = Some(line.to_string());
        }
    }
    let registry = registry?;
    let coredns = coredns?.strip_prefix(&format!("{registry}/"))?.to_string();
    Some(crate::lock::KubeadmImages {
        registry,
        pause: pause?,
        etcd: etcd?,
        coredns,
    })
}

/// Downloads kubeadm `version` for this machine from `base` (`https://dl.k8s.io`,
/// or a `file://` tree of the same shape), checks it against its `.sha256`,
/// runs `kubeadm config images list --kubernetes-version` and reads the list.
pub fn kubeadm_images(
    base: &str,
    version: &KubeVersion,
) -> Result<crate::lock::KubeadmImages, KubeadmListError> {
    let arch = match std::env::consts::ARCH {
        "aarch64" => "arm64",
        _ => "amd64",
    };
    let name = version.to_string();
    let url = format!(
        "{}/release/{name}/bin/linux/{arch}/kubeadm",
        base.trim_end_matches('/')
    );
    let shown = SecretUrl::new(url.clone());
    let fetch_error = |source: UrlReadError| KubeadmListError::Fetch {
        version: name.clone(),
        url: shown.clone(),
        source,
    };
    let bytes = read_url(&url, MAX_KUBEADM_BYTES).map_err(fetch_error)?;
    let sums = read_url(&format!("{url}.sha256"), 4096).map_err(fetch_error)?;
    let want = String::from_utf8_lossy(&sums)
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    let got = crate::digest::Sha256::of(&bytes).hex();
    if got != want {
        return Err(KubeadmListError::Checksum {
            version: name,
            url: shown,
            got,
            want,
        });
    }
    let run_error = |message: String| KubeadmListError::Run {
        version: name.clone(),
        message,
    };
    let dir = tempfile::tempdir().map_err(|e| run_error(e.to_string()))?;
    let binary = dir.path().join("kubeadm");
    write_executable(&binary, &bytes).map_err(|e| run_error(e.to_string()))?;
    let output = std::process::Command::new(&binary)
        .args(["config", "images", "list", "--kubernetes-version", &name])
        .env_clear()
        .output()
        .map_err(|e| run_error(format!("could not run: {e}")))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(run_error(format!("failed: {}", stderr.trim())));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    parse_kubeadm_images(&text).ok_or_else(|| run_error(format!("printed no image list: {}", text.trim())))
}

fn write_executable(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o700)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Why a download of the refresh failed.
#[derive(Debug, Error)]
pub enum UrlReadError {
    /// A `file://` source could not be read.
    #[error(transparent)]
    File(#[from] std::io::Error),
    /// The request failed or the server refused it (redacted).
    #[error("{0}")]
    Http(String),
    /// The body is larger than the refresh accepts.
    #[error("larger than {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
}

/// Largest page of releases read: a hundred releases with long notes fit
/// many times over; a larger answer is refused while it streams.
const PAGE_LIMIT: u64 = 32 << 20;

/// A page of releases, read within [`PAGE_LIMIT`] and its deadline.
fn read_page(response: reqwest::blocking::Response) -> Result<String, String> {
    use std::io::Read;
    let mut body = crate::net::Deadline::new(response, crate::net::transfer_limit(Some(PAGE_LIMIT)))
        .take(PAGE_LIMIT + 1);
    let mut bytes = Vec::new();
    body.read_to_end(&mut bytes).map_err(|e| e.to_string())?;
    if bytes.len() as u64 > PAGE_LIMIT {
        return Err(format!("the page is over {PAGE_LIMIT} bytes"));
    }
    String::from_utf8(bytes).map_err(|e| e.to_string())
}

/// The body of `url` (http(s) or `file://`), refused past `limit` bytes.
fn read_url(url: &str, limit: u64) -> Result<Vec<u8>, UrlReadError> {
    use std::io::Read;
    let http = |e: reqwest::Error| UrlReadError::Http(crate::net::plain_error(&e));
    let reader: Box<dyn Read> = if let Some(path) = url.strip_prefix("file://") {
        Box::new(std::fs::File::open(path)?)
    } else {
        let client = crate::net::client(crate::net::idle_timeout()).map_err(http)?;
        let response = client
            .get(url)
            .send()
            .and_then(reqwest::blocking::Response::error_for_status)
            .map_err(http)?;
        Box::new(crate::net::Deadline::new(
            response,
            crate::net::transfer_limit(Some(limit)),
        ))
    };
    let mut bytes = Vec::new();
    reader.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(UrlReadError::TooLarge { limit });
    }
    Ok(bytes)
}

/// What the refresh writes for new releases' kubeadm images: a new minor
/// gets its facts; a new patch whose images differ from what the lock says
/// for it gets a step from that patch on.
pub fn kubeadm_updates(
    matrix: &Matrix,
    found: &[(KubeVersion, crate::lock::KubeadmImages)],
) -> Vec<(KubeVersion, crate::lock::KubeadmImages)> {
    found
        .iter()
        .filter(|(version, images)| matrix.lock.kubeadm_images(version).as_ref() != Some(images))
        .cloned()
        .collect()
}

/// Where a full refresh looks besides the registry, and whether it writes.
#[derive(Debug, Clone, Copy, Default)]
pub struct RefreshOptions<'a> {
    /// The GitHub API (`https://api.github.com`): Kubernetes' release days,
    /// k3s builds, sealos releases.
    pub github: Option<&'a str>,
    /// Where kubeadm binaries are (`https://dl.k8s.io`): each new release's
    /// images from `kubeadm config images list`.
    pub kubeadm: Option<&'a str>,
    /// A GitHub token for the API's rate limit (never printed).
    pub token: Option<&'a str>,
    /// Compute the lock's change without writing it.
    pub dry_run: bool,
}

/// What a full refresh found and changed.
#[derive(Debug)]
pub struct RefreshReport {
    /// Kubernetes releases from the registry.
    pub kube: Refresh,
    /// kubeadm images of new releases that the lock did not have.
    pub kubeadm: Vec<(KubeVersion, crate::lock::KubeadmImages)>,
    /// New k3s builds.
    pub k3s: Vec<KubeVersion>,
    /// sealos releases and pre-releases matrix.toml does not list.
    pub sealos: Vec<NewSealos>,
    /// The lock's change, line by line (`+ ...`, `- ...`).
    pub lock_diff: Vec<String>,
}

/// Why a full refresh failed.
#[derive(Debug, Error)]
pub enum RefreshAllError {
    /// Reading the registry or writing the lock.
    #[error(transparent)]
    Refresh(#[from] RefreshError),
    /// Reading a GitHub release list.
    #[error(transparent)]
    Releases(#[from] ReleasesError),
    /// Fetching or running kubeadm.
    #[error(transparent)]
    Kubeadm(#[from] KubeadmListError),
}

/// Refreshes the lock from every source asked for. A dry run writes to a
/// copy of the lock, so both modes report the same `lock_diff`.
pub fn refresh_all(
    matrix: &Matrix,
    client: &Client,
    source: &ImageRef,
    options: RefreshOptions<'_>,
) -> Result<RefreshReport, RefreshAllError> {
    let write_error = |source: std::io::Error| {
        RefreshError::Write(crate::lock::LockWriteError::Write {
            path: matrix.lock.path.clone(),
            source,
        })
    };
    let before = std::fs::read_to_string(&matrix.lock.path).map_err(write_error)?;
    let shadow = tempfile::tempdir().map_err(write_error)?;
    let mut target = matrix.clone();
    if options.dry_run {
        target.lock.path = shadow.path().join("matrix.lock");
        std::fs::write(&target.lock.path, &before).map_err(write_error)?;
    }
    let days = match options.github {
        Some(api) => kube_release_days(&github_releases(api, "kubernetes/kubernetes", options.token)?),
        None => BTreeMap::new(),
    };
    let kube = refresh(&target, client, source, &days, true)?;
    let mut kubeadm = Vec::new();
    if let Some(base) = options.kubeadm {
        let mut listed = Vec::new();
        for version in &kube.added {
            listed.push((version.clone(), kubeadm_images(base, version)?));
        }
        kubeadm = kubeadm_updates(matrix, &listed);
        if !kubeadm.is_empty() {
            target.lock.write_kubeadm(&kubeadm).map_err(RefreshError::Write)?;
        }
    }
    let (mut k3s, mut sealos) = (Vec::new(), Vec::new());
    if let Some(api) = options.github {
        k3s = new_k3s_releases(matrix, &github_releases(api, "k3s-io/k3s", options.token)?);
        if !k3s.is_empty() {
            target.lock.write_k3s(&k3s).map_err(RefreshError::Write)?;
        }
        sealos = new_sealos_releases(matrix, &github_releases(api, "labring/sealos", options.token)?);
    }
    let after = std::fs::read_to_string(&target.lock.path).map_err(write_error)?;
    Ok(RefreshReport {
        kube,
        kubeadm,
        k3s,
        sealos,
        lock_diff: line_diff(&before, &after),
    })
}

/// The lines removed (`- `) and added (`+ `) between two texts, in order
/// (a longest-common-subsequence diff without context lines).
pub fn line_diff(before: &str, after: &str) -> Vec<String> {
    let old: Vec<&str> = before.lines().collect();
    let new: Vec<&str> = after.lines().collect();
    // Common prefix and suffix first: a refresh changes a few lines.
    let prefix = old.iter().zip(&new).take_while(|(a, b)| a == b).count();
    let suffix = old[prefix..]
        .iter()
        .rev()
        .zip(new[prefix..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let (old, new) = (&old[prefix..old.len() - suffix], &new[prefix..new.len() - suffix]);
    let mut lcs = vec![vec![0u32; new.len() + 1]; old.len() + 1];
    for i in (0..old.len()).rev() {
        for j in (0..new.len()).rev() {
            lcs[i][j] = if old[i] == new[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < old.len() || j < new.len() {
        if i < old.len() && j < new.len() && old[i] == new[j] {
            i += 1;
            j += 1;
        } else if i < old.len() && (j == new.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push(format!("- {}", old[i]));
            i += 1;
        } else {
            out.push(format!("+ {}", new[j]));
            j += 1;
        }
    }
    out
}

/// A release source that answers oddly or a kubeadm that fails is a
/// failure of that source, not input to fix.
impl crate::error::Fault for ReleasesError {
    fn is_bad_input(&self) -> bool {
        false
    }
}

impl crate::error::Fault for KubeadmListError {
    fn is_bad_input(&self) -> bool {
        false
    }
}

impl crate::error::Fault for RefreshAllError {
    fn is_bad_input(&self) -> bool {
        match self {
            RefreshAllError::Refresh(error) => error.is_bad_input(),
            RefreshAllError::Releases(error) => error.is_bad_input(),
            RefreshAllError::Kubeadm(error) => error.is_bad_input(),
        }
    }
}
