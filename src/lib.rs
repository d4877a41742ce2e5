//! `matrix`: one declarative `matrix.toml` in, every sealos cluster image out.
//!
//! Data flows one way: `config` (matrix.toml, matrix.lock) -> `plan` (cells,
//! tags, rules) -> `render` (a cell's `context`: runtime files, kubeadm.yml,
//! image list, Kubefile). Nothing here prints or draws; the binary's `cli` module
//! does that.
#![deny(missing_docs)]

pub mod app;
pub mod axis;
pub mod cell;
pub mod chatops;
pub mod config;
pub mod context;
pub mod digest;
pub mod error;
pub mod fetch;
pub mod fsutil;
pub mod gotmpl;
pub mod helm;
pub mod kubefile;
pub mod lock;
pub mod net;
pub mod oci;
pub mod pipeline;
pub mod placeholder;
pub mod plan;
pub mod progress;
pub mod recipe;
pub mod registry;
pub mod render;
pub mod source;
pub mod tag;
pub mod verify;
pub mod version;

pub use axis::{Arch, Cri};
pub use config::Matrix;
pub use plan::{Cell, Plan, PlannedCell};
pub use tag::{Tag, TagSelector};
pub use version::{KubeMinor, KubeVersion, SealosVersion};
