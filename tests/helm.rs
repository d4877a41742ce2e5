//! Helm as Helm renders it: every test chart under tests/charts (one per
//! construct: functions, lexing, nil rules, shared values maps, YAML 1.1
//! values, subcharts, toYaml styles, .Files and .Capabilities, images only
//! the YAML shows) rendered by Helm's own engine (PyPI's helm-python-sdk,
//! through tests/helm_oracle.py) and by the real `matrix` binary: the
//! image lists and every rendered template must be equal (lines Helm
//! itself renders differently twice are not compared).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::{matrix_in, stderr, stdout};

/// Rendered templates by chart folder and template path.
type Rendered = BTreeMap<String, BTreeMap<String, String>>;

const NONDET: &str = "\u{0}NONDET";

fn charts() -> Vec<PathBuf> {
    let mut charts: Vec<PathBuf> = std::fs::read_dir(common::repo().join("tests/charts"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    charts.sort();
    assert!(charts.len() >= 9, "the construct charts are there");
    charts
}

fn oracle(args: &[&str]) -> String {
    let out = std::process::Command::new("python3")
        .arg(common::repo().join("tests/helm_oracle.py"))
        .args(args)
        .output()
        .expect("python3");
    assert!(out.status.success(), "helm-python-sdk: {}", stderr(&out));
    stdout(&out)
}

fn matrix(args: &[&str]) -> String {
    let out = matrix_in(&common::repo(), args);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    stdout(&out)
}

fn same_text(chart: &Path, template: &str, helm: &str, ours: &str) {
    if helm == NONDET {
        return;
    }
    let (helm_lines, our_lines): (Vec<&str>, Vec<&str>) =
        (helm.split('\n').collect(), ours.split('\n').collect());
    assert_eq!(
        helm_lines.len(),
        our_lines.len(),
        "{}: {template}:\nhelm:\n{helm}\nmatrix:\n{ours}",
        chart.display()
    );
    for (number, (h, o)) in helm_lines.iter().zip(&our_lines).enumerate() {
        if *h != NONDET {
            assert_eq!(h, o, "{}: {template}: line {}", chart.display(), number + 1);
        }
    }
}

#[test]
fn test_charts_render_as_helm_renders_them() {
    for chart in charts() {
        let dir = chart.to_str().unwrap();
        let helm: Vec<String> = serde_json::from_str(&oracle(&[dir])).unwrap();
        let ours: Vec<serde_json::Value> =
            serde_json::from_str(&matrix(&["app", "images", dir, "--skip-init", "--json"])).unwrap();
        let ours: Vec<String> = ours
            .iter()
            .map(|i| i["image"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(ours, helm, "image list of {dir}");
        let helm: Rendered = serde_json::from_str(&oracle(&["--render", dir])).unwrap();
        let ours: Rendered =
            serde_json::from_str(&matrix(&["app", "template", dir, "--skip-init", "--json"])).unwrap();
        assert_eq!(
            helm.values().flat_map(BTreeMap::keys).collect::<Vec<_>>(),
            ours.values().flat_map(BTreeMap::keys).collect::<Vec<_>>(),
            "templates of {dir}"
        );
        for (folder, templates) in &helm {
            for (template, text) in templates {
                same_text(&chart, template, text, &ours[folder][template]);
            }
        }
    }
}

#[test]
fn template_prints_documents_as_helm_template_does() {
    let dir = common::repo().join("tests/charts/files");
    let out = matrix(&["app", "template", dir.to_str().unwrap(), "--skip-init"]);
    assert!(
        out.starts_with("---\n# Source: files/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\n"),
        "{out}"
    );
    assert_eq!(
        out.matches("\n---\n").count() + 1,
        2,
        "two documents, the empty one dropped: {out}"
    );
    assert!(out.contains("kind: Pod"), "{out}");
}

#[test]
fn images_only_the_yaml_shows_are_warned_about_and_strict_refuses_them() {
    let dir = common::repo().join("tests/charts/structural");
    let dir = dir.to_str().unwrap();
    let out = matrix_in(&common::repo(), &["app", "images", dir, "--skip-init"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("docker.io/library/alpine:3.19 (.: structural/templates/pod.yaml) is a container image the `image:` line scan misses"),
        "{}",
        stderr(&out)
    );
    let out = matrix_in(
        &common::repo(),
        &["app", "images", dir, "--skip-init", "--strict"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("--strict"), "{}", stderr(&out));
}

#[test]
fn inspect_reads_the_kubefile_alone_when_init_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Kubefile"),
        "FROM scratch\nLABEL sealos.io.type=application\nENV NAME=web\nCOPY downloaded-by-init.tgz charts/\nCMD [\"helm install web charts/web\"]\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("init.sh"), "exit 1\n").unwrap();
    let out = matrix_in(dir.path(), &["app", "inspect", ".", "--skip-init", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let config: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(config["config"]["Env"], serde_json::json!(["NAME=web"]));
    assert_eq!(config["config"]["Labels"]["sealos.io.type"], "application");
    assert_eq!(
        config["config"]["Cmd"],
        serde_json::json!(["helm install web charts/web"])
    );
}

#[test]
fn a_chart_behind_a_link_is_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("charts")).unwrap();
    std::os::unix::fs::symlink(
        common::repo().join("tests/charts/functions"),
        dir.path().join("charts/functions"),
    )
    .unwrap();
    for command in ["images", "template"] {
        let out = matrix_in(dir.path(), &["app", command, ".", "--skip-init"]);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("charts/functions: a symbolic link; it is not followed"),
            "{}",
            stderr(&out)
        );
    }
}
