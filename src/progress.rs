//! Progress events from long work (downloads, layers, pushes). The library
//! only reports; the CLI decides whether to draw bars (on a TTY) or log.

/// Something that happened to one named task.
#[derive(Debug, Clone)]
pub enum Event<'a> {
    /// A task began; `total` bytes if known.
    Started {
        /// Task name (`kubelet v1.24.4 amd64`).
        task: &'a str,
        /// Expected size.
        total: Option<u64>,
    },
    /// `bytes` more were done.
    Advanced {
        /// Task name.
        task: &'a str,
        /// Bytes since the last event.
        bytes: u64,
    },
    /// The task is being tried again.
    Retrying {
        /// Task name.
        task: &'a str,
        /// Which attempt comes next (2 for the first retry).
        attempt: u32,
        /// Why.
        reason: &'a str,
    },
    /// The task ended.
    Finished {
        /// Task name.
        task: &'a str,
        /// How it ended.
        outcome: Outcome,
    },
}

/// How a task ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Downloaded now.
    Fetched,
    /// Found in the cache, verified.
    Cached,
    /// Written now.
    Built,
    /// Inputs and blobs unchanged; nothing written.
    Unchanged,
    /// Uploaded now.
    Pushed,
    /// Already at the destination; nothing sent.
    Present,
    /// Mounted from another repository of the registry.
    Mounted,
    /// Checked and sound.
    Verified,
    /// It failed (the caller reports why).
    Failed,
}

impl Outcome {
    /// One word for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Fetched => "fetched",
            Outcome::Cached => "cached",
            Outcome::Built => "built",
            Outcome::Unchanged => "unchanged",
            Outcome::Pushed => "pushed",
            Outcome::Present => "present",
            Outcome::Mounted => "mounted",
            Outcome::Verified => "verified",
            Outcome::Failed => "failed",
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Receives events; implementations must be shareable across threads.
pub trait Reporter: Sync {
    /// Called for every event.
    fn report(&self, event: Event<'_>);
}

/// Makes a reporter per stage of a pipeline operation (`fetch`, `build`,
/// ...), once the number of tasks in it is known.
pub trait Progress {
    /// A reporter for `total` tasks of `stage`.
    fn stage(&self, stage: &str, total: usize) -> Box<dyn Reporter>;
}

impl Progress for Silent {
    fn stage(&self, _stage: &str, _total: usize) -> Box<dyn Reporter> {
        Box::new(Silent)
    }
}

/// A reporter that ignores everything (tests, quiet runs).
pub struct Silent;

impl Reporter for Silent {
    fn report(&self, _event: Event<'_>) {}
}
