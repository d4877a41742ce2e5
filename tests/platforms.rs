//! `--save-platforms all`: `registry/` holds each listed image's index as
//! published and every platform it lists (attestations aside), with their
//! manifests and blobs, so a real docker-registry serving it gives a
//! mixed-arch cluster the right one, and `matrix verify` checks them.

mod common;

use common::registry::Registry;
use common::{Workspace, buildah, copy_dir, stderr, stdout, tool, unpack};

#[test]
fn an_app_saved_for_all_platforms_serves_both_from_its_registry() {
    let ws = Workspace::new(|t| t);
    copy_dir(
        &common::repo().join("applications"),
        &ws.path().join("applications"),
    );
    let listed = ws.run(&[
        "app",
        "images",
        "applications/web-demo/1.0.0",
        "--stand-ins",
        "images",
    ]);
    assert!(listed.status.success(), "{}", stderr(&listed));
    let built = ws.run(&[
        "app",
        "build",
        "web-demo",
        "1.0.0",
        "--arch",
        "amd64",
        "--image-layout",
        "images",
        "--cache",
        "cache",
        "--save-platforms",
        "all",
    ]);
    assert!(built.status.success(), "{}\n{}", stdout(&built), stderr(&built));
    let rootfs = unpack(
        &ws.path().join("out/oci"),
        "web-demo:1.0.0-amd64",
        &ws.path().join("unpacked"),
    );
    let served = Registry::serve_dir(&rootfs.join("registry"));
    for image in [
        "library/nginx:1.25.4",
        "library/redis:7.2.4",
        "library/busybox:1.36",
    ] {
        let reference = format!("docker://{}/{image}", served.host());
        let raw: serde_json::Value = serde_json::from_str(&tool(
            "skopeo",
            &["inspect", "--tls-verify=false", "--raw", &reference],
        ))
        .unwrap();
        let platforms: Vec<&str> = raw["manifests"]
            .as_array()
            .unwrap_or_else(|| panic!("{image}: the tag names an index: {raw}"))
            .iter()
            .map(|m| m["platform"]["architecture"].as_str().unwrap())
            .collect();
        assert_eq!(platforms, ["amd64", "arm64"], "{image}");
        for arch in ["amd64", "arm64"] {
            let info: serde_json::Value = serde_json::from_str(&tool(
                "skopeo",
                &[
                    "inspect",
                    "--tls-verify=false",
                    "--override-arch",
                    arch,
                    &reference,
                ],
            ))
            .unwrap();
            assert_eq!(info["Architecture"], arch, "{image}");
        }
    }

    // The default stays one platform: the tag names the image's manifest.
    let current = ws.run(&[
        "app",
        "build",
        "web-demo",
        "1.0.0",
        "--arch",
        "amd64",
        "--image-layout",
        "images",
        "--cache",
        "cache",
        "--out",
        "current",
    ]);
    assert!(current.status.success(), "{}", stderr(&current));
    let rootfs = unpack(
        &ws.path().join("current"),
        "web-demo:1.0.0-amd64",
        &ws.path().join("one"),
    );
    let served = Registry::serve_dir(&rootfs.join("registry"));
    let raw: serde_json::Value = serde_json::from_str(&tool(
        "skopeo",
        &[
            "inspect",
            "--tls-verify=false",
            "--raw",
            &format!("docker://{}/library/nginx:1.25.4", served.host()),
        ],
    ))
    .unwrap();
    assert!(raw["layers"].is_array(), "{raw}");
}

/// The platforms of the index the test builds, beside an attestation-like
/// `unknown/unknown` entry.
const PLATFORMS: [&str; 4] = ["linux/amd64", "linux/arm64", "linux/arm/v7", "linux/s390x"];

/// Builds a one-file image per platform with buildah (no RUN: nothing
/// runs), joins them in one OCI index with a fifth entry annotated
/// `unknown/unknown` as buildx marks its attestation manifests, and pushes
/// it all to `reference`; that entry's digest.
fn multi_platform_index(reference: &str) -> String {
    let scratch = tempfile::tempdir().unwrap();
    let list = "localhost/multi:list";
    buildah(scratch.path(), &["manifest", "create", list]);
    let context = scratch.path().join("context");
    std::fs::create_dir_all(&context).unwrap();
    std::fs::write(
        context.join("Dockerfile"),
        "FROM scratch\nCOPY platform /platform\n",
    )
    .unwrap();
    let mut attestation = String::new();
    for platform in PLATFORMS.iter().chain(&["attestation"]) {
        std::fs::write(context.join("platform"), format!("{platform}\n")).unwrap();
        let image = format!("localhost/multi:{}", platform.replace('/', "-"));
        let build_for = if *platform == "attestation" {
            "linux/amd64"
        } else {
            platform
        };
        buildah(
            scratch.path(),
            &[
                "bud",
                "--quiet",
                "--platform",
                build_for,
                "-t",
                &image,
                &context.display().to_string(),
            ],
        );
        let added = buildah(
            scratch.path(),
            &["manifest", "add", list, &format!("containers-storage:{image}")],
        );
        attestation = added.trim().rsplit(' ').next().unwrap().to_string();
    }
    buildah(
        scratch.path(),
        &[
            "manifest",
            "annotate",
            "--os",
            "unknown",
            "--arch",
            "unknown",
            list,
            &attestation,
        ],
    );
    buildah(
        scratch.path(),
        &[
            "manifest",
            "push",
            "--all",
            "--format",
            "oci",
            "--tls-verify=false",
            list,
            &format!("docker://{reference}"),
        ],
    );
    attestation
}

/// A rootfs cell with `--save-platforms all`, its images pulled from a
/// docker-registry where pause names a four-platform index (linux/amd64,
/// linux/arm64, linux/arm/v7, linux/s390x) plus an attestation entry:
/// `registry/` holds the index and every platform but the attestation,
/// served by a second docker-registry per platform, and `matrix verify`
/// passes; a platform's manifest removed is a defect naming that platform.
#[test]
fn every_platform_an_index_lists_is_saved_and_verified() {
    const TAG: &str = "v1.24.4-4.2.1-amd64";
    let ws = Workspace::new(|t| t)
        .with_contexts()
        .with_stand_ins("v1.24.4-4.2.1");
    // The stand-in images, served by a registry under their own names;
    // pause is replaced by the test's multi-platform index.
    let source = Registry::start(None);
    let layout = ws.path().join("mirror/images");
    let listed: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let mut hosts = std::collections::BTreeSet::new();
    let mut pause = None;
    for entry in listed["manifests"].as_array().unwrap() {
        let name = entry["annotations"]["org.opencontainers.image.ref.name"]
            .as_str()
            .unwrap();
        hosts.insert(name.split('/').next().unwrap().to_string());
        let to = format!("{}/{name}", source.host());
        if name.ends_with("/pause:3.7") {
            pause = Some((name.to_string(), to));
            continue;
        }
        tool(
            "skopeo",
            &[
                "copy",
                "--all",
                "--quiet",
                "--dest-tls-verify=false",
                &format!("oci:{}:{name}", layout.display()),
                &format!("docker://{to}"),
            ],
        );
    }
    let (pause, pushed_to) = pause.expect("the v1.24 image list has pause:3.7");
    let attestation = multi_platform_index(&pushed_to);
    let mut extra = vec!["--save-platforms", "all", "--cri", "containerd"];
    let mirrors: Vec<String> = hosts
        .iter()
        .map(|host| format!("{host}={}/{host}", source.host()))
        .collect();
    for mirror in &mirrors {
        extra.extend(["--image-mirror", mirror]);
    }
    ws.build(TAG, "out/oci", &extra);
    let verify = |json: bool| {
        let mut args = vec!["verify", TAG, "--cri", "containerd", "--from", "out/oci"];
        if json {
            args.push("--json");
        }
        ws.run(&args)
    };
    let out = verify(true);
    assert_eq!(out.status.code(), Some(0), "{}\n{}", stdout(&out), stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["passed"], 1, "{report}");

    let rootfs = unpack(
        &ws.path().join("out/oci"),
        "kubernetes:v1.24.4-4.2.1-amd64",
        &ws.path().join("unpacked"),
    );
    let served = Registry::serve_dir(&rootfs.join("registry"));
    // registry/ holds it under its repository, without the registry host.
    let repository = pause.split_once('/').unwrap().1;
    let reference = format!("docker://{}/{repository}", served.host());
    let raw: serde_json::Value = serde_json::from_str(&tool(
        "skopeo",
        &["inspect", "--tls-verify=false", "--raw", &reference],
    ))
    .unwrap();
    assert_eq!(
        raw["manifests"].as_array().unwrap().len(),
        5,
        "the index as published: {raw}"
    );
    for platform in PLATFORMS {
        let mut parts = platform.split('/').skip(1);
        let arch = parts.next().unwrap();
        let mut args = vec!["inspect", "--tls-verify=false", "--override-arch", arch];
        if let Some(variant) = parts.next() {
            args.extend(["--override-variant", variant]);
        }
        args.push(&reference);
        let info: serde_json::Value = serde_json::from_str(&tool("skopeo", &args)).unwrap();
        assert_eq!(info["Architecture"], arch, "{platform}");
    }
    let registry = rootfs.join("registry/docker/registry/v2");
    let blob = |digest: &str| {
        let hex = digest.trim().trim_start_matches("sha256:").to_string();
        registry.join(format!("blobs/sha256/{}/{hex}/data", &hex[..2]))
    };
    assert!(!blob(&attestation).exists(), "the attestation entry is not saved");

    // The s390x manifest removed from registry/ (repacked with umoci):
    // verify names the image and the platform.
    let s390x = raw["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["platform"]["architecture"] == "s390x")
        .unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_string();
    std::fs::remove_file(blob(&s390x)).unwrap();
    let image = format!(
        "{}:kubernetes:v1.24.4-4.2.1-amd64",
        ws.path().join("out/oci").display()
    );
    tool(
        "umoci",
        &[
            "repack",
            "--image",
            &image,
            &ws.path().join("unpacked").display().to_string(),
        ],
    );
    let out = verify(false);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let said = stdout(&out);
    assert!(said.contains("pause") && said.contains("linux/s390x"), "{said}");
}
