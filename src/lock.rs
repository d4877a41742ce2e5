//! `matrix.lock`: facts the planner needs that change upstream over time
//! (known Kubernetes patch releases), kept as data that a command refreshes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::digest::Sha256;
use crate::source::{InputError, Source};
use crate::version::{Day, KubeMinor, KubeVersion};

/// Why matrix.lock could not be updated (`fetch --pin`, `versions --refresh`).
#[derive(Debug, thiserror::Error)]
pub enum LockWriteError {
    /// The file could not be read again.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The lock file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file on disk is no longer TOML.
    #[error("{} is not valid TOML: {source}\n  help: fix the file (`git diff` shows what changed), then run again", path.display())]
    Parse {
        /// The lock file.
        path: PathBuf,
        /// The parser's error, with line and column.
        #[source]
        source: toml_edit::TomlError,
    },
    /// The table to update is something else.
    #[error("{}: `{table}` is not a table\n  help: make it `[{table}]`", path.display())]
    NotATable {
        /// The lock file.
        path: PathBuf,
        /// The table's name.
        table: String,
    },
    /// Writing the new file failed (the old one is left as it was).
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The lock file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl crate::error::Fault for LockWriteError {
    /// A lock edited into something else is the user's to fix.
    fn is_bad_input(&self) -> bool {
        match self {
            LockWriteError::Parse { .. } | LockWriteError::NotATable { .. } => true,
            LockWriteError::Read { .. } | LockWriteError::Write { .. } => false,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLock {
    #[serde(default)]
    kube: BTreeMap<Spanned<String>, Vec<u64>>,
    #[serde(default)]
    kubeadm: BTreeMap<Spanned<String>, RawKubeadm>,
    #[serde(default)]
    artifacts: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    released: BTreeMap<Spanned<String>, Day>,
    #[serde(default)]
    k3s: BTreeMap<Spanned<String>, Vec<Spanned<String>>>,
    #[serde(default)]
    newest: BTreeMap<String, BTreeMap<Spanned<String>, Spanned<String>>>,
}

/// A value that is fixed for a minor, or changes from given patches on
/// (`{ 0 = "3.5.3-0", 9 = "3.5.6-0" }`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Stepped {
    Fixed(String),
    Steps(BTreeMap<String, String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKubeadm {
    registry: Stepped,
    pause: Stepped,
    etcd: Stepped,
    coredns: Stepped,
}

/// kubeadm's default images for one minor, each possibly moving at patches.
#[derive(Debug, Clone)]
struct KubeadmFacts {
    registry: Vec<(u64, String)>,
    pause: Vec<(u64, String)>,
    etcd: Vec<(u64, String)>,
    coredns: Vec<(u64, String)>,
}

/// What `kubeadm config images list` prints for one Kubernetes version,
/// apart from the four control-plane images.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeadmImages {
    /// Default registry (`registry.k8s.io`).
    pub registry: String,
    /// pause tag (`3.9`).
    pub pause: String,
    /// etcd tag (`3.5.12-0`).
    pub etcd: String,
    /// CoreDNS path and tag below the registry (`coredns/coredns:v1.11.1`).
    pub coredns: String,
}

/// What the lock knows of a patch's release day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Released {
    /// Released that day.
    On(Day),
    /// Undated, but a later patch of its minor came out that day, so it
    /// came out no later.
    NoLaterThan(Day),
    /// Its minor has no dated patch: it predates the lock's dated history,
    /// and so every release window.
    BeforeHistory,
    /// Newer than every dated patch of its minor and undated: new since the
    /// last refresh, so inside no frozen window.
    Undated,
}

impl Released {
    /// True if it came out no later than `day`.
    pub fn by(self, day: Day) -> bool {
        match self {
            Released::On(on) | Released::NoLaterThan(on) => on <= day,
            Released::BeforeHistory => true,
            Released::Undated => false,
        }
    }

    /// True if it came out on or after `day` (undated new patches count).
    pub fn since(self, day: Day) -> bool {
        match self {
            Released::On(on) => on >= day,
            Released::NoLaterThan(_) | Released::BeforeHistory => false,
            Released::Undated => true,
        }
    }
}

impl std::fmt::Display for Released {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Released::On(day) => write!(f, "released {day}"),
            Released::NoLaterThan(day) => write!(f, "released by {day}"),
            Released::BeforeHistory => f.write_str("released before the lock's dated history"),
            Released::Undated => f.write_str("newer than every dated patch (undated)"),
        }
    }
}

/// The loaded lock.
#[derive(Debug, Clone, Default)]
pub struct Lock {
    /// Where it was read from.
    pub path: PathBuf,
    /// Known patch numbers per minor, ascending.
    kube: BTreeMap<KubeMinor, Vec<u64>>,
    kubeadm: BTreeMap<KubeMinor, KubeadmFacts>,
    artifacts: BTreeMap<String, Sha256>,
    /// Release day of Kubernetes patches (those of the dated history).
    released: BTreeMap<KubeVersion, Day>,
    /// Known k3s releases per minor (`1.28.1+k3s1`), ascending.
    k3s: BTreeMap<KubeMinor, Vec<KubeVersion>>,
    /// The newest release of a project per Kubernetes minor (`[newest.cri-tools]`).
    newest: BTreeMap<String, BTreeMap<KubeMinor, String>>,
    /// Where each pin is written, for errors found once the matrix is known.
    pin_spans: BTreeMap<String, std::ops::Range<usize>>,
    source: Option<Source>,
}

fn steps(
    source: &Source,
    key: &str,
    span: std::ops::Range<usize>,
    value: Stepped,
) -> Result<Vec<(u64, String)>, InputError> {
    match value {
        Stepped::Fixed(text) => Ok(vec![(0, text)]),
        Stepped::Steps(map) => {
            let mut out = Vec::new();
            for (from, text) in map {
                let from: u64 = from.parse().map_err(|_| {
                    source.invalid(
                        span.clone(),
                        key,
                        format!("`{from}` is not a patch number"),
                        "key steps by the patch they start at, e.g. { 0 = \"3.5.3-0\", 9 = \"3.5.6-0\" }",
                    )
                })?;
                out.push((from, text));
            }
            out.sort();
            if out.first().is_none_or(|(from, _)| *from != 0) {
                return Err(source.invalid(
                    span,
                    key,
                    "the first step must start at patch 0",
                    "add a `0 = ...` step",
                ));
            }
            Ok(out)
        }
    }
}

/// Parses a spanned lock value, or an error at its span naming `key`.
fn parse_at<T: std::str::FromStr<Err = crate::version::VersionError>>(
    source: &Source,
    key: &str,
    value: &Spanned<String>,
    help: &str,
) -> Result<T, InputError> {
    value
        .get_ref()
        .parse()
        .map_err(|error: crate::version::VersionError| {
            source.invalid(value.span(), key, error.to_string(), help)
        })
}

/// A lock value (fixed, or steps by patch) at `patch`, as written.
fn value_at(item: &toml_edit::Value, patch: u64) -> Option<String> {
    match item {
        toml_edit::Value::String(text) => Some(text.value().clone()),
        toml_edit::Value::InlineTable(steps) => steps
            .iter()
            .filter_map(|(from, value)| Some((from.parse::<u64>().ok()?, value.as_str()?)))
            .filter(|(from, _)| *from <= patch)
            .max_by_key(|(from, _)| *from)
            .map(|(_, value)| value.to_string()),
        _ => None,
    }
}

fn at_patch(steps: &[(u64, String)], patch: u64) -> String {
    steps
        .iter()
        .rev()
        .find(|(from, _)| *from <= patch)
        .map(|(_, value)| value.clone())
        .unwrap_or_default()
}

impl Lock {
    /// Reads and checks a lock file.
    pub fn load(path: &Path) -> Result<Lock, InputError> {
        let source = Source::read(path)?;
        let raw: RawLock = source.parse("the lock lists `\"1.24\" = [0, 1, ...]` under [kube]")?;
        let mut kube = BTreeMap::new();
        for (minor, patches) in raw.kube {
            let parsed: KubeMinor = parse_at(&source, "kube", &minor, "key minors as \"1.24\"")?;
            let mut sorted = patches.clone();
            sorted.sort_unstable();
            sorted.dedup();
            if sorted.len() != patches.len() {
                return Err(source.invalid(
                    minor.span(),
                    format!("kube.\"{parsed}\""),
                    "a patch number is listed twice",
                    "list each patch once",
                ));
            }
            kube.insert(parsed, sorted);
        }
        let mut kubeadm = BTreeMap::new();
        for (minor, facts) in raw.kubeadm {
            let parsed: KubeMinor = parse_at(&source, "kubeadm", &minor, "key minors as \"1.24\"")?;
            let key = format!("kubeadm.\"{parsed}\"");
            let span = minor.span();
            kubeadm.insert(
                parsed,
                KubeadmFacts {
                    registry: steps(&source, &key, span.clone(), facts.registry)?,
                    pause: steps(&source, &key, span.clone(), facts.pause)?,
                    etcd: steps(&source, &key, span.clone(), facts.etcd)?,
                    coredns: steps(&source, &key, span, facts.coredns)?,
                },
            );
        }
        let mut artifacts = BTreeMap::new();
        let mut pin_spans = BTreeMap::new();
        for (key, digest) in raw.artifacts {
            pin_spans.insert(key.clone(), digest.span());
            let parsed: Sha256 = digest
                .get_ref()
                .parse()
                .map_err(|error: crate::digest::DigestError| {
                    source.invalid(
                        digest.span(),
                        format!("artifacts.\"{key}\""),
                        error.to_string(),
                        "pin as \"sha256:<64 hex>\"",
                    )
                })?;
            artifacts.insert(key, parsed);
        }
        let released = raw
            .released
            .into_iter()
            .map(|(version, day)| {
                let parsed: KubeVersion =
                    parse_at(&source, "released", &version, "key versions as \"1.24.4\"")?;
                let known = kube
                    .get(&parsed.minor())
                    .is_some_and(|p: &Vec<u64>| p.contains(&parsed.patch()));
                if !known {
                    return Err(source.invalid(
                        version.span(),
                        format!("released.\"{}\"", version.get_ref()),
                        format!("{parsed} is not listed under [kube]"),
                        "date only patches the lock knows",
                    ));
                }
                Ok((parsed, day))
            })
            .collect::<Result<BTreeMap<_, _>, InputError>>()?;
        let mut k3s = BTreeMap::new();
        for (minor, releases) in raw.k3s {
            let parsed_minor: KubeMinor = parse_at(&source, "k3s", &minor, "key minors as \"1.28\"")?;
            let mut versions = Vec::new();
            for release in releases {
                let key = format!("k3s.\"{parsed_minor}\"");
                let version: KubeVersion =
                    parse_at(&source, &key, &release, "list k3s releases as \"1.28.1+k3s1\"")?;
                if version.minor() != parsed_minor || version.semver().build.is_empty() {
                    return Err(source.invalid(
                        release.span(),
                        key,
                        format!("`{}` is not a k3s release of {parsed_minor}", release.get_ref()),
                        "list k3s releases of this minor with their build, e.g. \"1.28.1+k3s1\"",
                    ));
                }
                versions.push(version);
            }
            // A rebuild (`1.35.0+k3s3`) replaces the earlier build of its
            // patch: both would have the same image tag.
            versions.sort();
            versions.reverse();
            versions.dedup_by(|later, kept| later.tag_form() == kept.tag_form());
            versions.reverse();
            k3s.insert(parsed_minor, versions);
        }
        let mut newest = BTreeMap::new();
        for (project, table) in raw.newest {
            let mut versions = BTreeMap::new();
            for (minor, version) in table {
                let key = format!("newest.{project}");
                let parsed_minor: KubeMinor = parse_at(&source, &key, &minor, "key minors as \"1.28\"")?;
                let text = version.get_ref();
                let plain =
                    semver::Version::parse(text).is_ok_and(|v| v.pre.is_empty() && v.build.is_empty());
                if !plain {
                    return Err(source.invalid(
                        version.span(),
                        format!("{key}.\"{parsed_minor}\""),
                        format!("`{text}` is not a release version"),
                        "write the release without its `v`, e.g. \"1.24.2\"",
                    ));
                }
                versions.insert(parsed_minor, text.clone());
            }
            newest.insert(project, versions);
        }
        Ok(Lock {
            path: path.to_path_buf(),
            kube,
            kubeadm,
            artifacts,
            released,
            k3s,
            newest,
            pin_spans,
            source: Some(source),
        })
    }

    /// Refuses pins that can never be used: a key that is not
    /// `component/version/arch` of a component the matrix declares (a typo
    /// would otherwise silently leave the real artifact unpinned).
    pub fn check_pins(&self, components: &[&str], arches: &[&str]) -> Result<(), InputError> {
        let Some(source) = &self.source else {
            return Ok(());
        };
        for key in self.artifacts.keys() {
            let span = self.pin_spans.get(key).cloned().unwrap_or(0..0);
            let parts: Vec<&str> = key.split('/').collect();
            let problem = match parts.as_slice() {
                [component, version, arch] if !version.is_empty() => {
                    if !components.contains(component) {
                        Some(format!("no [[component]] is named `{component}`"))
                    } else if !arches.contains(arch) {
                        Some(format!("`{arch}` is not an arch ({})", arches.join(", ")))
                    } else {
                        None
                    }
                }
                _ => Some("a pin is keyed \"component/version/arch\"".to_string()),
            };
            if let Some(message) = problem {
                return Err(source.invalid(
                    span,
                    format!("artifacts.\"{key}\""),
                    message,
                    "fix the key or remove the pin (`matrix fetch --pin` writes correct ones)",
                ));
            }
        }
        Ok(())
    }

    /// Known patch numbers of `minor`, ascending (empty if none are known).
    pub fn patches(&self, minor: KubeMinor) -> &[u64] {
        self.kube.get(&minor).map_or(&[], Vec::as_slice)
    }

    /// The newest release of `project` for a Kubernetes minor, if the lock
    /// lists one (`[newest.cri-tools] "1.24" = "1.24.2"`).
    pub fn newest(&self, project: &str, minor: KubeMinor) -> Option<&str> {
        self.newest.get(project)?.get(&minor).map(String::as_str)
    }

    /// Known k3s releases of `minor`, ascending (empty if none are known).
    pub fn k3s_releases(&self, minor: KubeMinor) -> &[KubeVersion] {
        self.k3s.get(&minor).map_or(&[], Vec::as_slice)
    }

    /// When `version` (a Kubernetes patch, or the upstream patch of a k3s
    /// release) came out, as far as the lock knows.
    pub fn released(&self, version: &KubeVersion) -> Released {
        let plain = version.minor().patch(version.patch());
        if let Some(day) = self.released.get(&plain) {
            return Released::On(*day);
        }
        let mut dated = self
            .released
            .range(version.minor().patch(0)..)
            .take_while(|(v, _)| v.minor() == version.minor())
            .peekable();
        if dated.peek().is_none() {
            return Released::BeforeHistory;
        }
        match dated.find(|(v, _)| v.patch() > plain.patch()) {
            Some((_, day)) => Released::NoLaterThan(*day),
            None => Released::Undated,
        }
    }

    /// kubeadm's default images for `version`, if its minor is known.
    pub fn kubeadm_images(&self, version: &KubeVersion) -> Option<KubeadmImages> {
        let facts = self.kubeadm.get(&version.minor())?;
        let patch = version.patch();
        Some(KubeadmImages {
            registry: at_patch(&facts.registry, patch),
            pause: at_patch(&facts.pause, patch),
            etcd: at_patch(&facts.etcd, patch),
            coredns: at_patch(&facts.coredns, patch),
        })
    }

    /// The pinned digest of an artifact (`kubeadm/1.24.4/amd64`).
    pub fn pin(&self, key: &str) -> Option<&Sha256> {
        self.artifacts.get(key)
    }

    /// Adds pins to the lock file on disk, keeping its comments and layout.
    pub fn write_pins(&self, pins: &BTreeMap<String, Sha256>) -> Result<(), LockWriteError> {
        self.edit_table("artifacts", |table| {
            for (key, digest) in pins {
                table.insert(key, toml_edit::value(digest.to_string()));
            }
        })
    }

    /// Rewrites the `[kube]` table with these patches per minor, keeping
    /// the rest of the file.
    pub fn write_kube(
        &self,
        kube: &BTreeMap<KubeMinor, std::collections::BTreeSet<u64>>,
    ) -> Result<(), LockWriteError> {
        self.edit_table("kube", |table| {
            for (minor, patches) in kube {
                let array: toml_edit::Array = patches
                    .iter()
                    .map(|p| i64::try_from(*p).unwrap_or(i64::MAX))
                    .collect();
                table.insert(&minor.to_string(), toml_edit::value(array));
            }
        })
    }

    /// Adds k3s releases to the `[k3s]` table (each minor's list stays
    /// ascending), keeping the rest of the file.
    pub fn write_k3s(&self, added: &[KubeVersion]) -> Result<(), LockWriteError> {
        let mut by_minor: BTreeMap<KubeMinor, Vec<KubeVersion>> = BTreeMap::new();
        for version in added {
            by_minor
                .entry(version.minor())
                .or_insert_with(|| self.k3s_releases(version.minor()).to_vec());
        }
        for version in added {
            if let Some(list) = by_minor.get_mut(&version.minor()) {
                list.push(version.clone());
                list.sort();
                list.dedup();
            }
        }
        self.edit_table("k3s", |table| {
            for (minor, list) in by_minor {
                let array: toml_edit::Array = list
                    .iter()
                    .map(|v| v.to_string().trim_start_matches('v').to_string())
                    .collect();
                table.insert(&minor.to_string(), toml_edit::value(array));
            }
        })
    }

    /// Records kubeadm's images of new releases (`matrix versions --refresh
    /// --kubeadm`): a minor the lock does not know gets `[kubeadm."1.38"]`;
    /// a patch whose images differ gets a step from that patch on
    /// (`etcd = { 0 = "3.6.8-0", 7 = "3.6.9-0" }`), keeping the rest.
    pub fn write_kubeadm(&self, found: &[(KubeVersion, KubeadmImages)]) -> Result<(), LockWriteError> {
        self.edit_table("kubeadm", |kubeadm| {
            kubeadm.set_implicit(true);
            for (version, images) in found {
                let key = version.minor().to_string();
                let fields = [
                    ("registry", &images.registry),
                    ("pause", &images.pause),
                    ("etcd", &images.etcd),
                    ("coredns", &images.coredns),
                ];
                let Some(table) = kubeadm.get_mut(&key).and_then(toml_edit::Item::as_table_mut) else {
                    let mut table = toml_edit::Table::new();
                    for (field, value) in fields {
                        table.insert(field, toml_edit::value(value.as_str()));
                    }
                    kubeadm.insert(&key, toml_edit::Item::Table(table));
                    continue;
                };
                let patch = version.patch().to_string();
                for (field, value) in fields {
                    let current = table
                        .get(field)
                        .and_then(toml_edit::Item::as_value)
                        .and_then(|item| value_at(item, version.patch()));
                    if current.as_deref() == Some(value.as_str()) {
                        continue;
                    }
                    let mut steps = match table.get(field).and_then(toml_edit::Item::as_value) {
                        Some(toml_edit::Value::InlineTable(steps)) => steps.clone(),
                        Some(toml_edit::Value::String(old)) => {
                            let mut steps = toml_edit::InlineTable::new();
                            steps.insert("0", old.value().as_str().into());
                            steps
                        }
                        _ => toml_edit::InlineTable::new(),
                    };
                    steps.insert(&patch, value.as_str().into());
                    table.insert(field, toml_edit::value(steps));
                }
            }
        })
    }

    /// Adds release days to the `[released]` table, keeping the rest.
    pub fn write_released(&self, days: &[(KubeVersion, Day)]) -> Result<(), LockWriteError> {
        self.edit_table("released", |table| {
            for (version, day) in days {
                let date = toml_edit::Date {
                    year: day.year(),
                    month: day.month(),
                    day: day.day(),
                };
                let value = toml_edit::Datetime {
                    date: Some(date),
                    time: None,
                    offset: None,
                };
                table.insert(&version.tag_form(), toml_edit::value(value));
            }
        })
    }

    /// Changes one table of the lock file with `edit`, keeping comments and
    /// layout; written to a temp file and renamed, so a crash leaves the old
    /// lock.
    fn edit_table(&self, name: &str, edit: impl FnOnce(&mut toml_edit::Table)) -> Result<(), LockWriteError> {
        let path = || self.path.clone();
        let text = std::fs::read_to_string(&self.path)
            .map_err(|source| LockWriteError::Read { path: path(), source })?;
        let mut doc: toml_edit::DocumentMut = text
            .parse()
            .map_err(|source| LockWriteError::Parse { path: path(), source })?;
        let table = doc
            .entry(name)
            .or_insert_with(|| toml_edit::Item::Table(toml_edit::Table::new()))
            .as_table_mut()
            .ok_or_else(|| LockWriteError::NotATable {
                path: path(),
                table: name.to_string(),
            })?;
        edit(table);
        crate::fsutil::write_atomic(&self.path, doc.to_string().as_bytes())
            .map_err(|source| LockWriteError::Write { path: path(), source })
    }

    /// Every known version, ascending.
    pub fn versions(&self) -> impl Iterator<Item = KubeVersion> + '_ {
        self.kube
            .iter()
            .flat_map(|(minor, patches)| patches.iter().map(|patch| minor.patch(*patch)))
    }

    /// Known patches per minor (`"1.24"`), each ascending and once: what
    /// `matrix versions` lists.
    pub fn patches_by_minor(&self) -> BTreeMap<String, Vec<u64>> {
        let known: std::collections::BTreeSet<KubeVersion> = self.versions().collect();
        let mut by_minor: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for version in known {
            by_minor
                .entry(version.minor().to_string())
                .or_default()
                .push(version.patch());
        }
        by_minor
    }
}
