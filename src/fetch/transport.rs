//! Getting bytes from a URL (`http(s)://` or `file://`), streamed into a
//! writer while hashing, with retries and backoff on 5xx, 429
//! (`Retry-After` honoured), timeouts and connections cut mid-body.

use std::fs;
use std::io::{self, Read, Seek, Write};

use crate::digest::{HashingWriter, Sha256};
use crate::net::{
    Deadline, Failed, Retryable, Step, is_retryable, retry_after, transfer_limit, with_retries,
};
pub use crate::net::{RetryPolicy, SecretUrl, plain_error};
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
    /// The answer is (or announced itself as) larger than the caller's
    /// cap; retrying will not make it smaller.
    TooLarge {
        /// The cap in bytes.
        cap: u64,
        /// The announced size, when the server gave one.
        announced: Option<u64>,
    },
}

/// Largest checksum file (`.sha256`, `SHA256SUMS`) read: a mirror tree's
/// list of a whole release fits many times over, and it is held in memory
/// to be parsed, so a larger answer is refused while it streams.
pub const CHECKSUM_FILE_CAP: u64 = 4 * 1024 * 1024;

/// One attempt's failure.
type Attempt = Step<(Sha256, u64), TransportError>;

/// Downloads `url` into `file` (truncated before each attempt) and returns
/// the digest and size of what was written. With a `cap`, a larger answer
/// is refused from its `Content-Length` (or file size) before reading, and
/// while it streams when no size is announced: at most `cap + 1` bytes are
/// ever written.
pub fn download(
    client: &reqwest::blocking::Client,
    url: &str,
    file: &mut fs::File,
    policy: RetryPolicy,
    cap: Option<u64>,
    (task, reporter): (&str, &dyn Reporter),
) -> Result<(Sha256, u64), TransportError> {
    if let Some(path) = url.strip_prefix("file://") {
        let source = fs::File::open(path).map_err(|error| match error.kind() {
            io::ErrorKind::NotFound => TransportError::NotFound,
            _ => TransportError::Network(error.to_string()),
        })?;
        let total = source.metadata().ok().map(|m| m.len());
        check_cap(cap, total, 0)?;
        reporter.report(Event::Started { task, total });
        let mut writer = HashingWriter::new(&mut *file);
        let mut limited = source.take(cap.map_or(u64::MAX, |cap| cap + 1));
        copy_reporting(&mut limited, &mut writer, task, reporter)
            .map_err(|e| TransportError::Network(e.to_string()))?;
        let (_, (digest, size)) = writer.finish();
        check_cap(cap, None, size)?;
        return Ok((digest, size));
    }
    let attempt = |_| -> Attempt {
        if let Err(error) = file.set_len(0).and_then(|()| file.rewind()) {
            return Step::Fatal(TransportError::Network(error.to_string()));
        }
        try_download(client, url, file, cap, task, reporter)
    };
    let on_retry = |number, reason: &Retryable| {
        reporter.report(Event::Retrying {
            task,
            attempt: number,
            reason: &reason.to_string(),
        });
    };
    with_retries(policy, attempt, on_retry).map_err(|failed| match failed {
        Failed::Fatal(error) => error,
        Failed::GaveUp(Retryable::Status { code, .. }) => TransportError::Status(code),
        Failed::GaveUp(Retryable::Network(reason)) => TransportError::Network(reason),
    })
}

/// Refuses an announced size or a count of bytes read over `cap`.
fn check_cap(cap: Option<u64>, announced: Option<u64>, read: u64) -> Result<(), TransportError> {
    match cap {
        Some(cap) if announced.is_some_and(|size| size > cap) || read > cap => {
            Err(TransportError::TooLarge { cap, announced })
        }
        _ => Ok(()),
    }
}

fn try_download(
    client: &reqwest::blocking::Client,
    url: &str,
    file: &mut fs::File,
    cap: Option<u64>,
    task: &str,
    reporter: &dyn Reporter,
) -> Attempt {
    let mut response = match client.get(url).send() {
        Ok(response) => response,
        Err(error) => return Step::Retry(Retryable::Network(plain_error(&error))),
    };
    let status = response.status();
    if status.as_u16() == 404 || status.as_u16() == 410 {
        return Step::Fatal(TransportError::NotFound);
    }
    if is_retryable(status) {
        return Step::Retry(Retryable::Status {
            code: status.as_u16(),
            wait: retry_after(response.headers()),
            detail: String::new(),
        });
    }
    if !status.is_success() {
        return Step::Fatal(TransportError::Status(status.as_u16()));
    }
    let expected = response.content_length();
    if let Err(error) = check_cap(cap, expected, 0) {
        return Step::Fatal(error);
    }
    reporter.report(Event::Started {
        task,
        total: expected,
    });
    let mut writer = HashingWriter::new(&mut *file);
    let limit = cap.map_or(u64::MAX, |cap| cap + 1);
    let mut body = Deadline::new((&mut response).take(limit), transfer_limit(expected));
    if let Err(error) = copy_reporting(&mut body, &mut writer, task, reporter) {
        return Step::Retry(Retryable::Network(format!("connection dropped: {error}")));
    }
    let (_, (digest, size)) = writer.finish();
    if let Err(error) = check_cap(cap, None, size) {
        return Step::Fatal(error);
    }
    if let Some(expected) = expected.filter(|expected| *expected != size) {
        return Step::Retry(Retryable::Network(format!(
            "body ended after {size} of {expected} bytes"
        )));
    }
    Step::Done((digest, size))
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

/// Fetches a checksum file, with the same retries, capped at
/// [`CHECKSUM_FILE_CAP`] while it streams.
pub fn get_text(
    client: &reqwest::blocking::Client,
    url: &SecretUrl,
    policy: RetryPolicy,
    reporter: &dyn Reporter,
) -> Result<String, TransportError> {
    let mut temp = tempfile::tempfile().map_err(|e| TransportError::Network(e.to_string()))?;
    // The task names the URL in progress and retry lines: redacted.
    let task = url.to_string();
    download(
        client,
        url.expose(),
        &mut temp,
        policy,
        Some(CHECKSUM_FILE_CAP),
        (&task, reporter),
    )?;
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
    fn local_checksum_files_are_capped_by_size_and_while_read() {
        let client = crate::net::client(std::time::Duration::from_secs(5)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let sparse = dir.path().join("SHA256SUMS");
        fs::File::create(&sparse).unwrap().set_len(1 << 30).unwrap();
        let cap = Some(CHECKSUM_FILE_CAP);
        let quiet = crate::progress::Silent;
        let get = |url: &str| {
            let mut out = tempfile::tempfile().unwrap();
            let result = download(&client, url, &mut out, RetryPolicy::default(), cap, ("t", &quiet));
            (result, out.metadata().unwrap().len())
        };
        // Refused from its size: nothing read.
        let (result, written) = get(&format!("file://{}", sparse.display()));
        assert_eq!(
            result,
            Err(TransportError::TooLarge {
                cap: CHECKSUM_FILE_CAP,
                announced: Some(1 << 30)
            })
        );
        assert_eq!(written, 0);
        // A file without a size (a device that never ends): cut at the cap.
        let (result, written) = get("file:///dev/zero");
        assert!(matches!(
            result,
            Err(TransportError::TooLarge { announced: None, .. })
        ));
        assert_eq!(written, CHECKSUM_FILE_CAP + 1);
    }
}
