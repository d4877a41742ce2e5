//! The one HTTP stack of the tool: how clients are built, the one retry
//! loop (backoff, `Retry-After` parsed once, typed reasons), redaction of
//! credentials in URLs, and plain error texts. Downloads (`fetch`) and the
//! registry client (`registry`) both go through here.

use std::fmt;
use std::io::Read;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, RETRY_AFTER};

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

/// Longest wait for a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// Longest silence from a peer: for the response headers once the request
/// is sent, and between two reads of a body. A peer that dribbles its
/// headers is cut off here, not after the whole-request limit.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Slowest transfer allowed once the size is known: a request's overall
/// deadline is [`IDLE_TIMEOUT`] plus its size at this rate.
pub const MIN_RATE: u64 = 128 * 1024;
/// Overall deadline of a body whose size is not announced.
pub const UNSIZED_DEADLINE: Duration = Duration::from_secs(30 * 60);

/// The environment variable that sets the longest silence in seconds
/// (default 60); the deadline of a body without a size scales with it
/// (30 times it). For slow links, and for tests that need a quick bound.
pub const TIMEOUT_ENV: &str = "MATRIX_HTTP_TIMEOUT_SECS";

static IDLE: OnceLock<Duration> = OnceLock::new();

/// Sets the longest silence for this process (the command line reads
/// [`TIMEOUT_ENV`]); the first call wins.
pub fn set_idle_timeout(idle: Duration) {
    let _ = IDLE.set(idle);
}

/// The longest silence in effect: [`IDLE_TIMEOUT`] unless set.
pub fn idle_timeout() -> Duration {
    IDLE.get().copied().unwrap_or(IDLE_TIMEOUT)
}

/// Builds a blocking client: our user agent, a connect timeout, `idle` as
/// the longest silence (headers, and each read of a body), at most five
/// redirects (reqwest drops credentials when a redirect changes host).
pub fn client(idle: Duration) -> Result<reqwest::blocking::Client, reqwest::Error> {
    reqwest::blocking::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT.min(idle))
        .timeout(idle)
        .redirect(reqwest::redirect::Policy::limited(5))
        .user_agent(concat!("matrix/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// The overall time a transfer of `len` bytes may take (uploads set it as
/// their request limit; downloads as their [`Deadline`]).
pub fn transfer_limit(len: Option<u64>) -> Duration {
    let idle = idle_timeout();
    len.map_or(
        UNSIZED_DEADLINE.mul_f64(idle.as_secs_f64() / IDLE_TIMEOUT.as_secs_f64()),
        |len| idle.saturating_add(Duration::from_secs(len / MIN_RATE)),
    )
}

/// A body read with an overall deadline: a peer that sends one byte just
/// before each idle timeout is still cut off.
pub struct Deadline<R> {
    inner: R,
    until: Instant,
}

impl<R> Deadline<R> {
    /// `inner`, readable until `limit` from now.
    pub fn new(inner: R, limit: Duration) -> Deadline<R> {
        Deadline {
            inner,
            until: Instant::now() + limit,
        }
    }
}

impl<R: Read> Read for Deadline<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if Instant::now() >= self.until {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the transfer passed its overall deadline",
            ));
        }
        self.inner.read(buf)
    }
}

/// `Retry-After` in seconds, if the server sent one.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// Statuses worth another attempt: server errors, 429 and 408.
pub fn is_retryable(status: reqwest::StatusCode) -> bool {
    status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408
}

/// Why one attempt failed in a way another attempt may fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Retryable {
    /// A retryable status, with the server's wait and message if any.
    Status {
        /// The status code.
        code: u16,
        /// `Retry-After`.
        wait: Option<Duration>,
        /// What the server said (may be empty).
        detail: String,
    },
    /// Connection, timeout or a body cut short.
    Network(String),
}

impl Retryable {
    fn wait(&self) -> Option<Duration> {
        match self {
            Retryable::Status { wait, .. } => *wait,
            Retryable::Network(_) => None,
        }
    }
}

impl fmt::Display for Retryable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Retryable::Status { code, .. } => write!(f, "HTTP {code}"),
            Retryable::Network(reason) => f.write_str(reason),
        }
    }
}

/// One attempt's result.
pub enum Step<T, E> {
    /// It worked.
    Done(T),
    /// It failed for good.
    Fatal(E),
    /// It may work next time.
    Retry(Retryable),
}

/// How a retried operation ended without success.
#[derive(Debug)]
pub enum Failed<E> {
    /// An attempt failed for good.
    Fatal(E),
    /// Every attempt failed; the last reason.
    GaveUp(Retryable),
}

/// Runs `attempt` (given its number, from 1) until it is done, fails for
/// good, or the policy's attempts are used up; `on_retry` hears of each
/// retry before the wait.
pub fn with_retries<T, E>(
    policy: RetryPolicy,
    mut attempt: impl FnMut(u32) -> Step<T, E>,
    mut on_retry: impl FnMut(u32, &Retryable),
) -> Result<T, Failed<E>> {
    let mut number = 1;
    loop {
        match attempt(number) {
            Step::Done(value) => return Ok(value),
            Step::Fatal(error) => return Err(Failed::Fatal(error)),
            Step::Retry(reason) => {
                if number >= policy.attempts {
                    return Err(Failed::GaveUp(reason));
                }
                number += 1;
                on_retry(number, &reason);
                std::thread::sleep(policy.wait(number, reason.wait()));
            }
        }
    }
}

/// A URL or address as the user gave it (mirror, registry, source, COPY
/// URL), which may carry `user:password@`. `Display` and `Debug` show it
/// redacted, so it can go into errors, progress and log lines as it is;
/// only [`SecretUrl::expose`] gives the credentials, for the request itself.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SecretUrl(String);

impl SecretUrl {
    /// Wraps what the user gave.
    pub fn new(url: impl Into<String>) -> SecretUrl {
        SecretUrl(url.into())
    }

    /// The URL with its credentials, for the request only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl PartialEq<&str> for SecretUrl {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// Written out (JSON reports, SBOM download locations) in the redacted
/// form: a URL without userinfo is written as it is.
impl serde::Serialize for SecretUrl {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl From<&str> for SecretUrl {
    fn from(url: &str) -> Self {
        SecretUrl::new(url)
    }
}

impl From<String> for SecretUrl {
    fn from(url: String) -> Self {
        SecretUrl(url)
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact(&self.0))
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretUrl({:?})", redact(&self.0))
    }
}

/// Removes userinfo from a URL or address so it can be shown: everything
/// in the authority (after `scheme://`, before the first `/`, `?` or `#`)
/// up to its *last* `@` becomes `***`, so a password holding `@` leaks
/// nothing. Works without a scheme too (`user:pw@host/ns`); a digest
/// (`name@sha256:...`) is not userinfo.
pub fn redact(url: &str) -> String {
    let start = url.find("://").map_or(0, |scheme| scheme + 3);
    let rest = &url[start..];
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) if !rest[at + 1..].starts_with("sha256:") => {
            format!("{}***@{}", &url[..start], &rest[at + 1..])
        }
        _ => url.to_string(),
    }
}

/// Redacts the userinfo of every URL (`scheme://...`) in a line of text,
/// such as a line of a file quoted in an error.
pub fn redact_text(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '`' | ',' | ']'))
            .unwrap_or(tail.len());
        out.push_str(&redact(&tail[..end]));
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_hidden() {
        assert_eq!(redact("https://user:secret@host/path"), "https://***@host/path");
        assert_eq!(redact("https://host/p@th"), "https://host/p@th");
        assert_eq!(redact("https://u:p@ss@host/x"), "https://***@host/x");
        assert_eq!(redact("u:p@ss@host:5000/ns"), "***@host:5000/ns");
        assert_eq!(redact("pause@sha256:abc"), "pause@sha256:abc");
        assert_eq!(
            redact_text("a = \"http://u:p@ss@h/x\", b = 'file:///k@v'"),
            "a = \"http://***@h/x\", b = 'file:///k@v'"
        );
        let url = SecretUrl::new("https://u:s3cr@t@host/x");
        assert!(!format!("{url} {url:?}").contains("s3cr"));
        assert_eq!(url.expose(), "https://u:s3cr@t@host/x");
        assert_eq!(serde_json::to_string(&url).unwrap(), "\"https://***@host/x\"");
    }

    #[test]
    fn dribbled_headers_and_bodies_are_cut_off() {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut line = String::new();
                    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                        line.clear();
                    }
                    let mut stream = stream;
                    // Headers one byte at a time, never finished.
                    let _ = stream.write_all(b"HTTP/1.1 200 OK\r\n");
                    for _ in 0..600 {
                        if stream.write_all(b"X").is_err() {
                            return;
                        }
                        std::thread::sleep(Duration::from_millis(100));
                    }
                });
            }
        });
        let client = client(Duration::from_millis(700)).unwrap();
        let started = Instant::now();
        let result = client.get(format!("http://{addr}/")).send();
        assert!(result.is_err_and(|e| e.is_timeout()));
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );

        // A body that keeps coming stops at the overall deadline.
        let mut endless = Deadline::new(std::io::repeat(7), Duration::ZERO);
        let error = std::io::copy(&mut endless, &mut std::io::sink()).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::TimedOut);
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

    #[test]
    fn the_loop_retries_then_gives_up_with_the_typed_reason() {
        let policy = RetryPolicy {
            attempts: 3,
            backoff: Duration::ZERO,
            max_wait: Duration::ZERO,
        };
        let mut retries = Vec::new();
        let result: Result<(), Failed<()>> = with_retries(
            policy,
            |_| {
                Step::Retry(Retryable::Status {
                    code: 503,
                    wait: None,
                    detail: String::new(),
                })
            },
            |number, _| retries.push(number),
        );
        assert!(matches!(
            result,
            Err(Failed::GaveUp(Retryable::Status { code: 503, .. }))
        ));
        assert_eq!(retries, vec![2, 3]);
        let done: Result<u32, Failed<()>> = with_retries(
            policy,
            |n| {
                if n < 2 {
                    Step::Retry(Retryable::Network("cut".into()))
                } else {
                    Step::Done(n)
                }
            },
            |_, _| {},
        );
        assert_eq!(done.unwrap(), 2);
    }
}
