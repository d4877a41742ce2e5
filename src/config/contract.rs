//! `[contract]`: what a built rootfs image must hold for sealos and its
//! scripts (labring's image contract), checked by `matrix verify`. The
//! files and keys per CRI add to the common ones.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{S, parse_at, relative_path};
use crate::axis::Cri;
use crate::source::{InputError, Source};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawContractPart {
    #[serde(default)]
    files: Vec<S<String>>,
    #[serde(default)]
    labels: Vec<String>,
    #[serde(default)]
    env: Vec<String>,
    #[serde(default)]
    absent_env: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawContract {
    #[serde(default)]
    common: RawContractPart,
    #[serde(default)]
    cri: BTreeMap<S<String>, RawContractPart>,
}

/// The files, label keys and env keys an image must (or must not) carry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContractPart {
    /// Paths that must be regular files in the image.
    pub files: Vec<String>,
    /// Label keys that must be set.
    pub labels: Vec<String>,
    /// Env keys that must be set.
    pub env: Vec<String>,
    /// Env keys that must not be set (`disableApparmor` outside containerd).
    pub absent_env: Vec<String>,
}

/// The whole contract: common, then per CRI.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contract {
    /// What every rootfs image holds.
    pub common: ContractPart,
    /// What each CRI's images add.
    pub cri: BTreeMap<Cri, ContractPart>,
}

impl Contract {
    /// The contract of one CRI's images: common plus its own.
    pub fn for_cri(&self, cri: Cri) -> ContractPart {
        let mut part = self.common.clone();
        if let Some(own) = self.cri.get(&cri) {
            part.files.extend(own.files.iter().cloned());
            part.labels.extend(own.labels.iter().cloned());
            part.env.extend(own.env.iter().cloned());
            part.absent_env.extend(own.absent_env.iter().cloned());
        }
        part
    }
}

fn resolve_part(source: &Source, key: &str, raw: &RawContractPart) -> Result<ContractPart, InputError> {
    Ok(ContractPart {
        files: raw
            .files
            .iter()
            .map(|file| relative_path(source, &format!("{key}.files"), file, "etc/registry.yml.tmpl"))
            .collect::<Result<_, _>>()?,
        labels: raw.labels.clone(),
        env: raw.env.clone(),
        absent_env: raw.absent_env.clone(),
    })
}

pub(super) fn resolve_contract(source: &Source, raw: &RawContract) -> Result<Contract, InputError> {
    let mut cri = BTreeMap::new();
    for (name, part) in &raw.cri {
        let parsed = parse_at(
            source,
            "contract.cri",
            name,
            str::parse::<Cri>,
            "key by a known CRI",
        )?;
        cri.insert(
            parsed,
            resolve_part(source, &format!("contract.cri.{parsed}"), part)?,
        );
    }
    Ok(Contract {
        common: resolve_part(source, "contract.common", &raw.common)?,
        cri,
    })
}
