//! The closed axes of the matrix: container runtimes and CPU architectures.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use thiserror::Error;

/// A name that is not one of an axis's known values.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("unknown {axis} `{input}`; known: {known}")]
pub struct UnknownValue {
    /// Which axis (`CRI`, `arch`).
    pub axis: &'static str,
    /// The name as given.
    pub input: String,
    /// The accepted names, comma separated.
    pub known: String,
}

macro_rules! closed_axis {
    ($(#[$meta:meta])* $name:ident, $axis:literal, { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(rename_all = "lowercase")]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in display order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The name used in matrix.toml, tags and paths.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl FromStr for $name {
            type Err = UnknownValue;

            fn from_str(input: &str) -> Result<Self, Self::Err> {
                match input {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownValue {
                        axis: $axis,
                        input: input.to_string(),
                        known: [$($text),+].join(", "),
                    }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

closed_axis!(
    /// The container runtime a cluster image installs.
    Cri, "CRI", {
        /// containerd (image `kubernetes`).
        Containerd = "containerd",
        /// Docker with cri-dockerd or dockershim (image `kubernetes-docker`).
        Docker = "docker",
        /// CRI-O (image `kubernetes-crio`).
        Crio = "crio",
        /// k3s with its own containerd (image `k3s`).
        K3s = "k3s",
    }
);

closed_axis!(
    /// A CPU architecture, named as OCI platforms name it.
    Arch, "arch", {
        /// x86-64.
        Amd64 = "amd64",
        /// 64-bit ARM.
        Arm64 = "arm64",
    }
);

crate::error::fault!(bad_input: UnknownValue);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for cri in Cri::ALL {
            assert_eq!(cri.as_str().parse::<Cri>().unwrap(), *cri);
        }
        for arch in Arch::ALL {
            assert_eq!(arch.to_string().parse::<Arch>().unwrap(), *arch);
        }
    }

    #[test]
    fn unknown_names_list_the_known_ones() {
        let error = "cri-o".parse::<Cri>().unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown CRI `cri-o`; known: containerd, docker, crio, k3s"
        );
        assert!("x86_64".parse::<Arch>().is_err());
    }
}
