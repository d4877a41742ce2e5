//! `matrix fetch` and `matrix mirror`: fill the download cache, or write a
//! mirror tree (real downloads or stand-ins) for air-gapped machines.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use matrix::fetch::{StandInFill, check_urls};
use matrix::pipeline::{FetchSet, MirrorSource, artifacts_of, fetch_set, mirror, select};
use matrix::{Matrix, PlannedCell};

use super::args::{SelectArgs, SourceArgs};
use super::output::print_json;
use super::progress::reporter;
use super::{Context as _, Outcome, load_plan};

/// Arguments of `matrix fetch`.
#[derive(Debug, Args)]
pub struct FetchArgs {
    #[command(flatten)]
    select: SelectArgs,
    #[command(flatten)]
    source: SourceArgs,
    /// Record the digests of unpinned artifacts in matrix.lock [artifacts].
    #[arg(long, conflicts_with = "check_urls")]
    pin: bool,
    /// Download nothing: ask the servers (HEAD) whether every artifact and
    /// checksum URL exists. Exit 1 if any does not.
    #[arg(long)]
    check_urls: bool,
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
    /// Pad stand-ins with FILE's bytes (cycled) instead of incompressible
    /// filler, e.g. a real Go program, so that benchmarks compress what
    /// real binaries compress.
    #[arg(long, value_name = "FILE", requires = "stand_in_size", value_parser = parse_payload)]
    stand_in_payload: Option<PathBuf>,
    #[command(flatten)]
    source: SourceArgs,
}

/// A payload must be a non-empty regular file (not a link out elsewhere).
fn parse_payload(text: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(text);
    match std::fs::symlink_metadata(&path) {
        Ok(meta) if meta.is_file() && meta.len() > 0 => Ok(path),
        Ok(_) => Err(format!("{text} is not a non-empty regular file")),
        Err(error) => Err(format!("cannot read {text}: {error}")),
    }
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

/// Fetches the selection's artifacts with a progress reporter.
pub fn fetch_for(matrix: &Matrix, source: &SourceArgs, cells: &[&PlannedCell]) -> Outcome<FetchSet> {
    let artifacts = artifacts_of(matrix, cells)?;
    let progress = reporter(artifacts.len(), "fetch");
    Ok(fetch_set(
        matrix,
        source.options(matrix)?,
        &artifacts,
        progress.as_ref(),
    )?)
}

/// `matrix fetch`.
pub fn run_fetch(path: &Path, args: &FetchArgs) -> Outcome {
    let (matrix, plan) = load_plan(path)?;
    let cells = select(&matrix, &plan, &args.select.selection(), None)?;
    if args.check_urls {
        let options = args.source.options(&matrix)?;
        let checks = check_urls(
            &artifacts_of(&matrix, &cells)?,
            &options.mirrors,
            options.jobs.max(8),
        );
        let missing = checks.iter().filter(|c| !c.ok()).count();
        if args.json {
            print_json(&checks)?;
        } else {
            for check in &checks {
                let status = check.status.map_or_else(|| "-".to_string(), |s| s.to_string());
                let word = if check.ok() { "ok" } else { "MISSING" };
                let error = check
                    .error
                    .as_deref()
                    .map(|e| format!("\t{e}"))
                    .unwrap_or_default();
                println!(
                    "{word}\t{status}\t{}\t{}\t{}{error}",
                    check.component, check.kind, check.url
                );
            }
            println!(
                "{} URLs: {} ok, {missing} missing",
                checks.len(),
                checks.len() - missing
            );
        }
        return Ok(if missing == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    let set = fetch_for(&matrix, &args.source, &cells)?;
    if args.pin {
        let new = set.unpinned(&matrix);
        if !new.is_empty() {
            matrix
                .lock
                .write_pins(&new)
                .with_context(|| format!("pinning digests in {}", matrix.lock.path.display()))?;
            eprintln!("pinned {} digests in {}", new.len(), matrix.lock.path.display());
        }
    }
    let report = set.report();
    if args.json {
        print_json(&report)?;
    } else {
        println!(
            "{} cells, {} artifacts: {} fetched ({} bytes), {} cached, {} failed",
            cells.len(),
            report.artifacts.len() + report.failed,
            report.fetched,
            report.bytes_fetched,
            report.cached,
            report.failed
        );
        for failure in &report.failures {
            println!("failed: {failure}");
        }
    }
    Ok(if report.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `matrix mirror`.
pub fn run_mirror(path: &Path, args: &MirrorArgs) -> Outcome {
    let (matrix, plan) = load_plan(path)?;
    let cells = select(&matrix, &plan, &args.select.selection(), None)?;
    let artifacts = artifacts_of(&matrix, &cells)?;
    let sizes: BTreeMap<String, u64> = args.stand_in_size.iter().cloned().collect();
    for name in sizes.keys() {
        matrix.component(name).with_context(|| "--stand-in-size")?;
    }
    let source = if args.stand_ins {
        MirrorSource::StandIns(StandInFill {
            sizes,
            payload: args.stand_in_payload.clone(),
        })
    } else {
        MirrorSource::Fetch(args.source.options(&matrix)?)
    };
    let progress = reporter(artifacts.len(), "mirror");
    let report = mirror(&matrix, &cells, &args.to, source, progress.as_ref())?;
    drop(progress);
    println!(
        "{} artifacts{} for {} cells in {} ({}){}",
        report.placed,
        if args.stand_ins {
            format!(
                " and {} images (under {}/images)",
                report.images,
                args.to.display()
            )
        } else {
            String::new()
        },
        cells.len(),
        args.to.display(),
        if args.stand_ins { "stand-ins" } else { "mirrored" },
        if report.failures.is_empty() {
            String::new()
        } else {
            format!(", {} failed", report.failures.len())
        }
    );
    for failure in &report.failures {
        println!("failed: {failure}");
    }
    Ok(if report.failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
