//! Domain and catalog types into their `musicmeta.v1` protobuf messages.
//! Pure mapping, field for field; the shapes match on purpose.

use musicmeta_proto::v1 as pb;
use musicmeta_shared::catalog as cat;
use musicmeta_shared::domain::{self as d, Annotations, ArtistCredit, LifeSpan, credit_phrase};

use prost::Message;
use prost::bytes::Bytes;

use crate::hot::Hot;
use crate::policy::Answer;

fn life_span(l: LifeSpan) -> Option<pb::LifeSpan> {
    Some(pb::LifeSpan {
        begin: l.begin,
        end: l.end,
        ended: l.ended,
    })
}

fn credits(c: Vec<ArtistCredit>) -> Vec<pb::ArtistCredit> {
    c.into_iter()
        .map(|c| pb::ArtistCredit {
            artist: Some(pb::ArtistRef {
                mbid: c.artist.mbid.to_string(),
                name: c.artist.name,
                sort_name: c.artist.sort_name,
                disambiguation: c.artist.disambiguation,
            }),
            credited_name: c.credited_name,
            join_phrase: c.join_phrase,
        })
        .collect()
}

fn tags(t: Vec<d::Tag>) -> Vec<pb::Tag> {
    t.into_iter()
        .map(|t| pb::Tag {
            name: t.name,
            count: t.count,
        })
        .collect()
}

pub fn relations(list: Vec<d::Relation>) -> Vec<pb::Relation> {
    list.into_iter().map(relation).collect()
}

fn relation(r: d::Relation) -> pb::Relation {
    let direction = match r.direction {
        d::Direction::Forward => pb::relation::Direction::Forward,
        d::Direction::Backward => pb::relation::Direction::Backward,
    };
    pb::Relation {
        r#type: r.relation_type,
        type_id: r.type_id,
        direction: direction as i32,
        target_type: r.target_type,
        target: Some(pb::RelationTarget {
            mbid: r.target.mbid.map(|m| m.to_string()),
            name: r.target.name,
            sort_name: r.target.sort_name,
            disambiguation: r.target.disambiguation,
            r#type: r.target.kind,
            relations: relations(r.target.relations),
        }),
        attributes: r
            .attributes
            .into_iter()
            .map(|a| pb::RelationAttribute {
                name: a.name,
                type_id: a.type_id,
                value: a.value,
                credited_as: a.credited_as,
            })
            .collect(),
        life_span: life_span(r.life_span),
        ordering_key: r.ordering_key,
        source_credit: r.source_credit,
        target_credit: r.target_credit,
    }
}

fn area_ref(a: d::AreaRef) -> pb::AreaRef {
    pb::AreaRef {
        mbid: a.mbid.map(|m| m.to_string()),
        name: a.name,
        iso_3166_1_codes: a.iso_3166_1_codes,
    }
}

fn track(t: d::Track) -> pb::Track {
    pb::Track {
        mbid: t.mbid.to_string(),
        position: t.position,
        number: t.number,
        title: t.title,
        length_ms: t.length_ms,
        artist_credit: credits(t.artist_credit),
        recording: Some(pb::RecordingRef {
            mbid: t.recording.mbid.to_string(),
            title: t.recording.title,
            disambiguation: t.recording.disambiguation,
            length_ms: t.recording.length_ms,
            video: t.recording.video,
            isrcs: t.recording.isrcs,
            artist_credit: credits(t.recording.artist_credit),
            relations: relations(t.recording.relations),
        }),
    }
}

/// Aliases, tags, genres, URLs, relationships, annotation and rating: the
/// tail every entity message shares.
struct Tail {
    aliases: Vec<pb::Alias>,
    tags: Vec<pb::Tag>,
    genres: Vec<pb::Tag>,
    urls: Vec<pb::UrlRelation>,
    relations: Vec<pb::Relation>,
    annotation: Option<String>,
    rating: Option<pb::Rating>,
}

fn tail(a: Annotations) -> Tail {
    Tail {
        aliases: a
            .aliases
            .into_iter()
            .map(|a| pb::Alias {
                name: a.name,
                sort_name: a.sort_name,
                r#type: a.alias_type,
                locale: a.locale,
                primary: a.primary,
                life_span: life_span(a.life_span),
            })
            .collect(),
        tags: tags(a.tags),
        genres: tags(a.genres),
        urls: a
            .urls
            .into_iter()
            .map(|u| pb::UrlRelation {
                r#type: u.relation_type,
                url: u.url,
                life_span: life_span(u.life_span),
            })
            .collect(),
        relations: relations(a.relations),
        annotation: a.annotation,
        rating: a.rating.map(|r| pb::Rating {
            value: r.value,
            votes: r.votes,
        }),
    }
}

macro_rules! hot {
    ($ty:ident, $convert:ident) => {
        impl Hot for d::$ty {
            fn encode(self) -> Bytes {
                Bytes::from($convert(self).encode_to_vec())
            }
        }
    };
}

hot!(Artist, artist);
hot!(ReleaseGroup, release_group);
hot!(Release, release);
hot!(Recording, recording);
hot!(Label, label);

pub fn cache_info(answer: &Answer) -> pb::CacheInfo {
    pb::CacheInfo {
        freshness: if answer.fresh {
            pb::Freshness::Fresh
        } else {
            pb::Freshness::Stale
        } as i32,
        fetched_at: Some(prost_types::Timestamp::from(answer.fetched_at)),
        redirected_from: answer.redirected_from.map(|m| m.to_string()),
    }
}

pub fn artist(a: d::Artist) -> pb::Artist {
    let t = tail(a.annotations);
    pb::Artist {
        mbid: a.mbid.to_string(),
        name: a.name,
        sort_name: a.sort_name,
        disambiguation: a.disambiguation,
        r#type: a.artist_type,
        gender: a.gender,
        country: a.country,
        area: a.area,
        life_span: life_span(a.life_span),
        aliases: t.aliases,
        tags: t.tags,
        genres: t.genres,
        urls: t.urls,
        release_groups_complete: a.release_groups_complete,
        relations: t.relations,
        annotation: t.annotation,
        rating: t.rating,
        begin_area: a.begin_area.map(area_ref),
        end_area: a.end_area.map(area_ref),
        ipis: a.ipis,
        isnis: a.isnis,
    }
}

pub fn label(l: d::Label) -> pb::Label {
    let t = tail(l.annotations);
    pb::Label {
        mbid: l.mbid.to_string(),
        name: l.name,
        sort_name: l.sort_name,
        disambiguation: l.disambiguation,
        r#type: l.label_type,
        label_code: l.label_code,
        country: l.country,
        area: l.area,
        life_span: life_span(l.life_span),
        aliases: t.aliases,
        tags: t.tags,
        genres: t.genres,
        urls: t.urls,
        relations: t.relations,
        annotation: t.annotation,
        rating: t.rating,
        ipis: l.ipis,
        isnis: l.isnis,
    }
}

pub fn recording(r: d::Recording) -> pb::Recording {
    let t = tail(r.annotations);
    pb::Recording {
        mbid: r.mbid.to_string(),
        title: r.title,
        disambiguation: r.disambiguation,
        length_ms: r.length_ms,
        video: r.video,
        first_release_date: r.first_release_date,
        artist_credit_phrase: credit_phrase(&r.artist_credit),
        artist_credit: credits(r.artist_credit),
        isrcs: r.isrcs,
        aliases: t.aliases,
        tags: t.tags,
        genres: t.genres,
        urls: t.urls,
        relations: t.relations,
        annotation: t.annotation,
        rating: t.rating,
    }
}

pub fn release_group(g: d::ReleaseGroup) -> pb::ReleaseGroup {
    let t = tail(g.annotations);
    pb::ReleaseGroup {
        mbid: g.mbid.to_string(),
        title: g.title,
        disambiguation: g.disambiguation,
        primary_type: g.primary_type,
        secondary_types: g.secondary_types,
        first_release_date: g.first_release_date,
        artist_credit_phrase: credit_phrase(&g.artist_credit),
        artist_credit: credits(g.artist_credit),
        releases: g
            .releases
            .into_iter()
            .map(|r| pb::ReleaseRef {
                mbid: r.mbid.to_string(),
                title: r.title,
                disambiguation: r.disambiguation,
                status: r.status,
                date: r.date,
                country: r.country,
            })
            .collect(),
        aliases: t.aliases,
        tags: t.tags,
        genres: t.genres,
        urls: t.urls,
        releases_complete: g.releases_complete,
        relations: t.relations,
        annotation: t.annotation,
        rating: t.rating,
    }
}

pub fn release(r: d::Release) -> pb::Release {
    let t = tail(r.annotations);
    pb::Release {
        mbid: r.mbid.to_string(),
        title: r.title,
        disambiguation: r.disambiguation,
        status: r.status,
        packaging: r.packaging,
        date: r.date,
        country: r.country,
        barcode: r.barcode,
        language: r.language,
        script: r.script,
        artist_credit_phrase: credit_phrase(&r.artist_credit),
        artist_credit: credits(r.artist_credit),
        release_group: r.release_group.map(|g| pb::ReleaseGroupRef {
            mbid: g.mbid.to_string(),
            title: g.title,
            disambiguation: g.disambiguation,
            primary_type: g.primary_type,
            secondary_types: g.secondary_types,
            first_release_date: g.first_release_date,
            artist_credit: credits(g.artist_credit),
        }),
        label_info: r
            .label_info
            .into_iter()
            .map(|i| pb::LabelInfo {
                label: i.label.map(|l| pb::LabelRef {
                    mbid: l.mbid.to_string(),
                    name: l.name,
                    sort_name: l.sort_name,
                    disambiguation: l.disambiguation,
                    label_code: l.label_code,
                }),
                catalog_number: i.catalog_number,
            })
            .collect(),
        media: r
            .media
            .into_iter()
            .map(|m| pb::Medium {
                position: m.position,
                format: m.format,
                title: m.title,
                track_count: m.track_count,
                tracks: m.tracks.into_iter().map(track).collect(),
                pregap: m.pregap.map(track),
                data_tracks: m.data_tracks.into_iter().map(track).collect(),
                discs: m
                    .discs
                    .into_iter()
                    .map(|d| pb::Disc {
                        id: d.id,
                        sectors: d.sectors,
                        offsets: d.offsets,
                    })
                    .collect(),
            })
            .collect(),
        aliases: t.aliases,
        tags: t.tags,
        genres: t.genres,
        urls: t.urls,
        relations: t.relations,
        annotation: t.annotation,
        release_events: r
            .release_events
            .into_iter()
            .map(|e| pb::ReleaseEvent {
                date: e.date,
                area: e.area.map(area_ref),
            })
            .collect(),
        asin: r.asin,
        quality: r.quality,
    }
}

pub fn work(w: d::Work) -> pb::Work {
    let t = tail(w.annotations);
    pb::Work {
        mbid: w.mbid.to_string(),
        title: w.title,
        disambiguation: w.disambiguation,
        r#type: w.work_type,
        languages: w.languages,
        iswcs: w.iswcs,
        attributes: w
            .attributes
            .into_iter()
            .map(|a| pb::WorkAttribute {
                r#type: a.attribute_type,
                value: a.value,
            })
            .collect(),
        aliases: t.aliases,
        tags: t.tags,
        genres: t.genres,
        urls: t.urls,
        relations: t.relations,
        annotation: t.annotation,
        rating: t.rating,
    }
}

// Catalog summaries (browse items and search hits).

pub fn artist_summary(s: cat::ArtistSummary) -> pb::ArtistSummary {
    pb::ArtistSummary {
        mbid: s.mbid.to_string(),
        name: s.name,
        sort_name: s.sort_name,
        disambiguation: s.disambiguation,
        r#type: s.artist_type,
        country: s.country,
        life_span: life_span(s.life_span),
        fetched: s.fetched,
    }
}

pub fn label_summary(s: cat::LabelSummary) -> pb::LabelSummary {
    pb::LabelSummary {
        mbid: s.mbid.to_string(),
        name: s.name,
        sort_name: s.sort_name,
        disambiguation: s.disambiguation,
        r#type: s.label_type,
        label_code: s.label_code,
        country: s.country,
        life_span: life_span(s.life_span),
        fetched: s.fetched,
    }
}

pub fn release_group_summary(s: cat::ReleaseGroupSummary) -> pb::ReleaseGroupSummary {
    pb::ReleaseGroupSummary {
        mbid: s.mbid.to_string(),
        title: s.title,
        disambiguation: s.disambiguation,
        primary_type: s.primary_type,
        secondary_types: s.secondary_types,
        first_release_date: s.first_release_date,
        artist_credit_phrase: credit_phrase(&s.artist_credit),
        artist_credit: credits(s.artist_credit),
        fetched: s.fetched,
    }
}

pub fn release_summary(s: cat::ReleaseSummary) -> pb::ReleaseSummary {
    pb::ReleaseSummary {
        mbid: s.mbid.to_string(),
        title: s.title,
        disambiguation: s.disambiguation,
        status: s.status,
        date: s.date,
        country: s.country,
        barcode: s.barcode,
        release_group_mbid: s.release_group.map(|m| m.to_string()),
        artist_credit_phrase: credit_phrase(&s.artist_credit),
        artist_credit: credits(s.artist_credit),
        fetched: s.fetched,
    }
}

pub fn recording_summary(s: cat::RecordingSummary) -> pb::RecordingSummary {
    pb::RecordingSummary {
        mbid: s.mbid.to_string(),
        title: s.title,
        disambiguation: s.disambiguation,
        length_ms: s.length_ms,
        video: s.video,
        first_release_date: s.first_release_date,
        artist_credit_phrase: credit_phrase(&s.artist_credit),
        artist_credit: credits(s.artist_credit),
        fetched: s.fetched,
    }
}

pub fn relevance(tier: i32, score: i32, matched_alias: Option<String>) -> Option<pb::Relevance> {
    Some(pb::Relevance {
        score: f64::from(score) / 1_000_000.0,
        exact: tier == 0,
        matched_alias,
    })
}
