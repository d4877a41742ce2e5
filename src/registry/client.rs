//! A small OCI distribution client on reqwest: auth (Basic, Bearer tokens
//! from the `WWW-Authenticate` realm), retries with backoff on 5xx, 429
//! (`Retry-After`) and dropped connections, manifests and indexes with their
//! media types, blob HEAD / download / cross-repository mount / streamed
//! and chunked upload, and paginated tag lists. `http://` only for loopback
//! hosts or with `insecure`. Credentials never appear in errors or logs.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use reqwest::blocking::{Body as HttpBody, Response};
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};

use super::auth::{Challenge, CredentialStore, parse_challenge};
pub use super::error::RegistryError;
use crate::digest::Sha256;
use crate::net::{
    Deadline, Failed, RetryPolicy, Retryable, Step, plain_error, retry_after, transfer_limit, with_retries,
};
use crate::oci::{DocumentError, MAX_MANIFEST, read_small};
use oci_spec::image::MediaType;

/// Manifest media types we accept, most specific first.
const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

/// Blobs larger than this are uploaded in chunks of this size.
pub const CHUNK: u64 = 32 * 1024 * 1024;

/// What a request sends.
#[derive(Debug, Clone)]
pub enum Body {
    /// Nothing.
    Empty,
    /// Small bytes (manifests).
    Bytes(Vec<u8>),
    /// A slice of a file, streamed.
    File {
        /// The file.
        path: PathBuf,
        /// Start.
        offset: u64,
        /// Length.
        len: u64,
    },
}

impl Body {
    /// The size of a body worth a longer limit (a file slice).
    fn len(&self) -> Option<u64> {
        match self {
            Body::File { len, .. } => Some(*len),
            Body::Empty | Body::Bytes(_) => None,
        }
    }

    fn to_http(&self) -> Result<Option<HttpBody>, std::io::Error> {
        Ok(match self {
            Body::Empty => None,
            Body::Bytes(bytes) => Some(HttpBody::from(bytes.clone())),
            Body::File { path, offset, len } => {
                let mut file = std::fs::File::open(path)?;
                file.seek(SeekFrom::Start(*offset))?;
                Some(HttpBody::sized(file.take(*len), *len))
            }
        })
    }
}

/// One request: where, what, and which token scope it needs.
pub(super) struct Request<'a> {
    pub(super) method: Method,
    pub(super) host: &'a str,
    /// A path (`/v2/...`) or an absolute URL (upload locations).
    pub(super) target: &'a str,
    pub(super) scope: &'a str,
    pub(super) body: Body,
    pub(super) headers: HeaderMap,
    /// Whether a dropped connection may be retried here (uploads restart
    /// as a whole instead).
    pub(super) retry: bool,
    /// A time limit for this request (the client's default otherwise).
    pub(super) timeout: Option<Duration>,
}

/// A registry client, shared across threads.
pub struct Client {
    /// Started on first use: loading the system's CA roots costs several
    /// milliseconds that a build from a file:// mirror and an image layout
    /// never needs.
    http: std::sync::OnceLock<reqwest::blocking::Client>,
    credentials: CredentialStore,
    insecure: bool,
    pub(super) retry: RetryPolicy,
    pub(super) chunk: u64,
    tokens: Mutex<HashMap<String, String>>,
}

/// True for an IP in 127.0.0.0/8, `::1`, or exactly `localhost`, with or
/// without a port. The host is parsed, never matched by prefix:
/// `127.0.0.1.evil.example` is a name like any other.
pub fn is_loopback(host: &str) -> bool {
    let digits = |port: &str| !port.is_empty() && port.chars().all(|c| c.is_ascii_digit());
    let name = if let Some(rest) = host.strip_prefix('[') {
        match rest.split_once(']') {
            Some((inner, "")) => inner,
            Some((inner, tail)) if tail.strip_prefix(':').is_some_and(digits) => inner,
            _ => return false,
        }
    } else if host.matches(':').count() > 1 {
        host
    } else {
        match host.split_once(':') {
            Some((name, port)) if digits(port) => name,
            Some(_) => return false,
            None => host,
        }
    };
    name == "localhost" || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// True when an https request failed because the server answered in
/// plain HTTP (no retry helps).
fn speaks_plain_http(url: &str, error: &reqwest::Error) -> bool {
    url.starts_with("https://") && looks_like_plain_http(&plain_error(error))
}

fn looks_like_plain_http(reason: &str) -> bool {
    let reason = reason.to_ascii_lowercase();
    [
        "corrupt message",
        "invalidcontenttype",
        "invalid content type",
        "http request to an https",
        "wrong version number",
    ]
    .iter()
    .any(|needle| reason.contains(needle))
}

/// Adds "pass --insecure" to TLS failures against a registry that may
/// serve plain http.
fn with_scheme_hint(url: &str, host: &str, reason: String) -> String {
    if url.starts_with("https://") && looks_like_plain_http(&reason) {
        format!(
            "{reason}\n  help: {host} seems to serve plain http; if you trust the network, pass --insecure"
        )
    } else {
        reason
    }
}

impl Client {
    /// A client with these credentials; `insecure` allows http:// anywhere.
    pub fn new(credentials: CredentialStore, insecure: bool) -> Result<Client, RegistryError> {
        Ok(Client {
            http: std::sync::OnceLock::new(),
            credentials,
            insecure,
            retry: RetryPolicy::default(),
            chunk: CHUNK,
            tokens: Mutex::new(HashMap::new()),
        })
    }

    /// The HTTP client, started now if this is its first use.
    fn http(&self) -> Result<&reqwest::blocking::Client, RegistryError> {
        if let Some(http) = self.http.get() {
            return Ok(http);
        }
        let http = crate::net::client(crate::net::idle_timeout()).map_err(|e| RegistryError::Invalid {
            what: "HTTP client".into(),
            message: e.to_string(),
        })?;
        Ok(self.http.get_or_init(|| http))
    }

    /// Uploads blobs larger than `chunk` bytes in chunks of that size.
    pub fn with_chunk(mut self, chunk: u64) -> Client {
        self.chunk = chunk.max(1);
        self
    }

    /// Uses another retry policy (tests make it quick).
    pub fn with_retry(mut self, retry: RetryPolicy) -> Client {
        self.retry = retry;
        self
    }

    fn base(&self, host: &str) -> String {
        if is_loopback(host) || self.insecure {
            format!("http://{host}")
        } else {
            format!("https://{host}")
        }
    }

    pub(super) fn url(&self, host: &str, target: &str) -> String {
        if target.starts_with("http://") || target.starts_with("https://") {
            target.to_string()
        } else {
            format!("{}{target}", self.base(host))
        }
    }

    /// True if `url` is on the registry's own scheme, host and port.
    fn same_origin(&self, host: &str, url: &str) -> bool {
        let base = self.base(host);
        url == base || url.starts_with(&format!("{base}/"))
    }

    fn check_scheme(&self, host: &str, url: &str) -> Result<(), RegistryError> {
        if url.starts_with("http://") && !is_loopback(host) && !self.insecure {
            return Err(RegistryError::Insecure {
                host: host.to_string(),
            });
        }
        Ok(())
    }

    /// Sends a request with auth and retries; returns any response whose
    /// status is not an auth challenge (callers judge the status).
    pub(super) fn send(&self, request: &Request<'_>) -> Result<Response, RegistryError> {
        let url = self.url(request.host, request.target);
        self.check_scheme(request.host, &url)?;
        let shown = url.split('?').next().unwrap_or(&url).to_string();
        let policy = self.retry;
        let attempt = |_| self.attempt(request, &url, &shown);
        let on_retry = |number, reason: &Retryable| {
            tracing::info!("retry {number} of {} {shown}: {reason}", request.method);
        };
        with_retries(policy, attempt, on_retry).map_err(|failed| match failed {
            Failed::Fatal(error) => error,
            Failed::GaveUp(Retryable::Status { code, detail, .. }) => RegistryError::Http {
                method: request.method.to_string(),
                url: shown.clone(),
                status: code,
                message: detail,
            },
            Failed::GaveUp(Retryable::Network(reason)) => RegistryError::Network {
                method: request.method.to_string(),
                reason: with_scheme_hint(&url, request.host, reason),
                url: shown.clone(),
            },
        })
    }

    /// One try of a request: answers one auth challenge on the way, sends
    /// the token only to the registry's own origin.
    fn attempt(&self, request: &Request<'_>, url: &str, shown: &str) -> Step<Response, RegistryError> {
        let token_key = format!("{} {}", request.host, request.scope);
        let http = match self.http() {
            Ok(http) => http,
            Err(error) => return Step::Fatal(error),
        };
        for challenge_answered in [false, true] {
            let mut builder = http
                .request(request.method.clone(), url)
                .headers(request.headers.clone());
            // An upload's limit grows with its size; other requests keep
            // the client's idle limit (headers, each read).
            if let Some(timeout) = request
                .timeout
                .or_else(|| request.body.len().map(|len| transfer_limit(Some(len))))
            {
                builder = builder.timeout(timeout);
            }
            let token = self
                .tokens
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&token_key)
                .cloned();
            // Credentials go only to the registry's own origin, never to an
            // absolute URL (upload location, page link) on another host.
            if let Some(token) = token.filter(|_| self.same_origin(request.host, url)) {
                builder = builder.header(header::AUTHORIZATION, token);
            }
            let body = match request.body.to_http() {
                Ok(body) => body,
                Err(source) => {
                    return Step::Fatal(RegistryError::Io {
                        what: format!("reading the body of {shown}"),
                        source,
                    });
                }
            };
            if let Some(body) = body {
                builder = builder.body(body);
            }
            let response = match builder.send() {
                Ok(response) => response,
                // A cut connection is not retried here when the body cannot
                // be sent again (uploads restart as a whole instead).
                Err(error) if !request.retry || speaks_plain_http(url, &error) => {
                    return Step::Fatal(RegistryError::Network {
                        method: request.method.to_string(),
                        reason: with_scheme_hint(url, request.host, plain_error(&error)),
                        url: shown.to_string(),
                    });
                }
                Err(error) => return Step::Retry(Retryable::Network(plain_error(&error))),
            };
            let status = response.status();
            if status == StatusCode::UNAUTHORIZED {
                if challenge_answered {
                    return Step::Fatal(RegistryError::Unauthorized {
                        host: request.host.to_string(),
                        detail: error_message(response),
                    });
                }
                if let Err(error) = self.authorize(request.host, request.scope, &response) {
                    return Step::Fatal(error);
                }
                continue;
            }
            if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
                let wait = retry_after(response.headers());
                return Step::Retry(Retryable::Status {
                    code: status.as_u16(),
                    wait,
                    detail: error_message(response),
                });
            }
            return Step::Done(response);
        }
        unreachable!("the loop returns on its second pass")
    }

    /// Answers an auth challenge: Basic credentials, or a Bearer token from
    /// the realm, cached per host and scope.
    fn authorize(&self, host: &str, scope: &str, response: &Response) -> Result<(), RegistryError> {
        let challenge = response
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_challenge);
        let credentials = self.credentials.get(host);
        let value = match challenge {
            Some(Challenge::Basic) => credentials
                .ok_or_else(|| RegistryError::Unauthorized {
                    host: host.to_string(),
                    detail: "the registry wants a user name and password".into(),
                })?
                .basic_header(),
            Some(Challenge::Bearer {
                realm,
                service,
                scope: asked,
            }) => {
                let mut query: Vec<(&str, String)> = Vec::new();
                if let Some(service) = service {
                    query.push(("service", service));
                }
                let scope = if scope.is_empty() {
                    asked.unwrap_or_default()
                } else {
                    scope.to_string()
                };
                if !scope.is_empty() {
                    query.push(("scope", scope));
                }
                let realm_host = reqwest::Url::parse(&realm)
                    .ok()
                    .filter(|url| matches!(url.scheme(), "http" | "https"))
                    .map(|url| (url.scheme() == "https", url.authority().to_string()))
                    .ok_or_else(|| RegistryError::Unauthorized {
                        host: host.to_string(),
                        detail: "the token realm is not an http(s) URL".into(),
                    })?;
                if !realm_host.0 && !is_loopback(&realm_host.1) && !self.insecure {
                    return Err(RegistryError::Unauthorized {
                        host: host.to_string(),
                        detail: format!(
                            "the token realm {} is plain http; credentials are not sent there (pass --insecure to allow it)",
                            realm_host.1
                        ),
                    });
                }
                let mut builder = self.http()?.get(&realm).query(&query);
                if let Some(credentials) = credentials {
                    builder = builder.header(header::AUTHORIZATION, credentials.basic_header());
                }
                let reply = builder.send().map_err(|e| RegistryError::Network {
                    method: "GET".into(),
                    url: realm.clone(),
                    reason: plain_error(&e),
                })?;
                if !reply.status().is_success() {
                    return Err(RegistryError::Unauthorized {
                        host: host.to_string(),
                        detail: format!("token endpoint answered HTTP {}", reply.status().as_u16()),
                    });
                }
                // Read like a manifest: capped, within its deadline.
                let body = Deadline::new(reply, transfer_limit(Some(MAX_MANIFEST)));
                let bytes = read_small("the token response", body)?;
                let json: serde_json::Value =
                    serde_json::from_slice(&bytes).map_err(|e| RegistryError::Invalid {
                        what: "token response".into(),
                        message: e.to_string(),
                    })?;
                let token = json
                    .get("token")
                    .or_else(|| json.get("access_token"))
                    .and_then(|t| t.as_str())
                    .ok_or_else(|| RegistryError::Invalid {
                        what: "token response".into(),
                        message: "no token".into(),
                    })?;
                format!("Bearer {token}")
            }
            None => {
                return Err(RegistryError::Unauthorized {
                    host: host.to_string(),
                    detail: "no usable WWW-Authenticate challenge".into(),
                });
            }
        };
        self.tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(format!("{host} {scope}"), value);
        Ok(())
    }

    pub(super) fn request<'a>(
        &self,
        method: Method,
        host: &'a str,
        target: &'a str,
        scope: &'a str,
    ) -> Request<'a> {
        Request {
            method,
            host,
            target,
            scope,
            body: Body::Empty,
            headers: HeaderMap::new(),
            retry: true,
            timeout: None,
        }
    }

    /// Checks that the host speaks the distribution API.
    pub fn ping(&self, host: &str) -> Result<(), RegistryError> {
        let response = self.send(&self.request(Method::GET, host, "/v2/", ""))?;
        expect_ok(&Method::GET, &self.url(host, "/v2/"), response).map(|_| ())
    }

    /// Gets a manifest or index: bytes, media type and verified digest.
    /// One larger than [`MAX_MANIFEST`] is refused from its Content-Length,
    /// before its body is read, and never read past the limit.
    pub fn manifest(
        &self,
        host: &str,
        repository: &str,
        reference: &str,
    ) -> Result<(Vec<u8>, MediaType, Sha256), RegistryError> {
        let path = format!("/v2/{repository}/manifests/{reference}");
        let scope = format!("repository:{repository}:pull");
        let mut request = self.request(Method::GET, host, &path, &scope);
        request
            .headers
            .insert(header::ACCEPT, HeaderValue::from_static(ACCEPT));
        let response = expect_ok(&Method::GET, &self.url(host, &path), self.send(&request)?)?;
        let media_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_string();
        let what = format!("manifest {repository}:{reference}");
        if let Some(size) = response.content_length()
            && size > MAX_MANIFEST
        {
            return Err(DocumentError::TooLarge {
                what,
                size,
                limit: MAX_MANIFEST,
            }
            .into());
        }
        // Never read past the limit, nor longer than its size allows.
        let body = Deadline::new(response, transfer_limit(Some(MAX_MANIFEST)));
        let bytes = read_small(&what, body)?;
        let digest = Sha256::of(&bytes);
        if reference.starts_with("sha256:") && reference != digest.to_string() {
            return Err(RegistryError::Digest {
                what: format!("manifest {repository}@{reference}"),
                expected: reference.to_string(),
                actual: digest.to_string(),
            });
        }
        Ok((bytes, MediaType::from(media_type.as_str()), digest))
    }

    /// The digest a tag points at, or `None` if there is no such tag.
    pub fn manifest_digest(
        &self,
        host: &str,
        repository: &str,
        reference: &str,
    ) -> Result<Option<String>, RegistryError> {
        let path = format!("/v2/{repository}/manifests/{reference}");
        let scope = format!("repository:{repository}:pull");
        let mut request = self.request(Method::HEAD, host, &path, &scope);
        request
            .headers
            .insert(header::ACCEPT, HeaderValue::from_static(ACCEPT));
        let response = self.send(&request)?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let response = expect_ok(&Method::HEAD, &self.url(host, &path), response)?;
        Ok(response
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string))
    }

    /// Puts a manifest or index under a tag or digest.
    pub fn put_manifest(
        &self,
        host: &str,
        repository: &str,
        reference: &str,
        bytes: &[u8],
        media_type: &str,
    ) -> Result<(), RegistryError> {
        self.put_manifest_subject(host, repository, reference, bytes, media_type)
            .map(|_| ())
    }

    /// Puts a manifest that has a `subject`; true when the registry
    /// answered `OCI-Subject` (it keeps the referrers list itself, OCI
    /// distribution 1.1), false when the client must keep the
    /// `sha256-<hex>` fallback tag.
    pub fn put_manifest_subject(
        &self,
        host: &str,
        repository: &str,
        reference: &str,
        bytes: &[u8],
        media_type: &str,
    ) -> Result<bool, RegistryError> {
        let path = format!("/v2/{repository}/manifests/{reference}");
        let scope = format!("repository:{repository}:pull,push");
        let mut request = self.request(Method::PUT, host, &path, &scope);
        request.body = Body::Bytes(bytes.to_vec());
        request.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_str(media_type).map_err(|e| RegistryError::Invalid {
                what: "media type".into(),
                message: e.to_string(),
            })?,
        );
        expect_ok(&Method::PUT, &self.url(host, &path), self.send(&request)?)
            .map(|response| response.headers().contains_key("oci-subject"))
    }

    /// Every tag of a repository, following `Link: <...>; rel="next"`
    /// pages; `null` entries are dropped; a missing repository has none.
    pub fn tags(&self, host: &str, repository: &str) -> Result<Vec<String>, RegistryError> {
        let scope = format!("repository:{repository}:pull");
        let mut next = Some(format!("/v2/{repository}/tags/list?n=1000"));
        let mut seen = std::collections::HashSet::new();
        let mut tags = Vec::new();
        let malformed = |message: String| RegistryError::Invalid {
            what: format!("the tag list of {repository} on {host} (the registry answered malformed JSON)"),
            message,
        };
        while let Some(target) = next.take() {
            if !seen.insert(target.clone()) || seen.len() > MAX_TAG_PAGES {
                return Err(malformed(format!(
                    "its pages loop or exceed {MAX_TAG_PAGES} (next page `{target}` again)"
                )));
            }
            let mut request = self.request(Method::GET, host, &target, &scope);
            request.timeout = Some(crate::net::idle_timeout());
            let response = self.send(&request)?;
            if response.status() == StatusCode::NOT_FOUND {
                return Ok(Vec::new());
            }
            let response = expect_ok(&Method::GET, &self.url(host, &target), response)?;
            next = response
                .headers()
                .get(header::LINK)
                .and_then(|v| v.to_str().ok())
                .and_then(next_link);
            // A page is read through the manifest limit (4 MiB), not whole.
            let body = Deadline::new(response, transfer_limit(Some(MAX_MANIFEST)));
            let bytes = read_small(&format!("the tag list of {repository} on {host}"), body)?;
            let json: serde_json::Value =
                serde_json::from_slice(&bytes).map_err(|e| malformed(e.to_string()))?;
            match json.get("tags") {
                Some(serde_json::Value::Array(list)) => {
                    // Some registries leave nulls where tags were deleted.
                    for tag in list.iter().filter(|tag| !tag.is_null()) {
                        let tag = tag
                            .as_str()
                            .ok_or_else(|| malformed(format!("a tag is not a string: {tag}")))?;
                        // Tags are printed later: anything but a valid tag
                        // (control characters, escapes) is refused here.
                        if tag.parse::<crate::tag::Tag>().is_err() {
                            return Err(malformed(format!(
                                "`{}` is not a valid tag",
                                tag.escape_default()
                            )));
                        }
                        if tags.len() >= MAX_TAGS {
                            return Err(malformed(format!("more than {MAX_TAGS} tags in all")));
                        }
                        tags.push(tag.to_string());
                    }
                }
                // distribution answers `"tags": null` for a repository without tags.
                Some(serde_json::Value::Null) => {}
                _ => return Err(malformed("no `tags` array".into())),
            }
        }
        Ok(tags)
    }
}

/// Most pages of a tag list (1000 tags a page asked; registries may send
/// fewer).
const MAX_TAG_PAGES: usize = 10_000;
/// Most tags of one repository, over all pages (labring's largest has a
/// few thousand): endless pages are refused by their total, not only by
/// their count.
const MAX_TAGS: usize = 200_000;

/// The target of a `rel="next"` link.
pub fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        params.contains("rel=\"next\"").then(|| {
            target
                .trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string()
        })
    })
}

/// Most of an error answer read for its message: a registry's error
/// documents are a few hundred bytes; a huge one is cut, not held.
const MAX_ERROR_BODY: u64 = 64 * 1024;

fn error_message(response: Response) -> String {
    use std::io::Read;
    let mut text = String::new();
    let body = Deadline::new(response, transfer_limit(Some(MAX_ERROR_BODY)));
    let _ = body.take(MAX_ERROR_BODY).read_to_string(&mut text);
    serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| {
            v.get("errors")?
                .get(0)?
                .get("message")?
                .as_str()
                .map(str::to_string)
        })
        .unwrap_or_default()
}

fn http_error(method: &Method, url: &str, response: Response) -> RegistryError {
    let status = response.status().as_u16();
    RegistryError::Http {
        method: method.to_string(),
        url: url.split('?').next().unwrap_or(url).to_string(),
        status,
        message: error_message(response),
    }
}

pub(super) fn expect_ok(method: &Method, url: &str, response: Response) -> Result<Response, RegistryError> {
    if response.status().is_success() {
        Ok(response)
    } else {
        Err(http_error(method, url, response))
    }
}

pub(super) fn expect_status(
    method: &Method,
    url: &str,
    response: Response,
    wanted: &[StatusCode],
) -> Result<Response, RegistryError> {
    if wanted.contains(&response.status()) {
        Ok(response)
    } else {
        Err(http_error(method, url, response))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for host in [
            "127.0.0.1:5000",
            "localhost",
            "localhost:80",
            "[::1]:5000",
            "127.1.2.3",
        ] {
            assert!(is_loopback(host), "{host}");
        }
        for host in [
            "docker.io",
            "10.0.0.1:5000",
            "192.168.1.2",
            "127.0.0.1.evil.example",
            "127.0.0.1.evil.example:5000",
            "localhost.evil.example",
            "127.evil",
            "[::ffff:127.0.0.1]:5000",
            "127.0.0.1:5000@evil.example",
            "localhost:",
        ] {
            assert!(!is_loopback(host), "{host}");
        }
    }

    #[test]
    fn tokens_go_only_to_the_registry_origin() {
        let client = Client::new(CredentialStore::default(), false).unwrap();
        assert!(client.same_origin("127.0.0.1:5000", "http://127.0.0.1:5000/v2/x/tags/list"));
        for foreign in [
            "http://127.0.0.1:5001/v2/x/tags/list",
            "http://127.0.0.1:5000.evil.example/v2/",
            "https://127.0.0.1:5000/v2/",
            "http://evil.example/v2/",
        ] {
            assert!(!client.same_origin("127.0.0.1:5000", foreign), "{foreign}");
        }
    }

    #[test]
    fn link_headers() {
        assert_eq!(
            next_link(r#"</v2/x/tags/list?last=b&n=2>; rel="next""#).as_deref(),
            Some("/v2/x/tags/list?last=b&n=2")
        );
        assert_eq!(next_link(r#"<http://h/a>; rel="prev""#), None);
    }
}
