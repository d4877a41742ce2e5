//! `matrix docker build`: a plain container image from
//! `dockerimages/<name>/<version>/` (else `latest/`), built per arch by the
//! real engine (`buildah bud`: multi-stage, RUN, ARG), then imported into
//! the store through the one image reader and published (per-arch tags and
//! the `<version>` index) by the one publisher, so `push` and `verify`
//! treat it like every other image.
//!
//! Buildah runs with its own storage under a scratch folder (`vfs`, chroot
//! isolation): a build touches neither the host's image store nor needs a
//! daemon, and the scratch folder goes when the build ends.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use oci_spec::image::{Descriptor, DescriptorBuilder, MediaType};
use serde::Serialize;
use thiserror::Error;

use super::publish::{Placement, publish};
use crate::app::{AppBuild, AppError, AppKind, arches_of, folder, run_bounded, stage_copy, tail};
use crate::axis::Arch;
use crate::fetch::Cache;
use crate::oci::{RefLayout, Store, StoreError, oci_digest};
use crate::registry::{ImageFrom, ImageReader, RegistryError};
use crate::tag::{Tag, TagError};

/// What to build.
#[derive(Debug, Clone)]
pub struct DockerRequest {
    /// `dockerimages/`.
    pub root: PathBuf,
    /// Image name.
    pub name: String,
    /// Version (the index tag).
    pub version: String,
    /// Arches asked for (a `build_arch` file narrows them).
    pub arches: Vec<Arch>,
    /// `--build-arg K=V` (after `ARCH=<arch>`, which matrix always passes).
    pub build_args: BTreeMap<String, String>,
    /// Skip `init.sh`.
    pub skip_init: bool,
    /// Time limit of init.sh and of each buildah step.
    pub limit: Duration,
    /// The OCI layout to write.
    pub out: PathBuf,
    /// `--timestamp` for buildah (SOURCE_DATE_EPOCH), so files and history
    /// do not carry the build time.
    pub epoch: u64,
    /// Pull `FROM` images without TLS verification (a loopback registry).
    pub insecure: bool,
    /// The buildah program.
    pub buildah: PathBuf,
}

/// One arch's image.
#[derive(Debug, Clone, Serialize)]
pub struct DockerImage {
    /// The arch.
    pub arch: Arch,
    /// `<version>-<arch>`.
    pub tag: String,
    /// Manifest digest.
    pub digest: String,
    /// Layers.
    pub layers: usize,
}

/// What `docker build` did.
#[derive(Debug, Clone, Serialize)]
pub struct DockerReport {
    /// Image name.
    pub image: String,
    /// The index tag.
    pub version: String,
    /// The folder built.
    pub folder: String,
    /// Per arch.
    pub arches: Vec<DockerImage>,
    /// The index digest.
    pub index: Option<String>,
}

/// Why a container image build failed.
#[derive(Debug, Error)]
pub enum DockerError {
    /// The folder is missing or init.sh failed.
    #[error(transparent)]
    App(Box<AppError>),
    /// The folder has no Dockerfile.
    #[error(
        "{folder}: no Dockerfile\n  help: a container image folder holds a Dockerfile (and optionally init.sh)"
    )]
    NoDockerfile {
        /// The folder.
        folder: String,
    },
    /// `build_arch` leaves nothing.
    #[error("{name}: its build_arch file allows none of {asked:?}")]
    NoArch {
        /// The image.
        name: String,
        /// What was asked.
        asked: Vec<Arch>,
    },
    /// buildah is not installed.
    #[error("`{program}` was not found\n  help: install buildah (Debian: apt-get install buildah)")]
    NoBuildah {
        /// What was looked for.
        program: String,
    },
    /// A foreign arch's RUN steps need an emulator the kernel does not have.
    #[error(
        "{name}: building linux/{arch} on a linux/{host} machine runs its RUN steps through qemu, and the kernel has no binfmt handler for {arch} ({entry} is missing)\n  help: install qemu-user-static and register it (binfmt-support: `update-binfmts --enable qemu-{qemu}`; or as root: write the line of /usr/lib/binfmt.d/qemu-{qemu}.conf to /proc/sys/fs/binfmt_misc/register, as .ci/test.sh does), or build with --arch {host}"
    )]
    NoEmulator {
        /// The image.
        name: String,
        /// The arch asked for.
        arch: Arch,
        /// This machine's arch.
        host: Arch,
        /// The binfmt entry looked for.
        entry: String,
        /// qemu's name of the arch.
        qemu: &'static str,
    },
    /// A buildah step failed.
    #[error("{name} linux/{arch}: `buildah {step}` {status}; its last lines:\n{last}")]
    Buildah {
        /// The image.
        name: String,
        /// The arch.
        arch: Arch,
        /// bud or push.
        step: &'static str,
        /// How it ended.
        status: String,
        /// The end of its output.
        last: String,
    },
    /// Reading what buildah wrote failed.
    #[error("reading the linux/{arch} image buildah wrote: {source}")]
    Read {
        /// The arch.
        arch: Arch,
        /// Why.
        #[source]
        source: Box<RegistryError>,
    },
    /// A scratch folder or file could not be made.
    #[error("{what}: {source}")]
    Io {
        /// What was done.
        what: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The version does not make valid tags.
    #[error("version {version}: {source}")]
    Tag {
        /// The version.
        version: String,
        /// Why.
        #[source]
        source: TagError,
    },
}

impl From<AppError> for DockerError {
    fn from(error: AppError) -> Self {
        DockerError::App(Box::new(error))
    }
}

impl crate::error::Fault for DockerError {
    /// The folder, its Dockerfile (a failing step), the version and the
    /// arches are the input's; a missing tool or emulator, reading and
    /// writing are failures of the machine.
    fn is_bad_input(&self) -> bool {
        match self {
            DockerError::App(error) => error.is_bad_input(),
            DockerError::Store(error) => error.is_bad_input(),
            DockerError::NoDockerfile { .. }
            | DockerError::NoArch { .. }
            | DockerError::Buildah { .. }
            | DockerError::Tag { .. } => true,
            DockerError::NoBuildah { .. }
            | DockerError::NoEmulator { .. }
            | DockerError::Read { .. }
            | DockerError::Io { .. } => false,
        }
    }
}

/// The arch of this machine, if matrix knows it.
fn host_arch() -> Option<Arch> {
    match std::env::consts::ARCH {
        "x86_64" => Some(Arch::Amd64),
        "aarch64" => Some(Arch::Arm64),
        _ => None,
    }
}

/// qemu's name of an arch (its binfmt entry is `qemu-<name>`).
fn qemu_name(arch: Arch) -> &'static str {
    match arch {
        Arch::Amd64 => "x86_64",
        Arch::Arm64 => "aarch64",
    }
}

/// Whether a Dockerfile has a RUN instruction (which needs the image's
/// arch to execute).
pub fn has_run(dockerfile: &str) -> bool {
    dockerfile.lines().any(|line| {
        line.split_whitespace()
            .next()
            .is_some_and(|word| word.eq_ignore_ascii_case("RUN"))
    })
}

/// Builds each arch with buildah, imports it into the store and publishes
/// the per-arch tags and the index. Arches run one after the other:
/// buildah's vfs storage copies whole trees and the machine is shared.
pub fn docker_build(request: &DockerRequest) -> Result<DockerReport, DockerError> {
    let dir = folder(&request.root, AppKind::Docker, &request.name, &request.version)?;
    let dockerfile = dir.join("Dockerfile");
    let text = std::fs::read_to_string(&dockerfile).map_err(|_| DockerError::NoDockerfile {
        folder: dir.display().to_string(),
    })?;
    let arches = arches_of(&dir, &request.arches)?;
    if arches.is_empty() {
        return Err(DockerError::NoArch {
            name: request.name.clone(),
            asked: request.arches.clone(),
        });
    }
    which(&request.buildah)?;
    // Every foreign arch is checked before anything runs.
    if has_run(&text)
        && let Some(host) = host_arch()
    {
        for arch in &arches {
            check_emulator(&request.name, *arch, host, Path::new(BINFMT_MISC))?;
        }
    }
    let store = Store::open(&request.out)?;
    let build = AppBuild {
        kind: AppKind::Docker,
        name: request.name.clone(),
        version: request.version.clone(),
        folder: dir.clone(),
        build_args: request.build_args.clone(),
        skip_init: request.skip_init,
        no_run: false,
        limit: request.limit,
    };
    let scratch = tempfile::tempdir().map_err(io("creating a scratch folder for buildah"))?;
    let mut written = Vec::new();
    let mut images = Vec::new();
    for arch in &arches {
        let placement = Placement::of_app(&request.name, &request.version, *arch, &arches)
            .map_err(|source| tag_error(&request.version, source))?;
        let (image, descriptor) = build_arch(request, &build, scratch.path(), *arch, &placement, &store)?;
        written.push((placement, descriptor));
        images.push(image);
    }
    let indexes = publish(&store, &written)?;
    let index_tag: Tag = request
        .version
        .parse()
        .map_err(|source| tag_error(&request.version, source))?;
    Ok(DockerReport {
        image: request.name.clone(),
        version: request.version.clone(),
        folder: dir.display().to_string(),
        arches: images,
        index: indexes
            .get(&(request.name.clone(), index_tag))
            .map(|index| index.digest().to_string()),
    })
}

fn tag_error(version: &str, source: TagError) -> DockerError {
    DockerError::Tag {
        version: version.to_string(),
        source,
    }
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> DockerError {
    let what = what.into();
    move |source| DockerError::Io { what, source }
}

/// Refuses a program that is not there, before any work.
fn which(program: &Path) -> Result<(), DockerError> {
    let found = if program.components().count() > 1 {
        program.is_file()
    } else {
        std::env::var_os("PATH")
            .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
            .unwrap_or(false)
    };
    if found {
        Ok(())
    } else {
        Err(DockerError::NoBuildah {
            program: program.display().to_string(),
        })
    }
}

/// Where the kernel lists its binfmt handlers.
const BINFMT_MISC: &str = "/proc/sys/fs/binfmt_misc";

/// A foreign arch needs a registered qemu binfmt handler (`qemu-<arch>`
/// under `binfmt_misc`) for its RUN steps.
fn check_emulator(name: &str, arch: Arch, host: Arch, binfmt_misc: &Path) -> Result<(), DockerError> {
    if host == arch {
        return Ok(());
    }
    let entry = binfmt_misc.join(format!("qemu-{}", qemu_name(arch)));
    if entry.is_file() {
        return Ok(());
    }
    Err(DockerError::NoEmulator {
        name: name.to_string(),
        arch,
        host,
        entry: entry.display().to_string(),
        qemu: qemu_name(arch),
    })
}

/// One arch: init.sh in a scratch copy, `buildah bud`, `buildah push` to
/// an OCI layout, then the image imported into the store.
fn build_arch(
    request: &DockerRequest,
    build: &AppBuild,
    scratch: &Path,
    arch: Arch,
    placement: &Placement,
    store: &Store,
) -> Result<(DockerImage, Descriptor), DockerError> {
    // Always a copy: a RUN bind mount of the context may be writable.
    let staged = stage_copy(build, arch)?;
    let context = &staged.context;
    let local = format!("localhost/matrix-build/{}:{}", request.name, placement.tags.tag);
    let mut bud = buildah_base(request, scratch);
    bud.extend(
        [
            "bud",
            "--isolation",
            "chroot",
            "--platform",
            &format!("linux/{arch}"),
            "--timestamp",
            &request.epoch.to_string(),
            "--layers=false",
            "--build-arg",
            &format!("ARCH={arch}"),
        ]
        .map(String::from),
    );
    for (key, value) in &request.build_args {
        bud.push("--build-arg".into());
        bud.push(format!("{key}={value}"));
    }
    if request.insecure {
        bud.push("--tls-verify=false".into());
    }
    bud.extend([
        "-f".into(),
        "Dockerfile".into(),
        "-t".into(),
        local.clone(),
        ".".into(),
    ]);
    run_step(request, context, &bud, arch, "bud")?;
    let layout_dir = scratch.join(format!("oci-{arch}"));
    let mut push = buildah_base(request, scratch);
    push.extend([
        "push".into(),
        local.clone(),
        format!("oci:{}:{local}", layout_dir.display()),
    ]);
    run_step(request, context, &push, arch, "push")?;
    let cache = Cache::open(&scratch.join("cache")).map_err(io("creating a scratch cache"))?;
    let layout = RefLayout::at(&layout_dir);
    let reader = ImageReader::new(ImageFrom::Layout {
        layout: &layout,
        cache: &cache,
    });
    let (descriptor, layers) = import(&reader, store, &local, arch).map_err(|source| DockerError::Read {
        arch,
        source: Box::new(source),
    })?;
    Ok((
        DockerImage {
            arch,
            tag: placement.tags.tag.to_string(),
            digest: descriptor.digest().to_string(),
            layers,
        },
        descriptor,
    ))
}

/// buildah with storage of its own under the scratch folder.
fn buildah_base(request: &DockerRequest, scratch: &Path) -> Vec<String> {
    vec![
        request.buildah.display().to_string(),
        "--root".into(),
        scratch.join("storage").display().to_string(),
        "--runroot".into(),
        scratch.join("run").display().to_string(),
        "--storage-driver".into(),
        "vfs".into(),
    ]
}

fn run_step(
    request: &DockerRequest,
    context: &Path,
    argv: &[String],
    arch: Arch,
    step: &'static str,
) -> Result<(), DockerError> {
    // buildah must not read the host's registries configuration for
    // short names it would then resolve elsewhere: matrix passes full names.
    let env = BTreeMap::from([("BUILDAH_ISOLATION".to_string(), "chroot".to_string())]);
    let (ok, status, text) = run_bounded(context, argv, &env, request.limit)?;
    if ok {
        return Ok(());
    }
    Err(DockerError::Buildah {
        name: request.name.clone(),
        arch,
        step,
        status,
        last: tail(&text, 20),
    })
}

/// Copies one image (config, layers, then the manifest's own bytes) from
/// buildah's layout into the store, each blob verified on the way; the
/// manifest's descriptor and its layer count.
fn import(
    reader: &ImageReader<'_>,
    store: &Store,
    reference: &str,
    arch: Arch,
) -> Result<(Descriptor, usize), RegistryError> {
    let image = reader.image(reference, arch)?;
    let blobs = std::iter::once(image.manifest.config()).chain(image.manifest.layers());
    for blob in blobs {
        let path = reader.blob(blob)?;
        let digest = crate::oci::descriptor_digest("a layer of the built image", blob)?;
        store.import_blob(&path, &digest, blob.size())?;
    }
    let mut temp = store.temp_blob()?;
    std::io::Write::write_all(temp.as_file_mut(), &image.bytes)
        .map_err(|e| StoreError::io("writing the manifest", e))?;
    store.commit_blob(temp, &image.digest)?;
    let descriptor = DescriptorBuilder::default()
        .media_type(MediaType::ImageManifest)
        .digest(oci_digest(&image.digest))
        .size(image.bytes.len() as u64)
        .build()
        .map_err(|e| RegistryError::Invalid {
            what: reference.to_string(),
            message: e.to_string(),
        })?;
    Ok((descriptor, image.manifest.layers().len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_foreign_arch_without_its_binfmt_handler_names_the_entry_and_is_a_failure() {
        let dir = tempfile::tempdir().unwrap();
        let error = check_emulator("demo", Arch::Arm64, Arch::Amd64, dir.path()).unwrap_err();
        let said = error.to_string();
        let entry = dir.path().join("qemu-aarch64").display().to_string();
        assert!(said.contains(&entry), "{said}");
        assert!(
            said.contains("qemu-user-static") && said.contains("--arch amd64"),
            "{said}"
        );
        assert!(!crate::error::Fault::is_bad_input(&error));
        // Registered, or the host's own arch: nothing to check.
        std::fs::write(dir.path().join("qemu-aarch64"), "enabled\n").unwrap();
        check_emulator("demo", Arch::Arm64, Arch::Amd64, dir.path()).unwrap();
        check_emulator("demo", Arch::Amd64, Arch::Amd64, Path::new("/nonexistent")).unwrap();
    }

    #[test]
    fn run_steps_are_found_whatever_their_case() {
        assert!(has_run("FROM x\n  run echo hi\n"));
        assert!(!has_run("FROM x\n# RUN nothing\nCOPY RUN /RUN\n"));
    }
}
