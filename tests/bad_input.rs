//! Bad matrix.toml and bad arguments: a located one-paragraph error, exit
//! code 2, never a panic.

mod common;

use common::{Workspace, stderr};

/// Applies `edit`, runs `matrix plan`, and checks the error names the file
/// position and contains every `needle`.
fn rejects(edit: impl FnOnce(String) -> String, needles: &[&str]) {
    plan_fails(&Workspace::new(edit), needles);
}

/// Runs `matrix plan` in `ws` and checks it fails with every `needle`.
fn plan_fails(ws: &Workspace, needles: &[&str]) {
    let out = ws.run(&["plan"]);
    for needle in needles {
        common::assert_fails(&out, 2, needle);
    }
}

#[test]
fn malformed_toml() {
    rejects(
        |t| t.replace("latest = \"5.1.1\"", "latest = \"5.1.1"),
        &["matrix.toml:29:16", "help:"],
    );
}

#[test]
fn unknown_key_names_line_and_column() {
    rejects(
        |t| t.replace("latest = \"5.1.1\"", "latest = \"5.1.1\"\nlatests = \"5.1.1\""),
        &["matrix.toml:30:1", "unknown field `latests`", "remove the key"],
    );
}

#[test]
fn unknown_key_in_a_rule() {
    rejects(
        |t| t.replace("patches = \"newest\"", "patches = \"newest\"\nreasons = \"x\""),
        &["unknown field `reasons`"],
    );
}

#[test]
fn invalid_semver_in_axis() {
    rejects(
        |t| t.replace("\"4.1.7\",", "\"4.1.x\","),
        &["matrix.toml:", "`sealos.versions`", "4.1.x", "help:"],
    );
}

#[test]
fn invalid_range_in_rule() {
    rejects(
        |t| t.replace("kube = \">=1.26\"", "kube = \"=>1.26\""),
        &["`exclude[4].when.kube`", "=>1.26", "semver requirement"],
    );
}

#[test]
fn rule_naming_unknown_cri() {
    rejects(
        |t| t.replace("cri = [\"crio\"]", "cri = [\"cri-o\"]"),
        &[
            "`select[7].when.cri`",
            "unknown CRI `cri-o`",
            "known: containerd, docker, crio, k3s",
        ],
    );
}

#[test]
fn rule_naming_unknown_arch() {
    rejects(
        |t| {
            t.replace(
                "when = { cri = [\"crio\"]",
                "when = { arch = [\"x86\"], cri = [\"crio\"]",
            )
        },
        &["unknown arch `x86`"],
    );
}

#[test]
fn duplicate_axis_value() {
    rejects(
        |t| {
            t.replace(
                "arches = [\"amd64\", \"arm64\"]",
                "arches = [\"amd64\", \"arm64\", \"amd64\"]",
            )
        },
        &["matrix.toml:7:", "`arches[2]`", "listed twice"],
    );
}

#[test]
fn empty_axis() {
    rejects(
        |t| {
            t.replace(
                "cris = [\"containerd\", \"docker\", \"crio\", \"k3s\"]",
                "cris = []",
            )
        },
        &["matrix.toml:6:", "axis is empty"],
    );
}

#[test]
fn minor_the_lock_does_not_know() {
    rejects(
        |t| t.replace("\"1.37\",\n]", "\"1.37\", \"1.38\",\n]"),
        &["no patch releases of 1.38", "matrix versions --refresh"],
    );
}

#[test]
fn latest_not_among_versions() {
    rejects(
        |t| t.replace("latest = \"5.1.1\"", "latest = \"5.1.9\""),
        &["5.1.9 is not in `sealos.versions`"],
    );
}

#[test]
fn bad_tag_template() {
    rejects(
        |t| {
            t.replace(
                "arch = \"v{kube}-{sealos}-{arch}\"",
                "arch = \"v{kube}-{sealos}\"",
            )
        },
        &["`tags.arch`", "must contain {arch}"],
    );
    rejects(
        |t| t.replace("index = \"v{kube}-{sealos}\"", "index = \"v{kubernetes}\""),
        &["unknown placeholder `{kubernetes}`"],
    );
}

#[test]
fn colliding_tags_name_both_cells() {
    rejects(
        |t| {
            t.replace(
                "arch = \"v{kube}-{sealos}-{arch}\"",
                "arch = \"v{minor}-{sealos}-{arch}\"",
            )
        },
        &["would be produced by two cells", "help:"],
    );
}

#[test]
fn cri_without_image() {
    rejects(
        |t| t.replace("crio = \"kubernetes-crio\"\n", ""),
        &["CRI `crio` is on the axis but has no image name"],
    );
}

#[test]
fn missing_matrix_file_is_a_failure_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::matrix_in(dir.path(), &["plan"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cannot read matrix.toml"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn bad_arguments_are_usage_errors() {
    let ws = Workspace::new(|t| t);
    for args in [
        vec!["explain", "v1..2/x"],
        vec!["explain", "kubernetes:"],
        vec!["plan", "--shard", "4/3"],
        vec!["plan", "--kube", "1.x"],
        vec!["plan", "--cri", "rkt"],
        vec!["frobnicate"],
    ] {
        let out = ws.run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(!stderr(&out).contains("panicked"));
    }
}

#[test]
fn history_rules_with_bad_values() {
    // A day that does not exist.
    rejects(
        |t| t.replace("until = 2023-02-01", "until = \"2023-02-30\""),
        &["matrix.toml:", "2023-02-30", "YYYY-MM-DD"],
    );
    // A patch policy that is not one.
    rejects(
        |t| {
            t.replace(
                "patches = \"oldest:3+newest:2\"",
                "patches = \"oldest:0+newest:2\"",
            )
        },
        &[
            "`select[",
            "unknown patch policy `oldest:0+newest:2`",
            "oldest:3+newest:2",
        ],
    );
    // An exclusion scope that is not one.
    rejects(
        |t| t.replace("scope = \"aliases\"", "scope = \"tags\""),
        &["unknown scope `tags`", "`aliases`"],
    );
    // An exception naming a version that is not one.
    rejects(
        |t| t.replace("kube = [\"1.23.10\"]", "kube = [\"1.23.x\"]"),
        &["`extra[0].kube`", "1.23.x"],
    );
}

/// Applies `edit` to the lock, runs `matrix plan`, and checks the error.
fn rejects_lock(edit: impl FnOnce(String) -> String, needles: &[&str]) {
    let ws = Workspace::new(|t| t);
    let lock = ws.path().join("matrix.lock");
    let text = std::fs::read_to_string(&lock).unwrap();
    std::fs::write(&lock, edit(text)).unwrap();
    plan_fails(&ws, needles);
}

#[test]
fn lock_history_with_bad_values() {
    rejects_lock(
        |t| t.replace("\"1.24.4\" = 2022-08-17", "\"1.24.99\" = 2022-08-17"),
        &["matrix.lock:", "v1.24.99 is not listed under [kube]"],
    );
    rejects_lock(
        |t| t.replace("\"1.24.17+k3s1\"", "\"1.24.17\""),
        &["matrix.lock:", "is not a k3s release of 1.24"],
    );
    rejects_lock(
        |t| t.replace("\"1.24.17+k3s1\"", "\"1.25.1+k3s1\""),
        &["is not a k3s release of 1.24"],
    );
}

#[test]
fn contract_and_image_components_are_checked() {
    rejects(
        |t| t.replace("[contract.cri.crio]", "[contract.cri.podman]"),
        &["contract.cri", "podman", "key by a known CRI"],
    );
    rejects(
        |t| {
            t.replace(
                "\"bin/k3s\", \"etc/registries.yaml.tmpl\"",
                "\"../bin/k3s\", \"etc/registries.yaml.tmpl\"",
            )
        },
        &["contract.cri.k3s.files", "not a relative path"],
    );
    rejects(
        |t| {
            t.replace(
                "image = \"ghcr.io/labring/sealos-patch:{version}-{arch}\"",
                "image = \"ghcr.io/labring/sealos-patch:{version}-{arch}\"\nurl = \"https://example.com/x\"",
            )
        },
        &["exactly one of `url`", "sealos-patch"],
    );
    rejects_lock(
        |t| t.replace("\"1.24\" = \"1.24.2\"", "\"1.24\" = \"v1.24.2\""),
        &["matrix.lock:", "newest.cri-tools", "not a release version"],
    );
}

/// `matrix chatops parse --title TITLE` with `comment` on stdin.
fn chatops_parse(comment: &str, title: &str) -> std::process::Output {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_matrix"))
        .args(["chatops", "parse", "--title", title])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(comment.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

/// `matrix chatops parse` reads the comment on stdin and refuses anything
/// that is not a safe command with exit 2.
#[test]
fn chatops_parse_accepts_commands_and_refuses_injection() {
    let run = chatops_parse;
    let out = run(
        "/imagebuild_apps ingress-nginx v1.9.4\n",
        "【Auto-build】ingress-nginx",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "kind=apps\nname=ingress-nginx\nversion=v1.9.4\n"
    );
    // Only the command line is read: a second line cannot add outputs.
    let out = run(
        "/imagebuild_apps ingress-nginx v1\nname=evil\n",
        "【Auto-build】ingress-nginx",
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "kind=apps\nname=ingress-nginx\nversion=v1\n"
    );
    for hostile in [
        "/imagebuild_apps ingress-nginx $(curl evil)",
        "/imagebuild_apps ingress-nginx v1\u{0}x",
        "/imagebuild_apps ../../etc v1",
        "/imagebuild_apps other v1",
    ] {
        let out = run(hostile, "【Auto-build】ingress-nginx");
        assert_eq!(out.status.code(), Some(2), "{hostile}");
        assert!(
            out.stdout.is_empty(),
            "nothing reaches $GITHUB_OUTPUT for {hostile}"
        );
    }
}

/// Every command that takes a registry refuses a target with credentials
/// in it (exit 2) without echoing the password.
#[test]
fn new_registry_commands_never_echo_a_password() {
    let ws = Workspace::new(|t| t);
    let target = "user:s3cret@127.0.0.1:9/labring";
    for args in [
        vec!["sync", "--from", target, "--to", "127.0.0.1:8/labring"],
        vec!["report", "--registry", target, "--json"],
        vec!["verify", "v1.24.4-4.2.1", "--registry", target],
        vec!["app", "push", "web-demo", "1.0.0", "--to", target],
        vec!["plan", "--missing-from", target],
        vec!["build", "v1.24.4-4.2.1", "--missing-from", target],
    ] {
        let out = ws.run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
        assert!(!text.contains("s3cret"), "{args:?}: {text}");
        assert!(text.contains("cannot carry credentials"), "{args:?}: {text}");
    }
}

/// The six ChatOps commands through the binary: a k8s selection becomes
/// `args=` for `matrix build`; two commands, a look-alike or a shell word
/// exit 2 with nothing for $GITHUB_OUTPUT; the schedule file is read with
/// the same grammar and a bad line is named.
#[test]
fn chatops_takes_six_commands_and_the_schedule() {
    let run = chatops_parse;
    let out = run(
        "/imagebuild_docker_k8s v1.33.5-5.0.1 1.27\n",
        "【Auto-build】kubernetes",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "kind=docker_k8s\nargs=v1.33.5-5.0.1 --kube 1.27 --cri docker\n"
    );
    let out = run(
        "/imagebuild_dockerimages busybox-demo latest",
        "【Auto-build】busybox-demo",
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "kind=dockerimages\nname=busybox-demo\nversion=latest\n"
    );
    for hostile in [
        "/imagebuild_apps a v1\n/imagebuild_hosted b v1",
        "/imagebuild_k8s v1.27 $(id)",
        "／imagebuild_apps a v1",
        "/imagebuild_hosted a ..",
    ] {
        let out = run(hostile, "");
        assert_eq!(out.status.code(), Some(2), "{hostile}");
        assert!(out.stdout.is_empty(), "{hostile}");
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("schedule.txt");
    std::fs::write(
        &file,
        "# nightly\ndockerimages busybox-demo latest\napps web-demo\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_matrix"))
        .args(["chatops", "schedule"])
        .arg(&file)
        .output()
        .unwrap();
    common::assert_fails(&out, 2, "line 3");
    std::fs::write(&file, "dockerimages busybox-demo latest\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_matrix"))
        .args(["chatops", "schedule"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "dockerimages busybox-demo latest\n"
    );
}

#[test]
fn a_component_license_that_is_not_an_spdx_expression() {
    rejects(
        |t| t.replace("license = \"GPL-2.0-or-later\"", "license = \"GPL v2 or later\""),
        &[
            "matrix.toml:",
            "component[",
            ".license",
            "GPL v2 or later",
            "not an SPDX license expression",
            "help:",
        ],
    );
}
