//! Image config, manifest and multi-arch index from layers and metadata,
//! as oci-spec values stored through the layout.

use oci_spec::image::{
    ConfigBuilder, Descriptor, HistoryBuilder, ImageConfigurationBuilder, ImageIndexBuilder,
    ImageManifestBuilder, MediaType, Os, PlatformBuilder, RootFsBuilder,
};

use super::config::ImageConfig;
use super::layer::LayerDesc;
use super::manifest::oci_arch;
use super::store::{Store, StoreError};
use super::time::rfc3339;
use crate::axis::Arch;

/// A stored manifest and what it cost.
#[derive(Debug, Clone)]
pub struct ManifestInfo {
    /// The manifest's descriptor (with platform).
    pub descriptor: Descriptor,
    /// Config plus layer bytes.
    pub size: u64,
}

/// One manifest of a multi-arch index.
#[derive(Debug, Clone)]
pub struct IndexEntry {
    /// The per-arch manifest.
    pub descriptor: Descriptor,
    /// Its architecture.
    pub arch: Arch,
}

fn invalid(error: impl std::fmt::Display) -> StoreError {
    StoreError::Invalid {
        path: "<image>".into(),
        message: error.to_string(),
    }
}

/// Writes the config and manifest of one image; `layers` pairs each layer
/// with the name its history entry shows.
pub fn build_manifest(
    store: &Store,
    arch: Arch,
    meta: &ImageConfig,
    layers: &[(String, LayerDesc)],
    epoch: u64,
) -> Result<ManifestInfo, StoreError> {
    let created = rfc3339(epoch);
    let mut config = ConfigBuilder::default().env(meta.env_list()).labels(
        meta.labels
            .clone()
            .into_iter()
            .collect::<std::collections::HashMap<_, _>>(),
    );
    if !meta.entrypoint.is_empty() {
        config = config.entrypoint(meta.entrypoint.clone());
    }
    if !meta.cmd.is_empty() {
        config = config.cmd(meta.cmd.clone());
    }
    let history = layers
        .iter()
        .map(|(name, _)| {
            HistoryBuilder::default()
                .created(created.clone())
                .created_by(format!("matrix build: {name}"))
                .build()
                .map_err(invalid)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut image = ImageConfigurationBuilder::default();
    if let Some(author) = &meta.author {
        image = image.author(author.clone());
    }
    let image = image
        .created(created)
        .architecture(oci_arch(arch))
        .os(Os::Linux)
        .config(config.build().map_err(invalid)?)
        .rootfs(
            RootFsBuilder::default()
                .typ("layers")
                .diff_ids(
                    layers
                        .iter()
                        .map(|(_, l)| l.diff_id.to_string())
                        .collect::<Vec<_>>(),
                )
                .build()
                .map_err(invalid)?,
        )
        .history(history)
        .build()
        .map_err(invalid)?;
    let config_descriptor = store.put_json(&image, MediaType::ImageConfig)?;
    let layer_descriptors = layers
        .iter()
        .map(|(_, layer)| {
            let digest = super::store::oci_digest(&layer.digest);
            Ok(Descriptor::new(
                layer.compression.media_type(),
                layer.size,
                digest,
            ))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let size = config_descriptor.size() + layers.iter().map(|(_, l)| l.size).sum::<u64>();
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(config_descriptor)
        .layers(layer_descriptors)
        .build()
        .map_err(invalid)?;
    let mut descriptor = store.put_json(&manifest, MediaType::ImageManifest)?;
    descriptor.set_platform(Some(
        PlatformBuilder::default()
            .architecture(oci_arch(arch))
            .os(Os::Linux)
            .build()
            .map_err(invalid)?,
    ));
    Ok(ManifestInfo { descriptor, size })
}

/// Writes a multi-arch index over per-arch manifests (sorted by arch).
pub fn build_index(store: &Store, entries: &[IndexEntry]) -> Result<Descriptor, StoreError> {
    let mut sorted = entries.to_vec();
    sorted.sort_by_key(|entry| entry.arch);
    let manifests = sorted
        .into_iter()
        .map(|entry| {
            let mut descriptor = entry.descriptor;
            descriptor.set_annotations(None);
            descriptor.set_platform(Some(
                PlatformBuilder::default()
                    .architecture(oci_arch(entry.arch))
                    .os(Os::Linux)
                    .build()
                    .map_err(invalid)?,
            ));
            Ok(descriptor)
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(manifests)
        .build()
        .map_err(invalid)?;
    store.put_json(&index, MediaType::ImageIndex)
}

/// Stores `document` (canonical JSON, media type `artifact_type`) and an
/// OCI 1.1 artifact manifest pointing at it with `subject` (the image it
/// describes) and `artifactType`; returns the manifest's descriptor, with
/// the artifact type, for `index.json` or a registry's referrers list.
pub fn build_referrer(
    store: &Store,
    subject: &Descriptor,
    artifact_type: &str,
    document: &serde_json::Value,
) -> Result<Descriptor, StoreError> {
    let blob = store.put_json(document, MediaType::Other(artifact_type.to_string()))?;
    let empty = store.put_json(&serde_json::json!({}), MediaType::EmptyJSON)?;
    let subject = Descriptor::new(
        subject.media_type().clone(),
        subject.size(),
        subject.digest().clone(),
    );
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MediaType::ImageManifest.to_string(),
        "artifactType": artifact_type,
        "config": empty,
        "layers": [blob],
        "subject": subject,
    });
    let mut descriptor = store.put_json(&manifest, MediaType::ImageManifest)?;
    descriptor.set_artifact_type(Some(MediaType::Other(artifact_type.to_string())));
    Ok(descriptor)
}
