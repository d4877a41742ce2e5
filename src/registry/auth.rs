//! Registry credentials and auth challenges. Credentials come from
//! `--creds`, `MATRIX_REGISTRY_CREDS`, `$REGISTRY_AUTH_FILE`, containers'
//! `auth.json` and `~/.docker/config.json`; they are never printed (Debug
//! shows the user only).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// A user name and password (or token).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name.
    pub username: String,
    password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credentials({}:***)", self.username)
    }
}

impl Credentials {
    /// From `user:password`.
    pub fn parse(text: &str) -> Option<Credentials> {
        let (username, password) = text.split_once(':')?;
        Some(Credentials {
            username: username.to_string(),
            password: password.to_string(),
        })
    }

    /// The `Authorization: Basic ...` value.
    pub fn basic_header(&self) -> String {
        format!(
            "Basic {}",
            STANDARD.encode(format!("{}:{}", self.username, self.password))
        )
    }
}

/// A credentials source that exists but is unusable.
#[derive(Debug, thiserror::Error)]
pub enum AuthFileError {
    /// An auth file that cannot be read or parsed.
    #[error("auth file {}: {reason}\n  help: fix or remove the file, or pass --creds", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong (never its content).
        reason: String,
    },
    /// An auth file whose JSON is not an auth document.
    #[error("auth file {}: {source}\n  help: fix or remove the file, or pass --creds", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// What is wrong (never its content).
        #[source]
        source: AuthJsonError,
    },
    /// `MATRIX_REGISTRY_CREDS` without a colon.
    #[error("MATRIX_REGISTRY_CREDS must be USER:PASSWORD")]
    Variable,
}

/// What is wrong with an auth document; never quotes its content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthJsonError {
    /// Not JSON at all.
    #[error("not JSON (line {line}, column {column})")]
    NotJson {
        /// Line of the syntax error.
        line: usize,
        /// Column of the syntax error.
        column: usize,
    },
    /// JSON, but not an object.
    #[error("not a JSON object")]
    NotObject,
    /// `auths` is not an object.
    #[error("`auths` is not an object")]
    Auths,
    /// An `auth` entry that is not base64 of `USER:PASSWORD`.
    #[error("`auths.{0}.auth` is not base64 of USER:PASSWORD")]
    Auth(String),
}

/// Credentials per registry host.
#[derive(Debug, Clone, Default)]
pub struct CredentialStore {
    /// Used for every host when set (`--creds`, `MATRIX_REGISTRY_CREDS`).
    pub everywhere: Option<Credentials>,
    by_host: BTreeMap<String, Credentials>,
}

impl CredentialStore {
    /// Loads the auth files that exist; `explicit` wins over all of them.
    /// A file that exists but cannot be read or parsed is an error naming
    /// it (a silently ignored login fails later, far from its cause).
    pub fn load(explicit: Option<Credentials>) -> Result<CredentialStore, AuthFileError> {
        let everywhere = match explicit {
            Some(credentials) => Some(credentials),
            None => match std::env::var("MATRIX_REGISTRY_CREDS") {
                Ok(text) if !text.is_empty() => {
                    Some(Credentials::parse(&text).ok_or(AuthFileError::Variable)?)
                }
                _ => None,
            },
        };
        let mut store = CredentialStore {
            everywhere,
            by_host: BTreeMap::new(),
        };
        // Later files do not override earlier ones.
        for path in auth_files() {
            match std::fs::read_to_string(&path) {
                Ok(text) => store.add_auth_json(&text).map_err(|source| AuthFileError::Json {
                    path: path.clone(),
                    source,
                })?,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => {
                    return Err(AuthFileError::Invalid {
                        path,
                        reason: error.to_string(),
                    });
                }
            }
        }
        Ok(store)
    }

    /// Adds the `auths` of a docker/containers auth file. The reason of an
    /// error never quotes the file's content.
    pub fn add_auth_json(&mut self, text: &str) -> Result<(), AuthJsonError> {
        let value = serde_json::from_str::<serde_json::Value>(text).map_err(|e| AuthJsonError::NotJson {
            line: e.line(),
            column: e.column(),
        })?;
        let Some(object) = value.as_object() else {
            return Err(AuthJsonError::NotObject);
        };
        let Some(auths) = object.get("auths") else {
            return Ok(());
        };
        let auths = auths.as_object().ok_or(AuthJsonError::Auths)?;
        for (key, entry) in auths {
            let host = normalise_host(key);
            let Some(auth) = entry.get("auth") else {
                // Entries served by credential helpers carry no `auth`.
                continue;
            };
            let credentials = auth
                .as_str()
                .and_then(|a| STANDARD.decode(a).ok())
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .and_then(|text| Credentials::parse(&text))
                .ok_or_else(|| AuthJsonError::Auth(key.clone()))?;
            self.by_host.entry(host).or_insert(credentials);
        }
        Ok(())
    }

    /// Credentials for `host`, if any.
    pub fn get(&self, host: &str) -> Option<&Credentials> {
        self.everywhere.as_ref().or_else(|| {
            self.by_host.get(host).or_else(|| {
                (host == "registry-1.docker.io")
                    .then(|| self.by_host.get("docker.io"))
                    .flatten()
            })
        })
    }
}

fn normalise_host(key: &str) -> String {
    let host = key
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or(key);
    match host {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".to_string(),
        other => other.to_string(),
    }
}

fn auth_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    if let Some(path) = std::env::var_os("REGISTRY_AUTH_FILE") {
        files.push(PathBuf::from(path));
    }
    if let Some(runtime) = std::env::var_os("XDG_RUNTIME_DIR") {
        files.push(PathBuf::from(runtime).join("containers/auth.json"));
    }
    if let Some(home) = std::env::var_os("HOME").map(PathBuf::from) {
        files.push(home.join(".config/containers/auth.json"));
        files.push(home.join(".docker/config.json"));
    }
    files
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// `Basic realm=...`.
    Basic,
    /// `Bearer realm=...,service=...,scope=...`.
    Bearer {
        /// Token endpoint.
        realm: String,
        /// Service name, if given.
        service: Option<String>,
        /// Scope, if given.
        scope: Option<String>,
    },
}

/// Parses a `WWW-Authenticate` header value.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let (scheme, rest) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut params = BTreeMap::new();
    let mut rest = rest.trim();
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let after = after.trim_start();
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"')?;
            (&quoted[..end], &quoted[end + 1..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        params.insert(key.trim().to_ascii_lowercase(), value.to_string());
        rest = remaining.trim_start_matches(',').trim();
    }
    Some(Challenge::Bearer {
        realm: params.remove("realm")?,
        service: params.remove("service"),
        scope: params.remove("scope"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_parse() {
        let bearer = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull""#,
        );
        assert_eq!(
            bearer,
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/nginx:pull".into()),
            })
        );
        assert_eq!(parse_challenge("Basic realm=\"x\""), Some(Challenge::Basic));
    }

    #[test]
    fn auth_files_and_secrets() {
        let mut store = CredentialStore::default();
        let auth = STANDARD.encode("me:s3cret");
        store
            .add_auth_json(&format!(r#"{{"auths":{{"https://index.docker.io/v1/":{{"auth":"{auth}"}},"127.0.0.1:5000":{{"auth":"{auth}"}}}}}}"#))
            .unwrap();
        let secret = r#"{"auths":{"h":{"auth":"bm90LWEtY29sb24tc2VjcmV0"}}}"#;
        let error = store.add_auth_json(secret).unwrap_err().to_string();
        assert!(
            error.contains("auths.h.auth") && !error.contains("bm90"),
            "{error}"
        );
        let error = store
            .add_auth_json("{\"auths\": {\"h\": {\"auth\": \"pw\"")
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("not JSON (line 1"), "{error}");
        assert_eq!(store.get("registry-1.docker.io").unwrap().username, "me");
        assert!(store.get("127.0.0.1:5000").is_some());
        assert!(store.get("ghcr.io").is_none());
        let shown = format!("{:?}", store.get("127.0.0.1:5000").unwrap());
        assert!(!shown.contains("s3cret"), "{shown}");
    }
}
