//! `matrix fetch` and `matrix mirror`: fill the download cache, or write a
//! mirror tree (real downloads or stand-ins) for air-gapped machines.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use serde::Serialize;

use matrix::digest::Sha256;
use matrix::fetch::{
    Artifact, Cache, FetchOptions, Fetched, Fetcher, MirrorRule, Outcome, RetryPolicy, SUMS_FILE,
    artifacts_for, format_sums, parse_sums, tree_path, write_stand_in,
};
use matrix::{Matrix, PlannedCell};

use super::UsageError;
use super::output::print_json;
use super::plan::{SelectArgs, load_plan};
use super::progress::reporter;

/// Where artifacts come from.
#[derive(Debug, Clone, Args)]
pub struct SourceArgs {
    /// Download cache [default: $XDG_CACHE_HOME/matrix or ~/.cache/matrix].
    #[arg(long, env = "MATRIX_CACHE")]
    pub cache: Option<PathBuf>,
    /// A mirror tree root (`file:///DIR`, `http://HOST/DIR`) or `FROM=TO`
    /// URL prefix rewrite; repeatable, added to matrix.toml's [[mirror]].
    #[arg(long)]
    pub mirror: Vec<MirrorRule>,
    /// Use only the cache; a missing artifact is an error.
    #[arg(long)]
    pub offline: bool,
    /// Parallel downloads (and, for build, cells built at once).
    #[arg(long, default_value_t = 4)]
    pub jobs: usize,
}

impl SourceArgs {
    /// The library's fetch options.
    pub fn options(&self, matrix: &Matrix) -> FetchOptions {
        let mut mirrors: Vec<MirrorRule> = matrix.mirrors.iter().cloned().map(MirrorRule::Prefix).collect();
        mirrors.extend(self.mirror.iter().cloned());
        FetchOptions {
            cache: self.cache.clone().unwrap_or_else(Cache::default_dir),
            mirrors,
            offline: self.offline,
            jobs: self.jobs,
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(600),
        }
    }
}

/// Arguments of `matrix fetch`.
#[derive(Debug, Args)]
pub struct FetchArgs {
    #[command(flatten)]
    select: SelectArgs,
    #[command(flatten)]
    source: SourceArgs,
    /// Record the digests of unpinned artifacts in matrix.lock [artifacts].
    #[arg(long)]
    pin: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

/// Arguments of `matrix mirror`.
#[derive(Debug, Args)]
pub struct MirrorArgs {
    #[command(flatten)]
    select: SelectArgs,
    /// The mirror tree to write (`DIR/<host>/<path>` plus SHA256SUMS).
    #[arg(long)]
    to: PathBuf,
    /// Write small generated stand-ins instead of downloading (offline
    /// tests and demos; every file says it is a stand-in).
    #[arg(long)]
    stand_ins: bool,
    /// Pad a component's stand-in to SIZE (`kubelet=110M`); repeatable.
    #[arg(long, requires = "stand_ins", value_parser = parse_size_arg)]
    stand_in_size: Vec<(String, u64)>,
    #[command(flatten)]
    source: SourceArgs,
}

fn parse_size_arg(text: &str) -> Result<(String, u64), String> {
    let (name, size) = text.split_once('=').ok_or("write NAME=SIZE, e.g. kubelet=110M")?;
    let (number, unit) = size.split_at(size.find(|c: char| !c.is_ascii_digit()).unwrap_or(size.len()));
    let number: u64 = number.parse().map_err(|_| format!("`{size}` is not a size"))?;
    let scale: u64 = match unit {
        "" | "B" => 1,
        "K" | "KB" => 1 << 10,
        "M" | "MB" => 1 << 20,
        "G" | "GB" => 1 << 30,
        _ => return Err(format!("unknown unit `{unit}`; use K, M or G")),
    };
    match number.checked_mul(scale) {
        Some(bytes) if bytes <= MAX_STAND_IN => Ok((name.to_string(), bytes)),
        _ => Err(format!("`{size}` is larger than a stand-in may be (at most 16G)")),
    }
}

/// The largest stand-in: bigger than any real artifact, small enough that
/// a typo cannot fill a disk.
const MAX_STAND_IN: u64 = 16 << 30;

/// Every artifact the cells need, once per URL, in a stable order.
pub fn artifacts_of(matrix: &Matrix, cells: &[&PlannedCell]) -> anyhow::Result<Vec<Artifact>> {
    let mut by_url = BTreeMap::new();
    for cell in cells {
        for artifact in artifacts_for(matrix, &cell.cell)? {
            by_url.entry(artifact.url.clone()).or_insert(artifact);
        }
    }
    Ok(by_url.into_values().collect())
}

#[derive(Debug, Serialize)]
struct Summary {
    fetched: usize,
    cached: usize,
    failed: usize,
    bytes_fetched: u64,
    artifacts: Vec<Fetched>,
    failures: Vec<String>,
}

/// Fetches artifacts with a reporter; returns successes and failure texts.
pub fn fetch_artifacts(
    matrix: &Matrix,
    source: &SourceArgs,
    artifacts: &[Artifact],
) -> anyhow::Result<(Vec<Fetched>, Vec<String>)> {
    let fetcher = Fetcher::new(source.options(matrix))?;
    let progress = reporter(artifacts.len(), "fetch");
    let pins = |artifact: &Artifact| matrix.lock.pin(&artifact.key()).cloned();
    let results = fetcher.fetch_all(artifacts, &pins, progress.as_ref());
    let mut ok = Vec::new();
    let mut failures = Vec::new();
    for result in results {
        match result {
            Ok(fetched) => ok.push(fetched),
            Err(error) => failures.push(error.to_string()),
        }
    }
    Ok((ok, failures))
}

/// `matrix fetch`.
pub fn run_fetch(path: &Path, args: &FetchArgs) -> anyhow::Result<ExitCode> {
    let (matrix, plan) = load_plan(path)?;
    let cells = args.select.cells(&plan)?;
    let artifacts = artifacts_of(&matrix, &cells)?;
    let (fetched, failures) = fetch_artifacts(&matrix, &args.source, &artifacts)?;
    if args.pin {
        let new: BTreeMap<String, Sha256> = fetched
            .iter()
            .filter(|f| matrix.lock.pin(&f.artifact.key()).is_none())
            .map(|f| (f.artifact.key(), f.digest.clone()))
            .collect();
        if !new.is_empty() {
            matrix
                .lock
                .write_pins(&new)
                .with_context(|| format!("pinning digests in {}", matrix.lock.path.display()))?;
            eprintln!("pinned {} digests in {}", new.len(), matrix.lock.path.display());
        }
    }
    let summary = Summary {
        fetched: fetched.iter().filter(|f| f.outcome == Outcome::Fetched).count(),
        cached: fetched.iter().filter(|f| f.outcome == Outcome::Cached).count(),
        failed: failures.len(),
        bytes_fetched: fetched
            .iter()
            .filter(|f| f.outcome == Outcome::Fetched)
            .map(|f| f.size)
            .sum(),
        artifacts: fetched,
        failures,
    };
    if args.json {
        print_json(&summary)?;
    } else {
        println!(
            "{} cells, {} artifacts: {} fetched ({} bytes), {} cached, {} failed",
            cells.len(),
            artifacts.len(),
            summary.fetched,
            summary.bytes_fetched,
            summary.cached,
            summary.failed
        );
        for failure in &summary.failures {
            println!("failed: {failure}");
        }
    }
    Ok(if summary.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `matrix mirror`.
pub fn run_mirror(path: &Path, args: &MirrorArgs) -> anyhow::Result<ExitCode> {
    let (matrix, plan) = load_plan(path)?;
    let cells = args.select.cells(&plan)?;
    let artifacts = artifacts_of(&matrix, &cells)?;
    let sizes: BTreeMap<&str, u64> = args.stand_in_size.iter().map(|(n, s)| (n.as_str(), *s)).collect();
    if let Some(unknown) = sizes
        .keys()
        .find(|name| !matrix.components.iter().any(|c| c.name == **name))
    {
        let known: Vec<&str> = matrix.components.iter().map(|c| c.name.as_str()).collect();
        return Err(UsageError(format!(
            "--stand-in-size: no component is named `{unknown}` (components: {})",
            known.join(", ")
        ))
        .into());
    }
    let sums_path = args.to.join(SUMS_FILE);
    let mut sums = std::fs::read_to_string(&sums_path)
        .map(|t| parse_sums(&t))
        .unwrap_or_default();
    let mut checksum_files: BTreeMap<String, BTreeMap<String, Sha256>> = BTreeMap::new();
    let mut failures = Vec::new();
    let placed: Vec<(Artifact, Sha256)> = if args.stand_ins {
        let mut out = Vec::new();
        for artifact in &artifacts {
            let relative = tree_path(&artifact.url).context("artifact URL has no mirror path")?;
            let dest = args.to.join(&relative);
            write_stand_in(artifact, &dest, sizes.get(artifact.component.as_str()).copied())
                .with_context(|| format!("writing stand-in {}", dest.display()))?;
            let file = std::fs::File::open(&dest)?;
            out.push((artifact.clone(), Sha256::of_reader(file)?.0));
        }
        out
    } else {
        let (fetched, errors) = fetch_artifacts(&matrix, &args.source, &artifacts)?;
        failures = errors;
        let mut out = Vec::new();
        for item in fetched {
            let relative = tree_path(&item.artifact.url).context("artifact URL has no mirror path")?;
            let dest = args.to.join(&relative);
            if let Some(dir) = dest.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let temp = dest.with_extension("partial");
            std::fs::copy(&item.path, &temp)?;
            std::fs::rename(&temp, &dest)?;
            out.push((item.artifact, item.digest));
        }
        out
    };
    for (artifact, digest) in &placed {
        if let Some(relative) = tree_path(&artifact.url) {
            sums.insert(relative, digest.clone());
        }
        if let Some(checksum) = artifact.checksum_url.as_deref().and_then(tree_path) {
            checksum_files
                .entry(checksum)
                .or_default()
                .insert(artifact.file_name().to_string(), digest.clone());
        }
    }
    for (relative, entries) in &checksum_files {
        let dest = args.to.join(relative);
        if let Some(dir) = dest.parent() {
            std::fs::create_dir_all(dir)?;
        }
        matrix::fsutil::write_atomic(&dest, format_sums(entries).as_bytes())?;
    }
    std::fs::create_dir_all(&args.to)?;
    matrix::fsutil::write_atomic(&sums_path, format_sums(&sums).as_bytes())?;
    println!(
        "{} artifacts for {} cells in {} ({}){}",
        placed.len(),
        cells.len(),
        args.to.display(),
        if args.stand_ins { "stand-ins" } else { "mirrored" },
        if failures.is_empty() {
            String::new()
        } else {
            format!(", {} failed", failures.len())
        }
    );
    for failure in &failures {
        println!("failed: {failure}");
    }
    Ok(if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
