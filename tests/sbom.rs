//! SBOM and provenance referrers on real built images: the README's
//! offline build attaches both to every per-arch image, the SBOM passes
//! PyPI's ntia-conformance-checker (`sbomcheck`) and names kubelet by the
//! sha256 of `bin/kubelet` as umoci unpacks it, rebuilds give the same
//! bytes, gc keeps them, a tampered `bin/kubelet` is named by verify, and
//! pushed to Debian's docker-registry (no referrers API) they are found
//! through the `sha256-<hex>` fallback tag by plain HTTP (curl).

mod common;

use std::path::Path;
use std::process::Command;

use common::registry::Registry;
use common::{Workspace, copy_dir, stderr, stdout, tool, unpack};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const TAG: &str = "v1.24.4-4.2.1";
const CELL: &str = "kubernetes:v1.24.4-4.2.1-amd64";
const SPDX: &str = "application/spdx+json";
const IN_TOTO: &str = "application/vnd.in-toto+json";

fn built(out: &str) -> Workspace {
    let ws = Workspace::new(|t| t).with_contexts().with_stand_ins(TAG);
    build(&ws, out);
    ws
}

fn build(ws: &Workspace, out: &str) {
    let images = ws.path().join("mirror/images").display().to_string();
    ws.build(TAG, out, &["--image-layout", &images]);
}

fn json_file(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn blob(store: &Path, digest: &str) -> Value {
    json_file(
        &store
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:")),
    )
}

/// Referrers listed in `index.json` (no ref name), by subject digest:
/// (artifactType, referrer manifest digest).
fn referrers(store: &Path) -> Vec<(String, String, String)> {
    let index = json_file(&store.join("index.json"));
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d.get("annotations").is_none())
        .map(|d| {
            let manifest = blob(store, d["digest"].as_str().unwrap());
            assert_eq!(manifest["artifactType"], d["artifactType"]);
            assert_eq!(
                manifest["config"]["mediaType"],
                "application/vnd.oci.empty.v1+json"
            );
            (
                manifest["subject"]["digest"].as_str().unwrap().to_string(),
                d["artifactType"].as_str().unwrap().to_string(),
                d["digest"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The per-arch images of the layout: ref name -> manifest digest.
fn per_arch(store: &Path) -> Vec<(String, String)> {
    let index = json_file(&store.join("index.json"));
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["mediaType"] == "application/vnd.oci.image.manifest.v1+json")
        .filter_map(|d| {
            let name = d["annotations"]["org.opencontainers.image.ref.name"].as_str()?;
            Some((name.to_string(), d["digest"].as_str().unwrap().to_string()))
        })
        .collect()
}

fn sbom(ws: &Workspace, store: &str, cell: &str) -> Value {
    let out = ws.run(&["sbom", cell, "--from", store]);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn every_image_has_an_ntia_conformant_sbom_and_provenance_as_referrers() {
    let ws = built("out/oci");
    let store = ws.path().join("out/oci");
    let images = per_arch(&store);
    assert_eq!(images.len(), 6, "{images:?}");
    let found = referrers(&store);
    for (name, digest) in &images {
        for kind in [SPDX, IN_TOTO] {
            let n = found.iter().filter(|(s, t, _)| s == digest && t == kind).count();
            assert_eq!(n, 1, "{name}: {kind} referrers");
        }
    }
    assert_eq!(found.len(), 12);

    // kubelet's sha256 in the SBOM is bin/kubelet's as umoci unpacks it.
    let document = sbom(&ws, "out/oci", CELL);
    let rootfs = unpack(&store, CELL, &ws.path().join("bundle"));
    let kubelet = hex::encode(Sha256::digest(std::fs::read(rootfs.join("bin/kubelet")).unwrap()));
    let entry = document["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["fileName"] == "./bin/kubelet")
        .expect("bin/kubelet in the SBOM");
    let sums = entry["checksums"].as_array().unwrap();
    assert!(
        sums.contains(&json!({"algorithm": "SHA256", "checksumValue": kubelet})),
        "{entry}"
    );
    let package = document["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "kubelet")
        .unwrap();
    assert_eq!(package["versionInfo"], "1.24.4");
    // matrix.toml declares kubernetes' license for it.
    assert_eq!(package["licenseDeclared"], "Apache-2.0");
    assert!(
        package["downloadLocation"]
            .as_str()
            .unwrap()
            .ends_with("/v1.24.4/bin/linux/amd64/kubelet")
    );

    // PyPI's ntia-conformance-checker: valid SPDX 2.3 with the NTIA
    // minimum elements.
    let path = ws.path().join("sbom.spdx.json");
    std::fs::write(&path, serde_json::to_vec(&document).unwrap()).unwrap();
    let report = Command::new("sbomcheck")
        .args(["-r", "json"])
        .arg(&path)
        .output()
        .expect("sbomcheck (PyPI ntia-conformance-checker; .ci/test.sh installs it)");
    let report: Value = serde_json::from_slice(&report.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&report.stderr)));
    assert_eq!(report["isNtiaConformant"], true, "{report}");
    assert_eq!(report["isConformant"], true, "{report}");

    // The provenance names the subject and the build's inputs.
    let (_, _, statement) = found
        .iter()
        .find(|(s, t, _)| *s == images.iter().find(|(n, _)| n == CELL).unwrap().1 && t == IN_TOTO)
        .unwrap();
    let manifest = blob(&store, statement);
    let statement = blob(&store, manifest["layers"][0]["digest"].as_str().unwrap());
    assert_eq!(statement["predicateType"], "https://slsa.dev/provenance/v1");
    let deps = statement["predicate"]["buildDefinition"]["resolvedDependencies"]
        .as_array()
        .unwrap();
    let lock = hex::encode(Sha256::digest(
        std::fs::read(ws.path().join("matrix.lock")).unwrap(),
    ));
    assert!(
        deps.contains(&json!({"name": "matrix.lock", "digest": {"sha256": lock}})),
        "{deps:?}"
    );
    assert!(deps.iter().any(|d| d["name"] == "kubelet 1.24.4"));

    // Same inputs, same bytes; gc keeps the referrers of kept images.
    build(&ws, "again/oci");
    let mut first = referrers(&store);
    let mut second = referrers(&ws.path().join("again/oci"));
    first.sort();
    second.sort();
    assert_eq!(first, second);
    let out = ws.run(&["gc", "--out", "out/oci"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(sbom(&ws, "out/oci", CELL), document);
    let out = ws.run(&["sbom", CELL, "--from", "out/oci", "--format", "table"]);
    assert!(stdout(&out).contains(&format!(
        "kubelet\t1.24.4\t{}",
        package["checksums"][0]["checksumValue"].as_str().unwrap()
    )));
}

#[test]
fn a_tampered_kubelet_is_named_by_verify() {
    let ws = built("out/oci");
    let store = ws.path().join("tampered");
    copy_dir(&ws.path().join("out/oci"), &store);
    let before: Vec<(String, String)> = per_arch(&store);
    let old = before.iter().find(|(n, _)| n == CELL).unwrap().1.clone();

    // Another kubelet goes in with umoci (a new image digest)...
    let bundle = ws.path().join("bundle");
    let rootfs = unpack(&store, CELL, &bundle);
    std::fs::write(rootfs.join("bin/kubelet"), b"#!/bin/sh\necho not the kubelet\n").unwrap();
    let image = format!("{}:{CELL}", store.display());
    tool(
        "umoci",
        &["repack", "--image", &image, &bundle.display().to_string()],
    );
    let new = per_arch(&store).into_iter().find(|(n, _)| n == CELL).unwrap().1;
    assert_ne!(old, new);

    // ...and the build's SBOM is attached to it, as a copier would.
    let (_, _, referrer) = referrers(&store)
        .into_iter()
        .find(|(s, t, _)| *s == old && t == SPDX)
        .unwrap();
    let mut manifest = blob(&store, &referrer);
    let index = json_file(&store.join("index.json"));
    let subject = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["digest"] == new.as_str())
        .unwrap()
        .clone();
    manifest["subject"] = json!({"mediaType": subject["mediaType"], "digest": new, "size": subject["size"]});
    let bytes = serde_json::to_vec(&manifest).unwrap();
    let digest = hex::encode(Sha256::digest(&bytes));
    std::fs::write(store.join("blobs/sha256").join(&digest), &bytes).unwrap();
    let mut index = index;
    index["manifests"].as_array_mut().unwrap().push(json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": SPDX,
        "digest": format!("sha256:{digest}"),
        "size": bytes.len(),
    }));
    std::fs::write(store.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();

    let out = ws.run(&["verify", CELL, "--from", "tampered", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let defects = report["images"][0]["defects"].as_array().unwrap();
    assert_eq!(defects.len(), 1, "{defects:?}");
    assert_eq!(defects[0]["path"], "bin/kubelet");
    assert!(
        defects[0]["problem"]
            .as_str()
            .unwrap()
            .starts_with("SBOM says sha256:"),
        "{defects:?}"
    );
}

/// `curl -sf URL` with an Accept header, as JSON.
fn curl(url: &str, accept: &str) -> Value {
    let out = tool("curl", &["-sf", "-H", &format!("Accept: {accept}"), url]);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// The SPDX and in-toto referrers the fallback tag of `subject` lists on
/// `base` (`http://HOST/v2/NS/IMAGE`), read with curl; the SBOM document.
fn fallback_referrers(base: &str, subject: &str) -> (Vec<String>, Value) {
    let tag = format!("sha256-{}", subject.trim_start_matches("sha256:"));
    let index = curl(
        &format!("{base}/manifests/{tag}"),
        "application/vnd.oci.image.index.v1+json",
    );
    let mut kinds: Vec<String> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["artifactType"].as_str().unwrap().to_string())
        .collect();
    kinds.sort_unstable();
    let sbom_ref = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["artifactType"] == SPDX)
        .unwrap();
    let manifest = curl(
        &format!("{base}/manifests/{}", sbom_ref["digest"].as_str().unwrap()),
        "application/vnd.oci.image.manifest.v1+json",
    );
    assert_eq!(manifest["subject"]["digest"], subject);
    let document = curl(
        &format!(
            "{base}/blobs/{}",
            manifest["layers"][0]["digest"].as_str().unwrap()
        ),
        SPDX,
    );
    (kinds, document)
}

#[test]
fn pushed_referrers_are_found_through_the_fallback_tag() {
    let ws = built("out/oci");
    let registry = Registry::start(None);
    let target = format!("{}/labring", registry.host());
    let out = ws.run(&["push", CELL, "--from", "out/oci", "--to", &target]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let store = ws.path().join("out/oci");
    let subject = per_arch(&store).into_iter().find(|(n, _)| n == CELL).unwrap().1;
    let base = format!("http://{}/v2/labring/kubernetes", registry.host());
    // docker-registry has no referrers API...
    let api = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!("{base}/referrers/{subject}"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&api.stdout), "404");
    // ...so the referrers are listed under the fallback tag.
    let tag = format!("sha256-{}", subject.trim_start_matches("sha256:"));
    let index = curl(
        &format!("{base}/manifests/{tag}"),
        "application/vnd.oci.image.index.v1+json",
    );
    let mut kinds: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["artifactType"].as_str().unwrap())
        .collect();
    kinds.sort_unstable();
    assert_eq!(kinds, [SPDX, IN_TOTO]);
    // The SBOM read back over HTTP is the layout's, for that subject.
    let sbom_ref = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["artifactType"] == SPDX)
        .unwrap();
    let manifest = curl(
        &format!("{base}/manifests/{}", sbom_ref["digest"].as_str().unwrap()),
        "application/vnd.oci.image.manifest.v1+json",
    );
    assert_eq!(manifest["subject"]["digest"], subject.as_str());
    let document = curl(
        &format!(
            "{base}/blobs/{}",
            manifest["layers"][0]["digest"].as_str().unwrap()
        ),
        SPDX,
    );
    assert_eq!(document, sbom(&ws, "out/oci", CELL));
    // A second push keeps one entry per referrer.
    let out = ws.run(&["push", CELL, "--from", "out/oci", "--to", &target]);
    assert!(out.status.success(), "{}", stderr(&out));
    let again = curl(
        &format!("{base}/manifests/{tag}"),
        "application/vnd.oci.image.index.v1+json",
    );
    assert_eq!(again["manifests"].as_array().unwrap().len(), 2);
}

/// Pushed to one docker-registry and synced to a second, the image keeps
/// its referrers: curl finds them on the second through the fallback tag,
/// `matrix sbom --registry` reads the same SBOM, and `verify --registry`
/// checks the image against it.
#[test]
fn synced_images_keep_their_referrers() {
    let ws = built("out/oci");
    let first = Registry::start(None);
    let second = Registry::start(None);
    let from = format!("{}/labring", first.host());
    let to = format!("{}/mirror", second.host());
    let out = ws.run(&["push", CELL, "--from", "out/oci", "--to", &from]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let sync = |ws: &Workspace| {
        let out = ws.run(&[
            "sync", "--from", &from, "--to", &to, "--kube", "1.24.4", "--cache", "cache", "--json",
        ]);
        assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    // The per-arch tag and the index tag (push sends the index, so both
    // arches' manifests): each manifest's two referrers, once.
    let report = sync(&ws);
    assert_eq!(report["tags_copied"], 2, "{report}");
    assert_eq!(report["referrers_copied"], 4, "{report}");
    let subject = per_arch(&ws.path().join("out/oci"))
        .into_iter()
        .find(|(n, _)| n == CELL)
        .unwrap()
        .1;
    let base = format!("http://{}/v2/mirror/kubernetes", second.host());
    let (kinds, document) = fallback_referrers(&base, &subject);
    assert_eq!(kinds, [SPDX, IN_TOTO]);
    let layout = sbom(&ws, "out/oci", CELL);
    assert_eq!(document, layout);
    // Synced again: nothing new, still one entry per referrer.
    let again = sync(&ws);
    assert_eq!(again["tags_copied"], 0, "{again}");
    let (kinds, _) = fallback_referrers(&base, &subject);
    assert_eq!(kinds.len(), 2);

    // matrix reads it back from the registry, in both formats.
    let out = ws.run(&["sbom", CELL, "--registry", &to, "--cache", "cache"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(serde_json::from_slice::<Value>(&out.stdout).unwrap(), layout);
    let out = ws.run(&[
        "sbom",
        CELL,
        "--registry",
        &to,
        "--cache",
        "cache",
        "--format",
        "table",
    ]);
    assert!(stdout(&out).contains("kubelet\t1.24.4\t"), "{}", stdout(&out));
    let out = ws.run(&["verify", CELL, "--registry", &to, "--cache", "cache", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}\n{}", stdout(&out), stderr(&out));

    // Copied by a tool that leaves referrers behind (skopeo, digests
    // kept), the image has no SBOM: verify --registry fails it, naming the
    // tag and the fix.
    let bare = format!("{}/bare", second.host());
    tool(
        "skopeo",
        &[
            "copy",
            "--preserve-digests",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            &format!("docker://{from}/{CELL}"),
            &format!("docker://{bare}/{CELL}"),
        ],
    );
    let out = ws.run(&["verify", CELL, "--registry", &bare, "--cache", "cache", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let defects = report["images"][0]["defects"].as_array().unwrap();
    assert_eq!(defects.len(), 1, "{defects:?}");
    assert_eq!(defects[0]["path"], "sbom");
    let problem = defects[0]["problem"].as_str().unwrap();
    assert!(
        problem.contains(CELL) && problem.contains("has no SBOM") && problem.contains("matrix build"),
        "{problem}"
    );
    let out = ws.run(&["sbom", CELL, "--registry", &bare, "--cache", "cache"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("has no SBOM"), "{}", stderr(&out));
    // A sync brings what the copy left behind: the tag is there already
    // at the same digest, its referrers are copied (and the index's other
    // arch comes with its own).
    let out = ws.run(&[
        "sync", "--from", &from, "--to", &bare, "--kube", "1.24.4", "--cache", "cache", "--json",
    ]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["referrers_copied"], 4, "{report}");
    let out = ws.run(&["verify", CELL, "--registry", &bare, "--cache", "cache", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}\n{}", stdout(&out), stderr(&out));
    let out = ws.run(&[
        "sbom",
        CELL,
        "--registry",
        &format!("{}/none", second.host()),
        "--cache",
        "cache",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("is not there"), "{}", stderr(&out));
}

/// `sbomcheck` (PyPI ntia-conformance-checker) on a document.
fn assert_ntia_conformant(ws: &Workspace, document: &Value) {
    let path = ws.path().join("check.spdx.json");
    std::fs::write(&path, serde_json::to_vec(document).unwrap()).unwrap();
    let report = Command::new("sbomcheck")
        .args(["-r", "json"])
        .arg(&path)
        .output()
        .expect("sbomcheck (PyPI ntia-conformance-checker; .ci/test.sh installs it)");
    let report: Value = serde_json::from_slice(&report.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&report.stderr)));
    assert_eq!(report["isNtiaConformant"], true, "{report}");
    assert_eq!(report["isConformant"], true, "{report}");
}

/// The document a referrer of `subject` of `kind` holds, read from the
/// layout's files.
fn referred(store: &Path, subject: &str, kind: &str) -> Value {
    let (_, _, manifest) = referrers(store)
        .into_iter()
        .find(|(s, t, _)| s == subject && t == kind)
        .unwrap_or_else(|| panic!("no {kind} referrer of {subject}"));
    let manifest = blob(store, &manifest);
    blob(store, manifest["layers"][0]["digest"].as_str().unwrap())
}

/// An application image's SBOM and provenance come from its Kubefile's
/// inputs: the COPY URL with the digest of what was fetched, the FROM
/// image with its manifest digest, the chart (name, version from
/// Chart.yaml, digest of its files) and the chart's image as saved.
#[test]
fn app_sboms_name_the_kubefiles_inputs() {
    let ws = Workspace::new(|t| t);
    let app = ws.path().join("applications/sbom-demo/1.0.0");
    let chart = app.join("charts/demo");
    std::fs::create_dir_all(chart.join("templates")).unwrap();
    std::fs::write(
        chart.join("Chart.yaml"),
        "apiVersion: v2\nname: demo\nversion: 0.3.1\n",
    )
    .unwrap();
    std::fs::write(
        chart.join("templates/pod.yaml"),
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: demo\nspec:\n  containers:\n    - name: web\n      image: docker.io/library/nginx:1.25.4\n",
    )
    .unwrap();
    std::fs::write(
        app.join("Kubefile"),
        "FROM kubernetes:v1.19.8\nCOPY charts charts\nCOPY https://downloads.example/tools/tool.txt opt/tool.txt\nCMD helm install demo charts/demo\n",
    )
    .unwrap();
    matrix::oci::RefLayout::at(&ws.path().join("images"))
        .write_stand_ins(
            &[
                "docker.io/library/kubernetes:v1.19.8".into(),
                "docker.io/library/nginx:1.25.4".into(),
            ],
            &[matrix::Arch::Amd64, matrix::Arch::Arm64],
        )
        .unwrap();
    let tree = ws.path().join("tree");
    let file = tree.join("downloads.example/tools/tool.txt");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, "a tool\n").unwrap();
    let tool_sha = hex::encode(Sha256::digest(b"a tool\n"));
    std::fs::write(
        tree.join("SHA256SUMS"),
        format!("{tool_sha}  downloads.example/tools/tool.txt\n"),
    )
    .unwrap();
    let server = common::http::Server::serve_dir(tree.clone());
    let mirror = server.url();
    let build = |out: &str| {
        let out = ws.run(&[
            "app",
            "build",
            "sbom-demo",
            "1.0.0",
            "--arch",
            "amd64",
            "--image-layout",
            "images",
            "--mirror",
            &mirror,
            "--cache",
            "cache",
            "--out",
            out,
            "--json",
        ]);
        assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    };
    build("out/oci");
    let store = ws.path().join("out/oci");
    let subject = per_arch(&store)
        .into_iter()
        .find(|(n, _)| n == "sbom-demo:1.0.0-amd64")
        .unwrap()
        .1;
    let document = referred(&store, &subject, SPDX);
    let packages = document["packages"].as_array().unwrap();
    let package = |name: &str| {
        packages
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("no package {name}: {packages:?}"))
    };
    let sha = |p: &Value| p["checksums"][0]["checksumValue"].as_str().unwrap().to_string();

    // The COPY URL, with the digest of what was fetched.
    let download = package("tool.txt");
    assert_eq!(
        download["downloadLocation"],
        "https://downloads.example/tools/tool.txt"
    );
    assert_eq!(sha(download), tool_sha);
    assert_eq!(download["licenseDeclared"], "NOASSERTION");

    // The base image, by its amd64 manifest digest in the layout.
    let layout = ws.path().join("images");
    let index_desc = json_file(&layout.join("index.json"))["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| {
            d["annotations"]["org.opencontainers.image.ref.name"] == "docker.io/library/kubernetes:v1.19.8"
        })
        .unwrap()
        .clone();
    let base_index = blob(&layout, index_desc["digest"].as_str().unwrap());
    let base_digest = base_index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["platform"]["architecture"] == "amd64")
        .unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let base = package("kubernetes");
    assert_eq!(base["versionInfo"], "v1.19.8");
    assert_eq!(format!("sha256:{}", sha(base)), base_digest);

    // The chart: Chart.yaml's name and version, the digest of its files.
    let mut listing = String::new();
    for file in ["Chart.yaml", "templates/pod.yaml"] {
        let bytes = std::fs::read(chart.join(file)).unwrap();
        listing.push_str(&format!("{}  {file}\n", hex::encode(Sha256::digest(&bytes))));
    }
    let demo = package("demo");
    assert_eq!(demo["versionInfo"], "0.3.1");
    assert_eq!(sha(demo), hex::encode(Sha256::digest(listing.as_bytes())));

    // The chart's image, saved, by digest.
    let nginx = package("docker.io/library/nginx");
    assert_eq!(nginx["versionInfo"], "1.25.4");
    assert_eq!(sha(nginx).len(), 64);
    assert_ntia_conformant(&ws, &document);

    // The provenance resolves the same inputs.
    let statement = referred(&store, &subject, IN_TOTO);
    let deps = statement["predicate"]["buildDefinition"]["resolvedDependencies"]
        .as_array()
        .unwrap();
    assert!(
        deps.contains(&json!({
            "name": "tool.txt NOASSERTION",
            "uri": "https://downloads.example/tools/tool.txt",
            "digest": {"sha256": tool_sha},
        })),
        "{deps:?}"
    );
    assert!(
        deps.contains(&json!({
            "uri": "docker://kubernetes:v1.19.8",
            "digest": {"sha256": base_digest.trim_start_matches("sha256:")},
        })),
        "{deps:?}"
    );
    assert_eq!(
        statement["predicate"]["buildDefinition"]["externalParameters"]["app"],
        "sbom-demo:1.0.0"
    );
    let kubefile = hex::encode(Sha256::digest(std::fs::read(app.join("Kubefile")).unwrap()));
    assert!(
        deps.contains(&json!({"name": "Kubefile", "digest": {"sha256": kubefile}})),
        "{deps:?}"
    );

    // Same inputs, same bytes.
    build("again/oci");
    let mut first = referrers(&store);
    let mut second = referrers(&ws.path().join("again/oci"));
    first.sort();
    second.sort();
    assert_eq!(first, second);
}

/// A registry with the referrers API is read through it (not the fallback
/// tag); one without either lists none; a listing longer than the bound is
/// refused before any referrer is fetched.
#[test]
fn referrers_are_listed_by_the_api_the_fallback_or_not_at_all() {
    use common::scripted::Scripted;
    use matrix::digest::Sha256 as Digest256;
    use matrix::registry::{Client, CredentialStore, list_referrers};
    let subject = Digest256::of(b"image");
    let listed = Digest256::of(b"sbom");
    let entry = json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": SPDX,
        "digest": listed.to_string(),
        "size": 400,
    });
    let index = |n: usize| {
        json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": vec![entry.clone(); n],
        })
        .to_string()
    };
    let one = index(1);
    let many = index(1001);
    let server = Scripted::start(move |path| {
        if path.starts_with("/v2/api/img/referrers/") {
            (200, Vec::new(), one.clone())
        } else if path.starts_with("/v2/many/img/referrers/") {
            (200, Vec::new(), many.clone())
        } else {
            (404, Vec::new(), "{}".into())
        }
    });
    let client = Client::new(CredentialStore::default(), false).unwrap();
    let host = server.host();
    let found = list_referrers(&client, &host, "api/img", &subject).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].digest().to_string(), listed.to_string());
    assert!(
        list_referrers(&client, &host, "none/img", &subject)
            .unwrap()
            .is_empty()
    );
    let error = list_referrers(&client, &host, "many/img", &subject).unwrap_err();
    assert!(error.to_string().contains("more than the 1000"), "{error}");
}
