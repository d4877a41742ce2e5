//! `matrix app inspect`: the OCI image config an application build would
//! write, found by building one arch into a scratch layout exactly as
//! `app build --skip-images` does and reading the config back, so what is
//! shown is the config itself, not a second rendering of it.

use crate::app::{AppBuild, AppError};
use crate::axis::Arch;
use crate::oci::{Compression, Store, source_date_epoch};

use super::{AppBuildError, AppRequest, ImageSource, app_build};

/// The image config JSON of `build` for `arch`; nothing outside a
/// temporary folder is written.
pub fn inspect_app(build: &AppBuild, arch: Arch) -> Result<serde_json::Value, AppBuildError> {
    let scratch = tempfile::tempdir().map_err(|source| AppError::Io {
        what: "creating a scratch folder".into(),
        source,
    })?;
    let root = build
        .folder
        .parent()
        .and_then(std::path::Path::parent)
        .unwrap_or(std::path::Path::new("."))
        .to_path_buf();
    let request = AppRequest {
        root,
        kind: build.kind,
        name: build.name.clone(),
        version: build.version.clone(),
        arches: vec![arch],
        build_args: build.build_args.clone(),
        skip_init: build.skip_init,
        no_run: build.no_run,
        limit: build.limit,
        out: scratch.path().join("oci"),
        cache: scratch.path().join("cache"),
        compression: Compression::Gzip(6),
        epoch: source_date_epoch(),
        images: ImageSource::Skip,
    };
    let report = app_build(request, &crate::progress::Silent)?;
    let Some(image) = report.arches.first() else {
        return Err(AppBuildError::NoArch {
            name: build.name.clone(),
            asked: vec![arch],
        });
    };
    let store = Store::open_existing(&scratch.path().join("oci"))?;
    let manifest: serde_json::Value = store.read_json(&image.digest)?;
    let config = manifest
        .pointer("/config/digest")
        .and_then(|d| d.as_str())
        .unwrap_or_default();
    Ok(store.read_json(config)?)
}
