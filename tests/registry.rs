//! Everything against a real `docker-registry` on loopback: saving a
//! cell's images into registry/ (then served by a second registry), push,
//! re-push, diff (missing and stale), faults through a proxy, htpasswd and
//! Bearer auth without leaking secrets, tag pagination, version refresh.

mod common;

use std::path::Path;

use common::proxy::{Bearer, Fault, Proxy};
use common::registry::Registry;
use common::{Workspace, stderr, stdout, unpack};
use matrix::context::{Content, Entry, Origin};
use matrix::oci::{
    Compression, IndexEntry, LayerFile, LayerSpec, RefName, Store, build_index, build_manifest, write_layer,
};
use matrix::render::ImageMeta;
use matrix::{Arch, registry};

const TAG: &str = "v1.24.4-4.2.1";

fn skopeo(args: &[&str]) -> String {
    common::tool("skopeo", args)
}

/// Pushes small generated two-arch images (`repo/name:tag`) to `host`.
fn seed_images(host: &str, images: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    for image in images {
        let mut entries = Vec::new();
        for arch in [Arch::Amd64, Arch::Arm64] {
            let entry = Entry {
                content: Content::Bytes(format!("stand-in image {image} for {arch}\n").into_bytes()),
                mode: 0o644,
                origin: Origin::Generated("test"),
            };
            let spec = LayerSpec {
                name: "stand-in".into(),
                files: vec![LayerFile {
                    path: "stand-in.txt",
                    entry: &entry,
                }],
                compression: Compression::Gzip(1),
                mtime: 0,
            };
            let layer = write_layer(&store, &spec).unwrap();
            let info = build_manifest(
                &store,
                arch,
                &ImageMeta::default(),
                &[("stand-in".into(), layer)],
                0,
            )
            .unwrap();
            entries.push(IndexEntry {
                descriptor: info.descriptor,
                arch,
            });
        }
        let index = build_index(&store, &entries).unwrap();
        let (name, tag) = image.rsplit_once(':').unwrap();
        store
            .set_refs(vec![(RefName::new(name, &tag.parse().unwrap()), index)])
            .unwrap();
        skopeo(&[
            "copy",
            "--all",
            "--quiet",
            "--dest-tls-verify=false",
            &format!("oci:{}:{image}", dir.path().display()),
            &format!("docker://{host}/{image}"),
        ]);
    }
}

/// The image list of v1.24.4 with sealos 4.2.1, under the mirror prefixes.
const SOURCES: [&str; 8] = [
    "k8s/kube-apiserver:v1.24.4",
    "k8s/kube-controller-manager:v1.24.4",
    "k8s/kube-scheduler:v1.24.4",
    "k8s/kube-proxy:v1.24.4",
    "k8s/pause:3.7",
    "k8s/etcd:3.5.3-0",
    "k8s/coredns/coredns:v1.8.6",
    "ghcr/labring/lvscare:v4.2.1",
];

fn workspace() -> Workspace {
    Workspace::new(|t| t).with_contexts().with_stand_ins(TAG)
}

fn run_json(ws: &Workspace, args: &[&str]) -> (Option<i32>, serde_json::Value) {
    let out = ws.run(args);
    let json = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("{args:?}: {}\n{}", stdout(&out), stderr(&out)));
    (out.status.code(), json)
}

fn build(ws: &Workspace, out: &str, extra: &[&str]) {
    ws.build(TAG, out, extra);
}

#[test]
fn build_saves_the_image_list_and_a_registry_serves_it() {
    let source = Registry::start(None);
    seed_images(&source.host(), &SOURCES);
    let counter = Proxy::start(source.host(), None);
    let ws = workspace();
    let k8s = format!("k8s.gcr.io={}/k8s", counter.host());
    let ghcr = format!("ghcr.io={}/ghcr", counter.host());
    build(
        &ws,
        "out",
        &[
            "--cri",
            "containerd,docker",
            "--image-mirror",
            &k8s,
            "--image-mirror",
            &ghcr,
        ],
    );
    // 2 CRIs x 2 arches pulled the same lists: every blob came down once.
    let blob_gets: Vec<_> = counter
        .all_hits()
        .into_iter()
        .filter(|((method, path), _)| method == "GET" && path.contains("/blobs/sha256:"))
        .collect();
    assert_eq!(blob_gets.len(), 8 * 2 * 2, "config + layer per image and arch");
    assert!(blob_gets.iter().all(|(_, n)| *n == 1), "{blob_gets:?}");

    for arch in ["amd64", "arm64"] {
        let rootfs = unpack(
            &ws.path().join("out"),
            &format!("kubernetes:{TAG}-{arch}"),
            &ws.path().join(format!("bundle-{arch}")),
        );
        let tree = rootfs.join("registry");
        let served = Registry::serve_dir(&tree);
        let list = std::fs::read_to_string(rootfs.join("images/shim/DefaultImageList")).unwrap();
        for line in list.lines() {
            let local = line.split_once('/').map(|(_, rest)| rest).unwrap();
            let info: serde_json::Value = serde_json::from_str(&skopeo(&[
                "inspect",
                "--tls-verify=false",
                &format!("docker://{}/{local}", served.host()),
            ]))
            .unwrap();
            assert_eq!(info["Architecture"], arch, "{local}");
        }
    }
}

#[test]
fn sealignore_leaves_images_out() {
    let source = Registry::start(None);
    seed_images(&source.host(), &SOURCES);
    let ws = workspace();
    std::fs::write(
        ws.path().join("runtime/kube/.sealignore"),
        "# not shipped\nghcr.io/labring/lvscare:v4.2.1\n",
    )
    .unwrap();
    let k8s = format!("k8s.gcr.io={}/k8s", source.host());
    build(
        &ws,
        "out",
        &["--cri", "containerd", "--arch", "amd64", "--image-mirror", &k8s],
    );
    let rootfs = unpack(
        &ws.path().join("out"),
        &format!("kubernetes:{TAG}-amd64"),
        &ws.path().join("bundle"),
    );
    let repos = rootfs.join("registry/docker/registry/v2/repositories");
    assert!(repos.join("pause/_manifests/tags/3.7/current/link").is_file());
    assert!(!repos.join("labring").exists());
}

#[test]
fn push_then_diff_then_delete_then_stale() {
    let ws = workspace();
    build(&ws, "out", &["--skip-images"]);
    let target_registry = Registry::start(None);
    let target = format!("{}/labring", target_registry.host());
    let (code, first) = run_json(&ws, &["push", TAG, "--from", "out", "--to", &target, "--json"]);
    assert_eq!(code, Some(0), "{first}");
    assert!(first["bytes_sent"].as_u64().unwrap() > 0);
    assert_eq!(first["tags_put"], 9, "6 per-arch tags and 3 indexes");
    // Layers shared between the CRIs' images are mounted, not sent again.
    assert!(first["blobs_mounted"].as_u64().unwrap() > 0, "{first}");
    // A re-push sends nothing.
    let (_, again) = run_json(&ws, &["push", TAG, "--from", "out", "--to", &target, "--json"]);
    assert_eq!(again["bytes_sent"], 0, "{again}");
    assert_eq!(again["tags_put"], 0);
    assert_eq!(again["tags_unchanged"], 9);
    let diff = [
        "diff",
        "--registry",
        &target,
        "--kube",
        "1.24.4",
        "--sealos",
        "4.2.1",
        "--from",
        "out",
        "--json",
    ];
    let (code, report) = run_json(&ws, &diff);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report[0]["missing"], 0);
    assert_eq!(report[0]["stale"], 0);
    // Delete one tag on the registry: diff names exactly it.
    skopeo(&[
        "delete",
        "--tls-verify=false",
        &format!("docker://{target}/kubernetes:{TAG}-arm64"),
    ]);
    let (code, report) = run_json(&ws, &diff);
    assert_eq!(code, Some(3), "{report}");
    assert_eq!(report[0]["missing"], 1);
    let kubernetes = report[0]["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["image"] == "kubernetes")
        .unwrap();
    assert_eq!(kubernetes["missing"], serde_json::json!([format!("{TAG}-arm64")]));
    // Rebuild with other content: the published images are now stale.
    let conf = ws.path().join("runtime/kube/etc/sysctl.d/sealos-k8s.conf");
    let mut text = std::fs::read_to_string(&conf).unwrap();
    text.push_str("net.core.somaxconn = 32768\n");
    std::fs::write(&conf, text).unwrap();
    build(&ws, "out", &["--skip-images"]);
    let (_, report) = run_json(&ws, &diff);
    let stale = kubernetes_field(&report, "stale");
    assert!(
        stale.contains(&format!("{TAG}-amd64")) && stale.contains(&TAG.to_string()),
        "{stale:?}"
    );
}

fn kubernetes_field(report: &serde_json::Value, field: &str) -> Vec<String> {
    report[0]["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["image"] == "kubernetes")
        .unwrap()[field]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn push_retries_through_faults() {
    let ws = workspace();
    build(&ws, "out", &["--skip-images", "--cri", "containerd"]);
    let target_registry = Registry::start(None);
    let proxy = Proxy::start(target_registry.host(), None);
    proxy.fault(
        "POST",
        "/v2/labring/kubernetes/blobs/uploads/",
        vec![Fault::Status(500), Fault::Status(502)],
    );
    proxy.fault(
        "PUT",
        "/v2/labring/kubernetes/manifests/",
        vec![Fault::TooMany(1)],
    );
    proxy.fault("PUT", "/v2/labring/kubernetes/blobs/uploads/", vec![Fault::Cut]);
    proxy.fault("HEAD", "/v2/labring/kubernetes/blobs/", vec![Fault::Cut]);
    let target = format!("{}/labring", proxy.host());
    let image = format!("kubernetes:{TAG}");
    let (code, report) = run_json(&ws, &["push", &image, "--from", "out", "--to", &target, "--json"]);
    assert_eq!(code, Some(0), "{report}");
    assert!(proxy.hits("POST", "/v2/labring/kubernetes/blobs/uploads/") >= 3);
    // The real registry has a complete image.
    let info: serde_json::Value = serde_json::from_str(&skopeo(&[
        "inspect",
        "--tls-verify=false",
        &format!(
            "docker://{}/labring/kubernetes:{TAG}-amd64",
            target_registry.host()
        ),
    ]))
    .unwrap();
    assert_eq!(info["Labels"]["version"], "v1.24.4");
}

fn htpasswd(dir: &Path, user: &str, password: &str) -> std::path::PathBuf {
    let hash = bcrypt::hash(password, 4).unwrap();
    let path = dir.join("htpasswd");
    std::fs::write(&path, format!("{user}:{hash}\n")).unwrap();
    path
}

#[test]
fn basic_auth_works_and_secrets_stay_out_of_output() {
    let ws = workspace();
    build(
        &ws,
        "out",
        &["--skip-images", "--cri", "containerd", "--arch", "amd64"],
    );
    let file = htpasswd(ws.path(), "builder", "Sup3r-Secret-pw");
    let registry = Registry::start(Some(&file));
    let target = format!("{}/labring", registry.host());
    let push = |creds: Option<&str>| {
        let mut args = vec![
            "push".to_string(),
            format!("kubernetes:{TAG}-amd64"),
            "--from".into(),
            "out".into(),
            "--to".into(),
            target.clone(),
        ];
        if let Some(creds) = creds {
            args.push("--creds".into());
            args.push(creds.into());
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        ws.run(&refs)
    };
    let anonymous = push(None);
    assert_eq!(anonymous.status.code(), Some(1));
    assert!(
        stderr(&anonymous).contains("not authorized") && stderr(&anonymous).contains("--creds"),
        "{}",
        stderr(&anonymous)
    );
    let wrong = push(Some("builder:wrong-Secret-xyz"));
    assert_eq!(wrong.status.code(), Some(1));
    assert!(!stderr(&wrong).contains("wrong-Secret-xyz") && !stdout(&wrong).contains("wrong-Secret-xyz"));
    let right = push(Some("builder:Sup3r-Secret-pw"));
    assert!(right.status.success(), "{}", stderr(&right));
    assert!(!stderr(&right).contains("Sup3r-Secret-pw") && !stdout(&right).contains("Sup3r-Secret-pw"));
}

#[test]
fn bearer_tokens_come_from_the_realm() {
    let ws = workspace();
    build(
        &ws,
        "out",
        &["--skip-images", "--cri", "containerd", "--arch", "amd64"],
    );
    let registry = Registry::start(None);
    let bearer = Bearer {
        user: "robot".into(),
        password: "t0ken-pass".into(),
        token: "issued-token-123".into(),
    };
    let proxy = Proxy::start(registry.host(), Some(bearer));
    let target = format!("{}/labring", proxy.host());
    let denied = ws.run(&[
        "push",
        &format!("kubernetes:{TAG}-amd64"),
        "--from",
        "out",
        "--to",
        &target,
    ]);
    assert_eq!(denied.status.code(), Some(1));
    assert!(stderr(&denied).contains("not authorized"), "{}", stderr(&denied));
    let out = ws.run(&[
        "push",
        &format!("kubernetes:{TAG}-amd64"),
        "--from",
        "out",
        "--to",
        &target,
        "--creds",
        "robot:t0ken-pass",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("issued-token-123") && !stdout(&out).contains("t0ken-pass"));
    assert!(
        proxy.hits("GET", "/token") == 0,
        "token requests are not forwarded or counted"
    );
}

#[test]
fn tags_follow_link_pagination_and_drop_nulls() {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let server = std::thread::spawn(move || {
        let all: Vec<String> = (0..5000).map(|i| format!("v{i:05}")).collect();
        let mut pages = 0;
        for stream in listener.incoming().take(50) {
            let mut stream = stream.unwrap();
            let mut line = String::new();
            BufReader::new(stream.try_clone().unwrap())
                .read_line(&mut line)
                .unwrap();
            let target = line.split_whitespace().nth(1).unwrap().to_string();
            let last = target
                .split("last=")
                .nth(1)
                .map(|l| l.split('&').next().unwrap().to_string());
            let start = last.map_or(0, |l| all.iter().position(|t| *t == l).unwrap() + 1);
            let page: Vec<&String> = all.iter().skip(start).take(100).collect();
            let mut tags: Vec<serde_json::Value> = page.iter().map(|t| serde_json::json!(t)).collect();
            if start == 0 {
                tags.push(serde_json::Value::Null);
            }
            let body = serde_json::json!({ "name": "big", "tags": tags }).to_string();
            let link = if start + 100 < all.len() {
                format!(
                    "Link: </v2/big/tags/list?n=100&last={}>; rel=\"next\"\r\n",
                    page.last().unwrap()
                )
            } else {
                String::new()
            };
            let response = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n{link}\r\n{body}",
                body.len()
            );
            stream.write_all(response.as_bytes()).unwrap();
            pages += 1;
            if link.is_empty() {
                break;
            }
        }
        pages
    });
    let client = registry::Client::new(registry::CredentialStore::default(), false).unwrap();
    let tags = client.tags(&host, "big").unwrap();
    assert_eq!(tags.len(), 5000);
    assert_eq!(tags.first().unwrap(), "v00000");
    assert_eq!(tags.last().unwrap(), "v04999");
    assert_eq!(server.join().unwrap(), 50);
}

#[test]
fn versions_refresh_reads_release_tags() {
    let registry = Registry::start(None);
    seed_images(&registry.host(), &["kube-apiserver:v1.38.0"]);
    for tag in ["v1.38.1", "v1.38.2-rc.0", "v1.37.1"] {
        skopeo(&[
            "copy",
            "--all",
            "--quiet",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            &format!("docker://{}/kube-apiserver:v1.38.0", registry.host()),
            &format!("docker://{}/kube-apiserver:{tag}", registry.host()),
        ]);
    }
    let ws = Workspace::new(|t| t);
    let source = format!("{}/kube-apiserver", registry.host());
    // kubeadm of each new release, as dl.k8s.io lays it out (with its
    // .sha256), is run for its image list: a stand-in that answers like
    // kubeadm 1.38 would, moving etcd at 1.38.1.
    let dl = tempfile::tempdir().unwrap();
    let arch = if cfg!(target_arch = "aarch64") {
        "arm64"
    } else {
        "amd64"
    };
    for (version, etcd) in [("v1.38.0", "3.7.1-0"), ("v1.38.1", "3.7.2-0")] {
        let dir = dl.path().join(format!("release/{version}/bin/linux/{arch}"));
        std::fs::create_dir_all(&dir).unwrap();
        let script = format!(
            "#!/bin/sh\n[ \"$4 $5\" = \"--kubernetes-version {version}\" ] || exit 3\nfor i in kube-apiserver kube-controller-manager kube-scheduler kube-proxy; do echo registry.k8s.io/$i:{version}; done\necho registry.k8s.io/coredns/coredns:v1.14.7\necho registry.k8s.io/pause:3.10.2\necho registry.k8s.io/etcd:{etcd}\n"
        );
        std::fs::write(dir.join("kubeadm"), &script).unwrap();
        let sum = matrix::digest::Sha256::of(script.as_bytes()).hex();
        std::fs::write(dir.join("kubeadm.sha256"), format!("{sum}\n")).unwrap();
    }
    let kubeadm = format!("file://{}", dl.path().display());
    let dry = ws.run(&[
        "versions",
        "--refresh",
        "--source",
        &source,
        "--kubeadm",
        &kubeadm,
        "--dry-run",
    ]);
    assert!(dry.status.success(), "{}", stderr(&dry));
    assert!(
        stdout(&dry).contains("new: v1.38.0") && stdout(&dry).contains("new: v1.38.1"),
        "{}",
        stdout(&dry)
    );
    assert!(!stdout(&dry).contains("rc"), "{}", stdout(&dry));
    // A dry run prints the lock's change as a diff.
    assert!(stdout(&dry).contains("+ \"1.38\" = [0, 1]"), "{}", stdout(&dry));
    assert!(
        stdout(&dry).contains("+ etcd = { 0 = \"3.7.1-0\", 1 = \"3.7.2-0\" }"),
        "{}",
        stdout(&dry)
    );
    let lock = std::fs::read_to_string(ws.path().join("matrix.lock")).unwrap();
    assert!(!lock.contains("\"1.38\""));
    assert!(
        stdout(&dry).contains("kubeadm v1.38.0: registry.k8s.io/pause:3.10.2 registry.k8s.io/etcd:3.7.1-0"),
        "{}",
        stdout(&dry)
    );
    let wet = ws.run(&[
        "versions",
        "--refresh",
        "--source",
        &source,
        "--kubeadm",
        &kubeadm,
    ]);
    assert!(wet.status.success(), "{}", stderr(&wet));
    let lock = std::fs::read_to_string(ws.path().join("matrix.lock")).unwrap();
    assert!(lock.contains("\"1.38\" = [0, 1]"), "{lock}");
    // The new minor's kubeadm facts, etcd stepping at 1.38.1, and the lock
    // reads them back.
    assert!(lock.contains("[kubeadm.\"1.38\"]"), "{lock}");
    let facts = matrix::lock::Lock::load(&ws.path().join("matrix.lock")).unwrap();
    let at = |v: &str| facts.kubeadm_images(&v.parse().unwrap()).unwrap();
    assert_eq!(at("1.38.0").etcd, "3.7.1-0");
    assert_eq!(at("1.38.1").etcd, "3.7.2-0");
    assert_eq!(at("1.38.1").coredns, "coredns/coredns:v1.14.7");
    assert_eq!(at("1.38.1").registry, "registry.k8s.io");
    assert!(
        lock.contains("[kubeadm.\"1.24\"]"),
        "the rest of the lock is kept"
    );
    // New releases are dated the day the refresh saw them, and the lock
    // still loads, so the windows can place them.
    let today = matrix::version::Day::today().to_string();
    assert!(lock.contains(&format!("\"1.38.1\" = {today}")), "{lock}");
    assert!(matrix::lock::Lock::load(&ws.path().join("matrix.lock")).is_ok());

    // k3s builds and sealos releases from recorded GitHub release lists,
    // served on loopback: a rebuild of a known minor is new, a candidate
    // and a draft are not; sealos releases are reported with their days.
    let api = tempfile::tempdir().unwrap();
    let write = |repo: &str, body: &str| {
        let dir = api.path().join("repos").join(repo);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("releases"), body).unwrap();
    };
    write(
        "k3s-io/k3s",
        r#"[{"tag_name": "v1.37.2+k3s1", "prerelease": false, "published_at": "2026-11-03T17:32:00Z"},
            {"tag_name": "v1.37.1+k3s2", "prerelease": false, "published_at": "2026-10-20T10:00:00Z"},
            {"tag_name": "v1.37.3-rc1+k3s1", "prerelease": true, "published_at": "2026-11-28T10:00:00Z"},
            {"tag_name": "v1.37.1+k3s1", "prerelease": false, "published_at": "2026-09-30T10:00:00Z"},
            {"tag_name": "v1.36.9+k3s1", "draft": true, "prerelease": false, "published_at": null}]"#,
    );
    write(
        "kubernetes/kubernetes",
        r#"[{"tag_name": "v1.38.2", "prerelease": false, "published_at": "2026-11-11T18:00:00Z"},
            {"tag_name": "v1.38.3-rc.0", "prerelease": true, "published_at": "2026-11-25T18:00:00Z"}]"#,
    );
    write(
        "labring/sealos",
        r#"[{"tag_name": "v5.1.2-rc7", "prerelease": true, "published_at": "2026-11-20T08:00:00Z"},
            {"tag_name": "v5.1.1", "prerelease": false, "published_at": "2025-11-17T08:00:00Z"}]"#,
    );
    let github = common::http::Server::serve_dir(api.path().to_path_buf());
    // A new patch is dated by its GitHub release, not by the day it is seen.
    skopeo(&[
        "copy",
        "--all",
        "--quiet",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        &format!("docker://{}/kube-apiserver:v1.38.0", registry.host()),
        &format!("docker://{}/kube-apiserver:v1.38.2", registry.host()),
    ]);
    let args = [
        "versions",
        "--refresh",
        "--source",
        &source,
        "--github",
        &github.url(),
    ];
    let dry = ws.run(&[&args[..], &["--dry-run"]].concat());
    assert!(dry.status.success(), "{}", stderr(&dry));
    let text = stdout(&dry);
    assert!(text.contains("new k3s: v1.37.1+k3s2"), "{text}");
    assert!(text.contains("new k3s: v1.37.2+k3s1"), "{text}");
    assert!(!text.contains("rc1"), "{text}");
    assert!(
        text.contains("new sealos pre-release: 5.1.2-rc7 (2026-11-20)"),
        "{text}"
    );
    assert!(!text.contains("sealos release: 5.1.1"), "{text}");
    let before = std::fs::read_to_string(ws.path().join("matrix.lock")).unwrap();
    assert!(!before.contains("1.37.2+k3s1"), "a dry run writes nothing");
    let wet = ws.run(&args);
    assert!(wet.status.success(), "{}", stderr(&wet));
    let lock = matrix::lock::Lock::load(&ws.path().join("matrix.lock")).unwrap();
    let k3s: Vec<String> = lock
        .k3s_releases("1.37".parse().unwrap())
        .iter()
        .map(ToString::to_string)
        .collect();
    // The rebuild replaces 1.37.1+k3s1 (one image tag per patch).
    assert_eq!(k3s, ["v1.37.0+k3s1", "v1.37.1+k3s2", "v1.37.2+k3s1"]);
    let text = std::fs::read_to_string(ws.path().join("matrix.lock")).unwrap();
    assert!(text.contains("\"1.38.2\" = 2026-11-11"), "{text}");
    assert_eq!(
        github.hits("/repos/k3s-io/k3s/releases"),
        2,
        "one short page per run"
    );
}

#[test]
fn large_blobs_go_up_in_chunks_and_restart_after_a_cut() {
    let registry = Registry::start(None);
    let proxy = Proxy::start(registry.host(), None);
    proxy.fault("PATCH", "/v2/big/blob/blobs/uploads/", vec![Fault::Cut]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("blob");
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&file, &bytes).unwrap();
    let digest = matrix::digest::Sha256::of(&bytes).to_string();
    let client = registry::Client::new(registry::CredentialStore::default(), false)
        .unwrap()
        .with_chunk(64 * 1024);
    client
        .upload_blob(&proxy.host(), "big/blob", &digest, &file, bytes.len() as u64)
        .unwrap();
    assert!(client.blob_exists(&registry.host(), "big/blob", &digest).unwrap());
    // Five chunks, one of them sent twice after the cut.
    assert!(proxy.hits("PATCH", "/v2/big/blob/blobs/uploads/") >= 6);
    let cache = matrix::fetch::Cache::open(&dir.path().join("cache")).unwrap();
    let path = client
        .fetch_blob(&registry.host(), "big/blob", &digest, &cache)
        .unwrap();
    assert_eq!(std::fs::read(path).unwrap(), bytes);
}

/// A recipe `FROM` an image of a real registry keeps the base's layers
/// (first) and config (under its own), as a Kubefile's FROM does.
#[test]
fn a_recipe_from_a_base_image_keeps_its_layers_and_config() {
    use matrix::pipeline::{LayerSlots, RegistrySaver, WriteOptions, write_recipe};
    use matrix::recipe::{LayerGroup, LayerPolicy, Recipe, Takes};
    let registry = Registry::start(None);
    seed_images(&registry.host(), &["library/base:1"]);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("oci")).unwrap();
    let cache = matrix::fetch::Cache::open(&dir.path().join("cache")).unwrap();
    let client = registry::Client::new(registry::CredentialStore::default(), false).unwrap();
    let saver = RegistrySaver::new(
        matrix::pipeline::Puller::Registry {
            client: &client,
            mirrors: Vec::new(),
        },
        &cache,
        &matrix::progress::Silent,
    );
    let options = WriteOptions {
        store: &store,
        compression: Compression::Gzip(6),
        epoch: 0,
        saver: Some(&saver),
    };
    let mut context = matrix::context::Context::new();
    let entry = Entry {
        content: Content::Bytes(b"an app file\n".to_vec()),
        mode: 0o644,
        origin: Origin::Generated("test"),
    };
    context.insert("manifests/app.yaml".into(), entry, &[]).unwrap();
    let mut config = ImageMeta::default();
    config.env.insert("APP".into(), "1".into());
    config.cmd = vec!["kubectl apply -f manifests/".into()];
    let recipe = Recipe {
        image: "app".into(),
        tag: "1.0-arm64".into(),
        platform: Arch::Arm64,
        context,
        layers: LayerPolicy {
            groups: vec![LayerGroup {
                name: "app".into(),
                takes: vec![Takes::Generated],
            }],
        },
        config,
        images: Vec::new(),
        base: Some(format!("{}/library/base:1", registry.host())),
    };
    let written = write_recipe(recipe, &options, &LayerSlots::default()).unwrap();
    assert!(!written.unchanged && written.layers_written == 1);
    let record = written.record;
    let tag: matrix::Tag = "1.0-arm64".parse().unwrap();
    store
        .set_refs(vec![(RefName::new("app", &tag), record.descriptor().clone())])
        .unwrap();
    let reference = format!("oci:{}:app:1.0-arm64", dir.path().join("oci").display());
    let raw: serde_json::Value = serde_json::from_str(&skopeo(&["inspect", "--raw", &reference])).unwrap();
    assert_eq!(
        raw["layers"].as_array().unwrap().len(),
        2,
        "base layer, then the app's: {raw}"
    );
    let config: serde_json::Value =
        serde_json::from_str(&skopeo(&["inspect", "--config", &reference])).unwrap();
    assert_eq!(config["architecture"], "arm64");
    assert_eq!(config["config"]["Env"], serde_json::json!(["APP=1"]));
    assert_eq!(
        config["config"]["Cmd"],
        serde_json::json!(["kubectl apply -f manifests/"])
    );
    // The base's layer is the arm64 one, byte for byte.
    let base = format!("docker://{}/library/base:1", registry.host());
    let base_raw: serde_json::Value = serde_json::from_str(&skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        "--override-arch",
        "arm64",
        &base,
    ]))
    .unwrap();
    let arm64 = base_raw["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["platform"]["architecture"] == "arm64")
        .unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let base_manifest: serde_json::Value = serde_json::from_str(&skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{}/library/base@{arm64}", registry.host()),
    ]))
    .unwrap();
    assert_eq!(raw["layers"][0]["digest"], base_manifest["layers"][0]["digest"]);
    skopeo(&[
        "copy",
        "--quiet",
        &reference,
        &format!("dir:{}", dir.path().join("copy").display()),
    ]);
}

/// A distribution storage tree under `labring/` holding `image:tag` lines,
/// every tag linking one stand-in manifest (diff lists tags only).
fn tag_tree(lines: &[&str]) -> tempfile::TempDir {
    let tree = tempfile::tempdir().unwrap();
    let v2 = tree.path().join("docker/registry/v2");
    let digest = "0000000000000000000000000000000000000000000000000000000000000001";
    let blob = v2.join(format!("blobs/sha256/00/{digest}"));
    std::fs::create_dir_all(&blob).unwrap();
    std::fs::write(blob.join("data"), "{}").unwrap();
    for line in lines {
        let (image, tag) = line.split_once(':').unwrap();
        let link = v2.join(format!(
            "repositories/labring/{image}/_manifests/tags/{tag}/current"
        ));
        std::fs::create_dir_all(&link).unwrap();
        std::fs::write(link.join("link"), format!("sha256:{digest}")).unwrap();
    }
    tree
}

/// Published tags the plan does not produce get the matrix's account: the
/// rule that removes them, or the axis value no one knows.
#[test]
fn diff_accounts_for_unexpected_tags() {
    let tree = tag_tree(&[
        "kubernetes:v1.25.7-4.1.3",
        "kubernetes:v1.24.4-9.9.9",
        "kubernetes:v1.24.4-4.1.3",
    ]);
    let registry = Registry::serve_dir(tree.path());
    let ws = Workspace::new(|t| t);
    let target = format!("{}/labring", registry.host());
    let (_, report) = run_json(
        &ws,
        &["diff", "--registry", &target, "--cri", "containerd", "--json"],
    );
    let image = &report[0]["images"][0];
    assert_eq!(
        image["unexpected"],
        serde_json::json!(["v1.24.4-9.9.9", "v1.25.7-4.1.3"])
    );
    let notes = image["unexpected_notes"].as_array().unwrap();
    assert_eq!(notes[0]["status"], "unknown");
    assert!(
        notes[0]["notes"][0]
            .as_str()
            .unwrap()
            .contains("sealos 9.9.9 is not in sealos.versions"),
        "{notes:?}"
    );
    assert_eq!(notes[1]["status"], "outside-window");
    assert!(
        notes[1]["notes"][0]
            .as_str()
            .unwrap()
            .contains("sealos-4.1.3-4.1.4-frozen"),
        "{notes:?}"
    );
    let human = stdout(&ws.run(&["diff", "--registry", &target, "--cri", "containerd"]));
    assert!(
        human.contains("unexpected v1.25.7-4.1.3 (outside-window): sealos-4.1.3-4.1.4-frozen"),
        "{human}"
    );
}

/// A registry seeded with every multi-arch tag labring published (Nov
/// 2025): `diff` finds no unexpected tag in any image, and every missing
/// multi-arch tag is new work for the latest stable release or the dev
/// line, never a hole in a frozen release.
#[test]
fn diff_against_the_published_tags_shows_only_new_work() {
    let published =
        std::fs::read_to_string(common::repo().join("tests/data/published-rootfs-tags.txt")).unwrap();
    let lines: Vec<&str> = published.lines().filter(|l| !l.trim().is_empty()).collect();
    let count = lines.len();
    let tree = tag_tree(&lines);
    assert_eq!(count, 6158);
    let registry = Registry::serve_dir(tree.path());
    let ws = Workspace::new(|t| t);
    let target = format!("{}/labring", registry.host());
    let (code, report) = run_json(&ws, &["diff", "--registry", &target, "--json"]);
    assert_eq!(code, Some(3), "missing tags exit 3: {report}");
    let images = report[0]["images"].as_array().unwrap();
    let names: Vec<&str> = images.iter().map(|i| i["image"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["k3s", "kubernetes", "kubernetes-crio", "kubernetes-docker"]
    );
    let mut figures = Vec::new();
    for image in images {
        let name = image["image"].as_str().unwrap();
        assert_eq!(
            image["unexpected"].as_array().unwrap().len(),
            0,
            "{name}: {}",
            image["unexpected"]
        );
        let mut groups = Vec::new();
        for group in image["missing_groups"].as_array().unwrap() {
            let reason = group["reason"].as_str().unwrap();
            let index_tags = group["index_tags"].as_u64().unwrap();
            assert_ne!(reason, "frozen-release", "{name}: {}", group["tags"]);
            if reason == "missing-arch" {
                // The published list holds multi-arch tags only.
                assert_eq!(index_tags, 0, "{name}");
            }
            groups.push(format!("{reason} {index_tags}+{}", group["arch_tags"]));
        }
        figures.push(format!("{name}: {}", groups.join(", ")));
    }
    // The figures a reader of the closing note wants (index+per-arch tags).
    println!("{}", figures.join("\n"));
    let human = ws.run(&["diff", "--registry", &target]);
    let text = stdout(&human);
    // The published list predates 5.1.1, the latest stable release: every
    // minor it builds is new work for it.
    assert!(text.contains("new minor for the latest stable release"), "{text}");
    let kubernetes = images.iter().find(|i| i["image"] == "kubernetes").unwrap();
    let missing = kubernetes["missing"].as_array().unwrap();
    assert!(
        missing.contains(&serde_json::json!("v1.37.1-5.1.1")),
        "{missing:?}"
    );
    assert!(text.contains("development line"), "{text}");
    assert!(!text.contains("hole in a frozen release"), "{text}");
}

/// The one image reader bounds what a registry sends: a manifest whose
/// Content-Length is over 4 MiB is refused from its header, and a blob
/// longer than its descriptor says is stopped.
#[test]
fn oversized_manifests_and_blobs_are_refused() {
    use matrix::oci::{DocumentError, MAX_MANIFEST};
    let dir = tempfile::tempdir().unwrap();
    let manifests = dir.path().join("v2/big/app/manifests");
    std::fs::create_dir_all(&manifests).unwrap();
    let huge = vec![b' '; (MAX_MANIFEST + 1024) as usize];
    std::fs::write(manifests.join("1.0"), &huge).unwrap();
    let blob = b"forty-two bytes of layer, and then more...".repeat(4);
    let digest = matrix::digest::Sha256::of(&blob);
    let blobs = dir.path().join("v2/big/app/blobs");
    std::fs::create_dir_all(&blobs).unwrap();
    std::fs::write(blobs.join(digest.to_string()), &blob).unwrap();
    let server = common::http::Server::serve_dir(dir.path().to_path_buf());
    let host = server.addr.to_string();
    let client = registry::Client::new(registry::CredentialStore::default(), false).unwrap();
    let cache = matrix::fetch::Cache::open(&dir.path().join("cache")).unwrap();

    let error = client.manifest(&host, "big/app", "1.0").unwrap_err();
    assert!(
        matches!(
            &error,
            registry::RegistryError::Document(DocumentError::TooLarge { size, .. }) if *size == MAX_MANIFEST + 1024
        ),
        "refused from its Content-Length: {error}"
    );
    let reader = registry::ImageReader::new(registry::ImageFrom::Registry {
        client: &client,
        host: host.clone(),
        repository: "big/app".into(),
        cache: &cache,
    });
    assert!(reader.image("1.0", Arch::Amd64).is_err());

    let short = oci_spec::image::Descriptor::new(
        oci_spec::image::MediaType::ImageLayerGzip,
        42,
        digest.to_string().parse::<oci_spec::image::Digest>().unwrap(),
    );
    let error = reader.blob(&short).unwrap_err();
    assert!(
        matches!(&error, registry::RegistryError::Oversize { size: 42, .. }),
        "{error}"
    );
    assert!(cache.verified(&digest).is_none(), "nothing enters the cache");
    // The same blob with its true size is fetched and verified.
    let whole = oci_spec::image::Descriptor::new(
        oci_spec::image::MediaType::ImageLayerGzip,
        blob.len() as u64,
        digest.to_string().parse::<oci_spec::image::Digest>().unwrap(),
    );
    let path = reader.blob(&whole).unwrap();
    assert_eq!(std::fs::read(path).unwrap(), blob);
}
