//! `matrix.toml`: the strict schema, and its resolution into typed values.
//!
//! Parsing happens in two steps: serde reads the raw file (unknown keys are
//! errors), then `resolve` turns every string into its type, keeping the
//! span of each value so a bad one is reported at its line and column.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

mod components;
mod contract;
mod license;
mod render;
mod rules;

pub use components::{Component, Mirror, Placement, Template};

pub use contract::{Contract, ContractPart};
pub use render::{CriRender, KubeadmApi, Override, RenderConfig, TemplateOut};
pub use rules::{Condition, ExcludeRule, ExtraRule, PatchPolicy, SelectRule, WindowRule};
pub(crate) use rules::{RawCondition, RawExclude, RawExtra, RawSelect, RawWindow, resolve_condition};

use crate::axis::{Arch, Cri};
use crate::lock::Lock;
use crate::source::{InputError, Source};
use crate::tag::{Placeholder, Tag, TagTemplate, TagValues};
use crate::version::{KubeMinor, KubeVersion, SealosVersion};

const HELP: &str = "see the matrix.toml reference in README.md";

type S<T> = Spanned<T>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMatrix {
    #[serde(default)]
    lock: Option<S<String>>,
    #[serde(default)]
    publish: Vec<S<String>>,
    cris: S<Vec<S<String>>>,
    arches: S<Vec<S<String>>>,
    kube: RawKube,
    sealos: RawSealos,
    images: BTreeMap<S<String>, S<String>>,
    tags: RawTags,
    #[serde(default)]
    window: Vec<RawWindow>,
    #[serde(default)]
    select: Vec<RawSelect>,
    #[serde(default)]
    exclude: Vec<RawExclude>,
    #[serde(default)]
    extra: Vec<RawExtra>,
    #[serde(default)]
    render: Option<render::RawRender>,
    #[serde(default)]
    component: Vec<components::RawComponent>,
    #[serde(default)]
    mirror: Vec<components::RawMirror>,
    #[serde(default)]
    contract: Option<contract::RawContract>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKube {
    #[serde(default = "empty_list")]
    minors: S<Vec<S<String>>>,
    #[serde(default = "empty_list")]
    versions: S<Vec<S<String>>>,
}

fn empty_list() -> S<Vec<S<String>>> {
    Spanned::new(0..0, Vec::new())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSealos {
    versions: S<Vec<S<String>>>,
    latest: S<String>,
    #[serde(default)]
    dev: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTags {
    arch: S<String>,
    index: S<String>,
    #[serde(default)]
    latest_arch: Vec<S<String>>,
    #[serde(default)]
    latest_index: Vec<S<String>>,
    #[serde(default)]
    dev_arch: Option<S<String>>,
    #[serde(default)]
    dev_index: Option<S<String>>,
    #[serde(default)]
    dev_aliases: Vec<S<String>>,
    #[serde(default)]
    newest: BTreeMap<S<String>, Vec<S<String>>>,
}

/// The tag scheme, each template parsed and checked.
#[derive(Debug, Clone)]
pub struct TagScheme {
    /// Per-arch tag of a release cell.
    pub arch: TagTemplate,
    /// Multi-arch index tag of a release cell.
    pub index: TagTemplate,
    /// Per-arch aliases given to the latest stable sealos only.
    pub latest_arch: Vec<TagTemplate>,
    /// Index aliases given to the latest stable sealos only.
    pub latest_index: Vec<TagTemplate>,
    /// Per-arch tag of a dev cell.
    pub dev_arch: Option<TagTemplate>,
    /// Index tag of a dev cell.
    pub dev_index: Option<TagTemplate>,
    /// Index aliases of a dev cell.
    pub dev_aliases: Vec<TagTemplate>,
    /// Fixed index tags (`latest`) of a CRI's image, given to the newest
    /// patch of the latest stable release.
    pub newest: BTreeMap<Cri, Vec<Tag>>,
}

/// The Kubernetes axis as declared.
#[derive(Debug, Clone)]
pub struct KubeAxis {
    /// Whole minors; their patches come from the lock, filtered by `[[select]]`.
    pub minors: Vec<KubeMinor>,
    /// Explicit patches, always planned (exclusions still apply).
    pub versions: Vec<KubeVersion>,
}

/// The sealos axis as declared.
#[derive(Debug, Clone)]
pub struct SealosAxis {
    /// Released versions, ascending.
    pub releases: Vec<SealosVersion>,
    /// The latest stable release (gets the `v<kube>` aliases).
    pub latest: SealosVersion,
    /// The development line, if dev builds are planned.
    pub dev: Option<SealosVersion>,
}

/// A loaded and validated `matrix.toml`, with its lock.
#[derive(Debug, Clone)]
pub struct Matrix {
    /// The matrix.toml path.
    pub path: PathBuf,
    /// The matrix.lock path.
    pub lock_path: PathBuf,
    /// Registries/namespaces images are published to.
    pub publish: Vec<String>,
    /// CRI axis, in declared order.
    pub cris: Vec<Cri>,
    /// Arch axis, in declared order.
    pub arches: Vec<Arch>,
    /// Kubernetes axis.
    pub kube: KubeAxis,
    /// Sealos axis.
    pub sealos: SealosAxis,
    /// Image name per CRI.
    pub images: BTreeMap<Cri, String>,
    /// Tag templates.
    pub tags: TagScheme,
    /// Release windows, first match wins.
    pub windows: Vec<WindowRule>,
    /// Patch selection rules, first match wins.
    pub selects: Vec<SelectRule>,
    /// Exclusion rules.
    pub excludes: Vec<ExcludeRule>,
    /// Named exceptions that add cells.
    pub extras: Vec<ExtraRule>,
    /// Known versions (matrix.lock).
    pub lock: Lock,
    /// How contexts are rendered (absent in a planning-only matrix).
    pub render: Option<RenderConfig>,
    /// Binaries cells need.
    pub components: Vec<Component>,
    /// Mirrors declared in matrix.toml.
    pub mirrors: Vec<Mirror>,
    /// What built rootfs images must hold (`matrix verify`).
    pub contract: Contract,
}

impl Matrix {
    /// Loads `matrix.toml` and the lock it names (relative to its folder).
    pub fn load(path: &Path) -> Result<Matrix, InputError> {
        let source = Source::read(path)?;
        let raw: RawMatrix = source.parse(HELP)?;
        let lock_name = raw
            .lock
            .as_ref()
            .map_or("matrix.lock", |lock| lock.get_ref().as_str());
        let lock_path = path.parent().unwrap_or(Path::new(".")).join(lock_name);
        let lock = Lock::load(&lock_path)?;
        Ok(Matrix {
            lock_path,
            ..resolve(&source, raw, lock)?
        })
    }

    /// The image name for a CRI (every CRI on the axis has one).
    pub fn image(&self, cri: Cri) -> &str {
        self.images.get(&cri).map_or("", String::as_str)
    }

    /// The `[[component]]` named `name` (as `--stand-in-size NAME=SIZE`
    /// names one), or an error listing the names there are.
    pub fn component(&self, name: &str) -> Result<&Component, UnknownComponent> {
        self.components
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| UnknownComponent {
                name: name.to_string(),
                known: self.components.iter().map(|c| c.name.clone()).collect(),
            })
    }
}

/// A component name that no `[[component]]` of matrix.toml has.
#[derive(Debug, thiserror::Error)]
#[error("no component is named `{name}` (components: {})", known.join(", "))]
pub struct UnknownComponent {
    /// The name given.
    pub name: String,
    /// The names matrix.toml has, in its order.
    pub known: Vec<String>,
}

crate::error::fault!(bad_input: UnknownComponent, license::LicenseError);

/// Parses each element of a spanned list with `parse`, rejecting
/// duplicates and an empty list.
fn parse_list<T: Ord + Clone>(
    source: &Source,
    key: &str,
    list: &S<Vec<S<String>>>,
    allow_empty: bool,
    mut parse: impl FnMut(&S<String>) -> Result<T, InputError>,
) -> Result<Vec<T>, InputError> {
    if list.get_ref().is_empty() && !allow_empty {
        return Err(source.invalid(
            list.span(),
            key,
            "the axis is empty, so the matrix has no cells",
            format!("list at least one value in `{key}`"),
        ));
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (index, item) in list.get_ref().iter().enumerate() {
        let value = parse(item)?;
        if !seen.insert(value.clone()) {
            return Err(source.invalid(
                item.span(),
                format!("{key}[{index}]"),
                format!("`{}` is listed twice", item.get_ref()),
                "remove the duplicate",
            ));
        }
        out.push(value);
    }
    Ok(out)
}

/// A path inside a context or archive (`RelPath` rules), or an error at
/// the value's place; `example` shows a good one.
pub(super) fn relative_path(
    source: &Source,
    key: &str,
    value: &S<String>,
    example: &str,
) -> Result<String, InputError> {
    let text = value.get_ref();
    crate::fsutil::RelPath::parse(text)
        .map(|path| path.to_string())
        .map_err(|reason| {
            source.invalid(
                value.span(),
                key,
                format!("`{text}` is not a relative path inside the context: {reason}"),
                format!("write a path such as \"{example}\" (no leading `/`, no `..`)"),
            )
        })
}

pub(super) fn parse_at<T, E: std::fmt::Display>(
    source: &Source,
    key: &str,
    value: &S<String>,
    parse: impl FnOnce(&str) -> Result<T, E>,
    help: &str,
) -> Result<T, InputError> {
    parse(value.get_ref()).map_err(|error| source.invalid(value.span(), key, error.to_string(), help))
}

fn resolve(source: &Source, raw: RawMatrix, lock: Lock) -> Result<Matrix, InputError> {
    let cris = parse_list(source, "cris", &raw.cris, false, |item| {
        parse_at(source, "cris", item, str::parse::<Cri>, "use a known CRI name")
    })?;
    let arches = parse_list(source, "arches", &raw.arches, false, |item| {
        parse_at(
            source,
            "arches",
            item,
            str::parse::<Arch>,
            "use a known arch name",
        )
    })?;
    let minors = parse_list(source, "kube.minors", &raw.kube.minors, true, |item| {
        parse_at(
            source,
            "kube.minors",
            item,
            str::parse::<KubeMinor>,
            "write minors as \"1.24\"",
        )
    })?;
    let versions = parse_list(source, "kube.versions", &raw.kube.versions, true, |item| {
        parse_at(
            source,
            "kube.versions",
            item,
            str::parse::<KubeVersion>,
            "write versions as \"1.24.4\"",
        )
    })?;
    if minors.is_empty() && versions.is_empty() {
        return Err(source.invalid(
            raw.kube.minors.span(),
            "kube",
            "the Kubernetes axis is empty, so the matrix has no cells",
            "list minors in `kube.minors` or patches in `kube.versions`",
        ));
    }
    for (minor, item) in minors.iter().zip(raw.kube.minors.get_ref()) {
        if lock.patches(*minor).is_empty() {
            return Err(source.invalid(
                item.span(),
                "kube.minors",
                format!("{} knows no patch releases of {minor}", lock.path.display()),
                "add them to the lock (`matrix versions --refresh`) or list exact patches in `kube.versions`",
            ));
        }
    }
    let sealos = resolve_sealos(source, &raw.sealos)?;
    let images = resolve_images(source, &raw.images, &cris, raw.cris.span())?;
    let tags = resolve_tags(source, &raw.tags, sealos.dev.is_some())?;
    let rules::Rules {
        windows,
        selects,
        excludes,
        extras,
    } = rules::resolve_rules(source, &raw.window, &raw.select, &raw.exclude, &raw.extra)?;
    let publish = raw
        .publish
        .iter()
        .map(|target| {
            let text = target.get_ref();
            if text.contains('@') {
                let mut error = source.invalid(
                    target.span(),
                    "publish",
                    "a publish target cannot carry credentials",
                    "remove `user:password@`; pass credentials with --creds, MATRIX_REGISTRY_CREDS or an auth file",
                );
                if let InputError::At(located) = &mut error {
                    located.snippet = "(not shown: the line holds credentials)".into();
                }
                return Err(error);
            }
            if text.is_empty() || text.contains("://") || text.contains(':') && !text.contains('/') {
                return Err(source.invalid(
                    target.span(),
                    "publish",
                    format!("`{text}` is not a REGISTRY/NAMESPACE"),
                    "write e.g. \"docker.io/labring\" (no scheme, no tag)",
                ));
            }
            Ok(text.trim_end_matches('/').to_string())
        })
        .collect::<Result<Vec<_>, _>>()?;
    let components = components::resolve_components(source, &raw.component)?;
    let names: Vec<&str> = components.iter().map(|c| c.name.as_str()).collect();
    lock.check_pins(&names, &["amd64", "arm64"])?;
    Ok(Matrix {
        path: source.path.clone(),
        lock_path: PathBuf::new(),
        publish,
        cris,
        arches,
        kube: KubeAxis { minors, versions },
        sealos,
        images,
        tags,
        windows,
        selects,
        excludes,
        extras,
        lock,
        render: raw
            .render
            .as_ref()
            .map(|r| render::resolve_render(source, r))
            .transpose()?,
        components,
        mirrors: components::resolve_mirrors(source, &raw.mirror)?,
        contract: raw
            .contract
            .as_ref()
            .map(|c| contract::resolve_contract(source, c))
            .transpose()?
            .unwrap_or_default(),
    })
}

fn resolve_sealos(source: &Source, raw: &RawSealos) -> Result<SealosAxis, InputError> {
    let help = "write sealos versions as \"4.1.3\"";
    let mut releases = parse_list(source, "sealos.versions", &raw.versions, false, |item| {
        parse_at(
            source,
            "sealos.versions",
            item,
            SealosVersion::parse_release,
            help,
        )
    })?;
    releases.sort();
    let latest = parse_at(
        source,
        "sealos.latest",
        &raw.latest,
        SealosVersion::parse_release,
        help,
    )?;
    if !releases.contains(&latest) {
        return Err(source.invalid(
            raw.latest.span(),
            "sealos.latest",
            format!("{latest} is not in `sealos.versions`"),
            "add it to `sealos.versions` or name one of them",
        ));
    }
    let dev = match &raw.dev {
        None => None,
        Some(text) => {
            let SealosVersion::Release(version) =
                parse_at(source, "sealos.dev", text, SealosVersion::parse_release, help)?
            else {
                unreachable!("parse_release returns releases")
            };
            Some(SealosVersion::Dev(version))
        }
    };
    Ok(SealosAxis {
        releases,
        latest,
        dev,
    })
}

fn resolve_images(
    source: &Source,
    raw: &BTreeMap<S<String>, S<String>>,
    cris: &[Cri],
    cris_span: Range<usize>,
) -> Result<BTreeMap<Cri, String>, InputError> {
    let mut images = BTreeMap::new();
    for (cri, name) in raw {
        let cri_value = parse_at(
            source,
            "images",
            cri,
            str::parse::<Cri>,
            "key images by a known CRI",
        )?;
        let valid = !name.get_ref().is_empty()
            && name
                .get_ref()
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'));
        if !valid {
            return Err(source.invalid(
                name.span(),
                format!("images.{}", cri.get_ref()),
                format!("`{}` is not a valid image name", name.get_ref()),
                "use lowercase letters, digits, `-`, `_` and `.`",
            ));
        }
        images.insert(cri_value, name.get_ref().clone());
    }
    for cri in cris {
        if !images.contains_key(cri) {
            return Err(source.invalid(
                cris_span.clone(),
                "images",
                format!("CRI `{cri}` is on the axis but has no image name"),
                format!("add `{cri} = \"...\"` under [images]"),
            ));
        }
    }
    Ok(images)
}

fn resolve_tags(source: &Source, raw: &RawTags, has_dev: bool) -> Result<TagScheme, InputError> {
    let template = |key: &str, value: &S<String>, arch: bool| -> Result<TagTemplate, InputError> {
        let parsed = parse_at(source, key, value, str::parse::<TagTemplate>, "fix the template")?;
        let sample = parsed.render(TagValues {
            kube: "1.24.4",
            sealos: "4.1.3",
            arch: "amd64",
            minor: "1.24",
        });
        let problem = if arch != parsed.uses(Placeholder::Arch) {
            Some(if arch {
                "must contain {arch}: per-arch tags of the two arches would collide"
            } else {
                "must not contain {arch}: it names the multi-arch index"
            })
        } else if sample.parse::<Tag>().is_err() {
            Some("renders to an invalid tag")
        } else {
            None
        };
        match problem {
            Some(problem) => Err(source.invalid(
                value.span(),
                key,
                format!("template `{}` {problem} (e.g. `{sample}`)", value.get_ref()),
                "fix the template",
            )),
            None => Ok(parsed),
        }
    };
    let list = |key: &str, values: &[S<String>], arch: bool| {
        values
            .iter()
            .map(|value| template(key, value, arch))
            .collect::<Result<Vec<_>, _>>()
    };
    let optional = |key: &str, value: &Option<S<String>>, arch: bool| {
        value.as_ref().map(|value| template(key, value, arch)).transpose()
    };
    let scheme = TagScheme {
        arch: template("tags.arch", &raw.arch, true)?,
        index: template("tags.index", &raw.index, false)?,
        latest_arch: list("tags.latest_arch", &raw.latest_arch, true)?,
        latest_index: list("tags.latest_index", &raw.latest_index, false)?,
        dev_arch: optional("tags.dev_arch", &raw.dev_arch, true)?,
        dev_index: optional("tags.dev_index", &raw.dev_index, false)?,
        dev_aliases: list("tags.dev_aliases", &raw.dev_aliases, false)?,
        newest: raw
            .newest
            .iter()
            .map(|(cri, tags)| {
                let cri = parse_at(
                    source,
                    "tags.newest",
                    cri,
                    str::parse::<Cri>,
                    "key by a known CRI",
                )?;
                let tags = tags
                    .iter()
                    .map(|tag| parse_at(source, "tags.newest", tag, str::parse::<Tag>, "write a valid tag"))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((cri, tags))
            })
            .collect::<Result<BTreeMap<_, _>, InputError>>()?,
    };
    if has_dev && (scheme.dev_arch.is_none() || scheme.dev_index.is_none()) {
        return Err(source.invalid(
            raw.arch.span(),
            "tags",
            "`sealos.dev` is set but `tags.dev_arch` or `tags.dev_index` is missing",
            "add both templates, e.g. dev_arch = \"v{minor}-{arch}\", dev_index = \"v{minor}-latest\"",
        ));
    }
    Ok(scheme)
}
