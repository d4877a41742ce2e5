//! Application and config images end to end: the shipped applications
//! build offline (stand-in images), their `registry/` is served by a real
//! docker-registry with the right platform, skopeo reads the config sealos
//! build would give, they push; sealer's Kubefile builds; hostile
//! Kubefiles and folders are refused with located errors.

mod common;

use std::path::Path;

use common::registry::Registry;
use common::{Workspace, copy_dir, stderr, stdout, tool, unpack};

/// A workspace with applications/ and config/ copied in.
fn apps() -> Workspace {
    let ws = Workspace::new(|t| t);
    for dir in ["applications", "config"] {
        copy_dir(&common::repo().join(dir), &ws.path().join(dir));
    }
    ws
}

fn ok(out: &std::process::Output) -> String {
    assert!(out.status.success(), "{}\n{}", stdout(out), stderr(out));
    stdout(out)
}

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_str(&ok(out)).unwrap()
}

/// Writes stand-ins of the images an application folder lists into `images/`.
fn stand_ins(ws: &Workspace, folder: &str) -> serde_json::Value {
    json(&ws.run(&["app", "images", folder, "--stand-ins", "images", "--json"]))
}

fn inspect_config(store: &Path, reference: &str) -> serde_json::Value {
    serde_json::from_str(&tool(
        "skopeo",
        &[
            "inspect",
            "--config",
            &format!("oci:{}:{reference}", store.display()),
        ],
    ))
    .unwrap()
}

#[test]
fn a_chart_app_builds_serves_its_registry_and_pushes() {
    let ws = apps();
    let listed = stand_ins(&ws, "applications/web-demo/1.0.0");
    let images: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["image"].as_str().unwrap())
        .collect();
    // The chart with its values file: the override tag, the sidecar the
    // values file enables, and the subchart's image.
    assert_eq!(
        images,
        [
            "docker.io/library/busybox:1.36",
            "docker.io/library/nginx:1.25.4",
            "docker.io/library/redis:7.2.4"
        ]
    );
    assert_eq!(
        listed[2]["source"],
        "charts/web-demo: web-demo/charts/cache/templates/statefulset.yaml"
    );

    let report = json(&ws.run(&[
        "app",
        "build",
        "web-demo",
        "1.0.0",
        "--image-layout",
        "images",
        "--cache",
        "cache",
        "--json",
    ]));
    assert_eq!(report["arches"].as_array().unwrap().len(), 2, "{report}");
    let store = ws.path().join("out/oci");
    let index: serde_json::Value = serde_json::from_str(&tool(
        "skopeo",
        &[
            "inspect",
            "--raw",
            &format!("oci:{}:web-demo:1.0.0", store.display()),
        ],
    ))
    .unwrap();
    let platforms: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap())
        .collect();
    assert_eq!(platforms, ["amd64", "arm64"]);

    // The config sealos build gives this Kubefile: ENV defaults resolved,
    // CMD kept whole with $(VAR) for sealos, the label, MAINTAINER.
    let config = inspect_config(&store, "web-demo:1.0.0-arm64");
    assert_eq!(config["architecture"], "arm64");
    assert_eq!(config["author"], "matrix");
    assert_eq!(
        config["config"]["Env"],
        serde_json::json!(["HELM_OPTS=", "NAME=web-demo", "NAMESPACE=web-demo"])
    );
    assert_eq!(
        config["config"]["Cmd"],
        serde_json::json!([
            "helm upgrade -i $(NAME) charts/web-demo -n $(NAMESPACE) --create-namespace -f charts/web-demo.values.yaml $(HELM_OPTS)"
        ])
    );
    assert_eq!(config["config"]["Labels"]["sealos.io.type"], "application");
    // `matrix app inspect` prints that config before any build (images aside).
    let inspected = json(&ws.run(&[
        "app",
        "inspect",
        "applications/web-demo/1.0.0",
        "--arch",
        "arm64",
        "--json",
    ]));
    assert_eq!(inspected["config"], config["config"]);

    // registry/ holds the images for the image's platform.
    let rootfs = unpack(&store, "web-demo:1.0.0-arm64", &ws.path().join("unpacked"));
    assert!(rootfs.join("charts/web-demo/Chart.yaml").is_file());
    let served = Registry::serve_dir(&rootfs.join("registry"));
    for image in [
        "library/nginx:1.25.4",
        "library/redis:7.2.4",
        "library/busybox:1.36",
    ] {
        let info: serde_json::Value = serde_json::from_str(&tool(
            "skopeo",
            &[
                "inspect",
                "--tls-verify=false",
                &format!("docker://{}/{image}", served.host()),
            ],
        ))
        .unwrap();
        assert_eq!(info["Architecture"], "arm64", "{image}");
    }

    // Push: per-arch tags and the index, with digests (what ChatOps answers).
    let registry = Registry::start(None);
    let target = format!("{}/labring", registry.host());
    let pushed = json(&ws.run(&["app", "push", "web-demo", "1.0.0", "--to", &target, "--json"]));
    let references: Vec<&str> = pushed["pushed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["reference"].as_str().unwrap())
        .collect();
    assert_eq!(
        references,
        [
            format!("{target}/web-demo:1.0.0-amd64"),
            format!("{target}/web-demo:1.0.0-arm64"),
            format!("{target}/web-demo:1.0.0")
        ]
    );
    let remote: serde_json::Value = serde_json::from_str(&tool(
        "skopeo",
        &[
            "inspect",
            "--tls-verify=false",
            "--raw",
            &format!("docker://{target}/web-demo:1.0.0"),
        ],
    ))
    .unwrap();
    assert_eq!(remote["manifests"].as_array().unwrap().len(), 2);
}

#[test]
fn manifests_init_sh_build_arch_and_config_images() {
    let ws = apps();
    // manifests + images/shim, minus .sealignore; `latest/` serves v0.1.0.
    let listed = stand_ins(&ws, "applications/manifest-demo/latest");
    let images: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["image"].as_str().unwrap())
        .collect();
    assert_eq!(
        images,
        [
            "docker.io/library/busybox:1.36",
            "registry.k8s.io/e2e-test-images/agnhost:2.47"
        ]
    );
    let report = json(&ws.run(&[
        "app",
        "build",
        "manifest-demo",
        "v0.1.0",
        "--image-layout",
        "images",
        "--json",
    ]));
    assert!(
        report["folder"]
            .as_str()
            .unwrap()
            .ends_with("manifest-demo/latest")
    );

    // init.sh fetches a per-arch binary (here from the stand-in mirror).
    let rootfs_ws = Workspace::new(|t| t).with_stand_ins("v1.24.4-4.2.1");
    let mirror = format!("file://{}", rootfs_ws.path().join("mirror").display());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_matrix"))
        .args(["app", "build", "tool-demo", "2.0.0", "--skip-images", "--json"])
        .env("MATRIX_MIRROR", &mirror)
        .current_dir(ws.path())
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_str(&ok(&out)).unwrap();
    assert_eq!(report["arches"].as_array().unwrap().len(), 2);
    assert_eq!(
        report["arches"][1]["init_output"], "fetched lsof for arm64\n",
        "init.sh's output is kept"
    );
    let store = ws.path().join("out/oci");
    for arch in ["amd64", "arm64"] {
        let rootfs = unpack(
            &store,
            &format!("tool-demo:2.0.0-{arch}"),
            &ws.path().join(format!("tool-{arch}")),
        );
        let lsof = std::fs::read_to_string(rootfs.join("opt/lsof")).unwrap();
        assert!(lsof.contains(&format!("linux/{arch}")), "{lsof}");
    }

    // build_arch: amd64 only, and the index has that one platform.
    let report = json(&ws.run(&["app", "build", "arch-demo", "1.0.0", "--skip-images", "--json"]));
    assert_eq!(report["skipped_arches"], serde_json::json!(["arm64"]));
    let index: serde_json::Value = serde_json::from_str(&tool(
        "skopeo",
        &[
            "inspect",
            "--raw",
            &format!("oci:{}:arch-demo:1.0.0", store.display()),
        ],
    ))
    .unwrap();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 1);

    // A config image.
    ok(&ws.run(&["config", "build", "demo-config", "1.0.0", "--skip-images"]));
    let config = inspect_config(&store, "demo-config:1.0.0-amd64");
    assert_eq!(config["config"]["Labels"]["sealos.io.type"], "patch");
    let rootfs = unpack(&store, "demo-config:1.0.0-amd64", &ws.path().join("config-amd64"));
    assert!(rootfs.join("etc/kubelet-extra.yaml").is_file());
}

/// Seed 004's sealer Kubefile: a base image, ARG (overridden), RUN, COPY
/// with wildcards, several CMD lines run in order.
#[test]
fn sealers_kubefile_builds() {
    let ws = Workspace::new(|t| t);
    let app = ws.path().join("applications/sealer-demo/1.0.0");
    std::fs::create_dir_all(app.join("test")).unwrap();
    std::fs::write(
        app.join("Kubefile"),
        "FROM kubernetes:v1.19.8\n# default version\nARG Version=4.0.0\nRUN echo ${Version} > version.txt\nCOPY test/*.yaml manifests\nCOPY recommended.yaml manifests\nCMD kubectl apply -f manifests/recommended.yaml\nCMD helm install mytest charts/traefik\n",
    )
    .unwrap();
    std::fs::write(app.join("recommended.yaml"), "kind: List\n").unwrap();
    std::fs::write(app.join("test/a.yaml"), "image: docker.io/library/mongo:4.0.0\n").unwrap();
    std::fs::write(app.join("test/b.yaml"), "kind: Service\n").unwrap();
    std::fs::write(app.join("test/notes.txt"), "not copied\n").unwrap();
    // sealos lists the images of the build context (images/shim here).
    std::fs::create_dir_all(app.join("images/shim")).unwrap();
    std::fs::write(app.join("images/shim/mongo"), "docker.io/library/mongo:4.0.0\n").unwrap();
    // A stand-in of the base image and of the listed image.
    matrix::oci::RefLayout::at(&ws.path().join("images"))
        .write_stand_ins(
            &[
                "docker.io/library/kubernetes:v1.19.8".into(),
                "docker.io/library/mongo:4.0.0".into(),
            ],
            &[matrix::Arch::Amd64, matrix::Arch::Arm64],
        )
        .unwrap();
    let report = json(&ws.run(&[
        "app",
        "build",
        "sealer-demo",
        "1.0.0",
        "--arch",
        "amd64",
        "--build-arg",
        "Version=4.4.1",
        "--image-layout",
        "images",
        "--json",
    ]));
    assert_eq!(report["arches"][0]["images"], 1);
    let store = ws.path().join("out/oci");
    let config = inspect_config(&store, "sealer-demo:1.0.0-amd64");
    assert_eq!(
        config["config"]["Cmd"],
        serde_json::json!([
            "kubectl apply -f manifests/recommended.yaml",
            "helm install mytest charts/traefik"
        ])
    );
    // The base's layer comes first, then the registry, the app's files and
    // what RUN made.
    assert_eq!(config["rootfs"]["diff_ids"].as_array().unwrap().len(), 4);
    let rootfs = unpack(&store, "sealer-demo:1.0.0-amd64", &ws.path().join("unpacked"));
    assert_eq!(
        std::fs::read_to_string(rootfs.join("version.txt")).unwrap(),
        "4.4.1\n"
    );
    assert!(rootfs.join("STAND-IN").is_file(), "the base image's file");
    assert!(rootfs.join("manifests/a.yaml").is_file() && rootfs.join("manifests/b.yaml").is_file());
    assert!(!rootfs.join("manifests/notes.txt").exists());
    assert!(rootfs.join("manifests/recommended.yaml").is_file());
    // --no-run refuses it.
    let out = ws.run(&[
        "app",
        "build",
        "sealer-demo",
        "1.0.0",
        "--no-run",
        "--skip-images",
    ]);
    common::assert_fails(&out, 2, "Kubefile:4: RUN refused");
}

#[test]
fn hostile_applications_are_refused_with_the_place_named() {
    let ws = Workspace::new(|t| t);
    let write = |name: &str, files: &[(&str, &str)]| {
        let dir = ws.path().join("applications").join(name).join("1.0.0");
        std::fs::create_dir_all(&dir).unwrap();
        for (file, text) in files {
            std::fs::write(dir.join(file), text).unwrap();
        }
    };
    write(
        "escape",
        &[("Kubefile", "FROM scratch\nCOPY ../../../etc/passwd x\n")],
    );
    let out = ws.run(&["app", "build", "escape", "1.0.0", "--skip-images"]);
    common::assert_fails(
        &out,
        2,
        "Kubefile:2: COPY ../../../etc/passwd: the source leaves the build context",
    );
    write("unknown", &[("Kubefile", "FROM scratch\nADD x y\n")]);
    let out = ws.run(&["app", "build", "unknown", "1.0.0", "--skip-images"]);
    common::assert_fails(&out, 2, "Kubefile:2:1: unknown instruction `ADD`");
    write(
        "failing",
        &[
            ("Kubefile", "FROM scratch\n"),
            ("init.sh", "echo preparing\necho broken >&2\nexit 3\n"),
        ],
    );
    let out = ws.run(&[
        "app",
        "build",
        "failing",
        "1.0.0",
        "--arch",
        "arm64",
        "--skip-images",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = stderr(&out);
    assert!(
        text.contains("failing 1.0.0 (arm64): init.sh failed with exit code 3") && text.contains("broken"),
        "{text}"
    );
    // Links are never followed: reading through one, or writing through a
    // link an earlier COPY left in the image.
    write(
        "reads-link",
        &[("Kubefile", "FROM scratch\nCOPY ext/hostname x\n")],
    );
    std::os::unix::fs::symlink("/etc", ws.path().join("applications/reads-link/1.0.0/ext")).unwrap();
    let out = ws.run(&["app", "build", "reads-link", "1.0.0", "--skip-images"]);
    common::assert_fails(&out, 2, "`ext` is a symbolic link; it is not followed");
    let outside = tempfile::tempdir().unwrap();
    write(
        "writes-link",
        &[
            ("Kubefile", "FROM scratch\nCOPY out out\nCOPY payload out/\n"),
            ("payload", "x\n"),
        ],
    );
    std::os::unix::fs::symlink(
        outside.path(),
        ws.path().join("applications/writes-link/1.0.0/out"),
    )
    .unwrap();
    let out = ws.run(&["app", "build", "writes-link", "1.0.0", "--skip-images"]);
    common::assert_fails(&out, 2, "`out` is a symbolic link; it is not followed");
    assert!(
        std::fs::read_dir(outside.path()).unwrap().next().is_none(),
        "nothing written outside"
    );
    let out = ws.run(&["app", "build", "../x", "1.0.0"]);
    common::assert_fails(&out, 2, "names and versions are letters");
    let out = ws.run(&["app", "build", "missing", "1.0.0"]);
    common::assert_fails(&out, 2, "has no folder 1.0.0/ or latest/");
    // Nothing was written outside the workspace's own folders.
    assert!(!ws.path().join("x").exists());
}

/// Helm's own engine (PyPI's helm-python-sdk) renders every test chart;
/// after the same line scan its image list must equal matrix's.
#[test]
fn charts_give_the_image_list_helm_gives() {
    let ws = apps();
    copy_dir(
        &common::repo().join("tests/data/charts"),
        &ws.path().join("charts-under-test"),
    );
    let mut folders = vec![ws.path().join("applications/web-demo/1.0.0")];
    for entry in std::fs::read_dir(ws.path().join("charts-under-test")).unwrap() {
        folders.push(entry.unwrap().path());
    }
    folders.sort();
    for folder in folders {
        let ours = json(&ws.run(&["app", "images", folder.to_str().unwrap(), "--skip-init", "--json"]));
        let ours: Vec<String> = ours
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["image"].as_str().unwrap().to_string())
            .collect();
        let oracle = std::process::Command::new("python3")
            .arg(common::repo().join("tests/helm_oracle.py"))
            .arg(&folder)
            .output()
            .expect("python3");
        assert!(oracle.status.success(), "helm-python-sdk: {}", stderr(&oracle));
        let helm: Vec<String> = serde_json::from_slice(&oracle.stdout).unwrap();
        assert_eq!(ours, helm, "{}", folder.display());
        assert!(!ours.is_empty(), "{}", folder.display());
    }
}

/// `COPY URL` goes through the fetcher: a mirror tree serves it (checked
/// against the tree's SHA256SUMS), the verified cache keeps it, and
/// `--offline` builds from the cache alone or fails naming the URL.
#[test]
fn copy_url_goes_through_the_mirror_the_cache_and_offline() {
    let ws = apps();
    let app = ws.path().join("applications/url-demo/1.0.0");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::write(
        app.join("Kubefile"),
        "FROM scratch\nCOPY https://downloads.example/tools/tool.txt opt/tool.txt\n",
    )
    .unwrap();
    let tree = ws.path().join("tree");
    let file = tree.join("downloads.example/tools/tool.txt");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, "a tool from the mirror\n").unwrap();
    let digest = matrix::digest::Sha256::of(b"a tool from the mirror\n");
    std::fs::write(
        tree.join("SHA256SUMS"),
        format!("{}  downloads.example/tools/tool.txt\n", digest.hex()),
    )
    .unwrap();
    let server = common::http::Server::serve_dir(tree.clone());
    let mirror = server.url();
    let build = |cache: &str, out: &str, extra: &[&str]| {
        let mut args = vec![
            "app",
            "build",
            "url-demo",
            "1.0.0",
            "--arch",
            "amd64",
            "--skip-images",
            "--cache",
            cache,
            "--out",
            out,
            "--json",
        ];
        args.extend_from_slice(extra);
        ws.run(&args)
    };
    ok(&build("cache", "oci", &["--mirror", &mirror]));
    assert_eq!(server.hits("/downloads.example/tools/tool.txt"), 1);
    let rootfs = unpack(
        &ws.path().join("oci"),
        "url-demo:1.0.0-amd64",
        &ws.path().join("unpacked"),
    );
    assert_eq!(
        std::fs::read_to_string(rootfs.join("opt/tool.txt")).unwrap(),
        "a tool from the mirror\n"
    );

    // Offline, from the cache: no request.
    ok(&build("cache", "oci-offline", &["--offline"]));
    assert_eq!(server.hits("/downloads.example/tools/tool.txt"), 1);
    // Offline with an empty cache: refused, naming the URL.
    let out = build("empty-cache", "oci-empty", &["--offline"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("https://downloads.example/tools/tool.txt"),
        "{}",
        stderr(&out)
    );

    // A mirror whose bytes do not match its SHA256SUMS is refused.
    std::fs::write(&file, "tampered\n").unwrap();
    let out = build("fresh-cache", "oci-tampered", &["--mirror", &mirror]);
    assert!(!out.status.success(), "{}", stdout(&out));
    assert!(
        !ws.path().join("oci-tampered/index.json").is_file() || {
            let index = std::fs::read_to_string(ws.path().join("oci-tampered/index.json")).unwrap();
            !index.contains("url-demo:1.0.0-amd64")
        }
    );

    // `COPY --checksum` pins the URL: the pin decides, not the tree's sums.
    let pinned = matrix::digest::Sha256::of(b"tampered\n");
    for (digest, good) in [(pinned, true), (digest, false)] {
        std::fs::write(
            app.join("Kubefile"),
            format!(
                "FROM scratch\nCOPY --checksum={digest} https://downloads.example/tools/tool.txt opt/tool.txt\n"
            ),
        )
        .unwrap();
        let cache = format!("pin-cache-{good}");
        let out = build(&cache, &format!("oci-pin-{good}"), &["--mirror", &mirror]);
        assert_eq!(out.status.success(), good, "{}", stderr(&out));
    }
}

/// Arches build in parallel; the digests do not depend on the core count.
#[test]
fn app_arches_in_parallel_give_the_digests_of_a_serial_build() {
    let ws = apps();
    stand_ins(&ws, "applications/web-demo/1.0.0");
    let run = |threads: &str, out: &str| -> serde_json::Value {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_matrix"))
            .args([
                "app",
                "build",
                "web-demo",
                "1.0.0",
                "--image-layout",
                "images",
                "--out",
                out,
                "--cache",
                &format!("cache-{out}"),
                "--json",
            ])
            .env("RAYON_NUM_THREADS", threads)
            .env("NO_COLOR", "1")
            .current_dir(ws.path())
            .output()
            .unwrap();
        json(&output)
    };
    let serial = run("1", "oci-serial");
    let parallel = run("4", "oci-parallel");
    let digests = |report: &serde_json::Value| -> Vec<(String, String)> {
        report["arches"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["tag"].as_str().unwrap().to_string(),
                    a["digest"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    assert_eq!(digests(&serial).len(), 2);
    assert_eq!(digests(&serial), digests(&parallel));
    assert!(serial["index"].is_string());
    assert_eq!(serial["index"], parallel["index"]);
}

#[test]
fn app_plan_lists_every_version_and_the_arches_build_arch_allows() {
    let ws = apps();
    let listed = json(&ws.run(&["app", "plan", "--json"]));
    let rows: Vec<(String, String, String, String)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let field = |k: &str| r[k].as_str().unwrap().to_string();
            (field("name"), field("version"), field("arch"), field("tag"))
        })
        .collect();
    let arch_demo: Vec<&str> = rows
        .iter()
        .filter(|r| r.0 == "arch-demo")
        .map(|r| r.3.as_str())
        .collect();
    assert_eq!(arch_demo, ["arch-demo:1.0.0-amd64"], "build_arch narrows");
    assert!(rows.contains(&(
        "web-demo".into(),
        "1.0.0".into(),
        "arm64".into(),
        "web-demo:1.0.0-arm64".into()
    )));
    let only = json(&ws.run(&["app", "plan", "manifest-demo", "--json"]));
    assert_eq!(only.as_array().unwrap().len(), 2);
    let out = ws.run(&["app", "inspect", "applications/web-demo/9.9.9", "--json"]);
    common::assert_fails(&out, 2, "applications/web-demo/9.9.9 is not a folder");
}
