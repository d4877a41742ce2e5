//! Fetching through stand-in mirrors: file:// and a real loopback HTTP
//! server with injected faults; the cache, --offline, checksums, pins and
//! placement into a cell's context.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::http::{Fault, Server};
use common::{Workspace, stderr, stdout};
use matrix::context::{Content, Context};
use matrix::fetch::{Cache, FetchOptions, Fetcher, MirrorRule, RetryPolicy, place};
use matrix::plan::CellNeeds;
use matrix::progress::Silent;
use matrix::{Matrix, Plan};

const TAG: &str = "v1.24.4-4.2.1";
/// Downloads the six cells of TAG need, once per URL.
const ARTIFACTS: u64 = 28;

/// A workspace with a stand-in mirror of TAG's artifacts in `mirror/`.
fn with_mirror() -> Workspace {
    Workspace::new(|t| t).with_stand_ins(TAG)
}

fn file_url(path: &Path) -> String {
    format!("file://{}", path.display())
}

fn fetch(ws: &Workspace, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["fetch", TAG, "--cache", "cache", "--json"];
    args.extend_from_slice(extra);
    ws.run(&args)
}

fn summary(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("json: {}\n{}", stdout(out), stderr(out)))
}

#[test]
fn file_mirror_fills_the_cache_then_fetches_nothing() {
    let ws = with_mirror();
    let mirror = file_url(&ws.path().join("mirror"));
    let first = fetch(&ws, &["--mirror", &mirror]);
    assert!(first.status.success(), "{}", stderr(&first));
    let first = summary(&first);
    // Both CRIs' and cri-o's cells on both arches: 12 components x 2 arches.
    assert_eq!(first["fetched"], ARTIFACTS);
    assert_eq!(first["failed"], 0);
    let second = summary(&fetch(&ws, &["--mirror", &mirror]));
    assert_eq!(second["fetched"], 0);
    assert_eq!(second["cached"], ARTIFACTS);
    // Offline, the cache alone serves everything.
    std::fs::remove_dir_all(ws.path().join("mirror")).unwrap();
    let offline = summary(&fetch(&ws, &["--offline"]));
    assert_eq!(offline["cached"], ARTIFACTS);
}

#[test]
fn offline_miss_names_the_artifact() {
    let ws = Workspace::new(|t| t);
    let out = fetch(&ws, &["--offline"]);
    assert_eq!(out.status.code(), Some(1));
    let json = summary(&out);
    assert_eq!(json["failed"], ARTIFACTS);
    let text = json["failures"][0].as_str().unwrap();
    assert!(
        text.contains("offline:") && text.contains("is not in the cache"),
        "{text}"
    );
}

#[test]
fn http_mirror_with_faults_retries_and_succeeds() {
    let ws = with_mirror();
    let server = Server::serve_dir(ws.path().join("mirror"));
    let kubeadm = "/dl.k8s.io/release/v1.24.4/bin/linux/amd64/kubeadm";
    let kubelet = "/dl.k8s.io/release/v1.24.4/bin/linux/amd64/kubelet";
    let runc = "/github.com/opencontainers/runc/releases/download/v1.5.1/runc.amd64";
    server.fault(kubeadm, vec![Fault::Status(500), Fault::Status(503)]);
    server.fault(kubelet, vec![Fault::TooMany(1)]);
    server.fault(runc, vec![Fault::CutBody]);
    let out = fetch(&ws, &["--mirror", &server.url()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(summary(&out)["fetched"], ARTIFACTS);
    assert_eq!(server.hits(kubeadm), 3, "500 twice, then 200");
    assert_eq!(server.hits(kubelet), 2, "429 with Retry-After, then 200");
    assert_eq!(server.hits(runc), 2, "cut mid-body, then 200");
    let err = stderr(&out);
    assert!(err.contains("retry 2: kubeadm 1.24.4 amd64"), "{err}");
}

#[test]
fn checksum_mismatch_names_everything_and_caches_nothing() {
    let ws = with_mirror();
    let mirror = ws.path().join("mirror");
    let kubelet = mirror.join("dl.k8s.io/release/v1.24.4/bin/linux/arm64/kubelet");
    std::fs::write(&kubelet, b"tampered").unwrap();
    let out = fetch(&ws, &["--mirror", &file_url(&mirror)]);
    assert_eq!(out.status.code(), Some(1));
    let json = summary(&out);
    assert_eq!(json["failed"], 1);
    let text = json["failures"][0].as_str().unwrap();
    assert!(text.contains("checksum mismatch for kubelet (arm64)"), "{text}");
    assert!(text.contains("v1.24.4/bin/linux/arm64/kubelet"), "{text}");
    let actual = matrix::digest::Sha256::of(b"tampered");
    assert!(text.contains(&format!("got {actual}")), "{text}");
    assert!(text.contains("expected sha256:"), "{text}");
    assert!(!ws.path().join("cache/sha256").join(actual.hex()).exists());
}

#[test]
fn not_found_names_url_and_component() {
    let ws = with_mirror();
    let server = Server::serve_dir(ws.path().join("mirror"));
    std::fs::remove_file(
        ws.path()
            .join("mirror/github.com/opencontainers/runc/releases/download/v1.5.1/runc.arm64"),
    )
    .unwrap();
    let out = fetch(&ws, &["--mirror", &server.url()]);
    let json = summary(&out);
    let text = json["failures"][0].as_str().unwrap();
    assert!(text.starts_with("runc: http://127.0.0.1:"), "{text}");
    assert!(text.contains("runc.arm64 was not found (404)"), "{text}");
}

#[test]
fn pins_are_written_then_enforced() {
    let ws = with_mirror();
    let mirror = file_url(&ws.path().join("mirror"));
    let out = ws.run(&["fetch", TAG, "--cache", "cache", "--mirror", &mirror, "--pin"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let lock = std::fs::read_to_string(ws.path().join("matrix.lock")).unwrap();
    assert!(lock.contains("[artifacts]"), "{lock}");
    assert!(lock.contains("\"kubelet/1.24.4/amd64\" = \"sha256:"), "{lock}");
    assert!(
        lock.contains("# Known Kubernetes patch releases"),
        "comments are kept"
    );
    // A fresh cache and a mirror whose file and sums both changed: the pin wins.
    let kubectl = ws
        .path()
        .join("mirror/dl.k8s.io/release/v1.24.4/bin/linux/amd64/kubectl");
    std::fs::write(&kubectl, b"other").unwrap();
    let sums = ws.path().join("mirror/SHA256SUMS");
    let text = std::fs::read_to_string(&sums).unwrap();
    let fixed: String = text
        .lines()
        .map(|line| {
            if line.ends_with("amd64/kubectl") {
                format!(
                    "{}  dl.k8s.io/release/v1.24.4/bin/linux/amd64/kubectl\n",
                    matrix::digest::Sha256::of(b"other").hex()
                )
            } else {
                format!("{line}\n")
            }
        })
        .collect();
    std::fs::write(&sums, fixed).unwrap();
    let out = ws.run(&["fetch", TAG, "--cache", "cache2", "--mirror", &mirror, "--json"]);
    let json = summary(&out);
    assert_eq!(json["failed"], 1);
    assert!(
        json["failures"][0]
            .as_str()
            .unwrap()
            .contains("checksum mismatch for kubectl (amd64)")
    );
}

#[test]
fn unknown_url_variable_is_a_matrix_error() {
    let ws = Workspace::new(|t| t.replace("bin/linux/{arch}/kubeadm\"", "bin/linux/{archh}/kubeadm\""));
    let out = ws.run(&["fetch", TAG]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("`component[0].url`") && err.contains("unknown placeholder `{archh}`"),
        "{err}"
    );
}

#[test]
fn fetched_files_land_in_the_context() {
    let ws = with_mirror();
    let matrix = Matrix::load(&ws.matrix()).unwrap();
    let plan = Plan::build(&matrix).unwrap();
    let cell = plan
        .select(&"kubernetes:v1.24.4-4.2.1-arm64".parse().unwrap())
        .pop()
        .unwrap()
        .clone();
    let fetcher = Fetcher::new(FetchOptions {
        cache: ws.path().join("cache"),
        mirrors: vec![MirrorRule::Tree(file_url(&ws.path().join("mirror")).into())],
        offline: false,
        jobs: 2,
        retry: RetryPolicy::default(),
        timeout: std::time::Duration::from_secs(30),
    })
    .unwrap();
    let artifacts = CellNeeds::of(&matrix, &cell.cell).unwrap().artifacts;
    let names: Vec<&str> = artifacts.iter().map(|a| a.component.as_str()).collect();
    assert_eq!(
        names,
        [
            "kubeadm",
            "kubelet",
            "kubectl",
            "crictl",
            "containerd",
            "runc",
            "crun",
            "libseccomp",
            "lsof",
            "registry",
            "sealos"
        ]
    );
    let mut context = Context::new();
    let cache = Cache::open(&ws.path().join("cache")).unwrap();
    for (artifact, result) in artifacts
        .iter()
        .zip(fetcher.fetch_all(&artifacts, &|_| None, &Silent))
    {
        place(&mut context, artifact, &result.unwrap(), &cache).unwrap();
    }
    // containerd, runc and crun are staged for one bundle, then packed.
    assert!(context.get("cri/cri-containerd.tar.gz/usr/bin/runc").is_some());
    matrix::fetch::pack_all(&matrix, &mut context, &cache).unwrap();
    assert!(context.get("cri/cri-containerd.tar.gz/usr/bin/runc").is_none());
    let expect = [
        ("bin/kubeadm", 0o755),
        ("bin/crictl", 0o755),
        ("bin/conntrack", 0o755),
        ("cri/cri-containerd.tar.gz", 0o644),
        ("cri/libseccomp.tar.gz", 0o644),
        ("opt/lsof", 0o755),
        ("cri/registry", 0o755),
        ("cri/image-cri-shim", 0o755),
        ("opt/sealctl", 0o755),
    ];
    for (path, mode) in expect {
        let entry = context.get(path).unwrap_or_else(|| panic!("{path} missing"));
        assert_eq!(entry.mode, mode, "{path}");
        let Content::Verified { path: file, .. } = &entry.content else {
            panic!("{path} is not a file")
        };
        let text = std::fs::read(file).unwrap();
        assert!(
            String::from_utf8_lossy(&text).contains("STAND-IN") || path.ends_with(".tar.gz"),
            "{path}"
        );
    }
    assert_eq!(
        context.get("opt/sealctl").unwrap().origin.to_string(),
        "artifact:sealos"
    );
}

#[test]
fn check_urls_asks_the_servers_and_names_what_is_missing() {
    let ws = with_mirror();
    let server = Server::serve_dir(ws.path().join("mirror"));
    // Every URL exists in the stand-in tree, served over loopback HTTP.
    let out = fetch(&ws, &["--mirror", &server.url(), "--check-urls"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let checks = summary(&out);
    let checks = checks.as_array().unwrap();
    // Artifacts and the checksum files the components name, each once.
    assert!(checks.len() > ARTIFACTS as usize, "{}", checks.len());
    assert!(checks.iter().all(|c| c["status"] == 200), "{checks:?}");
    assert_eq!(
        server.total_hits(),
        checks.len(),
        "one HEAD a URL, nothing downloaded"
    );
    assert!(!ws.path().join("cache").exists(), "nothing is cached");

    // A URL the server lacks is named with its status; exit 1.
    let crictl = ws
        .path()
        .join("mirror/github.com/kubernetes-sigs/cri-tools/releases/download/v1.24.2/crictl-v1.24.2-linux-arm64.tar.gz");
    std::fs::remove_file(&crictl).unwrap();
    let out = ws.run(&["fetch", TAG, "--mirror", &server.url(), "--check-urls"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.lines()
            .any(|l| l.starts_with("MISSING\t404\tcrictl\tartifact\t")
                && l.ends_with("crictl-v1.24.2-linux-arm64.tar.gz")),
        "{text}"
    );
}

/// The URLs a cell of the present resolves to are the ones labring's own
/// scripts download for it (labring-actions/cache `.github/scripts/kube`
/// @22e8787 and `cri` @1915474: crictl and cri-o the newest patch of the
/// minor, docker the newest 28.x, cri-dockerd, crun and the registry their
/// newest releases, the Kubernetes binaries from dl.k8s.io), with the
/// differences this matrix chose named: containerd's static build, cri-o's
/// bundle from its GCS bucket (the same file labring takes from the GitHub
/// release), the registry pinned to 2.x.
#[test]
fn the_present_downloads_what_labrings_scripts_download() {
    let tag = "v1.36.5-5.1.1";
    let ws = Workspace::new(|t| t).with_stand_ins(tag);
    let mirror = ws.path().join("mirror");
    let mut urls = BTreeSet::new();
    let mut stack = vec![mirror.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(&mirror).unwrap().display().to_string();
                if !rel.starts_with("images/") && !rel.ends_with("SHA256SUMS") {
                    urls.insert(format!("https://{rel}"));
                }
            }
        }
    }
    for (arch, uname) in [("amd64", "x86_64"), ("arm64", "aarch64")] {
        let labring = [
            format!("https://dl.k8s.io/release/v1.36.5/bin/linux/{arch}/kubeadm"),
            format!("https://dl.k8s.io/release/v1.36.5/bin/linux/{arch}/kubelet"),
            format!("https://dl.k8s.io/release/v1.36.5/bin/linux/{arch}/kubectl"),
            format!(
                "https://github.com/kubernetes-sigs/cri-tools/releases/download/v1.36.0/crictl-v1.36.0-linux-{arch}.tar.gz"
            ),
            format!(
                "https://github.com/Mirantis/cri-dockerd/releases/download/v0.4.3/cri-dockerd-0.4.3.{arch}.tgz"
            ),
            format!("https://download.docker.com/linux/static/stable/{uname}/docker-28.5.2.tgz"),
            format!("https://github.com/containers/crun/releases/download/1.29.1/crun-1.29.1-linux-{arch}"),
            format!(
                "https://github.com/distribution/distribution/releases/download/v2.8.3/registry_2.8.3_linux_{arch}.tar.gz"
            ),
        ];
        for url in &labring {
            assert!(urls.contains(url), "{url} not among {urls:#?}");
        }
        // Same versions, another asset or mirror of it.
        let differ = [
            (
                format!("containerd-1.7.34-linux-{arch}.tar.gz"),
                format!(
                    "https://github.com/containerd/containerd/releases/download/v1.7.34/containerd-static-1.7.34-linux-{arch}.tar.gz"
                ),
            ),
            (
                format!("cri-o.{arch}.v1.36.3.tar.gz"),
                format!("https://storage.googleapis.com/cri-o/artifacts/cri-o.{arch}.v1.36.3.tar.gz"),
            ),
            (
                format!("runc.{arch}"),
                format!("https://github.com/opencontainers/runc/releases/download/v1.5.1/runc.{arch}"),
            ),
        ];
        for (theirs, ours) in &differ {
            assert!(
                urls.contains(ours),
                "{ours} (labring: {theirs}) not among {urls:#?}"
            );
        }
    }
}

/// `--stand-in-payload` pads stand-ins with a real file's bytes (cycled),
/// still marked as stand-ins, the same bytes on every run; a payload that
/// is empty is bad input.
#[test]
fn stand_ins_carry_a_payload_cycled_to_their_size() {
    let ws = Workspace::new(|t| t);
    let payload = ws.path().join("payload");
    let pattern: Vec<u8> = (0..1000u32)
        .flat_map(|n| format!("go-symbol-{n};").into_bytes())
        .collect();
    std::fs::write(&payload, &pattern).unwrap();
    let payload_arg = payload.to_str().unwrap();
    let mirror = |to: &str| {
        ws.run(&[
            "mirror",
            "--stand-ins",
            "--to",
            to,
            "v1.24.4-4.2.1",
            "--cri",
            "containerd",
            "--arch",
            "amd64",
            "--stand-in-size",
            "kubelet=1M",
            "--stand-in-payload",
            payload_arg,
        ])
    };
    for to in ["m1", "m2"] {
        let out = mirror(to);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let kubelet = |root: &str| {
        let found = walk(&ws.path().join(root))
            .into_iter()
            .find(|p| p.ends_with("/kubelet"))
            .unwrap();
        std::fs::read(found).unwrap()
    };
    let body = kubelet("m1");
    assert_eq!(body.len(), 1 << 20);
    assert!(body.starts_with(b"#!/bin/sh\n# STAND-IN for kubelet"));
    // After the marked head, every byte comes from the payload, in order.
    let head = body.windows(7).position(|w| w == b"exit 0\n").unwrap() + 7;
    let tail = &body[head..head + 4096];
    let start = pattern
        .windows(64)
        .position(|w| w == &tail[..64])
        .expect("payload bytes");
    let cycled: Vec<u8> = pattern.iter().cycle().skip(start).take(4096).copied().collect();
    assert_eq!(tail, cycled.as_slice());
    assert_eq!(body, kubelet("m2"), "the same bytes on every run");

    std::fs::write(&payload, b"").unwrap();
    let out = mirror("m3");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not a non-empty regular file"),
        "{}",
        stderr(&out)
    );
}

fn walk(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(walk(&path));
        } else {
            found.push(path.to_string_lossy().into_owned());
        }
    }
    found
}
