//! `matrix build` and `matrix gc`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use matrix::PlannedCell;
use matrix::oci::{Store, source_date_epoch};
use matrix::pipeline::{BuildRequest, Status, build};

use super::args::{CompressionArg, MissingArgs, RegistryArgs, SelectArgs, SourceArgs, image_source};
use super::output::{print_json, print_rows};
use super::progress::Terminal;
use super::{Outcome, load_plan};

/// Arguments of `matrix build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    #[command(flatten)]
    select: SelectArgs,
    #[command(flatten)]
    missing: MissingArgs,
    /// The OCI image layout to write.
    #[arg(long, default_value = "out/oci")]
    out: PathBuf,
    #[command(flatten)]
    compression: CompressionArg,
    #[command(flatten)]
    source: SourceArgs,
    /// Pull the images of the image list from elsewhere: FROM=TO, e.g.
    /// registry.k8s.io=127.0.0.1:5000/k8s; repeatable.
    /// Parsed by the command, not clap, so a mistyped `user:pw@` is never
    /// echoed back.
    #[arg(long)]
    image_mirror: Vec<String>,
    /// Leave registry/ empty (no image pulls): for offline demos only,
    /// the image cannot install a cluster without its images.
    #[arg(long, conflicts_with_all = ["image_layout", "image_mirror"])]
    skip_images: bool,
    /// Take the images of the image lists from an OCI image layout holding
    /// them by full reference (`registry.k8s.io/pause:3.7`) instead of
    /// registries: the `images/` folder `matrix mirror --stand-ins` writes,
    /// or one filled with `skopeo copy --all docker://IMG oci:DIR:IMG`.
    #[arg(long, conflicts_with = "image_mirror")]
    image_layout: Option<PathBuf>,
    /// Which platforms of each listed image registry/ holds: `current`
    /// (the image's own) or `all` (the index and every built platform).
    #[arg(long, default_value = "current")]
    save_platforms: matrix::pipeline::SavePlatforms,
    #[command(flatten)]
    registry: RegistryArgs,
    /// Print the results as JSON.
    #[arg(long)]
    json: bool,
}

/// Arguments of `matrix gc`.
#[derive(Debug, Args)]
pub struct GcArgs {
    /// The OCI image layout to clean.
    #[arg(long, default_value = "out/oci")]
    out: PathBuf,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// `matrix build`.
pub fn run_build(path: &Path, args: &BuildArgs) -> Outcome {
    let (matrix, plan) = load_plan(path)?;
    let client = args.registry.client()?;
    let cells: Vec<&PlannedCell> =
        args.select
            .cells_missing(&matrix, &plan, &args.missing, &client, &args.out)?;
    if args.skip_images {
        eprintln!(
            "warning: --skip-images: registry/ stays empty; these images cannot install a cluster offline"
        );
    }
    let request = BuildRequest {
        matrix: &matrix,
        plan: &plan,
        cells,
        fetch: args.source.options(&matrix)?,
        out: args.out.clone(),
        compression: args.compression.compression,
        epoch: source_date_epoch(),
        jobs: args.source.jobs,
        images: image_source(
            args.skip_images,
            args.image_layout.as_ref(),
            &args.image_mirror,
            &client,
        )?,
        save_platforms: args.save_platforms,
    };
    let report = build(request, &Terminal)?;
    let results = &report.cells;
    if args.json {
        print_json(&report)?;
    } else {
        let rows: Vec<Vec<String>> = results
            .iter()
            .map(|r| {
                vec![
                    format!("{}:{}", r.image, r.tag),
                    match &r.status {
                        Status::Built => "built".into(),
                        Status::Unchanged => "unchanged".into(),
                        Status::Failed(_) => "failed".into(),
                    },
                    human_size(r.size),
                    format!("{:.2}s", r.seconds),
                    r.digest.as_ref().map(ToString::to_string).unwrap_or_default(),
                ]
            })
            .collect();
        print_rows(&["IMAGE", "STATUS", "SIZE", "TIME", "DIGEST"], &rows)?;
        for result in results {
            if let Status::Failed(message) = &result.status {
                println!("failed {}:{}: {message}", result.image, result.tag);
            }
        }
        println!(
            "{} built, {} unchanged, {} failed in {:.2}s -> {}",
            report.built,
            report.unchanged,
            report.failed,
            report.seconds,
            args.out.display()
        );
    }
    Ok(if report.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// `matrix gc`.
pub fn run_gc(args: &GcArgs) -> Outcome {
    let store = Store::open_owned(&args.out)?;
    let report = store.gc()?;
    if args.json {
        print_json(&report)?;
    } else {
        println!(
            "removed {} blobs ({}), kept {}; removed {} temp files of killed builds ({})",
            report.blobs,
            human_size(report.bytes),
            report.kept,
            report.temp_files,
            human_size(report.temp_bytes)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Arguments of `matrix fsck`.
#[derive(Debug, Args)]
pub struct FsckArgs {
    /// The OCI image layout to check.
    #[arg(long, default_value = "out/oci")]
    out: PathBuf,
    /// Delete damaged blobs and drop the tags that need them (build again
    /// afterwards to restore them).
    #[arg(long)]
    repair: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// `matrix fsck`: exit 0 when the layout is sound (or was repaired), 1
/// when problems remain.
pub fn run_fsck(args: &FsckArgs) -> Outcome {
    // Checking reads any layout; repairing deletes, so only in matrix's own.
    let store = match args.repair {
        true => Store::open_owned(&args.out)?,
        false => Store::open_existing(&args.out)?,
    };
    let report = store.fsck(args.repair)?;
    if args.json {
        print_json(&report)?;
    } else {
        for problem in &report.problems {
            println!(
                "{}: {} (reached by {})",
                problem.path,
                problem.defect,
                if problem.refs.is_empty() {
                    "nothing".to_string()
                } else {
                    problem.refs.join(", ")
                }
            );
        }
        for digest in &report.deleted {
            println!("deleted damaged blob {digest}");
        }
        for name in &report.dropped_refs {
            println!("dropped {name}: build it again");
        }
        println!(
            "{} blobs ({}) verified, {} problems",
            report.blobs,
            human_size(report.bytes),
            report.problems.len()
        );
    }
    Ok(if report.problems.is_empty() || args.repair {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
