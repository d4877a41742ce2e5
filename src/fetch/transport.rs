//! Getting bytes from a URL (`http(s)://` or `file://`), streamed into a
//! writer while hashing, with retries and backoff on 5xx, 429
//! (`Retry-After` honoured), timeouts and connections cut mid-body.

use std::fs;
use std::io::{self, Read, Seek, Write};
use std::time::Duration;

use crate::digest::{HashingWriter, Sha256};
use crate::progress::{Event, Reporter};

/// Why a transfer failed for good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportError {
    /// 404 / missing file: retrying will not help.
    NotFound,
    /// Another HTTP status, after every retry.
    Status(u16),
    /// Connection, timeout or I/O trouble, after every retry.
    Network(String),
}

/// How hard to try.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all (1 = no retry).
    pub attempts: u32,
    /// First backoff; doubles each retry.
    pub backoff: Duration,
    /// Longest wait, also the cap on `Retry-After`.
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            backoff: Duration::from_millis(200),
            max_wait: Duration::from_secs(30),
        }
    }
}

/// Removes `user:password@` from a URL so it can be shown.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(scheme), Some(at)) if at > scheme && !url[scheme + 3..at].contains('/') => {
            format!("{}://***@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

/// One attempt's failure: whether to retry and how long to wait first.
enum Attempt {
    Fatal(TransportError),
    Retry { reason: String, wait: Option<Duration> },
}

/// Downloads `url` into `file` (truncated before each attempt) and returns
/// the digest and size of what was written.
pub fn download(
    client: &reqwest::blocking::Client,
    url: &str,
    file: &mut fs::File,
    policy: RetryPolicy,
    task: &str,
    reporter: &dyn Reporter,
) -> Result<(Sha256, u64), TransportError> {
    if let Some(path) = url.strip_prefix("file://") {
        let mut source = fs::File::open(path).map_err(|error| match error.kind() {
            io::ErrorKind::NotFound => TransportError::NotFound,
            _ => TransportError::Network(error.to_string()),
        })?;
        let total = source.metadata().ok().map(|m| m.len());
        reporter.report(Event::Started { task, total });
        let mut writer = HashingWriter::new(&mut *file);
        copy_reporting(&mut source, &mut writer, task, reporter)
            .map_err(|e| TransportError::Network(e.to_string()))?;
        return Ok(writer.finish().1);
    }
    let mut attempt = 1;
    loop {
        file.set_len(0)
            .and_then(|()| file.rewind())
            .map_err(|e| TransportError::Network(e.to_string()))?;
        match try_download(client, url, file, task, reporter) {
            Ok(result) => return Ok(result),
            Err(Attempt::Fatal(error)) => return Err(error),
            Err(Attempt::Retry { reason, wait }) => {
                if attempt >= policy.attempts {
                    return Err(if let Some(code) = reason.strip_prefix("HTTP ") {
                        TransportError::Status(code.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0))
                    } else {
                        TransportError::Network(reason)
                    });
                }
                attempt += 1;
                reporter.report(Event::Retrying {
                    task,
                    attempt,
                    reason: &reason,
                });
                std::thread::sleep(policy.wait(attempt, wait));
            }
        }
    }
}

impl RetryPolicy {
    /// How long to wait before `attempt` (2 for the first retry): what the
    /// server asked (`Retry-After`), else a doubling backoff; capped.
    pub fn wait(&self, attempt: u32, asked: Option<Duration>) -> Duration {
        let doubling = self
            .backoff
            .saturating_mul(1 << attempt.saturating_sub(2).min(16));
        asked.unwrap_or(doubling).min(self.max_wait)
    }
}

fn try_download(
    client: &reqwest::blocking::Client,
    url: &str,
    file: &mut fs::File,
    task: &str,
    reporter: &dyn Reporter,
) -> Result<(Sha256, u64), Attempt> {
    let mut response = client.get(url).send().map_err(|error| Attempt::Retry {
        reason: plain_error(&error),
        wait: None,
    })?;
    check_status(&response)?;
    reporter.report(Event::Started {
        task,
        total: response.content_length(),
    });
    let expected = response.content_length();
    let mut writer = HashingWriter::new(&mut *file);
    copy_reporting(&mut response, &mut writer, task, reporter).map_err(|error| Attempt::Retry {
        reason: format!("connection dropped: {error}"),
        wait: None,
    })?;
    let (_, (digest, size)) = writer.finish();
    if expected.is_some_and(|expected| expected != size) {
        return Err(Attempt::Retry {
            reason: format!("body ended after {size} of {} bytes", expected.unwrap_or(0)),
            wait: None,
        });
    }
    Ok((digest, size))
}

fn check_status(response: &reqwest::blocking::Response) -> Result<(), Attempt> {
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    if status.as_u16() == 404 || status.as_u16() == 410 {
        return Err(Attempt::Fatal(TransportError::NotFound));
    }
    if status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408 {
        let wait = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        return Err(Attempt::Retry {
            reason: format!("HTTP {status}"),
            wait,
        });
    }
    Err(Attempt::Fatal(TransportError::Status(status.as_u16())))
}

/// reqwest errors carry the URL; keep only the cause (the caller names a
/// redacted URL itself).
pub fn plain_error(error: &reqwest::Error) -> String {
    let mut text = if error.is_timeout() {
        "timed out".to_string()
    } else if error.is_connect() {
        "connection failed".to_string()
    } else {
        "request failed".to_string()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

fn copy_reporting(
    reader: &mut impl Read,
    writer: &mut impl Write,
    task: &str,
    reporter: &dyn Reporter,
) -> io::Result<u64> {
    let mut buffer = vec![0u8; 256 * 1024];
    let mut total = 0;
    loop {
        let n = match reader.read(&mut buffer) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        writer.write_all(&buffer[..n])?;
        total += n as u64;
        reporter.report(Event::Advanced {
            task,
            bytes: n as u64,
        });
    }
}

/// Fetches a small text (a checksum file), with the same retries.
pub fn get_text(
    client: &reqwest::blocking::Client,
    url: &str,
    policy: RetryPolicy,
    reporter: &dyn Reporter,
) -> Result<String, TransportError> {
    let mut temp = tempfile::tempfile().map_err(|e| TransportError::Network(e.to_string()))?;
    let (_, size) = download(client, url, &mut temp, policy, url, reporter)?;
    if size > 4 * 1024 * 1024 {
        return Err(TransportError::Network(format!("checksum file is {size} bytes")));
    }
    let mut text = String::new();
    temp.rewind()
        .and_then(|()| temp.read_to_string(&mut text))
        .map_err(|e| TransportError::Network(e.to_string()))?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_hidden() {
        assert_eq!(redact("https://user:secret@host/path"), "https://***@host/path");
        assert_eq!(redact("https://host/p@th"), "https://host/p@th");
    }

    #[test]
    fn waits_double_and_are_capped() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.wait(2, None), Duration::from_millis(200));
        assert_eq!(policy.wait(3, None), Duration::from_millis(400));
        assert_eq!(
            policy.wait(3, Some(Duration::from_secs(1))),
            Duration::from_secs(1)
        );
        assert_eq!(
            policy.wait(3, Some(Duration::from_secs(999))),
            Duration::from_secs(30)
        );
    }
}
