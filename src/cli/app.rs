//! `matrix app ...` and `matrix config ...`: application and config images.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};

use matrix::Arch;
use matrix::app::{AppBuild, AppKind, scan_folder};
use matrix::oci::{Store, source_date_epoch};
use matrix::pipeline::{AppRequest, app_build, app_tag, inspect_app, push_image};

use super::args::{CompressionArg, RegistryArgs, SourceArgs, image_source, target};
use super::output::{print_json, print_rows};
use super::progress::Terminal;
use super::{Context as _, Outcome, UsageError};
use matrix::progress::Progress as _;

/// `matrix app ...`.
#[derive(Debug, Subcommand)]
pub enum AppCommand {
    /// Every application x version x arch under applications/.
    Plan(AppPlanArgs),
    /// Build NAME VERSION for its arches and the multi-arch index.
    Build(BuildArgs),
    /// The image list of an application folder, as `sealos build` computes it.
    #[command(
        after_help = "Besides sealos's list, the rendered documents are read as YAML: an image of a container, init\ncontainer or ephemeral container that the `image:` line scan misses (a cluster would pull it, sealos\nwould not save it) is a warning, an error with --strict. An image with a tag and a digest is listed\nas written; sealos saves it by its tag.\n\nCharts render with fixed stand-ins where Helm reads the clock, randomness or secrets: `now` is\n1970-01-01T00:00:00Z, rand*/uuidv4/randBytes/randInt fixed, genCA/genPrivateKey/bcrypt/htpasswd/\nencryptAES placeholders, lookup and getHostByName empty.\n\nExamples:\n  matrix app images applications/web-demo/1.0.0\n  matrix app images applications/web-demo/1.0.0 --skip-init --strict --json\n  matrix app images path/to/a/chart --skip-init"
    )]
    Images(FolderArgs),
    /// Print the rendered manifests of charts/ as `helm template` does.
    #[command(
        after_help = "Each chart under charts/ (or the folder itself when it holds Chart.yaml) is rendered as sealos\nbuild renders it (release `dryrun`, values from charts/<chart name>.values.yaml), after init.sh\nunless --skip-init, and printed as `helm template` prints: documents in Helm's install order, each\nafter `---` and a `# Source:` line. --json prints every template's text by chart and path.\n\nFixed stand-ins replace what Helm reads from the clock, randomness and crypto: `now` is\n1970-01-01T00:00:00Z, random strings are fixed, certificates, keys and bcrypt/htpasswd hashes are\nplaceholders (sha256sum and sha1sum are real).\n\nExamples:\n  matrix app template applications/web-demo/1.0.0\n  matrix app template applications/web-demo/1.0.0 --arch arm64 --skip-init\n  matrix app template path/to/a/chart --skip-init --json"
    )]
    Template(FolderArgs),
    /// The OCI image config the build would write for a folder.
    Inspect(FolderArgs),
    /// Push NAME VERSION (per-arch tags and the index) from the OCI layout.
    Push(PushArgs),
}

/// `matrix config ...`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Build config/NAME/VERSION.
    Build(BuildArgs),
    /// Push a built config image.
    Push(PushArgs),
}

/// Arguments of `app plan`.
#[derive(Debug, Args)]
pub struct AppPlanArgs {
    /// Only these applications.
    names: Vec<String>,
    /// The applications folder.
    #[arg(long, default_value = "applications")]
    root: PathBuf,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// What to build.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The application (or config) name.
    name: String,
    /// The version (its folder, else `latest/` for applications).
    version: String,
    /// Only these arches (default both; `build_arch` narrows).
    #[arg(long)]
    arch: Vec<Arch>,
    /// ARG values: NAME=VALUE; repeatable.
    #[arg(long, value_parser = parse_pair)]
    build_arg: Vec<(String, String)>,
    /// Do not run init.sh.
    #[arg(long)]
    skip_init: bool,
    /// Refuse RUN instructions (untrusted Kubefiles).
    #[arg(long)]
    no_run: bool,
    /// Time limit of init.sh and of each RUN, in seconds.
    #[arg(long, default_value_t = 900)]
    timeout: u64,
    /// The folder holding the applications [default: applications, or config].
    #[arg(long)]
    root: Option<PathBuf>,
    /// The OCI image layout to write.
    #[arg(long, default_value = "out/oci")]
    out: PathBuf,
    #[command(flatten)]
    source: SourceArgs,
    #[command(flatten)]
    compression: CompressionArg,
    /// Take listed images from an OCI layout by reference (offline).
    #[arg(long, conflicts_with_all = ["skip_images", "image_mirror"])]
    image_layout: Option<PathBuf>,
    /// Pull listed images from elsewhere: FROM=TO; repeatable.
    #[arg(long)]
    image_mirror: Vec<String>,
    /// Leave registry/ empty.
    #[arg(long)]
    skip_images: bool,
    /// Which platforms of each listed image registry/ holds: `current`
    /// (the image's own) or `all` (the index and every built platform).
    #[arg(long, default_value = "current")]
    save_platforms: matrix::pipeline::SavePlatforms,
    #[command(flatten)]
    access: RegistryArgs,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// A folder to look at.
#[derive(Debug, Args)]
pub struct FolderArgs {
    /// The version folder (`applications/NAME/VERSION`).
    dir: PathBuf,
    /// The arch init.sh runs for.
    #[arg(long, default_value = "amd64")]
    arch: Arch,
    /// Do not run init.sh.
    #[arg(long)]
    skip_init: bool,
    /// Refuse RUN instructions.
    #[arg(long)]
    no_run: bool,
    /// ARG values: NAME=VALUE; repeatable.
    #[arg(long, value_parser = parse_pair)]
    build_arg: Vec<(String, String)>,
    /// (`images` only) Images the YAML names that the line scan misses are
    /// an error, not a warning.
    #[arg(long)]
    strict: bool,
    /// (`images` only) Also write a marked stand-in of every listed image,
    /// both arches, into this OCI layout (for offline builds and tests).
    #[arg(long)]
    stand_ins: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// What to push.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// The image name.
    name: String,
    /// Its version.
    version: String,
    /// REGISTRY/NAMESPACE. Parsed by the command, never echoed with credentials.
    #[arg(long)]
    to: String,
    /// The OCI layout built into.
    #[arg(long, default_value = "out/oci")]
    from: PathBuf,
    #[command(flatten)]
    access: RegistryArgs,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub(super) fn parse_pair(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| "write NAME=VALUE".to_string())
}

/// Runs `matrix app ...`.
pub fn run_app(command: &AppCommand) -> Outcome {
    match command {
        AppCommand::Plan(args) => plan(args),
        AppCommand::Build(args) => build(args, AppKind::App),
        AppCommand::Images(args) => images(args),
        AppCommand::Template(args) => template(args),
        AppCommand::Inspect(args) => inspect(args),
        AppCommand::Push(args) => push(args),
    }
}

/// Runs `matrix config ...`.
pub fn run_config(command: &ConfigCommand) -> Outcome {
    match command {
        ConfigCommand::Build(args) => build(args, AppKind::Config),
        ConfigCommand::Push(args) => push(args),
    }
}

fn plan(args: &AppPlanArgs) -> Outcome {
    plan_in(&args.root, &args.names, args.json)
}

/// Lists NAME x VERSION x ARCH under `root` (applications or container images).
pub(super) fn plan_in(root: &std::path::Path, names: &[String], json: bool) -> Outcome {
    let entries = matrix::app::list(root, names)?;
    if json {
        print_json(&entries)?;
    } else {
        let rows: Vec<Vec<String>> = entries
            .iter()
            .map(|e| {
                vec![
                    e.name.clone(),
                    e.version.clone(),
                    e.arch.to_string(),
                    e.tag.clone(),
                ]
            })
            .collect();
        print_rows(&["NAME", "VERSION", "ARCH", "TAG"], &rows)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn build(args: &BuildArgs, kind: AppKind) -> Outcome {
    let root = args.root.clone().unwrap_or_else(|| {
        PathBuf::from(match kind {
            AppKind::App => "applications",
            AppKind::Config => "config",
            AppKind::Docker => "dockerimages",
        })
    });
    let client = args.access.client()?;
    let images = image_source(
        args.skip_images,
        args.image_layout.as_ref(),
        &args.image_mirror,
        &client,
    )?;
    let arches = if args.arch.is_empty() {
        vec![Arch::Amd64, Arch::Arm64]
    } else {
        args.arch.clone()
    };
    let request = AppRequest {
        root,
        kind,
        name: args.name.clone(),
        version: args.version.clone(),
        arches,
        build_args: args.build_arg.iter().cloned().collect(),
        skip_init: args.skip_init,
        no_run: args.no_run,
        limit: Duration::from_secs(args.timeout),
        out: args.out.clone(),
        fetch: args.source.with_mirrors(Vec::new())?,
        compression: args.compression.compression,
        epoch: source_date_epoch(),
        images,
        save_platforms: args.save_platforms,
    };
    let report = app_build(request, Terminal.stage("build", 0).as_ref())?;
    if args.json {
        print_json(&report)?;
    } else {
        for image in &report.arches {
            println!(
                "{}:{}\t{}\t{} images\t{}",
                report.image,
                image.tag,
                if image.unchanged { "unchanged" } else { "built" },
                image.images,
                image.digest
            );
        }
        if let Some(index) = &report.index {
            println!("{}:{}\tindex\t{index}", report.image, report.version);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The folder as the library's build description.
fn folder_build(args: &FolderArgs) -> Outcome<AppBuild> {
    Ok(AppBuild::of_folder(
        &args.dir,
        args.build_arg.iter().cloned().collect(),
        args.skip_init,
        args.no_run,
    )?)
}

fn images(args: &FolderArgs) -> Outcome {
    let scan = scan_folder(&folder_build(args)?, args.arch)?;
    if let Some(layout) = &args.stand_ins {
        let names: Vec<String> = scan
            .images
            .iter()
            .map(|i| {
                i.image
                    .parse::<matrix::registry::ImageRef>()
                    .map(|r| r.to_string())
                    .unwrap_or_else(|_| i.image.clone())
            })
            .collect();
        matrix::oci::RefLayout::at(layout)
            .write_stand_ins(&names, &[Arch::Amd64, Arch::Arm64])
            .with_context(|| format!("writing stand-in images into {}", layout.display()))?;
    }
    for skipped in &scan.skipped {
        tracing::warn!("not an image reference, skipped: {skipped}");
    }
    for missed in &scan.missed {
        eprintln!(
            "warning: {} ({}) is a container image the `image:` line scan misses: a cluster pulls it, sealos does not save it",
            missed.image, missed.source
        );
    }
    for both in scan
        .images
        .iter()
        .filter(|i| i.image.contains(":") && i.image.contains("@sha256:"))
    {
        let tagged = both.image.split('@').next().unwrap_or_default();
        if tagged.rsplit('/').next().is_some_and(|last| last.contains(':')) {
            eprintln!(
                "note: {} has a tag and a digest: listed as written, saved by its tag as sealos does",
                both.image
            );
        }
    }
    if args.strict && !scan.missed.is_empty() {
        return Err(matrix::app::MissedImages(scan.missed).into());
    }
    if args.json {
        print_json(&scan.images)?;
    } else {
        let rows: Vec<Vec<String>> = scan
            .images
            .iter()
            .map(|i| vec![i.image.clone(), i.source.clone()])
            .collect();
        print_rows(&["IMAGE", "SOURCE"], &rows)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn template(args: &FolderArgs) -> Outcome {
    let charts = matrix::app::template_folder(&folder_build(args)?, args.arch)?;
    if args.json {
        let by_chart: BTreeMap<&str, &BTreeMap<String, String>> =
            charts.iter().map(|c| (c.folder.as_str(), &c.templates)).collect();
        print_json(&by_chart)?;
    } else {
        for chart in &charts {
            print!(
                "{}",
                matrix::helm::template_output(&matrix::helm::documents(&chart.templates))
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The config from the Kubefile alone (init.sh skipped, or a COPY source
/// that init.sh would download missing), in the OCI config's shape.
fn inspect_kubefile(args: &FolderArgs) -> Outcome {
    let found = matrix::app::kubefile_config(&folder_build(args)?)?;
    let mut config = serde_json::json!({
        "Env": found.config.env_list(),
        "Labels": found.config.labels,
    });
    if !found.config.cmd.is_empty() {
        config["Cmd"] = serde_json::json!(found.config.cmd);
    }
    if !found.config.entrypoint.is_empty() {
        config["Entrypoint"] = serde_json::json!(found.config.entrypoint);
    }
    let mut document =
        serde_json::json!({"architecture": args.arch.to_string(), "os": "linux", "config": config});
    if let Some(author) = &found.config.author {
        document["author"] = serde_json::json!(author);
    }
    if let Some(base) = &found.base {
        document["matrix.from"] = serde_json::json!(base);
    }
    if args.json {
        print_json(&document)?;
    } else {
        println!(
            "{}",
            serde_json::to_string_pretty(&document).map_err(std::io::Error::from)?
        );
        eprintln!(
            "note: from the Kubefile alone (init.sh not run); files, layers and a FROM image's config are not included"
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn inspect(args: &FolderArgs) -> Outcome {
    if args.skip_init {
        return inspect_kubefile(args);
    }
    let config = match inspect_app(&folder_build(args)?, args.arch) {
        Ok(config) => config,
        // A COPY source init.sh would have made: the Kubefile still says
        // what the config is.
        Err(matrix::pipeline::AppBuildError::App(error))
            if matches!(
                *error,
                matrix::app::AppError::Copy {
                    problem: matrix::app::CopyError::Missing | matrix::app::CopyError::NoMatch,
                    ..
                }
            ) =>
        {
            tracing::warn!("{error}; showing the config from the Kubefile alone");
            return inspect_kubefile(args);
        }
        Err(error) => return Err(error.into()),
    };
    if args.json {
        print_json(&config)?;
    } else {
        println!(
            "{}",
            serde_json::to_string_pretty(&config).map_err(std::io::Error::from)?
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) fn push(args: &PushArgs) -> Outcome {
    let to = target(&args.to)?;
    let store = Store::open_existing(&args.from)?;
    let index: matrix::Tag = args.version.parse()?;
    let arch_tags: Vec<matrix::Tag> = [Arch::Amd64, Arch::Arm64]
        .iter()
        .filter_map(|arch| app_tag(&args.version, *arch).ok())
        .collect();
    let client = args.access.client()?;
    let report = push_image(
        &client,
        &store,
        &to,
        &args.name,
        &arch_tags,
        &index,
        Terminal.stage("push", 0).as_ref(),
    )
    .with_context(|| format!("pushing {} to {to}", args.name))?;
    // Arches build_arch left out are simply not in the store.
    if report.pushed.is_empty() {
        return Err(UsageError(format!(
            "{}:{} is not built in {}; build it first (`matrix app|config|docker build`)",
            args.name,
            args.version,
            args.from.display()
        ))
        .into());
    }
    if args.json {
        print_json(&serde_json::json!({ "report": report, "pushed": report.pushed }))?;
    } else {
        for item in &report.pushed {
            println!("{}\t{}", item.reference, item.digest);
        }
    }
    Ok(ExitCode::SUCCESS)
}
