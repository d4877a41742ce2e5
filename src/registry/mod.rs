//! Everything that talks the OCI distribution API: the client, saving a
//! cell's images into `registry/`, pushing built images, and comparing
//! planned tags with published ones.

mod auth;
mod blobs;
mod client;
mod diff;
mod error;
mod push;
mod reference;
mod save;
mod target;

pub use auth::{AuthFileError, Challenge, CredentialStore, Credentials, parse_challenge};
pub use client::{CHUNK, Client, RegistryError, is_loopback, next_link};
pub use diff::{ImageDiff, RegistryDiff, diff};
pub use push::{PushReport, push};
pub use reference::{ImageMirror, ImageRef, ReferenceError, pull_source};
pub use save::{REGISTRY_ROOT, RegistrySaver};
pub use target::Target;
