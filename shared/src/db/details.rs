//! The `details` columns (migration V10): the facts of an entity that are
//! read only together with it, kept as one JSON object per row instead of a
//! table per shape — relationships of every type, annotation, rating,
//! release events, IPIs/ISNIs, begin/end areas; per medium its disc IDs,
//! pregap and data tracks; per track its recording's relationships.
//!
//! The JSON is this module's own shape (the domain types' serde form), not
//! MusicBrainz's: a row carries what was derived from its `raw` document.
//! A row without `details` (stored before V10, or a stub) reads as having
//! none of these facts; `ingest-worker rederive` fills them from the
//! document the row keeps in `raw` (`super::rederive`), or its next
//! refresh does.

use serde::{Deserialize, Serialize};
use tokio_postgres::types::Json;

use crate::domain::{
    Annotations, AreaRef, Artist, Disc, Entity, Label, Medium, Rating, Relation, Release,
    ReleaseEvent, Track,
};

/// What an entity row's `details` holds. Fields a type does not have stay
/// empty and are left out of the JSON.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct EntityDetails {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    relations: Vec<Relation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    annotation: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rating: Option<Rating>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ipis: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    isnis: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    begin_area: Option<AreaRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    end_area: Option<AreaRef>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    release_events: Vec<ReleaseEvent>,
    #[serde(skip_serializing_if = "Option::is_none")]
    asin: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    quality: Option<String>,
}

impl EntityDetails {
    /// The details of `entity`, as its row stores them.
    pub(crate) fn of(entity: &Entity) -> Json<Self> {
        let mut details = match entity {
            Entity::Artist(a) => Self {
                ipis: a.ipis.clone(),
                isnis: a.isnis.clone(),
                begin_area: a.begin_area.clone(),
                end_area: a.end_area.clone(),
                ..Self::default()
            },
            Entity::Label(l) => Self {
                ipis: l.ipis.clone(),
                isnis: l.isnis.clone(),
                ..Self::default()
            },
            Entity::Release(r) => Self {
                release_events: r.release_events.clone(),
                asin: r.asin.clone(),
                quality: r.quality.clone(),
                ..Self::default()
            },
            Entity::Recording(_) | Entity::ReleaseGroup(_) => Self::default(),
        };
        let annotations = entity.annotations();
        details.relations.clone_from(&annotations.relations);
        details.annotation.clone_from(&annotations.annotation);
        details.rating = annotations.rating;
        Json(details)
    }

    /// Reads a row's column; `None` (NULL) is no details.
    pub(crate) fn read(column: Option<Json<Self>>) -> Self {
        column.map(|Json(d)| d).unwrap_or_default()
    }

    fn annotate(&mut self, annotations: &mut Annotations) {
        annotations.relations = std::mem::take(&mut self.relations);
        annotations.annotation = self.annotation.take();
        annotations.rating = self.rating.take();
    }

    pub(crate) fn apply_to_artist(mut self, a: &mut Artist) {
        self.annotate(&mut a.annotations);
        a.ipis = self.ipis;
        a.isnis = self.isnis;
        a.begin_area = self.begin_area;
        a.end_area = self.end_area;
    }

    pub(crate) fn apply_to_label(mut self, l: &mut Label) {
        self.annotate(&mut l.annotations);
        l.ipis = self.ipis;
        l.isnis = self.isnis;
    }

    pub(crate) fn apply_to_release(mut self, r: &mut Release) {
        self.annotate(&mut r.annotations);
        r.release_events = self.release_events;
        r.asin = self.asin;
        r.quality = self.quality;
    }

    /// For recordings and release groups: relations, annotation, rating.
    pub(crate) fn apply_to(mut self, annotations: &mut Annotations) {
        self.annotate(annotations);
    }
}

/// What a medium row's `details` holds.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct MediumDetails {
    #[serde(skip_serializing_if = "Option::is_none")]
    pregap: Option<Track>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    data_tracks: Vec<Track>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    discs: Vec<Disc>,
}

impl MediumDetails {
    /// NULL when the medium has none of these, as most have not.
    pub(crate) fn of(m: &Medium) -> Option<Json<Self>> {
        if m.pregap.is_none() && m.data_tracks.is_empty() && m.discs.is_empty() {
            return None;
        }
        Some(Json(Self {
            pregap: m.pregap.clone(),
            data_tracks: m.data_tracks.clone(),
            discs: m.discs.clone(),
        }))
    }

    pub(crate) fn apply(column: Option<Json<Self>>, m: &mut Medium) {
        let Self {
            pregap,
            data_tracks,
            discs,
        } = column.map(|Json(d)| d).unwrap_or_default();
        m.pregap = pregap;
        m.data_tracks = data_tracks;
        m.discs = discs;
    }
}

/// A track row's `recording_relations`: NULL when there are none.
pub(crate) fn track_relations(t: &Track) -> Option<Json<&[Relation]>> {
    (!t.recording.relations.is_empty()).then_some(Json(t.recording.relations.as_slice()))
}

pub(crate) fn read_track_relations(column: Option<Json<Vec<Relation>>>) -> Vec<Relation> {
    column.map(|Json(r)| r).unwrap_or_default()
}
