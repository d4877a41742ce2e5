//! Issue-comment commands of the ChatOps workflow: `/imagebuild_apps NAME
//! VERSION` and `/imagebuild_configs NAME VERSION`. The comment is hostile
//! input: only `[A-Za-z0-9._-]` names and versions pass, never `.` or `..`
//! or a leading `-`, so they are safe as folder names and as shell words.

use serde::Serialize;
use thiserror::Error;

/// What to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// `applications/<name>/<version>`.
    Apps,
    /// `config/<name>/<version>`.
    Configs,
}

/// A parsed command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Command {
    /// Apps or configs.
    pub kind: Kind,
    /// The application or config name.
    pub name: String,
    /// Its version folder.
    pub version: String,
}

/// Why a comment is not a command to run.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ChatopsError {
    /// No line starts with a known command.
    #[error("no /imagebuild_apps or /imagebuild_configs command in the comment")]
    NoCommand,
    /// The command lacks its arguments, or has too many.
    #[error("line {line}: write `/{command} NAME VERSION` (got {got} words after the command)")]
    Arguments {
        /// 1-based line.
        line: usize,
        /// The command.
        command: String,
        /// How many words followed it.
        got: usize,
    },
    /// A name or version has characters outside `[A-Za-z0-9._-]`.
    #[error(
        "line {line}: the {what} {value:?} may only hold letters, digits, `.`, `_` and `-`, not start with `.` or `-`, and be at most 128 characters"
    )]
    Unsafe {
        /// 1-based line.
        line: usize,
        /// `name` or `version`.
        what: &'static str,
        /// The value, escaped.
        value: String,
    },
    /// The issue is about another application.
    #[error(
        "the issue title names {title:?}, the command names {name:?}: comment on the issue of that application"
    )]
    Title {
        /// The name in the title.
        title: String,
        /// The name in the command.
        name: String,
    },
}

/// The prefix of an auto-build issue's title.
pub const TITLE_PREFIX: &str = "【Auto-build】";

fn safe(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 128
        && !value.starts_with(['.', '-'])
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// Parses the first command line of `body`. With `title` (the issue's),
/// an `【Auto-build】NAME` title must name the same application.
pub fn parse(body: &str, title: Option<&str>) -> Result<Command, ChatopsError> {
    for (index, line) in body.lines().enumerate() {
        let mut words = line.split_whitespace();
        let kind = match words.next() {
            Some("/imagebuild_apps") => Kind::Apps,
            Some("/imagebuild_configs") => Kind::Configs,
            _ => continue,
        };
        let command = line
            .split_whitespace()
            .next()
            .unwrap_or("")
            .trim_start_matches('/')
            .to_string();
        let rest: Vec<&str> = words.collect();
        let [name, version] = rest.as_slice() else {
            return Err(ChatopsError::Arguments {
                line: index + 1,
                command,
                got: rest.len(),
            });
        };
        for (what, value) in [("name", name), ("version", version)] {
            if !safe(value) {
                return Err(ChatopsError::Unsafe {
                    line: index + 1,
                    what,
                    value: value.escape_default().to_string(),
                });
            }
        }
        if let Some(named) = title.and_then(|t| t.trim().strip_prefix(TITLE_PREFIX)) {
            let named = named.trim();
            if named != *name {
                return Err(ChatopsError::Title {
                    title: named.escape_default().to_string(),
                    name: name.to_string(),
                });
            }
        }
        return Ok(Command {
            kind,
            name: name.to_string(),
            version: version.to_string(),
        });
    }
    Err(ChatopsError::NoCommand)
}

crate::error::fault!(bad_input: ChatopsError);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse_and_hostile_ones_are_refused() {
        let ok = parse(
            "thanks!\r\n/imagebuild_apps  cert-manager v1.14.4 \n",
            Some("【Auto-build】cert-manager"),
        )
        .unwrap();
        assert_eq!(
            ok,
            Command {
                kind: Kind::Apps,
                name: "cert-manager".into(),
                version: "v1.14.4".into()
            }
        );
        assert_eq!(
            parse("/imagebuild_configs calico-config 3.26.1", None)
                .unwrap()
                .kind,
            Kind::Configs
        );
        for bad in [
            "/imagebuild_apps ../etc v1",
            "/imagebuild_apps .. v1",
            "/imagebuild_apps app $(id)",
            "/imagebuild_apps app v1;rm",
            "/imagebuild_apps app `x`",
            "/imagebuild_apps -rf v1",
            "/imagebuild_apps app v1\u{202e}",
        ] {
            assert!(
                matches!(parse(bad, None), Err(ChatopsError::Unsafe { .. })),
                "{bad}"
            );
        }
        assert!(matches!(
            parse("/imagebuild_apps app", None),
            Err(ChatopsError::Arguments { got: 1, .. })
        ));
        assert!(matches!(
            parse("/imagebuild_apps a b c", None),
            Err(ChatopsError::Arguments { got: 3, .. })
        ));
        assert_eq!(parse("please build", None), Err(ChatopsError::NoCommand));
        assert!(matches!(
            parse("/imagebuild_apps other v1", Some("【Auto-build】cert-manager")),
            Err(ChatopsError::Title { .. })
        ));
        let long = format!("/imagebuild_apps {} v1", "a".repeat(129));
        assert!(parse(&long, None).is_err());
    }
}
