//! The LISTEN/NOTIFY contract between workers and waiting lookups.
//!
//! A worker's transaction calls `pg_notify(CHANNEL, payload)` for every MBID
//! it resolves (filled, 404 or redirect); PostgreSQL delivers it on commit,
//! so a woken lookup always finds the committed rows.

use crate::mbid::{EntityType, Mbid};

/// The channel name; a plain identifier, so `LISTEN` needs no quoting.
pub const CHANNEL: &str = "musicmeta_filled";

/// `release:5b11f4ce-a62d-471e-81fc-a69a8278c7da`.
pub fn payload(entity_type: EntityType, mbid: Mbid) -> String {
    format!("{entity_type}:{mbid}")
}

/// Parses a payload written by [`payload`]; `None` for anything else.
pub fn parse_payload(payload: &str) -> Option<(EntityType, Mbid)> {
    let (t, m) = payload.split_once(':')?;
    Some((t.parse().ok()?, m.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trips() {
        let mbid = Mbid::parse("5b11f4ce-a62d-471e-81fc-a69a8278c7da").unwrap();
        let p = payload(EntityType::ReleaseGroup, mbid);
        assert_eq!(parse_payload(&p), Some((EntityType::ReleaseGroup, mbid)));
        assert_eq!(parse_payload("release:nope"), None);
        assert_eq!(parse_payload("nonsense"), None);
    }
}
