//! The LISTEN/NOTIFY contract between workers and waiting lookups.
//!
//! A worker's transaction calls `pg_notify(CHANNEL, payload)` for everything
//! it resolves (an entity filled, a 404 or redirect recorded, a ws/2
//! document stored); PostgreSQL delivers it on commit, so a woken lookup
//! always finds the committed rows.

use std::fmt;

use crate::mbid::{EntityType, Mbid};

/// The channel name; a plain identifier, so `LISTEN` needs no quoting.
pub const CHANNEL: &str = "musicmeta_filled";

/// The prefix of document payloads (never an entity type's name).
const DOCUMENT: &str = "ws2";

/// What a fill notification names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Filled {
    /// A typed entity: its row, its 404 or its redirect.
    Entity(EntityType, Mbid),
    /// A ws/2 document, by its id (`fetch_requests::document_id` of its key).
    Document(Mbid),
}

impl Filled {
    /// `release:5b11f4ce-…` or `ws2:0f8fad5b-…`.
    pub fn payload(&self) -> String {
        self.to_string()
    }

    /// Parses a payload written by [`Filled::payload`]; `None` for anything else.
    pub fn parse(payload: &str) -> Option<Self> {
        let (t, m) = payload.split_once(':')?;
        let mbid = m.parse().ok()?;
        if t == DOCUMENT {
            return Some(Filled::Document(mbid));
        }
        Some(Filled::Entity(t.parse().ok()?, mbid))
    }
}

impl fmt::Display for Filled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Filled::Entity(t, m) => write!(f, "{t}:{m}"),
            Filled::Document(id) => write!(f, "{DOCUMENT}:{id}"),
        }
    }
}

/// The payload of an entity's fill notification.
pub fn payload(entity_type: EntityType, mbid: Mbid) -> String {
    Filled::Entity(entity_type, mbid).payload()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trips() {
        let mbid = Mbid::parse("5b11f4ce-a62d-471e-81fc-a69a8278c7da").unwrap();
        for filled in [
            Filled::Entity(EntityType::ReleaseGroup, mbid),
            Filled::Document(mbid),
        ] {
            assert_eq!(Filled::parse(&filled.payload()), Some(filled));
        }
        assert_eq!(payload(EntityType::Label, mbid), format!("label:{mbid}"));
        assert_eq!(Filled::parse("release:nope"), None);
        assert_eq!(
            Filled::parse("work:5b11f4ce-a62d-471e-81fc-a69a8278c7da"),
            None
        );
        assert_eq!(Filled::parse("nonsense"), None);
    }
}
