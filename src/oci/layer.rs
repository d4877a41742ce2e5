//! Deterministic layers: entries sorted, parent folders added, mtime from
//! `SOURCE_DATE_EPOCH` (or 0), uid/gid 0 and no user names; one pass
//! through tar -> (diff_id hash) -> gzip -> (digest hash) -> temp blob.

use std::collections::BTreeSet;
use std::io::{self, Read, Write};

use oci_spec::image::MediaType;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::fill::Fill;
use super::store::{Store, StoreError};
use crate::context::{Content, Context, Entry};
use crate::digest::{HashingWriter, Sha256};

/// Docker schema 2's gzip layer.
const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// The zstd layer Docker and containerd write.
const DOCKER_LAYER_ZSTD: &str = "application/vnd.docker.image.rootfs.diff.tar.zstd";

/// How layer blobs are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Compression {
    /// Plain tar (for content that is already compressed).
    None,
    /// gzip at this level (0-9).
    Gzip(u32),
    /// zstd at this level (1-19).
    Zstd(i32),
}

impl Compression {
    /// What `--compression` defaults to and plain `gzip` means: on real
    /// programs libdeflate's level 5 writes 0.6 % more bytes than level 6
    /// in 83 % of its time (see `--help`).
    pub const DEFAULT: Compression = Compression::Gzip(5);

    /// How a layer of this OCI or Docker media type is compressed (levels
    /// are those this project writes; reading ignores them).
    pub fn of_media_type(media_type: &MediaType) -> Compression {
        match media_type {
            MediaType::ImageLayerGzip | MediaType::ImageLayerNonDistributableGzip => Compression::Gzip(6),
            MediaType::ImageLayerZstd | MediaType::ImageLayerNonDistributableZstd => Compression::Zstd(3),
            MediaType::Other(other) if other == DOCKER_LAYER_GZIP => Compression::Gzip(6),
            MediaType::Other(other) if other == DOCKER_LAYER_ZSTD => Compression::Zstd(3),
            _ => Compression::None,
        }
    }

    /// A reader of a layer's tar stream, decompressing as this says.
    pub fn reader<'r>(self, blob: impl std::io::Read + 'r) -> std::io::Result<Box<dyn std::io::Read + 'r>> {
        Ok(match self {
            Compression::Gzip(_) => {
                Box::new(flate2::read::MultiGzDecoder::new(std::io::BufReader::new(blob)))
            }
            Compression::Zstd(_) => Box::new(zstd::stream::read::Decoder::new(blob)?),
            Compression::None => Box::new(std::io::BufReader::new(blob)),
        })
    }

    /// The OCI media type of a layer compressed this way.
    pub fn media_type(self) -> MediaType {
        match self {
            Compression::None => MediaType::ImageLayer,
            Compression::Gzip(_) => MediaType::ImageLayerGzip,
            Compression::Zstd(_) => MediaType::ImageLayerZstd,
        }
    }
}

/// Why a `--compression` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompressionError {
    /// A gzip level outside 0-9.
    #[error("`{0}` is not a gzip level 0-9")]
    GzipLevel(String),
    /// A zstd level outside 1-19.
    #[error("`{0}` is not a zstd level 1-19")]
    ZstdLevel(String),
    /// Not a compression at all.
    #[error("`{0}` is not a compression: use gzip, gzip:LEVEL, zstd, zstd:LEVEL or none")]
    Unknown(String),
}

impl std::str::FromStr for Compression {
    type Err = CompressionError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.split_once(':') {
            None if text == "none" => Ok(Compression::None),
            None if text == "gzip" => Ok(Compression::DEFAULT),
            None if text == "zstd" => Ok(Compression::Zstd(3)),
            Some(("gzip", level)) => match level.parse::<u32>() {
                Ok(level) if level <= 9 => Ok(Compression::Gzip(level)),
                _ => Err(CompressionError::GzipLevel(level.to_string())),
            },
            Some(("zstd", level)) => match level.parse::<i32>() {
                Ok(level) if (1..=19).contains(&level) => Ok(Compression::Zstd(level)),
                _ => Err(CompressionError::ZstdLevel(level.to_string())),
            },
            _ => Err(CompressionError::Unknown(text.to_string())),
        }
    }
}

/// One file of a layer.
#[derive(Debug, Clone)]
pub struct LayerFile<'a> {
    /// Path inside the image.
    pub path: &'a str,
    /// The context entry.
    pub entry: &'a Entry,
}

/// What goes into one layer.
#[derive(Debug, Clone)]
pub struct LayerSpec<'a> {
    /// A name for history and progress (`kube`, `runtime`, `cell`).
    pub name: String,
    /// Its files, in any order (they are sorted when written).
    pub files: Vec<LayerFile<'a>>,
    /// Requested compression (already-compressed content is stored plain).
    pub compression: Compression,
    /// Timestamp for every entry.
    pub mtime: u64,
}

/// A written layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerDesc {
    /// Digest of the blob.
    pub digest: Sha256,
    /// Digest of the uncompressed tar.
    pub diff_id: Sha256,
    /// Blob size.
    pub size: u64,
    /// Compression used.
    pub compression: Compression,
}

/// Why a layer could not be written.
#[derive(Debug, Error)]
pub enum LayerError {
    /// Reading an input file failed.
    #[error("layer {layer}: cannot read {path}: {source}")]
    Read {
        /// Layer name.
        layer: String,
        /// Path inside the image.
        path: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The disk filled up while the blob was written.
    #[error("layer {layer}: no space left writing {}", path.display())]
    NoSpace {
        /// Layer name.
        layer: String,
        /// The blob being written.
        path: std::path::PathBuf,
    },
    /// Writing the blob failed.
    #[error("layer {layer}: {source}")]
    Store {
        /// Layer name.
        layer: String,
        /// Why.
        #[source]
        source: StoreError,
    },
}

impl LayerSpec<'_> {
    /// A key that changes whenever the layer's bytes would: every path,
    /// mode, link and content identity, plus compression and mtime. Large
    /// verified files are identified by digest, never re-read.
    pub fn input_key(&self) -> Result<Sha256, LayerError> {
        let mut text = format!(
            "layer v1\nmtime {}\ncompression {:?}\n",
            self.mtime,
            self.effective_compression()
        );
        for file in self.sorted() {
            let identity = match &file.entry.content {
                Content::Verified { id, .. } => id.clone(),
                Content::Symlink(target) => format!("link:{target}"),
                Content::Bytes(bytes) => Sha256::of(bytes).to_string(),
                Content::File(path) => file_identity(path)
                    .map_err(|source| self.read_error(file.path, source))?
                    .to_string(),
            };
            text.push_str(&format!("{} {:o} {identity}\n", file.path, file.entry.mode));
        }
        Ok(Sha256::of(text.as_bytes()))
    }

    fn read_error(&self, path: &str, source: io::Error) -> LayerError {
        LayerError::Read {
            layer: self.name.clone(),
            path: path.to_string(),
            source,
        }
    }

    fn sorted(&self) -> Vec<&LayerFile<'_>> {
        let mut files: Vec<&LayerFile<'_>> = self.files.iter().collect();
        files.sort_by(|a, b| a.path.cmp(b.path));
        files
    }

    /// Gzip buys nothing for content that is already compressed (CRI
    /// tarballs, saved registry blobs): such layers are stored plain.
    pub fn effective_compression(&self) -> Compression {
        let mut compressed = 0u64;
        let mut total = 0u64;
        for file in &self.files {
            let size = entry_size(file.entry);
            total += size;
            if looks_compressed(file.path, file.entry) {
                compressed += size;
            }
        }
        if total > 0 && compressed * 10 >= total * 9 {
            Compression::None
        } else {
            self.compression
        }
    }
}

fn entry_size(entry: &Entry) -> u64 {
    match &entry.content {
        Content::Bytes(bytes) => bytes.len() as u64,
        Content::File(path) | Content::Verified { path, .. } => {
            std::fs::metadata(path).map_or(0, |m| m.len())
        }
        Content::Symlink(_) => 0,
    }
}

fn looks_compressed(path: &str, entry: &Entry) -> bool {
    const SUFFIXES: [&str; 6] = [".gz", ".tgz", ".zst", ".xz", ".bz2", ".zip"];
    if SUFFIXES.iter().any(|suffix| path.ends_with(suffix)) {
        return true;
    }
    let mut magic = [0u8; 4];
    let Ok(mut reader) = Context::open(entry) else {
        return false;
    };
    match reader.read_exact(&mut magic) {
        Ok(()) => {
            magic[..2] == [0x1f, 0x8b]
                || magic == [0x28, 0xb5, 0x2f, 0xfd]
                || magic == [0xfd, 0x37, 0x7a, 0x58]
        }
        Err(_) => false,
    }
}

/// Every folder above the files, so the tar carries their modes too.
fn parent_dirs<'a>(files: &[&LayerFile<'a>]) -> BTreeSet<String> {
    let mut dirs = BTreeSet::new();
    for file in files {
        let mut path = file.path;
        while let Some((parent, _)) = path.rsplit_once('/') {
            dirs.insert(parent.to_string());
            path = parent;
        }
    }
    dirs
}

fn header(kind: tar::EntryType, mode: u32, size: u64, mtime: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_size(size);
    header.set_mtime(mtime);
    header.set_uid(0);
    header.set_gid(0);
    // Empty user and group names: nothing of the build host leaks in.
    let _ = header.set_username("");
    let _ = header.set_groupname("");
    header
}

/// The bytes tar writes before a file's data: a GNU long-name entry when
/// the path needs one, then the header. tar's own builder makes them, so
/// they are exactly what `append_data` would write.
fn entry_lead(header: &mut tar::Header, path: &str) -> io::Result<Vec<u8>> {
    let mut lead = tar::Builder::new(Vec::new());
    lead.mode(tar::HeaderMode::Deterministic);
    lead.append_data(header, path, io::empty())?;
    // Not `into_inner`, which would add the end-of-archive blocks.
    Ok(std::mem::take(lead.get_mut()))
}

/// Zero bytes that pad `size` bytes of data to tar's 512-byte blocks.
fn padding(size: u64) -> usize {
    ((512 - size % 512) % 512) as usize
}

/// The digest of a context file, hashed once per run: every cell of a CRI
/// shares the same runtime files.
fn file_identity(path: &std::path::Path) -> io::Result<Sha256> {
    crate::digest::file_sha256(path)
}

/// Writes the layer's blob into the store (or finds it there) and returns
/// its descriptor.
pub fn write_layer(store: &Store, spec: &LayerSpec<'_>) -> Result<LayerDesc, LayerError> {
    let temp = store.temp_blob().map_err(|source| LayerError::Store {
        layer: spec.name.clone(),
        source,
    })?;
    let path = temp.path().to_path_buf();
    write_layer_to(store, spec, temp).map_err(|error| match error {
        // Compressors and tar report a full disk as a failed write of the
        // stream; say where.
        LayerError::Read { layer, source, .. } if source.kind() == io::ErrorKind::StorageFull => {
            LayerError::NoSpace { layer, path }
        }
        other => other,
    })
}

fn write_layer_to(
    store: &Store,
    spec: &LayerSpec<'_>,
    temp: tempfile::NamedTempFile,
) -> Result<LayerDesc, LayerError> {
    let store_error = |source| LayerError::Store {
        layer: spec.name.clone(),
        source,
    };
    let compression = spec.effective_compression();
    let started = std::time::Instant::now();
    let mut gzip_times = super::pgzip::GzipTimes::default();
    let file = temp
        .reopen()
        .map_err(|source| store_error(StoreError::io("opening a temp blob", source)))?;
    // Small writes (tar headers of a plain layer) are gathered; a gzip
    // member or a file's run is larger than the buffer and goes straight
    // to the file, uncopied.
    let blob = HashingWriter::new(io::BufWriter::with_capacity(64 << 10, file));
    let finish = |blob: HashingWriter<io::BufWriter<std::fs::File>>| {
        let (buffered, (digest, size)) = blob.finish();
        (buffered, digest, size)
    };
    let (diff_id, mut buffered, digest, size) = match compression {
        Compression::None => {
            // The blob is the tar: one hash gives both digests.
            let (blob, _) = write_tar(spec, blob)?;
            let (buffered, digest, size) = finish(blob);
            (digest.clone(), buffered, digest, size)
        }
        Compression::Gzip(level) => {
            let gz = super::pgzip::ParallelGzip::new(blob, level);
            let (tar_out, _) = write_tar(spec, HashingWriter::new(gz))?;
            let (gz, (diff_id, _)) = tar_out.finish();
            let (blob, times) = gz.finish().map_err(|source| spec.read_error("<gzip>", source))?;
            gzip_times = times;
            let (buffered, digest, size) = finish(blob);
            (diff_id, buffered, digest, size)
        }
        Compression::Zstd(level) => {
            let encoder =
                zstd::Encoder::new(blob, level).map_err(|source| spec.read_error("<zstd>", source))?;
            let (tar_out, _) = write_tar(spec, HashingWriter::new(encoder))?;
            let (encoder, (diff_id, _)) = tar_out.finish();
            let blob = encoder
                .finish()
                .map_err(|source| spec.read_error("<zstd>", source))?;
            let (buffered, digest, size) = finish(blob);
            (diff_id, buffered, digest, size)
        }
    };
    buffered
        .flush()
        .map_err(|source| spec.read_error("<blob>", source))?;
    let written = started.elapsed();
    store.commit_blob(temp, &digest).map_err(store_error)?;
    tracing::debug!(
        layer = %spec.name,
        blob_mb = size as f64 / 1e6,
        write_ms = written.as_millis(),
        deflate_core_ms = gzip_times.deflate.as_millis(),
        deflate_wait_ms = gzip_times.drain.as_millis(),
        commit_ms = (started.elapsed() - written).as_millis(),
        "layer written"
    );
    Ok(LayerDesc {
        digest,
        diff_id,
        size,
        compression,
    })
}

fn write_tar<W: Fill>(spec: &LayerSpec<'_>, out: W) -> Result<(W, ()), LayerError> {
    let files = spec.sorted();
    let mut tar = tar::Builder::new(out);
    tar.mode(tar::HeaderMode::Deterministic);
    let io_error = |path: &str, source| spec.read_error(path, source);
    // Folders first (sorted), so extraction creates them with fixed modes.
    let mut entries: Vec<(String, Option<&LayerFile<'_>>)> =
        parent_dirs(&files).into_iter().map(|dir| (dir, None)).collect();
    entries.extend(files.iter().map(|file| (file.path.to_string(), Some(*file))));
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    for (path, file) in entries {
        match file {
            None => {
                let mut h = header(tar::EntryType::Directory, 0o755, 0, spec.mtime);
                tar.append_data(&mut h, format!("{path}/"), io::empty())
                    .map_err(|e| io_error(&path, e))?;
            }
            Some(file) => match &file.entry.content {
                Content::Symlink(target) => {
                    let mut h = header(tar::EntryType::Symlink, 0o777, 0, spec.mtime);
                    tar.append_link(&mut h, &path, target)
                        .map_err(|e| io_error(&path, e))?;
                }
                Content::Bytes(bytes) => {
                    let mut h = header(
                        tar::EntryType::Regular,
                        file.entry.mode,
                        bytes.len() as u64,
                        spec.mtime,
                    );
                    tar.append_data(&mut h, &path, bytes.as_slice())
                        .map_err(|e| io_error(&path, e))?;
                }
                Content::File(source) | Content::Verified { path: source, .. } => {
                    let mut reader = std::fs::File::open(source).map_err(|e| io_error(&path, e))?;
                    let size = reader.metadata().map_err(|e| io_error(&path, e))?.len();
                    let mut h = header(tar::EntryType::Regular, file.entry.mode, size, spec.mtime);
                    // tar writes the header (and a long-name entry if the
                    // path needs one); the data is read straight into the
                    // writer, uncopied.
                    let lead = entry_lead(&mut h, &path).map_err(|e| io_error(&path, e))?;
                    let out = tar.get_mut();
                    out.write_all(&lead)
                        .and_then(|()| out.fill_from(&mut reader, size, &mut |_| {}))
                        .and_then(|()| out.write_all(&[0; 512][..padding(size)]))
                        .map_err(|e| io_error(&path, e))?;
                }
            },
        }
    }
    let out = tar.into_inner().map_err(|e| io_error("<tar>", e))?;
    Ok((out, ()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::{Content, Entry, Origin};

    /// The same layer written on 1 and on 4 threads has the same bytes.
    #[test]
    fn layers_do_not_depend_on_the_core_count() {
        let mut text = String::new();
        for line in 0..200_000 {
            text.push_str(&format!(
                "line {line} of a layer that spans several gzip blocks\n"
            ));
        }
        let entry = Entry {
            content: Content::Bytes(text.into_bytes()),
            mode: 0o644,
            origin: Origin::Generated("test"),
        };
        let digest_on = |threads: usize| {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open(dir.path()).unwrap();
            let spec = LayerSpec {
                name: "big".into(),
                files: vec![LayerFile {
                    path: "data/big.txt",
                    entry: &entry,
                }],
                compression: Compression::Gzip(6),
                mtime: 0,
            };
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| write_layer(&store, &spec).unwrap())
        };
        let one = digest_on(1);
        let four = digest_on(4);
        assert_eq!(one.digest, four.digest);
        assert_eq!(one.diff_id, four.diff_id);
        assert!(one.size < 2_000_000, "compressed: {}", one.size);
    }

    /// Files are read straight into the writer, yet the tar stream is
    /// byte for byte what tar's own `append_data` writes: long names,
    /// sizes off tar's 512-byte blocks, and a file larger than a gzip block.
    #[test]
    fn file_entries_are_the_bytes_tar_writes() {
        let dir = tempfile::tempdir().unwrap();
        let long = format!("usr/share/{}/{}.txt", "d".repeat(120), "f".repeat(90));
        let files: Vec<(String, Vec<u8>)> = vec![
            (
                "bin/kubelet".into(),
                (0..super::super::GZIP_BLOCK * 2 + 777)
                    .map(|i| (i * 31 % 251) as u8)
                    .collect(),
            ),
            (long, b"a path over 100 bytes".to_vec()),
            ("etc/empty".into(), Vec::new()),
        ];
        let entries: Vec<Entry> = files
            .iter()
            .enumerate()
            .map(|(index, (_, bytes))| {
                let path = dir.path().join(format!("f{index}"));
                std::fs::write(&path, bytes).unwrap();
                Entry {
                    content: Content::File(path),
                    mode: 0o755,
                    origin: Origin::Generated("test"),
                }
            })
            .collect();
        let spec = LayerSpec {
            name: "files".into(),
            files: files
                .iter()
                .zip(&entries)
                .map(|((path, _), entry)| LayerFile { path, entry })
                .collect(),
            compression: Compression::None,
            mtime: 0,
        };
        let (ours, ()) = write_tar(&spec, io::BufWriter::new(Vec::new())).unwrap();
        let ours = ours.into_inner().unwrap();
        // The same entries through tar alone.
        let mut reference = tar::Builder::new(Vec::new());
        let mut sorted: Vec<&(String, Vec<u8>)> = files.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        let dirs = parent_dirs(&spec.sorted());
        let mut names: Vec<(String, Option<&Vec<u8>>)> = dirs.into_iter().map(|d| (d, None)).collect();
        names.extend(sorted.iter().map(|(path, bytes)| (path.clone(), Some(bytes))));
        names.sort_by(|a, b| a.0.cmp(&b.0));
        for (path, bytes) in names {
            match bytes {
                None => {
                    let mut h = header(tar::EntryType::Directory, 0o755, 0, 0);
                    reference
                        .append_data(&mut h, format!("{path}/"), io::empty())
                        .unwrap();
                }
                Some(bytes) => {
                    let mut h = header(tar::EntryType::Regular, 0o755, bytes.len() as u64, 0);
                    reference.append_data(&mut h, &path, bytes.as_slice()).unwrap();
                }
            }
        }
        assert_eq!(ours, reference.into_inner().unwrap());
    }

    /// A file that shrinks between its size being read and its bytes being
    /// read fails the layer; it never gives a short, corrupt entry.
    #[test]
    fn a_file_that_ends_early_fails_the_layer() {
        let mut gz = super::super::pgzip::ParallelGzip::new(Vec::new(), 6);
        let error = gz
            .fill_from(&mut &b"only 11 by"[..], 64, &mut |_| {})
            .unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
        let mut plain = io::BufWriter::new(Vec::new());
        let error = plain.fill_from(&mut &b"short"[..], 6, &mut |_| {}).unwrap_err();
        assert!(error.to_string().contains("1 bytes early"), "{error}");
    }
}
