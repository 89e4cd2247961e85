//! MusicBrainz identifiers and entity types.
//!
//! An [`Mbid`] can only be built from a canonical, hyphenated UUID, so every
//! layer past the gRPC boundary can trust it; malformed input is rejected
//! before any database query or job is made.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A MusicBrainz identifier (a UUID, always rendered lowercase and hyphenated).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Mbid(Uuid);

/// Why a string is not an MBID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MbidError {
    #[error("mbid is empty")]
    Empty,
    #[error("mbid {0:?} is not a 36-character hyphenated UUID")]
    Malformed(String),
    /// MusicBrainz's `is_guid` refuses the nil UUID; no entity has it.
    #[error("the nil UUID is not an mbid")]
    Nil,
}

impl Mbid {
    /// Parses the canonical 36-character form (either case); other UUID
    /// spellings (braces, URNs, no hyphens) are refused, as MusicBrainz does.
    pub fn parse(s: &str) -> Result<Self, MbidError> {
        if s.is_empty() {
            return Err(MbidError::Empty);
        }
        let shown: String = s.chars().take(64).collect();
        if s.len() != 36 {
            return Err(MbidError::Malformed(shown));
        }
        let uuid = Uuid::try_parse(s).map_err(|_| MbidError::Malformed(shown))?;
        if uuid.is_nil() {
            return Err(MbidError::Nil);
        }
        Ok(Mbid(uuid))
    }

    pub fn from_uuid(uuid: Uuid) -> Self {
        Mbid(uuid)
    }

    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl FromStr for Mbid {
    type Err = MbidError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Mbid::parse(s)
    }
}

impl TryFrom<String> for Mbid {
    type Error = MbidError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Mbid::parse(&s)
    }
}

impl From<Mbid> for String {
    fn from(m: Mbid) -> String {
        m.to_string()
    }
}

impl fmt::Display for Mbid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl fmt::Debug for Mbid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mbid({self})")
    }
}

/// The five entity types musicmeta caches. The serialized form is the ws/2
/// resource name (`release-group`), which is also what jobs and the database use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EntityType {
    Artist,
    ReleaseGroup,
    Release,
    Recording,
    Label,
}

/// An entity-type name that is not one of the five.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown entity type {0:?} (expected artist, release-group, release, recording or label)")]
pub struct UnknownEntityType(pub String);

impl EntityType {
    pub const ALL: [EntityType; 5] = [
        EntityType::Artist,
        EntityType::ReleaseGroup,
        EntityType::Release,
        EntityType::Recording,
        EntityType::Label,
    ];

    /// The ws/2 resource name, e.g. `release-group`.
    pub fn as_str(self) -> &'static str {
        match self {
            EntityType::Artist => "artist",
            EntityType::ReleaseGroup => "release-group",
            EntityType::Release => "release",
            EntityType::Recording => "recording",
            EntityType::Label => "label",
        }
    }
}

impl fmt::Display for EntityType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EntityType {
    type Err = UnknownEntityType;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EntityType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownEntityType(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_canonical_and_normalises_case() {
        let m = Mbid::parse("5B11F4CE-A62D-471E-81FC-A69A8278C7DA").unwrap();
        assert_eq!(m.to_string(), "5b11f4ce-a62d-471e-81fc-a69a8278c7da");
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "not-a-uuid",
            "5b11f4cea62d471e81fca69a8278c7da",
            "{5b11f4ce-a62d-471e-81fc-a69a8278c7da}",
            "5b11f4ce-a62d-471e-81fc-a69a8278c7dz",
            " 5b11f4ce-a62d-471e-81fc-a69a8278c7da",
            "5b11f4ce-a62d-471e-81fc-a69a8278c7da ",
            "5b11f4ce-a62d-471e-81fc-a69a8278c7d",
            "5b11f4ce-a62d-471e-81fc-a69a8278c7da0",
            "urn:uuid:5b11f4ce-a62d-471e-81fc-a69a8278c7da",
            "5b11f4ce_a62d_471e_81fc_a69a8278c7da",
            // Cyrillic 'а' (U+0430) for the first 'a': 36 characters, 37 bytes.
            "5b11f4ce-\u{430}62d-471e-81fc-a69a8278c7d",
            // Fullwidth digits look the same and are not hex.
            "\u{ff15}b11f4ce-a62d-471e-81fc-a69a8278c7",
            "5b11f4ce-a62d-471e-81fc-a69a8278c7da'; drop table x;--",
        ] {
            assert!(Mbid::parse(bad).is_err(), "{bad:?} should be rejected");
        }
        // Well-formed, but MusicBrainz's is_guid refuses it too.
        assert_eq!(
            Mbid::parse("00000000-0000-0000-0000-000000000000"),
            Err(MbidError::Nil)
        );
    }

    #[test]
    fn huge_input_is_rejected_and_not_echoed_in_full() {
        let huge = "a".repeat(1 << 20);
        let err = Mbid::parse(&huge).unwrap_err().to_string();
        assert!(err.len() < 200, "{} bytes of error", err.len());
    }

    #[test]
    fn entity_type_round_trips() {
        for t in EntityType::ALL {
            assert_eq!(t.as_str().parse::<EntityType>().unwrap(), t);
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(json, format!("\"{}\"", t.as_str()));
        }
        assert!("work".parse::<EntityType>().is_err());
    }
}
