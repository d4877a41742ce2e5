//! Argument parsing, logging setup and exit codes; each command lives in
//! its own module and hands one resolved value to the library.

mod app;
mod build;
mod chatops;
mod fetch;
mod output;
mod plan;
mod progress;
mod registry;
mod render;
mod report;
mod verify;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit code for bad input (arguments, matrix.toml, tags): fix and retry.
const EXIT_USAGE: u8 = 2;
/// Exit code for failures.
const EXIT_FAILURE: u8 = 1;

#[derive(Debug, Parser)]
#[command(
    name = "matrix",
    version,
    about = "Plan, build, verify and publish every sealos cluster image from one matrix.toml",
    after_help = "Examples:\n  matrix plan --kube 1.24 --cri containerd\n  matrix plan --format github --shard 1/4\n  matrix explain v1.26.0-4.1.3\n\nLogging: RUST_LOG=debug matrix plan"
)]
struct Cli {
    /// The matrix file; its lock is read from the same folder.
    #[arg(long, global = true, env = "MATRIX_FILE", default_value = "matrix.toml")]
    matrix: PathBuf,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List every cell and tag the matrix implies.
    #[command(
        after_help = "Examples:\n  matrix plan\n  matrix plan --kube 1.24.4 --json\n  matrix plan --format github --shard 2/4\n  matrix plan --format tags --cri docker"
    )]
    Plan(plan::PlanArgs),
    /// Say which cells produce a tag, or which rule excludes it and why.
    #[command(
        after_help = "Examples:\n  matrix explain v1.24.4-4.1.3\n  matrix explain kubernetes:v1.24.4\n  matrix explain v1.26.0-4.1.3 --json"
    )]
    Explain(plan::ExplainArgs),
    /// Write the build context of the cells a tag selects, with provenance.
    #[command(
        after_help = "Examples:\n  matrix render v1.24.4-4.1.3 --cri containerd --arch amd64 --out ctx\n  matrix render v1.24.4-4.1.3 --out contexts --json"
    )]
    Render(render::RenderArgs),
    /// Download and verify the binaries of the selected cells into the cache.
    #[command(
        after_help = "Examples:\n  matrix fetch v1.24.4-4.1.3\n  matrix fetch v1.24.4-4.1.3 --mirror file:///srv/mirror\n  matrix fetch v1.24.4-4.1.3 --offline\n  matrix fetch --all --pin\n  matrix fetch --all --check-urls      # on a connected machine: does every URL exist?"
    )]
    Fetch(fetch::FetchArgs),
    /// Write a mirror tree of the selected cells' binaries (or stand-ins:
    /// binaries, and images under DIR/images).
    #[command(
        after_help = "Examples:\n  matrix mirror --to /srv/mirror v1.24.4-4.1.3\n  matrix mirror --to /tmp/mirror --stand-ins v1.24.4-4.1.3\n  matrix fetch v1.24.4-4.1.3 --mirror file:///tmp/mirror"
    )]
    Mirror(fetch::MirrorArgs),
    /// Build reproducible OCI images of the selected cells into an OCI layout.
    #[command(
        after_help = "Examples:\n  matrix build v1.24.4-4.1.3 --mirror file:///tmp/mirror --image-layout /tmp/mirror/images   # offline, stand-ins\n  matrix build v1.24.4-4.1.3 --cri containerd --arch amd64 --out out/oci\n  matrix build --kube 1.27 --sealos 5.0.1\n  matrix build --all --shard 3/19        # one CI job of 19\n  skopeo inspect oci:out/oci:kubernetes:v1.24.4-4.1.3-amd64"
    )]
    Build(build::BuildArgs),
    /// Delete blobs of the OCI layout that no tag reaches.
    #[command(after_help = "Examples:\n  matrix gc\n  matrix gc --out out/oci --json")]
    Gc(build::GcArgs),
    /// Verify every blob and descriptor the OCI layout's tags reach.
    #[command(
        after_help = "Exit codes: 0 sound (or repaired), 1 problems found.\n\nExamples:\n  matrix fsck\n  matrix fsck --out out/oci --json\n  matrix fsck --repair && matrix build v1.24.4-4.1.3"
    )]
    Fsck(build::FsckArgs),
    /// Publish built images: per-arch manifests, then indexes, then aliases.
    #[command(
        after_help = "Examples:\n  matrix push v1.24.4-4.1.3 --to docker.io/labring\n  matrix push --all --from out/oci --to 127.0.0.1:5000/labring"
    )]
    Push(registry::PushArgs),
    /// Compare planned tags with the tags registries really have.
    #[command(
        after_help = "Exit codes: 0 nothing missing or stale, 3 tags missing, 4 only stale tags.\n\nExamples:\n  matrix diff\n  matrix diff --registry 127.0.0.1:5000/labring --kube 1.24 --json"
    )]
    Diff(registry::DiffArgs),
    /// Check built images against the contract sealos relies on: arch, files
    /// per CRI, labels and env, kubeadm.yml fields, saved registry images,
    /// run-time templates and scripts.
    #[command(
        after_help = "Exit codes: 0 every image meets the contract, 1 defects found, 2 bad input.\n\nExamples:\n  matrix verify v1.24.4-4.1.3\n  matrix verify v1.24.4-4.1.3 --from out/oci --json\n  matrix verify --kube 1.27 --registry 127.0.0.1:5000/labring"
    )]
    Verify(verify::VerifyArgs),
    /// The compatibility grid: Kubernetes patch x sealos release per image,
    /// with states, rules and aliases, as one self-contained HTML page or JSON.
    #[command(
        after_help = "Examples:\n  matrix report --html report.html\n  matrix report --registry docker.io/labring --html report.html\n  matrix report --registry 127.0.0.1:5000/labring --from out/oci --json"
    )]
    Report(report::ReportArgs),
    /// Application images from applications/NAME/VERSION (else latest/).
    #[command(
        subcommand,
        after_help = "Examples:\n  matrix app plan\n  matrix app build web-demo 1.0.0 --image-layout /tmp/standins/images\n  matrix app images applications/web-demo/1.0.0 --json\n  matrix app inspect applications/web-demo/1.0.0 --json\n  matrix app push web-demo 1.0.0 --to docker.io/labring"
    )]
    App(app::AppCommand),
    /// Config images from config/NAME/VERSION.
    #[command(
        subcommand,
        after_help = "Examples:\n  matrix config build calico-config 3.26.1\n  matrix config push calico-config 3.26.1 --to docker.io/labring"
    )]
    Config(app::ConfigCommand),
    /// Bring a lagging registry level with another for the planned tags.
    #[command(
        after_help = "Examples:\n  matrix sync --from docker.io/labring --to registry.cn-hangzhou.aliyuncs.com/labring\n  matrix sync --from 127.0.0.1:5000/labring --to 127.0.0.1:5001/labring --kube 1.27 --json"
    )]
    Sync(registry::SyncArgs),
    /// Parse ChatOps issue comments (`/imagebuild_apps NAME VERSION`).
    #[command(
        subcommand,
        after_help = "Examples:\n  printf '%s' \"$COMMENT\" | matrix chatops parse --title \"$TITLE\" >> \"$GITHUB_OUTPUT\""
    )]
    Chatops(chatops::ChatopsCommand),
    /// List known Kubernetes releases, or refresh them from a registry.
    #[command(
        after_help = "Examples:\n  matrix versions\n  matrix versions --refresh --dry-run\n  matrix versions --refresh --source registry.k8s.io/kube-apiserver"
    )]
    Versions(registry::VersionsArgs),
}

/// Parses arguments, runs the command, prints the error chain once and
/// picks the exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let result = match &cli.command {
        Command::Plan(args) => plan::run_plan(&cli.matrix, args),
        Command::Explain(args) => plan::run_explain(&cli.matrix, args),
        Command::Render(args) => render::run(&cli.matrix, args),
        Command::Fetch(args) => fetch::run_fetch(&cli.matrix, args),
        Command::Mirror(args) => fetch::run_mirror(&cli.matrix, args),
        Command::Build(args) => build::run_build(&cli.matrix, args),
        Command::Gc(args) => build::run_gc(args),
        Command::Fsck(args) => build::run_fsck(args),
        Command::Push(args) => registry::run_push(&cli.matrix, args),
        Command::Diff(args) => registry::run_diff(&cli.matrix, args),
        Command::Versions(args) => registry::run_versions(&cli.matrix, args),
        Command::Verify(args) => verify::run(&cli.matrix, args),
        Command::Sync(args) => registry::run_sync(&cli.matrix, args),
        Command::Report(args) => report::run(&cli.matrix, args),
        Command::App(command) => app::run_app(command),
        Command::Config(command) => app::run_config(command),
        Command::Chatops(command) => chatops::run(command),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            if is_broken_pipe(&error) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {error:#}");
            ExitCode::from(exit_code(&error))
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(color)
        .with_target(false)
        .init();
}

/// Bad input is a usage error (2); anything else a failure (1).
fn exit_code(error: &anyhow::Error) -> u8 {
    let usage = error.chain().any(|cause| {
        cause.is::<matrix::source::InputError>()
            || cause.is::<matrix::plan::PlanError>()
            || cause.is::<matrix::tag::TagError>()
            || cause.is::<UsageError>()
            || cause
                .downcast_ref::<matrix::render::RenderError>()
                .is_some_and(|e| e.is_usage())
            || cause
                .downcast_ref::<matrix::pipeline::RenderStepError>()
                .is_some_and(matrix::pipeline::RenderStepError::is_usage)
            || cause
                .downcast_ref::<matrix::app::AppError>()
                .is_some_and(matrix::app::AppError::is_usage)
            || cause
                .downcast_ref::<matrix::pipeline::AppBuildError>()
                .is_some_and(|e| matches!(e, matrix::pipeline::AppBuildError::App(app) if app.is_usage()))
            || cause.is::<matrix::registry::AuthFileError>()
            || cause
                .downcast_ref::<matrix::oci::StoreError>()
                .is_some_and(|e| matches!(e, matrix::oci::StoreError::NotALayout { .. }))
            || cause
                .downcast_ref::<matrix::context::ContextError>()
                .is_some_and(matrix::context::ContextError::is_usage)
    });
    if usage { EXIT_USAGE } else { EXIT_FAILURE }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// A command-line value the library did not reject but the command cannot use.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);
