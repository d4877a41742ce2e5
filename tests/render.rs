//! Rendering cells: kubeadm.yml at every apiVersion boundary, image lists,
//! the Kubefile, byte-for-byte runtime templates, shellcheck, provenance
//! and the errors of bad contexts and templates.

mod common;

use std::path::Path;
use std::process::Command;

use common::{Workspace, repo, stderr, stdout};
use matrix::context::{Content, Origin};
use matrix::render::{IMAGE_LIST, RenderedCell, render_cell};
use matrix::{Matrix, Plan, TagSelector};
use serde_yaml::Value;

/// The real matrix widened to 1.14, so the v1beta1 boundary has cells
/// (1.15 is on the axis already, built until sealos 4.1.3).
fn widened() -> Workspace {
    Workspace::new(|text| text.replace("minors = [\n", "minors = [\n  \"1.14\",\n")).with_contexts()
}

fn render(matrix: &Matrix, tag: &str, cri: &str) -> RenderedCell {
    let plan = Plan::build(matrix).expect("plan");
    let selector: TagSelector = tag.parse().unwrap();
    let cell = plan
        .select(&selector)
        .into_iter()
        .find(|c| c.cell.cri.as_str() == cri && c.cell.arch.as_str() == "amd64")
        .unwrap_or_else(|| panic!("no {cri} cell for {tag}"));
    render_cell(matrix, cell).expect("render")
}

fn text(rendered: &RenderedCell, path: &str) -> String {
    let entry = rendered.context.get(path).unwrap_or_else(|| panic!("no {path}"));
    match &entry.content {
        Content::Bytes(bytes) => String::from_utf8(bytes.clone()).unwrap(),
        Content::File(file) | Content::Verified { path: file, .. } => std::fs::read_to_string(file).unwrap(),
        Content::Symlink(target) => target.clone(),
    }
}

fn documents(yaml: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(yaml)
        .map(|doc| serde::Deserialize::deserialize(doc).expect("valid YAML"))
        .collect()
}

fn kind<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind}"))
}

#[test]
fn kubeadm_yml_at_every_api_boundary() {
    let ws = widened();
    let matrix = Matrix::load(&ws.matrix()).unwrap();
    let cases = [
        ("v1.14.10-4.1.3", "v1beta1"),
        ("v1.15.0-4.1.3", "v1beta2"),
        ("v1.22.17-4.1.3", "v1beta2"),
        ("v1.23.0-4.1.3", "v1beta3"),
        ("v1.30.14-5.0.1", "v1beta3"),
        // sealos 5.0 writes v1beta3 at every version, 5.1 v1beta4 from 1.31
        // (labring/sealos v5.0.1 and v5.1.1 kubeadm.go), and kubeadm 1.37
        // reads nothing older.
        ("v1.31.0-5.0.1", "v1beta3"),
        ("v1.31.0-5.1.1", "v1beta4"),
        ("v1.35.0-5.1.1", "v1beta4"),
        ("v1.36.5-5.1.1", "v1beta4"),
        ("v1.37.0-5.1.1", "v1beta4"),
    ];
    for (tag, api) in cases {
        for cri in ["containerd", "docker"] {
            let rendered = render(&matrix, tag, cri);
            let docs = documents(&text(&rendered, "etc/kubeadm.yml"));
            let want = format!("kubeadm.k8s.io/{api}");
            for kind_name in ["InitConfiguration", "ClusterConfiguration", "JoinConfiguration"] {
                assert_eq!(
                    kind(&docs, kind_name)["apiVersion"],
                    want.as_str(),
                    "{tag} {cri} {kind_name}"
                );
            }
            let kube: matrix::KubeVersion = tag[..tag.rfind('-').unwrap()].parse().unwrap();
            let minor = kube.minor().minor;
            // docker goes through cri-dockerd at every version, as labring's images do.
            let socket = match cri {
                "containerd" => "unix:///run/containerd/containerd.sock",
                _ => "unix:///var/run/cri-dockerd.sock",
            };
            let init = kind(&docs, "InitConfiguration");
            let join = kind(&docs, "JoinConfiguration");
            assert_eq!(init["nodeRegistration"]["criSocket"], socket, "{tag} {cri}");
            assert_eq!(join["nodeRegistration"]["criSocket"], socket, "{tag} {cri}");
            let cluster = kind(&docs, "ClusterConfiguration");
            assert_eq!(cluster["imageRepository"], "sealos.hub:5000");
            assert_eq!(cluster["kubernetesVersion"], kube.to_string().as_str());
            // CoreDNS moved under coredns/ in 1.21.
            if minor >= 21 {
                assert_eq!(
                    cluster["dns"]["imageRepository"], "sealos.hub:5000/coredns",
                    "{tag}"
                );
            } else {
                assert!(cluster.get("dns").is_none(), "{tag}");
            }
            let args = &cluster["apiServer"]["extraArgs"];
            if api == "v1beta4" {
                assert!(args.is_sequence(), "v1beta4 extraArgs is a list");
                assert_eq!(args[0]["name"], "audit-policy-file");
                assert!(cluster["apiServer"].get("timeoutForControlPlane").is_none());
                assert!(join["discovery"].is_null() || join["discovery"].get("timeout").is_none());
                assert_eq!(init["timeouts"]["controlPlaneComponentHealthCheck"], "4m0s");
                assert_eq!(join["timeouts"]["discovery"], "5m0s");
            } else {
                assert!(args.is_mapping(), "{api} extraArgs is a map");
                assert_eq!(args["audit-policy-file"], "/etc/kubernetes/audit-policy.yml");
                assert_eq!(cluster["apiServer"]["timeoutForControlPlane"], "4m0s");
                assert!(init.get("timeouts").is_none() && join.get("timeouts").is_none());
            }
            let kubelet = kind(&docs, "KubeletConfiguration");
            assert_eq!(
                kubelet.get("containerRuntimeEndpoint").is_some(),
                minor >= 27,
                "{tag}"
            );
            kind(&docs, "KubeProxyConfiguration");
            // Strict against kubeadm's types of that apiVersion and minor.
            let problems = matrix::verify::kubeadm::check(&text(&rendered, "etc/kubeadm.yml"), api, minor);
            assert!(problems.is_empty(), "{tag} {cri}: {problems:?}");
        }
    }
}

#[test]
fn image_lists_match_the_reference_table() {
    let ws = widened();
    let matrix = Matrix::load(&ws.matrix()).unwrap();
    let cases: [(&str, &[&str]); 6] = [
        (
            "v1.24.4-4.2.1",
            &[
                "k8s.gcr.io/kube-apiserver:v1.24.4",
                "k8s.gcr.io/kube-controller-manager:v1.24.4",
                "k8s.gcr.io/kube-scheduler:v1.24.4",
                "k8s.gcr.io/kube-proxy:v1.24.4",
                "k8s.gcr.io/pause:3.7",
                "k8s.gcr.io/etcd:3.5.3-0",
                "k8s.gcr.io/coredns/coredns:v1.8.6",
                "ghcr.io/labring/lvscare:v4.2.1",
            ],
        ),
        (
            "v1.30.0-4.3.7",
            &[
                "registry.k8s.io/kube-apiserver:v1.30.0",
                "registry.k8s.io/kube-controller-manager:v1.30.0",
                "registry.k8s.io/kube-scheduler:v1.30.0",
                "registry.k8s.io/kube-proxy:v1.30.0",
                "registry.k8s.io/pause:3.9",
                "registry.k8s.io/etcd:3.5.12-0",
                "registry.k8s.io/coredns/coredns:v1.11.1",
                "ghcr.io/labring/lvscare:v4.3.7",
            ],
        ),
        (
            "v1.30.14-5.0.1",
            &[
                "registry.k8s.io/kube-apiserver:v1.30.14",
                "registry.k8s.io/kube-controller-manager:v1.30.14",
                "registry.k8s.io/kube-scheduler:v1.30.14",
                "registry.k8s.io/kube-proxy:v1.30.14",
                "registry.k8s.io/pause:3.9",
                "registry.k8s.io/etcd:3.5.15-0",
                "registry.k8s.io/coredns/coredns:v1.11.3",
                "ghcr.io/labring/lvscare:v5.0.1",
            ],
        ),
        // kubeadm's defaults of 1.35-1.37 (matrix.lock [kubeadm], issue 23).
        (
            "v1.35.0-5.1.1",
            &[
                "registry.k8s.io/kube-apiserver:v1.35.0",
                "registry.k8s.io/kube-controller-manager:v1.35.0",
                "registry.k8s.io/kube-scheduler:v1.35.0",
                "registry.k8s.io/kube-proxy:v1.35.0",
                "registry.k8s.io/pause:3.10.1",
                "registry.k8s.io/etcd:3.6.6-0",
                "registry.k8s.io/coredns/coredns:v1.13.1",
                "ghcr.io/labring/lvscare:v5.1.1",
            ],
        ),
        (
            "v1.36.5-5.1.1",
            &[
                "registry.k8s.io/kube-apiserver:v1.36.5",
                "registry.k8s.io/kube-controller-manager:v1.36.5",
                "registry.k8s.io/kube-scheduler:v1.36.5",
                "registry.k8s.io/kube-proxy:v1.36.5",
                "registry.k8s.io/pause:3.10.2",
                "registry.k8s.io/etcd:3.6.8-0",
                "registry.k8s.io/coredns/coredns:v1.14.2",
                "ghcr.io/labring/lvscare:v5.1.1",
            ],
        ),
        (
            "v1.37.0-5.1.1",
            &[
                "registry.k8s.io/kube-apiserver:v1.37.0",
                "registry.k8s.io/kube-controller-manager:v1.37.0",
                "registry.k8s.io/kube-scheduler:v1.37.0",
                "registry.k8s.io/kube-proxy:v1.37.0",
                "registry.k8s.io/pause:3.10.2",
                "registry.k8s.io/etcd:3.7.0-0",
                "registry.k8s.io/coredns/coredns:v1.14.6",
                "ghcr.io/labring/lvscare:v5.1.1",
            ],
        ),
    ];
    for (tag, want) in cases {
        let rendered = render(&matrix, tag, "containerd");
        // kubeadm's images in DefaultImageList, lvscare alone in
        // LvscareImageList; both are saved.
        let (lvscare, kubeadm) = want.split_last().unwrap();
        assert_eq!(rendered.images().unwrap(), want, "{tag}");
        let file = text(&rendered, IMAGE_LIST);
        assert_eq!(file.lines().collect::<Vec<_>>(), kubeadm, "{tag}");
        assert_eq!(
            text(&rendered, "images/shim/LvscareImageList"),
            format!("{lvscare}\n"),
            "{tag}"
        );
    }
}

#[test]
fn kubefile_and_meta_carry_the_sealos_contract() {
    let ws = widened();
    let matrix = Matrix::load(&ws.matrix()).unwrap();
    for (cri, data, endpoint) in [
        (
            "containerd",
            "/var/lib/containerd",
            "/var/run/containerd/containerd.sock",
        ),
        ("docker", "/var/lib/docker", "/var/run/cri-dockerd.sock"),
    ] {
        let rendered = render(&matrix, "v1.24.4-4.2.1", cri);
        let meta = &rendered.meta;
        assert_eq!(meta.labels["sealos.io.type"], "rootfs");
        assert_eq!(meta.labels["sealos.io.version"], "v1beta1");
        assert_eq!(meta.labels["version"], "v1.24.4");
        assert_eq!(meta.labels["image"], "ghcr.io/labring/lvscare:v4.2.1");
        for label in ["init", "clean", "check", "init-registry", "clean-registry", "vip"] {
            assert!(meta.labels.contains_key(label), "{label}");
        }
        assert_eq!(meta.env["criData"], data);
        assert_eq!(meta.env["SEALOS_SYS_CRI_ENDPOINT"], endpoint);
        assert_eq!(
            meta.env["SEALOS_SYS_IMAGE_ENDPOINT"],
            "/var/run/image-cri-shim.sock"
        );
        assert_eq!(meta.env["registryDomain"], "sealos.hub");
        assert_eq!(meta.env["registryPort"], "5000");
        assert_eq!(meta.env["defaultVIP"], "10.103.97.2");
        // The sandbox image names the pause of the image list.
        assert_eq!(meta.env["sandboxImage"], "pause:3.7");
        assert!(
            rendered
                .images()
                .unwrap()
                .contains(&"k8s.gcr.io/pause:3.7".to_string())
        );
        let kubefile = text(&rendered, "Kubefile");
        assert!(kubefile.starts_with("FROM scratch\n"), "{kubefile}");
        assert!(kubefile.contains("sandboxImage=\"pause:3.7\""), "{kubefile}");
        assert!(
            kubefile.contains("check=\"check.sh \\$registryData\""),
            "{kubefile}"
        );
        assert!(kubefile.ends_with("COPY . .\n"));
        // The runtime templates take the pause from that same env.
        let uses_sandbox = |path: &str| text(&rendered, path).contains("{{ .sandboxImage }}");
        match cri {
            "containerd" => assert!(uses_sandbox("etc/config.toml.tmpl")),
            _ => assert!(uses_sandbox("etc/cri-docker.service.tmpl")),
        }
    }
}

/// `matrix render v1.24.4-4.2.1 --cri containerd --arch amd64 --out OUT EXTRA...`.
fn render_containerd_amd64(ws: &Workspace, out: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "render",
        "v1.24.4-4.2.1",
        "--cri",
        "containerd",
        "--arch",
        "amd64",
        "--out",
        out,
    ];
    args.extend_from_slice(extra);
    ws.run(&args)
}

#[test]
fn render_writes_tmpl_files_byte_for_byte_with_provenance() {
    let ws = Workspace::new(|t| t).with_contexts();
    let out = ws.path().join("ctx");
    let result = render_containerd_amd64(&ws, out.to_str().unwrap(), &["--json"]);
    assert!(result.status.success(), "{}", stderr(&result));
    let records: serde_json::Value = serde_json::from_slice(&result.stdout).unwrap();
    let files = records[0]["files"].as_array().unwrap();
    let origin = |path: &str| {
        files
            .iter()
            .find(|f| f["path"] == path)
            .map(|f| f["origin"].as_str().unwrap().to_string())
            .unwrap_or_else(|| panic!("{path} not listed"))
    };
    assert_eq!(origin("etc/kubeadm.yml"), "template:kubeadm.yml.tmpl");
    assert_eq!(origin("Kubefile"), "generated:Kubefile");
    assert_eq!(origin(IMAGE_LIST), "generated:image list");
    assert_eq!(origin("scripts/init-cri.sh"), "context:containerd");
    assert_eq!(origin("scripts/init-registry.sh"), "context:registry");
    assert_eq!(origin("scripts/init-kube.sh"), "context:kube");
    let mut tmpl = 0;
    for file in files {
        let path = file["path"].as_str().unwrap();
        let Some(context) = file["origin"].as_str().unwrap().strip_prefix("context:") else {
            continue;
        };
        let source = repo().join("runtime").join(context).join(path);
        assert_eq!(
            std::fs::read(out.join(path)).unwrap(),
            std::fs::read(&source).unwrap(),
            "{path}"
        );
        tmpl += usize::from(path.ends_with(".tmpl"));
    }
    assert!(tmpl >= 5, "expected the runtime .tmpl files, saw {tmpl}");
    // Exec bits survive.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(out.join("scripts/init.sh"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755);
    // A second render into the same folder needs --force.
    let again = render_containerd_amd64(&ws, out.to_str().unwrap(), &[]);
    common::assert_fails(&again, 2, "--force");
}

fn shellcheck(dir: &Path) {
    let scripts: Vec<_> = std::fs::read_dir(dir.join("scripts"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".sh"))
        .collect();
    assert!(scripts.len() >= 8, "{scripts:?}");
    let out = Command::new("shellcheck")
        .arg("-x")
        .args(&scripts)
        .current_dir(dir.join("scripts"))
        .output()
        .expect("shellcheck is installed (.ci/test.sh installs it)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn every_script_passes_shellcheck() {
    let ws = Workspace::new(|t| t).with_contexts();
    let out = ws.path().join("all");
    let result = ws.run(&["render", "v1.24.4-4.2.1", "--out", out.to_str().unwrap()]);
    assert!(result.status.success(), "{}", stderr(&result));
    let mut cells = 0;
    for image in ["kubernetes", "kubernetes-docker", "kubernetes-crio"] {
        for tag in ["v1.24.4-4.2.1-amd64", "v1.24.4-4.2.1-arm64"] {
            shellcheck(&out.join(image).join(tag));
            cells += 1;
        }
    }
    assert_eq!(cells, 6);
    assert!(stdout(&result).contains("kubernetes-docker:v1.24.4-4.2.1-arm64"));
}

#[test]
fn undefined_template_variable_names_template_line_and_variable() {
    let ws = Workspace::new(|t| t).with_contexts();
    let template = ws.path().join("templates/kubeadm.yml.tmpl");
    let text = std::fs::read_to_string(&template).unwrap();
    let text = text.replace(
        "kubernetesVersion: {{ kube_version }}",
        "kubernetesVersion: {{ kube_verison }}",
    );
    std::fs::write(&template, &text).unwrap();
    let line = text.lines().position(|l| l.contains("kube_verison")).unwrap() + 1;
    let out = ws.run(&["render", "v1.24.4-4.2.1", "--out", "o"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "kubeadm.yml.tmpl:{line}: undefined variable `kube_verison`"
        )),
        "{err}"
    );
}

#[test]
fn conflicting_contexts_need_an_override() {
    let ws = Workspace::new(|t| t).with_contexts();
    std::fs::write(
        ws.path().join("runtime/registry/etc/crictl.yaml"),
        "runtime-endpoint: other\n",
    )
    .unwrap();
    let out = render_containerd_amd64(&ws, "o", &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("`etc/crictl.yaml` comes from both context:containerd and context:registry"),
        "{err}"
    );
    assert!(err.contains("[[render.overrides]]"), "{err}");
    // Declaring the override lets the later context win.
    let matrix = ws.matrix();
    let mut text = std::fs::read_to_string(&matrix).unwrap();
    text.push_str(
        "\n[[render.overrides]]\npath = \"etc/crictl.yaml\"\ncontext = \"registry\"\nreason = \"test\"\n",
    );
    std::fs::write(&matrix, text).unwrap();
    let out = render_containerd_amd64(&ws, "o", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let written = std::fs::read_to_string(ws.path().join("o/etc/crictl.yaml")).unwrap();
    assert_eq!(written, "runtime-endpoint: other\n");
}

#[test]
fn missing_context_dir_is_named() {
    let ws = Workspace::new(|t| t).with_contexts();
    std::fs::remove_dir_all(ws.path().join("runtime/registry")).unwrap();
    let out = ws.run(&["render", "v1.24.4-4.2.1", "--out", "o"]);
    common::assert_fails(&out, 2, "context `registry` not found");
}

#[test]
fn symlink_escaping_a_context_is_rejected() {
    let ws = Workspace::new(|t| t).with_contexts();
    std::os::unix::fs::symlink(
        "../../../../etc/passwd",
        ws.path().join("runtime/kube/etc/passwd"),
    )
    .unwrap();
    let out = ws.run(&["render", "v1.24.4-4.2.1", "--out", "o"]);
    common::assert_fails(&out, 2, "leaves the context");
}

#[test]
fn unplanned_tag_points_to_explain() {
    let ws = Workspace::new(|t| t).with_contexts();
    let out = ws.run(&["render", "v1.26.0-4.1.3", "--out", "o"]);
    common::assert_fails(&out, 2, "matrix explain v1.26.0-4.1.3");
}

#[test]
fn generated_files_have_fixed_origins() {
    let ws = widened();
    let matrix = Matrix::load(&ws.matrix()).unwrap();
    let rendered = render(&matrix, "v1.24.4-4.2.1", "docker");
    let entry = rendered.context.get("etc/kubeadm.yml").unwrap();
    assert_eq!(entry.origin, Origin::Template("kubeadm.yml.tmpl".into()));
    assert_eq!(
        rendered.context.get("scripts/init-cri.sh").unwrap().origin,
        Origin::Context("docker".into())
    );
}

#[test]
fn render_with_binaries_checks_every_template_before_any_download() {
    let ws = Workspace::new(|t| t).with_contexts();
    let template = ws.path().join("templates/kubeadm.yml.tmpl");
    let text = std::fs::read_to_string(&template).unwrap();
    std::fs::write(&template, format!("{text}\n# {{{{ no_such_variable }}}}\n")).unwrap();
    let out = ws.run(&[
        "render",
        "v1.24.4-4.2.1",
        "--out",
        "o",
        "--binaries",
        "--offline",
        "--cache",
        "cache",
    ]);
    common::assert_fails(&out, 2, "no_such_variable");
    assert!(!ws.path().join("cache").exists(), "nothing may be fetched");
    assert!(!ws.path().join("o").exists(), "nothing may be written");
}

#[test]
fn render_with_binaries_names_the_download_that_failed_and_writes_nothing() {
    let ws = Workspace::new(|t| t).with_contexts();
    let out = render_containerd_amd64(&ws, "o", &["--binaries", "--offline", "--cache", "cache"]);
    common::assert_fails(&out, 1, "fetching binaries: offline:");
    assert!(stderr(&out).contains("is not in the cache"), "{}", stderr(&out));
    assert!(!ws.path().join("o").exists(), "nothing may be written");
}
