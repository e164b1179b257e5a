//! OCI and Docker wire formats: digests, names, references, media types and
//! manifest parsing. Pure functions, no I/O.

mod digest;
pub mod manifest;
pub mod media;
mod names;

pub use digest::{Algorithm, Digest, DigestError, Hasher};
pub use names::{NameError, Reference, RepoName, Tag};
