//! Issue-comment commands of the ChatOps workflows, one per comment:
//!
//! - `/imagebuild_apps NAME VERSION`, `/imagebuild_configs NAME VERSION`,
//!   `/imagebuild_dockerimages NAME VERSION` (a container image from
//!   `dockerimages/`), `/imagebuild_hosted NAME VERSION` (an application
//!   built for amd64 on a self-hosted runner);
//! - `/imagebuild_k8s SELECTION...` and `/imagebuild_docker_k8s
//!   SELECTION...` (rootfs images; the docker variant only the docker CRI):
//!   tags as `matrix build` takes them (`v1.33.5-5.0.1`), a Kubernetes
//!   minor or patch (`v1.27`, `1.27.3`), or `kube=`/`sealos=`/`cri=`/`arch=`
//!   filters.
//!
//! The comment is hostile input: only `[A-Za-z0-9._-]` words pass, never
//! `.` or `..` or a leading `-`, so they are safe as folder names and as
//! shell words; a second command, or a line that looks like a command but
//! is not one of these, refuses the whole comment.
//!
//! Title rule: the issue title, when it starts with `【Auto-build】`, must
//! name what the command builds: the NAME for the named commands, the word
//! `kubernetes` for the two k8s commands.

use serde::Serialize;
use thiserror::Error;

/// What to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// `applications/<name>/<version>`.
    Apps,
    /// `config/<name>/<version>`.
    Configs,
    /// `dockerimages/<name>/<version>`.
    Dockerimages,
    /// An application, amd64 only, on a self-hosted runner.
    Hosted,
    /// Rootfs images of a selection.
    K8s,
    /// Rootfs images of a selection, docker CRI only.
    DockerK8s,
}

impl Kind {
    /// Every command, as written in a comment (without the `/`).
    pub const ALL: [(&'static str, Kind); 6] = [
        ("imagebuild_apps", Kind::Apps),
        ("imagebuild_configs", Kind::Configs),
        ("imagebuild_dockerimages", Kind::Dockerimages),
        ("imagebuild_hosted", Kind::Hosted),
        ("imagebuild_k8s", Kind::K8s),
        ("imagebuild_docker_k8s", Kind::DockerK8s),
    ];

    /// The word the workflows branch on (`kind=` output).
    pub fn word(self) -> &'static str {
        match self {
            Kind::Apps => "apps",
            Kind::Configs => "configs",
            Kind::Dockerimages => "dockerimages",
            Kind::Hosted => "hosted",
            Kind::K8s => "k8s",
            Kind::DockerK8s => "docker_k8s",
        }
    }

    /// Whether the command takes a rootfs selection (else NAME VERSION).
    pub fn is_selection(self) -> bool {
        matches!(self, Kind::K8s | Kind::DockerK8s)
    }
}

/// A parsed command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Command {
    /// What it builds.
    pub kind: Kind,
    /// The application, config or image name (named commands).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Its version folder (named commands).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub version: String,
    /// The selection as `matrix build` arguments (k8s commands): tags,
    /// then `--kube`/`--sealos`/`--cri`/`--arch` filters.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
}

/// Most words of a k8s selection.
pub const MAX_SELECTION: usize = 16;

/// Why a comment is not a command to run.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ChatopsError {
    /// No line starts with a known command.
    #[error("no /imagebuild_* command in the comment (commands: {})", command_list())]
    NoCommand,
    /// A line looks like a command but is none of the six.
    #[error("line {line}: {word:?} is not a command (commands: {})", command_list())]
    Unknown {
        /// 1-based line.
        line: usize,
        /// The word, escaped.
        word: String,
    },
    /// More than one command in one comment.
    #[error("line {line}: a second command; write one command per comment")]
    Several {
        /// 1-based line of the second command.
        line: usize,
    },
    /// The command lacks its arguments, or has too many.
    #[error("line {line}: write `/{command} {usage}` (got {got} words after the command)")]
    Arguments {
        /// 1-based line.
        line: usize,
        /// The command.
        command: String,
        /// What it takes.
        usage: &'static str,
        /// How many words followed it.
        got: usize,
    },
    /// A word has characters outside `[A-Za-z0-9._-]`.
    #[error(
        "line {line}: the {what} {value:?} may only hold letters, digits, `.`, `_` and `-`, not start with `.` or `-`, and be at most 128 characters"
    )]
    Unsafe {
        /// 1-based line.
        line: usize,
        /// `name`, `version` or `selection`.
        what: &'static str,
        /// The value, escaped.
        value: String,
    },
    /// A `key=value` filter with an unknown key.
    #[error("line {line}: unknown filter {key:?}: use kube=, sealos=, cri= or arch=")]
    Filter {
        /// 1-based line.
        line: usize,
        /// The key, escaped.
        key: String,
    },
    /// The issue is about something else.
    #[error(
        "the issue title names {title:?}, the command builds {name:?}: comment on the issue of that image (titled `【Auto-build】{name}`)"
    )]
    Title {
        /// The name in the title.
        title: String,
        /// What the command builds.
        name: String,
    },
}

fn command_list() -> String {
    Kind::ALL
        .iter()
        .map(|(word, _)| format!("/{word}"))
        .collect::<Vec<_>>()
        .join(", ")
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

/// Whether a line's first word tries to be a command: `/imagebuild...` in
/// any case, or a slash look-alike (fullwidth, division, fraction slash).
fn looks_like_command(word: &str) -> bool {
    let rest = word.strip_prefix(['/', '／', '∕', '⁄', '\\']).unwrap_or("");
    rest.to_ascii_lowercase().starts_with("imagebuild")
}

/// Parses the one command of `body`. With `title` (the issue's), an
/// `【Auto-build】X` title must name what the command builds.
pub fn parse(body: &str, title: Option<&str>) -> Result<Command, ChatopsError> {
    let mut found: Option<Command> = None;
    for (index, line) in body.lines().enumerate() {
        let line_no = index + 1;
        let mut words = line.split_whitespace();
        let Some(first) = words.next() else {
            continue;
        };
        let known = first
            .strip_prefix('/')
            .and_then(|w| Kind::ALL.iter().find(|(word, _)| *word == w));
        let Some((word, kind)) = known else {
            if looks_like_command(first) {
                return Err(ChatopsError::Unknown {
                    line: line_no,
                    word: first.escape_default().to_string(),
                });
            }
            continue;
        };
        if found.is_some() {
            return Err(ChatopsError::Several { line: line_no });
        }
        let rest: Vec<&str> = words.collect();
        found = Some(if kind.is_selection() {
            selection(line_no, word, *kind, &rest)?
        } else {
            named(line_no, word, *kind, &rest)?
        });
    }
    let command = found.ok_or(ChatopsError::NoCommand)?;
    if let Some(named) = title.and_then(|t| t.trim().strip_prefix(TITLE_PREFIX)) {
        let named = named.trim();
        let builds = if command.kind.is_selection() {
            "kubernetes"
        } else {
            command.name.as_str()
        };
        if named != builds {
            return Err(ChatopsError::Title {
                title: named.escape_default().to_string(),
                name: builds.to_string(),
            });
        }
    }
    Ok(command)
}

/// Reads a rebuild schedule (`schedule.txt`): one `KIND NAME VERSION` a
/// line, KIND one of `apps`, `configs`, `dockerimages`, `hosted`, with the
/// comment grammar; blank lines and `#` comments are skipped. The nightly
/// workflow rebuilds and pushes each (for `latest`-style images whose
/// inputs move without a new version).
pub fn schedule(text: &str) -> Result<Vec<Command>, ChatopsError> {
    let mut commands = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line_no = index + 1;
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some((first, rest)) = words.split_first() else {
            continue;
        };
        if first.starts_with('#') {
            continue;
        }
        let kind = Kind::ALL
            .iter()
            .map(|(_, kind)| *kind)
            .find(|kind| !kind.is_selection() && kind.word() == *first)
            .ok_or_else(|| ChatopsError::Unknown {
                line: line_no,
                word: first.escape_default().to_string(),
            })?;
        commands.push(named(line_no, kind.word(), kind, rest)?);
    }
    Ok(commands)
}

fn unsafe_word(line: usize, what: &'static str, value: &str) -> ChatopsError {
    ChatopsError::Unsafe {
        line,
        what,
        value: value.escape_default().to_string(),
    }
}

fn named(line: usize, word: &str, kind: Kind, rest: &[&str]) -> Result<Command, ChatopsError> {
    let [name, version] = rest else {
        return Err(ChatopsError::Arguments {
            line,
            command: word.to_string(),
            usage: "NAME VERSION",
            got: rest.len(),
        });
    };
    for (what, value) in [("name", name), ("version", version)] {
        if !safe(value) {
            return Err(unsafe_word(line, what, value));
        }
    }
    Ok(Command {
        kind,
        name: name.to_string(),
        version: version.to_string(),
        args: Vec::new(),
    })
}

/// A k8s selection as `matrix build` arguments: `kube=1.27` and a bare
/// `v1.27` / `1.27.3` become `--kube`, other words are tags; the docker
/// command adds `--cri docker`.
fn selection(line: usize, word: &str, kind: Kind, rest: &[&str]) -> Result<Command, ChatopsError> {
    if rest.is_empty() || rest.len() > MAX_SELECTION {
        return Err(ChatopsError::Arguments {
            line,
            command: word.to_string(),
            usage: "SELECTION... (tags, v1.27, kube=1.27, sealos=, cri=, arch=; at most 16)",
            got: rest.len(),
        });
    }
    let mut tags = Vec::new();
    let mut filters = Vec::new();
    for item in rest {
        if let Some((key, value)) = item.split_once('=') {
            if !safe(value) {
                return Err(unsafe_word(line, "selection", item));
            }
            if !["kube", "sealos", "cri", "arch"].contains(&key) {
                return Err(ChatopsError::Filter {
                    line,
                    key: key.escape_default().to_string(),
                });
            }
            if kind == Kind::DockerK8s && key == "cri" && value != "docker" {
                return Err(ChatopsError::Filter {
                    line,
                    key: format!(
                        "cri={} (the docker command builds the docker CRI only)",
                        value.escape_default()
                    ),
                });
            }
            filters.push(format!("--{key}"));
            filters.push(value.to_string());
            continue;
        }
        if !safe(item) {
            return Err(unsafe_word(line, "selection", item));
        }
        let bare = item.strip_prefix('v').unwrap_or(item);
        let is_version = (2..=3).contains(&bare.split('.').count())
            && bare
                .split('.')
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        if is_version {
            filters.push("--kube".into());
            filters.push(bare.to_string());
        } else {
            tags.push(item.to_string());
        }
    }
    if kind == Kind::DockerK8s && !filters.iter().any(|f| f == "--cri") {
        filters.push("--cri".into());
        filters.push("docker".into());
    }
    tags.extend(filters);
    Ok(Command {
        kind,
        name: String::new(),
        version: String::new(),
        args: tags,
    })
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
                version: "v1.14.4".into(),
                args: Vec::new(),
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

    #[test]
    fn the_schedule_has_one_image_a_line_in_the_same_grammar() {
        let read =
            schedule("# nightly rebuilds\n\napps busybox-app latest\ndockerimages busybox-demo latest\n")
                .unwrap();
        assert_eq!(read.len(), 2);
        assert_eq!(read[1].kind, Kind::Dockerimages);
        assert_eq!(read[1].name, "busybox-demo");
        assert!(matches!(
            schedule("k8s v1.27 x"),
            Err(ChatopsError::Unknown { line: 1, .. })
        ));
        assert!(matches!(
            schedule("apps a\n"),
            Err(ChatopsError::Arguments { line: 1, .. })
        ));
        assert!(matches!(
            schedule("\napps a $(id)"),
            Err(ChatopsError::Unsafe { line: 2, .. })
        ));
    }

    #[test]
    fn all_six_commands_parse_with_one_grammar() {
        for (word, kind) in Kind::ALL {
            let body = if kind.is_selection() {
                format!("/{word} v1.27")
            } else {
                format!("/{word} app v1")
            };
            assert_eq!(parse(&body, None).unwrap().kind, kind, "{word}");
        }
        let k8s = parse(
            "/imagebuild_k8s v1.33.5-5.0.1 1.27 kube=1.28.2 sealos=4.3.7",
            None,
        )
        .unwrap();
        assert_eq!(
            k8s.args,
            [
                "v1.33.5-5.0.1",
                "--kube",
                "1.27",
                "--kube",
                "1.28.2",
                "--sealos",
                "4.3.7"
            ]
        );
        let docker = parse("/imagebuild_docker_k8s v1.27", Some("【Auto-build】kubernetes")).unwrap();
        assert_eq!(docker.args, ["--kube", "1.27", "--cri", "docker"]);
        assert!(matches!(
            parse("/imagebuild_docker_k8s v1.27 cri=containerd", None),
            Err(ChatopsError::Filter { .. })
        ));
        assert!(matches!(
            parse("/imagebuild_k8s v1.27", Some("【Auto-build】nginx")),
            Err(ChatopsError::Title { .. })
        ));
        assert!(matches!(
            parse("/imagebuild_k8s", None),
            Err(ChatopsError::Arguments { got: 0, .. })
        ));
        assert!(matches!(
            parse("/imagebuild_k8s path=/etc", None),
            Err(ChatopsError::Unsafe { .. })
        ));
        assert!(matches!(
            parse("/imagebuild_k8s evil=1", None),
            Err(ChatopsError::Filter { .. })
        ));
        for hostile in [
            "/imagebuild_k8s v1.27;id",
            "/imagebuild_k8s ..",
            "/imagebuild_hosted a $(id)",
        ] {
            assert!(
                matches!(parse(hostile, None), Err(ChatopsError::Unsafe { .. })),
                "{hostile}"
            );
        }
        assert!(matches!(
            parse("/imagebuild_apps a v1\n/imagebuild_k8s v1.27", None),
            Err(ChatopsError::Several { line: 2 })
        ));
        for lookalike in [
            "/imagebuild_app a v1",
            "／imagebuild_apps a v1",
            "/ImageBuild_apps a v1",
            "/imagebuild_k8s2 v1",
        ] {
            assert!(
                matches!(parse(lookalike, None), Err(ChatopsError::Unknown { .. })),
                "{lookalike}"
            );
        }
        assert!(parse(&format!("/imagebuild_k8s {}", "v1.27 ".repeat(17)), None).is_err());
    }
}
