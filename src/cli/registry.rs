//! `matrix push`, `matrix diff` and `matrix versions`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use matrix::oci::Store;
use matrix::pipeline::{diff, push, select};
use matrix::registry::ImageRef;

use super::args::{CacheArg, FilterArgs, MissingArgs, RegistryArgs, SelectArgs, target, targets};
use super::output::{print_json, print_rows};
use super::progress::Terminal;
use super::{Context as _, Outcome, UsageError, load_plan};
use matrix::progress::Progress as _;

/// Exit code of `diff` when planned tags are missing.
const EXIT_MISSING: u8 = 3;
/// Exit code of `diff` when nothing is missing but some tags are stale.
const EXIT_STALE: u8 = 4;

/// Arguments of `matrix push`.
#[derive(Debug, Args)]
pub struct PushArgs {
    #[command(flatten)]
    select: SelectArgs,
    #[command(flatten)]
    missing: MissingArgs,
    /// The OCI layout the images were built into.
    #[arg(long, default_value = "out/oci")]
    from: PathBuf,
    /// Where to publish: REGISTRY/NAMESPACE (e.g. docker.io/labring).
    /// Parsed by the command, not clap, so a mistyped `user:pw@host`
    /// is never echoed back.
    #[arg(long)]
    to: String,
    #[command(flatten)]
    registry: RegistryArgs,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// Arguments of `matrix diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// REGISTRY/NAMESPACE to compare with; repeatable [default: matrix.toml `publish`].
    #[arg(long)]
    registry: Vec<String>,
    #[command(flatten)]
    filters: FilterArgs,
    /// Only the K-th of N stable parts of the plan, as `plan --shard`.
    #[arg(long)]
    shard: Option<matrix::plan::Shard>,
    /// The local OCI layout, for stale detection (skipped if absent).
    #[arg(long, default_value = "out/oci")]
    from: PathBuf,
    #[command(flatten)]
    access: RegistryArgs,
    /// Print matrix.toml's `publish` targets, one a line, and exit.
    #[arg(long)]
    list_targets: bool,
    /// How many tags of each missing group to list (JSON lists all).
    #[arg(long, default_value_t = 5)]
    list: usize,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Arguments of `matrix sync`.
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// The registry to copy from: REGISTRY/NAMESPACE.
    #[arg(long)]
    from: String,
    /// The lagging registry to bring level: REGISTRY/NAMESPACE.
    #[arg(long)]
    to: String,
    #[command(flatten)]
    filters: FilterArgs,
    #[command(flatten)]
    cache: CacheArg,
    #[command(flatten)]
    access: RegistryArgs,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// `matrix sync`.
pub fn run_sync(path: &Path, args: &SyncArgs) -> Outcome {
    let (matrix, plan) = load_plan(path)?;
    let from = target(&args.from)?;
    let to = target(&args.to)?;
    if from == to {
        return Err(UsageError("--from and --to name the same registry".into()).into());
    }
    let cells = select(&matrix, &plan, &args.filters.listing(None), None)?;
    let client = args.access.client()?;
    let cache_dir = args.cache.dir();
    let cache = matrix::fetch::Cache::open(&cache_dir)
        .with_context(|| format!("opening the cache {}", cache_dir.display()))?;
    let report = matrix::pipeline::sync(
        &client,
        &from,
        &to,
        &cells,
        &cache,
        Terminal.stage("sync", 0).as_ref(),
    )
    .with_context(|| format!("syncing {to} from {from}"))?;
    if args.json {
        print_json(&report)?;
    } else {
        println!(
            "{to} from {from}: {} tags copied, {} unchanged, {} not in the source; {} referrers copied; {} blobs sent ({} bytes), {} skipped",
            report.tags_copied,
            report.tags_unchanged,
            report.tags_absent,
            report.referrers_copied,
            report.blobs_sent,
            report.bytes_sent,
            report.blobs_skipped
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Arguments of `matrix versions`.
#[derive(Debug, Args)]
pub struct VersionsArgs {
    /// Read the release tags of a registry repository and update matrix.lock.
    #[arg(long)]
    refresh: bool,
    /// The repository whose tags are Kubernetes releases.
    #[arg(long, default_value = "registry.k8s.io/kube-apiserver")]
    source: String,
    /// Show what would change without writing.
    #[arg(long, requires = "refresh")]
    dry_run: bool,
    /// Also read the GitHub releases of k3s-io/k3s (new `+k3sN` builds go
    /// to the lock) and labring/sealos (new releases and pre-releases are
    /// reported with their days) from this API, e.g. https://api.github.com.
    #[arg(long, requires = "refresh")]
    github: Option<String>,
    /// Also download kubeadm of each new release from this base (e.g.
    /// https://dl.k8s.io), run `kubeadm config images list` and record its
    /// images in matrix.lock (a new minor's table, or a step where a patch
    /// changes them).
    #[arg(long, requires = "refresh")]
    kubeadm: Option<String>,
    #[command(flatten)]
    access: RegistryArgs,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// `matrix push`.
pub fn run_push(path: &Path, args: &PushArgs) -> Outcome {
    let (matrix, plan) = load_plan(path)?;
    let to = target(&args.to)?;
    let client = args.registry.client()?;
    let cells = args
        .select
        .cells_missing(&matrix, &plan, &args.missing, &client, &args.from)?;
    if !args.from.join("index.json").is_file() {
        return Err(UsageError(format!(
            "{} is not an OCI layout; run `matrix build` first",
            args.from.display()
        ))
        .into());
    }
    let store = Store::open_existing(&args.from)?;
    let report = push(
        &client,
        &store,
        &to,
        &cells,
        Terminal.stage("push", cells.len()).as_ref(),
    )
    .with_context(|| format!("pushing to {to}"))?;
    if args.json {
        print_json(&report)?;
    } else {
        println!(
            "{}: {} tags put, {} unchanged; {} blobs sent ({} bytes), {} skipped ({} bytes), {} mounted",
            to,
            report.tags_put,
            report.tags_unchanged,
            report.blobs_sent,
            report.bytes_sent,
            report.blobs_skipped,
            report.bytes_skipped,
            report.blobs_mounted
        );
        for tag in &report.not_built {
            println!("not built (skipped): {tag}");
        }
    }
    Ok(if report.not_built.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `matrix diff`.
pub fn run_diff(path: &Path, args: &DiffArgs) -> Outcome {
    let (matrix, plan) = load_plan(path)?;
    if args.list_targets {
        for target in &matrix.publish {
            println!("{target}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let cells = select(&matrix, &plan, &args.filters.listing(args.shard), None)?;
    let named = if args.registry.is_empty() {
        &matrix.publish
    } else {
        &args.registry
    };
    let targets = targets(named)?;
    if targets.is_empty() {
        return Err(UsageError("no registry: pass --registry or set `publish` in matrix.toml".into()).into());
    }
    let store = if args.from.join("index.json").is_file() {
        Some(Store::open_existing(&args.from)?)
    } else {
        None
    };
    let client = args.access.client()?;
    let mut diffs = Vec::new();
    for target in &targets {
        diffs.push(
            diff(&client, target, &matrix, &cells, store.as_ref())
                .with_context(|| format!("listing {target}"))?,
        );
    }
    if args.json {
        print_json(&diffs)?;
    } else {
        let rows: Vec<Vec<String>> = diffs
            .iter()
            .flat_map(|d| {
                d.images.iter().map(move |i| {
                    vec![
                        d.registry.clone(),
                        i.image.clone(),
                        i.planned.to_string(),
                        i.published.to_string(),
                        i.missing.len().to_string(),
                        i.unexpected.len().to_string(),
                        i.stale.len().to_string(),
                    ]
                })
            })
            .collect();
        print_rows(
            &[
                "REGISTRY",
                "IMAGE",
                "PLANNED",
                "PUBLISHED",
                "MISSING",
                "UNEXPECTED",
                "STALE",
            ],
            &rows,
        )?;
        for d in &diffs {
            for image in &d.images {
                for group in &image.missing_groups {
                    println!(
                        "{}/{}: {} missing ({} multi-arch, {} per-arch): {}",
                        d.registry,
                        image.image,
                        group.tags.len(),
                        group.index_tags,
                        group.arch_tags,
                        group.reason.describe()
                    );
                    for tag in group.tags.iter().take(args.list) {
                        println!("  missing {}/{}:{tag}", d.registry, image.image);
                    }
                    if group.tags.len() > args.list {
                        println!(
                            "  ... {} more (--list N, or --json for all)",
                            group.tags.len() - args.list
                        );
                    }
                }
                for tag in &image.stale {
                    println!(
                        "{}/{}: stale {tag} (published digest differs from the local build)",
                        d.registry, image.image
                    );
                }
                for note in &image.unexpected_notes {
                    println!(
                        "{}/{}: unexpected {} ({}){}",
                        d.registry,
                        image.image,
                        note.tag,
                        note.status,
                        note.notes.first().map(|n| format!(": {n}")).unwrap_or_default()
                    );
                }
                let unaccounted = image
                    .unexpected
                    .len()
                    .saturating_sub(image.unexpected_notes.len());
                if unaccounted > 0 {
                    println!(
                        "{}/{}: {unaccounted} more unexpected tags (--json lists them)",
                        d.registry, image.image
                    );
                }
            }
        }
    }
    let missing: usize = diffs.iter().map(|d| d.missing).sum();
    let stale: usize = diffs.iter().map(|d| d.stale).sum();
    Ok(if missing > 0 {
        ExitCode::from(EXIT_MISSING)
    } else if stale > 0 {
        ExitCode::from(EXIT_STALE)
    } else {
        ExitCode::SUCCESS
    })
}

/// `matrix versions`.
pub fn run_versions(path: &Path, args: &VersionsArgs) -> Outcome {
    let matrix = matrix::Matrix::load(path)?;
    if !args.refresh {
        let by_minor = matrix.lock.patches_by_minor();
        if args.json {
            print_json(&by_minor)?;
        } else {
            for (minor, patches) in by_minor {
                println!(
                    "{minor}: {} patches, newest {minor}.{}",
                    patches.len(),
                    patches.last().unwrap_or(&0)
                );
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let source: ImageRef = args
        .source
        .parse()
        .map_err(|e: matrix::registry::ReferenceError| UsageError(e.to_string()))?;
    let client = args.access.client()?;
    // GitHub's API allows 60 anonymous requests an hour; Actions provides
    // a token (GH_TOKEN/GITHUB_TOKEN), never printed.
    let token = std::env::var("GH_TOKEN")
        .or_else(|_| std::env::var("GITHUB_TOKEN"))
        .ok()
        .filter(|t| !t.is_empty());
    let options = matrix::pipeline::RefreshOptions {
        github: args.github.as_deref(),
        kubeadm: args.kubeadm.as_deref(),
        token: token.as_deref(),
        dry_run: args.dry_run,
    };
    let report = matrix::pipeline::refresh_all(&matrix, &client, &source, options)?;
    let found = &report.kube;
    for (tag, reason) in &found.refused {
        eprintln!("warning: ignoring tag `{tag}`: {reason}");
    }
    for (version, images) in &report.kubeadm {
        println!(
            "kubeadm {version}: {}/pause:{} {}/etcd:{} {}/{}",
            images.registry, images.pause, images.registry, images.etcd, images.registry, images.coredns
        );
    }
    for version in &report.k3s {
        println!("new k3s: {version}");
    }
    for new in &report.sealos {
        let kind = if new.prerelease { "pre-release" } else { "release" };
        println!(
            "new sealos {kind}: {} ({}); add it and its rules to matrix.toml",
            new.version, new.published
        );
    }
    if args.dry_run && !args.json {
        for line in &report.lock_diff {
            println!("{line}");
        }
    }
    if args.json {
        print_json(&found.added.iter().map(ToString::to_string).collect::<Vec<_>>())?;
    } else {
        for version in &found.added {
            println!("new: {version}");
        }
        println!(
            "{} releases listed, {} new",
            found.releases.len(),
            found.added.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}
