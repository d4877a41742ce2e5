//! The image config a recipe asks for: labels, env, cmd and author. Owned
//! here, by the writer of image configs, so every kind of image (rootfs,
//! application, config) describes its metadata the same way.

use std::collections::BTreeMap;

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
    /// The config's `author` (a Kubefile's MAINTAINER).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
}

impl ImageConfig {
    /// The env as OCI config strings (`KEY=value`).
    pub fn env_list(&self) -> Vec<String> {
        self.env
            .iter()
            .map(|(key, value)| format!("{key}={value}"))
            .collect()
    }
}
