//! `REGISTRY/NAMESPACE` targets of push and diff.

use std::fmt;
use std::str::FromStr;

/// A registry host and the namespace images live under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Host (`docker.io`, `127.0.0.1:5000`).
    pub host: String,
    /// Namespace (`labring`), possibly empty.
    pub namespace: String,
}

impl Target {
    /// The repository of an image (`labring/kubernetes`).
    pub fn repository(&self, image: &str) -> String {
        if self.namespace.is_empty() {
            image.to_string()
        } else {
            format!("{}/{image}", self.namespace)
        }
    }

    /// The host the API is on.
    pub fn api_host(&self) -> &str {
        if self.host == "docker.io" {
            "registry-1.docker.io"
        } else {
            &self.host
        }
    }
}

/// Why a `REGISTRY/NAMESPACE` target was refused (never echoing
/// credentials).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// Empty, or a URL with a scheme.
    #[error("`{0}` is not REGISTRY/NAMESPACE (e.g. docker.io/labring, 127.0.0.1:5000/labring)")]
    Shape(crate::net::SecretUrl),
    /// The host part holds `user:pw@`; only what follows `@` is repeated.
    #[error(
        "a registry target cannot carry credentials (`...@{0}`)\n  help: pass them with --creds USER:PASSWORD, MATRIX_REGISTRY_CREDS, or an auth file (REGISTRY_AUTH_FILE, ~/.docker/config.json)"
    )]
    Credentials(String),
    /// Not a host name.
    #[error("`{0}` is not a registry host (e.g. docker.io, 127.0.0.1:5000)")]
    Host(crate::net::SecretUrl),
}

impl FromStr for Target {
    type Err = TargetError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim().trim_end_matches('/');
        if text.is_empty() || text.contains("://") {
            return Err(TargetError::Shape(text.into()));
        }
        let (host, namespace) = text.split_once('/').unwrap_or((text, ""));
        if let Some((_, bare)) = host.rsplit_once('@') {
            // The text holds a password: never echo it.
            return Err(TargetError::Credentials(bare.to_string()));
        }
        if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c == '?' || c == '#') {
            return Err(TargetError::Host(host.into()));
        }
        Ok(Target {
            host: host.to_string(),
            namespace: namespace.to_string(),
        })
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            f.write_str(&self.host)
        } else {
            write!(f, "{}/{}", self.host, self.namespace)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_a_target_are_refused_without_echoing_them() {
        let error = "user:hunter2@registry.example/ns"
            .parse::<Target>()
            .unwrap_err()
            .to_string();
        assert!(!error.contains("hunter2"), "{error}");
        assert!(error.contains("--creds"), "{error}");
        let target: Target = "127.0.0.1:5000/labring".parse().unwrap();
        assert_eq!(target.repository("kubernetes"), "labring/kubernetes");
    }
}
