//! Fetching the per-arch binaries a cell needs (resolved, purely, by
//! [`crate::plan::CellNeeds`]): apply mirrors, get a checksum (pinned,
//! upstream file or mirror SHA256SUMS), download into the content-addressed
//! cache with verification, and place the files into the cell's context.

mod cache;
mod check;
mod extract;
mod mirror;
mod standin;
mod transport;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rayon::prelude::*;
use serde::Serialize;
use thiserror::Error;

pub use cache::Cache;
pub use check::{UrlCheck, check_urls};
pub use extract::{ExtractError, Limits, extract_tar_gz, members};
pub use mirror::{MirrorError, MirrorRule, SUMS_FILE, format_sums, parse_sums, rewrite, tree_path};
pub use standin::{StandInFill, write_stand_in};
pub use transport::{RetryPolicy, SecretUrl, TransportError, plain_error};

use crate::axis::Arch;
use crate::config::{Matrix, Placement};
use crate::context::{Content, Context, ContextError, Entry, Origin, normal_mode};
use crate::digest::Sha256;
// The fetch API's units of work, decided with the plan.
pub use crate::plan::{Artifact, ImagePart};
use crate::progress::{self, Event, Reporter};

/// Why fetching or placing an artifact failed.
#[derive(Debug, Error)]
pub enum FetchError {
    /// The download's digest is not the expected one; nothing was cached.
    #[error(
        "checksum mismatch for {component} ({arch}) from {url}: expected {expected}, got {actual}\n  help: the download or the mirror is corrupt or not the pinned release; nothing was cached"
    )]
    Mismatch {
        /// Component.
        component: String,
        /// Arch.
        arch: Arch,
        /// The URL (shown redacted).
        url: SecretUrl,
        /// Expected digest.
        expected: Sha256,
        /// Digest of what arrived.
        actual: Sha256,
    },
    /// 404.
    #[error(
        "{component}: {url} was not found (404)\n  help: check the version and URL template, or the mirror's contents"
    )]
    NotFound {
        /// Component.
        component: String,
        /// The URL (shown redacted).
        url: SecretUrl,
    },
    /// Network or HTTP failure after every retry.
    #[error("{component}: {url}: {reason} (gave up after retries)")]
    Transfer {
        /// Component.
        component: String,
        /// The URL (shown redacted).
        url: SecretUrl,
        /// What went wrong.
        reason: String,
    },
    /// A checksum file larger than it may be, refused while it streamed.
    #[error(
        "{component}: {url} is more than {cap} bytes{announced}, too large for a checksum file; refused before reading it whole\n  help: point the component's `checksum` at the checksum file, or pin the digest in matrix.lock [artifacts]"
    )]
    TooLarge {
        /// Component.
        component: String,
        /// The URL (shown redacted).
        url: SecretUrl,
        /// The cap.
        cap: u64,
        /// ` (it announced N)`, or empty.
        announced: String,
    },
    /// No checksum is known and none can be fetched.
    #[error(
        "{component} ({arch}): no checksum for {url}\n  help: pin it in matrix.lock [artifacts] as \"{key}\" = \"sha256:...\", give the component a `checksum` URL, or use a mirror tree with {SUMS_FILE}"
    )]
    NoChecksum {
        /// Component.
        component: String,
        /// Arch.
        arch: Arch,
        /// The URL (shown redacted).
        url: SecretUrl,
        /// Lock key.
        key: String,
    },
    /// The checksum file does not list the artifact.
    #[error("{component}: the checksum file {url} has no entry for {file}")]
    ChecksumMissing {
        /// Component.
        component: String,
        /// The checksum URL (shown redacted).
        url: SecretUrl,
        /// Artifact file name.
        file: String,
    },
    /// `--offline` and not in the cache.
    #[error(
        "offline: {label} is not in the cache ({url})\n  help: run `matrix fetch` with network or a mirror first, or `matrix mirror` on a connected machine"
    )]
    OfflineMiss {
        /// Artifact label.
        label: String,
        /// The URL (shown redacted).
        url: SecretUrl,
    },
    /// An archive lacks a member the matrix expects.
    #[error(
        "{component}: archive {url} has no member `{member}`\n  help: fix `members`/`files` of the component"
    )]
    MissingMember {
        /// Component.
        component: String,
        /// The URL (shown redacted).
        url: SecretUrl,
        /// The member.
        member: String,
    },
    /// Unpacking failed or was refused.
    #[error("{component}: {url}: {source}")]
    Extract {
        /// Component.
        component: String,
        /// The URL of the archive (shown redacted).
        url: SecretUrl,
        /// Why.
        #[source]
        source: ExtractError,
    },
    /// Local I/O (cache, temp files).
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Placing the files clashed with the context.
    #[error(transparent)]
    Context(#[from] ContextError),
}

fn io_error(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> FetchError {
    let what = what.into();
    move |source| FetchError::Io { what, source }
}

/// How to fetch.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Cache folder.
    pub cache: PathBuf,
    /// Mirror rules (matrix.toml's, then `--mirror`'s).
    pub mirrors: Vec<MirrorRule>,
    /// Never touch the network; the cache must have everything.
    pub offline: bool,
    /// Parallel downloads.
    pub jobs: usize,
    /// Retry policy.
    pub retry: RetryPolicy,
    /// Longest silence from a server (headers, each read); the whole
    /// transfer is bounded by its size (`net::transfer_limit`).
    pub timeout: Duration,
}

impl FetchOptions {
    /// Fetching into `cache` with no mirrors, online, default retries.
    pub fn at(cache: PathBuf) -> FetchOptions {
        FetchOptions {
            cache,
            mirrors: Vec::new(),
            offline: false,
            jobs: 4,
            retry: RetryPolicy::default(),
            timeout: crate::net::idle_timeout(),
        }
    }
}

/// Whether an artifact came from the cache or was downloaded now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Already cached.
    Cached,
    /// Downloaded now.
    Fetched,
}

/// A verified artifact in the cache.
#[derive(Debug, Clone, Serialize)]
pub struct Fetched {
    /// What it is.
    pub artifact: Artifact,
    /// Its digest.
    pub digest: Sha256,
    /// Its size in bytes.
    pub size: u64,
    /// Cached or fetched.
    pub outcome: Outcome,
    /// The blob in the cache.
    #[serde(skip)]
    pub path: PathBuf,
}

/// Downloads artifacts into a cache.
pub struct Fetcher {
    options: FetchOptions,
    /// Started on first use: loading the system's CA roots costs more than
    /// a whole unchanged rebuild from a `file://` mirror.
    client: std::sync::OnceLock<reqwest::blocking::Client>,
    cache: Cache,
    tree_sums: Mutex<Option<BTreeMap<String, Sha256>>>,
}

impl Fetcher {
    /// A fetcher over `options.cache`.
    pub fn new(options: FetchOptions) -> Result<Fetcher, FetchError> {
        let cache = Cache::open(&options.cache)
            .map_err(io_error(format!("opening cache {}", options.cache.display())))?;
        Ok(Fetcher {
            options,
            client: std::sync::OnceLock::new(),
            cache,
            tree_sums: Mutex::new(None),
        })
    }

    /// The HTTP client, started now if this is its first use.
    fn client(&self) -> Result<&reqwest::blocking::Client, FetchError> {
        if let Some(client) = self.client.get() {
            return Ok(client);
        }
        let client = crate::net::client(self.options.timeout).map_err(|error| FetchError::Io {
            what: "starting the HTTP client".into(),
            source: std::io::Error::other(error.to_string()),
        })?;
        Ok(self.client.get_or_init(|| client))
    }

    /// The cache in use.
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// Fetches every artifact (deduplicated by URL) with bounded
    /// parallelism; results come back in input order.
    pub fn fetch_all(
        &self,
        artifacts: &[Artifact],
        pins: &(dyn Fn(&Artifact) -> Option<Sha256> + Sync),
        reporter: &dyn Reporter,
    ) -> Vec<Result<Fetched, FetchError>> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(self.options.jobs.max(1))
            .build();
        let run = || {
            artifacts
                .par_iter()
                .map(|a| self.fetch(a, pins(a).as_ref(), reporter))
                .collect()
        };
        match pool {
            Ok(pool) => pool.install(run),
            Err(_) => run(),
        }
    }

    /// Fetches one artifact, or finds it in the cache.
    pub fn fetch(
        &self,
        artifact: &Artifact,
        pin: Option<&Sha256>,
        reporter: &dyn Reporter,
    ) -> Result<Fetched, FetchError> {
        self.fetch_with(artifact, pin, false, reporter)
    }

    /// Fetches a URL a build file names (a Kubefile's `COPY URL`) through
    /// the same mirrors, retries, `--offline` rule and verified cache. It is
    /// checked against `pin` or a mirror tree's SHA256SUMS when there is
    /// one; otherwise the first download is trusted and kept by URL.
    pub fn fetch_url(
        &self,
        url: &SecretUrl,
        arch: Arch,
        pin: Option<&Sha256>,
        reporter: &dyn Reporter,
    ) -> Result<Fetched, FetchError> {
        let artifact = Artifact {
            component: "COPY".into(),
            version: url.to_string(),
            arch,
            url: url.clone(),
            checksum_url: None,
            placement: Placement::File {
                to: String::new(),
                exec: false,
                members: Vec::new(),
                extract: BTreeMap::new(),
            },
        };
        self.fetch_with(&artifact, pin, true, reporter)
    }

    fn fetch_with(
        &self,
        artifact: &Artifact,
        pin: Option<&Sha256>,
        trust_first: bool,
        reporter: &dyn Reporter,
    ) -> Result<Fetched, FetchError> {
        let task = artifact.label();
        let known = pin
            .cloned()
            .or_else(|| self.cache.digest_of_url(artifact.url.expose()));
        if let Some(digest) = known.as_ref()
            && let Some(path) = self.cache.verified(digest)
        {
            let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            reporter.report(Event::Finished {
                task: &task,
                outcome: progress::Outcome::Cached,
            });
            return Ok(Fetched {
                artifact: artifact.clone(),
                digest: digest.clone(),
                size,
                outcome: Outcome::Cached,
                path,
            });
        }
        if self.options.offline {
            return Err(FetchError::OfflineMiss {
                label: task,
                url: artifact.url.clone(),
            });
        }
        let expected = match pin {
            Some(digest) => Some(digest.clone()),
            None if trust_first => self.tree_checksum(artifact, reporter)?,
            None => Some(self.upstream_checksum(artifact, reporter)?),
        };
        let source_url = rewrite(&self.options.mirrors, &artifact.url);
        let mut temp = self
            .cache
            .temp_file()
            .map_err(io_error("creating a temp file in the cache"))?;
        let result = transport::download(
            self.client()?,
            source_url.expose(),
            temp.as_file_mut(),
            self.options.retry,
            None,
            (&task, reporter),
        );
        let (actual, size) = result.map_err(|error| transfer_error(artifact, &source_url, error))?;
        if let Some(expected) = expected
            && actual != expected
        {
            reporter.report(Event::Finished {
                task: &task,
                outcome: progress::Outcome::Failed,
            });
            return Err(FetchError::Mismatch {
                component: artifact.component.clone(),
                arch: artifact.arch,
                url: source_url.clone(),
                expected,
                actual,
            });
        }
        check_members(artifact, temp.path(), &source_url)?;
        let path = self
            .cache
            .commit(temp, &actual)
            .map_err(io_error("adding to the cache"))?;
        self.cache
            .remember_url(artifact.url.expose(), &actual)
            .map_err(io_error("indexing the cache"))?;
        reporter.report(Event::Finished {
            task: &task,
            outcome: progress::Outcome::Fetched,
        });
        Ok(Fetched {
            artifact: artifact.clone(),
            digest: actual,
            size,
            outcome: Outcome::Fetched,
            path,
        })
    }

    /// The checksum from upstream's checksum file (through mirrors), or
    /// from a mirror tree's SHA256SUMS.
    fn upstream_checksum(&self, artifact: &Artifact, reporter: &dyn Reporter) -> Result<Sha256, FetchError> {
        if let Some(digest) = self.tree_checksum(artifact, reporter)? {
            return Ok(digest);
        }
        let Some(checksum_url) = &artifact.checksum_url else {
            return Err(FetchError::NoChecksum {
                component: artifact.component.clone(),
                arch: artifact.arch,
                url: artifact.url.clone(),
                key: artifact.key(),
            });
        };
        let source = rewrite(&self.options.mirrors, checksum_url);
        let text = transport::get_text(self.client()?, &source, self.options.retry, reporter)
            .map_err(|error| transfer_error(artifact, &source, error))?;
        mirror::find_checksum(&text, artifact.file_name()).ok_or_else(|| FetchError::ChecksumMissing {
            component: artifact.component.clone(),
            url: source,
            file: artifact.file_name().to_string(),
        })
    }

    /// The checksum a mirror tree's `SHA256SUMS` lists for the artifact.
    /// A tree without the list has none; a list over its cap is an error,
    /// not a silent fallback.
    fn tree_checksum(
        &self,
        artifact: &Artifact,
        reporter: &dyn Reporter,
    ) -> Result<Option<Sha256>, FetchError> {
        let Some(root) = self.options.mirrors.iter().find_map(|rule| match rule {
            MirrorRule::Tree(root) => Some(root.clone()),
            MirrorRule::Prefix(_) => None,
        }) else {
            return Ok(None);
        };
        let Ok(mut sums) = self.tree_sums.lock() else {
            return Ok(None);
        };
        if sums.is_none() {
            let url = SecretUrl::new(format!("{}/{SUMS_FILE}", root.expose()));
            let text = match transport::get_text(self.client()?, &url, self.options.retry, reporter) {
                Ok(text) => text,
                Err(error @ TransportError::TooLarge { .. }) => {
                    return Err(transfer_error(artifact, &url, error));
                }
                Err(_) => String::new(),
            };
            *sums = Some(parse_sums(&text));
        }
        let Some(path) = tree_path(artifact.url.expose()) else {
            return Ok(None);
        };
        Ok(sums.as_ref().and_then(|sums| sums.get(&path).cloned()))
    }
}

fn transfer_error(artifact: &Artifact, url: &SecretUrl, error: TransportError) -> FetchError {
    let component = artifact.component.clone();
    let url = url.clone();
    match error {
        TransportError::NotFound => FetchError::NotFound { component, url },
        TransportError::Status(code) => FetchError::Transfer {
            component,
            url,
            reason: format!("HTTP {code}"),
        },
        TransportError::Network(reason) => FetchError::Transfer {
            component,
            url,
            reason,
        },
        TransportError::TooLarge { cap, announced } => FetchError::TooLarge {
            component,
            url,
            cap,
            announced: announced.map_or(String::new(), |size| format!(" (it announced {size})")),
        },
    }
}

fn check_members(artifact: &Artifact, file: &Path, url: &SecretUrl) -> Result<(), FetchError> {
    let wanted: Vec<&String> = match &artifact.placement {
        Placement::File { members, .. } => members.iter().collect(),
        Placement::Extract(files) => files.keys().collect(),
        Placement::ImageList => Vec::new(),
    };
    if wanted.is_empty() {
        return Ok(());
    }
    let open = std::fs::File::open(file).map_err(io_error("reading a download"))?;
    let present = members(open, Limits::default()).map_err(|source| FetchError::Extract {
        component: artifact.component.clone(),
        url: url.clone(),
        source,
    })?;
    match wanted.into_iter().find(|member| !present.contains(member)) {
        Some(member) => Err(FetchError::MissingMember {
            component: artifact.component.clone(),
            url: url.clone(),
            member: member.clone(),
        }),
        None => Ok(()),
    }
}

/// Puts a fetched artifact's files into a context where the cell's own
/// `artifact` places them (components sharing a download place it apart).
pub fn place(
    context: &mut Context,
    artifact: &Artifact,
    fetched: &Fetched,
    cache: &Cache,
) -> Result<(), FetchError> {
    let origin = Origin::Artifact(artifact.component.clone());
    match &artifact.placement {
        // Read by the cell assembly (`render::supply_image_list`), not placed.
        Placement::ImageList => {}
        Placement::File {
            to, exec, extract, ..
        } => {
            let entry = Entry {
                content: Content::Verified {
                    path: fetched.path.clone(),
                    id: fetched.digest.to_string(),
                },
                mode: if *exec { 0o755 } else { 0o644 },
                origin: origin.clone(),
            };
            context.insert(to.clone(), entry, &[])?;
            extract_members(context, fetched, cache, extract, &origin)?;
        }
        Placement::Extract(files) => extract_members(context, fetched, cache, files, &origin)?,
    }
    Ok(())
}

/// Unpacks a fetched archive once (in the cache) and places `files` from it.
fn extract_members(
    context: &mut Context,
    fetched: &Fetched,
    cache: &Cache,
    files: &BTreeMap<String, String>,
    origin: &Origin,
) -> Result<(), FetchError> {
    if files.is_empty() {
        return Ok(());
    }
    let dir = cache.extracted(&fetched.digest);
    let wanted: Vec<&str> = files.keys().map(String::as_str).collect();
    // Cells placing the same archive in parallel take turns to check
    // and unpack it; reading the members needs no lock.
    static UNPACKING: Mutex<()> = Mutex::new(());
    let _turn = UNPACKING.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if dir.is_dir() && !cache.extracted_intact(&fetched.digest, &wanted) {
        // Changed since it was unpacked: unpack the verified archive again.
        cache.drop_extracted(&fetched.digest);
    }
    if !dir.is_dir() {
        let archive = std::fs::File::open(&fetched.path).map_err(io_error("reading a cached archive"))?;
        extract_tar_gz(archive, &dir, Limits::default()).map_err(|source| FetchError::Extract {
            component: fetched.artifact.component.clone(),
            url: fetched.artifact.url.clone(),
            source,
        })?;
        cache.record_extracted(&fetched.digest).map_err(io_error(format!(
            "recording the unpacked {}",
            fetched.artifact.label()
        )))?;
    }
    for (member, to) in files {
        let path = dir.join(member);
        let meta = std::fs::symlink_metadata(&path).map_err(io_error(format!("reading member {member}")))?;
        if !meta.is_file() {
            return Err(FetchError::MissingMember {
                component: fetched.artifact.component.clone(),
                url: fetched.artifact.url.clone(),
                member: member.clone(),
            });
        }
        use std::os::unix::fs::PermissionsExt;
        let entry = Entry {
            content: Content::Verified {
                path,
                id: format!("{}/{member}", fetched.digest),
            },
            mode: normal_mode(meta.permissions().mode()),
            origin: origin.clone(),
        };
        context.insert(to.clone(), entry, &[])?;
    }
    Ok(())
}

/// Packs the staged members of every `pack` archive in the context into
/// that archive (a deterministic tar.gz: sorted, owner root, time 0), as
/// labring repackages containerd with runc and crun. The archive is kept in
/// the cache under the identity of its members, and used only if its blob
/// verifies.
pub fn pack_all(matrix: &Matrix, context: &mut Context, cache: &Cache) -> Result<(), FetchError> {
    let packs: std::collections::BTreeSet<&str> = matrix
        .components
        .iter()
        .filter_map(|c| c.pack.as_deref())
        .collect();
    for pack in packs {
        let members = context.take_under(pack);
        if members.is_empty() {
            continue;
        }
        let origin = members[0].1.origin.clone();
        let mut identity = String::from("matrix pack v1\n");
        for (member, entry) in &members {
            let id = match &entry.content {
                Content::Verified { id, .. } => id.clone(),
                Content::Bytes(bytes) => Sha256::of(bytes).to_string(),
                Content::File(path) => {
                    let file = std::fs::File::open(path).map_err(io_error("reading a packed file"))?;
                    Sha256::of_reader(file)
                        .map_err(io_error("hashing a packed file"))?
                        .0
                        .to_string()
                }
                Content::Symlink(target) => format!("link:{target}"),
            };
            identity.push_str(&format!("{member} {:o} {id}\n", entry.mode));
        }
        let key = format!("pack:{}", Sha256::of(identity.as_bytes()));
        let cached = cache
            .digest_of_url(&key)
            .and_then(|digest| cache.verified(&digest).map(|path| (digest, path)));
        let (digest, path) = match cached {
            Some(found) => found,
            None => {
                let written = write_pack(&members, cache)?;
                cache
                    .remember_url(&key, &written.0)
                    .map_err(io_error("recording a packed archive"))?;
                written
            }
        };
        context.insert(
            pack.to_string(),
            Entry {
                content: Content::Verified {
                    path,
                    id: digest.to_string(),
                },
                mode: 0o644,
                origin,
            },
            &[],
        )?;
    }
    Ok(())
}

/// Writes one packed archive into the cache; its digest and blob path.
fn write_pack(members: &[(String, Entry)], cache: &Cache) -> Result<(Sha256, PathBuf), FetchError> {
    let mut temp = cache.temp_file().map_err(io_error("writing a packed archive"))?;
    {
        let gz = flate2::GzBuilder::new()
            .mtime(0)
            .write(temp.as_file_mut(), flate2::Compression::default());
        let mut tar = tar::Builder::new(gz);
        let mut dirs = std::collections::BTreeSet::new();
        for (member, _) in members {
            let mut parent = std::path::Path::new(member).parent();
            while let Some(dir) = parent.filter(|d| !d.as_os_str().is_empty()) {
                dirs.insert(format!("{}/", dir.display()));
                parent = dir.parent();
            }
        }
        let header = |kind: tar::EntryType, mode: u32, size: u64| {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(kind);
            header.set_mode(mode);
            header.set_size(size);
            header.set_mtime(0);
            header.set_uid(0);
            header.set_gid(0);
            header
        };
        for dir in &dirs {
            let mut head = header(tar::EntryType::Directory, 0o755, 0);
            tar.append_data(&mut head, dir, std::io::empty())
                .map_err(io_error("writing a packed archive"))?;
        }
        for (member, entry) in members {
            if let Content::Symlink(target) = &entry.content {
                let mut head = header(tar::EntryType::Symlink, 0o777, 0);
                tar.append_link(&mut head, member, target)
                    .map_err(io_error("writing a packed archive"))?;
                continue;
            }
            let size = match &entry.content {
                Content::Bytes(bytes) => bytes.len() as u64,
                Content::File(path) | Content::Verified { path, .. } => std::fs::metadata(path)
                    .map_err(io_error("reading a packed file"))?
                    .len(),
                Content::Symlink(_) => 0,
            };
            let reader = Context::open(entry).map_err(io_error("reading a packed file"))?;
            let mut head = header(tar::EntryType::Regular, entry.mode, size);
            tar.append_data(&mut head, member, reader)
                .map_err(io_error("writing a packed archive"))?;
        }
        tar.into_inner()
            .and_then(|gz| gz.finish())
            .map_err(io_error("writing a packed archive"))?;
    }
    let file = std::fs::File::open(temp.path()).map_err(io_error("hashing a packed archive"))?;
    let (digest, _) = Sha256::of_reader(file).map_err(io_error("hashing a packed archive"))?;
    let path = cache
        .commit(temp, &digest)
        .map_err(io_error("storing a packed archive"))?;
    Ok((digest, path))
}

/// Largest file taken out of an image's layers.
const IMAGE_FILE_BYTES: u64 = 1 << 30;

/// A path of an image's file tree, as [`take_from_layers`] found it.
#[derive(Debug, Clone)]
pub enum Taken {
    /// A regular file, stored in the cache by digest.
    File {
        /// Its digest.
        digest: Sha256,
        /// The verified blob in the cache.
        path: PathBuf,
        /// Its mode, normalised.
        mode: u32,
    },
    /// A folder, link or other non-file.
    Other,
}

/// The paths `wanted` picks out of an image's layers (`(blob,
/// compression)`, verified, base first), read by the one layer reader:
/// the newest layer wins and whiteouts hide what they delete. Regular
/// files (at most [`IMAGE_FILE_BYTES`] each) are stored in the cache.
pub fn take_from_layers(
    layers: &[(PathBuf, crate::oci::Compression)],
    wanted: impl Fn(&str) -> bool,
    cache: &Cache,
) -> std::io::Result<BTreeMap<String, Taken>> {
    let mut tree = crate::oci::LayerTree::new();
    for (blob, compression) in layers {
        let file = std::fs::File::open(blob)?;
        tree.apply(file, *compression, |entry| {
            if !wanted(entry.path) {
                return Ok(None);
            }
            if !entry.header.entry_type().is_file() {
                return Ok(Some(Taken::Other));
            }
            let size = entry.header.size().unwrap_or(0);
            if size > IMAGE_FILE_BYTES {
                return Err(std::io::Error::other(format!(
                    "{} is {size} bytes, more than {IMAGE_FILE_BYTES}",
                    entry.path
                )));
            }
            let mode = normal_mode(entry.header.mode().unwrap_or(0o644));
            let mut temp = cache.temp_file()?;
            let mut writer = crate::digest::HashingWriter::new(temp.as_file_mut());
            std::io::copy(&mut Read::take(entry.content, size), &mut writer)?;
            let (_, (digest, _)) = writer.finish();
            let path = match cache.verified(&digest) {
                Some(path) => path,
                None => cache.commit(temp, &digest)?,
            };
            Ok(Some(Taken::File { digest, path, mode }))
        })?;
    }
    Ok(tree.into_files())
}

/// Takes `part`'s files out of an image's layers (`(blob, compression)`,
/// verified, base first): the newest layer holding a file wins, and a
/// whiteout in a newer layer hides it. Each file is stored in the cache by
/// digest and placed; a file over one the renderer generated (the lvscare
/// list) replaces it.
pub fn place_from_layers(
    context: &mut Context,
    part: &ImagePart,
    layers: &[(PathBuf, crate::oci::Compression)],
    cache: &Cache,
) -> Result<(), FetchError> {
    let missing = |member: &str| FetchError::MissingMember {
        component: part.component.clone(),
        url: part.image.as_str().into(),
        member: member.to_string(),
    };
    let taken = take_from_layers(layers, |path| part.files.contains_key(path), cache)
        .map_err(io_error(format!("reading the layers of {}", part.image)))?;
    for (member, to) in &part.files {
        let Some(Taken::File { digest, path, mode }) = taken.get(member).cloned() else {
            return Err(missing(member));
        };
        let entry = Entry {
            content: Content::Verified {
                path,
                id: digest.to_string(),
            },
            mode,
            origin: Origin::Artifact(part.component.clone()),
        };
        let generated = context
            .get(to)
            .is_some_and(|existing| matches!(existing.origin, Origin::Generated(_)));
        if generated {
            context.replace(to.clone(), entry);
        } else {
            context.insert(to.clone(), entry, &[])?;
        }
    }
    Ok(())
}

impl crate::error::Fault for FetchError {
    /// matrix.toml's to fix when a context is wrong; downloads,
    /// checksums and archives fail.
    fn is_bad_input(&self) -> bool {
        match self {
            FetchError::Context(error) => crate::error::Fault::is_bad_input(error),
            _ => false,
        }
    }
}

crate::error::fault!(failure: ExtractError);

#[cfg(test)]
mod tests {
    use super::*;

    /// A gzip layer of (path, content) on disk.
    fn layer(dir: &Path, name: &str, entries: &[(&str, &str)]) -> (PathBuf, crate::oci::Compression) {
        let mut tar = tar::Builder::new(Vec::new());
        for (path, content) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Regular);
            header.set_size(content.len() as u64);
            header.set_mode(0o755);
            tar.append_data(&mut header, path, content.as_bytes()).unwrap();
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &tar.into_inner().unwrap()).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, gz.finish().unwrap()).unwrap();
        (path, crate::oci::Compression::Gzip(6))
    }

    #[test]
    fn files_taken_from_layers_honour_whiteouts() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(&dir.path().join("cache")).unwrap();
        let layers = [
            layer(dir.path(), "base", &[("bin/tool", "old"), ("bin/gone", "x")]),
            layer(dir.path(), "upper", &[("bin/tool", "new"), ("bin/.wh.gone", "")]),
        ];
        let taken = take_from_layers(&layers, |p| p.starts_with("bin/"), &cache).unwrap();
        let Some(Taken::File { path, mode, .. }) = taken.get("bin/tool") else {
            panic!("{taken:?}")
        };
        assert_eq!(std::fs::read_to_string(path).unwrap(), "new");
        assert_eq!(*mode, 0o755);
        assert!(!taken.contains_key("bin/gone"), "a whiteout hides it: {taken:?}");
        assert_eq!(taken.len(), 1);
    }
}
