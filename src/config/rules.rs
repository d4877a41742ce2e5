//! Rules as data: `when` conditions over a cell's axis values, the
//! `[[select]]` patch policies and the `[[exclude]]` rules, each with a
//! name and a reason that explanations quote.

use std::collections::BTreeSet;

use serde::Deserialize;

use super::{S, parse_at};
use crate::axis::{Arch, Cri};
use crate::cell::Cell;
use crate::source::{InputError, Source};
use crate::version::Requirement;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCondition {
    kube: Option<S<String>>,
    sealos: Option<S<String>>,
    cri: Option<Vec<S<String>>>,
    arch: Option<Vec<S<String>>>,
    dev: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSelect {
    name: S<String>,
    #[serde(default)]
    when: RawCondition,
    patches: S<String>,
    reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawExclude {
    name: S<String>,
    when: S<RawCondition>,
    reason: String,
}

/// Which patches of a minor a matching `[[select]]` rule keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchPolicy {
    /// Every known patch.
    All,
    /// Only the newest known patch.
    Newest,
    /// Only the oldest known patch (x.y.0 normally).
    Oldest,
    /// The oldest and the newest.
    OldestAndNewest,
}

impl PatchPolicy {
    fn parse(text: &str) -> Option<Self> {
        match text {
            "all" => Some(PatchPolicy::All),
            "newest" => Some(PatchPolicy::Newest),
            "oldest" => Some(PatchPolicy::Oldest),
            "oldest+newest" => Some(PatchPolicy::OldestAndNewest),
            _ => None,
        }
    }

    /// The name as written in matrix.toml.
    pub fn as_str(self) -> &'static str {
        match self {
            PatchPolicy::All => "all",
            PatchPolicy::Newest => "newest",
            PatchPolicy::Oldest => "oldest",
            PatchPolicy::OldestAndNewest => "oldest+newest",
        }
    }

    /// True if the patch at `index` of a sorted list of `len` is kept.
    pub fn keeps(self, index: usize, len: usize) -> bool {
        let newest = index + 1 == len;
        match self {
            PatchPolicy::All => true,
            PatchPolicy::Newest => newest,
            PatchPolicy::Oldest => index == 0,
            PatchPolicy::OldestAndNewest => index == 0 || newest,
        }
    }
}

/// Conditions over a cell's axis values; all given ones must hold.
#[derive(Debug, Clone, Default)]
pub struct Condition {
    /// Requirement on the Kubernetes version.
    pub kube: Option<Requirement>,
    /// Requirement on the sealos version (the dev line compares as its version).
    pub sealos: Option<Requirement>,
    /// The CRIs it applies to.
    pub cri: Option<Vec<Cri>>,
    /// The arches it applies to.
    pub arch: Option<Vec<Arch>>,
    /// Only dev builds (`true`) or only releases (`false`).
    pub dev: Option<bool>,
}

impl std::fmt::Display for Condition {
    /// Prints `kube >=1.26, sealos <=4.1.3` (or `always`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if let Some(req) = &self.kube {
            parts.push(format!("kube {req}"));
        }
        if let Some(req) = &self.sealos {
            parts.push(format!("sealos {req}"));
        }
        if let Some(cris) = &self.cri {
            let names: Vec<&str> = cris.iter().map(|c| c.as_str()).collect();
            parts.push(format!("cri in [{}]", names.join(", ")));
        }
        if let Some(arches) = &self.arch {
            let names: Vec<&str> = arches.iter().map(|a| a.as_str()).collect();
            parts.push(format!("arch in [{}]", names.join(", ")));
        }
        if let Some(dev) = self.dev {
            parts.push(if dev { "dev build" } else { "release build" }.to_string());
        }
        if parts.is_empty() {
            f.write_str("always")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

/// A `[[select]]` rule: which patches of each minor to build.
#[derive(Debug, Clone)]
pub struct SelectRule {
    /// Short name used in explanations.
    pub name: String,
    /// When it applies (first matching rule wins).
    pub when: Condition,
    /// Which patches it keeps.
    pub patches: PatchPolicy,
    /// Why, in words.
    pub reason: String,
}

/// An `[[exclude]]` rule: cells that must not exist.
#[derive(Debug, Clone)]
pub struct ExcludeRule {
    /// Short name used in explanations.
    pub name: String,
    /// The cells it removes.
    pub when: Condition,
    /// Why, in words.
    pub reason: String,
}

/// Resolves the `[[select]]` and `[[exclude]]` rules, checking names.
pub(super) fn resolve_rules(
    source: &Source,
    select: &[RawSelect],
    exclude: &[RawExclude],
) -> Result<(Vec<SelectRule>, Vec<ExcludeRule>), InputError> {
    let selects = select
        .iter()
        .enumerate()
        .map(|(index, rule)| {
            let key = format!("select[{index}]");
            let patches = PatchPolicy::parse(rule.patches.get_ref()).ok_or_else(|| {
                source.invalid(
                    rule.patches.span(),
                    format!("{key}.patches"),
                    format!("unknown patch policy `{}`", rule.patches.get_ref()),
                    "use `all`, `newest`, `oldest` or `oldest+newest`",
                )
            })?;
            Ok(SelectRule {
                name: rule.name.get_ref().clone(),
                when: resolve_condition(source, &key, &rule.when)?,
                patches,
                reason: rule.reason.clone(),
            })
        })
        .collect::<Result<Vec<_>, InputError>>()?;
    let excludes = exclude
        .iter()
        .enumerate()
        .map(|(index, rule)| {
            let key = format!("exclude[{index}]");
            let when = resolve_condition(source, &key, rule.when.get_ref())?;
            if when.to_string() == "always" {
                return Err(source.invalid(
                    rule.when.span(),
                    format!("{key}.when"),
                    "the rule has no condition, so it would exclude every cell",
                    "add at least one of kube, sealos, cri, arch, dev",
                ));
            }
            Ok(ExcludeRule {
                name: rule.name.get_ref().clone(),
                when,
                reason: rule.reason.clone(),
            })
        })
        .collect::<Result<Vec<_>, InputError>>()?;
    check_rule_names(
        source,
        select
            .iter()
            .map(|r| &r.name)
            .chain(exclude.iter().map(|r| &r.name)),
    )?;
    Ok((selects, excludes))
}

fn check_rule_names<'a>(
    source: &Source,
    names: impl Iterator<Item = &'a S<String>>,
) -> Result<(), InputError> {
    let mut seen = BTreeSet::new();
    for name in names {
        if name.get_ref().trim().is_empty() || !seen.insert(name.get_ref().clone()) {
            return Err(source.invalid(
                name.span(),
                "name",
                format!("rule name `{}` is empty or used twice", name.get_ref()),
                "give every [[select]] and [[exclude]] rule its own name",
            ));
        }
    }
    Ok(())
}

pub(crate) fn resolve_condition(
    source: &Source,
    key: &str,
    raw: &RawCondition,
) -> Result<Condition, InputError> {
    let req = |name: &str, value: &Option<S<String>>| {
        value
            .as_ref()
            .map(|value| {
                parse_at(
                    source,
                    &format!("{key}.when.{name}"),
                    value,
                    str::parse::<Requirement>,
                    "write a semver requirement such as \">=1.26\" or \"<=4.1.3\"",
                )
            })
            .transpose()
    };
    let cri = parse_names(source, &format!("{key}.when.cri"), &raw.cri, "use a known CRI")?;
    let arch = parse_names(source, &format!("{key}.when.arch"), &raw.arch, "use a known arch")?;
    Ok(Condition {
        kube: req("kube", &raw.kube)?,
        sealos: req("sealos", &raw.sealos)?,
        cri,
        arch,
        dev: raw.dev,
    })
}

fn parse_names<T: std::str::FromStr>(
    source: &Source,
    key: &str,
    values: &Option<Vec<S<String>>>,
    help: &str,
) -> Result<Option<Vec<T>>, InputError>
where
    T::Err: std::fmt::Display,
{
    values
        .as_ref()
        .map(|values| {
            values
                .iter()
                .map(|value| parse_at(source, key, value, str::parse::<T>, help))
                .collect()
        })
        .transpose()
}

impl Condition {
    /// True if every condition given holds for `cell`.
    pub fn matches(&self, cell: &Cell) -> bool {
        self.kube
            .as_ref()
            .is_none_or(|req| req.matches(cell.kube.semver()))
            && self
                .sealos
                .as_ref()
                .is_none_or(|req| req.matches(cell.sealos.compare_as()))
            && self.cri.as_ref().is_none_or(|cris| cris.contains(&cell.cri))
            && self
                .arch
                .as_ref()
                .is_none_or(|arches| arches.contains(&cell.arch))
            && self.dev.is_none_or(|dev| dev == cell.sealos.is_dev())
    }
}
