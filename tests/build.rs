//! `matrix build` end to end from a stand-in mirror, checked by real
//! consumers: skopeo inspect/copy (into a real docker-registry) and umoci.

mod common;

use std::path::Path;

use common::registry::Registry;
use common::{Workspace, stderr, tool, unpack};

const TAG: &str = "v1.24.4-4.2.1";

fn workspace() -> Workspace {
    Workspace::new(|t| t).with_contexts().with_stand_ins(TAG)
}

/// Builds TAG without image pulls and returns the JSON report.
fn build(ws: &Workspace, out: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["--json", "--skip-images"];
    args.extend_from_slice(extra);
    serde_json::from_slice(&ws.build(TAG, out, &args).stdout).unwrap()
}

/// The `Env` of a `skopeo inspect` answer.
fn env_of(info: &serde_json::Value) -> Vec<&str> {
    info["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect()
}

fn inspect(store: &Path, reference: &str, raw: bool) -> serde_json::Value {
    let target = format!("oci:{}:{reference}", store.display());
    let mut args = vec!["inspect"];
    if raw {
        args.push("--raw");
    }
    args.push(&target);
    serde_json::from_str(&tool("skopeo", &args)).unwrap()
}

#[test]
fn builds_every_cell_of_a_tag_and_skopeo_reads_them() {
    let ws = workspace();
    let report = build(&ws, "out/oci", &[]);
    assert_eq!(report["built"], 6, "{report}");
    let store = ws.path().join("out/oci");
    // Layers: runtime files, kube, crictl, the CRI's parts, the depend
    // bundle, registry, sealos, and the cell's own files.
    for (image, layers, cri_env, init) in [
        (
            "kubernetes",
            8,
            "disableApparmor=false",
            "init-cri.sh $registryDomain $registryPort && bash init.sh",
        ),
        (
            "kubernetes-docker",
            9,
            "criDockerdData=/var/lib/cri-dockerd",
            "init-cri.sh && bash init.sh",
        ),
        (
            "kubernetes-crio",
            8,
            "criData=/var/lib/crio",
            "init-cri.sh $registryDomain $registryPort $registryUsername $registryPassword && bash init.sh",
        ),
    ] {
        for arch in ["amd64", "arm64"] {
            let info = inspect(&store, &format!("{image}:{TAG}-{arch}"), false);
            let config: serde_json::Value = serde_json::from_str(&tool(
                "skopeo",
                &[
                    "inspect",
                    "--config",
                    &format!("oci:{}:{image}:{TAG}-{arch}", store.display()),
                ],
            ))
            .unwrap();
            assert_eq!(config["author"], "sealos");
            assert_eq!(info["Labels"]["init"], init);
            assert_eq!(info["Architecture"], arch);
            assert_eq!(info["Os"], "linux");
            assert_eq!(info["Labels"]["sealos.io.type"], "rootfs");
            assert_eq!(info["Labels"]["version"], "v1.24.4");
            assert_eq!(info["Labels"]["image"], "ghcr.io/labring/lvscare:v4.2.1");
            let env = env_of(&info);
            assert!(env.contains(&"sandboxImage=pause:3.7"), "{env:?}");
            assert!(env.contains(&"registryDomain=sealos.hub"), "{env:?}");
            assert!(env.contains(&cri_env), "{env:?}");
            assert_eq!(
                env.iter().any(|e| e.starts_with("disableApparmor=")),
                image == "kubernetes",
                "{env:?}"
            );
            assert_eq!(info["Layers"].as_array().unwrap().len(), layers, "{image} {arch}");
        }
        let index = inspect(&store, &format!("{image}:{TAG}"), true);
        assert_eq!(index["mediaType"], "application/vnd.oci.image.index.v1+json");
        let arches: Vec<&str> = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["platform"]["architecture"].as_str().unwrap())
            .collect();
        assert_eq!(arches, ["amd64", "arm64"]);
    }
    // A second run changes nothing.
    let again = build(&ws, "out/oci", &[]);
    assert_eq!(again["unchanged"], 6, "{again}");
    assert_eq!(again["built"], 0);
}

#[test]
fn umoci_unpacks_the_context_and_binaries() {
    let ws = workspace();
    build(&ws, "out/oci", &["--cri", "containerd", "--arch", "amd64"]);
    let rootfs = unpack(
        &ws.path().join("out/oci"),
        &format!("kubernetes:{TAG}-amd64"),
        &ws.path().join("bundle"),
    );
    // Every rendered file is there, byte for byte.
    let rendered = ws.path().join("ctx");
    let out = ws.run(&[
        "render",
        TAG,
        "--cri",
        "containerd",
        "--arch",
        "amd64",
        "--out",
        rendered.to_str().unwrap(),
        "--json",
    ]);
    assert!(out.status.success());
    let records: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let files = records[0]["files"].as_array().unwrap();
    assert!(files.len() >= 25, "{}", files.len());
    for file in files {
        let path = file["path"].as_str().unwrap();
        assert_eq!(
            std::fs::read(rootfs.join(path)).unwrap_or_default(),
            std::fs::read(rendered.join(path)).unwrap(),
            "{path}"
        );
    }
    // And the binaries, as downloaded or unpacked, with exec bits.
    let mirror = ws.path().join("mirror");
    assert_eq!(
        std::fs::read(rootfs.join("bin/kubelet")).unwrap(),
        std::fs::read(mirror.join("dl.k8s.io/release/v1.24.4/bin/linux/amd64/kubelet")).unwrap()
    );
    use std::os::unix::fs::PermissionsExt;
    for path in [
        "bin/kubeadm",
        "bin/kubectl",
        "bin/kubelet",
        "bin/crictl",
        "bin/conntrack",
        "opt/lsof",
        "cri/registry",
        "cri/image-cri-shim",
        "opt/sealctl",
        "scripts/init.sh",
    ] {
        let mode = std::fs::metadata(rootfs.join(path))
            .unwrap_or_else(|_| panic!("{path}"))
            .permissions()
            .mode();
        assert_eq!(mode & 0o111, 0o111, "{path} is executable");
    } // containerd repackaged with runc and crun, as labring ships it.
    let listing = tool(
        "tar",
        &["tzf", rootfs.join("cri/cri-containerd.tar.gz").to_str().unwrap()],
    );
    for member in [
        "usr/bin/containerd",
        "usr/bin/containerd-shim-runc-v2",
        "usr/bin/ctr",
        "usr/bin/runc",
        "usr/bin/crun",
    ] {
        assert!(
            listing.lines().any(|line| line == member),
            "{member} in {listing}"
        );
    }

    assert!(rootfs.join("cri/cri-containerd.tar.gz").is_file());
    let shim = std::fs::read_to_string(rootfs.join("cri/image-cri-shim")).unwrap();
    assert!(shim.contains("STAND-IN for image-cri-shim"), "{shim}");
}

#[test]
fn two_fresh_stores_get_identical_digests() {
    let ws = workspace();
    let first = build(&ws, "a", &[]);
    let second = build(&ws, "b", &[]);
    let digests = |report: &serde_json::Value| -> Vec<String> {
        report["cells"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["digest"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(digests(&first), digests(&second));
    assert_eq!(
        std::fs::read(ws.path().join("a/index.json")).unwrap(),
        std::fs::read(ws.path().join("b/index.json")).unwrap()
    );
}

#[test]
fn skopeo_copies_an_index_into_a_real_registry() {
    let ws = workspace();
    build(&ws, "out/oci", &["--cri", "docker"]);
    let registry = Registry::start(None);
    let source = format!(
        "oci:{}:kubernetes-docker:{TAG}",
        ws.path().join("out/oci").display()
    );
    let dest = format!("docker://{}/labring/kubernetes-docker:{TAG}", registry.host());
    tool(
        "skopeo",
        &["copy", "--all", "--dest-tls-verify=false", &source, &dest],
    );
    let raw: serde_json::Value = serde_json::from_str(&tool(
        "skopeo",
        &["inspect", "--raw", "--tls-verify=false", &dest],
    ))
    .unwrap();
    assert_eq!(raw["manifests"].as_array().unwrap().len(), 2);
    let arm = tool(
        "skopeo",
        &["inspect", "--tls-verify=false", "--override-arch", "arm64", &dest],
    );
    let arm: serde_json::Value = serde_json::from_str(&arm).unwrap();
    assert_eq!(arm["Architecture"], "arm64");
    assert_eq!(arm["Labels"]["sealos.io.type"], "rootfs");
}

#[test]
fn a_failing_cell_is_reported_and_the_others_finish() {
    let ws = workspace();
    std::fs::remove_file(
        ws.path()
            .join("mirror/dl.k8s.io/release/v1.24.4/bin/linux/arm64/kubelet"),
    )
    .unwrap();
    let mirror = ws.mirror_url();
    let out = ws.run(&[
        "build",
        TAG,
        "--mirror",
        &mirror,
        "--cache",
        "cache",
        "--out",
        "out",
        "--json",
        "--skip-images",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["built"], 3);
    assert_eq!(report["failed"], 3);
    for cell in report["cells"].as_array().unwrap() {
        let tag = cell["tag"].as_str().unwrap();
        if tag.ends_with("arm64") {
            let message = cell["status"]["failed"].as_str().unwrap();
            assert!(
                message.contains("kubelet") && message.contains("404") || message.contains("not found"),
                "{message}"
            );
        } else {
            assert_eq!(cell["status"], "built");
        }
    }
    // No half index: the multi-arch tag waits for both arches.
    let index = std::fs::read_to_string(ws.path().join("out/index.json")).unwrap();
    assert!(index.contains(&format!("kubernetes:{TAG}-amd64")));
    assert!(!index.contains(&format!("\"kubernetes:{TAG}\"")), "{index}");
}

#[test]
fn gc_removes_what_no_tag_reaches() {
    let ws = workspace();
    build(&ws, "out", &["--cri", "containerd", "--arch", "amd64"]);
    let stray = ws.path().join("out/blobs/sha256").join("0".repeat(64));
    std::fs::write(&stray, b"stray").unwrap();
    std::fs::write(ws.path().join("out/.matrix/tmp/partial"), b"half a layer").unwrap();
    let out = ws.run(&["gc", "--out", "out", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["blobs"], 1);
    assert!(!stray.exists());
    assert!(!ws.path().join("out/.matrix/tmp/partial").exists());
    inspect(&ws.path().join("out"), &format!("kubernetes:{TAG}-amd64"), false);
}

#[test]
fn zstd_layers_are_read_by_skopeo_and_umoci() {
    let ws = workspace();
    let report = build(
        &ws,
        "out/oci",
        &["--cri", "containerd", "--arch", "arm64", "--compression", "zstd"],
    );
    assert_eq!(report["built"], 1);
    let store = ws.path().join("out/oci");
    let manifest = inspect(&store, &format!("kubernetes:{TAG}-arm64"), true);
    let types: Vec<&str> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["mediaType"].as_str().unwrap())
        .collect();
    assert!(
        types.contains(&"application/vnd.oci.image.layer.v1.tar+zstd"),
        "{types:?}"
    );
    // The CRI tarball layer is already compressed, so it stays plain tar.
    assert!(
        types.contains(&"application/vnd.oci.image.layer.v1.tar"),
        "{types:?}"
    );
    // Debian's umoci 0.4.7 predates zstd: skopeo decompresses and
    // re-compresses with gzip, then umoci unpacks the copy.
    let converted = ws.path().join("converted");
    tool(
        "skopeo",
        &[
            "copy",
            "--dest-compress",
            "--dest-compress-format",
            "gzip",
            &format!("oci:{}:kubernetes:{TAG}-arm64", store.display()),
            &format!("oci:{}:x", converted.display()),
        ],
    );
    let rootfs = unpack(&converted, "x", &ws.path().join("bundle"));
    assert!(rootfs.join("etc/kubeadm.yml").is_file());
    assert!(rootfs.join("bin/kubelet").is_file());
}

#[test]
fn a_killed_build_leaves_a_valid_store() {
    let ws = Workspace::new(|t| t)
        .with_contexts()
        .with_padded_stand_ins(TAG, "60M");
    // A first, complete build of one cell, so the store has tags to keep.
    build(
        &ws,
        "out/oci",
        &["--cri", "docker", "--arch", "amd64", "--compression", "none"],
    );
    let mut child = ws.spawn_build(TAG, &["--cri", "containerd", "--arch", "amd64"]);
    // Kill it while a layer blob is being written.
    let tmp = ws.path().join("out/oci/.matrix/tmp");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut caught = false;
    while std::time::Instant::now() < deadline && !caught {
        caught = std::fs::read_dir(&tmp)
            .map(|entries| {
                entries
                    .flatten()
                    .any(|e| e.metadata().map(|m| m.len() > 1 << 20).unwrap_or(false))
            })
            .unwrap_or(false);
        std::thread::yield_now();
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(caught, "the build never reached a layer write");
    // Every tag still resolves, the half blob is not in blobs/, gc cleans up.
    let store = ws.path().join("out/oci");
    inspect(&store, &format!("kubernetes-docker:{TAG}-amd64"), false);
    let gc = ws.run(&["gc", "--out", "out/oci", "--json"]);
    assert!(gc.status.success(), "{}", stderr(&gc));
    let gc: serde_json::Value = serde_json::from_slice(&gc.stdout).unwrap();
    assert!(
        gc["temp_files"].as_u64().unwrap() >= 1,
        "the half blob is counted: {gc}"
    );
    assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0);
    // And the next build completes.
    let report = build(
        &ws,
        "out/oci",
        &["--cri", "containerd", "--arch", "amd64", "--compression", "none"],
    );
    assert_eq!(report["built"], 1, "{report}");
    inspect(&store, &format!("kubernetes:{TAG}-amd64"), false);
}

#[test]
fn two_shards_build_exactly_the_whole_selection() {
    let ws = Workspace::new(|t| t).with_contexts().with_stand_ins(TAG);
    let built = |out: &str, shard: Option<&str>| -> Vec<String> {
        let mut extra = vec!["--json", "--skip-images"];
        if let Some(shard) = shard {
            extra.extend_from_slice(&["--shard", shard]);
        }
        let report: serde_json::Value = serde_json::from_slice(&ws.build(TAG, out, &extra).stdout).unwrap();
        report["cells"]
            .as_array()
            .unwrap()
            .iter()
            .map(|cell| {
                format!(
                    "{}:{}",
                    cell["image"].as_str().unwrap(),
                    cell["tag"].as_str().unwrap()
                )
            })
            .collect()
    };
    let whole = built("whole", None);
    let first = built("sharded", Some("1/2"));
    let second = built("sharded", Some("2/2"));
    assert!(!first.is_empty() && !second.is_empty());
    assert!(
        first.iter().all(|cell| !second.contains(cell)),
        "{first:?} {second:?}"
    );
    let mut together: Vec<String> = first.into_iter().chain(second).collect();
    together.sort();
    let mut whole_sorted = whole.clone();
    whole_sorted.sort();
    assert_eq!(together, whole_sorted);
    // Both arches of an index stay in one shard, so every index is
    // published by the shard that built it.
    for image in ["kubernetes", "kubernetes-docker", "kubernetes-crio"] {
        inspect(&ws.path().join("sharded"), &format!("{image}:{TAG}"), true);
    }
}

/// A k3s cell offline: the k3s binary in place of kubeadm/kubelet/kubectl,
/// the release's image list (its pause replaced by kubeadm's), and the
/// labels and env of labring's k3s images; its scripts pass shellcheck.
#[test]
fn k3s_cells_build_with_their_own_binary_and_image_list() {
    const K3S: &str = "k3s:v1.28.1-4.3.3";
    let ws = Workspace::new(|t| t).with_contexts().with_stand_ins(K3S);
    let report: serde_json::Value =
        serde_json::from_slice(&ws.build(K3S, "out/oci", &["--json", "--skip-images"]).stdout).unwrap();
    assert_eq!(report["built"], 2, "{report}");
    let store = ws.path().join("out/oci");
    let info = inspect(&store, &format!("{K3S}-arm64"), false);
    assert_eq!(info["Architecture"], "arm64");
    for (key, value) in [
        ("apps.sealos.io/distribution", "k3s"),
        ("apps.sealos.io/type", "rootfs"),
        ("init", "init.sh"),
        ("init-cri", "init-cri.sh"),
        ("clean", "clean.sh"),
        ("clean-cri", "clean-cri.sh"),
        ("check", "check.sh $registryData"),
    ] {
        assert_eq!(info["Labels"][key], value, "{key}");
    }
    let env = env_of(&info);
    for wanted in [
        "SEALOS_SYS_CRI_ENDPOINT=/run/k3s/containerd/containerd.sock",
        "SEALOS_SYS_RUN_MODE=master",
        "sandboxImage=pause:3.9",
    ] {
        assert!(env.contains(&wanted), "{wanted} in {env:?}");
    }
    let rootfs = unpack(&store, &format!("{K3S}-arm64"), &ws.path().join("bundle"));
    let k3s = std::fs::read_to_string(rootfs.join("bin/k3s")).unwrap();
    assert!(k3s.contains("STAND-IN for k3s-arm64"), "{k3s}");
    for absent in [
        "bin/kubeadm",
        "bin/kubelet",
        "bin/crictl",
        "etc/kubeadm.yml",
        "etc/kubelet.service",
    ] {
        assert!(!rootfs.join(absent).exists(), "{absent}");
    }
    let list = std::fs::read_to_string(rootfs.join("images/shim/DefaultImageList")).unwrap();
    assert_eq!(
        list,
        "docker.io/matrix-stand-in/k3s-images:1.28.1-k3s1\nregistry.k8s.io/pause:3.9\n"
    );
    let lvscare = std::fs::read_to_string(rootfs.join("images/shim/LvscareImageList")).unwrap();
    assert_eq!(lvscare, "ghcr.io/labring/lvscare:v4.3.3\n");
    let scripts: Vec<String> = std::fs::read_dir(rootfs.join("scripts"))
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .collect();
    let mut args = vec!["-x", "-P", "SCRIPTDIR"];
    args.extend(scripts.iter().map(String::as_str));
    tool("shellcheck", &args);
    // Without the downloads, render cannot know the list: a usage error.
    let out = ws.run(&["render", K3S, "--out", "r"]);
    common::assert_fails(&out, 2, "pass --binaries");
}
