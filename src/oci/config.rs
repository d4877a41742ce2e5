//! The image config a recipe asks for: labels, env, cmd and author. Owned
//! here, by the writer of image configs, so every kind of image (rootfs,
//! application, config) describes its metadata the same way.

use std::collections::BTreeMap;

use oci_spec::image::ImageConfiguration;
use serde::Serialize;

/// Labels, env, cmd and author of one image, sorted for reproducible output.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImageConfig {
    /// OCI config labels.
    pub labels: BTreeMap<String, String>,
    /// Environment, `KEY=value` in the OCI config.
    pub env: BTreeMap<String, String>,
    /// CMD elements; each is a whole shell command for sealos.
    pub cmd: Vec<String>,
    /// ENTRYPOINT elements (rare in sealos images).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub entrypoint: Vec<String>,
    /// The config's `author` (a Kubefile's MAINTAINER).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
}

impl ImageConfig {
    /// This config (a base image's) with `over` on top: env and labels
    /// merged key by key, cmd and author replaced when `over` has them.
    pub fn merged_with(&self, over: &ImageConfig) -> ImageConfig {
        let mut merged = self.clone();
        merged.labels.extend(over.labels.clone());
        merged.env.extend(over.env.clone());
        if !over.cmd.is_empty() {
            merged.cmd = over.cmd.clone();
        }
        if !over.entrypoint.is_empty() {
            merged.entrypoint = over.entrypoint.clone();
        }
        if over.author.is_some() {
            merged.author = over.author.clone();
        }
        merged
    }

    /// The parts of an OCI/Docker image config this type keeps.
    pub fn from_oci(document: &ImageConfiguration) -> ImageConfig {
        let config = document.config().clone().unwrap_or_default();
        ImageConfig {
            labels: config.labels().clone().unwrap_or_default().into_iter().collect(),
            env: config
                .env()
                .iter()
                .flatten()
                .filter_map(|pair| pair.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
                .collect(),
            cmd: config.cmd().clone().unwrap_or_default(),
            entrypoint: config.entrypoint().clone().unwrap_or_default(),
            author: document.author().clone(),
        }
    }

    /// The env as OCI config strings (`KEY=value`).
    pub fn env_list(&self) -> Vec<String> {
        self.env
            .iter()
            .map(|(key, value)| format!("{key}={value}"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recipe_config_goes_on_top_of_its_base() {
        let base: ImageConfiguration = serde_json::from_value(serde_json::json!({
            "architecture": "amd64",
            "os": "linux",
            "author": "base maintainer",
            "config": {"Env": ["PATH=/bin", "A=1"], "Labels": {"l": "base"}, "Cmd": ["sh"]},
            "rootfs": {"type": "layers", "diff_ids": []}
        }))
        .unwrap();
        let base = ImageConfig::from_oci(&base);
        assert_eq!(base.env.get("PATH").map(String::as_str), Some("/bin"));
        let mut over = ImageConfig::default();
        over.env.insert("A".into(), "2".into());
        over.labels.insert("m".into(), "app".into());
        let merged = base.merged_with(&over);
        assert_eq!(merged.env_list(), vec!["A=2", "PATH=/bin"]);
        assert_eq!(merged.labels.len(), 2);
        assert_eq!(merged.cmd, vec!["sh"]);
        assert_eq!(merged.author.as_deref(), Some("base maintainer"));
    }
}
