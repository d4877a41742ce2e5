//! Argument parsing, logging setup and exit codes; each command lives in
//! its own module, parses, calls one library operation and prints.
//! Argument groups several commands share are in `args`. A failed command
//! exits with the code its error chose (`matrix::error::Fault`): 2 for bad
//! input, 1 for failures.

mod app;
mod args;
mod build;
mod chatops;
mod docker;
mod fetch;
mod output;
mod plan;
mod progress;
mod registry;
mod render;
mod report;
mod sbom;
mod verify;

use std::fmt::Display;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use matrix::error::Fault;
use matrix::{Matrix, Plan};

#[derive(Debug, Parser)]
#[command(
    name = "matrix",
    version,
    about = "Plan, build, verify and publish every sealos cluster image from one matrix.toml",
    after_help = "Examples:\n  matrix plan --kube 1.24 --cri containerd\n  matrix plan --format github --shard 1/4\n  matrix explain v1.26.0-4.1.3\n\nLogging: RUST_LOG=debug matrix plan\n\nEnvironment: MATRIX_FILE (the matrix file), REGISTRY_AUTH_FILE (registry credentials),\nMATRIX_HTTP_TIMEOUT_SECS (longest silence of an HTTP peer, default 60; deadlines scale with it),\nRUST_LOG, NO_COLOR"
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
    /// Print a per-arch image's SBOM (SPDX 2.3), read from the referrers
    /// the build attached to it, in the layout or in a registry.
    #[command(
        after_help = "Exit codes: 0 printed, 1 the image has no SBOM or a registry failed, 2 bad input.\n\nExamples:\n  matrix sbom kubernetes:v1.24.4-4.2.1-amd64\n  matrix sbom kubernetes-docker:v1.24.4-4.2.1-arm64 --format table\n  matrix sbom kubernetes:v1.24.4-4.2.1-amd64 --from out/oci > sbom.spdx.json\n  matrix sbom kubernetes:v1.24.4-4.2.1-amd64 --registry 127.0.0.1:5000/labring"
    )]
    Sbom(sbom::SbomArgs),
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
    /// Container images from dockerimages/NAME/VERSION (else latest/), built by buildah.
    #[command(
        subcommand,
        after_help = "Examples:\n  matrix docker plan\n  matrix docker build busybox-demo 1.0.0 --arch amd64\n  matrix docker build busybox-demo 1.0.0 --build-arg BASE=127.0.0.1:5000/library/busybox:1 --insecure\n  matrix docker push busybox-demo 1.0.0 --to docker.io/labring"
    )]
    Docker(docker::DockerCommand),
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
    // Like other Unix tools, end quietly when the reader of our output goes
    // away (`matrix plan | head`): Rust ignores SIGPIPE, which turns every
    // later print into a panic.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of one signal before any
    // thread starts; no handler runs Rust code.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    init_logging();
    let result = http_timeout().and_then(|()| match &cli.command {
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
        Command::Sbom(args) => sbom::run(&cli.matrix, args),
        Command::Sync(args) => registry::run_sync(&cli.matrix, args),
        Command::Report(args) => report::run(&cli.matrix, args),
        Command::App(command) => app::run_app(command),
        Command::Config(command) => app::run_config(command),
        Command::Docker(command) => docker::run(command),
        Command::Chatops(command) => chatops::run(command),
    });
    match result {
        Ok(code) => code,
        Err(failure) => {
            if is_broken_pipe(&failure.error) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {:#}", failure.error);
            ExitCode::from(failure.exit_code)
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

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// What a command returns: its exit code, or the failure that stopped it.
pub type Outcome<T = ExitCode> = Result<T, Failure>;

/// Reads `MATRIX_HTTP_TIMEOUT_SECS` (the longest silence of an HTTP peer,
/// which scales every request's deadline): a whole number of seconds, 1 or
/// more.
fn http_timeout() -> Outcome<()> {
    let Some(value) = std::env::var_os(matrix::net::TIMEOUT_ENV) else {
        return Ok(());
    };
    let seconds = value
        .to_str()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|s| (1..=86_400).contains(s))
        .ok_or_else(|| {
            UsageError(format!(
                "{}={}: give a whole number of seconds from 1 to 86400",
                matrix::net::TIMEOUT_ENV,
                value.to_string_lossy().escape_default()
            ))
        })?;
    matrix::net::set_idle_timeout(std::time::Duration::from_secs(seconds));
    Ok(())
}

/// An error on its way out of a command: the message chain (with the
/// context commands add) and the exit code the error chose for itself
/// when it was raised, through [`Fault`]. Only types that implement
/// `Fault` convert into it, so no error reaches `main` unclassified.
#[derive(Debug)]
pub struct Failure {
    error: anyhow::Error,
    exit_code: u8,
}

impl<E: Fault + Send + Sync + 'static> From<E> for Failure {
    fn from(error: E) -> Self {
        Failure {
            exit_code: error.exit_code(),
            error: anyhow::Error::new(error),
        }
    }
}

/// `anyhow::Context::with_context` for results whose error is (or becomes)
/// a [`Failure`]: the message grows, the exit code stays.
pub trait Context<T> {
    /// Adds the context `f` gives to the error's message.
    fn with_context<C: Display + Send + Sync + 'static, F: FnOnce() -> C>(self, f: F) -> Outcome<T>;
}

impl<T, E: Into<Failure>> Context<T> for Result<T, E> {
    fn with_context<C: Display + Send + Sync + 'static, F: FnOnce() -> C>(self, f: F) -> Outcome<T> {
        self.map_err(|error| {
            let failure = error.into();
            Failure {
                error: failure.error.context(f()),
                exit_code: failure.exit_code,
            }
        })
    }
}

/// A command-line value the library did not reject but the command cannot
/// use: bad input.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

impl Fault for UsageError {
    fn is_bad_input(&self) -> bool {
        true
    }
}

/// Loads the matrix and plans it; both errors carry their own location.
pub fn load_plan(path: &Path) -> Outcome<(Matrix, Plan)> {
    let matrix = Matrix::load(path)?;
    let plan = Plan::build(&matrix).with_context(|| format!("planning {}", path.display()))?;
    Ok((matrix, plan))
}

#[cfg(test)]
mod tests {
    use super::*;
    use matrix::error::{EXIT_BAD_INPUT, EXIT_FAILURE};

    #[test]
    fn context_keeps_the_exit_code() {
        let bad: Result<(), UsageError> = Err(UsageError("no".into()));
        let failure = bad.with_context(|| "reading").unwrap_err();
        assert_eq!(failure.exit_code, EXIT_BAD_INPUT);
        assert_eq!(format!("{:#}", failure.error), "reading: no");
        let io: Result<(), std::io::Error> = Err(std::io::Error::other("disk"));
        let failure = io.with_context(|| "writing").unwrap_err();
        assert_eq!(failure.exit_code, EXIT_FAILURE);
    }
}
