//! OCI images without a daemon: deterministic tar layers, image configs,
//! manifests and indexes built with `oci-spec` types, kept in an OCI image
//! layout (`blobs/sha256`, `index.json`) that every write leaves valid.

mod config;
mod fill;
mod fsck;
mod image;
mod layer;
mod layers;
mod manifest;
mod pgzip;
mod refs;
mod store;
mod time;

pub use config::ImageConfig;
pub use fsck::{Defect, FsckReport, Problem};
pub use image::{IndexEntry, ManifestInfo, build_index, build_manifest, build_referrer};
pub use layer::{Compression, CompressionError, LayerDesc, LayerError, LayerFile, LayerSpec, write_layer};
pub use layers::{LayerEntry, LayerTree, MAX_LAYER_ENTRIES};
pub use manifest::{
    DOCKER_LIST, DOCKER_MANIFEST, Document, DocumentError, DocumentKind, MAX_MANIFEST, descriptor_digest,
    document_kind, manifest_blobs, platform_entries, platform_manifest, platform_name, read_small,
};
pub use pgzip::{BLOCK as GZIP_BLOCK, member_into as gzip_member_into};
pub use refs::{RefLayout, STAND_IN_LABEL, StandIn};
pub use store::{BlobProblem, GcReport, REF_NAME, RefName, Store, StoreError, oci_digest, ref_name};
pub use time::{rfc3339, source_date_epoch};

impl crate::error::Fault for StoreError {
    /// A folder that is not an OCI layout was named by the user; every
    /// other store error is trouble with the disk or the layout's content.
    fn is_bad_input(&self) -> bool {
        matches!(self, StoreError::NotALayout { .. } | StoreError::Foreign { .. })
    }
}

impl crate::error::Fault for LayerError {
    fn is_bad_input(&self) -> bool {
        match self {
            LayerError::Store { source, .. } => crate::error::Fault::is_bad_input(source),
            _ => false,
        }
    }
}

crate::error::fault!(failure: BlobProblem);
