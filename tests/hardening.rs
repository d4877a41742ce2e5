//! Hostile input and faults, one test (or more) per class: contexts whose
//! links chain out, `--force` on folders matrix did not write, damaged
//! store blobs and cache entries, gc on foreign layouts and during builds,
//! credentials in targets and broken auth files, unbounded work, errors
//! that name what is wrong, and layout files others can read. Archive
//! extraction has its own unit and property tests in `src/fetch/extract.rs`.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::scripted::Scripted;
use common::{Workspace, assert_fails, stderr, stdout, tool};

const TAG: &str = "v1.24.4-4.2.1";
const ONE_CELL: [&str; 4] = ["--cri", "containerd", "--arch", "amd64"];

fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|_| panic!("json: {}\n{}", stdout(output), stderr(output)))
}

/// Builds the containerd/amd64 cell of TAG into `out` and returns the report.
fn build_one(ws: &Workspace, out: &str) -> serde_json::Value {
    let mut extra = vec!["--json", "--skip-images"];
    extra.extend_from_slice(&ONE_CELL);
    json(&ws.build(TAG, out, &extra))
}

/// Flips one byte in the middle of a file (same size, new ctime).
fn flip_byte(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(path, bytes).unwrap();
}

/// The manifest digest skopeo reads for `reference` in the layout.
fn digest_of(store: &Path, reference: &str) -> String {
    tool(
        "skopeo",
        &[
            "inspect",
            "--format",
            "{{.Digest}}",
            &format!("oci:{}:{reference}", store.display()),
        ],
    )
}

/// The layer blobs of an image in a layout, largest first.
fn layer_blobs(store: &Path, reference: &str) -> Vec<PathBuf> {
    let raw = tool(
        "skopeo",
        &[
            "inspect",
            "--raw",
            &format!("oci:{}:{reference}", store.display()),
        ],
    );
    let manifest: serde_json::Value = serde_json::from_str(&raw).unwrap();
    let mut layers: Vec<(u64, PathBuf)> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|layer| {
            let hex = layer["digest"].as_str().unwrap().trim_start_matches("sha256:");
            (
                layer["size"].as_u64().unwrap(),
                store.join("blobs/sha256").join(hex),
            )
        })
        .collect();
    layers.sort_by_key(|layer| std::cmp::Reverse(layer.0));
    layers.into_iter().map(|(_, path)| path).collect()
}

fn fsck(ws: &Workspace, extra: &[&str]) -> Output {
    let mut args = vec!["fsck", "--out", "out/oci"];
    args.extend_from_slice(extra);
    ws.run(&args)
}

/// Runs matrix with extra environment variables.
fn run_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_matrix"));
    command
        .args(args)
        .current_dir(dir)
        .env_remove("MATRIX_FILE")
        .env("NO_COLOR", "1");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().unwrap()
}

/// A tmpfs mounted for one test (root only); unmounted when dropped.
struct Mount(PathBuf);

impl Mount {
    fn tmpfs(at: &Path, options: &str) -> Option<Mount> {
        std::fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(at)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("skipped: cannot mount a tmpfs here (needs root)");
        }
        ok.then(|| Mount(at.to_path_buf()))
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

// 1. Links in runtime contexts cannot make render or build write outside.

#[test]
fn context_links_that_chain_out_are_refused() {
    let ws = Workspace::new(|t| t).with_contexts();
    let kube = ws.path().join("runtime/kube");
    std::fs::create_dir_all(kube.join("sub")).unwrap();
    std::os::unix::fs::symlink("..", kube.join("sub/inner")).unwrap();
    std::os::unix::fs::symlink("sub/inner/..", kube.join("up1")).unwrap();
    let mut args = vec!["render", TAG, "--out", "ctx"];
    args.extend_from_slice(&ONE_CELL);
    let out = ws.run(&args);
    assert_fails(&out, 2, "up1");
    assert!(stderr(&out).contains("leaves the context"), "{}", stderr(&out));
    assert!(!ws.path().join("ctx").exists());
    // The same context stops a build before anything is fetched.
    let mut args = vec!["build", TAG, "--cache", "cache", "--skip-images"];
    args.extend_from_slice(&ONE_CELL);
    assert_fails(&ws.run(&args), 2, "leaves the context");
    assert!(!ws.path().join("cache").exists());
}

#[test]
fn files_beneath_a_link_of_another_context_are_refused() {
    let ws = Workspace::new(|t| t).with_contexts();
    // kube makes `etc/escape` a link (inside, lexically); containerd puts
    // a file beneath it, which a writer would place through the link.
    std::os::unix::fs::symlink("../scripts", ws.path().join("runtime/kube/etc/escape")).unwrap();
    std::fs::create_dir_all(ws.path().join("runtime/containerd/etc/escape")).unwrap();
    std::fs::write(ws.path().join("runtime/containerd/etc/escape/x"), "x").unwrap();
    let mut args = vec!["render", TAG, "--out", "ctx"];
    args.extend_from_slice(&ONE_CELL);
    let out = ws.run(&args);
    assert_fails(&out, 2, "`etc/escape/x` lies beneath `etc/escape`");
    assert!(!ws.path().join("runtime/kube/scripts/x").exists());
}

// 2. --force never deletes what matrix did not write.

#[test]
fn force_replaces_only_folders_render_wrote() {
    let ws = Workspace::new(|t| t).with_contexts();
    let render = |out: &str| {
        let mut args = vec!["render", TAG, "--out", out, "--force"];
        args.extend_from_slice(&ONE_CELL);
        ws.run(&args)
    };
    // The checkout itself (it holds matrix.toml).
    assert_fails(&render("."), 2, "refusing to replace");
    assert!(ws.path().join("matrix.toml").is_file());
    // A folder of the user's.
    std::fs::create_dir(ws.path().join("mine")).unwrap();
    std::fs::write(ws.path().join("mine/notes.txt"), "keep me").unwrap();
    assert_fails(&render("mine"), 2, "matrix did not write it");
    assert_eq!(
        std::fs::read_to_string(ws.path().join("mine/notes.txt")).unwrap(),
        "keep me"
    );
    // A folder with .git, even if marked.
    std::fs::create_dir_all(ws.path().join("repo/.git")).unwrap();
    std::fs::write(ws.path().join("repo/.matrix-render"), "").unwrap();
    assert_fails(&render("repo"), 2, "holds .git");
    assert!(ws.path().join("repo/.git").is_dir());
    // Its own output is replaced.
    assert!(render("ctx").status.success());
    let again = render("ctx");
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(ws.path().join("ctx/.matrix-render").is_file());
}

// 3. The store never serves a damaged or missing blob; fsck finds and repairs.

#[test]
fn damaged_and_missing_blobs_are_rebuilt_not_reused() {
    let ws = Workspace::new(|t| t).with_contexts().with_stand_ins(TAG);
    let store = ws.path().join("out/oci");
    let reference = format!("kubernetes:{TAG}-amd64");
    assert_eq!(build_one(&ws, "out/oci")["built"], 1);
    let first_digest = digest_of(&store, &reference);
    assert_eq!(build_one(&ws, "out/oci")["unchanged"], 1);

    let blob = layer_blobs(&store, &reference)[0].clone();
    flip_byte(&blob);
    let report = build_one(&ws, "out/oci");
    assert_eq!(
        report["built"], 1,
        "a flipped byte must not leave the cell unchanged: {report}"
    );
    assert_eq!(report["cells"][0]["layers_written"], 1, "{report}");
    assert!(
        json(&fsck(&ws, &["--json"]))["problems"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    std::fs::remove_file(&blob).unwrap();
    assert_eq!(build_one(&ws, "out/oci")["built"], 1);
    assert!(blob.is_file());
    let digest = digest_of(&store, &reference);
    assert_eq!(digest, first_digest, "the rewritten image is the same image");
}

#[test]
fn fsck_names_the_damage_and_repair_makes_the_store_sound() {
    let ws = Workspace::new(|t| t).with_contexts().with_stand_ins(TAG);
    let store = ws.path().join("out/oci");
    let reference = format!("kubernetes:{TAG}-amd64");
    build_one(&ws, "out/oci");
    let clean = fsck(&ws, &[]);
    assert!(clean.status.success(), "{}", stdout(&clean));
    assert!(stdout(&clean).contains("0 problems"), "{}", stdout(&clean));

    let blob = layer_blobs(&store, &reference)[1].clone();
    let hex = blob.file_name().unwrap().to_str().unwrap().to_string();
    flip_byte(&blob);
    let found = fsck(&ws, &[]);
    assert_eq!(found.status.code(), Some(1));
    let text = stdout(&found);
    assert!(
        text.contains(&format!("blobs/sha256/{hex}: content does not match its digest")),
        "{text}"
    );
    assert!(text.contains(&reference), "{text}");

    let repaired = json(&fsck(&ws, &["--repair", "--json"]));
    assert_eq!(repaired["deleted"][0], format!("sha256:{hex}"), "{repaired}");
    assert!(
        repaired["dropped_refs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_str() == Some(reference.as_str()))
    );
    assert!(fsck(&ws, &[]).status.success());
    // The next build restores the dropped tag.
    assert_eq!(build_one(&ws, "out/oci")["built"], 1);
    assert!(fsck(&ws, &[]).status.success());
    tool(
        "skopeo",
        &["inspect", &format!("oci:{}:{reference}", store.display())],
    );
}

// 4. The cache never serves a damaged entry.

#[test]
fn damaged_cache_entries_are_fetched_again() {
    let ws = Workspace::new(|t| t).with_contexts().with_stand_ins(TAG);
    let mirror = ws.mirror_url();
    let fetch = || json(&ws.run(&["fetch", TAG, "--mirror", &mirror, "--cache", "cache", "--json"]));
    assert_eq!(fetch()["fetched"], 28, "one download per URL for the six cells");
    let blobs: Vec<PathBuf> = std::fs::read_dir(ws.path().join("cache/sha256"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    flip_byte(&blobs[0]);
    let again = fetch();
    assert_eq!(again["fetched"], 1, "{again}");
    assert_eq!(again["cached"], 27, "{again}");

    // An unpacked archive member changed behind matrix's back is unpacked
    // again from the verified archive.
    let render = |out: &str| {
        let mut args = vec![
            "render",
            TAG,
            "--out",
            out,
            "--binaries",
            "--mirror",
            &mirror,
            "--cache",
            "cache",
        ];
        args.extend_from_slice(&ONE_CELL);
        let output = ws.run(&args);
        assert!(output.status.success(), "{}", stderr(&output));
    };
    render("a");
    let member = find_file(&ws.path().join("cache/extracted")).expect("an unpacked member");
    flip_byte(&member);
    render("b");
    assert_eq!(tree_bytes(&ws.path().join("a")), tree_bytes(&ws.path().join("b")));
}

fn find_file(dir: &Path) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()? {
        let path = entry.ok()?.path();
        let meta = std::fs::symlink_metadata(&path).ok()?;
        if meta.is_dir() {
            if let Some(found) = find_file(&path) {
                return Some(found);
            }
        } else if meta.is_file() && meta.len() > 0 && !path.to_string_lossy().ends_with(".stamps") {
            return Some(path);
        }
    }
    None
}

fn tree_bytes(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        for entry in std::fs::read_dir(&path).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                stack.push(path);
            } else if meta.is_file() {
                out.push((
                    path.strip_prefix(dir).unwrap().display().to_string(),
                    std::fs::read(&path).unwrap(),
                ));
            }
        }
    }
    out.sort();
    out
}

// 5. gc understands every manifest type, refuses foreign folders, never
// races a build.

#[test]
fn gc_keeps_docker_typed_images_and_refuses_foreign_folders() {
    let ws = Workspace::new(|t| t).with_contexts().with_stand_ins(TAG);
    build_one(&ws, "out/oci");
    let store = ws.path().join("out/oci");
    // Re-type the image as Docker schema 2 and make it the only entry.
    let raw = tool(
        "skopeo",
        &[
            "inspect",
            "--raw",
            &format!("oci:{}:kubernetes:{TAG}-amd64", store.display()),
        ],
    );
    let mut manifest: serde_json::Value = serde_json::from_str(&raw).unwrap();
    manifest["mediaType"] = "application/vnd.docker.distribution.manifest.v2+json".into();
    manifest["config"]["mediaType"] = "application/vnd.docker.container.image.v1+json".into();
    for layer in manifest["layers"].as_array_mut().unwrap() {
        layer["mediaType"] = "application/vnd.docker.image.rootfs.diff.tar.gzip".into();
    }
    let bytes = serde_json::to_vec(&manifest).unwrap();
    let digest = matrix::digest::Sha256::of(&bytes);
    std::fs::write(store.join("blobs/sha256").join(digest.hex()), &bytes).unwrap();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "digest": digest.to_string(),
            "size": bytes.len(),
            "annotations": {"org.opencontainers.image.ref.name": "docker-typed"}
        }]
    });
    std::fs::write(store.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    let gc = json(&ws.run(&["gc", "--out", "out/oci", "--json"]));
    assert!(
        gc["blobs"].as_u64().unwrap() >= 1,
        "the OCI manifest is unreachable now: {gc}"
    );
    let referenced: Vec<String> = std::iter::once(manifest["config"]["digest"].as_str().unwrap().to_string())
        .chain(
            manifest["layers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["digest"].as_str().unwrap().to_string()),
        )
        .collect();
    for digest in &referenced {
        let hex = digest.trim_start_matches("sha256:");
        assert!(
            store.join("blobs/sha256").join(hex).is_file(),
            "gc deleted {digest}"
        );
    }
    let check = fsck(&ws, &[]);
    assert!(check.status.success(), "{}", stdout(&check));

    // A folder that is not a layout is refused and left alone.
    std::fs::create_dir(ws.path().join("photos")).unwrap();
    std::fs::write(ws.path().join("photos/cat.jpg"), "meow").unwrap();
    assert_fails(&ws.run(&["gc", "--out", "photos"]), 2, "not an OCI image layout");
    assert!(ws.path().join("photos/cat.jpg").is_file());
    assert!(!ws.path().join("photos/blobs").exists());
}

#[test]
fn gc_during_a_build_never_deletes_its_blobs() {
    let ws = Workspace::new(|t| t)
        .with_contexts()
        .with_padded_stand_ins(TAG, "24M");
    let mut child = ws.spawn_build(TAG, &["--cri", "containerd,docker"]);
    // Start gc once the build holds the store (it writes index.json then).
    let index = ws.path().join("out/oci/index.json");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !index.is_file() && std::time::Instant::now() < deadline {
        std::thread::yield_now();
    }
    let gc = ws.run(&["gc", "--out", "out/oci", "--json"]);
    assert!(gc.status.success(), "{}", stderr(&gc));
    assert!(child.wait().unwrap().success());
    let check = fsck(&ws, &["--json"]);
    assert!(
        json(&check)["problems"].as_array().unwrap().is_empty(),
        "{}",
        stdout(&check)
    );
    for image in ["kubernetes", "kubernetes-docker"] {
        for arch in ["amd64", "arm64"] {
            tool(
                "skopeo",
                &[
                    "inspect",
                    &format!("oci:{}:{image}:{TAG}-{arch}", ws.path().join("out/oci").display()),
                ],
            );
        }
    }
}

// 7. Credentials never appear; broken auth files are errors.

#[test]
fn credentials_in_targets_are_refused_unprinted() {
    let ws = Workspace::new(|t| t);
    let push = ws.run(&["push", TAG, "--to", "user:hunter2@127.0.0.1:1/labring"]);
    assert_fails(&push, 2, "--creds");
    let diff = ws.run(&[
        "diff",
        "--registry",
        "user:hunter2@127.0.0.1:1/labring",
        "--kube",
        "1.24.4",
    ]);
    assert_fails(&diff, 2, "cannot carry credentials");
    let mirror = ws.run(&[
        "build",
        TAG,
        "--image-mirror",
        "registry.k8s.io=me:hunter2@127.0.0.1:1/k8s",
    ]);
    assert_fails(&mirror, 2, "cannot carry credentials");
    assert!(!stderr(&mirror).contains("hunter2"));
    let ws = Workspace::new(|t| t.replace("publish = [", "publish = [\"me:hunter2@docker.io/labring\", "));
    let plan = ws.run(&["plan", "--format", "tags"]);
    assert_fails(&plan, 2, "cannot carry credentials");
    for output in [&push, &diff, &plan] {
        assert!(!stderr(output).contains("hunter2") && !stdout(output).contains("hunter2"));
    }
}

#[test]
fn a_broken_auth_file_is_an_error_naming_it() {
    let ws = Workspace::new(|t| t);
    let home = ws.path().join("home");
    std::fs::create_dir(&home).unwrap();
    let file = ws.path().join("auth.json");
    std::fs::write(&file, r#"{"auths": {"127.0.0.1:1": {"auth": "aHVudGVyMg=="}}}"#).unwrap();
    let out = run_env(
        ws.path(),
        &["diff", "--registry", "127.0.0.1:1/labring", "--kube", "1.24.4"],
        &[
            ("REGISTRY_AUTH_FILE", file.to_str().unwrap()),
            ("HOME", home.to_str().unwrap()),
            ("RUST_LOG", "trace"),
        ],
    );
    assert_fails(&out, 2, &format!("auth file {}", file.display()));
    assert!(
        !stderr(&out).contains("aHVudGVyMg") && !stderr(&out).contains("hunter2"),
        "{}",
        stderr(&out)
    );
    std::fs::write(&file, "{ not json").unwrap();
    let out = run_env(
        ws.path(),
        &["diff", "--registry", "127.0.0.1:1/labring", "--kube", "1.24.4"],
        &[
            ("REGISTRY_AUTH_FILE", file.to_str().unwrap()),
            ("HOME", home.to_str().unwrap()),
        ],
    );
    assert_fails(&out, 2, "not JSON (line 1");
}

// 8. Bounded work.

fn tag_list_registry(
    list: impl Fn(&str) -> (Vec<(String, String)>, String) + Send + Sync + 'static,
) -> Scripted {
    Scripted::start(move |path| {
        if path.contains("/tags/list") {
            let (headers, body) = list(path);
            (200, headers, body)
        } else {
            (200, Vec::new(), "{}".into())
        }
    })
}

#[test]
fn diff_stops_on_a_pagination_loop_and_on_malformed_lists() {
    let looping = tag_list_registry(|path| {
        let next = format!("<{path}>; rel=\"next\"");
        (
            vec![("Link".into(), next)],
            r#"{"tags":["v1.24.4-4.2.1"]}"#.into(),
        )
    });
    let ws = Workspace::new(|t| t);
    let target = format!("{}/labring", looping.host());
    let out = ws.run(&["diff", "--registry", &target, "--kube", "1.24.4"]);
    assert_fails(&out, 1, "loop");
    assert!(looping.requests() < 20, "{} requests", looping.requests());

    // A tag with a terminal escape is refused, not printed.
    let escaping = tag_list_registry(|_| (Vec::new(), "{\"tags\":[\"v1\\u001b[31mred\"]}".into()));
    let target = format!("{}/labring", escaping.host());
    let out = ws.run(&["diff", "--registry", &target, "--kube", "1.24.4"]);
    assert_fails(&out, 1, "is not a valid tag");
    assert!(!stderr(&out).contains('\u{1b}') && !stdout(&out).contains('\u{1b}'));

    let malformed = tag_list_registry(|_| (Vec::new(), r#"{"tags":"v1.24.4"}"#.into()));
    let target = format!("{}/labring", malformed.host());
    let out = ws.run(&["diff", "--registry", &target, "--kube", "1.24.4"]);
    assert_fails(&out, 1, "malformed JSON");
    assert!(!stdout(&out).contains("missing"), "{}", stdout(&out));
}

#[test]
fn versions_refresh_refuses_repositories_without_releases() {
    let ws = Workspace::new(|t| t);
    let none = tag_list_registry(|_| {
        (
            Vec::new(),
            r#"{"tags":["latest","v2.0.0","v1.30.0-rc.1","sha256-abc.sig"]}"#.into(),
        )
    });
    let source = format!("{}/kube-apiserver", none.host());
    let out = ws.run(&["versions", "--refresh", "--source", &source, "--dry-run"]);
    assert_fails(&out, 1, "lists no Kubernetes release tags");
    let odd = tag_list_registry(|_| (Vec::new(), r#"{"tags":["v1.24.100","v1.24.4","v1.99.0"]}"#.into()));
    let source = format!("{}/kube-apiserver", odd.host());
    let out = ws.run(&[
        "versions",
        "--refresh",
        "--source",
        &source,
        "--dry-run",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("ignoring tag `v1.24.100`"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("ignoring tag `v1.99.0`"),
        "{}",
        stderr(&out)
    );
    assert_eq!(json(&out), serde_json::json!([]));
}

#[test]
fn templates_run_out_of_fuel_and_stand_in_sizes_are_bounded() {
    let ws = Workspace::new(|t| t).with_contexts();
    // Ten to the eighth iterations: a hang without fuel.
    let mut template = String::from("{% set l = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] %}");
    for depth in 0..8 {
        template.push_str(&format!("{{% for x{depth} in l %}}"));
    }
    template.push_str(&"{% endfor %}".repeat(8));
    std::fs::write(ws.path().join("templates/kubeadm.yml.tmpl"), template).unwrap();
    let mut args = vec!["build", TAG, "--cache", "cache", "--skip-images"];
    args.extend_from_slice(&ONE_CELL);
    assert_fails(&ws.run(&args), 2, "fuel");

    let ws = Workspace::new(|t| t);
    for (size, said) in [
        ("kubelet=99999999999999G", "larger than a stand-in may be"),
        ("kubelett=1M", "no component is named `kubelett`"),
    ] {
        let out = ws.run(&["mirror", "--stand-ins", "--to", "m", TAG, "--stand-in-size", size]);
        assert_fails(&out, 2, said);
    }
    assert!(!ws.path().join("m").exists());
}

#[test]
fn lock_pins_for_unknown_components_are_errors() {
    let ws = Workspace::new(|t| t);
    let lock = ws.path().join("matrix.lock");
    let mut text = std::fs::read_to_string(&lock).unwrap();
    text.push_str(&format!(
        "\n[artifacts]\n\"kubelett/1.24.4/amd64\" = \"sha256:{}\"\n",
        "0".repeat(64)
    ));
    std::fs::write(&lock, text).unwrap();
    let out = ws.run(&["plan", "--format", "tags", "--kube", "1.24.4"]);
    assert_fails(&out, 2, "matrix.lock:");
    assert!(
        stderr(&out).contains("no [[component]] is named `kubelett`"),
        "{}",
        stderr(&out)
    );
}

// 9. Errors say what is wrong where.

#[test]
fn template_errors_stop_build_before_any_download() {
    let ws = Workspace::new(|t| t).with_contexts();
    let template = ws.path().join("templates/kubeadm.yml.tmpl");
    let text = std::fs::read_to_string(&template).unwrap();
    std::fs::write(&template, format!("{text}\n# {{{{ no_such_variable }}}}\n")).unwrap();
    let out = ws.run(&["build", TAG, "--cache", "cache", "--skip-images"]);
    assert_fails(&out, 2, "no_such_variable");
    assert!(!ws.path().join("cache").exists(), "nothing may be fetched");
}

#[test]
fn non_utf8_file_names_are_refused_with_the_name_escaped() {
    use std::os::unix::ffi::OsStrExt;
    let ws = Workspace::new(|t| t).with_contexts();
    let name = std::ffi::OsStr::from_bytes(b"bad\xffname");
    std::fs::write(ws.path().join("runtime/kube/etc").join(name), "x").unwrap();
    let mut args = vec!["render", TAG, "--out", "ctx"];
    args.extend_from_slice(&ONE_CELL);
    assert_fails(&ws.run(&args), 2, r"bad\xffname");
}

#[test]
fn a_full_disk_and_a_read_only_store_name_the_path() {
    let ws = Workspace::new(|t| t)
        .with_contexts()
        .with_padded_stand_ins(TAG, "2M");
    let Some(_small) = Mount::tmpfs(&ws.path().join("small"), "size=512k") else {
        return;
    };
    let mirror = ws.mirror_url();
    let mut args = vec![
        "build",
        TAG,
        "--mirror",
        &mirror,
        "--cache",
        "cache",
        "--out",
        "small/oci",
        "--skip-images",
    ];
    args.extend_from_slice(&ONE_CELL);
    let out = ws.run(&args);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        said.contains("no space left writing") && said.contains("small/oci"),
        "{said}"
    );

    let Some(_ro) = Mount::tmpfs(&ws.path().join("ro"), "ro,size=64k") else {
        return;
    };
    args[7] = "ro/oci";
    let out = ws.run(&args);
    assert_fails(&out, 1, "ro/oci");
    assert!(stderr(&out).contains("read-only"), "{}", stderr(&out));
}

#[test]
fn https_to_a_plain_http_registry_hints_at_insecure() {
    let plain = common::registry::Registry::start(None);
    let port = plain.host().rsplit_once(':').unwrap().1.to_string();
    // An IPv4-mapped address reaches loopback but is not a loopback name,
    // so matrix speaks https to it.
    let target = format!("[::ffff:127.0.0.1]:{port}/labring");
    let ws = Workspace::new(|t| t);
    let out = ws.run(&["diff", "--registry", &target, "--kube", "1.24.4"]);
    assert_fails(&out, 1, "--insecure");
}

// 10. Layout files are readable by others, as the umask allows.

#[test]
fn layout_files_follow_the_umask() {
    let ws = Workspace::new(|t| t).with_contexts().with_stand_ins(TAG);
    build_one(&ws, "out/oci");
    let probe = ws.path().join("probe");
    std::fs::write(&probe, "").unwrap();
    let expected = std::fs::metadata(&probe).unwrap().permissions().mode() & 0o777;
    let store = ws.path().join("out/oci");
    let mut files = vec![store.join("index.json"), store.join("oci-layout")];
    files.extend(
        std::fs::read_dir(store.join("blobs/sha256"))
            .unwrap()
            .map(|e| e.unwrap().path()),
    );
    for file in files {
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, expected, "{}", file.display());
    }
}

// Round two (issue 21).

/// A password holding `@`, so redaction that cuts at the first `@` leaks.
const SECRET: &str = "hunter2@tail";

fn assert_unprinted(output: &Output) {
    let all = format!("{}{}", stdout(output), stderr(output));
    assert!(
        !all.contains("hunter2") && !all.contains("@tail"),
        "secret printed:\n{all}"
    );
}

#[test]
fn secrets_in_urls_are_never_printed() {
    let ws = Workspace::new(|t| t);
    // Malformed arguments are parsed by the command, not echoed by clap.
    let bad = [
        vec!["fetch", TAG, "--mirror", "ftp://u:hunter2@tail@host/x"],
        vec!["push", TAG, "--to", "https://u:hunter2@tail@127.0.0.1:1/ns"],
        vec!["diff", "--registry", "http://u:hunter2@tail@127.0.0.1:1/ns"],
        vec![
            "versions",
            "--refresh",
            "--source",
            "u:hunter2@tail@127.0.0.1:1/kube",
            "--dry-run",
        ],
    ];
    for args in bad {
        let output = ws.run(&args);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", stderr(&output));
        assert!(stderr(&output).contains("***@"), "{args:?}: {}", stderr(&output));
        assert_unprinted(&output);
    }
    // A mirror that keeps failing: every retry and failure line, at every
    // log level, names the URL without its password.
    let flaky = Scripted::start(|_| (503, vec![("Retry-After".into(), "0".into())], String::new()));
    let mirror = format!("http://u:{SECRET}@{}/mirror", flaky.host());
    let ws = Workspace::new(|t| t).with_contexts();
    let mut args = vec!["fetch", TAG, "--mirror", &mirror];
    args.extend_from_slice(&ONE_CELL);
    let dir = ws.path().to_path_buf();
    let cache = dir.join("cache");
    let cache = cache.to_str().unwrap();
    args.extend_from_slice(&["--cache", cache]);
    let output = run_env(&dir, &args, &[("RUST_LOG", "trace")]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(flaky.requests() > 1, "the mirror was asked");
    assert_unprinted(&output);
}

#[test]
fn build_and_gc_never_delete_what_matrix_did_not_write() {
    let ws = Workspace::new(|t| t).with_contexts().with_stand_ins(TAG);
    // `--out` on a foreign non-empty folder is refused before anything is written.
    std::fs::create_dir(ws.path().join("photos")).unwrap();
    std::fs::write(ws.path().join("photos/cat.jpg"), "meow").unwrap();
    let mirror = ws.mirror_url();
    let mut args = vec![
        "build",
        TAG,
        "--mirror",
        &mirror,
        "--cache",
        "cache",
        "--out",
        "photos",
        "--skip-images",
    ];
    args.extend_from_slice(&ONE_CELL);
    let out = ws.run(&args);
    assert_fails(&out, 2, "photos is not an OCI image layout");
    let left: Vec<_> = std::fs::read_dir(ws.path().join("photos"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(left.len(), 1, "only cat.jpg stays: {left:?}");

    // A layout whose blobs/sha256 is a link: gc refuses, the files the link
    // points at stay.
    build_one(&ws, "out/oci");
    let outside = ws.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let victim = outside.join("a".repeat(64));
    std::fs::write(&victim, "not a blob matrix wrote").unwrap();
    let store = ws.path().join("out/oci");
    let blobs = store.join("blobs/sha256");
    // Keep the real blobs aside; put the link in their place.
    std::fs::rename(&blobs, store.join("blobs/real")).unwrap();
    std::os::unix::fs::symlink(&outside, &blobs).unwrap();
    assert_fails(
        &ws.run(&["gc", "--out", "out/oci"]),
        2,
        "`blobs/sha256` is a link",
    );
    assert!(victim.is_file(), "gc deleted through the link");

    // A link inside blobs/sha256 named like a digest: the link is not a
    // blob matrix wrote; neither it nor its target is touched.
    std::fs::remove_file(&blobs).unwrap();
    std::fs::rename(store.join("blobs/real"), &blobs).unwrap();
    let planted = blobs.join("b".repeat(64));
    std::os::unix::fs::symlink(&victim, &planted).unwrap();
    let gc = ws.run(&["gc", "--out", "out/oci", "--json"]);
    assert!(gc.status.success(), "{}", stderr(&gc));
    assert!(victim.is_file() && planted.symlink_metadata().is_ok());
}

/// Writes `applications/NAME/1.0.0/Kubefile` with `text`.
fn app_with_kubefile(ws: &Workspace, name: &str, text: &str) -> PathBuf {
    let dir = ws.path().join("applications").join(name).join("1.0.0");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("Kubefile"), text).unwrap();
    dir.join("Kubefile")
}

#[test]
fn kubefile_and_matrix_files_are_bounded_before_reading() {
    let ws = Workspace::new(|t| t);
    // ENV doubling: 40 lines double 16 bytes to 16 TiB without a total.
    let doubling = format!(
        "FROM scratch\nENV A=0123456789abcdef\n{}",
        "ENV A=$A$A\n".repeat(40)
    );
    assert!(doubling.len() < 1000);
    app_with_kubefile(&ws, "doubling", &doubling);
    let out = ws.run(&["app", "build", "doubling", "1.0.0", "--skip-images", "--no-run"]);
    assert_fails(&out, 2, "variables expand to more than 4194304 bytes in all");
    assert!(stderr(&out).contains("Kubefile:"), "{}", stderr(&out));

    // A 1 MB run of `${` is scanned once, not once per `${`.
    let run = format!("FROM scratch\nLABEL a={}\nADD x y\n", "${".repeat(500_000));
    app_with_kubefile(&ws, "dollars", &run);
    let started = std::time::Instant::now();
    let out = ws.run(&["app", "build", "dollars", "1.0.0", "--skip-images", "--no-run"]);
    assert_fails(&out, 2, "unknown instruction `ADD`");
    assert!(started.elapsed().as_secs() < 20, "took {:?}", started.elapsed());

    // A huge Kubefile is refused by its size, not read whole.
    let huge = app_with_kubefile(&ws, "huge", "FROM scratch\n");
    std::fs::File::options()
        .write(true)
        .open(&huge)
        .unwrap()
        .set_len(1 << 30)
        .unwrap();
    let out = ws.run(&["app", "build", "huge", "1.0.0", "--skip-images", "--no-run"]);
    assert_fails(&out, 2, "over the 1048576-byte limit");

    // So are matrix.toml and matrix.lock.
    for name in ["matrix.toml", "matrix.lock"] {
        let ws = Workspace::new(|t| t);
        let path = ws.path().join(name);
        std::fs::File::options()
            .append(true)
            .open(&path)
            .unwrap()
            .set_len(1 << 30)
            .unwrap();
        let out = ws.run(&["plan", "--format", "tags"]);
        assert_fails(&out, 2, "over the 4194304-byte limit");
        assert!(stderr(&out).contains(name), "{}", stderr(&out));
    }
}

/// Whether a process is gone (or a zombie waiting for its reaper), asked
/// until `patience` runs out: SIGKILL is delivered asynchronously.
fn gone(pid: &str, patience: std::time::Duration) -> bool {
    let started = std::time::Instant::now();
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat.rsplit(')').next().unwrap_or("").trim_start().chars().next();
        if stat.is_empty() || state == Some('Z') {
            return true;
        }
        if started.elapsed() > patience {
            return false;
        }
        std::thread::yield_now();
    }
}

#[test]
fn init_sh_children_are_killed_with_it_and_never_hold_the_build() {
    let ws = Workspace::new(|t| t);
    let dir = ws.path().join("applications/lingering/1.0.0");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("Kubefile"), "FROM scratch\nCOPY data data\n").unwrap();
    let pids = ws.path().join("pids");
    // One child keeps init.sh's output open, one has its own; both would
    // run for five minutes.
    std::fs::write(
        dir.join("init.sh"),
        format!(
            "mkdir -p data && echo x > data/x\nsleep 300 &\necho $! >> {p}\n(sleep 300 >/dev/null 2>&1 </dev/null) &\necho $! >> {p}\necho ready\n",
            p = pids.display()
        ),
    )
    .unwrap();
    let started = std::time::Instant::now();
    let out = ws.run(&[
        "app",
        "build",
        "lingering",
        "1.0.0",
        "--arch",
        "amd64",
        "--skip-images",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        started.elapsed().as_secs() < 60,
        "held for {:?}",
        started.elapsed()
    );
    let pids = std::fs::read_to_string(&pids).unwrap();
    for pid in pids.lines() {
        assert!(
            gone(pid, std::time::Duration::from_secs(5)),
            "{pid} outlived the build"
        );
    }

    // At the deadline the whole group goes, and the error says so.
    std::fs::write(dir.join("init.sh"), "sleep 300 & sleep 300\n").unwrap();
    let started = std::time::Instant::now();
    let out = ws.run(&[
        "app",
        "build",
        "lingering",
        "1.0.0",
        "--arch",
        "amd64",
        "--skip-images",
        "--timeout",
        "1",
    ]);
    assert_fails(&out, 1, "init.sh timed out after 1 s");
    assert!(
        started.elapsed().as_secs() < 30,
        "held for {:?}",
        started.elapsed()
    );
}

#[test]
fn app_scans_never_read_through_links_out_of_the_folder() {
    let ws = Workspace::new(|t| t);
    let outside = ws.path().join("host");
    std::fs::create_dir_all(outside.join("shim")).unwrap();
    std::fs::write(outside.join("leak.yaml"), "image: 127.0.0.1:1/leak:host-secret\n").unwrap();
    std::fs::write(outside.join("shim/list"), "127.0.0.1:1/leak:host-secret\n").unwrap();
    let cases: [(&str, &str, &Path); 4] = [
        ("manifests", "manifests", &outside),
        ("shim", "images/shim", &outside.join("shim")),
        ("values", "charts/web.values.yaml", &outside.join("leak.yaml")),
        ("ignore", ".sealignore", &outside.join("leak.yaml")),
    ];
    for (name, link, target) in cases {
        let dir = ws.path().join("applications").join(name).join("1.0.0");
        std::fs::create_dir_all(dir.join("images")).unwrap();
        std::fs::create_dir_all(dir.join("charts/web/templates")).unwrap();
        std::fs::write(
            dir.join("charts/web/Chart.yaml"),
            "apiVersion: v2\nname: web\nversion: 1.0.0\n",
        )
        .unwrap();
        std::fs::write(dir.join("Kubefile"), "FROM scratch\n").unwrap();
        std::os::unix::fs::symlink(target, dir.join(link)).unwrap();
        let out = ws.run(&["app", "images", dir.to_str().unwrap(), "--json"]);
        let shown = link.trim_start_matches("charts/");
        assert_fails(
            &out,
            2,
            &format!("`{shown}` is a symbolic link; it is not followed"),
        );
        assert!(stderr(&out).contains(link), "{name}: {}", stderr(&out));
        assert!(!stdout(&out).contains("host-secret"), "{name}: {}", stdout(&out));
    }
}

#[test]
fn copy_never_writes_through_a_link_an_earlier_copy_left() {
    let ws = Workspace::new(|t| t);
    let outside = ws.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let cases = [
        // A dangling file link, then a file copied onto its name.
        (
            "file-link",
            "FROM scratch\nCOPY tree .\nCOPY payload out\n",
            outside.join("planted"),
        ),
        // A folder link, then a file copied into it.
        (
            "dir-link",
            "FROM scratch\nCOPY tree .\nCOPY payload out/\n",
            outside.clone(),
        ),
        // A folder link in the middle of a deeper destination.
        (
            "deep-link",
            "FROM scratch\nCOPY tree a\nCOPY payload a/out/b/c\n",
            outside.clone(),
        ),
    ];
    for (name, kubefile, target) in cases {
        let dir = ws.path().join("applications").join(name).join("1.0.0");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("Kubefile"), kubefile).unwrap();
        std::fs::write(dir.join("payload"), "x\n").unwrap();
        std::fs::create_dir_all(dir.join("tree")).unwrap();
        std::os::unix::fs::symlink(&target, dir.join("tree/out")).unwrap();
        let out = ws.run(&["app", "build", name, "1.0.0", "--skip-images", "--no-run"]);
        assert_eq!(out.status.code(), Some(2), "{name}: {}", stderr(&out));
        assert!(stderr(&out).contains("symbolic link"), "{name}: {}", stderr(&out));
        assert!(
            std::fs::read_dir(&outside).unwrap().next().is_none(),
            "{name}: written outside"
        );
    }
}

#[test]
fn tag_lists_are_bounded_per_page_and_in_total() {
    let ws = Workspace::new(|t| t);
    // Endless distinct pages of 100,000 tags each: refused by the total.
    let page: String = {
        let tags: Vec<String> = (0..100_000).map(|i| format!("\"t{i}\"")).collect();
        format!("{{\"tags\":[{}]}}", tags.join(","))
    };
    let endless = tag_list_registry(move |path| {
        let n: u64 = path.rsplit('=').next().and_then(|n| n.parse().ok()).unwrap_or(0);
        let next = format!("</v2/labring/kubernetes/tags/list?page={}>; rel=\"next\"", n + 1);
        (vec![("Link".into(), next)], page.clone())
    });
    let target = format!("{}/labring", endless.host());
    let out = ws.run(&["diff", "--registry", &target, "--kube", "1.24.4"]);
    assert_fails(&out, 1, "more than 200000 tags in all");
    assert!(endless.requests() <= 4, "{} requests", endless.requests());

    // One page bigger than 4 MiB: refused, not read whole.
    let big = format!("{{\"tags\":[\"{}\"]}}", "a".repeat(5 << 20));
    let huge = tag_list_registry(move |_| (Vec::new(), big.clone()));
    let target = format!("{}/labring", huge.host());
    let out = ws.run(&["diff", "--registry", &target, "--kube", "1.24.4"]);
    assert_fails(&out, 1, "4194304");
}

/// A reader that goes away (`matrix plan | head -1`) ends matrix the way
/// it ends other Unix tools, by SIGPIPE, never by a panic.
#[test]
fn a_closed_pipe_ends_output_without_a_panic() {
    use std::io::Read;
    use std::os::unix::process::ExitStatusExt;
    let mut child = Command::new(env!("CARGO_BIN_EXE_matrix"))
        .arg("plan")
        .current_dir(common::repo())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 64];
    child.stdout.as_mut().unwrap().read_exact(&mut first).unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let err = stderr(&output);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(
        output.status.signal(),
        Some(libc_sigpipe()),
        "{:?}",
        output.status
    );
}

/// SIGPIPE's number on Linux.
fn libc_sigpipe() -> i32 {
    13
}

/// A loopback server that reads each request and hands its path and the
/// connection to `answer` on a thread of its own; serves until the test
/// process ends.
fn raw_server(answer: impl Fn(&str, std::net::TcpStream) + Send + Sync + 'static) -> String {
    use std::io::BufRead;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let answer = std::sync::Arc::new(answer);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let answer = answer.clone();
            std::thread::spawn(move || {
                let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
                let mut first = String::new();
                let _ = reader.read_line(&mut first);
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let path = first.split_whitespace().nth(1).unwrap_or("/").to_string();
                answer(&path, stream);
            });
        }
    });
    host
}

/// Fetches the one-cell selection of TAG from `mirror` (a tree root) into
/// a fresh cache, with `env`.
fn fetch_from(ws: &Workspace, mirror: &str, env: &[(&str, &str)]) -> (Output, std::time::Duration) {
    let mut args = vec!["fetch", TAG, "--mirror", mirror, "--jobs", "16"];
    args.extend_from_slice(&ONE_CELL);
    let cache = ws.path().join("cache");
    args.extend_from_slice(&["--cache", cache.to_str().unwrap()]);
    let started = std::time::Instant::now();
    let output = run_env(ws.path(), &args, env);
    (output, started.elapsed())
}

#[test]
fn checksum_files_are_capped_while_they_stream() {
    use std::io::Write;
    let host = raw_server(|path, mut stream| {
        let is_sums = path.ends_with("SHA256SUMS");
        let is_checksum = path.ends_with(".sha256") || path.ends_with(".sha256sum");
        if path.starts_with("/endless/") && is_sums {
            // No size announced, and a body that never ends.
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
            let chunk = [b'0'; 64 * 1024];
            for _ in 0..(1 << 18) {
                if stream.write_all(&chunk).is_err() {
                    return;
                }
            }
        } else if path.starts_with("/announced/") && is_checksum {
            // A terabyte announced: refused before a byte of it is read.
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1099511627776\r\nConnection: close\r\n\r\n");
            let _ = stream.write_all(&[b'0'; 4096]);
        } else {
            let _ =
                stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    let ws = Workspace::new(|t| t).with_contexts();
    // `fetch` reports each failed artifact on stdout.
    let (out, took) = fetch_from(&ws, &format!("http://{host}/endless"), &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("/endless/SHA256SUMS is more than 4194304 bytes, too large for a checksum file"),
        "{text}"
    );
    assert!(took.as_secs() < 60, "took {took:?}");

    let (out, took) = fetch_from(&ws, &format!("http://{host}/announced"), &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains(".sha256 is more than 4194304 bytes (it announced 1099511627776)"),
        "{text}"
    );
    assert!(took.as_secs() < 60, "took {took:?}");
}

#[test]
fn slow_servers_are_cut_off_at_the_deadline_and_named_redacted() {
    use std::io::Write;
    // Every answer's headers come one byte each half second, for a minute.
    let host = raw_server(|path, mut stream| {
        if path.ends_with("SHA256SUMS") {
            let _ = stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
            return;
        }
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\n");
        for _ in 0..120 {
            if stream.write_all(b"X").is_err() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
    });
    let env = [("MATRIX_HTTP_TIMEOUT_SECS", "2"), ("RUST_LOG", "debug")];
    let ws = Workspace::new(|t| t).with_contexts();
    // A download through a mirror whose password holds `@`; five tries of
    // at most 2 s each, with their backoff, whatever the server does.
    let mirror = format!("http://u:{SECRET}@{host}/tree");
    let registry = {
        let host = host.clone();
        let dir = ws.path().to_path_buf();
        std::thread::spawn(move || {
            let started = std::time::Instant::now();
            let target = format!("{host}/labring");
            let out = run_env(&dir, &["diff", "--registry", &target, "--kube", "1.24.4"], &env);
            (out, started.elapsed())
        })
    };
    let (out, took) = fetch_from(&ws, &mirror, &env);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let failed = stdout(&out);
    assert!(failed.contains("timed out"), "{failed}");
    assert!(
        failed.contains(&format!("http://***@{host}/tree/dl.k8s.io/")),
        "{failed}"
    );
    assert_unprinted(&out);
    assert!(took.as_secs() < 45, "took {took:?}");

    // The registry client: the same bound for its tag list.
    let (out, took) = registry.join().unwrap();
    assert_fails(&out, 1, "timed out");
    assert!(stderr(&out).contains(&host), "{}", stderr(&out));
    assert!(took.as_secs() < 45, "took {took:?}");

    // A knob that is not a number of seconds is bad input.
    let out = run_env(
        ws.path(),
        &["plan", "--format", "tags"],
        &[("MATRIX_HTTP_TIMEOUT_SECS", "soon")],
    );
    assert_fails(&out, 2, "MATRIX_HTTP_TIMEOUT_SECS=soon");
}

#[test]
fn layouts_other_tools_wrote_are_read_never_written() {
    let ws = Workspace::new(|t| t).with_contexts().with_stand_ins(TAG);
    build_one(&ws, "out/oci");
    // skopeo writes a layout of its own.
    let foreign = ws.path().join("foreign");
    tool(
        "skopeo",
        &[
            "copy",
            "--quiet",
            &format!(
                "oci:{}:kubernetes:{TAG}-amd64",
                ws.path().join("out/oci").display()
            ),
            &format!("oci:{}:x", foreign.display()),
        ],
    );
    let before = tree_bytes(&foreign);
    let mirror = ws.mirror_url();
    let mut build = vec![
        "build",
        TAG,
        "--mirror",
        &mirror,
        "--cache",
        "cache",
        "--out",
        "foreign",
        "--skip-images",
    ];
    build.extend_from_slice(&ONE_CELL);
    for args in [
        build,
        vec!["gc", "--out", "foreign"],
        vec!["fsck", "--out", "foreign", "--repair"],
    ] {
        let out = ws.run(&args);
        assert_fails(&out, 2, "is an OCI image layout matrix did not create");
        assert!(stderr(&out).contains("foreign"), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("empty or new folder"), "{}", stderr(&out));
    }
    assert_eq!(tree_bytes(&foreign), before, "the foreign layout changed");
    // Reading it is fine.
    let check = ws.run(&["fsck", "--out", "foreign"]);
    assert!(check.status.success(), "{}", stderr(&check));
    assert_eq!(tree_bytes(&foreign), before, "fsck changed the foreign layout");

    // A store of an earlier matrix (records, no marker) is still its own,
    // and gets the marker on first use.
    let store = ws.path().join("out/oci");
    assert!(store.join(".matrix/store").is_file());
    std::fs::remove_file(store.join(".matrix/store")).unwrap();
    let gc = ws.run(&["gc", "--out", "out/oci"]);
    assert!(gc.status.success(), "{}", stderr(&gc));
    assert!(store.join(".matrix/store").is_file());
    build_one(&ws, "out/oci");
}

#[test]
fn app_folders_are_measured_before_their_scratch_copy() {
    let ws = Workspace::new(|t| t);
    let kubefile = app_with_kubefile(&ws, "sparse", "FROM scratch\nCOPY data data\n");
    let folder = kubefile.parent().unwrap();
    std::fs::create_dir(folder.join("data")).unwrap();
    // 5 GiB that takes no disk: the budget reads sizes, not bytes.
    std::fs::File::create(folder.join("data/disk.img"))
        .unwrap()
        .set_len(5 << 30)
        .unwrap();
    let started = std::time::Instant::now();
    let out = ws.run(&[
        "app",
        "build",
        "sparse",
        "1.0.0",
        "--skip-images",
        "--arch",
        "amd64",
    ]);
    assert_fails(
        &out,
        2,
        "over the budget of what a build copies, 4294967296 bytes",
    );
    assert!(
        stderr(&out).contains("applications/sparse/1.0.0: 5368709148 bytes"),
        "{}",
        stderr(&out)
    );
    assert!(started.elapsed().as_secs() < 20, "took {:?}", started.elapsed());
}

#[test]
fn urls_with_credentials_are_shown_redacted_everywhere() {
    // A matrix.toml mirror that is wrong: the error quotes the line, not
    // the password.
    let bad = Workspace::new(|t| {
        format!("{t}\n[[mirror]]\nfrom = \"https://dl.k8s.io/\"\nto = \"ftp://u:{SECRET}@host/k8s/\"\n")
    });
    let out = bad.run(&["plan", "--format", "tags"]);
    assert_fails(&out, 2, "mirror.to");
    assert!(stderr(&out).contains("ftp://***@host/k8s/"), "{}", stderr(&out));
    assert_unprinted(&out);

    // A Kubefile's COPY URL with credentials, in the progress label and
    // the error alike.
    app_with_kubefile(
        &bad,
        "secret-copy",
        &format!("FROM scratch\nCOPY http://u:{SECRET}@127.0.0.1:1/x y\n"),
    );
    let args = [
        "app",
        "build",
        "secret-copy",
        "1.0.0",
        "--skip-images",
        "--arch",
        "amd64",
        "--offline",
    ];
    let out = run_env(bad.path(), &args, &[("RUST_LOG", "trace")]);
    assert_fails(&out, 1, "COPY http://***@127.0.0.1:1/x amd64 is not in the cache");
    assert_unprinted(&out);

    // URL checks through a mirror with credentials, as text and as JSON.
    let server = Scripted::start(|_| (404, Vec::new(), String::new()));
    let ws = Workspace::new(|t| t).with_contexts();
    let mirror = format!("http://u:{SECRET}@{}/tree", server.host());
    for json in [false, true] {
        let mut args = vec!["fetch", TAG, "--check-urls", "--mirror", &mirror];
        args.extend_from_slice(&ONE_CELL);
        if json {
            args.push("--json");
        }
        let out = ws.run(&args);
        assert!(server.requests() > 0);
        assert!(
            stdout(&out).contains(&format!("http://***@{}/tree/", server.host())),
            "{}",
            stdout(&out)
        );
        assert_unprinted(&out);
    }
}

#[test]
fn error_answers_are_read_within_a_cap() {
    // A registry whose error document is 32 MiB: the message is taken from
    // its first 64 KiB, the rest is never held.
    let big = format!("{{\"errors\":[{{\"message\":\"{}\"}}]}}", "x".repeat(32 << 20));
    let server = Scripted::start(move |_| (400, Vec::new(), big.clone()));
    let ws = Workspace::new(|t| t);
    let target = format!("{}/labring", server.host());
    let started = std::time::Instant::now();
    let out = ws.run(&["diff", "--registry", &target, "--kube", "1.24.4"]);
    assert_fails(&out, 1, "HTTP 400");
    assert!(stderr(&out).len() < 4096, "{} bytes of error", stderr(&out).len());
    assert!(started.elapsed().as_secs() < 30, "took {:?}", started.elapsed());
}
