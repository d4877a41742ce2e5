//! Image metadata sealos reads (labels, env, cmd), kept as structured data
//! for the image writer and printed as a Kubefile for people and buildah.

use std::collections::BTreeMap;

pub use crate::oci::ImageConfig as ImageMeta;

/// Prints image metadata as a Kubefile (for people and buildah).
pub trait Kubefile {
    /// A `FROM scratch` Kubefile with the same labels, env and cmd.
    fn kubefile(&self) -> String;
}

impl Kubefile for ImageMeta {
    /// A `FROM scratch` Kubefile with the same labels, env and cmd.
    ///
    /// `$` is escaped so a Dockerfile-compatible builder keeps `$registryData`
    /// for sealos to expand at run time instead of substituting it.
    fn kubefile(&self) -> String {
        let mut out = String::from("FROM scratch\n");
        if let Some(author) = &self.author {
            out.push_str(&format!("MAINTAINER {}\n", json_string(author)));
        }
        let block = |keyword: &str, items: &BTreeMap<String, String>| -> String {
            let lines: Vec<String> = items
                .iter()
                .map(|(key, value)| format!("{}={}", quote_key(key), quote(value)))
                .collect();
            if lines.is_empty() {
                return String::new();
            }
            let indent = " ".repeat(keyword.len() + 1);
            format!("{keyword} {}\n", lines.join(&format!(" \\\n{indent}")))
        };
        out.push_str(&block("LABEL", &self.labels));
        out.push_str(&block("ENV", &self.env));
        out.push_str("COPY . .\n");
        if !self.cmd.is_empty() {
            let items: Vec<String> = self.cmd.iter().map(|c| json_string(c)).collect();
            out.push_str(&format!("CMD [{}]\n", items.join(", ")));
        }
        out
    }
}

fn quote_key(key: &str) -> String {
    if key
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    {
        key.to_string()
    } else {
        quote(key)
    }
}

fn quote(value: &str) -> String {
    let escaped = value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('$', "\\$");
    format!("\"{escaped}\"")
}

fn json_string(value: &str) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| format!("\"{value}\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubefile_escapes_runtime_variables() {
        let mut meta = ImageMeta::default();
        meta.labels
            .insert("check".into(), "check.sh $registryData".into());
        meta.env.insert("criData".into(), "/var/lib/containerd".into());
        let text = meta.kubefile();
        assert_eq!(
            text,
            "FROM scratch\nLABEL check=\"check.sh \\$registryData\"\nENV criData=\"/var/lib/containerd\"\nCOPY . .\n"
        );
    }
}
