//! `matrix docker ...`: plain container images from `dockerimages/`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};

use matrix::Arch;
use matrix::oci::source_date_epoch;
use matrix::pipeline::{DockerRequest, docker_build};

use super::Outcome;
use super::app::{PushArgs, parse_pair, plan_in, push};
use super::output::print_json;

/// `matrix docker ...`.
#[derive(Debug, Subcommand)]
pub enum DockerCommand {
    /// Every container image x version x arch under dockerimages/.
    Plan(DockerPlanArgs),
    /// Build NAME VERSION with buildah for its arches and the index.
    Build(DockerBuildArgs),
    /// Push NAME VERSION (per-arch tags and the index) from the OCI layout.
    Push(PushArgs),
}

/// Arguments of `docker plan`.
#[derive(Debug, Args)]
pub struct DockerPlanArgs {
    /// Only these images.
    names: Vec<String>,
    /// The folder holding the images.
    #[arg(long, default_value = "dockerimages")]
    root: PathBuf,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// What to build.
#[derive(Debug, Args)]
pub struct DockerBuildArgs {
    /// The image name (`dockerimages/NAME`).
    name: String,
    /// The version (its folder, else `latest/`).
    version: String,
    /// Only these arches (default both; `build_arch` narrows).
    #[arg(long)]
    arch: Vec<Arch>,
    /// ARG values: NAME=VALUE; repeatable (`ARCH` is always the arch).
    #[arg(long, value_parser = parse_pair)]
    build_arg: Vec<(String, String)>,
    /// Do not run init.sh.
    #[arg(long)]
    skip_init: bool,
    /// Time limit of init.sh and of each buildah step, in seconds.
    #[arg(long, default_value_t = 3600)]
    timeout: u64,
    /// The folder holding the images.
    #[arg(long, default_value = "dockerimages")]
    root: PathBuf,
    /// The OCI image layout to write.
    #[arg(long, default_value = "out/oci")]
    out: PathBuf,
    /// Pull FROM images without TLS verification (a loopback or test registry).
    #[arg(long)]
    insecure: bool,
    /// The buildah program.
    #[arg(long, env = "MATRIX_BUILDAH", default_value = "buildah")]
    buildah: PathBuf,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `matrix docker ...`.
pub fn run(command: &DockerCommand) -> Outcome {
    match command {
        DockerCommand::Plan(args) => plan_in(&args.root, &args.names, args.json),
        DockerCommand::Build(args) => build(args),
        DockerCommand::Push(args) => push(args),
    }
}

fn build(args: &DockerBuildArgs) -> Outcome {
    let request = DockerRequest {
        root: args.root.clone(),
        name: args.name.clone(),
        version: args.version.clone(),
        arches: if args.arch.is_empty() {
            vec![Arch::Amd64, Arch::Arm64]
        } else {
            args.arch.clone()
        },
        build_args: args.build_arg.iter().cloned().collect(),
        skip_init: args.skip_init,
        limit: Duration::from_secs(args.timeout),
        out: args.out.clone(),
        epoch: source_date_epoch(),
        insecure: args.insecure,
        buildah: args.buildah.clone(),
    };
    let report = docker_build(&request)?;
    if args.json {
        print_json(&report)?;
    } else {
        for image in &report.arches {
            println!(
                "{}:{}\tbuilt\t{} layers\t{}",
                report.image, image.tag, image.layers, image.digest
            );
        }
        if let Some(index) = &report.index {
            println!("{}:{}\tindex\t{index}", report.image, report.version);
        }
    }
    Ok(ExitCode::SUCCESS)
}
