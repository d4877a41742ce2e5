//! The pipeline: what commands do with the plan, the cache, the store and
//! registries. Building recipes into the layout (`build`), saving a
//! recipe's images into `registry/` (`save`), publishing built images
//! (`push`), comparing planned tags with published ones (`diff`) and
//! checking built images against the contract (`verify`). The
//! CLI parses arguments, calls one of these and prints.

mod app;
pub mod build;
mod diff;
mod fetch;
mod push;
mod render;
mod report;
mod report_html;
mod save;
mod sync;
mod verify;
mod versions;

pub use app::{AppBuildError, AppImage, AppReport, AppRequest, app_build};
pub use build::{
    BaseImage, BaseLayer, BuildError, BuildOptions, BuildReport, BuildRequest, CellError, CellRecord,
    CellResult, ImageSaver, ImageSource, LayerSlots, SaveError, Status, build, build_cells, render_all,
    rootfs_layers, write_recipe,
};
pub use diff::{ImageDiff, RegistryDiff, diff, missing_from};
pub use fetch::{
    FetchReport, FetchSet, MirrorError, MirrorReport, MirrorSource, artifacts_of, fetch_set, mirror,
};
pub use push::{PushReport, PushedRef, push, push_image};
pub use render::{FileRecord, RenderRecord, RenderRequest, RenderStepError, render_contexts};
pub use report::{GridCell, ImageGrid, Lag, MinorRows, Report, ReportError, Row, State, report};
pub use report_html::html as report_html;
pub use save::{Puller, REGISTRY_ROOT, RegistrySaver};
pub use sync::{SyncReport, sync};
pub use verify::{ImageVerdict, VerifyError, VerifyReport, VerifySource, verify};
pub use versions::{
    GithubRelease, KubeadmListError, NewSealos, Refresh, RefreshAllError, RefreshError, RefreshOptions,
    RefreshReport, ReleasesError, github_releases, kube_release_days, kubeadm_images, kubeadm_updates,
    line_diff, new_k3s_releases, new_sealos_releases, parse_github_releases, parse_kubeadm_images, refresh,
    refresh_all,
};
