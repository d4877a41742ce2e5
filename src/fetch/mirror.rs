//! Mirrors: rewriting upstream URLs to another base, and mirror trees
//! (`matrix mirror --to DIR`) laid out as `DIR/<host>/<path>` with a
//! `SHA256SUMS` that carries checksums to air-gapped machines.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use crate::config::Mirror;
use crate::digest::Sha256;
use crate::net::SecretUrl;

/// Name of the checksum list at the root of a mirror tree.
pub const SUMS_FILE: &str = "SHA256SUMS";

/// One `--mirror` rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MirrorRule {
    /// `FROM=TO`: URLs starting with FROM start with TO instead.
    Prefix(Mirror),
    /// A mirror tree root (`file:///srv/mirror` or `http://host/mirror`):
    /// `https://host/path` becomes `ROOT/host/path`.
    Tree(SecretUrl),
}

/// A `--mirror` value that is neither `FROM=TO` nor a URL.
#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not a mirror: give a tree root URL (file:///DIR, http://HOST/DIR) or FROM=TO")]
pub struct MirrorError(SecretUrl);

impl FromStr for MirrorRule {
    type Err = MirrorError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let is_url =
            |s: &str| s.starts_with("file:///") || s.starts_with("http://") || s.starts_with("https://");
        match input.split_once('=') {
            Some((from, to)) if is_url(from) && is_url(to) => Ok(MirrorRule::Prefix(Mirror {
                from: from.into(),
                to: to.into(),
            })),
            None if is_url(input) => Ok(MirrorRule::Tree(input.trim_end_matches('/').into())),
            _ => Err(MirrorError(input.into())),
        }
    }
}

impl fmt::Display for MirrorRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MirrorRule::Prefix(mirror) => write!(f, "{}={}", mirror.from, mirror.to),
            MirrorRule::Tree(root) => write!(f, "{root}"),
        }
    }
}

/// The path of an upstream URL inside a mirror tree (`host/path`).
pub fn tree_path(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let rest = rest.rsplit_once('@').map_or(rest, |(_, after)| after);
    let clean = rest.split(['?', '#']).next()?;
    crate::fsutil::RelPath::parse(clean)
        .ok()
        .map(|path| path.to_string())
}

/// Rewrites `url` by the first matching rule (prefix rules, longest first,
/// then the first tree). Unmatched URLs are returned as they are; either
/// way the result still hides its credentials when shown.
pub fn rewrite(rules: &[MirrorRule], url: &SecretUrl) -> SecretUrl {
    let upstream = url.expose();
    let best_prefix = rules
        .iter()
        .filter_map(|rule| match rule {
            MirrorRule::Prefix(mirror) if upstream.starts_with(mirror.from.expose()) => Some(mirror),
            _ => None,
        })
        .max_by_key(|mirror| mirror.from.expose().len());
    if let Some(mirror) = best_prefix {
        let rest = &upstream[mirror.from.expose().len()..];
        return SecretUrl::new(format!("{}{rest}", mirror.to.expose()));
    }
    let tree = rules.iter().find_map(|rule| match rule {
        MirrorRule::Tree(root) => Some(root),
        MirrorRule::Prefix(_) => None,
    });
    match (tree, tree_path(upstream)) {
        (Some(root), Some(path)) => SecretUrl::new(format!("{}/{path}", root.expose())),
        _ => url.clone(),
    }
}

/// Parses `SHA256SUMS`-style text (`<hex>  <name>` lines).
pub fn parse_sums(text: &str) -> BTreeMap<String, Sha256> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.split_whitespace();
            let digest: Sha256 = parts.next()?.parse().ok()?;
            let name = parts.next()?.trim_start_matches('*').to_string();
            Some((name, digest))
        })
        .collect()
}

/// Finds the digest for `file_name` in a checksum file: a `<hex>  <name>`
/// line naming it, or a lone hash when the file holds just one.
pub fn find_checksum(text: &str, file_name: &str) -> Option<Sha256> {
    let named = parse_sums(text);
    if let Some(digest) = named
        .iter()
        .find(|(name, _)| name.rsplit('/').next() == Some(file_name))
        .map(|(_, d)| d.clone())
    {
        return Some(digest);
    }
    let lone: Vec<Sha256> = text
        .lines()
        .filter(|line| line.split_whitespace().count() == 1)
        .filter_map(|line| line.trim().parse().ok())
        .collect();
    match lone.as_slice() {
        [only] if named.is_empty() => Some(only.clone()),
        _ => None,
    }
}

/// Renders sums as `SHA256SUMS` text, sorted by name.
pub fn format_sums(sums: &BTreeMap<String, Sha256>) -> String {
    sums.iter()
        .map(|(name, digest)| format!("{}  {name}\n", digest.hex()))
        .collect()
}

crate::error::fault!(bad_input: MirrorError);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_rewrite_urls() {
        let rules: Vec<MirrorRule> = vec![
            "https://dl.k8s.io/=http://127.0.0.1:1/k8s/".parse().unwrap(),
            "file:///srv/mirror/".parse().unwrap(),
        ];
        assert_eq!(
            rewrite(&rules, &"https://dl.k8s.io/release/x".into()),
            "http://127.0.0.1:1/k8s/release/x"
        );
        assert_eq!(
            rewrite(&rules, &"https://github.com/a/b".into()),
            "file:///srv/mirror/github.com/a/b"
        );
        let secret: MirrorRule = "https://dl.k8s.io/=http://u:p@ss@m/k8s/".parse().unwrap();
        assert_eq!(secret.to_string(), "https://dl.k8s.io/=http://***@m/k8s/");
        let through = rewrite(&[secret], &"https://dl.k8s.io/x".into());
        assert_eq!(through.to_string(), "http://***@m/k8s/x");
        assert_eq!(through.expose(), "http://u:p@ss@m/k8s/x");
        assert!("not a mirror".parse::<MirrorRule>().is_err());
    }

    #[test]
    fn checksum_files_in_both_shapes() {
        let hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert!(find_checksum(&format!("{hex}\n"), "kubeadm").is_some());
        let multi = format!("{hex}  runc.amd64\n{}  runc.arm64\n", "0".repeat(64));
        assert_eq!(find_checksum(&multi, "runc.arm64").unwrap().hex(), "0".repeat(64));
        assert!(find_checksum(&multi, "runc.s390x").is_none());
        assert!(tree_path("https://h/../x").is_none());
    }
}
