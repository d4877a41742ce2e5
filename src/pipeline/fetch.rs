//! Fetching for the pipeline: the artifacts a selection needs (each URL
//! once, as the cell assembly decides them), fetched through the verified
//! cache into a [`FetchSet`] that is looked up by artifact; pinning new
//! digests.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::config::Matrix;
use crate::digest::Sha256;
use crate::fetch::{Artifact, FetchError, FetchOptions, Fetched, Fetcher, Outcome};
use crate::progress::Reporter;

/// What one fetch run got: every artifact fetched or failed, each once.
#[derive(Debug, Default)]
pub struct FetchSet {
    fetched: Vec<Fetched>,
    failures: Vec<(Artifact, FetchError)>,
    /// Upstream URL -> position, the identity of an artifact's bytes.
    index: HashMap<crate::net::SecretUrl, Result<usize, usize>>,
}

impl FetchSet {
    /// The verified artifact, if it was fetched.
    pub fn get(&self, artifact: &Artifact) -> Option<&Fetched> {
        match self.index.get(&artifact.url)? {
            Ok(at) => self.fetched.get(*at),
            Err(_) => None,
        }
    }

    /// Why the artifact was not fetched, if it was tried.
    pub fn failure(&self, artifact: &Artifact) -> Option<&FetchError> {
        match self.index.get(&artifact.url)? {
            Err(at) => self.failures.get(*at).map(|(_, error)| error),
            Ok(_) => None,
        }
    }

    /// The artifacts fetched or found in the cache.
    pub fn fetched(&self) -> &[Fetched] {
        &self.fetched
    }

    /// The artifacts that failed, with why.
    pub fn failures(&self) -> &[(Artifact, FetchError)] {
        &self.failures
    }

    /// Takes the failures out (the set keeps what was fetched), so the
    /// first can be the error of a step that needs every artifact.
    pub fn take_failures(&mut self) -> Vec<(Artifact, FetchError)> {
        self.index.retain(|_, at| at.is_ok());
        std::mem::take(&mut self.failures)
    }

    /// A set holding `fetched` (tests of the stages after fetching).
    #[cfg(test)]
    pub(super) fn of(fetched: Vec<Fetched>) -> FetchSet {
        let index = fetched
            .iter()
            .enumerate()
            .map(|(at, f)| (f.artifact.url.clone(), Ok(at)))
            .collect();
        FetchSet {
            fetched,
            failures: Vec::new(),
            index,
        }
    }
}

/// Fetches `artifacts` with bounded parallelism; failures are kept per
/// artifact, not raised, so the cells that do not need them go on.
pub fn fetch_set(
    matrix: &Matrix,
    options: FetchOptions,
    artifacts: &[Artifact],
    reporter: &dyn Reporter,
) -> Result<FetchSet, FetchError> {
    let fetcher = Fetcher::new(options)?;
    let pins = |artifact: &Artifact| matrix.lock.pin(&artifact.key()).cloned();
    let mut set = FetchSet::default();
    for (artifact, result) in artifacts
        .iter()
        .zip(fetcher.fetch_all(artifacts, &pins, reporter))
    {
        let entry = match result {
            Ok(fetched) => {
                set.fetched.push(fetched);
                Ok(set.fetched.len() - 1)
            }
            Err(error) => {
                set.failures.push((artifact.clone(), error));
                Err(set.failures.len() - 1)
            }
        };
        set.index.insert(artifact.url.clone(), entry);
    }
    Ok(set)
}

/// The `matrix fetch --json` report.
#[derive(Debug, Serialize)]
pub struct FetchReport<'a> {
    /// Artifacts downloaded now.
    pub fetched: usize,
    /// Artifacts found in the cache (and verified).
    pub cached: usize,
    /// Artifacts that failed.
    pub failed: usize,
    /// Bytes downloaded now.
    pub bytes_fetched: u64,
    /// Every artifact that is in the cache now.
    pub artifacts: &'a [Fetched],
    /// Why each failure failed.
    pub failures: Vec<String>,
}

impl FetchSet {
    /// The report of this run.
    pub fn report(&self) -> FetchReport<'_> {
        let now = |f: &&Fetched| f.outcome == Outcome::Fetched;
        FetchReport {
            fetched: self.fetched.iter().filter(now).count(),
            cached: self
                .fetched
                .iter()
                .filter(|f| f.outcome == Outcome::Cached)
                .count(),
            failed: self.failures.len(),
            bytes_fetched: self.fetched.iter().filter(now).map(|f| f.size).sum(),
            artifacts: &self.fetched,
            failures: self.failures.iter().map(|(_, error)| error.to_string()).collect(),
        }
    }

    /// Digests of fetched artifacts the lock does not pin yet, by lock key.
    pub fn unpinned(&self, matrix: &Matrix) -> BTreeMap<String, Sha256> {
        self.fetched
            .iter()
            .filter(|f| matrix.lock.pin(&f.artifact.key()).is_none())
            .map(|f| (f.artifact.key(), f.digest.clone()))
            .collect()
    }
}
