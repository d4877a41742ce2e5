//! Container images end to end with the real engine: a busybox base built
//! from Debian's busybox-static by buildah and served by a loopback
//! docker-registry, the shipped `dockerimages/busybox-demo` built on it by
//! `matrix docker build` (init.sh, ARG, COPY and a RUN step), read back by
//! skopeo and umoci, pushed with `matrix docker push`.

mod common;

use std::path::Path;

use common::registry::Registry;
use common::{Workspace, assert_fails, copy_dir, stderr, stdout, tool, unpack};

/// buildah with storage of its own under `dir` (vfs, chroot isolation).
fn buildah(dir: &Path, args: &[&str]) -> String {
    let root = dir.join("storage").display().to_string();
    let run = dir.join("run").display().to_string();
    let mut all = vec!["--root", &root, "--runroot", &run, "--storage-driver", "vfs"];
    all.extend_from_slice(args);
    tool("buildah", &all)
}

/// Builds a linux/amd64 busybox image from the host's busybox-static and
/// pushes it to `registry`; its reference.
fn busybox_base(registry: &Registry) -> String {
    let scratch = tempfile::tempdir().unwrap();
    let context = scratch.path().join("context");
    std::fs::create_dir_all(&context).unwrap();
    std::fs::copy("/bin/busybox", context.join("busybox"))
        .expect("busybox-static is installed (.ci/test.sh installs it)");
    std::fs::write(
        context.join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n",
    )
    .unwrap();
    let context = context.display().to_string();
    buildah(
        scratch.path(),
        &[
            "bud",
            "--isolation",
            "chroot",
            "--platform",
            "linux/amd64",
            "-t",
            "localhost/base:1",
            &context,
        ],
    );
    let reference = format!("127.0.0.1:{}/library/busybox:stand-in", registry.port);
    buildah(
        scratch.path(),
        &[
            "push",
            "--tls-verify=false",
            "localhost/base:1",
            &format!("docker://{reference}"),
        ],
    );
    reference
}

fn workspace() -> Workspace {
    let ws = Workspace::new(|t| t);
    copy_dir(
        &common::repo().join("dockerimages"),
        &ws.path().join("dockerimages"),
    );
    ws
}

#[test]
fn the_shipped_container_image_builds_runs_its_run_step_and_pushes() {
    let registry = Registry::start(None);
    let base = busybox_base(&registry);
    let ws = workspace();
    let plan = ws.run(&["docker", "plan", "--json"]);
    assert!(plan.status.success(), "{}", stderr(&plan));
    assert!(
        stdout(&plan).contains("busybox-demo:latest-arm64"),
        "{}",
        stdout(&plan)
    );

    let built = ws.run(&[
        "docker",
        "build",
        "busybox-demo",
        "1.0.0",
        "--arch",
        "amd64",
        "--build-arg",
        &format!("BASE={base}"),
        "--insecure",
        "--json",
    ]);
    assert!(built.status.success(), "{}", stderr(&built));
    let report: serde_json::Value = serde_json::from_str(&stdout(&built)).unwrap();
    assert_eq!(report["arches"][0]["tag"], "1.0.0-amd64");
    assert!(
        report["folder"]
            .as_str()
            .unwrap()
            .ends_with("busybox-demo/latest")
    );
    let index = report["index"].as_str().expect("the index is written");

    // skopeo reads the per-arch image and the index.
    let store = ws.path().join("out/oci");
    let layout = store.display().to_string();
    let inspected: serde_json::Value = serde_json::from_str(&tool(
        "skopeo",
        &["inspect", &format!("oci:{layout}:busybox-demo:1.0.0-amd64")],
    ))
    .unwrap();
    assert_eq!(inspected["Architecture"], "amd64");
    let raw: serde_json::Value = serde_json::from_str(&tool(
        "skopeo",
        &["inspect", "--raw", &format!("oci:{layout}:busybox-demo:1.0.0")],
    ))
    .unwrap();
    assert_eq!(raw["manifests"][0]["platform"]["architecture"], "amd64");
    assert_eq!(raw["manifests"].as_array().unwrap().len(), 1);

    // The RUN step ran in the base (busybox's applets) for the asked arch,
    // after init.sh wrote its file.
    let unpacked = tempfile::tempdir().unwrap();
    let rootfs = unpack(&store, "busybox-demo:1.0.0-amd64", &unpacked.path().join("b"));
    let read = |p: &str| std::fs::read_to_string(rootfs.join(p)).unwrap();
    assert_eq!(read("etc/matrix-demo/run"), "ran for amd64\n");
    assert_eq!(read("etc/matrix-demo/build-arch"), "amd64 busybox-demo 1.0.0\n");
    assert!(read("etc/matrix-demo/applets").trim().parse::<u32>().unwrap() > 100);

    // Pushed through the shared pusher: the per-arch tag and the index.
    let to = format!("127.0.0.1:{}/labring", registry.port);
    let pushed = ws.run(&["docker", "push", "busybox-demo", "1.0.0", "--to", &to]);
    assert!(pushed.status.success(), "{}", stderr(&pushed));
    let remote = tool(
        "skopeo",
        &[
            "inspect",
            "--tls-verify=false",
            "--raw",
            &format!("docker://{to}/busybox-demo:1.0.0"),
        ],
    );
    let remote: serde_json::Value = serde_json::from_str(&remote).unwrap();
    assert_eq!(remote["manifests"][0]["platform"]["architecture"], "amd64");
    assert!(
        stdout(&pushed).contains("busybox-demo:1.0.0"),
        "{}",
        stdout(&pushed)
    );
    assert!(index.starts_with("sha256:"));
}

#[test]
fn a_foreign_arch_without_qemu_or_a_missing_buildah_is_a_clear_failure() {
    let ws = workspace();
    let missing = std::process::Command::new(env!("CARGO_BIN_EXE_matrix"))
        .args(["docker", "build", "busybox-demo", "1.0.0", "--arch", "amd64"])
        .current_dir(ws.path())
        .env("MATRIX_BUILDAH", "/nonexistent/buildah")
        .output()
        .unwrap();
    assert_fails(&missing, 1, "install buildah");
    let unknown = ws.run(&["docker", "build", "no-such-image", "1.0.0"]);
    assert_fails(&unknown, 2, "no-such-image");
    if Path::new("/proc/sys/fs/binfmt_misc/qemu-aarch64").exists() || cfg!(not(target_arch = "x86_64")) {
        return;
    }
    let arm = ws.run(&["docker", "build", "busybox-demo", "1.0.0", "--arch", "arm64"]);
    assert_fails(&arm, 1, "qemu-user-static");
    assert!(stdout(&arm).is_empty());
}
