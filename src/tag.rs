//! Tags: the validated `Tag` value, the tag templates of matrix.toml, and
//! the `TagSelector` that commands such as `build` and `explain` accept.

use std::fmt;
use std::str::FromStr;

use regex::Regex;
use thiserror::Error;

use crate::placeholder::{Piece, PlaceholderError, Placeholders};

/// Why a tag, template or selector was rejected.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum TagError {
    /// Not a valid OCI tag.
    #[error(
        "`{0}` is not a valid image tag: tags are 1-128 characters of letters, digits, `_`, `.` and `-`, not starting with `.` or `-`"
    )]
    Invalid(String),
    /// A template names a placeholder that does not exist.
    #[error(
        "tag template `{template}` uses unknown placeholder `{{{name}}}`; use {{kube}}, {{sealos}}, {{arch}} or {{minor}}"
    )]
    UnknownPlaceholder {
        /// The template.
        template: String,
        /// The unknown name.
        name: String,
    },
    /// A template has an unclosed `{`.
    #[error("tag template `{0}` has a `{{` without a closing `}}`")]
    Unclosed(String),
    /// A template must (or must not) contain a placeholder.
    #[error("tag template `{template}` {problem}")]
    Shape {
        /// The template.
        template: String,
        /// What is wrong.
        problem: String,
    },
    /// A selector with nothing in it.
    #[error("empty tag selector; give a tag such as `v1.24.4-4.1.3` or `kubernetes:v1.24.4`")]
    EmptySelector,
}

/// A validated OCI tag such as `v1.24.4-4.1.3-amd64`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tag(String);

impl Tag {
    /// The tag text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Tag {
    type Err = TagError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let valid_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
        let first_ok = input
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        if first_ok && input.len() <= 128 && input.chars().all(valid_char) {
            Ok(Tag(input.to_string()))
        } else {
            Err(TagError::Invalid(input.to_string()))
        }
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl serde::Serialize for Tag {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// A placeholder a tag template may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placeholder {
    /// The Kubernetes version without `v` (`1.24.4`).
    Kube,
    /// The sealos version (`4.1.3`).
    Sealos,
    /// The architecture (`amd64`).
    Arch,
    /// The Kubernetes minor (`1.24`).
    Minor,
}

/// The placeholders a tag template may use.
const TAG_VARS: [&str; 4] = ["kube", "sealos", "arch", "minor"];

impl Placeholder {
    fn name(self) -> &'static str {
        match self {
            Placeholder::Kube => "kube",
            Placeholder::Sealos => "sealos",
            Placeholder::Arch => "arch",
            Placeholder::Minor => "minor",
        }
    }
}

/// A tag template such as `v{kube}-{sealos}-{arch}`, parsed once.
#[derive(Debug, Clone)]
pub struct TagTemplate {
    inner: Placeholders,
}

/// The values a template is rendered with.
#[derive(Debug, Clone, Copy)]
pub struct TagValues<'a> {
    /// Kubernetes version in tag form (`1.24.4`).
    pub kube: &'a str,
    /// Sealos version (`4.1.3`).
    pub sealos: &'a str,
    /// Architecture (`amd64`).
    pub arch: &'a str,
    /// Kubernetes minor (`1.24`).
    pub minor: &'a str,
}

/// Placeholder values read back out of a tag by `TagTemplate::capture`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Captured {
    /// `{kube}`, if the template has it.
    pub kube: Option<String>,
    /// `{sealos}`, if the template has it.
    pub sealos: Option<String>,
    /// `{arch}`, if the template has it.
    pub arch: Option<String>,
    /// `{minor}`, if the template has it.
    pub minor: Option<String>,
}

impl TagTemplate {
    /// The template as written.
    pub fn as_str(&self) -> &str {
        self.inner.as_str()
    }

    /// True if the template uses `placeholder`.
    pub fn uses(&self, placeholder: Placeholder) -> bool {
        self.inner.uses(placeholder.name())
    }

    /// Renders the template. The result is checked by the caller's `Tag`
    /// parse, so a template that yields an invalid tag is caught at load time.
    pub fn render(&self, values: TagValues<'_>) -> String {
        self.inner.fill(&[
            ("kube", values.kube),
            ("sealos", values.sealos),
            ("arch", values.arch),
            ("minor", values.minor),
        ])
    }

    /// Reads placeholder values back out of `tag`, if the tag has this
    /// template's shape. Used to say which axis value an unknown tag asks for.
    pub fn capture(&self, tag: &str) -> Option<Captured> {
        let mut pattern = String::from("^");
        for piece in self.inner.pieces() {
            match piece {
                Piece::Literal(text) => pattern.push_str(&regex::escape(text)),
                Piece::Var(name) => pattern.push_str(match name.as_str() {
                    "kube" => r"(?P<kube>\d+\.\d+\.\d+)",
                    "sealos" => r"(?P<sealos>\d+\.\d+\.\d+(?:-(?:rc|alpha|beta)[0-9.]*)?|latest|dev)",
                    "arch" => r"(?P<arch>[a-z][a-z0-9]*)",
                    _ => r"(?P<minor>\d+\.\d+)",
                }),
            }
        }
        pattern.push('$');
        let regex = Regex::new(&pattern).ok()?;
        let caps = regex.captures(tag)?;
        let get = |name: &str| caps.name(name).map(|m| m.as_str().to_string());
        Some(Captured {
            kube: get("kube"),
            sealos: get("sealos"),
            arch: get("arch"),
            minor: get("minor"),
        })
    }
}

impl FromStr for TagTemplate {
    type Err = TagError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let inner = Placeholders::parse(text, &TAG_VARS).map_err(|error| match error {
            PlaceholderError::Unknown { name, .. } => TagError::UnknownPlaceholder {
                template: text.to_string(),
                name,
            },
            PlaceholderError::Unclosed => TagError::Unclosed(text.to_string()),
        })?;
        Ok(TagTemplate { inner })
    }
}

/// What a user names on the command line to pick cells: a tag in any of
/// its forms, optionally with an image name or full repository in front
/// (`v1.24.4-4.1.3`, `kubernetes:v1.24.4`, `docker.io/labring/kubernetes:v1.24`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagSelector {
    /// The image (repository's last path element), when given.
    pub image: Option<String>,
    /// The tag.
    pub tag: Tag,
}

impl FromStr for TagSelector {
    type Err = TagError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let input = input.trim();
        if input.is_empty() {
            return Err(TagError::EmptySelector);
        }
        match input.rsplit_once(':') {
            Some((repository, tag)) if !tag.contains('/') => {
                let image = repository.rsplit('/').next().unwrap_or(repository);
                if image.is_empty() {
                    return Err(TagError::Invalid(input.to_string()));
                }
                Ok(TagSelector {
                    image: Some(image.to_string()),
                    tag: tag.parse()?,
                })
            }
            _ => Ok(TagSelector {
                image: None,
                tag: input.parse()?,
            }),
        }
    }
}

impl fmt::Display for TagSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.image {
            Some(image) => write!(f, "{image}:{}", self.tag),
            None => write!(f, "{}", self.tag),
        }
    }
}

crate::error::fault!(bad_input: TagError);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_follow_the_oci_grammar() {
        for good in ["v1.24.4-4.1.3-amd64", "latest", "_x", "v1.24-latest"] {
            assert!(good.parse::<Tag>().is_ok(), "{good}");
        }
        let long = "a".repeat(129);
        for bad in ["", "-v1", ".v1", "v1+k3s1", "v1/2", long.as_str()] {
            assert!(bad.parse::<Tag>().is_err(), "{bad}");
        }
    }

    #[test]
    fn templates_render_and_capture() {
        let template: TagTemplate = "v{kube}-{sealos}-{arch}".parse().unwrap();
        let values = TagValues {
            kube: "1.24.4",
            sealos: "4.1.3",
            arch: "amd64",
            minor: "1.24",
        };
        assert_eq!(template.render(values), "v1.24.4-4.1.3-amd64");
        let captured = template.capture("v1.24.4-4.1.3-amd64").unwrap();
        assert_eq!(captured.kube.as_deref(), Some("1.24.4"));
        assert_eq!(captured.sealos.as_deref(), Some("4.1.3"));
        assert_eq!(captured.arch.as_deref(), Some("amd64"));
        assert!(template.capture("v1.24.4-4.1.3").is_none());
        let index: TagTemplate = "v{kube}-{sealos}".parse().unwrap();
        let captured = index.capture("v1.24.4-4.1.0-rc3").unwrap();
        assert_eq!(captured.sealos.as_deref(), Some("4.1.0-rc3"));
    }

    #[test]
    fn bad_templates_are_named() {
        assert!(matches!(
            "v{kubernetes}".parse::<TagTemplate>(),
            Err(TagError::UnknownPlaceholder { .. })
        ));
        assert!(matches!(
            "v{kube".parse::<TagTemplate>(),
            Err(TagError::Unclosed(_))
        ));
    }

    #[test]
    fn selectors_accept_every_form() {
        let table = [
            ("v1.24.4-4.1.3", None, "v1.24.4-4.1.3"),
            ("kubernetes:v1.24.4", Some("kubernetes"), "v1.24.4"),
            (
                "docker.io/labring/kubernetes-docker:v1.24-latest",
                Some("kubernetes-docker"),
                "v1.24-latest",
            ),
            ("localhost:5000/labring/k3s:v1.25", Some("k3s"), "v1.25"),
        ];
        for (input, image, tag) in table {
            let selector: TagSelector = input.parse().expect(input);
            assert_eq!(selector.image.as_deref(), image, "{input}");
            assert_eq!(selector.tag.as_str(), tag, "{input}");
        }
        assert!("".parse::<TagSelector>().is_err());
        assert!("kubernetes:".parse::<TagSelector>().is_err());
    }
}
