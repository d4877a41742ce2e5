//! `fetch --check-urls`: asks the servers (HEAD, through the mirrors in
//! effect) whether every artifact and checksum URL of a selection exists,
//! without downloading anything. Run on a connected machine after editing
//! a component's URL template or version.

use std::time::Duration;

use rayon::prelude::*;
use serde::Serialize;

use super::{Artifact, MirrorRule, SecretUrl, rewrite};

/// One URL's answer.
#[derive(Debug, Clone, Serialize)]
pub struct UrlCheck {
    /// The component (`crictl`).
    pub component: String,
    /// `artifact` or `checksum`.
    pub kind: &'static str,
    /// The URL asked (after mirrors); shown and written redacted.
    pub url: SecretUrl,
    /// The final HTTP status, if the server answered.
    pub status: Option<u16>,
    /// Why there is no usable answer.
    pub error: Option<String>,
}

impl UrlCheck {
    /// Whether the URL exists (a 2xx answer).
    pub fn ok(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// HEADs every distinct artifact and checksum URL, `jobs` at a time.
pub fn check_urls(artifacts: &[Artifact], mirrors: &[MirrorRule], jobs: usize) -> Vec<UrlCheck> {
    let mut urls: Vec<(String, &'static str, SecretUrl)> = Vec::new();
    for artifact in artifacts {
        let mut push = |kind, url: &SecretUrl| {
            let asked = rewrite(mirrors, url);
            if !urls.iter().any(|(_, _, u)| *u == asked) {
                urls.push((artifact.component.clone(), kind, asked));
            }
        };
        push("artifact", &artifact.url);
        if let Some(checksum) = &artifact.checksum_url {
            push("checksum", checksum);
        }
    }
    let client = crate::net::client(crate::net::idle_timeout().min(Duration::from_secs(30)));
    let ask = |(component, kind, url): &(String, &'static str, SecretUrl)| {
        let (status, error) = match &client {
            Err(e) => (None, Some(crate::net::plain_error(e))),
            Ok(client) => head(client, url.expose()),
        };
        UrlCheck {
            component: component.clone(),
            kind,
            url: url.clone(),
            status,
            error,
        }
    };
    match rayon::ThreadPoolBuilder::new().num_threads(jobs.max(1)).build() {
        Ok(pool) => pool.install(|| urls.par_iter().map(ask).collect()),
        Err(_) => urls.iter().map(ask).collect(),
    }
}

/// HEAD, falling back to a one-byte GET for servers that refuse HEAD.
fn head(client: &reqwest::blocking::Client, url: &str) -> (Option<u16>, Option<String>) {
    if url.starts_with("file://") {
        let path = url.trim_start_matches("file://");
        return if std::path::Path::new(path).is_file() {
            (Some(200), None)
        } else {
            (Some(404), None)
        };
    }
    match client.head(url).send() {
        Ok(reply) if matches!(reply.status().as_u16(), 405 | 501) => {
            match client.get(url).header(reqwest::header::RANGE, "bytes=0-0").send() {
                Ok(reply) => (Some(reply.status().as_u16()), None),
                Err(e) => (None, Some(crate::net::plain_error(&e))),
            }
        }
        Ok(reply) => (Some(reply.status().as_u16()), None),
        Err(e) => (None, Some(crate::net::plain_error(&e))),
    }
}
