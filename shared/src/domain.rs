//! The cached entities as plain data, free of I/O and of the ws/2 JSON shape.
//!
//! These are what the repositories store and load, what the worker builds
//! from a MusicBrainz response, and what the gRPC layer turns into protobuf.
//! Partial dates stay strings (`"1990"`, `"2012-09"`), as MusicBrainz gives
//! them. `Option<String>` means "unknown"; an empty string is a known empty
//! value (a barcode of `""` means the release has none).

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::mbid::{EntityType, Mbid};

pub mod relations;

pub use relations::{
    AreaRef, Direction, Disc, Rating, Relation, RelationAttribute, RelationTarget, ReleaseEvent,
    WorkAttribute,
};

/// Begin/end of an artist, label, alias or relation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LifeSpan {
    pub begin: Option<String>,
    pub end: Option<String>,
    pub ended: bool,
}

/// An alternative name (alias) of an entity.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Alias {
    pub name: String,
    pub sort_name: String,
    pub alias_type: Option<String>,
    pub locale: Option<String>,
    pub primary: bool,
    pub life_span: LifeSpan,
}

/// A folksonomy tag or a genre with its vote count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tag {
    pub name: String,
    pub count: i32,
}

/// A relation to an external URL (homepage, Discogs, Wikidata, ...).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UrlRelation {
    pub relation_type: String,
    pub url: String,
    pub life_span: LifeSpan,
}

/// What every cached top-level entity carries besides its own fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Annotations {
    pub aliases: Vec<Alias>,
    pub tags: Vec<Tag>,
    pub genres: Vec<Tag>,
    /// The relationships to URLs, in short form (also in `relations`).
    pub urls: Vec<UrlRelation>,
    /// Every relationship MusicBrainz sent, of every target type.
    pub relations: Vec<Relation>,
    /// The entity's annotation text (wiki markup), when it has one.
    pub annotation: Option<String>,
    /// Artists, labels, recordings, release groups and works have ratings.
    pub rating: Option<Rating>,
}

/// The short form of an artist, as met inside artist credits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtistRef {
    pub mbid: Mbid,
    pub name: String,
    pub sort_name: String,
    pub disambiguation: String,
}

/// One name in an artist credit: "Artist A" + " feat. " + "Artist B".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtistCredit {
    pub artist: ArtistRef,
    /// The name as printed on the release; may differ from the artist's name.
    pub credited_name: String,
    pub join_phrase: String,
}

/// Renders a credit list the way MusicBrainz prints it.
pub fn credit_phrase(credits: &[ArtistCredit]) -> String {
    credits
        .iter()
        .map(|c| format!("{}{}", c.credited_name, c.join_phrase))
        .collect()
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Artist {
    pub mbid: Mbid,
    pub name: String,
    pub sort_name: String,
    pub disambiguation: String,
    pub artist_type: Option<String>,
    pub gender: Option<String>,
    /// ISO 3166-1 code.
    pub country: Option<String>,
    pub area: Option<String>,
    pub begin_area: Option<AreaRef>,
    pub end_area: Option<AreaRef>,
    pub ipis: Vec<String>,
    pub isnis: Vec<String>,
    pub life_span: LifeSpan,
    pub annotations: Annotations,
    /// The cache holds every release group of the artist (a crawl saw all
    /// browse pages). Cache knowledge, not MusicBrainz data.
    pub release_groups_complete: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Label {
    pub mbid: Mbid,
    pub name: String,
    pub sort_name: String,
    pub disambiguation: String,
    pub label_type: Option<String>,
    pub label_code: Option<i32>,
    pub country: Option<String>,
    pub area: Option<String>,
    pub ipis: Vec<String>,
    pub isnis: Vec<String>,
    pub life_span: LifeSpan,
    pub annotations: Annotations,
}

/// The short form of a recording, as met on a track.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RecordingRef {
    pub mbid: Mbid,
    pub title: String,
    pub disambiguation: String,
    pub length_ms: Option<i32>,
    pub video: bool,
    pub isrcs: Vec<String>,
    pub artist_credit: Vec<ArtistCredit>,
    /// The recording's relationships as the release's document gave them
    /// (`recording-level-rels`), with the relationships of its works nested
    /// (`work-level-rels`): the performers, producers and composers of the
    /// track.
    pub relations: Vec<Relation>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recording {
    pub mbid: Mbid,
    pub title: String,
    pub disambiguation: String,
    pub length_ms: Option<i32>,
    pub video: bool,
    pub first_release_date: Option<String>,
    pub artist_credit: Vec<ArtistCredit>,
    pub isrcs: Vec<String>,
    pub annotations: Annotations,
}

/// The short form of a release, as listed in a release group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReleaseRef {
    pub mbid: Mbid,
    pub title: String,
    pub disambiguation: String,
    pub status: Option<String>,
    pub date: Option<String>,
    pub country: Option<String>,
}

/// The short form of a release group, as met on a release.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReleaseGroupRef {
    pub mbid: Mbid,
    pub title: String,
    pub disambiguation: String,
    pub primary_type: Option<String>,
    pub secondary_types: Vec<String>,
    pub first_release_date: Option<String>,
    pub artist_credit: Vec<ArtistCredit>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReleaseGroup {
    pub mbid: Mbid,
    pub title: String,
    pub disambiguation: String,
    pub primary_type: Option<String>,
    pub secondary_types: Vec<String>,
    pub first_release_date: Option<String>,
    pub artist_credit: Vec<ArtistCredit>,
    /// The releases of the group the cache knows (a lookup lists at most 25).
    pub releases: Vec<ReleaseRef>,
    pub annotations: Annotations,
    /// `releases` holds every release of the group (a crawl saw all browse
    /// pages). Cache knowledge, not MusicBrainz data.
    pub releases_complete: bool,
}

/// The short form of a label, as met in a release's label info.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelRef {
    pub mbid: Mbid,
    pub name: String,
    pub sort_name: String,
    pub disambiguation: String,
    pub label_code: Option<i32>,
}

/// A label and catalogue number under which a release was issued. Either
/// side may be unknown.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelInfo {
    pub label: Option<LabelRef>,
    pub catalog_number: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Track {
    pub mbid: Mbid,
    pub position: i32,
    /// The printed track number ("A1", "3").
    pub number: String,
    pub title: String,
    pub length_ms: Option<i32>,
    pub artist_credit: Vec<ArtistCredit>,
    pub recording: RecordingRef,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Medium {
    pub position: i32,
    pub format: Option<String>,
    pub title: String,
    pub track_count: i32,
    pub tracks: Vec<Track>,
    /// The hidden track before track 1 (position 0), if the medium has one.
    pub pregap: Option<Track>,
    /// Data tracks after the audio, numbered on from the last audio track.
    pub data_tracks: Vec<Track>,
    /// The disc IDs submitted for this medium.
    pub discs: Vec<Disc>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Release {
    pub mbid: Mbid,
    pub title: String,
    pub disambiguation: String,
    pub status: Option<String>,
    pub packaging: Option<String>,
    pub date: Option<String>,
    pub country: Option<String>,
    /// `None`: unknown; `Some("")`: the release has no barcode.
    pub barcode: Option<String>,
    pub language: Option<String>,
    pub script: Option<String>,
    /// Every country/area and date the release was issued in; `date` and
    /// `country` are the first of them.
    pub release_events: Vec<ReleaseEvent>,
    pub asin: Option<String>,
    /// MusicBrainz's data quality: "low", "normal" or "high".
    pub quality: Option<String>,
    pub artist_credit: Vec<ArtistCredit>,
    pub release_group: Option<ReleaseGroupRef>,
    pub label_info: Vec<LabelInfo>,
    pub media: Vec<Medium>,
    pub annotations: Annotations,
}

/// A musical composition. Works have no typed tables: they are answered
/// from the ws/2 document the worker stored (`ws2_document`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Work {
    pub mbid: Mbid,
    pub title: String,
    pub disambiguation: String,
    pub work_type: Option<String>,
    /// ISO 639-3 codes; "zxx" for no lyrics, "mul" for several.
    pub languages: Vec<String>,
    pub iswcs: Vec<String>,
    pub attributes: Vec<WorkAttribute>,
    pub annotations: Annotations,
}

/// One fetched entity of any type. A release is boxed: it is several times
/// the size of the others, and every enum holding an `Entity` would pay for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entity {
    Artist(Artist),
    ReleaseGroup(ReleaseGroup),
    Release(Box<Release>),
    Recording(Recording),
    Label(Label),
}

impl Entity {
    pub fn entity_type(&self) -> EntityType {
        match self {
            Entity::Artist(_) => EntityType::Artist,
            Entity::ReleaseGroup(_) => EntityType::ReleaseGroup,
            Entity::Release(_) => EntityType::Release,
            Entity::Recording(_) => EntityType::Recording,
            Entity::Label(_) => EntityType::Label,
        }
    }

    /// Aliases, tags, relationships and the rest every entity carries.
    pub fn annotations(&self) -> &Annotations {
        match self {
            Entity::Artist(e) => &e.annotations,
            Entity::ReleaseGroup(e) => &e.annotations,
            Entity::Release(e) => &e.annotations,
            Entity::Recording(e) => &e.annotations,
            Entity::Label(e) => &e.annotations,
        }
    }

    pub fn mbid(&self) -> Mbid {
        match self {
            Entity::Artist(e) => e.mbid,
            Entity::ReleaseGroup(e) => e.mbid,
            Entity::Release(e) => e.mbid,
            Entity::Recording(e) => e.mbid,
            Entity::Label(e) => e.mbid,
        }
    }
}

/// A ws/2 JSON document as MusicBrainz sent it, kept as its bytes: it is
/// stored as received (PostgreSQL parses it once) and served again by
/// projection, so nothing here reshapes it. The bytes are JSON the model
/// parsed; the type does not check that itself. `inc` is the inc= it was
/// asked for with (`a+b+c`), when known: what it can answer.
#[derive(Clone, PartialEq, Eq)]
pub struct Document {
    bytes: bytes::Bytes,
    inc: Option<String>,
}

impl Document {
    pub fn new(bytes: impl Into<bytes::Bytes>) -> Self {
        Self {
            bytes: bytes.into(),
            inc: None,
        }
    }

    /// A document asked for with `inc`.
    pub fn fetched_with(bytes: impl Into<bytes::Bytes>, inc: impl Into<String>) -> Self {
        Self {
            bytes: bytes.into(),
            inc: Some(inc.into()),
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn inc(&self) -> Option<&str> {
        self.inc.as_deref()
    }
}

impl From<serde_json::Value> for Document {
    fn from(value: serde_json::Value) -> Self {
        Self::new(value.to_string())
    }
}

/// The length, not the body (a release's is tens of kilobytes).
impl std::fmt::Debug for Document {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Document({} bytes, inc {:?})",
            self.bytes.len(),
            self.inc
        )
    }
}

/// What MusicBrainz answered for a requested MBID: what the client returns
/// and what the writer stores, one type for both.
// One per job, moved once or twice: the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum FetchOutcome {
    /// The entity (whose MBID differs from the requested one when
    /// MusicBrainz redirected a merged MBID to it) and the document it was
    /// read from.
    Found {
        entity: Entity,
        document: Document,
    },
    NotFound,
}

/// An entity as read from the cache, with when it was fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cached<T> {
    pub entity: T,
    pub fetched_at: SystemTime,
}

/// Ties a domain type to its [`EntityType`], so generic code (the cache
/// policy, the repositories) can say which kind it handles.
pub trait CachedEntity: Send + Sync + 'static {
    const TYPE: EntityType;
}

impl CachedEntity for Artist {
    const TYPE: EntityType = EntityType::Artist;
}
impl CachedEntity for ReleaseGroup {
    const TYPE: EntityType = EntityType::ReleaseGroup;
}
impl CachedEntity for Release {
    const TYPE: EntityType = EntityType::Release;
}
impl CachedEntity for Recording {
    const TYPE: EntityType = EntityType::Recording;
}
impl CachedEntity for Label {
    const TYPE: EntityType = EntityType::Label;
}
