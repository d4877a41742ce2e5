//! The pipeline: what commands do with the plan, the cache, the store and
//! registries. Turning cells (`build`) and application folders (`app`)
//! into recipes, writing any recipe into the layout (`write`), pointing
//! tags and indexes at what was written (`publish`), saving a recipe's
//! images into `registry/` (`save`), pushing built images (`push`),
//! copying between registries (`sync`), comparing planned tags with
//! published ones (`diff`) and checking built images against the contract
//! (`verify`). The CLI parses arguments, calls one of these and prints.

mod app;
pub mod build;
mod diff;
mod fetch;
mod publish;
mod push;
mod render;
mod report;
mod report_html;
mod save;
mod sync;
mod verify;
mod versions;
mod write;

pub use app::{AppBuildError, AppImage, AppReport, AppRequest, app_build};
pub use build::{
    BuildError, BuildOptions, BuildReport, BuildRequest, CellError, CellResult, Status, build, build_cells,
    render_all, rootfs_layers,
};
pub use diff::{ImageDiff, RegistryDiff, diff, missing_from};
pub use fetch::{
    FetchReport, FetchSet, MirrorError, MirrorReport, MirrorSource, artifacts_of, fetch_set, mirror,
};
pub use publish::{Placement, app_tag, publish};
pub use push::{PushReport, PushedRef, push, push_image};
pub use render::{FileRecord, RenderRecord, RenderRequest, RenderStepError, render_contexts};
pub use report::{GridCell, ImageGrid, Lag, MinorRows, Report, ReportError, Row, State, report};
pub use report_html::html as report_html;
pub use save::{
    BaseImage, BaseLayer, ImageSaver, ImageSource, Puller, REGISTRY_ROOT, RegistrySaver, SaveError,
};
pub use sync::{SyncReport, sync};
pub use verify::{ImageVerdict, VerifyError, VerifyReport, VerifySource, verify};
pub use versions::{Refresh, RefreshError, refresh};
pub use write::{CellRecord, LayerSlots, WriteError, WriteOptions, Written, write_recipe};
