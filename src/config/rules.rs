//! Rules as data: `when` conditions over a cell's axis values, the
//! `[[window]]` release freezes, the `[[select]]` patch policies, the
//! `[[exclude]]` rules and the `[[extra]]` exceptions, each with a name and
//! a reason that explanations quote.

use std::collections::BTreeSet;

use serde::Deserialize;

use super::{S, parse_at};
use crate::axis::{Arch, Cri};
use crate::cell::Cell;
use crate::source::{InputError, Source};
use crate::tag::Tag;
use crate::version::{Day, KubeVersion, Requirement, SealosVersion};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCondition {
    kube: Option<S<String>>,
    sealos: Option<S<String>>,
    cri: Option<Vec<S<String>>>,
    arch: Option<Vec<S<String>>>,
    dev: Option<bool>,
    kube_in: Option<Vec<S<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSelect {
    name: S<String>,
    #[serde(default)]
    when: RawCondition,
    patches: S<String>,
    #[serde(default)]
    since: Option<Day>,
    reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWindow {
    name: S<String>,
    when: S<RawCondition>,
    until: Day,
    reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawExtra {
    name: S<String>,
    cri: Vec<S<String>>,
    sealos: S<String>,
    kube: Vec<S<String>>,
    #[serde(default)]
    tags: Vec<S<String>>,
    reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawExclude {
    name: S<String>,
    when: S<RawCondition>,
    #[serde(default)]
    scope: Option<S<String>>,
    reason: String,
}

/// Which patches of a minor a matching `[[select]]` rule keeps: every one,
/// or the `oldest` N and the `newest` M (`oldest:3+newest:2`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchPolicy {
    /// Every known patch.
    All,
    /// The oldest and newest patches, this many of each.
    Ends {
        /// How many of the oldest.
        oldest: usize,
        /// How many of the newest.
        newest: usize,
    },
}

impl PatchPolicy {
    fn parse(text: &str) -> Option<Self> {
        if text == "all" {
            return Some(PatchPolicy::All);
        }
        let (mut oldest, mut newest) = (0, 0);
        for part in text.split('+') {
            let (name, count) = part.split_once(':').unwrap_or((part, "1"));
            let count: usize = count.parse().ok().filter(|n| (1..=50).contains(n))?;
            let slot = match name {
                "oldest" => &mut oldest,
                "newest" => &mut newest,
                _ => return None,
            };
            if *slot != 0 {
                return None;
            }
            *slot = count;
        }
        Some(PatchPolicy::Ends { oldest, newest })
    }

    /// The name as written in matrix.toml (`oldest+newest`, `oldest:3+newest:2`).
    pub fn as_str(self) -> String {
        let part = |name: &str, n: usize| match n {
            0 => None,
            1 => Some(name.to_string()),
            n => Some(format!("{name}:{n}")),
        };
        match self {
            PatchPolicy::All => "all".to_string(),
            PatchPolicy::Ends { oldest, newest } => [part("oldest", oldest), part("newest", newest)]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join("+"),
        }
    }

    /// True if the patch at `index` of a sorted list of `len` is kept.
    pub fn keeps(self, index: usize, len: usize) -> bool {
        match self {
            PatchPolicy::All => true,
            PatchPolicy::Ends { oldest, newest } => index < oldest || index + newest >= len,
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
    /// Exactly these Kubernetes patches (for named exceptions).
    pub kube_in: Option<Vec<KubeVersion>>,
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
        if let Some(versions) = &self.kube_in {
            let names: Vec<String> = versions.iter().map(KubeVersion::tag_form).collect();
            parts.push(format!("kube in [{}]", names.join(", ")));
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
    /// Patches released on or after this day are kept too: the ones that
    /// came out while the release was the current one.
    pub since: Option<Day>,
    /// Why, in words.
    pub reason: String,
}

impl SelectRule {
    /// The policy in words (`oldest+newest, and every patch since 2023-09-01`).
    pub fn describe(&self) -> String {
        match self.since {
            Some(day) => format!("{} and every patch released since {day}", self.patches.as_str()),
            None => self.patches.as_str(),
        }
    }
}

/// A `[[window]]` rule: a frozen release builds only the patches released
/// up to its freeze.
#[derive(Debug, Clone)]
pub struct WindowRule {
    /// Short name used in explanations.
    pub name: String,
    /// When it applies (first matching rule wins).
    pub when: Condition,
    /// The last day whose patches it builds.
    pub until: Day,
    /// Why, in words.
    pub reason: String,
}

/// An `[[extra]]` exception: cells (and index tags) that were published
/// outside every rule, named so that `explain` and the closing counts can
/// show them.
#[derive(Debug, Clone)]
pub struct ExtraRule {
    /// Short name used in explanations.
    pub name: String,
    /// The CRIs it adds cells for.
    pub cris: Vec<Cri>,
    /// The sealos version (may be a pre-release outside `sealos.versions`).
    pub sealos: SealosVersion,
    /// The Kubernetes patches.
    pub kube: Vec<KubeVersion>,
    /// Extra index tags the cells carry.
    pub tags: Vec<Tag>,
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
    /// True if it removes only the cells' `v<kube>` aliases, not the cells.
    pub aliases_only: bool,
    /// Why, in words.
    pub reason: String,
}

/// Resolves the `[[select]]` and `[[exclude]]` rules, checking names.
/// Every rule of matrix.toml, resolved.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    /// Release windows, first match wins.
    pub windows: Vec<WindowRule>,
    /// Patch selection, first match wins.
    pub selects: Vec<SelectRule>,
    /// Exclusions.
    pub excludes: Vec<ExcludeRule>,
    /// Named exceptions that add cells.
    pub extras: Vec<ExtraRule>,
}

pub(super) fn resolve_rules(
    source: &Source,
    window: &[RawWindow],
    select: &[RawSelect],
    exclude: &[RawExclude],
    extra: &[RawExtra],
) -> Result<Rules, InputError> {
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
                    "use `all`, `newest`, `oldest`, `oldest+newest` or counts such as `oldest:3+newest:2`",
                )
            })?;
            Ok(SelectRule {
                name: rule.name.get_ref().clone(),
                when: resolve_condition(source, &key, &rule.when)?,
                patches,
                since: rule.since,
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
            let aliases_only = match rule.scope.as_ref().map(|s| (s.get_ref().as_str(), s.span())) {
                None | Some(("cells", _)) => false,
                Some(("aliases", _)) => true,
                Some((other, span)) => {
                    return Err(source.invalid(
                        span,
                        format!("{key}.scope"),
                        format!("unknown scope `{other}`"),
                        "use `cells` (the default) or `aliases`",
                    ));
                }
            };
            Ok(ExcludeRule {
                name: rule.name.get_ref().clone(),
                when,
                aliases_only,
                reason: rule.reason.clone(),
            })
        })
        .collect::<Result<Vec<_>, InputError>>()?;
    let windows = window
        .iter()
        .enumerate()
        .map(|(index, rule)| {
            let key = format!("window[{index}]");
            Ok(WindowRule {
                name: rule.name.get_ref().clone(),
                when: resolve_condition(source, &key, rule.when.get_ref())?,
                until: rule.until,
                reason: rule.reason.clone(),
            })
        })
        .collect::<Result<Vec<_>, InputError>>()?;
    let extras = extra
        .iter()
        .enumerate()
        .map(|(index, rule)| resolve_extra(source, &format!("extra[{index}]"), rule))
        .collect::<Result<Vec<_>, InputError>>()?;
    check_rule_names(
        source,
        window
            .iter()
            .map(|r| &r.name)
            .chain(select.iter().map(|r| &r.name))
            .chain(exclude.iter().map(|r| &r.name))
            .chain(extra.iter().map(|r| &r.name)),
    )?;
    Ok(Rules {
        windows,
        selects,
        excludes,
        extras,
    })
}

fn resolve_extra(source: &Source, key: &str, rule: &RawExtra) -> Result<ExtraRule, InputError> {
    let cris = parse_names(
        source,
        &format!("{key}.cri"),
        &Some(rule.cri.clone()),
        "use a known CRI",
    )?
    .unwrap_or_default();
    let kube = parse_names(
        source,
        &format!("{key}.kube"),
        &Some(rule.kube.clone()),
        "write versions as \"1.23.10\"",
    )?
    .unwrap_or_default();
    let tags = parse_names(
        source,
        &format!("{key}.tags"),
        &Some(rule.tags.clone()),
        "write a valid tag",
    )?
    .unwrap_or_default();
    if cris.is_empty() || kube.is_empty() {
        return Err(source.invalid(
            rule.name.span(),
            key,
            "an [[extra]] names at least one CRI and one Kubernetes patch",
            "list them in `cri` and `kube`",
        ));
    }
    let sealos = parse_at(
        source,
        &format!("{key}.sealos"),
        &rule.sealos,
        SealosVersion::parse_release,
        "write a sealos version such as \"4.1.0-rc3\"",
    )?;
    Ok(ExtraRule {
        name: rule.name.get_ref().clone(),
        cris,
        sealos,
        kube,
        tags,
        reason: rule.reason.clone(),
    })
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
                "give every [[window]], [[select]], [[exclude]] and [[extra]] rule its own name",
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
    let kube_in = parse_names(
        source,
        &format!("{key}.when.kube_in"),
        &raw.kube_in,
        "write versions as \"1.24.12\"",
    )?;
    Ok(Condition {
        kube: req("kube", &raw.kube)?,
        sealos: req("sealos", &raw.sealos)?,
        cri,
        arch,
        dev: raw.dev,
        kube_in,
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
        self.matches_kube(cell.cri, &cell.kube) && self.matches_rest(&cell.sealos, cell.arch)
    }

    /// The part of [`Condition::matches`] that depends only on the CRI and
    /// the Kubernetes version: planning asks it once per patch, not once
    /// per cell.
    pub fn matches_kube(&self, cri: Cri, kube: &KubeVersion) -> bool {
        self.cri.as_ref().is_none_or(|cris| cris.contains(&cri))
            && self.kube.as_ref().is_none_or(|req| req.matches(kube.semver()))
            && self
                .kube_in
                .as_ref()
                .is_none_or(|versions| versions.iter().any(|v| v.tag_form() == kube.tag_form()))
    }

    /// The rest of [`Condition::matches`]: the sealos version and the arch.
    pub fn matches_rest(&self, sealos: &SealosVersion, arch: Arch) -> bool {
        self.arch.as_ref().is_none_or(|arches| arches.contains(&arch))
            && self.dev.is_none_or(|dev| dev == sealos.is_dev())
            && self
                .sealos
                .as_ref()
                .is_none_or(|req| req.matches(sealos.compare_as()))
    }
}
