//! An OCI image layout whose images are addressed by full reference
//! (`registry.k8s.io/pause:3.7` in `org.opencontainers.image.ref.name`), as
//! `skopeo copy docker://X oci:DIR:X` leaves them: the offline source of the
//! images a build saves into `registry/`. It also writes stand-in images:
//! tiny, marked, multi-arch images with the names of the real ones, so the
//! `registry/` stage runs with no network.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use oci_spec::image::{Descriptor, ImageIndex, MediaType};
use serde_json::json;

use crate::axis::Arch;
use crate::digest::Sha256;

use super::REF_NAME;
use super::manifest::{descriptor_digest, read_small};
use super::store::oci_digest;
const INDEX_TYPE: &str = "application/vnd.oci.image.index.v1+json";
const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// The label every stand-in image carries.
pub const STAND_IN_LABEL: &str = "io.matrix.stand-in";

/// A layout of images by reference.
#[derive(Debug, Clone)]
pub struct RefLayout {
    root: PathBuf,
}

impl RefLayout {
    /// The layout at `root` (created on first write).
    pub fn at(root: &Path) -> RefLayout {
        RefLayout {
            root: root.to_path_buf(),
        }
    }

    /// Where the layout is.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The blob file of `digest` (it may be missing or wrong: check it).
    pub fn blob_path(&self, digest: &Sha256) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.hex())
    }

    /// The references `index.json` lists, each with its descriptor.
    fn refs(&self) -> io::Result<BTreeMap<String, Descriptor>> {
        let path = self.root.join("index.json");
        let file = match fs::File::open(&path) {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
            Err(error) => return Err(error),
        };
        let what = path.display().to_string();
        let bytes = read_small(&what, file).map_err(invalid)?;
        let index: ImageIndex =
            serde_json::from_slice(&bytes).map_err(|e| invalid(format!("{what}: {e}")))?;
        Ok(index
            .manifests()
            .iter()
            .filter_map(|m| Some((super::ref_name(m)?.to_string(), m.clone())))
            .collect())
    }

    /// The descriptor `index.json` gives `reference`, if any.
    pub fn descriptor(&self, reference: &str) -> io::Result<Option<Descriptor>> {
        Ok(self.refs()?.remove(reference))
    }

    /// Reads and verifies a small JSON blob a descriptor points at; one
    /// larger than its descriptor or [`super::MAX_MANIFEST`] is not read.
    pub fn json_blob(&self, descriptor: &Descriptor) -> io::Result<(Sha256, Vec<u8>)> {
        let digest = descriptor_digest("a layout descriptor", descriptor).map_err(invalid)?;
        let path = self.blob_path(&digest);
        let file = fs::File::open(&path)?;
        let what = path.display().to_string();
        let bytes = read_small(&what, file.take(descriptor.size().saturating_add(1))).map_err(invalid)?;
        if Sha256::of(&bytes) != digest {
            return Err(invalid(format!("{what} does not match its digest")));
        }
        Ok((digest, bytes))
    }

    /// Writes a stand-in image for each of `references` (an index over
    /// `arches`, one marked file a platform), replacing earlier entries of
    /// the same names. Deterministic: the same names give the same digests.
    pub fn write_stand_ins(&self, references: &[String], arches: &[Arch]) -> io::Result<usize> {
        let images: Vec<StandIn> = references
            .iter()
            .map(|reference| StandIn {
                reference: reference.clone(),
                arches: arches.to_vec(),
                files: Vec::new(),
            })
            .collect();
        self.write_images(&images)
    }

    /// Writes stand-in images whose layer holds `files` besides the
    /// `STAND-IN` marker (an image a component takes files out of).
    pub fn write_images(&self, images: &[StandIn]) -> io::Result<usize> {
        fs::create_dir_all(self.root.join("blobs/sha256"))?;
        write_file(
            &self.root.join("oci-layout"),
            br#"{"imageLayoutVersion":"1.0.0"}"#,
        )?;
        let mut refs = self.refs()?;
        for image in images {
            let reference = &image.reference;
            let mut manifests = Vec::new();
            for arch in &image.arches {
                let (layer, diff_id) = stand_in_layer(reference, *arch, &image.files)?;
                let layer_digest = self.put(&layer)?;
                let config = json!({
                    "created": "1970-01-01T00:00:00Z",
                    "architecture": arch.as_str(),
                    "os": "linux",
                    "config": { "Labels": { STAND_IN_LABEL: "true" } },
                    "rootfs": { "type": "layers", "diff_ids": [diff_id.to_string()] },
                });
                let config = serde_json::to_vec(&config).map_err(invalid)?;
                let config_digest = self.put(&config)?;
                let manifest = json!({
                    "schemaVersion": 2,
                    "mediaType": MANIFEST_TYPE,
                    "config": {
                        "mediaType": "application/vnd.oci.image.config.v1+json",
                        "digest": config_digest.to_string(),
                        "size": config.len(),
                    },
                    "layers": [{
                        "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                        "digest": layer_digest.to_string(),
                        "size": layer.len(),
                    }],
                    "annotations": { STAND_IN_LABEL: "true" },
                });
                let manifest = serde_json::to_vec(&manifest).map_err(invalid)?;
                let digest = self.put(&manifest)?;
                manifests.push(json!({
                    "mediaType": MANIFEST_TYPE,
                    "digest": digest.to_string(),
                    "size": manifest.len(),
                    "platform": { "architecture": arch.as_str(), "os": "linux" },
                }));
            }
            let index = serde_json::to_vec(&json!({
                "schemaVersion": 2,
                "mediaType": INDEX_TYPE,
                "manifests": manifests,
            }))
            .map_err(invalid)?;
            let digest = self.put(&index)?;
            let mut descriptor =
                Descriptor::new(MediaType::ImageIndex, index.len() as u64, oci_digest(&digest));
            descriptor.set_annotations(Some([(REF_NAME.to_string(), reference.clone())].into()));
            refs.insert(reference.clone(), descriptor);
        }
        let index = json!({
            "schemaVersion": 2,
            "mediaType": INDEX_TYPE,
            "manifests": refs.into_values().collect::<Vec<_>>(),
        });
        write_file(
            &self.root.join("index.json"),
            &serde_json::to_vec_pretty(&index).map_err(invalid)?,
        )?;
        Ok(images.len())
    }

    /// Stores bytes as a blob (atomically); its digest.
    fn put(&self, bytes: &[u8]) -> io::Result<Sha256> {
        let digest = Sha256::of(bytes);
        let path = self.blob_path(&digest);
        let intact = fs::read(&path).is_ok_and(|existing| existing == bytes);
        if !intact {
            write_file(&path, bytes)?;
        }
        Ok(digest)
    }
}

/// A stand-in image to write: its name, platforms and extra files
/// (path, bytes, mode).
#[derive(Debug, Clone)]
pub struct StandIn {
    /// Full reference.
    pub reference: String,
    /// Platforms of its index.
    pub arches: Vec<Arch>,
    /// Files its layer holds besides the marker.
    pub files: Vec<(String, Vec<u8>, u32)>,
}

/// The gzip layer of a stand-in image and its diff id.
fn stand_in_layer(
    reference: &str,
    arch: Arch,
    files: &[(String, Vec<u8>, u32)],
) -> io::Result<(Vec<u8>, Sha256)> {
    let text = format!(
        "STAND-IN for the image {reference} (linux/{arch}), generated by `matrix mirror --stand-ins`.\n\
         Not the real image: it lets the registry/ stage of a build run without the internet.\n"
    );
    let marker = ("STAND-IN".to_string(), text.into_bytes(), 0o644);
    let mut sorted: Vec<&(String, Vec<u8>, u32)> = std::iter::once(&marker).chain(files).collect();
    sorted[1..].sort_by(|a, b| a.0.cmp(&b.0));
    let mut tar = tar::Builder::new(Vec::new());
    for (path, bytes, mode) in sorted {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(bytes.len() as u64);
        header.set_mode(*mode);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        tar.append_data(&mut header, path, bytes.as_slice())?;
    }
    let raw = tar.into_inner()?;
    let diff_id = Sha256::of(&raw);
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::best());
    gz.write_all(&raw)?;
    Ok((gz.finish()?, diff_id))
}

fn write_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    crate::fsutil::write_atomic(path, bytes)
}

fn invalid(error: impl ToString) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, error.to_string())
}
