//! The OCI distribution API client and nothing else: auth, blobs,
//! manifests, tag lists, references. Saving, pushing and diffing built
//! images are pipeline work (the `pipeline` module, above this one).

mod auth;
mod blobs;
mod client;
mod error;
mod image;
mod reference;
mod referrers;
mod target;

pub use auth::{AuthFileError, AuthJsonError, Challenge, CredentialStore, Credentials, parse_challenge};
pub use client::{CHUNK, Client, RegistryError, is_loopback, next_link};
pub use image::{ImageFrom, ImageReader, Pulled, PulledImage};
pub use reference::{ImageMirror, ImageMirrorError, ImageRef, ReferenceError, pull_source};
pub use referrers::{Referrer, fallback_tag, list as list_referrers, names_subject, put as put_referrers};
pub use target::{Target, TargetError};

// A malformed reference, target, mirror or auth file is the user's to fix;
// a registry that refuses, fails or lies is a failure.
crate::error::fault!(
    bad_input: AuthFileError,
    AuthJsonError,
    ReferenceError,
    TargetError,
    ImageMirrorError
);
crate::error::fault!(failure: RegistryError);
