//! `matrix explain TAG`: which cells produce a tag, which rule removes
//! them, or which axis has no such value (with the nearest known ones).

use serde::Serialize;

use super::{Candidate, PlanError, Verdict, candidates};
use crate::config::Matrix;
use crate::tag::TagSelector;
use crate::version::{KubeVersion, SealosVersion};

/// What one matching candidate cell amounts to.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// Image name.
    pub image: String,
    /// The cell's per-arch tag.
    pub tag: String,
    /// Kubernetes version.
    pub kube: String,
    /// Sealos version.
    pub sealos: String,
    /// CRI.
    pub cri: String,
    /// Architecture.
    pub arch: String,
    /// `planned`, `excluded`, `outside-window` or `not-selected`.
    pub status: &'static str,
    /// Names of the rules that decided (empty when planned).
    pub rules: Vec<String>,
    /// Each rule's condition and reason, in words.
    pub reasons: Vec<String>,
}

/// The answer to `explain`.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    /// The tag as asked.
    pub query: String,
    /// `planned` if any cell builds it, else `excluded`,
    /// `outside-window`, `not-selected` or `unknown`.
    pub status: &'static str,
    /// Every candidate cell carrying the tag.
    pub cells: Vec<Finding>,
    /// For unknown tags: which axis value is missing and the nearest ones.
    pub notes: Vec<String>,
}

/// Explains `selector` against the matrix.
pub fn explain(matrix: &Matrix, selector: &TagSelector) -> Result<Explanation, PlanError> {
    Ok(explain_among(matrix, &candidates(matrix)?, selector))
}

/// Explains `selector` against candidates already judged (`candidates`),
/// for callers that explain many tags.
pub fn explain_among(matrix: &Matrix, all: &[Candidate<'_>], selector: &TagSelector) -> Explanation {
    let mut cells: Vec<Finding> = all
        .iter()
        .filter(|candidate| candidate.planned.is_selected_by(selector))
        .map(finding)
        .collect();
    // When something builds the tag, the candidates that do not are noise.
    if cells.iter().any(|f| f.status == "planned") {
        cells.retain(|f| f.status == "planned");
    }
    let status = if cells.iter().any(|f| f.status == "planned") {
        "planned"
    } else if cells.iter().any(|f| f.status == "excluded") {
        "excluded"
    } else if cells.iter().any(|f| f.status == "outside-window") {
        "outside-window"
    } else if cells.is_empty() {
        "unknown"
    } else {
        "not-selected"
    };
    let notes = if cells.is_empty() {
        unknown_notes(matrix, selector)
    } else {
        Vec::new()
    };
    Explanation {
        query: selector.to_string(),
        status,
        cells,
        notes,
    }
}

fn finding(candidate: &Candidate<'_>) -> Finding {
    let planned = &candidate.planned;
    let (status, rules, reasons) = match &candidate.verdict {
        Verdict::Planned => ("planned", Vec::new(), Vec::new()),
        Verdict::Extra(rule) => (
            "planned",
            vec![rule.name.clone()],
            vec![format!("{} (named exception): {}", rule.name, rule.reason)],
        ),
        Verdict::OutsideWindow { rule, released } => (
            "outside-window",
            vec![rule.name.clone()],
            vec![format!(
                "{} ({}): builds patches released up to {} only; {} was {released}: {}",
                rule.name, rule.when, rule.until, planned.cell.kube, rule.reason
            )],
        ),
        Verdict::Excluded(rules) => (
            "excluded",
            rules.iter().map(|rule| rule.name.clone()).collect(),
            rules
                .iter()
                .map(|rule| format!("{} ({}): {}", rule.name, rule.when, rule.reason))
                .collect(),
        ),
        Verdict::NotSelected { rule, kept } => {
            let kept: Vec<String> = kept.iter().map(ToString::to_string).collect();
            (
                "not-selected",
                vec![rule.name.clone()],
                vec![format!(
                    "{} ({}): builds the {} patches of {} only ({}): {}",
                    rule.name,
                    rule.when,
                    rule.describe(),
                    planned.cell.kube.minor(),
                    kept.join(", "),
                    rule.reason
                )],
            )
        }
    };
    Finding {
        image: planned.image.clone(),
        tag: planned.tags.tag.to_string(),
        kube: planned.cell.kube.to_string(),
        sealos: planned.cell.sealos.to_string(),
        cri: planned.cell.cri.to_string(),
        arch: planned.cell.arch.to_string(),
        status,
        rules,
        reasons,
    }
}

/// Reads the tag back through every template and says which captured
/// value no axis has.
fn unknown_notes(matrix: &Matrix, selector: &TagSelector) -> Vec<String> {
    let mut notes = Vec::new();
    if let Some(image) = &selector.image
        && !matrix.images.values().any(|known| known == image)
    {
        let known: Vec<&str> = matrix.images.values().map(String::as_str).collect();
        notes.push(format!(
            "image `{image}` is not in [images]; known: {}",
            known.join(", ")
        ));
    }
    let scheme = &matrix.tags;
    let templates = [&scheme.arch, &scheme.index]
        .into_iter()
        .chain(&scheme.latest_arch)
        .chain(&scheme.latest_index)
        .chain(scheme.dev_arch.as_ref())
        .chain(scheme.dev_index.as_ref())
        .chain(&scheme.dev_aliases);
    let mut shape_matched = false;
    for template in templates {
        let Some(captured) = template.capture(selector.tag.as_str()) else {
            continue;
        };
        shape_matched = true;
        if let Some(kube) = &captured.kube {
            notes.extend(kube_note(matrix, kube));
        }
        if let Some(minor) = &captured.minor {
            let known = matrix.kube.minors.iter().any(|m| m.to_string() == *minor);
            if !known {
                let minors: Vec<String> = matrix.kube.minors.iter().map(ToString::to_string).collect();
                notes.push(format!(
                    "Kubernetes minor {minor} is not in kube.minors (known: {})",
                    summarize(&minors)
                ));
            } else if matrix.sealos.dev.is_none() {
                notes.push("no development builds are declared (set `sealos.dev`)".to_string());
            }
        }
        if let Some(sealos) = &captured.sealos {
            notes.extend(sealos_note(matrix, sealos));
        }
        if let Some(arch) = &captured.arch
            && !matrix.arches.iter().any(|a| a.as_str() == arch)
        {
            let known: Vec<&str> = matrix.arches.iter().map(|a| a.as_str()).collect();
            notes.push(format!(
                "arch `{arch}` is not on the axis (known: {})",
                known.join(", ")
            ));
        }
        if template.as_str() == scheme.latest_index.first().map_or("", |t| t.as_str())
            || scheme.latest_arch.iter().any(|t| t.as_str() == template.as_str())
        {
            notes.push(format!(
                "`{}` aliases point at the newest stable sealos release that built the patch",
                template.as_str()
            ));
        }
    }
    if !shape_matched {
        notes.push(format!(
            "`{}` has none of the tag shapes in [tags] (e.g. `{}`, `{}`)",
            selector.tag,
            scheme.arch.as_str(),
            scheme.index.as_str()
        ));
    }
    notes.dedup();
    notes
}

fn kube_note(matrix: &Matrix, text: &str) -> Option<String> {
    let wanted: KubeVersion = text.parse().ok()?;
    let mut known: Vec<KubeVersion> = matrix
        .kube
        .minors
        .iter()
        .flat_map(|minor| matrix.lock.patches(*minor).iter().map(|p| minor.patch(*p)))
        .chain(matrix.kube.versions.iter().cloned())
        .collect();
    known.sort();
    known.dedup();
    if known.contains(&wanted) {
        return None;
    }
    let (below, above) = neighbours(&known, &wanted);
    Some(format!(
        "Kubernetes {wanted} is not a known version of the matrix; nearest: {}",
        nearest_text(below.map(ToString::to_string), above.map(ToString::to_string))
    ))
}

fn sealos_note(matrix: &Matrix, text: &str) -> Option<String> {
    if text == "latest" || text == "dev" {
        return matrix
            .sealos
            .dev
            .is_none()
            .then(|| "no development builds are declared (set `sealos.dev`)".to_string());
    }
    let wanted = SealosVersion::parse_release(text).ok()?;
    let known = &matrix.sealos.releases;
    if known.contains(&wanted) {
        return None;
    }
    let (below, above) = neighbours(known, &wanted);
    Some(format!(
        "sealos {wanted} is not in sealos.versions; nearest: {}",
        nearest_text(below.map(ToString::to_string), above.map(ToString::to_string))
    ))
}

fn neighbours<'a, T: Ord>(sorted: &'a [T], wanted: &T) -> (Option<&'a T>, Option<&'a T>) {
    let split = sorted.partition_point(|value| value < wanted);
    (split.checked_sub(1).map(|i| &sorted[i]), sorted.get(split))
}

fn nearest_text(below: Option<String>, above: Option<String>) -> String {
    match (below, above) {
        (Some(below), Some(above)) => format!("{below} and {above}"),
        (Some(only), None) | (None, Some(only)) => only,
        (None, None) => "none".to_string(),
    }
}

fn summarize(values: &[String]) -> String {
    match values {
        [] => "none".to_string(),
        [one] => one.clone(),
        [first, .., last] => format!("{first} .. {last}"),
    }
}
