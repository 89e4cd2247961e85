//! The MusicBrainz web service (ws/2, JSON) as musicmeta talks to it. Only
//! the programs that make upstream requests link this crate; what both
//! programs share (domain types, storage, jobs) stays in `musicmeta-shared`.
//!
//! Layout:
//! - [`includes`]: which `inc=` each entity type is fetched with.
//! - [`client`]: the HTTP client: one request per entity with `inc=`, the
//!   operator's User-Agent, 503/Retry-After handling, browse paging.
//! - [`forward`]: forwarding what only MusicBrainz can answer (a user's
//!   own data, writes, OAuth), uncached, within the same budget.
//! - [`model`]: the serde model of ws/2 responses and its mapping into
//!   `musicmeta_shared::domain` types, lenient about the nulls and schema
//!   drift real responses carry.
//! - [`ratelimit`]: the request gate every upstream request passes: priority
//!   lanes and one budget shared by every process on a database.
//! - [`ws2`]: the ws/2 grammar, without I/O: a request validated as
//!   MusicBrainz validates it, its cache key and upstream form, and the
//!   projection of a superset document onto a smaller `inc`.

// Library code returns its errors; `unwrap` is for tests (clippy.toml).
#![warn(clippy::unwrap_used)]

pub mod client;
pub mod forward;
pub mod includes;
pub mod model;
pub mod ratelimit;
pub mod ws2;

pub use client::{FetchError, MusicBrainzClient};
pub use model::{ParseError, parse_entity};
pub use ratelimit::RateGate;
