//! The planner against the repo's real matrix.toml: every reference rule
//! on its boundary versions, tags and aliases, explain, GitHub matrix and
//! shards.

mod common;

use std::collections::BTreeSet;

use common::{Workspace, repo, stdout};
use matrix::plan::{Verdict, candidates};
use matrix::{Matrix, Plan, TagSelector};

fn real() -> Matrix {
    Matrix::load(&repo().join("matrix.toml")).expect("the repo's matrix.toml loads")
}

/// The verdict name and deciding rule names for one cell.
fn verdict(matrix: &Matrix, cri: &str, kube: &str, sealos: &str) -> (String, Vec<String>) {
    let all = candidates(matrix).expect("candidates");
    let found = all
        .iter()
        .find(|c| {
            c.planned.cell.cri.as_str() == cri
                && c.planned.cell.kube.tag_form() == kube.trim_start_matches('v')
                && c.planned.cell.sealos.to_string() == sealos
                && c.planned.cell.arch.as_str() == "amd64"
        })
        .unwrap_or_else(|| panic!("no candidate {cri} {kube} {sealos}"));
    match &found.verdict {
        Verdict::Planned => ("planned".into(), vec![]),
        Verdict::Extra(rule) => ("planned".into(), vec![rule.name.clone()]),
        Verdict::Excluded(rules) => ("excluded".into(), rules.iter().map(|r| r.name.clone()).collect()),
        Verdict::OutsideWindow { rule, .. } => ("outside-window".into(), vec![rule.name.clone()]),
        Verdict::NotSelected { rule, .. } => ("not-selected".into(), vec![rule.name.clone()]),
    }
}

fn planned(matrix: &Matrix, cri: &str, kube: &str, sealos: &str) -> bool {
    verdict(matrix, cri, kube, sealos).0 == "planned"
}

fn decided_by(matrix: &Matrix, cri: &str, kube: &str, sealos: &str, status: &str, rule: &str) -> bool {
    let (got, rules) = verdict(matrix, cri, kube, sealos);
    got == status && rules.iter().any(|r| r == rule)
}

fn excluded_by(matrix: &Matrix, cri: &str, kube: &str, sealos: &str, rule: &str) -> bool {
    decided_by(matrix, cri, kube, sealos, "excluded", rule)
}

#[test]
fn kube_1_15_images_stop_at_sealos_4_1_3() {
    let m = real();
    for cri in ["containerd", "docker"] {
        assert!(planned(&m, cri, "v1.15.12", "4.1.3"), "{cri}");
        assert!(excluded_by(
            &m,
            cri,
            "v1.15.12",
            "4.1.4",
            "kube-1.15-until-sealos-4.1.3"
        ));
        assert!(planned(&m, cri, "v1.16.0", "4.1.4"), "{cri}");
    }
}

#[test]
fn crio_starts_at_kube_1_20_and_sealos_4_1_5() {
    let m = real();
    assert!(excluded_by(
        &m,
        "crio",
        "v1.19.16",
        "4.1.5",
        "crio-needs-kube-1.20"
    ));
    assert!(excluded_by(
        &m,
        "crio",
        "v1.24.4",
        "4.1.4",
        "crio-needs-sealos-4.1.5"
    ));
    assert!(planned(&m, "crio", "v1.20.0", "4.1.5"));
    assert!(planned(&m, "containerd", "v1.19.16", "4.1.3"));
}

#[test]
fn kube_1_26_needs_sealos_after_4_1_3() {
    let m = real();
    let rule = "kube-1.26-needs-sealos-after-4.1.3";
    for cri in ["containerd", "docker"] {
        assert!(excluded_by(&m, cri, "v1.26.0", "4.1.3", rule), "{cri}");
        assert!(planned(&m, cri, "v1.26.0", "4.1.4"), "{cri}");
        assert!(planned(&m, cri, "v1.25.6", "4.1.3"), "{cri}");
    }
}

#[test]
fn sealos_5_lower_bounds_per_cri() {
    let m = real();
    let rule = "sealos-5-needs-kube-1.24";
    for cri in ["containerd", "crio"] {
        assert!(excluded_by(&m, cri, "v1.23.17", "5.0.1", rule), "{cri}");
        assert!(planned(&m, cri, "v1.24.0", "5.0.1"), "{cri}");
        assert!(planned(&m, cri, "v1.23.17", "4.3.7"), "{cri}");
    }
    let rule = "sealos-5-docker-needs-kube-1.26";
    assert!(excluded_by(&m, "docker", "v1.25.16", "5.0.1", rule));
    assert!(planned(&m, "docker", "v1.26.0", "5.0.1"));
    assert!(planned(&m, "docker", "v1.25.16", "4.3.7"));
    // The dev line is not held to them: its tags go back to 1.16.
    assert!(planned(&m, "containerd", "v1.16.15", "dev"));
}

#[test]
fn frozen_releases_build_only_their_window() {
    let m = real();
    // 4.1.3 was current until January 2023: 1.25.6 (2023-01-18) is in,
    // 1.25.7 (2023-02-22) is not.
    assert!(planned(&m, "containerd", "v1.25.6", "4.1.3"));
    assert!(decided_by(
        &m,
        "containerd",
        "v1.25.7",
        "4.1.3",
        "outside-window",
        "sealos-4.1.3-4.1.4-frozen"
    ));
    // The latest stable release has no window.
    assert!(planned(&m, "containerd", "v1.36.5", "5.1.1"));
    // 5.0.1 is frozen at what labring published: the July 2025 patches.
    assert!(planned(&m, "containerd", "v1.33.3", "5.0.1"));
    assert!(decided_by(
        &m,
        "containerd",
        "v1.33.4",
        "5.0.1",
        "outside-window",
        "sealos-5.0.1-frozen"
    ));
    // 1.29.15 (March 2025) came after 4.3.7's freeze.
    assert!(decided_by(
        &m,
        "containerd",
        "v1.29.15",
        "4.3.7",
        "outside-window",
        "sealos-4.3.7-frozen"
    ));
}

#[test]
fn patch_selection_works_within_the_window() {
    let m = real();
    // 4.1.5 built every patch; 4.1.6 the oldest and two newest of its window.
    assert!(planned(&m, "containerd", "v1.24.5", "4.1.5"));
    assert!(decided_by(
        &m,
        "containerd",
        "v1.24.5",
        "4.1.6",
        "not-selected",
        "sealos-4.1.6-oldest-two-newest"
    ));
    for patch in ["v1.24.0", "v1.24.10", "v1.24.11"] {
        assert!(planned(&m, "containerd", patch, "4.1.6"), "{patch}");
    }
    // 4.3.5: oldest+newest, and what came out while it was current.
    assert!(planned(&m, "containerd", "v1.25.14", "4.3.5"));
    assert!(!planned(&m, "containerd", "v1.25.13", "4.3.5"));
    // Development builds: the newest patch of each minor only.
    assert!(planned(&m, "containerd", "v1.34.12", "dev"));
    assert!(!planned(&m, "containerd", "v1.34.0", "dev"));
}

#[test]
fn k3s_cells_come_from_k3s_releases() {
    let m = real();
    assert!(excluded_by(
        &m,
        "k3s",
        "v1.25.16",
        "4.3.2",
        "k3s-needs-sealos-4.3.3"
    ));
    assert!(planned(&m, "k3s", "v1.25.13", "4.3.3"));
    let plan = Plan::build(&m).unwrap();
    let cells = plan.select(&"k3s:v1.25.13-4.3.3-amd64".parse().unwrap());
    assert_eq!(cells.len(), 1);
    // The build part is kept for the download and dropped in the tag.
    assert_eq!(cells[0].cell.kube.to_string(), "v1.25.13+k3s1");
    // `latest` names the newest patch of the latest stable release.
    let latest = plan.select(&"k3s:latest".parse().unwrap());
    assert_eq!(latest.len(), 2);
    assert_eq!(latest[0].cell.sealos.to_string(), "5.1.1");
    assert_eq!(latest[0].cell.kube.to_string(), "v1.37.1+k3s1");
}

#[test]
fn named_exceptions_show_in_explain() {
    let m = real();
    assert!(decided_by(
        &m,
        "docker",
        "v1.23.10",
        "4.1.0-rc3",
        "planned",
        "exception-docker-4.1.0-rc3"
    ));
    assert!(excluded_by(
        &m,
        "crio",
        "v1.24.12",
        "4.1.7",
        "exception-crio-4.1.7-gaps"
    ));
    let ws = Workspace::new(|t| t);
    let out = ws.run(&["explain", "kubernetes-docker:v1.23.10-4.1.0-rc3"]);
    assert!(stdout(&out).contains("a pre-release build"), "{}", stdout(&out));
}

/// Every multi-arch tag labring published (Nov 2025) is planned; what the
/// plan adds is work for the latest stable release (5.1.1, released after
/// the list was taken) or the dev line: no frozen release has a hole.
#[test]
fn the_plan_reproduces_the_published_tags() {
    let published = std::fs::read_to_string(repo().join("tests/data/published-rootfs-tags.txt")).unwrap();
    let plan = Plan::build(&real()).unwrap();
    let mut planned: std::collections::BTreeMap<String, String> = Default::default();
    for cell in &plan.cells {
        for tag in std::iter::once(&cell.tags.index_tag).chain(&cell.tags.index_aliases) {
            planned.insert(format!("{}:{tag}", cell.image), cell.cell.sealos.to_string());
        }
    }
    let published: BTreeSet<&str> = published.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(published.len(), 6158);
    let unplanned: Vec<&&str> = published.iter().filter(|t| !planned.contains_key(**t)).collect();
    assert!(unplanned.is_empty(), "published but not planned: {unplanned:?}");
    let holes: Vec<(&String, &String)> = planned
        .iter()
        .filter(|(tag, sealos)| !published.contains(tag.as_str()) && *sealos != "5.1.1" && *sealos != "dev")
        .collect();
    assert!(
        holes.is_empty(),
        "planned for a frozen release but never published: {holes:?}"
    );
}

#[test]
fn explicit_patches_bypass_selection_but_not_exclusions() {
    let ws = Workspace::new(|t| t.replace("versions = []", "versions = [\"1.24.5\", \"1.26.0\"]"));
    let m = Matrix::load(&ws.matrix()).unwrap();
    assert!(planned(&m, "containerd", "v1.24.5", "5.1.1"));
    assert!(excluded_by(
        &m,
        "containerd",
        "v1.26.0",
        "4.1.3",
        "kube-1.26-needs-sealos-after-4.1.3"
    ));
}

#[test]
fn tags_and_aliases_follow_the_scheme() {
    let m = real();
    let plan = Plan::build(&m).unwrap();
    let selector: TagSelector = "kubernetes:v1.24.0-5.1.1-amd64".parse().unwrap();
    let cells = plan.select(&selector);
    assert_eq!(cells.len(), 1);
    let tags = &cells[0].tags;
    assert_eq!(tags.index_tag.as_str(), "v1.24.0-5.1.1");
    assert_eq!(
        tags.aliases.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
        ["v1.24.0-amd64"]
    );
    assert_eq!(
        tags.index_aliases.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
        ["v1.24.0"]
    );
    // A patch's aliases go to its newest stable build only.
    for older in ["kubernetes:v1.24.0-4.3.7-amd64", "kubernetes:v1.24.0-5.0.1-amd64"] {
        let older = plan.select(&older.parse().unwrap());
        assert!(older[0].tags.aliases.is_empty() && older[0].tags.index_aliases.is_empty());
    }
    // ... which for 1.15 is sealos 4.1.3, the last release that built it.
    let old = plan.select(&"kubernetes:v1.15.3".parse().unwrap());
    assert_eq!(old.len(), 2);
    assert_eq!(old[0].tags.index_tag.as_str(), "v1.15.3-4.1.3");
    // Dev builds: v<minor>-<arch>, v<minor>-latest and v<minor>.
    let dev = plan.select(&"kubernetes:v1.34-latest".parse().unwrap());
    assert_eq!(dev.len(), 2);
    assert_eq!(dev[0].tags.tag.as_str(), "v1.34-amd64");
    assert_eq!(dev[0].tags.index_aliases[0].as_str(), "v1.34");
}

#[test]
fn selector_picks_both_cris_and_both_arches() {
    let plan = Plan::build(&real()).unwrap();
    let cells = plan.select(&"v1.24.4-4.1.3".parse().unwrap());
    let got: BTreeSet<String> = cells
        .iter()
        .map(|c| format!("{}:{}", c.image, c.tags.tag))
        .collect();
    let want: BTreeSet<String> = [
        "kubernetes:v1.24.4-4.1.3-amd64",
        "kubernetes:v1.24.4-4.1.3-arm64",
        "kubernetes-docker:v1.24.4-4.1.3-amd64",
        "kubernetes-docker:v1.24.4-4.1.3-arm64",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(got, want);
}

#[test]
fn plan_json_has_the_documented_fields() {
    let ws = Workspace::new(|t| t);
    let out = ws.run(&[
        "plan",
        "--json",
        "--kube",
        "1.24.4",
        "--sealos",
        "4.1.3",
        "--cri",
        "containerd",
    ]);
    assert!(out.status.success());
    let cells: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let cells = cells.as_array().unwrap();
    assert_eq!(cells.len(), 2);
    let first = &cells[0];
    for key in [
        "image",
        "tag",
        "index_tag",
        "aliases",
        "kube",
        "sealos",
        "cri",
        "arch",
    ] {
        assert!(first.get(key).is_some(), "missing {key}");
    }
    assert_eq!(first["image"], "kubernetes");
    assert_eq!(first["tag"], "v1.24.4-4.1.3-amd64");
    assert_eq!(first["index_tag"], "v1.24.4-4.1.3");
    assert_eq!(first["kube"], "v1.24.4");
    assert_eq!(first["platform"], "linux/amd64");
}

/// The set of (image, index tag, arch) a plan JSON lists.
fn cell_keys(json: &serde_json::Value) -> BTreeSet<(String, String, String)> {
    json.as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["image"].as_str().unwrap().to_string(),
                c["index_tag"].as_str().unwrap().to_string(),
                c["arch"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn github_matrix_covers_the_plan_once() {
    let ws = Workspace::new(|t| t);
    let full = ws.run(&["plan", "--json", "--kube", "1.30,1.31"]);
    let full: serde_json::Value = serde_json::from_slice(&full.stdout).unwrap();
    let out = ws.run(&["plan", "--format", "github", "--kube", "1.30,1.31"]);
    assert!(out.status.success());
    let github: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let jobs = github["include"].as_array().unwrap();
    let mut listed = BTreeSet::new();
    for job in jobs {
        for arch in job["arch"].as_array().unwrap() {
            let key = (
                job["image"].as_str().unwrap().to_string(),
                job["tag"].as_str().unwrap().to_string(),
                arch.as_str().unwrap().to_string(),
            );
            assert!(listed.insert(key), "listed twice");
        }
    }
    assert_eq!(listed, cell_keys(&full));
}

#[test]
fn shards_partition_the_plan() {
    let ws = Workspace::new(|t| t);
    let full = ws.run(&["plan", "--json", "--kube", "1.28"]);
    let full = cell_keys(&serde_json::from_slice(&full.stdout).unwrap());
    let mut union = BTreeSet::new();
    let mut sizes = Vec::new();
    for k in 1..=3 {
        let shard = format!("{k}/3");
        let out = ws.run(&["plan", "--json", "--kube", "1.28", "--shard", &shard]);
        let part = cell_keys(&serde_json::from_slice(&out.stdout).unwrap());
        sizes.push(part.len());
        for key in part {
            assert!(union.insert(key), "a cell is in two shards");
        }
    }
    assert_eq!(union, full);
    // Index groups stay whole, so both arches of a tag land in one shard.
    let max = sizes.iter().max().unwrap();
    let min = sizes.iter().min().unwrap();
    assert!(max - min <= 2, "unbalanced shards {sizes:?}");
    // And the same shard is the same on every run.
    let again = ws.run(&["plan", "--json", "--kube", "1.28", "--shard", "2/3"]);
    let first = ws.run(&["plan", "--json", "--kube", "1.28", "--shard", "2/3"]);
    assert_eq!(again.stdout, first.stdout);
}

#[test]
fn explain_names_the_1_26_rule() {
    let ws = Workspace::new(|t| t);
    let out = ws.run(&["explain", "v1.26.0-4.1.3"]);
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(text.contains("not built"), "{text}");
    assert!(text.contains("kube-1.26-needs-sealos-after-4.1.3"), "{text}");
    assert!(text.contains("CRI v1alpha2"), "{text}");
    let json = ws.run(&["explain", "v1.26.0-4.1.3", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(json["status"], "excluded");
    assert_eq!(json["cells"].as_array().unwrap().len(), 6);
}

#[test]
fn explain_accepts_every_tag_form() {
    let ws = Workspace::new(|t| t);
    let cases = [
        ("v1.24.4-4.1.3", "planned", 4),
        ("v1.24.4-4.1.3-amd64", "planned", 2),
        ("kubernetes:v1.24.17", "planned", 2),
        ("v1.24-latest", "planned", 8),
        ("kubernetes:v1.24.4-4.1.6", "not-selected", 2),
        ("kubernetes:v1.25.7-4.1.3", "outside-window", 2),
    ];
    for (tag, status, count) in cases {
        let out = ws.run(&["explain", tag, "--json"]);
        assert!(out.status.success(), "{tag}");
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(json["status"], status, "{tag}");
        assert_eq!(json["cells"].as_array().unwrap().len(), count, "{tag}");
    }
}

#[test]
fn explain_unknown_values_names_the_nearest() {
    let ws = Workspace::new(|t| t);
    let out = ws.run(&["explain", "v1.24.99-4.1.2-s390x"]);
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(text.contains("nearest: v1.24.17 and v1.25.0"), "{text}");
    assert!(text.contains("nearest: 4.1.1 and 4.1.3"), "{text}");
    assert!(text.contains("arch `s390x` is not on the axis"), "{text}");
}

/// The present: 1.35-1.37 on sealos 5.1.1, not on 5.0.1 (kubeadm v1beta3),
/// 5.1.0 superseded, 5.1.2 release candidates known but not built.
#[test]
fn kube_1_37_is_built_for_sealos_5_1_only() {
    let m = real();
    for cri in ["containerd", "docker", "crio", "k3s"] {
        for kube in ["v1.37.0", "v1.37.1"] {
            assert!(planned(&m, cri, kube, "5.1.1"), "{cri} {kube}");
            // k3s brings no kubeadm: only 5.0.1's window holds it back.
            let held = if cri == "k3s" {
                decided_by(&m, cri, kube, "5.0.1", "outside-window", "sealos-5.0.1-frozen")
            } else {
                excluded_by(&m, cri, kube, "5.0.1", "sealos-5.0-writes-kubeadm-v1beta3-only")
            };
            assert!(held, "{cri} {kube}");
            assert!(
                excluded_by(&m, cri, kube, "5.1.0", "no-images-for-5.1.0"),
                "{cri} {kube}"
            );
            assert!(
                excluded_by(&m, cri, kube, "5.1.2-rc6", "sealos-pre-releases-not-built"),
                "{cri} {kube}"
            );
        }
    }
    // 1.36 still reads v1beta3, so 5.0.1 is held back only by its window.
    assert!(decided_by(
        &m,
        "containerd",
        "v1.36.5",
        "5.0.1",
        "outside-window",
        "sealos-5.0.1-frozen"
    ));
    let ws = Workspace::new(|t| t);
    let out = ws.run(&["plan", "--kube", "1.37", "--json"]);
    assert!(out.status.success());
    let cells: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut got: BTreeSet<(String, String, String)> = BTreeSet::new();
    for cell in cells.as_array().unwrap() {
        let field = |k: &str| cell[k].as_str().unwrap().to_string();
        assert_ne!(field("sealos"), "5.0.1");
        got.insert((field("image"), field("index_tag"), field("sealos")));
    }
    for image in ["kubernetes", "kubernetes-docker", "kubernetes-crio", "k3s"] {
        for tag in ["v1.37.0-5.1.1", "v1.37.1-5.1.1"] {
            assert!(
                got.contains(&(image.to_string(), tag.to_string(), "5.1.1".to_string())),
                "{image}:{tag} in {got:?}"
            );
        }
    }
    let out = ws.run(&["explain", "v1.37.1-5.0.1"]);
    let text = stdout(&out);
    assert!(text.contains("sealos-5.0-writes-kubeadm-v1beta3-only"), "{text}");
    assert!(text.contains("removed the kubeadm.k8s.io/v1beta3"), "{text}");
    // A release candidate never takes the `v<kube>` aliases, even as an exception.
    let ws = Workspace::new(|t| {
        t.replace(
            "[[extra]]\nname = \"exception-docker-4.1.0-rc3\"",
            "[[extra]]\nname = \"rc-preview\"\ncri = [\"containerd\"]\nsealos = \"5.1.2-rc6\"\nkube = [\"1.37.1\"]\nreason = \"a preview\"\n\n[[extra]]\nname = \"exception-docker-4.1.0-rc3\"",
        )
    });
    let plan = Plan::build(&Matrix::load(&ws.matrix()).unwrap()).unwrap();
    let rc = plan.select(&"kubernetes:v1.37.1-5.1.2-rc6".parse().unwrap());
    assert_eq!(rc.len(), 2);
    assert!(
        rc.iter()
            .all(|c| c.tags.aliases.is_empty() && c.tags.index_aliases.is_empty())
    );
    let alias = plan.select(&"kubernetes:v1.37.1".parse().unwrap());
    assert!(
        alias.iter().all(|c| c.cell.sealos.to_string() == "5.1.1"),
        "{alias:?}"
    );
}
