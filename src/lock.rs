//! `matrix.lock`: facts the planner needs that change upstream over time
//! (known Kubernetes patch releases), kept as data that a command refreshes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::source::{InputError, Source};
use crate::version::{KubeMinor, KubeVersion};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLock {
    #[serde(default)]
    kube: BTreeMap<Spanned<String>, Vec<u64>>,
}

/// The loaded lock.
#[derive(Debug, Clone, Default)]
pub struct Lock {
    /// Where it was read from.
    pub path: PathBuf,
    /// Known patch numbers per minor, ascending.
    kube: BTreeMap<KubeMinor, Vec<u64>>,
}

impl Lock {
    /// Reads and checks a lock file.
    pub fn load(path: &Path) -> Result<Lock, InputError> {
        let source = Source::read(path)?;
        let raw: RawLock = source.parse("the lock lists `\"1.24\" = [0, 1, ...]` under [kube]")?;
        let mut kube = BTreeMap::new();
        for (minor, patches) in raw.kube {
            let parsed: KubeMinor =
                minor
                    .get_ref()
                    .parse()
                    .map_err(|error: crate::version::VersionError| {
                        source.invalid(minor.span(), "kube", error.to_string(), "key minors as \"1.24\"")
                    })?;
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
        Ok(Lock {
            path: path.to_path_buf(),
            kube,
        })
    }

    /// Known patch numbers of `minor`, ascending (empty if none are known).
    pub fn patches(&self, minor: KubeMinor) -> &[u64] {
        self.kube.get(&minor).map_or(&[], Vec::as_slice)
    }

    /// Every known version, ascending.
    pub fn versions(&self) -> impl Iterator<Item = KubeVersion> + '_ {
        self.kube
            .iter()
            .flat_map(|(minor, patches)| patches.iter().map(|patch| minor.patch(*patch)))
    }
}
