//! Talking to the MusicBrainz web service (ws/2, JSON).
//!
//! - [`model`]: the serde model of lookup responses and its mapping into
//!   [`crate::domain`] types, lenient about the nulls and schema drift that
//!   real responses carry.
//! - [`client`]: the HTTP client: one request per entity with `inc=`, a
//!   governor rate limit, the operator's User-Agent, and 503/Retry-After
//!   handling.

pub mod client;
pub mod model;

pub use client::{FetchError, FetchOutcome, MusicBrainzClient};
pub use model::{ParseError, parse_entity};
