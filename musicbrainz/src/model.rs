//! The MusicBrainz ws/2 JSON lookup responses and their mapping into
//! [`musicmeta_shared::domain`].
//!
//! Real responses are messy: captures from 2016 on differ in shape, any
//! optional value may be `null`, `""` or absent, lists may be `null` and even
//! hold `null` items. So the `Mb*` structs below default every field, ignore
//! unknown keys and read `null` as the default; the judgement (what counts as
//! unknown, which nested objects to drop) lives in their `into_*` methods.
//! Only a top-level response without a valid `id` is an error.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use musicmeta_shared::domain::{
    Alias, Annotations, Artist, ArtistCredit, ArtistRef, Entity, Label, LabelInfo, LabelRef,
    LifeSpan, Medium, Recording, RecordingRef, Release, ReleaseEvent, ReleaseGroup,
    ReleaseGroupRef, ReleaseRef, Tag, Track,
};
use musicmeta_shared::mbid::{EntityType, Mbid};

mod identifiers;
mod relations;

pub use identifiers::{
    ListPage, UrlLinks, parse_discid, parse_isrc, parse_iswc, parse_recording_page,
    parse_release_list, parse_url, parse_work, parse_work_list, parse_work_page,
};
use relations::{MbAreaRef, MbDisc, MbRating, MbRelation};

/// Why a response body could not be turned into an entity.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("response body is not ws/2 JSON of the expected shape: {0}")]
    Json(#[from] serde_json::Error),
    #[error("MusicBrainz answered with an error body: {0}")]
    Upstream(String),
    #[error("response has no entity id")]
    MissingId,
    #[error("response id {0:?} is not a valid MBID")]
    InvalidId(String),
}

/// Parses a ws/2 lookup response body for `entity_type` into a domain entity.
pub fn parse_entity(entity_type: EntityType, body: &[u8]) -> Result<Entity, ParseError> {
    let parsed = match entity_type {
        EntityType::Artist => parse_as::<MbArtist>(body),
        EntityType::ReleaseGroup => parse_as::<MbReleaseGroup>(body),
        EntityType::Release => parse_as::<MbRelease>(body),
        EntityType::Recording => parse_as::<MbRecording>(body),
        EntityType::Label => parse_as::<MbLabel>(body),
    };
    // An error body (`{"error": ...}`) reads as an entity without id; name it.
    match parsed {
        Err(ParseError::MissingId) => match serde_json::from_slice::<MbErrorBody>(body) {
            Ok(MbErrorBody { error: Some(msg) }) => Err(ParseError::Upstream(msg)),
            _ => Err(ParseError::MissingId),
        },
        other => other,
    }
}

/// One page of a browse response (`/ws/2/release-group?artist=…`).
#[derive(Debug, Clone)]
pub struct BrowsePage {
    /// How many items MusicBrainz has in all (`<type>-count`).
    pub total: u32,
    /// The offset this page starts at (`<type>-offset`).
    pub offset: u32,
    /// How many items the page held, including any dropped for lacking a
    /// valid id: the next page starts `received` items further on.
    pub received: u32,
    pub items: Vec<Entity>,
}

/// Parses a browse response listing entities of `item_type`. Items that
/// cannot be used (no valid id) are dropped; the page is still counted.
pub fn parse_browse(item_type: EntityType, body: &[u8]) -> Result<BrowsePage, ParseError> {
    let value: serde_json::Value = serde_json::from_slice(body)?;
    let kind = item_type.as_str();
    let count = |key: String| value.get(&key).and_then(serde_json::Value::as_u64);
    let Some(total) = count(format!("{kind}-count")) else {
        return Err(
            match value.get("error").and_then(serde_json::Value::as_str) {
                Some(msg) => ParseError::Upstream(msg.to_owned()),
                None => ParseError::MissingId,
            },
        );
    };
    let offset = count(format!("{kind}-offset")).unwrap_or(0);
    let list = match value.get(format!("{kind}s")) {
        Some(serde_json::Value::Array(items)) => items.clone(),
        _ => Vec::new(),
    };
    let received = list.len();
    let items = list
        .into_iter()
        .filter_map(|item| {
            let parsed = match item_type {
                EntityType::Artist => {
                    serde_json::from_value::<MbArtist>(item).map(IntoEntity::into_entity)
                }
                EntityType::Label => {
                    serde_json::from_value::<MbLabel>(item).map(IntoEntity::into_entity)
                }
                EntityType::Recording => {
                    serde_json::from_value::<MbRecording>(item).map(IntoEntity::into_entity)
                }
                EntityType::Release => {
                    serde_json::from_value::<MbRelease>(item).map(IntoEntity::into_entity)
                }
                EntityType::ReleaseGroup => {
                    serde_json::from_value::<MbReleaseGroup>(item).map(IntoEntity::into_entity)
                }
            };
            parsed.ok().and_then(Result::ok)
        })
        .collect();
    let to_u32 = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
    Ok(BrowsePage {
        total: to_u32(total),
        offset: to_u32(offset),
        received: to_u32(received as u64),
        items,
    })
}

/// A top-level response type.
trait IntoEntity: DeserializeOwned {
    fn into_entity(self) -> Result<Entity, ParseError>;
}

fn parse_as<T: IntoEntity>(body: &[u8]) -> Result<Entity, ParseError> {
    serde_json::from_slice::<T>(body)?.into_entity()
}

// ---- lenient field readers ----

/// `null` reads as the type's default (`""`, `false`, `0`, ...).
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A list that may be `null` and may hold `null` items (Picard's edited data does).
fn null_list<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    let list = Option::<Vec<Option<T>>>::deserialize(d)?;
    Ok(list.into_iter().flatten().flatten().collect())
}

/// `label-code` is an integer, but one real capture holds `"SPREC"`: anything
/// that is not a number in `i32` range reads as unknown instead of failing.
fn loose_i32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i32>, D::Error> {
    Ok(match Option::<serde_json::Value>::deserialize(d)? {
        Some(serde_json::Value::Number(n)) => n.as_i64().and_then(|n| i32::try_from(n).ok()),
        Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    })
}

/// Optional text: `null` and `""` both mean unknown.
fn known(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

/// The id of a nested object; `None` drops the object.
fn nested_id(id: Option<&str>) -> Option<Mbid> {
    id.and_then(|s| Mbid::parse(s).ok())
}

/// The id of the response itself, which must be there.
fn top_id(id: Option<&str>) -> Result<Mbid, ParseError> {
    match id {
        None | Some("") => Err(ParseError::MissingId),
        Some(s) => Mbid::parse(s).map_err(|_| ParseError::InvalidId(s.chars().take(64).collect())),
    }
}

// ---- ws/2 shapes ----

#[derive(Deserialize, Default)]
#[serde(default)]
struct MbErrorBody {
    error: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct MbLifeSpan {
    begin: Option<String>,
    end: Option<String>,
    #[serde(deserialize_with = "null_as_default")]
    ended: bool,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "kebab-case")]
struct MbAlias {
    #[serde(deserialize_with = "null_as_default")]
    name: String,
    #[serde(deserialize_with = "null_as_default")]
    sort_name: String,
    #[serde(rename = "type")]
    alias_type: Option<String>,
    locale: Option<String>,
    #[serde(deserialize_with = "null_as_default")]
    primary: bool,
    #[serde(flatten)]
    span: MbLifeSpan,
}

/// A tag or a genre.
#[derive(Deserialize, Default)]
#[serde(default)]
struct MbTag {
    #[serde(deserialize_with = "null_as_default")]
    name: String,
    #[serde(deserialize_with = "null_as_default")]
    count: i32,
}

/// What every top-level entity may carry, depending on the `inc` parameters.
#[derive(Deserialize, Default)]
#[serde(default)]
struct MbAnnotations {
    #[serde(deserialize_with = "null_list")]
    aliases: Vec<MbAlias>,
    #[serde(deserialize_with = "null_list")]
    tags: Vec<MbTag>,
    #[serde(deserialize_with = "null_list")]
    genres: Vec<MbTag>,
    #[serde(deserialize_with = "null_list")]
    relations: Vec<MbRelation>,
    annotation: Option<String>,
    rating: Option<MbRating>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "kebab-case")]
struct MbArtistRef {
    id: Option<String>,
    #[serde(deserialize_with = "null_as_default")]
    name: String,
    #[serde(deserialize_with = "null_as_default")]
    sort_name: String,
    #[serde(deserialize_with = "null_as_default")]
    disambiguation: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct MbCredit {
    #[serde(deserialize_with = "null_as_default")]
    name: String,
    #[serde(deserialize_with = "null_as_default")]
    joinphrase: String,
    artist: Option<MbArtistRef>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct MbArea {
    name: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "kebab-case")]
struct MbArtist {
    id: Option<String>,
    #[serde(deserialize_with = "null_as_default")]
    name: String,
    #[serde(deserialize_with = "null_as_default")]
    sort_name: String,
    #[serde(deserialize_with = "null_as_default")]
    disambiguation: String,
    #[serde(rename = "type")]
    artist_type: Option<String>,
    gender: Option<String>,
    country: Option<String>,
    area: Option<MbArea>,
    begin_area: Option<MbAreaRef>,
    end_area: Option<MbAreaRef>,
    /// Captures from before 2018 send these too (or only these).
    #[serde(rename = "begin_area")]
    old_begin_area: Option<MbAreaRef>,
    #[serde(rename = "end_area")]
    old_end_area: Option<MbAreaRef>,
    #[serde(deserialize_with = "null_list")]
    ipis: Vec<String>,
    #[serde(deserialize_with = "null_list")]
    isnis: Vec<String>,
    life_span: Option<MbLifeSpan>,
    #[serde(flatten)]
    annotations: MbAnnotations,
}

/// A label, at the top level or inside `label-info`.
#[derive(Deserialize, Default)]
#[serde(default, rename_all = "kebab-case")]
struct MbLabel {
    id: Option<String>,
    #[serde(deserialize_with = "null_as_default")]
    name: String,
    #[serde(deserialize_with = "null_as_default")]
    sort_name: String,
    #[serde(deserialize_with = "null_as_default")]
    disambiguation: String,
    #[serde(rename = "type")]
    label_type: Option<String>,
    #[serde(deserialize_with = "loose_i32")]
    label_code: Option<i32>,
    country: Option<String>,
    area: Option<MbArea>,
    #[serde(deserialize_with = "null_list")]
    ipis: Vec<String>,
    #[serde(deserialize_with = "null_list")]
    isnis: Vec<String>,
    life_span: Option<MbLifeSpan>,
    #[serde(flatten)]
    annotations: MbAnnotations,
}

/// A recording, at the top level or on a track.
#[derive(Deserialize, Default)]
#[serde(default, rename_all = "kebab-case")]
struct MbRecording {
    id: Option<String>,
    #[serde(deserialize_with = "null_as_default")]
    title: String,
    #[serde(deserialize_with = "null_as_default")]
    disambiguation: String,
    length: Option<i32>,
    #[serde(deserialize_with = "null_as_default")]
    video: bool,
    first_release_date: Option<String>,
    #[serde(deserialize_with = "null_list")]
    artist_credit: Vec<MbCredit>,
    #[serde(deserialize_with = "null_list")]
    isrcs: Vec<String>,
    #[serde(flatten)]
    annotations: MbAnnotations,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "kebab-case")]
struct MbTrack {
    id: Option<String>,
    #[serde(deserialize_with = "null_as_default")]
    position: i32,
    #[serde(deserialize_with = "null_as_default")]
    number: String,
    #[serde(deserialize_with = "null_as_default")]
    title: String,
    length: Option<i32>,
    #[serde(deserialize_with = "null_list")]
    artist_credit: Vec<MbCredit>,
    recording: Option<MbRecording>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "kebab-case")]
struct MbMedium {
    #[serde(deserialize_with = "null_as_default")]
    position: i32,
    format: Option<String>,
    #[serde(deserialize_with = "null_as_default")]
    title: String,
    #[serde(deserialize_with = "null_as_default")]
    track_count: i32,
    #[serde(deserialize_with = "null_list")]
    tracks: Vec<MbTrack>,
    pregap: Option<MbTrack>,
    #[serde(deserialize_with = "null_list")]
    data_tracks: Vec<MbTrack>,
    #[serde(deserialize_with = "null_list")]
    discs: Vec<MbDisc>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "kebab-case")]
struct MbLabelInfo {
    catalog_number: Option<String>,
    label: Option<MbLabel>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct MbTextRepresentation {
    language: Option<String>,
    script: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct MbReleaseEvent {
    date: Option<String>,
    area: Option<MbAreaRef>,
}

/// A release, at the top level or listed in a release group.
#[derive(Deserialize, Default)]
#[serde(default, rename_all = "kebab-case")]
struct MbRelease {
    id: Option<String>,
    #[serde(deserialize_with = "null_as_default")]
    title: String,
    #[serde(deserialize_with = "null_as_default")]
    disambiguation: String,
    status: Option<String>,
    packaging: Option<String>,
    date: Option<String>,
    country: Option<String>,
    /// Kept as sent: `""` (no barcode) is a known fact, unlike `null`.
    barcode: Option<String>,
    #[serde(deserialize_with = "null_list")]
    release_events: Vec<MbReleaseEvent>,
    asin: Option<String>,
    quality: Option<String>,
    text_representation: Option<MbTextRepresentation>,
    #[serde(deserialize_with = "null_list")]
    artist_credit: Vec<MbCredit>,
    release_group: Option<Box<MbReleaseGroup>>,
    #[serde(deserialize_with = "null_list")]
    label_info: Vec<MbLabelInfo>,
    #[serde(deserialize_with = "null_list")]
    media: Vec<MbMedium>,
    #[serde(flatten)]
    annotations: MbAnnotations,
}

/// A release group, at the top level or on a release.
#[derive(Deserialize, Default)]
#[serde(default, rename_all = "kebab-case")]
struct MbReleaseGroup {
    id: Option<String>,
    #[serde(deserialize_with = "null_as_default")]
    title: String,
    #[serde(deserialize_with = "null_as_default")]
    disambiguation: String,
    primary_type: Option<String>,
    #[serde(deserialize_with = "null_list")]
    secondary_types: Vec<String>,
    first_release_date: Option<String>,
    #[serde(deserialize_with = "null_list")]
    artist_credit: Vec<MbCredit>,
    #[serde(deserialize_with = "null_list")]
    releases: Vec<MbRelease>,
    #[serde(flatten)]
    annotations: MbAnnotations,
}

// ---- mapping into the domain ----

impl MbLifeSpan {
    fn into_domain(self) -> LifeSpan {
        LifeSpan {
            begin: known(self.begin),
            end: known(self.end),
            ended: self.ended,
        }
    }
}

/// Tags and genres without a name carry nothing and are dropped.
fn tags(list: Vec<MbTag>) -> Vec<Tag> {
    list.into_iter()
        .filter(|t| !t.name.is_empty())
        .map(|t| Tag {
            name: t.name,
            count: t.count,
        })
        .collect()
}

impl MbAnnotations {
    fn into_domain(self) -> Annotations {
        let relations = relations::relations(self.relations);
        Annotations {
            aliases: self
                .aliases
                .into_iter()
                .filter(|a| !a.name.is_empty())
                .map(|a| Alias {
                    name: a.name,
                    sort_name: a.sort_name,
                    alias_type: known(a.alias_type),
                    locale: known(a.locale),
                    primary: a.primary,
                    life_span: a.span.into_domain(),
                })
                .collect(),
            tags: tags(self.tags),
            genres: tags(self.genres),
            urls: relations
                .iter()
                .filter_map(MbRelation::url_relation)
                .collect(),
            relations,
            annotation: known(self.annotation),
            rating: self.rating.map(MbRating::into_domain),
        }
    }
}

/// Credits without a valid artist id are dropped.
fn credits(list: Vec<MbCredit>) -> Vec<ArtistCredit> {
    list.into_iter()
        .filter_map(|c| {
            let a = c.artist?;
            let artist = ArtistRef {
                mbid: nested_id(a.id.as_deref())?,
                name: a.name,
                sort_name: a.sort_name,
                disambiguation: a.disambiguation,
            };
            // ws/2 always sends the credited name; should it not, print the artist's.
            let credited_name = if c.name.is_empty() {
                artist.name.clone()
            } else {
                c.name
            };
            Some(ArtistCredit {
                artist,
                credited_name,
                join_phrase: c.joinphrase,
            })
        })
        .collect()
}

fn area_name(area: Option<MbArea>) -> Option<String> {
    known(area?.name)
}

impl IntoEntity for MbArtist {
    fn into_entity(self) -> Result<Entity, ParseError> {
        Ok(Entity::Artist(Artist {
            mbid: top_id(self.id.as_deref())?,
            name: self.name,
            sort_name: self.sort_name,
            disambiguation: self.disambiguation,
            artist_type: known(self.artist_type),
            gender: known(self.gender),
            country: known(self.country),
            area: area_name(self.area),
            begin_area: self
                .begin_area
                .or(self.old_begin_area)
                .and_then(MbAreaRef::into_domain),
            end_area: self
                .end_area
                .or(self.old_end_area)
                .and_then(MbAreaRef::into_domain),
            ipis: self.ipis,
            isnis: self.isnis,
            life_span: self.life_span.unwrap_or_default().into_domain(),
            annotations: self.annotations.into_domain(),
            release_groups_complete: false,
        }))
    }
}

impl IntoEntity for MbLabel {
    fn into_entity(self) -> Result<Entity, ParseError> {
        Ok(Entity::Label(Label {
            mbid: top_id(self.id.as_deref())?,
            name: self.name,
            sort_name: self.sort_name,
            disambiguation: self.disambiguation,
            label_type: known(self.label_type),
            label_code: self.label_code,
            country: known(self.country),
            area: area_name(self.area),
            ipis: self.ipis,
            isnis: self.isnis,
            life_span: self.life_span.unwrap_or_default().into_domain(),
            annotations: self.annotations.into_domain(),
        }))
    }
}

impl MbLabel {
    fn into_ref(self) -> Option<LabelRef> {
        Some(LabelRef {
            mbid: nested_id(self.id.as_deref())?,
            name: self.name,
            sort_name: self.sort_name,
            disambiguation: self.disambiguation,
            label_code: self.label_code,
        })
    }
}

impl IntoEntity for MbRecording {
    fn into_entity(self) -> Result<Entity, ParseError> {
        Ok(Entity::Recording(Recording {
            mbid: top_id(self.id.as_deref())?,
            title: self.title,
            disambiguation: self.disambiguation,
            length_ms: self.length,
            video: self.video,
            first_release_date: known(self.first_release_date),
            artist_credit: credits(self.artist_credit),
            isrcs: self.isrcs,
            annotations: self.annotations.into_domain(),
        }))
    }
}

impl MbRecording {
    fn into_ref(self) -> Option<RecordingRef> {
        Some(RecordingRef {
            mbid: nested_id(self.id.as_deref())?,
            title: self.title,
            disambiguation: self.disambiguation,
            length_ms: self.length,
            video: self.video,
            isrcs: self.isrcs,
            artist_credit: credits(self.artist_credit),
            relations: relations::relations(self.annotations.relations),
        })
    }
}

impl MbTrack {
    /// A track needs its own id and its recording's; otherwise it is dropped.
    fn into_domain(self) -> Option<Track> {
        let mbid = nested_id(self.id.as_deref())?;
        let recording = self.recording?.into_ref()?;
        let mut artist_credit = credits(self.artist_credit);
        if artist_credit.is_empty() {
            artist_credit.clone_from(&recording.artist_credit);
        }
        Some(Track {
            mbid,
            position: self.position,
            number: self.number,
            title: self.title,
            length_ms: self.length,
            artist_credit,
            recording,
        })
    }
}

impl MbMedium {
    fn into_domain(self) -> Medium {
        Medium {
            position: self.position,
            format: known(self.format),
            title: self.title,
            track_count: self.track_count,
            tracks: self
                .tracks
                .into_iter()
                .filter_map(MbTrack::into_domain)
                .collect(),
            pregap: self.pregap.and_then(MbTrack::into_domain),
            data_tracks: self
                .data_tracks
                .into_iter()
                .filter_map(MbTrack::into_domain)
                .collect(),
            discs: self
                .discs
                .into_iter()
                .filter_map(MbDisc::into_domain)
                .collect(),
        }
    }
}

impl MbLabelInfo {
    /// Keeps whichever side is known; an entry with neither says nothing.
    fn into_domain(self) -> Option<LabelInfo> {
        let info = LabelInfo {
            label: self.label.and_then(MbLabel::into_ref),
            catalog_number: known(self.catalog_number),
        };
        (info.label.is_some() || info.catalog_number.is_some()).then_some(info)
    }
}

impl IntoEntity for MbRelease {
    fn into_entity(self) -> Result<Entity, ParseError> {
        let text = self.text_representation.unwrap_or_default();
        Ok(Entity::Release(Box::new(Release {
            mbid: top_id(self.id.as_deref())?,
            title: self.title,
            disambiguation: self.disambiguation,
            status: known(self.status),
            packaging: known(self.packaging),
            date: known(self.date),
            country: known(self.country),
            barcode: self.barcode,
            language: known(text.language),
            script: known(text.script),
            release_events: self
                .release_events
                .into_iter()
                .map(|e| ReleaseEvent {
                    date: known(e.date),
                    area: e.area.and_then(MbAreaRef::into_domain),
                })
                .collect(),
            asin: known(self.asin),
            quality: known(self.quality),
            artist_credit: credits(self.artist_credit),
            release_group: self.release_group.and_then(|rg| rg.into_ref()),
            label_info: self
                .label_info
                .into_iter()
                .filter_map(MbLabelInfo::into_domain)
                .collect(),
            media: self.media.into_iter().map(MbMedium::into_domain).collect(),
            annotations: self.annotations.into_domain(),
        })))
    }
}

impl MbRelease {
    fn into_ref(self) -> Option<ReleaseRef> {
        Some(ReleaseRef {
            mbid: nested_id(self.id.as_deref())?,
            title: self.title,
            disambiguation: self.disambiguation,
            status: known(self.status),
            date: known(self.date),
            country: known(self.country),
        })
    }
}

impl IntoEntity for MbReleaseGroup {
    fn into_entity(self) -> Result<Entity, ParseError> {
        Ok(Entity::ReleaseGroup(ReleaseGroup {
            mbid: top_id(self.id.as_deref())?,
            title: self.title,
            disambiguation: self.disambiguation,
            primary_type: known(self.primary_type),
            secondary_types: self.secondary_types,
            first_release_date: known(self.first_release_date),
            artist_credit: credits(self.artist_credit),
            releases: self
                .releases
                .into_iter()
                .filter_map(MbRelease::into_ref)
                .collect(),
            annotations: self.annotations.into_domain(),
            releases_complete: false,
        }))
    }
}

impl MbReleaseGroup {
    fn into_ref(self) -> Option<ReleaseGroupRef> {
        Some(ReleaseGroupRef {
            mbid: nested_id(self.id.as_deref())?,
            title: self.title,
            disambiguation: self.disambiguation,
            primary_type: known(self.primary_type),
            secondary_types: self.secondary_types,
            first_release_date: known(self.first_release_date),
            artist_credit: credits(self.artist_credit),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::{Path, PathBuf};

    use super::*;
    use musicmeta_shared::domain::UrlRelation;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/musicbrainz");

    /// A valid MBID for hand-written bodies.
    const ID: &str = "f394e886-5485-4b66-9b7c-ca45b4734b6e";

    pub(super) fn fixture(rel: &str) -> Vec<u8> {
        let path = Path::new(FIXTURES).join(rel);
        fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
    }

    pub(super) fn json_files(dir: &str) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = fs::read_dir(Path::new(FIXTURES).join(dir))
            .unwrap_or_else(|e| panic!("listing {dir}: {e}"))
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        assert!(!files.is_empty(), "no fixtures in {dir}");
        files
    }

    fn parse(t: EntityType, rel: &str) -> Entity {
        parse_entity(t, &fixture(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    fn mbid(s: &str) -> Mbid {
        Mbid::parse(s).unwrap()
    }

    #[test]
    fn every_lookup_fixture_parses_with_its_own_id() {
        for t in EntityType::ALL {
            for path in json_files(t.as_str()) {
                let name = path.file_name().unwrap().to_str().unwrap();
                let entity = parse_entity(t, &fs::read(&path).unwrap())
                    .unwrap_or_else(|e| panic!("{t}/{name}: {e}"));
                assert_eq!(entity.entity_type(), t, "{name}");
                let id = name.split('.').next().unwrap();
                assert_eq!(entity.mbid(), mbid(id), "{t}/{name}");
            }
        }
    }

    #[test]
    fn edited_edge_cases_never_panic() {
        use EntityType::*;
        // (file, the type it looks like, parses?)
        let cases = [
            ("artist_null.json", Artist, false),
            ("collection_list.json", Release, false),
            ("media_null.json", Release, false),
            ("recording_multi_artists_2.json", Recording, true),
            ("recording_null.json", Recording, false),
            ("release_group_null.json", ReleaseGroup, false),
            ("release_null.json", Release, false),
            ("track_null.json", Release, false),
            ("wrtag_release_bdc01183_tracks_trimmed.json", Release, true),
        ];
        let listed: Vec<String> = json_files("edge")
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        let named: Vec<&str> = cases.iter().map(|c| c.0).collect();
        assert_eq!(listed, named, "edge/ changed; classify the new files");

        for (file, t, ok) in cases {
            let body = fixture(&format!("edge/{file}"));
            match parse_entity(t, &body) {
                Ok(e) => assert!(ok, "{file}: unexpectedly parsed as {:?}", e.entity_type()),
                // None of them has an id: Picard nulled it or it is no entity.
                Err(e) => assert!(!ok && matches!(e, ParseError::MissingId), "{file}: {e}"),
            }
            for any in EntityType::ALL {
                let _ = parse_entity(any, &body);
            }
        }
    }

    /// An edge file with its nulled top-level id replaced by a valid one.
    fn with_valid_id(file: &str, t: EntityType) -> Entity {
        let mut doc: serde_json::Value =
            serde_json::from_slice(&fixture(&format!("edge/{file}"))).unwrap();
        doc["id"] = ID.into();
        parse_entity(t, &serde_json::to_vec(&doc).unwrap())
            .unwrap_or_else(|e| panic!("{file}: {e}"))
    }

    #[test]
    fn nulled_fields_are_tolerated_once_the_id_is_valid() {
        for (file, t) in [
            ("artist_null.json", EntityType::Artist),
            ("recording_null.json", EntityType::Recording),
            ("release_group_null.json", EntityType::ReleaseGroup),
        ] {
            assert_eq!(with_valid_id(file, t).mbid(), mbid(ID));
        }
        let Entity::Release(r) = with_valid_id("release_null.json", EntityType::Release) else {
            panic!("not a release")
        };
        // Every nested object had a null id, so all are dropped; the medium stays.
        assert_eq!((r.title.as_str(), r.barcode.as_deref()), ("", None));
        assert!(r.release_group.is_none() && r.label_info.is_empty());
        assert!(r.artist_credit.is_empty() && r.annotations.urls.is_empty());
        assert!(r.annotations.tags.is_empty() && r.annotations.aliases.is_empty());
        assert_eq!(r.media.len(), 1);
        assert_eq!((r.media[0].position, r.media[0].track_count), (0, 0));
    }

    #[test]
    fn edge_files_that_do_parse_keep_their_content() {
        let Entity::Release(r) = parse(
            EntityType::Release,
            "edge/wrtag_release_bdc01183_tracks_trimmed.json",
        ) else {
            panic!("not a release")
        };
        assert_eq!(r.mbid, mbid("bdc01183-d1c9-378f-a209-a6145fa596c9"));
        assert_eq!(r.title, "Reise, Reise");
        // Trimmed track lists: the medium still says how many tracks it has.
        assert_eq!(r.media.len(), 2);
        assert_eq!((r.media[0].track_count, r.media[0].tracks.len()), (11, 3));

        let Entity::Recording(rec) =
            parse(EntityType::Recording, "edge/recording_multi_artists_2.json")
        else {
            panic!("not a recording")
        };
        assert_eq!(
            musicmeta_shared::domain::credit_phrase(&rec.artist_credit),
            "Ed Sheeran feat. Meek Mill & A Boogie Wit da Hoodie"
        );
    }

    #[test]
    fn error_and_browse_bodies_are_errors() {
        for path in json_files("errors") {
            let body = fs::read(&path).unwrap();
            for t in EntityType::ALL {
                let err = parse_entity(t, &body).unwrap_err();
                assert!(
                    matches!(err, ParseError::Upstream(_)),
                    "{}: {err}",
                    path.display()
                );
            }
        }
        for path in json_files("browse") {
            let body = fs::read(&path).unwrap();
            for t in EntityType::ALL {
                let err = parse_entity(t, &body).unwrap_err();
                assert!(
                    matches!(err, ParseError::MissingId),
                    "{}: {err}",
                    path.display()
                );
            }
        }
    }

    #[test]
    fn rich_release_fields() {
        // Fetched with inc=artist-credits+isrcs+labels+media+recordings+release-groups.
        let Entity::Release(r) = parse(
            EntityType::Release,
            "release/f394e886-5485-4b66-9b7c-ca45b4734b6e.json",
        ) else {
            panic!("not a release")
        };
        assert_eq!(r.title, "Conducts Beethoven-Symphony No. 5; Symphony No. 4");
        assert_eq!(r.barcode.as_deref(), Some(""));
        assert_eq!(r.status.as_deref(), Some("Official"));
        assert_eq!(r.packaging.as_deref(), Some("Cardboard/Paper Sleeve"));
        assert_eq!(r.date.as_deref(), Some("1977"));
        assert_eq!(r.country, None);
        assert_eq!(
            (r.language.as_deref(), r.script.as_deref()),
            (Some("eng"), Some("Latn"))
        );

        let credits: Vec<(&str, &str, &str)> = r
            .artist_credit
            .iter()
            .map(|c| {
                (
                    c.credited_name.as_str(),
                    c.join_phrase.as_str(),
                    c.artist.name.as_str(),
                )
            })
            .collect();
        assert_eq!(
            credits,
            [
                ("Beethoven", "; ", "Ludwig van Beethoven"),
                ("Cleveland Orchestra", ", ", "The Cleveland Orchestra"),
                ("George Szell", "", "George Szell"),
            ]
        );
        assert_eq!(
            r.artist_credit[0].artist.mbid,
            mbid("1f9df192-a621-4f54-8850-2c5373b7eac9")
        );

        assert_eq!(r.label_info.len(), 1);
        let label = r.label_info[0].label.as_ref().unwrap();
        assert_eq!(label.name, "Columbia Odyssey");
        assert_eq!(label.mbid, mbid("0088c4d5-d998-4830-b0c4-1f8b7d14128a"));
        assert_eq!(label.label_code, None);
        assert_eq!(
            r.label_info[0].catalog_number.as_deref(),
            Some("Y 34600 XSB 76887")
        );

        let rg = r.release_group.as_ref().unwrap();
        assert_eq!(rg.mbid, mbid("b7f65937-646e-4039-a182-fb54cb4d5039"));
        assert_eq!(rg.primary_type.as_deref(), Some("Album"));
        assert!(rg.secondary_types.is_empty());
        assert_eq!(rg.first_release_date.as_deref(), Some("1977"));

        assert_eq!(r.media.len(), 1);
        let m = &r.media[0];
        assert_eq!(
            (m.position, m.format.as_deref(), m.title.as_str()),
            (1, Some("12\" Vinyl"), "")
        );
        assert_eq!((m.track_count, m.tracks.len()), (7, 7));
        let t = &m.tracks[0];
        assert_eq!(t.mbid, mbid("a9bade69-b70f-4012-9cc4-56107d93aab1"));
        assert_eq!(
            t.title,
            "Symphony No. 4 in B-flat major, Op. 60: I - Adagio; Allegro Vivace"
        );
        assert_eq!(
            (t.position, t.number.as_str(), t.length_ms),
            (1, "A1", Some(601_000))
        );
        assert_eq!(
            t.recording.mbid,
            mbid("048e8ffe-cbc2-4b87-bcfe-6cf696934a36")
        );
        assert_eq!(t.recording.length_ms, Some(601_413));
        assert_eq!(t.recording.isrcs, ["USSM16300971"]);
        assert_eq!(t.artist_credit.len(), 3);
    }

    #[test]
    fn track_without_credit_takes_none_when_recording_has_none() {
        // inc=recordings only: no credits anywhere on the tracks.
        let Entity::Release(r) = parse(
            EntityType::Release,
            "release/390133b4-7060-4ae3-a451-ca81ce4b7f45.json",
        ) else {
            panic!("not a release")
        };
        let t = &r.media[0].tracks[0];
        assert_eq!((t.number.as_str(), t.title.as_str()), ("A1", "Make It"));
        assert_eq!(t.length_ms, Some(225_000));
        assert_eq!(t.recording.length_ms, Some(220_666));
        assert!(t.artist_credit.is_empty());
    }

    #[test]
    fn artist_with_aliases_tags_genres_and_urls() {
        let Entity::Artist(a) = parse(
            EntityType::Artist,
            "artist/db92a151-1ac2-438b-bc43-b82e149ddd50.json",
        ) else {
            panic!("not an artist")
        };
        assert_eq!(a.name, "Rick Astley");
        assert_eq!(a.artist_type.as_deref(), Some("Person"));
        assert_eq!(a.gender.as_deref(), Some("Male"));
        assert_eq!(a.country.as_deref(), Some("GB"));
        assert_eq!(a.area.as_deref(), Some("United Kingdom"));
        assert_eq!(
            a.life_span,
            LifeSpan {
                begin: Some("1966-02-06".into()),
                end: None,
                ended: false
            }
        );
        let ann = &a.annotations;
        assert_eq!(
            (ann.aliases.len(), ann.tags.len(), ann.genres.len()),
            (5, 5, 3)
        );
        let alias = ann
            .aliases
            .iter()
            .find(|x| x.name == "Dick Spatsley")
            .unwrap();
        assert_eq!(alias.sort_name, "Spatsley, Dick");
        assert_eq!(alias.alias_type.as_deref(), Some("Artist name"));
        assert!(!alias.primary && alias.locale.is_none());
        assert!(ann.genres.contains(&Tag {
            name: "blue-eyed soul".into(),
            count: 4
        }));

        let Entity::Artist(dylan) = parse(
            EntityType::Artist,
            "artist/72c536dc-7137-4477-a521-567eeb840fa8.json",
        ) else {
            panic!("not an artist")
        };
        assert_eq!(dylan.annotations.urls.len(), 50);
        assert!(dylan.annotations.urls.contains(&UrlRelation {
            relation_type: "allmusic".into(),
            url: "https://www.allmusic.com/artist/mn0000066915".into(),
            life_span: LifeSpan::default(),
        }));
        let grunt = dylan
            .annotations
            .aliases
            .iter()
            .find(|x| x.name == "Blind Boy Grunt")
            .unwrap();
        assert_eq!(
            grunt.life_span,
            LifeSpan {
                begin: Some("1962".into()),
                end: Some("1963".into()),
                ended: true
            }
        );
    }

    #[test]
    fn recording_with_isrcs() {
        let Entity::Recording(r) = parse(
            EntityType::Recording,
            "recording/b9ad642e-b012-41c7-b72a-42cf4911f9ff.json",
        ) else {
            panic!("not a recording")
        };
        assert_eq!(r.title, "LAST ANGEL");
        assert_eq!(r.isrcs, ["JPB600760301"]);
        assert_eq!(r.first_release_date.as_deref(), Some("2007-11-07"));
        assert_eq!(r.length_ms, Some(230_240));
        assert!(!r.video);
        assert_eq!(
            musicmeta_shared::domain::credit_phrase(&r.artist_credit),
            "倖田來未 feat. 東方神起"
        );

        // length null -> unknown.
        let Entity::Recording(r) = parse(
            EntityType::Recording,
            "recording/6b2cfcd8-42b1-445f-9f07-d8b4f4a3df73.json",
        ) else {
            panic!("not a recording")
        };
        assert_eq!(r.length_ms, None);
    }

    #[test]
    fn label_codes() {
        let Entity::Label(l) = parse(
            EntityType::Label,
            "label/46f0f4cd-8aab-4b33-b698-f459faf64190.json",
        ) else {
            panic!("not a label")
        };
        assert_eq!(l.name, "Warp");
        assert_eq!(l.label_code, Some(2070));
        assert_eq!(l.label_type.as_deref(), Some("Original Production"));
        assert_eq!(l.country.as_deref(), Some("GB"));

        // A capture with "label-code": "SPREC" still parses; the code is unknown.
        let Entity::Label(l) = parse(
            EntityType::Label,
            "label/015a28ab-1eb8-45a0-b2c6-601e410548af.json",
        ) else {
            panic!("not a label")
        };
        assert_eq!(l.name, "Speed Records");
        assert_eq!(l.label_code, None);
    }

    #[test]
    fn release_group_with_releases() {
        let Entity::ReleaseGroup(rg) = parse(
            EntityType::ReleaseGroup,
            "release-group/f5093c06-23e3-404f-aeaa-40f72885ee3a.alt1.json",
        ) else {
            panic!("not a release group")
        };
        assert_eq!(rg.title, "The Dark Side of the Moon");
        assert_eq!(rg.primary_type.as_deref(), Some("Album"));
        assert_eq!(rg.releases.len(), 25);
        assert!(rg.releases.contains(&ReleaseRef {
            mbid: mbid("03683c48-eb9e-47a8-bcdf-d5e5bae93de3"),
            title: "The Dark Side of the Moon".into(),
            disambiguation: "1979 Mobile Fidelity Sound Lab remaster".into(),
            status: Some("Official".into()),
            date: Some("1979-06".into()),
            country: Some("US".into()),
        }));

        let Entity::ReleaseGroup(rg) = parse(
            EntityType::ReleaseGroup,
            "release-group/53614893-6f25-4519-9cae-b1db904e2887.json",
        ) else {
            panic!("not a release group")
        };
        assert_eq!(
            rg.secondary_types,
            ["Compilation", "DJ-mix", "Mixtape/Street"]
        );
    }

    fn release(json: &str) -> Release {
        match parse_entity(EntityType::Release, json.as_bytes()) {
            Ok(Entity::Release(r)) => *r,
            other => panic!("{json}: {other:?}"),
        }
    }

    #[test]
    fn barcode_null_absent_and_empty_differ() {
        assert_eq!(
            release(&format!(r#"{{"id":"{ID}","barcode":null}}"#)).barcode,
            None
        );
        assert_eq!(release(&format!(r#"{{"id":"{ID}"}}"#)).barcode, None);
        assert_eq!(
            release(&format!(r#"{{"id":"{ID}","barcode":""}}"#))
                .barcode
                .as_deref(),
            Some("")
        );
        // Other optional text treats "" as unknown.
        let r = release(&format!(
            r#"{{"id":"{ID}","date":"","status":"","country":null}}"#
        ));
        assert_eq!((r.date, r.status, r.country), (None, None, None));
    }

    #[test]
    fn bad_bodies_are_errors() {
        let t = EntityType::Artist;
        assert!(matches!(
            parse_entity(t, b"<html>503</html>"),
            Err(ParseError::Json(_))
        ));
        assert!(matches!(parse_entity(t, b""), Err(ParseError::Json(_))));
        assert!(matches!(parse_entity(t, b"[]"), Err(ParseError::Json(_))));
        assert!(matches!(parse_entity(t, b"{}"), Err(ParseError::MissingId)));
        assert!(matches!(
            parse_entity(t, br#"{"id":null}"#),
            Err(ParseError::MissingId)
        ));
        assert!(matches!(
            parse_entity(t, br#"{"id":"not-an-mbid"}"#),
            Err(ParseError::InvalidId(s)) if s == "not-an-mbid"
        ));
        let err = parse_entity(t, br#"{"error":"Not Found","help":"x"}"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "MusicBrainz answered with an error body: Not Found"
        );
    }

    #[test]
    fn nested_objects_without_valid_ids_are_dropped() {
        let r = release(&format!(
            r#"{{"id":"{ID}",
            "artist-credit":[{{"name":"X","joinphrase":null,"artist":{{"id":"bad"}}}},null,
                             {{"name":null,"joinphrase":"","artist":{{"id":"{ID}","name":"Y"}}}}],
            "release-group":{{"id":null,"title":"RG"}},
            "label-info":[{{"catalog-number":"CAT 1","label":{{"id":"","name":"L"}}}},
                          {{"catalog-number":null,"label":null}}],
            "media":[{{"position":1,"tracks":[
                {{"id":"{ID}","recording":{{"id":null}}}},
                {{"id":null,"recording":{{"id":"{ID}"}}}},
                {{"id":"{ID}","title":"T","recording":{{"id":"{ID}","length":null,
                  "artist-credit":[{{"name":"Z","artist":{{"id":"{ID}"}}}}]}}}}]}}]}}"#
        ));
        // The credit with a bad artist id and the null item go; a null name falls back.
        assert_eq!(r.artist_credit.len(), 1);
        assert_eq!(r.artist_credit[0].credited_name, "Y");
        assert!(r.release_group.is_none());
        assert_eq!(
            r.label_info,
            [LabelInfo {
                label: None,
                catalog_number: Some("CAT 1".into())
            }]
        );
        let tracks = &r.media[0].tracks;
        assert_eq!(tracks.len(), 1);
        assert_eq!(tracks[0].title, "T");
        assert_eq!(tracks[0].length_ms, None);
        // No credit of its own: the recording's.
        assert_eq!(tracks[0].artist_credit[0].credited_name, "Z");
    }

    #[test]
    fn browse_pages_parse() {
        let body = std::fs::read(
            std::path::Path::new(FIXTURES)
                .join("browse/release-group-by-artist-c8da2e40-inc-artist-credits.json"),
        )
        .unwrap();
        let page = parse_browse(EntityType::ReleaseGroup, &body).unwrap();
        // The 2021 capture lists five release groups.
        assert_eq!((page.total, page.offset, page.received), (5, 0, 5));
        assert_eq!(page.items.len(), 5);
        let Entity::ReleaseGroup(g) = &page.items[0] else {
            panic!("a release group")
        };
        assert!(!g.artist_credit.is_empty(), "inc=artist-credits is kept");
        let body = std::fs::read(
            std::path::Path::new(FIXTURES).join("browse/release-by-label-47e718e1.json"),
        )
        .unwrap();
        let page = parse_browse(EntityType::Release, &body).unwrap();
        assert_eq!(page.items.len() as u32, page.received);
        assert!(parse_browse(EntityType::Release, b"{\"error\":\"Not Found\"}").is_err());
        assert!(parse_browse(EntityType::Release, b"[]").is_err());
    }
}
