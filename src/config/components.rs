//! `[[component]]` and `[[mirror]]`: which binaries a cell needs, at which
//! version, from which URL, with which checksum, and where they land.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{Condition, RawCondition, S, resolve_condition};
use crate::cell::Cell;
use crate::fsutil::RelPath;
use crate::placeholder::{PlaceholderError, Placeholders};
use crate::source::{InputError, Source};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawVersionRule {
    #[serde(default)]
    when: RawCondition,
    value: S<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawComponent {
    name: S<String>,
    #[serde(default)]
    when: RawCondition,
    #[serde(default)]
    version: Option<S<String>>,
    #[serde(default)]
    versions: Vec<RawVersionRule>,
    #[serde(default)]
    url: Option<S<String>>,
    #[serde(default)]
    image: Option<S<String>>,
    #[serde(default)]
    checksum: Option<S<String>>,
    #[serde(default)]
    to: Option<S<String>>,
    #[serde(default)]
    exec: bool,
    #[serde(default)]
    files: BTreeMap<String, S<String>>,
    #[serde(default)]
    members: Vec<String>,
    #[serde(default)]
    layer: Option<String>,
    #[serde(default)]
    image_list: bool,
    #[serde(default)]
    newest: Option<String>,
    #[serde(default)]
    pack: Option<S<String>>,
    #[serde(default)]
    license: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMirror {
    from: S<String>,
    to: S<String>,
}

/// Placeholders of version templates (`release` is the Kubernetes version
/// as upstream names it, build part included: `1.28.1+k3s1`).
const VERSION_VARS: &[&str] = &["kube", "release", "minor", "sealos", "cri"];
/// Placeholders of URL templates (and checksum URLs, which add `url`).
const URL_VARS: &[&str] = &[
    "version",
    "arch",
    "uname_arch",
    "name",
    "kube",
    "minor",
    "sealos",
    "cri",
];

/// A string with `{var}` placeholders, checked against a known set at load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(Placeholders);

impl Template {
    fn parse(source: &Source, key: &str, value: &S<String>, allowed: &[&str]) -> Result<Self, InputError> {
        Placeholders::parse(value.get_ref(), allowed)
            .map(Template)
            .map_err(|error| {
                let help = match &error {
                    PlaceholderError::Unknown { allowed, .. } => format!("use one of: {allowed}"),
                    PlaceholderError::Unclosed => "close the placeholder".to_string(),
                };
                source.invalid(value.span(), key, error.to_string(), help)
            })
    }

    /// Fills the placeholders from `vars` (every one was checked at load).
    pub fn fill(&self, vars: &[(&str, &str)]) -> String {
        self.0.fill(vars)
    }
}

/// Where a component's download goes in the context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// The file as downloaded, at this path.
    File {
        /// Context path.
        to: String,
        /// Executable (0o755) or not (0o644).
        exec: bool,
        /// Archive members the file must contain (checked, and used for stand-ins).
        members: Vec<String>,
        /// Members also extracted, member path -> context path (labring's
        /// library bundle ships whole and gives bin/conntrack).
        extract: BTreeMap<String, String>,
    },
    /// Members extracted from a tar.gz, member path -> context path.
    Extract(BTreeMap<String, String>),
    /// A text list of images that becomes the cell's image list
    /// (k3s's `k3s-images.txt`); nothing lands in the context.
    ImageList,
}

/// A binary a cell needs.
#[derive(Debug, Clone)]
pub struct Component {
    /// Name (`kubeadm`).
    pub name: String,
    /// Which cells need it.
    pub when: Condition,
    versions: Vec<(Condition, Template)>,
    /// Download URL template (a downloaded component).
    pub url: Option<Template>,
    /// Image reference template (a component taken out of an image's
    /// layers, `ghcr.io/labring/sealos-patch:latest-{arch}`); its `files`
    /// name paths inside the image.
    pub image: Option<Template>,
    /// Checksum file URL template (`{url}.sha256`), if upstream publishes one.
    pub checksum: Option<Template>,
    /// Where it lands.
    pub placement: Placement,
    /// The image layer it goes into (components sharing one share a layer).
    pub layer: String,
    /// A project whose newest release per Kubernetes minor the lock lists
    /// (`[newest.cri-tools]`); that release wins over `versions`.
    pub newest: Option<String>,
    /// The archive the component's files go into instead of the context
    /// (`cri/cri-containerd.tar.gz`); its placement paths are member paths.
    pub pack: Option<String>,
    /// Its upstream license, an SPDX expression (the SBOM's
    /// `licenseDeclared`; NOASSERTION without one).
    pub license: Option<String>,
}

impl Component {
    /// The version for `cell`: the lock's newest release of the minor when
    /// the component follows one, else the first matching rule; `None` if
    /// neither gives one.
    pub fn version(&self, cell: &Cell, lock: &crate::lock::Lock) -> Option<String> {
        if let Some(found) = self
            .newest
            .as_deref()
            .and_then(|project| lock.newest(project, cell.kube.minor()))
        {
            return Some(found.to_string());
        }
        let kube = cell.kube.tag_form();
        let release = cell.kube.semver().to_string();
        let minor = cell.kube.minor().to_string();
        let sealos = cell.sealos.compare_as().to_string();
        let vars = [
            ("kube", kube.as_str()),
            ("release", release.as_str()),
            ("minor", minor.as_str()),
            ("sealos", sealos.as_str()),
            ("cri", cell.cri.as_str()),
        ];
        self.versions
            .iter()
            .find(|(when, _)| when.matches(cell))
            .map(|(_, template)| template.fill(&vars))
    }
}

/// A URL prefix served from somewhere else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirror {
    /// Upstream prefix (`https://dl.k8s.io/`).
    pub from: crate::net::SecretUrl,
    /// Replacement base (`https://mirror.local/k8s/` or `file:///srv/mirror/`);
    /// may carry credentials, shown redacted.
    pub to: crate::net::SecretUrl,
}

fn context_path(source: &Source, key: &str, value: &S<String>) -> Result<String, InputError> {
    super::relative_path(source, key, value, "bin/kubeadm")
}

pub(super) fn resolve_components(
    source: &Source,
    raw: &[RawComponent],
) -> Result<Vec<Component>, InputError> {
    let mut seen = std::collections::BTreeSet::new();
    raw.iter()
        .enumerate()
        .map(|(index, item)| {
            let key = format!("component[{index}]");
            if !seen.insert(item.name.get_ref().clone()) {
                return Err(source.invalid(
                    item.name.span(),
                    format!("{key}.name"),
                    format!("component `{}` is declared twice", item.name.get_ref()),
                    "give each component its own name",
                ));
            }
            resolve_component(source, &key, item)
        })
        .collect()
}

/// One `[[component]]`, checked: exactly one version form, exactly one
/// source (a download or an image), and a placement that fits the source.
fn resolve_component(source: &Source, key: &str, item: &RawComponent) -> Result<Component, InputError> {
    let versions = resolve_versions(source, key, item)?;
    check_source(source, key, item)?;
    let pack = item
        .pack
        .as_ref()
        .map(|p| context_path(source, &format!("{key}.pack"), p))
        .transpose()?;
    if pack.is_some() && item.image_list {
        return Err(source.invalid(
            item.name.span(),
            key,
            "an image list cannot go into a packed archive",
            "drop `pack` or `image_list`",
        ));
    }
    let mut placement = resolve_placement(source, key, item)?;
    if let Some(pack) = &pack {
        placement.move_under(pack);
    }
    let template = |name: &str, value: &Option<S<String>>, vars: &[&str]| {
        value
            .as_ref()
            .map(|value| Template::parse(source, &format!("{key}.{name}"), value, vars))
            .transpose()
    };
    if let Some(license) = &item.license {
        super::license::check(license.get_ref()).map_err(|problem| {
            source.invalid(
                license.span(),
                format!("{key}.license"),
                format!("`{}` is not an SPDX license expression: {problem}", license.get_ref()),
                "write an SPDX id or expression, e.g. `license = \"Apache-2.0\"` or `\"LGPL-2.1-only AND GPL-2.0-or-later\"`",
            )
        })?;
    }
    let mut checksum_vars = URL_VARS.to_vec();
    checksum_vars.push("url");
    Ok(Component {
        name: item.name.get_ref().clone(),
        newest: item.newest.clone(),
        pack,
        when: resolve_condition(source, key, &item.when)?,
        versions,
        url: template("url", &item.url, URL_VARS)?,
        image: template("image", &item.image, URL_VARS)?,
        checksum: template("checksum", &item.checksum, &checksum_vars)?,
        placement,
        layer: item.layer.clone().unwrap_or_else(|| item.name.get_ref().clone()),
        license: item.license.as_ref().map(|l| l.get_ref().clone()),
    })
}

/// `version` (one template) or `versions` (first-match rules), not both.
fn resolve_versions(
    source: &Source,
    key: &str,
    item: &RawComponent,
) -> Result<Vec<(Condition, Template)>, InputError> {
    match (&item.version, item.versions.is_empty()) {
        (Some(text), true) => Ok(vec![(
            Condition::default(),
            Template::parse(source, &format!("{key}.version"), text, VERSION_VARS)?,
        )]),
        (None, false) => item
            .versions
            .iter()
            .map(|rule| {
                Ok((
                    resolve_condition(source, key, &rule.when)?,
                    Template::parse(source, &format!("{key}.versions"), &rule.value, VERSION_VARS)?,
                ))
            })
            .collect(),
        _ => Err(source.invalid(
            item.name.span(),
            key,
            "a component needs exactly one of `version` (a template) or `versions` (first-match rules)",
            "write `version = \"{kube}\"` or `versions = [{ when = { kube = \"<1.26\" }, value = \"1.6.36\" }, { value = \"1.7.27\" }]`",
        )),
    }
}

/// `url` (a download) or `image` (files out of an image), not both; a
/// component from an image names its files only.
fn check_source(source: &Source, key: &str, item: &RawComponent) -> Result<(), InputError> {
    let from_image = match (&item.url, &item.image) {
        (Some(_), None) => false,
        (None, Some(_)) => true,
        _ => {
            return Err(source.invalid(
                item.name.span(),
                key,
                "a component needs exactly one of `url` (a download) or `image` (files out of an image)",
                "write `url = \"https://...\"` or `image = \"ghcr.io/labring/sealos-patch:latest-{arch}\"`",
            ));
        }
    };
    let download_only =
        item.to.is_some() || item.checksum.is_some() || item.pack.is_some() || item.image_list;
    if from_image && (download_only || item.files.is_empty()) {
        return Err(source.invalid(
            item.name.span(),
            key,
            "a component taken from an image names its files only (`files = { \"path/in/image\" = \"path/in/context\" }`)",
            "drop `to`, `checksum`, `pack` and `image_list`, and list the files",
        ));
    }
    Ok(())
}

/// `files`: member path -> context path, both relative and inside.
fn resolve_files(
    source: &Source,
    key: &str,
    item: &RawComponent,
) -> Result<BTreeMap<String, String>, InputError> {
    item.files
        .iter()
        .map(|(member, to)| {
            // The member is read out of the unpacked archive: it must stay
            // inside it too.
            RelPath::parse(member).map_err(|reason| {
                source.invalid(
                    to.span(),
                    format!("{key}.files"),
                    format!("member `{member}` is not a relative path inside the archive: {reason}"),
                    "name the member as the archive stores it, e.g. \"crictl\" or \"bin/runc\"",
                )
            })?;
            Ok((member.clone(), context_path(source, &format!("{key}.files"), to)?))
        })
        .collect()
}

/// Where the download lands: `to` (the file as is, maybe with members
/// extracted too), `files` alone, or `image_list = true`.
fn resolve_placement(source: &Source, key: &str, item: &RawComponent) -> Result<Placement, InputError> {
    let files = resolve_files(source, key, item)?;
    match (&item.to, files.is_empty()) {
        (None, true) if item.image_list => Ok(Placement::ImageList),
        (Some(to), _) if !item.image_list => Ok(Placement::File {
            to: context_path(source, &format!("{key}.to"), to)?,
            exec: item.exec,
            members: item
                .members
                .iter()
                .chain(files.keys())
                .cloned()
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect(),
            extract: files,
        }),
        (None, false) if !item.image_list => Ok(Placement::Extract(files)),
        _ => Err(source.invalid(
            item.name.span(),
            key,
            "a component needs `to` (the file as is), `files` (members to extract), both, or `image_list = true` (the cell's image list)",
            "write `to = \"bin/kubeadm\"`, `files = { crictl = \"bin/crictl\" }` or `image_list = true`",
        )),
    }
}

impl Placement {
    /// Stages the files under a packed archive's path (`fetch::pack_all`
    /// packs them after placement).
    fn move_under(&mut self, pack: &str) {
        let under = |to: &mut String| *to = format!("{pack}/{to}");
        match self {
            Placement::File { to, extract, .. } => {
                under(to);
                extract.values_mut().for_each(under);
            }
            Placement::Extract(files) => files.values_mut().for_each(under),
            Placement::ImageList => {}
        }
    }
}

pub(super) fn resolve_mirrors(source: &Source, raw: &[RawMirror]) -> Result<Vec<Mirror>, InputError> {
    raw.iter()
        .map(|mirror| {
            for (name, value) in [("from", &mirror.from), ("to", &mirror.to)] {
                let text = value.get_ref();
                if !(text.starts_with("https://")
                    || text.starts_with("http://")
                    || text.starts_with("file:///"))
                {
                    return Err(source.invalid(
                        value.span(),
                        format!("mirror.{name}"),
                        format!(
                            "`{}` is not an http(s):// or file:/// URL",
                            crate::net::SecretUrl::from(text.as_str())
                        ),
                        "write e.g. \"https://dl.k8s.io/\" or \"file:///srv/mirror/\"",
                    ));
                }
            }
            Ok(Mirror {
                from: mirror.from.get_ref().as_str().into(),
                to: mirror.to.get_ref().as_str().into(),
            })
        })
        .collect()
}
