//! Relationships between entities, and the other facts MusicBrainz attaches
//! to an entity that taggers write into files: composers, lyricists,
//! performers and producers (relationships), ratings, release events, disc
//! IDs and work attributes.
//!
//! These types also derive serde: the typed tables keep them in `details`
//! columns (`shared/src/db/details.rs`) rather than in one table per shape,
//! because they are read only with the entity that owns them.

use serde::{Deserialize, Serialize};

use super::LifeSpan;
use crate::mbid::Mbid;

/// Which way a relationship reads: `forward` from the entity that carries
/// it to its target, `backward` from the target to it (a recording's
/// "performer" relationship to an artist is `backward`: the artist performed
/// on the recording).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    #[default]
    Forward,
    Backward,
}

/// One relationship of an entity, to any kind of target.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Relation {
    /// MusicBrainz's relationship type name: "composer", "performer", "mix".
    pub relation_type: String,
    pub type_id: Option<String>,
    pub direction: Direction,
    /// The ws/2 name of the target's entity type: "artist", "work", "url"...
    pub target_type: String,
    pub target: RelationTarget,
    /// Attributes such as "lead", "guest" or an instrument, with any value
    /// (a number, a key) and the name credited on the release.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<RelationAttribute>,
    pub life_span: LifeSpan,
    /// Position among the relationships of its kind, where the kind is
    /// ordered (the parts of a work, the entries of a series).
    pub ordering_key: Option<i32>,
    /// The name the source is credited as in this relationship.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub source_credit: String,
    /// The name the target is credited as in this relationship.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub target_credit: String,
}

/// The entity at the other end of a relationship, in short form.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RelationTarget {
    /// `None` only when MusicBrainz sent no valid id.
    pub mbid: Option<Mbid>,
    /// The target's name, or its title (recording, release, work, ...), or
    /// its address (url).
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub sort_name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub disambiguation: String,
    /// The target's own type ("Person", "Song"), when it has one.
    pub kind: Option<String>,
    /// The target's own relationships, where MusicBrainz nests them: the
    /// composers of a work met on a track's recording (`work-level-rels`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub relations: Vec<Relation>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RelationAttribute {
    pub name: String,
    pub type_id: Option<String>,
    pub value: Option<String>,
    pub credited_as: Option<String>,
}

/// The community rating: an average of 0–5 stars over `votes` votes;
/// `value` is `None` when nobody voted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Rating {
    pub value: Option<f64>,
    pub votes: i32,
}

// A rating comes from JSON, which has no NaN, so equality is total.
impl Eq for Rating {}

/// A short reference to an area (a country, a city).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AreaRef {
    pub mbid: Option<Mbid>,
    pub name: String,
    /// ISO 3166-1 codes of a country area ("GB"; "XW" for worldwide).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub iso_3166_1_codes: Vec<String>,
}

/// One country (or area) and date a release was issued in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReleaseEvent {
    pub date: Option<String>,
    pub area: Option<AreaRef>,
}

/// A CD table of contents submitted for a medium: its disc ID, length in
/// sectors and track offsets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Disc {
    pub id: String,
    pub sectors: i32,
    pub offsets: Vec<i32>,
}

/// An attribute of a work ("Key": "C major", "JASRAC ID": "...").
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkAttribute {
    pub attribute_type: String,
    pub value: String,
}
