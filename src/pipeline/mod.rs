//! The pipeline: what commands do with the plan, the cache, the store and
//! registries. Turning a planned cell into its context, needs and image
//! list (`cell`), cells (`build`) and application folders (`app`) into
//! recipes, writing any recipe into the layout (`write`), pointing tags
//! and indexes at what was written (`publish`), saving a recipe's images
//! into `registry/` (`save`), pushing built images (`push`), copying
//! between registries (`sync`), comparing planned tags with published ones
//! (`diff`) and checking built images against the contract (`verify`).
//! The CLI parses arguments, calls one of these and prints.

mod app;
pub mod build;
mod cell;
mod diff;
mod docker;
mod fetch;
mod inspect;
mod mirror;
mod publish;
mod push;
mod render;
mod report;
mod report_html;
mod save;
mod sbom;
mod select;
mod sync;
mod verify;
mod versions;
mod write;

pub use app::{AppBuildError, AppImage, AppReport, AppRequest, app_build};
pub use build::{
    BuildError, BuildOptions, BuildReport, BuildRequest, CellError, CellResult, Status, build, build_cells,
    rootfs_layers,
};
pub use cell::{
    AssembleError, AssembledCell, CellPlan, ImageLayers, PrepareError, artifacts_of, plans_artifacts,
    prepare, take_lists,
};
pub use diff::{ImageDiff, RegistryDiff, diff, missing_from};
pub use docker::{DockerError, DockerImage, DockerReport, DockerRequest, docker_build, has_run};
pub use fetch::{FetchReport, FetchSet, fetch_set};
pub use inspect::inspect_app;
pub use mirror::{MirrorError, MirrorReport, MirrorSource, mirror};
pub use publish::{Placement, app_tag, publish};
pub use push::{PushReport, PushedRef, push, push_image};
pub use render::{FileRecord, RenderRecord, RenderRequest, RenderStepError, render_contexts};
pub use report::{GridCell, ImageGrid, Lag, MinorRows, Report, ReportError, Row, State, report};
pub use report_html::html as report_html;
pub use save::{
    BaseDefect, BaseImage, BaseLayer, ImageSaver, ImageSource, Puller, REGISTRY_ROOT, RegistrySaver,
    SaveError, SavePlatforms,
};
pub use sbom::{MAX_SBOM, SbomError, SbomRow, image_sbom, read_sbom, sbom, sbom_rows};
pub use select::{MissingFrom, SelectError, select};
pub use sync::{SyncReport, sync};
pub use verify::{ImageVerdict, VerifyError, VerifyReport, VerifySource, verify};
pub use versions::{
    GithubRelease, KubeadmListError, NewSealos, Refresh, RefreshAllError, RefreshError, RefreshOptions,
    RefreshReport, ReleasesError, UrlReadError, github_releases, kube_release_days, kubeadm_images,
    kubeadm_updates, line_diff, new_k3s_releases, new_sealos_releases, parse_github_releases,
    parse_kubeadm_images, refresh, refresh_all,
};
pub use write::{CellRecord, LayerSlots, WriteError, WriteOptions, Written, write_recipe};

// What each pipeline error means for the exit code: the input's fault
// when the error it wraps is, or when it names an argument to change.
// Matches are exhaustive so a new variant has to be decided here.
use crate::error::Fault;

impl Fault for BuildError {
    fn is_bad_input(&self) -> bool {
        match self {
            BuildError::Store(error) => error.is_bad_input(),
            BuildError::Fetch(error) => error.is_bad_input(),
            BuildError::Prepare(error) => error.is_bad_input(),
            BuildError::Cache { .. } => false,
        }
    }
}

impl Fault for CellError {
    fn is_bad_input(&self) -> bool {
        match self {
            CellError::Assemble(error) => error.is_bad_input(),
            CellError::Context(error) => error.is_bad_input(),
            CellError::Save(error) => error.is_bad_input(),
            CellError::Write(error) => error.is_bad_input(),
        }
    }
}

impl Fault for WriteError {
    /// A context clash is the input's; a layer, the store or a pull that
    /// fails is a failure, and so is a base image asked for without pulls
    /// (as a cell's image component was before).
    fn is_bad_input(&self) -> bool {
        match self {
            WriteError::Save(error) => error.is_bad_input(),
            WriteError::Context(error) => error.is_bad_input(),
            WriteError::Layer(error) => error.is_bad_input(),
            WriteError::Store(error) => error.is_bad_input(),
            WriteError::NeedsPulls(_) => false,
        }
    }
}

impl Fault for PrepareError {
    fn is_bad_input(&self) -> bool {
        match self {
            PrepareError::Render { source, .. } => source.is_bad_input(),
            PrepareError::Needs(error) => error.is_bad_input(),
        }
    }
}

impl Fault for AssembleError {
    /// A file that was not fetched or does not place is a failure; a
    /// context clash or a list that does not parse is the input's.
    fn is_bad_input(&self) -> bool {
        match self {
            AssembleError::Fetch(error) => error.is_bad_input(),
            AssembleError::ImageList { source, .. } => source.is_bad_input(),
            AssembleError::NotFetched { .. } => false,
        }
    }
}

impl Fault for SaveError {
    fn is_bad_input(&self) -> bool {
        match self {
            SaveError::Context(error) => error.is_bad_input(),
            SaveError::Pull { .. } | SaveError::Platform { .. } | SaveError::Base { .. } => false,
        }
    }
}

impl Fault for RenderStepError {
    fn is_bad_input(&self) -> bool {
        match self {
            RenderStepError::Prepare(error) => error.is_bad_input(),
            RenderStepError::Assemble(error) => error.is_bad_input(),
            RenderStepError::Context(error) => error.is_bad_input(),
            RenderStepError::Fetch(error) => error.is_bad_input(),
            RenderStepError::NeedsBinaries { .. } | RenderStepError::NeedsImage { .. } => true,
            RenderStepError::Binaries { .. } => false,
        }
    }
}

impl Fault for MirrorError {
    fn is_bad_input(&self) -> bool {
        match self {
            MirrorError::Fetch(error) => error.is_bad_input(),
            MirrorError::Needs(error) => error.is_bad_input(),
            MirrorError::Render(error) => error.is_bad_input(),
            MirrorError::NoPath { .. } | MirrorError::Io { .. } => false,
        }
    }
}

impl Fault for AppBuildError {
    /// The folder, Kubefile, version or a COPY path is the input's; a
    /// COPY --from without pulls as before (a failure), like fetches,
    /// pulls and writes that fail.
    fn is_bad_input(&self) -> bool {
        match self {
            AppBuildError::App(error) => error.is_bad_input(),
            AppBuildError::Write(error) => error.is_bad_input(),
            AppBuildError::Save(error) => error.is_bad_input(),
            AppBuildError::Fetch(error) => error.is_bad_input(),
            AppBuildError::Store(error) => error.is_bad_input(),
            AppBuildError::Inspect { source, .. } => source.is_bad_input(),
            AppBuildError::Tag { .. } => true,
            AppBuildError::NoArch { .. }
            | AppBuildError::Path { .. }
            | AppBuildError::NeedsPulls { .. }
            | AppBuildError::NoSuchPath { .. }
            | AppBuildError::Io { .. } => false,
        }
    }
}

impl Fault for VerifyError {
    fn is_bad_input(&self) -> bool {
        match self {
            VerifyError::Store(error) => error.is_bad_input(),
            VerifyError::Render { source, .. } => source.is_bad_input(),
            VerifyError::Cache { .. } => false,
        }
    }
}

impl Fault for ReportError {
    fn is_bad_input(&self) -> bool {
        match self {
            ReportError::Plan(error) => error.is_bad_input(),
            ReportError::Registry(error) => error.is_bad_input(),
        }
    }
}

impl Fault for RefreshError {
    /// A source that lists no releases is a registry that answered oddly.
    fn is_bad_input(&self) -> bool {
        match self {
            RefreshError::Write(error) => error.is_bad_input(),
            RefreshError::List { error, .. } => error.is_bad_input(),
            RefreshError::NoReleases { .. } => false,
        }
    }
}
