//! What can go wrong talking to a registry; every variant names the
//! method and a URL without credentials or query.

use thiserror::Error;

/// A registry operation that failed.
#[derive(Debug, Error)]
pub enum RegistryError {
    /// The registry answered with an error status.
    #[error("{method} {url}: HTTP {status}{}", if message.is_empty() { String::new() } else { format!(": {message}") })]
    Http {
        /// Method.
        method: String,
        /// URL (without credentials or query).
        url: String,
        /// Status code.
        status: u16,
        /// Registry error message, if any.
        message: String,
    },
    /// Network trouble after every retry.
    #[error("{method} {url}: {reason} (gave up after retries)")]
    Network {
        /// Method.
        method: String,
        /// URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// Authentication failed or is needed.
    #[error("{host}: not authorized{}\n  help: pass --creds USER:PASSWORD, set MATRIX_REGISTRY_CREDS, or log in (REGISTRY_AUTH_FILE, ~/.docker/config.json)", if detail.is_empty() { String::new() } else { format!(" ({detail})") })]
    Unauthorized {
        /// Host.
        host: String,
        /// What the registry said.
        detail: String,
    },
    /// Plain HTTP to a non-loopback host.
    #[error(
        "{host} is not a loopback address, so plain http:// is refused\n  help: pass --insecure if you mean it"
    )]
    Insecure {
        /// Host.
        host: String,
    },
    /// Content did not match its digest.
    #[error("{what}: expected {expected}, got {actual}")]
    Digest {
        /// What was checked.
        what: String,
        /// Expected digest.
        expected: String,
        /// Actual digest.
        actual: String,
    },
    /// A document that does not parse or lacks something.
    #[error("{what}: {message}")]
    Invalid {
        /// What.
        what: String,
        /// Why.
        message: String,
    },
    /// Local file trouble.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A manifest or index that is too large, of the wrong kind, or
    /// does not parse.
    #[error(transparent)]
    Document(#[from] crate::oci::DocumentError),
    /// A layout or store without the image asked for.
    #[error("{reference} is not in {place}")]
    NotFound {
        /// The reference.
        reference: String,
        /// The layout or store.
        place: String,
    },
    /// The build's own store could not be read.
    #[error(transparent)]
    Store(#[from] crate::oci::StoreError),
    /// A blob longer than its descriptor says (the download is stopped).
    #[error("{what}: the registry sent more than the {size} bytes its descriptor gives")]
    Oversize {
        /// The blob.
        what: String,
        /// The descriptor's size.
        size: u64,
    },
}
