//! `matrix verify` on real built images: the README's offline build (stand-in
//! binaries and stand-in images, so `registry/` is filled) passes, the saved
//! registry is served by a real docker-registry with the right platform,
//! and images tampered with umoci fail with the exact defect named.

mod common;

use std::path::Path;

use common::registry::Registry;
use common::{Workspace, copy_dir, stderr, stdout, tool, unpack};

const TAG: &str = "v1.24.4-4.2.1";
const CELL: &str = "kubernetes:v1.24.4-4.2.1-amd64";

/// A workspace with TAG built offline, images included, into `out/oci`.
fn built() -> Workspace {
    let ws = Workspace::new(|t| t).with_contexts().with_stand_ins(TAG);
    let images = ws.path().join("mirror/images").display().to_string();
    ws.build(TAG, "out/oci", &["--image-layout", &images]);
    ws
}

fn verify(ws: &Workspace, store: &str, selector: &str) -> (i32, serde_json::Value) {
    let out = ws.run(&["verify", selector, "--from", store, "--json"]);
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", stdout(&out), stderr(&out)));
    (out.status.code().unwrap_or(-1), report)
}

fn defects(report: &serde_json::Value) -> Vec<(String, String)> {
    report["images"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|image| image["defects"].as_array().unwrap().iter())
        .map(|d| {
            (
                d["path"].as_str().unwrap().to_string(),
                d["problem"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn offline_build_fills_registry_and_passes_verify() {
    let ws = built();
    let (code, report) = verify(&ws, "out/oci", TAG);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["passed"], 6, "{report}");

    // The saved registry/ is what a node serves: a real docker-registry
    // serves it, with the cell's platform.
    let rootfs = unpack(
        &ws.path().join("out/oci"),
        "kubernetes:v1.24.4-4.2.1-arm64",
        &ws.path().join("unpacked"),
    );
    let registry = Registry::serve_dir(&rootfs.join("registry"));
    for image in [
        "pause:3.7",
        "labring/lvscare:v4.2.1",
        "kube-apiserver:v1.24.4",
        "coredns/coredns:v1.8.6",
    ] {
        let info: serde_json::Value = serde_json::from_str(&tool(
            "skopeo",
            &[
                "inspect",
                "--tls-verify=false",
                &format!("docker://{}/{image}", registry.host()),
            ],
        ))
        .unwrap();
        assert_eq!(info["Architecture"], "arm64", "{image}");
        assert_eq!(
            info["Labels"]["io.matrix.stand-in"], "true",
            "{image} is a marked stand-in"
        );
    }
    let lists = std::fs::read_to_string(rootfs.join("images/shim/LvscareImageList")).unwrap();
    assert_eq!(lists, "ghcr.io/labring/lvscare:v4.2.1\n");
}

/// Copies the built store, changes the CELL image with umoci (`edit` gets
/// the unpacked rootfs), repacks it under the same tag, and verifies it.
fn tampered(ws: &Workspace, name: &str, edit: impl FnOnce(&Path), config: &[&str]) -> Vec<(String, String)> {
    let store = ws.path().join(name);
    copy_dir(&ws.path().join("out/oci"), &store);
    let image = format!("{}:{CELL}", store.display());
    if !config.is_empty() {
        let mut args = vec!["config", "--image", &image];
        args.extend_from_slice(config);
        tool("umoci", &args);
    } else {
        let bundle = ws.path().join(format!("{name}-bundle"));
        let rootfs = unpack(&store, CELL, &bundle);
        edit(&rootfs);
        tool(
            "umoci",
            &["repack", "--image", &image, &bundle.display().to_string()],
        );
    }
    let (code, report) = verify(ws, name, CELL);
    assert_eq!(code, 1, "{report}");
    // A repacked image is a new image without the build's SBOM: verify
    // names that too (checked once here), besides the defect under test.
    let (sbom, rest): (Vec<_>, Vec<_>) = defects(&report).into_iter().partition(|(path, _)| path == "sbom");
    assert_eq!(sbom.len(), 1, "{report}");
    assert!(
        sbom[0].1.contains(CELL) && sbom[0].1.contains("has no SBOM") && sbom[0].1.contains("matrix build"),
        "{sbom:?}"
    );
    rest
}

#[test]
fn tampered_images_fail_with_the_defect_named() {
    let ws = built();

    let found = tampered(
        &ws,
        "missing-file",
        |root| std::fs::remove_file(root.join("etc/hosts.toml.tmpl")).unwrap(),
        &[],
    );
    assert_eq!(
        found,
        [("etc/hosts.toml.tmpl".to_string(), "missing".to_string())]
    );

    let found = tampered(
        &ws,
        "wrong-label",
        |_| {},
        &["--config.label", "init=bash init.sh"],
    );
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "config.Labels.init");
    assert!(found[0].1.contains("\"bash init.sh\""), "{found:?}");

    let found = tampered(
        &ws,
        "kubeadm-field",
        |root| {
            let path = root.join("etc/kubeadm.yml");
            let text = std::fs::read_to_string(&path).unwrap();
            // `timeouts` exists only from kubeadm.k8s.io/v1beta4; 1.24 takes v1beta3.
            let text = text.replacen(
                "kind: InitConfiguration\n",
                "kind: InitConfiguration\ntimeouts:\n  discovery: 5m0s\n",
                1,
            );
            std::fs::write(&path, text).unwrap();
        },
        &[],
    );
    assert_eq!(
        found,
        [(
            "etc/kubeadm.yml".to_string(),
            "InitConfiguration.timeouts: kubeadm.k8s.io/v1beta3 InitConfiguration has no such field"
                .to_string()
        )]
    );

    let mut removed = String::new();
    let found = tampered(
        &ws,
        "missing-blob",
        |root| {
            // The layer blob of the saved pause image.
            let repo = root.join("registry/docker/registry/v2/repositories/pause/_layers/sha256");
            let hex = std::fs::read_dir(&repo)
                .unwrap()
                .next()
                .unwrap()
                .unwrap()
                .file_name();
            let hex = hex.to_str().unwrap().to_string();
            std::fs::remove_dir_all(root.join(format!(
                "registry/docker/registry/v2/blobs/sha256/{}/{hex}",
                &hex[..2]
            )))
            .unwrap();
            removed = hex;
        },
        &[],
    );
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "registry/ (k8s.gcr.io/pause:3.7)");
    assert!(
        found[0]
            .1
            .starts_with(&format!("blob sha256:{removed} is missing")),
        "{found:?}"
    );

    let found = tampered(
        &ws,
        "broken-template",
        |root| {
            let path = root.join("etc/config.toml.tmpl");
            let mut text = std::fs::read_to_string(&path).unwrap();
            text.push_str("# {{ .registryDomain \n");
            std::fs::write(&path, text).unwrap();
        },
        &[],
    );
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "etc/config.toml.tmpl");
    assert!(
        found[0].1.contains("template: etc/config.toml.tmpl:") && found[0].1.contains("unclosed action"),
        "{found:?}"
    );

    let found = tampered(
        &ws,
        "template-typo",
        |root| {
            let path = root.join("etc/hosts.toml.tmpl");
            let text = std::fs::read_to_string(&path)
                .unwrap()
                .replace(".registryDomain", ".registryDomian");
            std::fs::write(&path, text).unwrap();
        },
        &[],
    );
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].1.contains("<no value>"), "{found:?}");

    let found = tampered(
        &ws,
        "broken-script",
        |root| std::fs::write(root.join("scripts/init-kube.sh"), "#!/bin/bash\nif true; then\n").unwrap(),
        &[],
    );
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "scripts/init-kube.sh");
    assert!(found[0].1.contains("syntax error"), "{found:?}");
}

#[test]
fn verify_names_a_missing_image_and_a_missing_layout() {
    let ws = built();
    let (code, report) = verify(&ws, "out/oci", "kubernetes:v1.25.3-4.2.1-amd64");
    assert_eq!(code, 1);
    assert_eq!(defects(&report)[0].0, "image");
    assert!(defects(&report)[0].1.contains("is not in"), "{report}");
    let out = ws.run(&["verify", TAG, "--from", "nowhere"]);
    common::assert_fails(&out, 2, "not an OCI image layout");
}

/// Development builds take image-cri-shim, sealctl and the lvscare list out
/// of the sealos-patch image (here its stand-in), and still verify.
#[test]
fn dev_builds_take_files_from_the_sealos_patch_image() {
    let dev = "kubernetes:v1.34-latest";
    let ws = Workspace::new(|t| t).with_contexts().with_stand_ins(dev);
    let images = ws.path().join("mirror/images").display().to_string();
    ws.build(dev, "out/oci", &["--image-layout", &images]);
    let rootfs = unpack(
        &ws.path().join("out/oci"),
        "kubernetes:v1.34-arm64",
        &ws.path().join("unpacked"),
    );
    let shim = std::fs::read_to_string(rootfs.join("cri/image-cri-shim")).unwrap();
    assert!(
        shim.contains("from ghcr.io/labring/sealos-patch:latest-arm64"),
        "{shim}"
    );
    let sealctl = std::fs::read_to_string(rootfs.join("opt/sealctl")).unwrap();
    assert!(sealctl.contains("sealos-patch"), "{sealctl}");
    let (code, report) = verify(&ws, "out/oci", dev);
    assert_eq!(code, 0, "{report}");
    // Without image pulls the patch image cannot be had.
    let mirror = ws.mirror_url();
    let out = ws.run(&[
        "build",
        dev,
        "--mirror",
        &mirror,
        "--cache",
        "cache",
        "--out",
        "out/other",
        "--skip-images",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("needs image pulls") || stderr(&out).contains("needs image pulls"),
        "{}",
        stdout(&out)
    );
}

/// The present, offline: the README's three commands for `v1.36.5-5.1.1`
/// (containerd, docker and cri-o, both arches) pass `verify`, with
/// kubeadm's 1.36 images saved and a v1beta4-only kubeadm.yml.
#[test]
fn offline_build_of_the_present_passes_verify() {
    let tag = "v1.36.5-5.1.1";
    let ws = Workspace::new(|t| t).with_contexts().with_stand_ins(tag);
    let images = ws.path().join("mirror/images").display().to_string();
    ws.build(tag, "out/oci", &["--image-layout", &images]);
    let (code, report) = verify(&ws, "out/oci", tag);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["passed"], 6, "{report}");
    let rootfs = unpack(
        &ws.path().join("out/oci"),
        "kubernetes-crio:v1.36.5-5.1.1-arm64",
        &ws.path().join("unpacked"),
    );
    let list = std::fs::read_to_string(rootfs.join("images/shim/DefaultImageList")).unwrap();
    for image in ["pause:3.10.2", "etcd:3.6.8-0", "coredns/coredns:v1.14.2"] {
        assert!(list.contains(&format!("registry.k8s.io/{image}")), "{list}");
    }
    let kubeadm = std::fs::read_to_string(rootfs.join("etc/kubeadm.yml")).unwrap();
    assert!(kubeadm.contains("kubeadm.k8s.io/v1beta4"), "{kubeadm}");
    assert!(!kubeadm.contains("kubeadm.k8s.io/v1beta3"), "{kubeadm}");
    assert!(
        rootfs
            .join("registry/docker/registry/v2/repositories/etcd/_manifests/tags/3.6.8-0")
            .is_dir(),
        "etcd 3.6.8-0 saved"
    );
}
