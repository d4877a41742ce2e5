//! `--save-platforms all`: `registry/` holds each listed image's index as
//! published and every built platform's manifest and blobs, so a real
//! docker-registry serving it gives a mixed-arch cluster the right one.

mod common;

use common::registry::Registry;
use common::{Workspace, copy_dir, stderr, stdout, tool, unpack};

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

/// A rootfs cell with `--save-platforms all` passes `matrix verify`, which
/// follows the index to each platform; a platform's blob removed from
/// `registry/` is a defect named with its platform.
#[test]
fn a_rootfs_image_saved_for_all_platforms_passes_verify() {
    const TAG: &str = "v1.24.4-4.2.1-amd64";
    // Stand-ins of both arches; the amd64 cell alone is built.
    let ws = Workspace::new(|t| t)
        .with_contexts()
        .with_stand_ins("v1.24.4-4.2.1");
    let images = ws.path().join("mirror/images").display().to_string();
    ws.build(
        TAG,
        "out/oci",
        &[
            "--image-layout",
            &images,
            "--save-platforms",
            "all",
            "--cri",
            "containerd",
        ],
    );
    let out = ws.run(&[
        "verify",
        TAG,
        "--cri",
        "containerd",
        "--from",
        "out/oci",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}\n{}", stdout(&out), stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["passed"], 1, "{report}");

    let rootfs = unpack(
        &ws.path().join("out/oci"),
        "kubernetes:v1.24.4-4.2.1-amd64",
        &ws.path().join("unpacked"),
    );
    let served = Registry::serve_dir(&rootfs.join("registry"));
    let reference = format!("docker://{}/pause:3.7", served.host());
    let info: serde_json::Value = serde_json::from_str(&tool(
        "skopeo",
        &[
            "inspect",
            "--tls-verify=false",
            "--override-arch",
            "arm64",
            &reference,
        ],
    ))
    .unwrap();
    assert_eq!(info["Architecture"], "arm64");

    // The arm64 manifest of pause removed from registry/ (repacked with
    // umoci): verify names the image and the platform.
    let registry = rootfs.join("registry/docker/registry/v2");
    let tag = registry.join("repositories/pause/_manifests/tags/3.7/current/link");
    let blob = |digest: &str| {
        let hex = digest.trim().trim_start_matches("sha256:").to_string();
        registry.join(format!("blobs/sha256/{}/{hex}/data", &hex[..2]))
    };
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(blob(&std::fs::read_to_string(&tag).unwrap())).unwrap())
            .unwrap();
    let arm = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["platform"]["architecture"] == "arm64")
        .unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_string();
    std::fs::remove_file(blob(&arm)).unwrap();
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
    let out = ws.run(&["verify", TAG, "--cri", "containerd", "--from", "out/oci"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let said = stdout(&out);
    assert!(said.contains("pause") && said.contains("linux/arm64"), "{said}");
}
