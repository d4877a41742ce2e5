//! Safe extraction of tar.gz archives: every entry stays inside the
//! destination (no absolute paths, no `..`, no links leading out), no
//! device files, exec bits kept; written to a temp folder and renamed.

use std::fs;
use std::io::{self, Read};
use std::path::{Component, Path};

use thiserror::Error;

use crate::context::{link_stays_inside, normal_mode};

/// Why an archive was refused or could not be unpacked.
#[derive(Debug, Error)]
pub enum ExtractError {
    /// An entry would land outside the destination, or is a device.
    #[error("archive entry `{entry}` refused: {reason}")]
    Unsafe {
        /// Entry path as stored.
        entry: String,
        /// Why.
        reason: &'static str,
    },
    /// Reading or writing failed.
    #[error("unpacking failed: {0}")]
    Io(#[from] io::Error),
}

/// Checks an entry path and returns it as a clean relative path.
fn clean_path(raw: &Path) -> Result<String, &'static str> {
    let mut parts = Vec::new();
    for component in raw.components() {
        match component {
            Component::Normal(part) => parts.push(part.to_string_lossy().into_owned()),
            Component::CurDir => {}
            Component::ParentDir => return Err("it contains `..`"),
            Component::RootDir | Component::Prefix(_) => return Err("it is an absolute path"),
        }
    }
    if parts.is_empty() {
        return Err("it is empty");
    }
    Ok(parts.join("/"))
}

/// Lists the regular-file members of a tar.gz, streaming.
pub fn members(archive: impl Read) -> Result<Vec<String>, ExtractError> {
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive));
    let mut out = Vec::new();
    for entry in tar.entries()? {
        let entry = entry?;
        if entry.header().entry_type().is_file() {
            let path = entry.path()?.into_owned();
            if let Ok(clean) = clean_path(&path) {
                out.push(clean);
            }
        }
    }
    Ok(out)
}

/// Unpacks `archive` (tar.gz) into `dest`, which must not exist yet.
pub fn extract_tar_gz(archive: impl Read, dest: &Path) -> Result<(), ExtractError> {
    let parent = dest.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(parent)?;
    let staging = tempfile::Builder::new().prefix(".extract-").tempdir_in(parent)?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive));
    for entry in tar.entries()? {
        let mut entry = entry?;
        let raw = entry.path()?.into_owned();
        let name = raw.to_string_lossy().into_owned();
        let unsafe_entry = |reason| ExtractError::Unsafe {
            entry: name.clone(),
            reason,
        };
        let relative = clean_path(&raw).map_err(unsafe_entry)?;
        let target = staging.path().join(&relative);
        if let Some(dir) = target.parent() {
            fs::create_dir_all(dir)?;
        }
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            fs::create_dir_all(&target)?;
        } else if kind.is_file() {
            let mode = normal_mode(entry.header().mode()?);
            let mut file = fs::File::create(&target)?;
            io::copy(&mut entry, &mut file)?;
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&target, fs::Permissions::from_mode(mode))?;
        } else if kind.is_symlink() {
            let link = entry
                .link_name()?
                .ok_or_else(|| unsafe_entry("a symlink without a target"))?;
            let link = link.to_string_lossy().into_owned();
            if !link_stays_inside(&relative, &link) {
                return Err(unsafe_entry("its symlink leads outside the archive root"));
            }
            std::os::unix::fs::symlink(&link, &target)?;
        } else if kind.is_hard_link() {
            let link = entry
                .link_name()?
                .ok_or_else(|| unsafe_entry("a hard link without a target"))?;
            let source = clean_path(&link)
                .map_err(|_| unsafe_entry("its hard link leads outside the archive root"))?;
            fs::hard_link(staging.path().join(source), &target)?;
        } else if matches!(
            kind,
            tar::EntryType::XGlobalHeader
                | tar::EntryType::XHeader
                | tar::EntryType::GNULongName
                | tar::EntryType::GNULongLink
        ) {
            continue;
        } else {
            return Err(unsafe_entry(
                "devices, FIFOs and other special files are not allowed",
            ));
        }
    }
    let kept = staging.keep();
    match fs::rename(&kept, dest) {
        Ok(()) => Ok(()),
        // Another process unpacked the same archive first: same content.
        Err(_) if dest.is_dir() => {
            fs::remove_dir_all(&kept)?;
            Ok(())
        }
        Err(error) => Err(error.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        build(&mut builder);
        let tar = builder.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        io::Write::write_all(&mut gz, &tar).unwrap();
        gz.finish().unwrap()
    }

    fn file_header(path: &str, size: u64, mode: u32) -> tar::Header {
        let mut header = tar::Header::new_gnu();
        header.set_size(size);
        header.set_mode(mode);
        header.set_entry_type(tar::EntryType::Regular);
        // Write the raw name so tests can store paths the builder would refuse.
        let name = &mut header.as_old_mut().name;
        name[..path.len()].copy_from_slice(path.as_bytes());
        header.set_cksum();
        header
    }

    #[test]
    fn keeps_exec_bits_and_refuses_escapes() {
        let good = archive(|b| {
            let header = file_header("docker/dockerd", 2, 0o700);
            b.append(&header, &b"hi"[..]).unwrap();
        });
        let dir = tempfile::tempdir().unwrap();
        extract_tar_gz(good.as_slice(), &dir.path().join("out")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(dir.path().join("out/docker/dockerd"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);

        for bad in ["../evil", "/etc/evil"] {
            let data = archive(|b| {
                let header = file_header(bad, 1, 0o644);
                b.append(&header, &b"x"[..]).unwrap();
            });
            let error = extract_tar_gz(data.as_slice(), &dir.path().join("bad")).unwrap_err();
            assert!(matches!(error, ExtractError::Unsafe { .. }), "{bad}: {error}");
            assert!(!dir.path().join("bad").exists());
        }

        let link = archive(|b| {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_size(0);
            b.append_link(&mut header, "bin/passwd", "../../etc/passwd")
                .unwrap();
        });
        let error = extract_tar_gz(link.as_slice(), &dir.path().join("link")).unwrap_err();
        assert!(error.to_string().contains("symlink leads outside"), "{error}");

        let device = archive(|b| {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Char);
            header.set_size(0);
            header.set_path("dev/null").unwrap();
            header.set_cksum();
            b.append(&header, io::empty()).unwrap();
        });
        let error = extract_tar_gz(device.as_slice(), &dir.path().join("dev")).unwrap_err();
        assert!(error.to_string().contains("special files"), "{error}");
    }
}
