//! Argument groups several commands flatten: the selection, the download
//! source and cache, `--missing-from`, registry access and where a build's
//! listed images come from. Each turns into one library value.

use std::path::{Path, PathBuf};

use clap::Args;

use matrix::fetch::{Cache, FetchOptions, MirrorError, MirrorRule, RetryPolicy};
use matrix::oci::{Compression, Store};
use matrix::pipeline::{ImageSource, MissingFrom, select};
use matrix::plan::{KubeFilter, PlanFilter, SealosFilter, Selection, Shard};
use matrix::registry::{Client, CredentialStore, Credentials, ImageMirror, Target};
use matrix::{Arch, Cri, Matrix, Plan, PlannedCell};

use super::{Outcome, UsageError};

/// Axis filters shared by the commands that take a selection.
#[derive(Debug, Clone, Args)]
pub struct FilterArgs {
    /// Kubernetes minor (`1.24`) or patch (`1.24.4`); repeat or comma-separate.
    #[arg(long, value_delimiter = ',')]
    pub kube: Vec<KubeFilter>,
    /// Sealos version (`4.1.3`, or `dev`).
    #[arg(long, value_delimiter = ',')]
    pub sealos: Vec<SealosFilter>,
    /// CRI (`containerd`, `docker`, `crio`, `k3s`).
    #[arg(long, value_delimiter = ',')]
    pub cri: Vec<Cri>,
    /// Architecture (`amd64`, `arm64`).
    #[arg(long, value_delimiter = ',')]
    pub arch: Vec<Arch>,
}

impl FilterArgs {
    /// The library's filter value.
    pub fn filter(&self) -> PlanFilter {
        PlanFilter {
            kube: self.kube.clone(),
            sealos: self.sealos.clone(),
            cri: self.cri.clone(),
            arch: self.arch.clone(),
        }
    }

    /// Every planned cell these filters keep, cut by `shard`: what
    /// `plan`, `diff` and `sync` list (an empty answer is an answer).
    pub fn listing(&self, shard: Option<Shard>) -> Selection {
        Selection {
            all: true,
            filter: self.filter(),
            shard,
            listing: true,
            ..Selection::default()
        }
    }
}

/// The cells a command acts on: tags, `--all`, axis filters and a shard,
/// the same for every command.
#[derive(Debug, Clone, Args)]
pub struct SelectArgs {
    /// Tags selecting cells, in any form: `v1.24.4-4.1.3` (every CRI and
    /// arch), `kubernetes:v1.24.4-4.1.3-amd64`, `v1.24-latest`.
    pub selectors: Vec<matrix::TagSelector>,
    /// Every planned cell (also implied by a filter or --shard alone).
    #[arg(long, conflicts_with = "selectors")]
    pub all: bool,
    #[command(flatten)]
    pub filters: FilterArgs,
    /// Only the K-th of N stable parts (1-based), e.g. `--shard 3/19`;
    /// both arches of an index stay in one part.
    #[arg(long)]
    pub shard: Option<Shard>,
}

impl SelectArgs {
    /// The library's selection value.
    pub fn selection(&self) -> Selection {
        Selection {
            selectors: self.selectors.clone(),
            all: self.all,
            filter: self.filters.filter(),
            shard: self.shard,
            ..Selection::default()
        }
    }

    /// The selected cells, narrowed by `--missing-from` when it is given
    /// (`layout`: the local OCI layout, for stale detection).
    pub fn cells_missing<'p>(
        &self,
        matrix: &Matrix,
        plan: &'p Plan,
        missing: &MissingArgs,
        client: &Client,
        layout: &Path,
    ) -> Outcome<Vec<&'p PlannedCell>> {
        let targets = missing.targets()?;
        let store = match targets.is_empty() {
            true => None,
            false => Store::open_existing(layout).ok(),
        };
        let missing = MissingFrom {
            client,
            targets,
            store: store.as_ref(),
        };
        Ok(select(matrix, plan, &self.selection(), Some(&missing))?)
    }
}

/// `--missing-from REG/NS`: act only on what a registry lacks.
#[derive(Debug, Clone, Default, Args)]
pub struct MissingArgs {
    /// Only the cells whose tags REGISTRY/NAMESPACE lacks or holds stale
    /// (with the other arch of their index), as `diff` reports them;
    /// repeatable (any target lacking them). Parsed by the command, so a
    /// mistyped `user:pw@host` is never echoed back.
    #[arg(long)]
    pub missing_from: Vec<String>,
}

impl MissingArgs {
    /// The parsed targets (none: no narrowing).
    pub fn targets(&self) -> Result<Vec<Target>, UsageError> {
        targets(&self.missing_from)
    }
}

/// Parses REGISTRY/NAMESPACE arguments (by the command, not clap, so a
/// mistyped `user:pw@host` is never echoed back).
pub fn targets(texts: &[String]) -> Result<Vec<Target>, UsageError> {
    texts.iter().map(|text| target(text)).collect()
}

/// Parses one REGISTRY/NAMESPACE argument.
pub fn target(text: &str) -> Result<Target, UsageError> {
    text.parse::<Target>()
        .map_err(|error| UsageError(error.to_string()))
}

/// `--cache DIR`: where downloads and pulled blobs are kept, verified.
#[derive(Debug, Clone, Args)]
pub struct CacheArg {
    /// Download cache [default: $XDG_CACHE_HOME/matrix or ~/.cache/matrix].
    #[arg(long = "cache", env = "MATRIX_CACHE")]
    pub cache: Option<PathBuf>,
}

impl CacheArg {
    /// The cache folder.
    pub fn dir(&self) -> PathBuf {
        self.cache.clone().unwrap_or_else(Cache::default_dir)
    }
}

/// Where artifacts come from.
#[derive(Debug, Clone, Args)]
pub struct SourceArgs {
    #[command(flatten)]
    pub cache: CacheArg,
    /// A mirror tree root (`file:///DIR`, `http://HOST/DIR`) or `FROM=TO`
    /// URL prefix rewrite; repeatable, added to matrix.toml's [[mirror]].
    /// Parsed by the command, not by clap, so a mistyped `user:pw@` is
    /// never echoed back.
    #[arg(long)]
    pub mirror: Vec<String>,
    /// Use only the cache; a missing artifact is an error.
    #[arg(long)]
    pub offline: bool,
    /// Parallel downloads (and, for build, cells built at once).
    #[arg(long, default_value_t = 4)]
    pub jobs: usize,
}

impl SourceArgs {
    /// The library's fetch options.
    pub fn options(&self, matrix: &Matrix) -> Result<FetchOptions, UsageError> {
        self.with_mirrors(matrix.mirrors.iter().cloned().map(MirrorRule::Prefix).collect())
    }

    /// The library's fetch options: `mirrors`, then `--mirror`'s (an
    /// application build has no matrix.toml).
    pub fn with_mirrors(&self, mut mirrors: Vec<MirrorRule>) -> Result<FetchOptions, UsageError> {
        for text in &self.mirror {
            mirrors.push(
                text.parse()
                    .map_err(|e: MirrorError| UsageError(format!("--mirror: {e}")))?,
            );
        }
        Ok(FetchOptions {
            cache: self.cache.dir(),
            mirrors,
            offline: self.offline,
            jobs: self.jobs,
            retry: RetryPolicy::default(),
            timeout: matrix::net::idle_timeout(),
        })
    }
}

/// `--compression`, shared by rootfs, application and config builds.
#[derive(Debug, Clone, Args)]
pub struct CompressionArg {
    /// Layer compression: gzip, gzip:LEVEL (0-9), zstd, zstd:LEVEL (1-19) or none.
    ///
    /// What each costs and gives, measured on 8 cells of real Go programs
    /// (914 MB of layer content, benches/build.sh) on 2 cores, the fastest
    /// of 3 interleaved rounds: gzip:1 3.0 s, 352 MB; gzip:3 4.7 s, 340 MB;
    /// gzip:4 4.7 s, 337 MB; gzip:5 (the default) 5.5 s, 332 MB; gzip:6
    /// 6.7 s, 330 MB; gzip:9 18.4 s, 327 MB; zstd:3 3.9 s, 307 MB (zstd
    /// layers need a runtime and a sealos that read them); none 0.7 s,
    /// 914 MB. Level 5 is the default because level 6 costs a fifth more
    /// time for 0.6 % fewer bytes.
    #[arg(long, default_value = "gzip:5")]
    pub compression: Compression,
}

/// How to reach registries.
#[derive(Debug, Clone, Args)]
pub struct RegistryArgs {
    /// USER:PASSWORD for every registry (else auth files are used:
    /// REGISTRY_AUTH_FILE, containers auth.json, ~/.docker/config.json).
    #[arg(long, env = "MATRIX_REGISTRY_CREDS", hide_env_values = true)]
    creds: Option<String>,
    /// Allow plain http:// to registries that are not on loopback.
    #[arg(long)]
    insecure: bool,
}

impl RegistryArgs {
    /// A client with these settings.
    pub fn client(&self) -> Outcome<Client> {
        let explicit = match &self.creds {
            Some(text) => Some(
                Credentials::parse(text).ok_or_else(|| UsageError("--creds must be USER:PASSWORD".into()))?,
            ),
            None => None,
        };
        Ok(Client::new(CredentialStore::load(explicit)?, self.insecure)?)
    }
}

/// Where a build's listed images come from: nowhere (`--skip-images`), an
/// image layout, or registries with `FROM=TO` mirrors (parsed here, so a
/// mistyped `user:pw@` is never echoed back by clap).
pub fn image_source<'c>(
    skip: bool,
    layout: Option<&PathBuf>,
    mirrors: &[String],
    client: &'c Client,
) -> Result<ImageSource<'c>, UsageError> {
    Ok(if skip {
        ImageSource::Skip
    } else if let Some(layout) = layout {
        ImageSource::Layout(layout.clone())
    } else {
        ImageSource::Pull {
            client,
            mirrors: mirrors
                .iter()
                .map(|text| text.parse::<ImageMirror>().map_err(|e| UsageError(e.to_string())))
                .collect::<Result<_, _>>()?,
        }
    })
}
