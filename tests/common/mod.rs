//! Shared test helpers: run the real `matrix` binary in a fresh folder.
#![allow(dead_code)]

pub mod http;
pub mod proxy;
pub mod registry;
pub mod scripted;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root (where the real matrix.toml lives).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A temp folder holding a copy of the repo's matrix.toml and matrix.lock,
/// with `edit` applied to the matrix text.
pub struct Workspace {
    pub dir: tempfile::TempDir,
}

impl Workspace {
    pub fn new(edit: impl FnOnce(String) -> String) -> Workspace {
        let dir = tempfile::tempdir().expect("temp dir");
        let text = std::fs::read_to_string(repo().join("matrix.toml")).expect("matrix.toml");
        std::fs::write(dir.path().join("matrix.toml"), edit(text)).expect("write");
        std::fs::copy(repo().join("matrix.lock"), dir.path().join("matrix.lock")).expect("lock");
        Workspace { dir }
    }

    /// Also copies runtime/ and templates/, so contexts can be rendered
    /// (and edited) in the copy.
    pub fn with_contexts(self) -> Workspace {
        for dir in ["runtime", "templates"] {
            copy_dir(&repo().join(dir), &self.path().join(dir));
        }
        self
    }

    /// Also writes a stand-in mirror of `tag`'s artifacts into `mirror/`.
    pub fn with_stand_ins(self, tag: &str) -> Workspace {
        let out = self.run(&["mirror", "--stand-ins", "--to", "mirror", tag]);
        assert!(out.status.success(), "{}", stderr(&out));
        self
    }

    /// Also writes a stand-in mirror of `tag` with the kubelet stand-in
    /// padded to `kubelet` (e.g. `24M`), for builds that must take a while
    /// or fill a small disk.
    pub fn with_padded_stand_ins(self, tag: &str, kubelet: &str) -> Workspace {
        let size = format!("kubelet={kubelet}");
        let out = self.run(&[
            "mirror",
            "--stand-ins",
            "--to",
            "mirror",
            tag,
            "--stand-in-size",
            &size,
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        self
    }

    /// Starts `matrix build TAG EXTRA... --skip-images` from the stand-in
    /// mirror into `out/oci` (cache `cache/`, gzip:9 so it takes a while) in
    /// the background, output discarded.
    pub fn spawn_build(&self, tag: &str, extra: &[&str]) -> std::process::Child {
        let mirror = self.mirror_url();
        Command::new(env!("CARGO_BIN_EXE_matrix"))
            .args(["build", tag, "--skip-images", "--mirror", &mirror])
            .args(extra)
            .args(["--cache", "cache", "--out", "out/oci", "--compression", "gzip:9"])
            .current_dir(self.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start matrix build")
    }

    /// The `file://` URL of the stand-in mirror.
    pub fn mirror_url(&self) -> String {
        format!("file://{}", self.path().join("mirror").display())
    }

    /// Runs `matrix build TAG` from the stand-in mirror into `out` (cache
    /// `cache/`) with `extra` arguments; asserts it succeeded.
    pub fn build(&self, tag: &str, out: &str, extra: &[&str]) -> Output {
        let mirror = self.mirror_url();
        let mut args = vec![
            "build", tag, "--mirror", &mirror, "--cache", "cache", "--out", out,
        ];
        args.extend_from_slice(extra);
        let result = self.run(&args);
        assert!(
            result.status.success(),
            "{}\n{}",
            stdout(&result),
            stderr(&result)
        );
        result
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn matrix(&self) -> PathBuf {
        self.dir.path().join("matrix.toml")
    }

    /// Runs `matrix ARGS` in this folder.
    pub fn run(&self, args: &[&str]) -> Output {
        matrix_in(self.path(), args)
    }
}

/// Runs the real binary in `dir`.
pub fn matrix_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_matrix"))
        .args(args)
        .current_dir(dir)
        .env_remove("MATRIX_FILE")
        .env("NO_COLOR", "1")
        .output()
        .expect("run matrix")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Copies a folder tree, keeping permission bits.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// Asserts a run failed with `code` and said `needle` on stderr, without panicking.
pub fn assert_fails(output: &Output, code: i32, needle: &str) {
    let err = stderr(output);
    assert_eq!(output.status.code(), Some(code), "stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains(needle), "missing `{needle}` in: {err}");
}

/// Runs an external tool (skopeo, umoci) and returns its stdout; a failure
/// panics with the tool's stderr.
pub fn tool(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} is installed (.ci/test.sh installs it): {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// buildah with storage of its own under `dir` (vfs, no daemon, nothing in
/// the host's image store); its stdout.
pub fn buildah(dir: &Path, args: &[&str]) -> String {
    let root = dir.join("storage").display().to_string();
    let run = dir.join("run").display().to_string();
    let mut all = vec!["--root", &root, "--runroot", &run, "--storage-driver", "vfs"];
    all.extend_from_slice(args);
    tool("buildah", &all)
}

/// Unpacks `store:reference` with umoci into `dest`; returns its rootfs.
pub fn unpack(store: &Path, reference: &str, dest: &Path) -> PathBuf {
    let image = format!("{}:{reference}", store.display());
    tool(
        "umoci",
        &[
            "unpack",
            "--rootless",
            "--image",
            &image,
            &dest.display().to_string(),
        ],
    );
    dest.join("rootfs")
}
