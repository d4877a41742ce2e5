//! `matrix report`: the grid's states for a known registry (one index
//! pushed, the rest missing), as JSON and as the HTML page opened in real
//! headless Chromium, where the search finds a tag; a screenshot is saved.

mod common;

use std::path::Path;
use std::process::Command;

use common::registry::Registry;
use common::{Workspace, stderr, stdout};

const TAG: &str = "kubernetes:v1.24.4-4.2.1";

/// The state of the `kubernetes` cell of `kube` x `sealos` in a JSON report.
fn state(report: &serde_json::Value, kube: &str, sealos: &str) -> (String, serde_json::Value) {
    let grid = report["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["image"] == "kubernetes")
        .unwrap();
    let column = grid["sealos"]
        .as_array()
        .unwrap()
        .iter()
        .position(|s| s == sealos)
        .unwrap_or_else(|| panic!("no column {sealos}"));
    let row = grid["minors"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| m["rows"].as_array().unwrap())
        .find(|r| r["kube"] == kube)
        .unwrap_or_else(|| panic!("no row {kube}"));
    let cell = row["cells"][column].clone();
    (cell["state"].as_str().unwrap_or("none").to_string(), cell)
}

/// Headless Chromium as the probe of this machine starts it.
fn chromium(profile: &Path, args: &[&str]) -> std::process::Output {
    Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=10000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .expect("chromium is installed (.ci/test.sh installs it)")
}

#[test]
fn the_grid_shows_states_and_chromium_finds_a_tag() {
    let ws = Workspace::new(|t| t).with_contexts().with_stand_ins(TAG);
    ws.build(TAG, "out", &["--skip-images"]);
    let registry = Registry::start(None);
    let target = format!("{}/labring", registry.host());
    let out = ws.run(&["push", TAG, "--from", "out", "--to", &target]);
    assert!(out.status.success(), "{}", stderr(&out));

    let out = ws.run(&[
        "report",
        "--registry",
        &target,
        "--from",
        "out",
        "--html",
        "report.html",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(state(&report, "v1.24.4", "4.2.1").0, "published");
    let (missing, cell) = state(&report, "v1.24.5", "4.2.1");
    assert_eq!(missing, "missing");
    assert_eq!(cell["missing_from"][0], target);
    // Not built, with the deciding rule and its reason.
    let (late, cell) = state(&report, "v1.25.7", "4.1.3");
    assert_eq!(late, "outside-window");
    assert_eq!(cell["rule"], "sealos-4.1.3-4.1.4-frozen");
    assert!(cell["reason"].as_str().unwrap().contains("released"), "{cell}");
    let (excluded, cell) = state(&report, "v1.27.1", "4.1.3");
    assert_eq!(excluded, "excluded", "{cell}");
    assert_eq!(cell["rule"], "kube-1.26-needs-sealos-after-4.1.3");
    // The v1.24.4 alias points at the newest stable build of the patch.
    let (_, newest) = state(&report, "v1.24.4", "5.1.1");
    assert!(
        newest["aliases"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("v1.24.4")),
        "{newest}"
    );
    let lag = &report["images"][0]["lag"][0];
    assert_eq!(lag["registry"], target);

    // The page in a real browser: the search (prefilled from the URL) finds
    // the pushed tag and says so in the live region; the cell is marked.
    let page = ws.path().join("report.html");
    let url = format!("file://{}#q={TAG}", page.display());
    let dom = chromium(&ws.path().join("profile-1"), &["--dump-dom", &url]);
    let dom = stdout(&dom);
    assert!(
        dom.contains(&format!(">1 match: {TAG} (published)</p>")),
        "the live region names the match"
    );
    let marked = dom
        .split("<span ")
        .find(|span| span.contains(&format!("data-tag=\"{TAG}\"")))
        .unwrap();
    assert!(marked.starts_with("class=\"st published match\""), "{marked}");
    assert!(marked.contains("aria-current=\"true\""), "{marked}");
    // Every cell says its state in words, not colour only.
    assert!(dom.contains(">MISS</span>") && dom.contains(">pub</span>") && dom.contains(">late</span>"));

    // A screenshot, kept beside the build for people to look at.
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report.png");
    let _ = std::fs::remove_file(&shot);
    let out = chromium(
        &ws.path().join("profile-2"),
        &[
            "--window-size=1400,900",
            &format!("--screenshot={}", shot.display()),
            &format!("file://{}", page.display()),
        ],
    );
    let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
    assert!(size > 20_000, "screenshot of {size} bytes: {}", stderr(&out));
}

#[test]
fn the_whole_matrix_renders_fast() {
    let ws = Workspace::new(|t| t);
    let start = std::time::Instant::now();
    let out = ws.run(&["report", "--html", "all.html"]);
    let took = start.elapsed();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let cells: usize = text.split_whitespace().rev().nth(2).unwrap().parse().unwrap();
    assert!(cells > 10_000, "{text}");
    // A debug build; the release build takes about 0.2 s.
    assert!(took.as_secs() < 10, "{took:?}");
}
