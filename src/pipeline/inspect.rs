//! `matrix app inspect`: the OCI image config an application build would
//! write, found by building one arch into a scratch layout exactly as
//! `app build --skip-images` does and reading the config back, so what is
//! shown is the config itself, not a second rendering of it.

use crate::app::{AppBuild, AppError};
use crate::axis::Arch;
use crate::oci::{Compression, Store, read_small, source_date_epoch};
use crate::registry::{ImageFrom, ImageReader, RegistryError};

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
        fetch: crate::fetch::FetchOptions::at(scratch.path().join("cache")),
        compression: Compression::DEFAULT,
        epoch: source_date_epoch(),
        images: ImageSource::Skip,
        save_platforms: Default::default(),
    };
    let report = app_build(request, &crate::progress::Silent)?;
    let Some(image) = report.arches.first() else {
        return Err(AppBuildError::NoArch {
            name: build.name.clone(),
            asked: vec![arch],
        });
    };
    let store = Store::open_existing(&scratch.path().join("oci"))?;
    // Read back through the one image reader: manifest typed, config
    // verified and bounded, shown as it was written.
    let reader = ImageReader::new(ImageFrom::Store(&store));
    let reference = format!("{}:{}", build.name, image.tag);
    let read = |error: RegistryError| AppBuildError::Inspect {
        reference: reference.clone(),
        source: Box::new(error),
    };
    let manifest = reader.image(&reference, arch).map_err(read)?.manifest;
    let path = reader.blob(manifest.config()).map_err(read)?;
    let what = path.display().to_string();
    let file = std::fs::File::open(&path).map_err(|e| {
        read(RegistryError::Io {
            what: what.clone(),
            source: e,
        })
    })?;
    let bytes = read_small(&what, file).map_err(|e| read(e.into()))?;
    serde_json::from_slice(&bytes).map_err(|e| {
        read(RegistryError::Invalid {
            what,
            message: e.to_string(),
        })
    })
}
