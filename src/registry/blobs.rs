//! Blob operations of the client: existence checks, verified downloads
//! into the cache, cross-repository mounts, and uploads (one PUT when small,
//! PATCH chunks when large, restarted from a new session on failure).

use std::io::{Read, Write};

use oci_spec::image::Descriptor;
use std::path::{Path, PathBuf};

use reqwest::blocking::Response;
use reqwest::header::{self, HeaderValue};
use reqwest::{Method, StatusCode};

use super::client::{Body, Client, expect_ok, expect_status};
use super::error::RegistryError;
use crate::digest::{HashingWriter, Sha256};
use crate::fetch::Cache;
use crate::net::{Deadline, Failed, Retryable, Step, transfer_limit, with_retries};
use crate::oci::descriptor_digest;

impl Client {
    /// True if the repository has the blob.
    pub fn blob_exists(&self, host: &str, repository: &str, digest: &str) -> Result<bool, RegistryError> {
        let path = format!("/v2/{repository}/blobs/{digest}");
        let scope = format!("repository:{repository}:pull");
        let response = self.send(&self.request(Method::HEAD, host, &path, &scope))?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(false);
        }
        expect_ok(&Method::HEAD, &self.url(host, &path), response).map(|_| true)
    }

    /// Downloads a blob into the cache (verified), unless it is there.
    pub fn fetch_blob(
        &self,
        host: &str,
        repository: &str,
        digest: &str,
        cache: &Cache,
    ) -> Result<PathBuf, RegistryError> {
        let expected: Sha256 =
            digest
                .parse()
                .map_err(|e: crate::digest::DigestError| RegistryError::Invalid {
                    what: format!("blob of {repository}"),
                    message: e.to_string(),
                })?;
        self.fetch_blob_within(host, repository, &expected, None, cache)
    }

    /// Downloads the blob a descriptor names into the cache (verified),
    /// reading no more than the descriptor's size.
    pub fn fetch_descriptor(
        &self,
        host: &str,
        repository: &str,
        descriptor: &Descriptor,
        cache: &Cache,
    ) -> Result<PathBuf, RegistryError> {
        let what = format!("blob of {repository}");
        let expected = descriptor_digest(&what, descriptor)?;
        self.fetch_blob_within(host, repository, &expected, Some(descriptor.size()), cache)
    }

    /// Downloads a blob, stopping once it runs past `size` bytes.
    fn fetch_blob_within(
        &self,
        host: &str,
        repository: &str,
        expected: &Sha256,
        size: Option<u64>,
        cache: &Cache,
    ) -> Result<PathBuf, RegistryError> {
        let digest = expected.to_string();
        let digest = digest.as_str();
        let expected = expected.clone();
        let oversize = || RegistryError::Oversize {
            what: format!("blob {repository}@{digest}"),
            size: size.unwrap_or(0),
        };
        if let Some(path) = cache.verified(&expected) {
            return Ok(path);
        }
        let path = format!("/v2/{repository}/blobs/{digest}");
        let scope = format!("repository:{repository}:pull");
        let url = self.url(host, &path);
        let io = |what: &str| {
            let what = what.to_string();
            move |source| RegistryError::Io { what, source }
        };
        // A body cut short is fetched again; the rest fails at once.
        let attempt = |_| -> Step<PathBuf, RegistryError> {
            let run = || -> Result<Result<PathBuf, std::io::Error>, RegistryError> {
                let mut temp = cache.temp_file().map_err(io("creating a temp file"))?;
                let response = expect_ok(
                    &Method::GET,
                    &url,
                    self.send(&self.request(Method::GET, host, &path, &scope))?,
                )?;
                if let (Some(limit), Some(length)) = (size, response.content_length())
                    && length > limit
                {
                    return Err(oversize());
                }
                let mut writer = HashingWriter::new(temp.as_file_mut());
                let limit = transfer_limit(size.or(response.content_length()));
                let mut reader =
                    Deadline::new(response, limit).take(size.map_or(u64::MAX, |limit| limit + 1));
                match std::io::copy(&mut reader, &mut writer) {
                    Err(cut) => return Ok(Err(cut)),
                    Ok(copied) if size.is_some_and(|limit| copied > limit) => return Err(oversize()),
                    Ok(_) => {}
                }
                let (_, (actual, _)) = writer.finish();
                if actual != expected {
                    return Err(RegistryError::Digest {
                        what: format!("blob {repository}@{digest}"),
                        expected: digest.to_string(),
                        actual: actual.to_string(),
                    });
                }
                temp.as_file_mut().flush().map_err(io("writing a blob"))?;
                Ok(Ok(cache.commit(temp, &expected).map_err(io("caching a blob"))?))
            };
            match run() {
                Ok(Ok(path)) => Step::Done(path),
                Ok(Err(cut)) => Step::Retry(Retryable::Network(cut.to_string())),
                Err(error) => Step::Fatal(error),
            }
        };
        let on_retry = |number, reason: &Retryable| tracing::info!("retry {number} of GET {url}: {reason}");
        with_retries(self.retry, attempt, on_retry).map_err(|failed| match failed {
            Failed::Fatal(error) => error,
            Failed::GaveUp(reason) => RegistryError::Network {
                method: "GET".into(),
                url: url.clone(),
                reason: reason.to_string(),
            },
        })
    }

    /// Asks the registry to mount a blob from another repository; true if
    /// it did (no bytes sent).
    pub fn mount_blob(
        &self,
        host: &str,
        repository: &str,
        digest: &str,
        from: &str,
    ) -> Result<bool, RegistryError> {
        let path = format!("/v2/{repository}/blobs/uploads/?mount={digest}&from={from}");
        let scope = format!("repository:{repository}:pull,push repository:{from}:pull");
        let response = self.send(&self.request(Method::POST, host, &path, &scope))?;
        Ok(response.status() == StatusCode::CREATED)
    }

    /// Uploads a blob from a file: in one PUT when small, in PATCH chunks
    /// when large. A failed upload restarts from a new session.
    pub fn upload_blob(
        &self,
        host: &str,
        repository: &str,
        digest: &str,
        file: &Path,
        size: u64,
    ) -> Result<(), RegistryError> {
        // The last failure, to report as it was if every attempt fails.
        let mut last = None;
        let attempt = |_| match self.upload_once(host, repository, digest, file, size) {
            Ok(()) => Step::Done(()),
            Err(error @ (RegistryError::Network { .. } | RegistryError::Http { .. })) => {
                let reason = Retryable::Network(error.to_string());
                last = Some(error);
                Step::Retry(reason)
            }
            Err(error) => Step::Fatal(error),
        };
        let on_retry = |number, reason: &Retryable| {
            tracing::info!("restarting upload of {digest} to {repository} (attempt {number}): {reason}");
        };
        let result = with_retries(self.retry, attempt, on_retry);
        result.map_err(|failed| match (failed, last) {
            (Failed::Fatal(error), _) => error,
            (Failed::GaveUp(_), Some(error)) => error,
            (Failed::GaveUp(reason), None) => RegistryError::Network {
                method: "PUT".into(),
                url: format!("{host}/v2/{repository}/blobs/uploads/"),
                reason: reason.to_string(),
            },
        })
    }

    fn upload_once(
        &self,
        host: &str,
        repository: &str,
        digest: &str,
        file: &Path,
        size: u64,
    ) -> Result<(), RegistryError> {
        let scope = format!("repository:{repository}:pull,push");
        let start = format!("/v2/{repository}/blobs/uploads/");
        let response = expect_status(
            &Method::POST,
            &self.url(host, &start),
            self.send(&self.request(Method::POST, host, &start, &scope))?,
            &[StatusCode::ACCEPTED],
        )?;
        let mut location = self.location(host, &response)?;
        let mut offset = 0;
        while size > self.chunk && offset < size {
            let len = self.chunk.min(size - offset);
            let mut request = self.request(Method::PATCH, host, &location, &scope);
            request.retry = false;
            request.body = Body::File {
                path: file.to_path_buf(),
                offset,
                len,
            };
            request.headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            request.headers.insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("{offset}-{}", offset + len - 1)).map_err(|e| {
                    RegistryError::Invalid {
                        what: "content range".into(),
                        message: e.to_string(),
                    }
                })?,
            );
            let response = expect_status(
                &Method::PATCH,
                &location,
                self.send(&request)?,
                &[StatusCode::ACCEPTED],
            )?;
            location = self.location(host, &response)?;
            offset += len;
        }
        let separator = if location.contains('?') { '&' } else { '?' };
        let finish = format!("{location}{separator}digest={digest}");
        let mut request = self.request(Method::PUT, host, &finish, &scope);
        request.retry = false;
        request.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        request.body = if size > self.chunk {
            Body::Empty
        } else {
            Body::File {
                path: file.to_path_buf(),
                offset: 0,
                len: size,
            }
        };
        expect_status(
            &Method::PUT,
            &location,
            self.send(&request)?,
            &[StatusCode::CREATED],
        )
        .map(|_| ())
    }

    fn location(&self, host: &str, response: &Response) -> Result<String, RegistryError> {
        let location = response
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| RegistryError::Invalid {
                what: "upload".into(),
                message: "the registry sent no Location".into(),
            })?;
        Ok(self.url(host, location))
    }
}
