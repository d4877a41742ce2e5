//! sprig's `semverCompare`: Masterminds/semver v3 constraints (`>=1.24.0-0`,
//! `<1.27`, `^1.2`, `~1.2.3`, `1.2.x`, `>=1.2, <2 || 3.x`) against lenient
//! versions (`v1.24.4`, `1.24`). A pre-release version only satisfies a
//! constraint whose own version has a pre-release part, as Masterminds does.

use std::cmp::Ordering;

use thiserror::Error;

/// A version or constraint that does not parse (Masterminds' words).
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum SemverError {
    /// Not a version.
    #[error("Invalid Semantic Version: {0:?}")]
    Version(String),
    /// Not a constraint.
    #[error("improper constraint: {0:?}")]
    Constraint(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Version {
    parts: [u64; 3],
    pre: Vec<String>,
}

impl Version {
    fn parse(text: &str) -> Result<(Version, usize), SemverError> {
        let bad = || SemverError::Version(text.to_string());
        let text = text.trim();
        let body = text.strip_prefix('v').unwrap_or(text);
        let body = body.split('+').next().unwrap_or(body);
        let (core, pre) = match body.split_once('-') {
            Some((core, pre)) => (core, Some(pre)),
            None => (body, None),
        };
        let numbers: Vec<&str> = core.split('.').collect();
        if numbers.is_empty() || numbers.len() > 3 {
            return Err(bad());
        }
        let mut parts = [0u64; 3];
        let mut given = 0;
        for (slot, number) in numbers.iter().enumerate() {
            if matches!(*number, "x" | "X" | "*") {
                break;
            }
            parts[slot] = number.parse().map_err(|_| bad())?;
            given = slot + 1;
        }
        let pre = match pre {
            Some("") => return Err(bad()),
            Some(pre) => pre.split('.').map(str::to_string).collect(),
            None => Vec::new(),
        };
        Ok((Version { parts, pre }, given))
    }

    fn cmp(&self, other: &Version) -> Ordering {
        self.parts
            .cmp(&other.parts)
            .then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => {
                    for (a, b) in self.pre.iter().zip(&other.pre) {
                        let order = match (a.parse::<u64>(), b.parse::<u64>()) {
                            (Ok(x), Ok(y)) => x.cmp(&y),
                            (Ok(_), Err(_)) => Ordering::Less,
                            (Err(_), Ok(_)) => Ordering::Greater,
                            (Err(_), Err(_)) => a.cmp(b),
                        };
                        if order != Ordering::Equal {
                            return order;
                        }
                    }
                    self.pre.len().cmp(&other.pre.len())
                }
            })
    }
}

/// One `op version` term.
fn satisfies(term: &str, version: &Version) -> Result<bool, SemverError> {
    let term = term.trim();
    let ops = ["!=", ">=", "=>", "<=", "=<", ">", "<", "=", "~>", "~", "^"];
    let op = ops
        .iter()
        .find(|op| term.starts_with(**op))
        .copied()
        .unwrap_or("");
    let (bound, given) = Version::parse(term[op.len()..].trim())?;
    // Pre-releases only match constraints that name one.
    if !version.pre.is_empty() && bound.pre.is_empty() {
        return Ok(false);
    }
    let order = version.cmp(&bound);
    let upper = |level: usize| -> Version {
        let mut parts = [0u64; 3];
        parts[..level].copy_from_slice(&bound.parts[..level]);
        if level > 0 {
            parts[level - 1] += 1;
        }
        Version {
            parts,
            pre: Vec::new(),
        }
    };
    let below = |limit: Version| version.cmp(&limit) == Ordering::Less;
    Ok(match op {
        "" | "=" if given < 3 => order != Ordering::Less && below(upper(given.max(1))),
        "" | "=" => order == Ordering::Equal,
        "!=" if given < 3 => !(order != Ordering::Less && below(upper(given.max(1)))),
        "!=" => order != Ordering::Equal,
        ">" if given < 3 => version.cmp(&upper(given.max(1))) != Ordering::Less,
        ">" => order == Ordering::Greater,
        ">=" | "=>" => order != Ordering::Less,
        "<" => order == Ordering::Less,
        "<=" | "=<" if given < 3 => below(upper(given.max(1))),
        "<=" | "=<" => order != Ordering::Greater,
        "~" | "~>" => order != Ordering::Less && below(upper(if given >= 2 { 2 } else { 1 })),
        _ => {
            // `^`: up to the next change of the first non-zero part.
            let level = if bound.parts[0] > 0 || given == 1 {
                1
            } else if bound.parts[1] > 0 || given == 2 {
                2
            } else {
                3
            };
            order != Ordering::Less && below(upper(level))
        }
    })
}

/// Whether `version` satisfies `constraint` (sprig's `semverCompare`).
pub fn semver_compare(constraint: &str, version: &str) -> Result<bool, SemverError> {
    let (version, _) = Version::parse(version)?;
    if constraint.trim().is_empty() {
        return Err(SemverError::Constraint(String::new()));
    }
    for alternative in constraint.split("||") {
        // Terms are separated by commas or spaces (`>= 1.2` keeps its space).
        let mut terms = Vec::new();
        let mut pending = String::new();
        for piece in alternative.split([',', ' ']).filter(|p| !p.is_empty()) {
            pending.push_str(piece);
            if !piece.chars().all(|c| "<>=!~^".contains(c)) {
                terms.push(std::mem::take(&mut pending));
            }
        }
        if !pending.is_empty() {
            return Err(SemverError::Constraint(constraint.to_string()));
        }
        // Hyphen ranges: `1.2 - 1.4.5`.
        let mut all = true;
        let mut index = 0;
        while index < terms.len() {
            let ok = if terms.get(index + 1).is_some_and(|t| t == "-") && index + 2 < terms.len() {
                let low = satisfies(&format!(">={}", terms[index]), &version)?;
                let high = satisfies(&format!("<={}", terms[index + 2]), &version)?;
                index += 3;
                low && high
            } else {
                let ok = satisfies(&terms[index], &version)?;
                index += 1;
                ok
            };
            all &= ok;
        }
        if all && !terms.is_empty() {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constraints_behave_like_masterminds() {
        for (constraint, version, want) in [
            ("<1.27", "v1.26.9", true),
            ("<1.27", "v1.27.0", false),
            (">=1.24.0-0", "v1.24.4", true),
            (">=1.24.0-0", "1.24.0-rc.1", true),
            (">=1.24", "1.25.0-rc.1", false),
            (">=1.2, <2", "1.9.9", true),
            (">= 1.2 < 2", "2.0.0", false),
            ("^1.2.3", "1.9.0", true),
            ("^1.2.3", "2.0.0", false),
            ("^0.2.3", "0.3.0", false),
            ("~1.2.3", "1.2.9", true),
            ("~1.2.3", "1.3.0", false),
            ("1.2.x", "1.2.7", true),
            ("1.2", "1.3.0", false),
            ("<1.2 || >=3", "3.1.0", true),
            ("1.2 - 1.4.5", "1.4.5", true),
            ("!=1.2.3", "1.2.3", false),
            (">1.2", "1.2.9", false),
            ("<=1.2", "1.2.9", true),
        ] {
            assert_eq!(
                semver_compare(constraint, version),
                Ok(want),
                "{constraint} {version}"
            );
        }
        assert!(semver_compare("<1.27", "<no value>").is_err());
        assert!(semver_compare(">=", "1.0.0").is_err());
    }
}
