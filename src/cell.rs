//! A cell: one (CRI, Kubernetes, sealos, arch) combination. It sits below
//! both `config` (rules match cells) and `plan` (which enumerates them), so
//! neither has to import the other for it.

use crate::axis::{Arch, Cri};
use crate::version::{KubeVersion, SealosVersion};

/// One buildable unit: a Kubernetes version, a sealos version, a CRI and
/// an architecture. Each cell yields one per-arch image.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cell {
    /// The container runtime (decides the image name).
    pub cri: Cri,
    /// The Kubernetes version.
    pub kube: KubeVersion,
    /// The sealos version (or the dev line).
    pub sealos: SealosVersion,
    /// The architecture.
    pub arch: Arch,
}

impl std::fmt::Display for Cell {
    /// Prints `containerd v1.24.4 sealos 4.1.3 amd64`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} sealos {} {}",
            self.cri, self.kube, self.sealos, self.arch
        )
    }
}
