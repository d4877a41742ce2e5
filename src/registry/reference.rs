//! Image references (`registry.k8s.io/pause:3.9`, `nginx`,
//! `127.0.0.1:5000/labring/kubernetes:v1.24.4`), normalised the way docker
//! and containers/image do.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// A reference that does not parse.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("`{0}` is not an image reference (e.g. registry.k8s.io/pause:3.9)")]
pub struct ReferenceError(pub crate::net::SecretUrl);

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ImageRef {
    /// Registry host (`docker.io`, `127.0.0.1:5000`).
    pub registry: String,
    /// Repository path (`library/nginx`, `pause`, `coredns/coredns`).
    pub repository: String,
    /// Tag, or a digest (`sha256:...`).
    pub reference: String,
}

impl ImageRef {
    /// The host to talk to (Docker Hub's API lives elsewhere).
    pub fn api_host(&self) -> &str {
        if self.registry == "docker.io" {
            "registry-1.docker.io"
        } else {
            &self.registry
        }
    }

    /// `repository:tag` (or `repository@digest`), without the host: the
    /// name a node-local registry serves it under.
    pub fn local_name(&self) -> String {
        if self.reference.starts_with("sha256:") {
            format!("{}@{}", self.repository, self.reference)
        } else {
            format!("{}:{}", self.repository, self.reference)
        }
    }
}

impl FromStr for ImageRef {
    type Err = ReferenceError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let error = || ReferenceError(input.into());
        let text = input.trim();
        if text.is_empty() || text.contains(char::is_whitespace) || text.contains("://") {
            return Err(error());
        }
        let (name, reference) = if let Some((name, digest)) = text.split_once('@') {
            (name, digest.to_string())
        } else {
            match text.rsplit_once(':') {
                Some((name, tag)) if !tag.contains('/') => (name, tag.to_string()),
                _ => (text, "latest".to_string()),
            }
        };
        let (registry, repository) = match name.split_once('/') {
            Some((first, rest)) if first.contains('.') || first.contains(':') || first == "localhost" => {
                (first.to_string(), rest.to_string())
            }
            _ => ("docker.io".to_string(), name.to_string()),
        };
        let repository = if registry == "docker.io" && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        let valid_repo = !repository.is_empty()
            && repository.split('/').all(|part| {
                !part.is_empty()
                    && part
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
            });
        if !valid_repo || reference.is_empty() {
            return Err(error());
        }
        Ok(ImageRef {
            registry,
            repository,
            reference,
        })
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let separator = if self.reference.starts_with("sha256:") {
            '@'
        } else {
            ':'
        };
        write!(
            f,
            "{}/{}{separator}{}",
            self.registry, self.repository, self.reference
        )
    }
}

/// `FROM=TO` for images: references under FROM are pulled from TO
/// (`registry.k8s.io=127.0.0.1:5000/k8s`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageMirror {
    /// Prefix of `registry/repository` to replace.
    pub from: String,
    /// What replaces it.
    pub to: String,
}

/// Why an `--image-mirror` value was refused (never echoing credentials).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageMirrorError {
    /// The text holds `user:pw@`; it is not repeated.
    #[error(
        "an image mirror cannot carry credentials (`user:pw@`)\n  help: pass them with --creds, MATRIX_REGISTRY_CREDS or an auth file"
    )]
    Credentials,
    /// Not `FROM=TO`.
    #[error("`{0}` is not FROM=TO (e.g. registry.k8s.io=127.0.0.1:5000/k8s)")]
    Shape(String),
}

impl FromStr for ImageMirror {
    type Err = ImageMirrorError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.contains('@') {
            // The text may hold a password: never echo it.
            return Err(ImageMirrorError::Credentials);
        }
        match text.split_once('=') {
            Some((from, to)) if !from.is_empty() && !to.is_empty() => Ok(ImageMirror {
                from: from.trim_end_matches('/').to_string(),
                to: to.trim_end_matches('/').to_string(),
            }),
            _ => Err(ImageMirrorError::Shape(text.to_string())),
        }
    }
}

/// Where to pull `image` from, after the first matching mirror.
pub fn pull_source(image: &ImageRef, mirrors: &[ImageMirror]) -> ImageRef {
    let full = format!("{}/{}", image.registry, image.repository);
    for mirror in mirrors {
        let matches = full == mirror.from || full.starts_with(&format!("{}/", mirror.from));
        if matches {
            let rest = &full[mirror.from.len()..];
            let rewritten = format!("{}{rest}", mirror.to);
            if let Some((registry, repository)) = rewritten.split_once('/') {
                return ImageRef {
                    registry: registry.to_string(),
                    repository: repository.to_string(),
                    reference: image.reference.clone(),
                };
            }
        }
    }
    image.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_like_docker() {
        let table = [
            (
                "nginx",
                "docker.io",
                "library/nginx",
                "latest",
                "library/nginx:latest",
            ),
            (
                "registry.k8s.io/pause:3.9",
                "registry.k8s.io",
                "pause",
                "3.9",
                "pause:3.9",
            ),
            (
                "registry.k8s.io/coredns/coredns:v1.8.6",
                "registry.k8s.io",
                "coredns/coredns",
                "v1.8.6",
                "coredns/coredns:v1.8.6",
            ),
            (
                "localhost:5000/a/b",
                "localhost:5000",
                "a/b",
                "latest",
                "a/b:latest",
            ),
            (
                "labring/lvscare:v4.1.3",
                "docker.io",
                "labring/lvscare",
                "v4.1.3",
                "labring/lvscare:v4.1.3",
            ),
        ];
        for (input, registry, repository, reference, local) in table {
            let parsed: ImageRef = input.parse().unwrap();
            assert_eq!(parsed.registry, registry, "{input}");
            assert_eq!(parsed.repository, repository, "{input}");
            assert_eq!(parsed.reference, reference, "{input}");
            assert_eq!(parsed.local_name(), local, "{input}");
        }
        for bad in ["", "UPPER/case", "a b", "http://x/y"] {
            assert!(bad.parse::<ImageRef>().is_err(), "{bad}");
        }
    }

    #[test]
    fn mirrors_rewrite_prefixes() {
        let mirrors = vec![
            "registry.k8s.io=127.0.0.1:5000/k8s"
                .parse::<ImageMirror>()
                .unwrap(),
        ];
        let image: ImageRef = "registry.k8s.io/coredns/coredns:v1.8.6".parse().unwrap();
        let source = pull_source(&image, &mirrors);
        assert_eq!(source.to_string(), "127.0.0.1:5000/k8s/coredns/coredns:v1.8.6");
        let other: ImageRef = "ghcr.io/labring/lvscare:v4.1.3".parse().unwrap();
        assert_eq!(pull_source(&other, &mirrors), other);
    }
}
