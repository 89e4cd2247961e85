//! Relationships, ratings, areas and disc IDs as ws/2 JSON writes them,
//! and their mapping into the domain. Shared by every entity's shape.
//!
//! A relationship names its target's type in `target-type` and carries the
//! target under that name (`release-group` as `release_group`). Captures
//! before 2017 may leave `target-type` out; the key that is present says it
//! then.

use std::collections::BTreeMap;

use serde::Deserialize;

use musicmeta_shared::domain::{
    AreaRef, Direction, Disc, Rating, Relation, RelationAttribute, RelationTarget, UrlRelation,
};

use super::{MbLifeSpan, known, loose_i32, nested_id, null_as_default, null_list};

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "kebab-case")]
pub(super) struct MbRelation {
    target_type: Option<String>,
    #[serde(rename = "type", deserialize_with = "null_as_default")]
    relation_type: String,
    type_id: Option<String>,
    direction: Option<String>,
    #[serde(deserialize_with = "null_list")]
    attributes: Vec<String>,
    #[serde(deserialize_with = "null_as_default")]
    attribute_ids: BTreeMap<String, Option<String>>,
    #[serde(deserialize_with = "null_as_default")]
    attribute_values: BTreeMap<String, Option<serde_json::Value>>,
    #[serde(deserialize_with = "null_as_default")]
    attribute_credits: BTreeMap<String, Option<String>>,
    #[serde(deserialize_with = "loose_i32")]
    ordering_key: Option<i32>,
    #[serde(deserialize_with = "null_as_default")]
    source_credit: String,
    #[serde(deserialize_with = "null_as_default")]
    target_credit: String,
    artist: Option<MbTarget>,
    area: Option<MbTarget>,
    event: Option<MbTarget>,
    genre: Option<MbTarget>,
    instrument: Option<MbTarget>,
    label: Option<MbTarget>,
    place: Option<MbTarget>,
    recording: Option<MbTarget>,
    release: Option<MbTarget>,
    release_group: Option<MbTarget>,
    series: Option<MbTarget>,
    url: Option<MbTarget>,
    work: Option<MbTarget>,
    #[serde(flatten)]
    span: MbLifeSpan,
}

/// The entity at the other end, of any type: the union of the fields the
/// short forms of all types have.
#[derive(Deserialize, Default)]
#[serde(default, rename_all = "kebab-case")]
pub(super) struct MbTarget {
    id: Option<String>,
    name: Option<String>,
    title: Option<String>,
    resource: Option<String>,
    #[serde(deserialize_with = "null_as_default")]
    sort_name: String,
    #[serde(deserialize_with = "null_as_default")]
    disambiguation: String,
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(deserialize_with = "null_list")]
    relations: Vec<MbRelation>,
}

impl MbRelation {
    /// The target's type and the target, wherever this capture put them.
    fn take_target(&mut self) -> (String, Option<MbTarget>) {
        let named = self.target_type.clone().filter(|t| !t.is_empty());
        // Each key a target may sit under: the target type it stands for.
        let slots = [
            ("artist", &mut self.artist),
            ("area", &mut self.area),
            ("event", &mut self.event),
            ("genre", &mut self.genre),
            ("instrument", &mut self.instrument),
            ("label", &mut self.label),
            ("place", &mut self.place),
            ("recording", &mut self.recording),
            ("release", &mut self.release),
            ("release-group", &mut self.release_group),
            ("series", &mut self.series),
            ("url", &mut self.url),
            ("work", &mut self.work),
        ];
        for (key, slot) in slots {
            let wanted = match &named {
                Some(t) => t == key,
                None => slot.is_some(),
            };
            if wanted {
                return (key.to_owned(), slot.take());
            }
        }
        (named.unwrap_or_default(), None)
    }

    pub(super) fn into_domain(mut self) -> Relation {
        let (target_type, target) = self.take_target();
        let target = target.map(MbTarget::into_domain).unwrap_or_default();
        let attributes = self
            .attributes
            .into_iter()
            .map(|name| RelationAttribute {
                type_id: self.attribute_ids.get(&name).cloned().flatten(),
                value: self
                    .attribute_values
                    .get(&name)
                    .cloned()
                    .flatten()
                    .and_then(|v| match v {
                        serde_json::Value::String(s) => Some(s),
                        serde_json::Value::Null => None,
                        other => Some(other.to_string()),
                    }),
                credited_as: known(self.attribute_credits.get(&name).cloned().flatten()),
                name,
            })
            .collect();
        Relation {
            relation_type: self.relation_type,
            type_id: known(self.type_id),
            direction: match self.direction.as_deref() {
                Some("backward") => Direction::Backward,
                _ => Direction::Forward,
            },
            target_type,
            target,
            attributes,
            life_span: self.span.into_domain(),
            ordering_key: self.ordering_key,
            source_credit: self.source_credit,
            target_credit: self.target_credit,
        }
    }

    /// The short URL form kept beside the full list; relations to
    /// anything else, and URL ones without an address, have none.
    pub(super) fn url_relation(relation: &Relation) -> Option<UrlRelation> {
        if relation.target_type != "url" || relation.target.name.is_empty() {
            return None;
        }
        Some(UrlRelation {
            relation_type: relation.relation_type.clone(),
            url: relation.target.name.clone(),
            life_span: relation.life_span.clone(),
        })
    }
}

impl MbTarget {
    fn into_domain(self) -> RelationTarget {
        RelationTarget {
            mbid: nested_id(self.id.as_deref()),
            name: known(self.name)
                .or(known(self.title))
                .or(known(self.resource))
                .unwrap_or_default(),
            sort_name: self.sort_name,
            disambiguation: self.disambiguation,
            kind: known(self.kind),
            relations: relations(self.relations),
        }
    }
}

pub(super) fn relations(list: Vec<MbRelation>) -> Vec<Relation> {
    list.into_iter().map(MbRelation::into_domain).collect()
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "kebab-case")]
pub(super) struct MbRating {
    value: Option<f64>,
    #[serde(deserialize_with = "null_as_default")]
    votes_count: i32,
}

impl MbRating {
    pub(super) fn into_domain(self) -> Rating {
        Rating {
            value: self.value.filter(|v| v.is_finite()),
            votes: self.votes_count,
        }
    }
}

/// An area in short form: a release event's country, an artist's begin area.
#[derive(Deserialize, Default)]
#[serde(default, rename_all = "kebab-case")]
pub(super) struct MbAreaRef {
    id: Option<String>,
    name: Option<String>,
    #[serde(deserialize_with = "null_list", alias = "iso_3166_1_codes")]
    iso_3166_1_codes: Vec<String>,
}

impl MbAreaRef {
    /// An area with neither a valid id nor a name says nothing.
    pub(super) fn into_domain(self) -> Option<AreaRef> {
        let area = AreaRef {
            mbid: nested_id(self.id.as_deref()),
            name: known(self.name).unwrap_or_default(),
            iso_3166_1_codes: self.iso_3166_1_codes,
        };
        (area.mbid.is_some() || !area.name.is_empty()).then_some(area)
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct MbDisc {
    id: Option<String>,
    #[serde(deserialize_with = "null_as_default")]
    sectors: i32,
    #[serde(deserialize_with = "null_list")]
    offsets: Vec<i32>,
}

impl MbDisc {
    /// A disc without its id is dropped.
    pub(super) fn into_domain(self) -> Option<Disc> {
        Some(Disc {
            id: known(self.id)?,
            sectors: self.sectors,
            offsets: self.offsets,
        })
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::fs;

    use serde_json::Value;

    use musicmeta_shared::domain::{Entity, Relation, Track};
    use musicmeta_shared::mbid::EntityType;

    use super::super::parse_entity;
    use super::super::tests::{fixture, json_files};
    use super::Direction;

    fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
        v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
    }

    /// Every value of a ws/2 relationship the domain has a field for comes
    /// back equal, down through nested (work-level) relationships.
    pub(in crate::model) fn assert_relations_match(json: &Value, parsed: &[Relation], at: &str) {
        let sent = json.as_array().map(Vec::as_slice).unwrap_or_default();
        assert_eq!(sent.len(), parsed.len(), "{at}: relation count");
        for (i, (j, r)) in sent.iter().zip(parsed).enumerate() {
            let at = format!("{at}[{i}]");
            assert_eq!(text(j, "type").unwrap_or_default(), r.relation_type, "{at}");
            assert_eq!(text(j, "type-id"), r.type_id.as_deref(), "{at}");
            let backward = text(j, "direction") == Some("backward");
            assert_eq!(backward, r.direction == Direction::Backward, "{at}");
            if let Some(t) = text(j, "target-type") {
                assert_eq!(t, r.target_type, "{at}");
            }
            let target = &j[r.target_type.replace('-', "_").as_str()];
            let target = if target.is_null() {
                &j[r.target_type.as_str()]
            } else {
                target
            };
            assert_eq!(
                text(target, "id"),
                r.target.mbid.map(|m| m.to_string()).as_deref(),
                "{at}: target id"
            );
            let name = text(target, "name")
                .or(text(target, "title"))
                .or(text(target, "resource"));
            assert_eq!(name.unwrap_or_default(), r.target.name, "{at}: target name");
            assert_eq!(text(j, "begin"), r.life_span.begin.as_deref(), "{at}");
            assert_eq!(text(j, "end"), r.life_span.end.as_deref(), "{at}");
            assert_eq!(
                j["ended"].as_bool().unwrap_or(false),
                r.life_span.ended,
                "{at}"
            );
            assert_eq!(
                j["ordering-key"].as_i64(),
                r.ordering_key.map(i64::from),
                "{at}"
            );
            let attributes: Vec<&str> = j["attributes"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let names: Vec<&str> = r.attributes.iter().map(|a| a.name.as_str()).collect();
            assert_eq!(attributes, names, "{at}: attributes");
            for a in &r.attributes {
                assert_eq!(
                    j["attribute-values"][a.name.as_str()].as_str(),
                    a.value.as_deref(),
                    "{at}: value of {}",
                    a.name
                );
                assert_eq!(
                    text(&j["attribute-credits"], &a.name),
                    a.credited_as.as_deref(),
                    "{at}: credit of {}",
                    a.name
                );
            }
            assert_eq!(
                text(j, "source-credit").unwrap_or_default(),
                r.source_credit
            );
            assert_eq!(
                text(j, "target-credit").unwrap_or_default(),
                r.target_credit
            );
            assert_relations_match(&target["relations"], &r.target.relations, &at);
        }
    }

    fn value(rel: &str) -> Value {
        serde_json::from_slice(&fixture(rel)).unwrap()
    }

    #[test]
    fn relationships_of_every_lookup_fixture_come_back_equal() {
        let mut checked = 0;
        for (dir, t) in [
            ("artist", EntityType::Artist),
            ("label", EntityType::Label),
            ("recording", EntityType::Recording),
            ("release", EntityType::Release),
            ("release-group", EntityType::ReleaseGroup),
        ] {
            for path in json_files(dir) {
                let body = fs::read(&path).unwrap();
                let json: Value = serde_json::from_slice(&body).unwrap();
                let Ok(entity) = parse_entity(t, &body) else {
                    continue;
                };
                let at = path.display().to_string();
                let annotations = entity.annotations();
                assert_relations_match(&json["relations"], &annotations.relations, &at);
                checked += annotations.relations.len();
                if let Entity::Release(r) = &entity {
                    for (m, medium) in r.media.iter().enumerate() {
                        let sent = &json["media"][m];
                        for (k, track) in medium.tracks.iter().enumerate() {
                            let rec = &sent["tracks"][k]["recording"];
                            assert_relations_match(
                                &rec["relations"],
                                &track.recording.relations,
                                &format!("{at} medium {m} track {k}"),
                            );
                            checked += track.recording.relations.len();
                        }
                    }
                }
            }
        }
        assert!(checked > 1000, "only {checked} relationships checked");
    }

    /// The release recorded with recording- and work-level relationships:
    /// every performer on its track, every composer under its work.
    #[test]
    fn track_credits_land_on_their_own_track() {
        let rel = "release/987f3e2d-22a6-4a4f-b840-c80c26b8b91a.json";
        let json = value(rel);
        let Entity::Release(release) = parse_entity(EntityType::Release, &fixture(rel)).unwrap()
        else {
            panic!("not a release")
        };
        let tracks: Vec<&Track> = release.media.iter().flat_map(|m| &m.tracks).collect();
        let sent: Vec<&Value> = json["media"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|m| m["tracks"].as_array().unwrap())
            .collect();
        assert_eq!(tracks.len(), sent.len());
        let mut composers = 0;
        for (track, sent) in tracks.iter().zip(&sent) {
            assert_eq!(track.mbid.to_string(), sent["id"].as_str().unwrap());
            for (r, j) in track
                .recording
                .relations
                .iter()
                .zip(sent["recording"]["relations"].as_array().unwrap())
            {
                assert_eq!(
                    r.target.mbid.map(|m| m.to_string()).as_deref(),
                    j[r.target_type.as_str()]["id"].as_str()
                );
                composers += r
                    .target
                    .relations
                    .iter()
                    .filter(|w| w.relation_type == "composer")
                    .count();
            }
        }
        assert!(composers > 0, "no composer credits found");
    }

    #[test]
    fn release_events_discs_and_quality_of_every_release_come_back_equal() {
        let (mut events_seen, mut discs_seen) = (0, 0);
        for path in json_files("release") {
            let body = fs::read(&path).unwrap();
            let json: Value = serde_json::from_slice(&body).unwrap();
            let Ok(Entity::Release(r)) = parse_entity(EntityType::Release, &body) else {
                continue;
            };
            let at = path.display().to_string();
            let events = json["release-events"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default();
            assert_eq!(events.len(), r.release_events.len(), "{at}");
            for (e, j) in r.release_events.iter().zip(events) {
                assert_eq!(e.date.as_deref(), text(j, "date"), "{at}");
                let codes: Vec<&str> = j["area"]["iso-3166-1-codes"]
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                match &e.area {
                    Some(area) => {
                        assert_eq!(Some(area.name.as_str()), text(&j["area"], "name"), "{at}");
                        assert_eq!(codes, area.iso_3166_1_codes, "{at}");
                    }
                    None => assert!(j["area"].is_null(), "{at}"),
                }
                events_seen += 1;
            }
            assert_eq!(r.asin.as_deref(), text(&json, "asin"), "{at}");
            assert_eq!(r.quality.as_deref(), text(&json, "quality"), "{at}");
            assert_eq!(
                r.annotations.annotation.as_deref(),
                text(&json, "annotation"),
                "{at}"
            );
            let media = json["media"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default();
            for (m, j) in r.media.iter().zip(media) {
                let sent = j["discs"].as_array().map(Vec::as_slice).unwrap_or_default();
                assert_eq!(m.discs.len(), sent.len(), "{at}");
                for (d, s) in m.discs.iter().zip(sent) {
                    assert_eq!(Some(d.id.as_str()), text(s, "id"), "{at}");
                    assert_eq!(Some(i64::from(d.sectors)), s["sectors"].as_i64(), "{at}");
                    let offsets: Vec<i64> = s["offsets"]
                        .as_array()
                        .map(|o| o.iter().filter_map(Value::as_i64).collect())
                        .unwrap_or_default();
                    let parsed: Vec<i64> = d.offsets.iter().map(|&o| i64::from(o)).collect();
                    assert_eq!(parsed, offsets, "{at}");
                    discs_seen += 1;
                }
                assert_eq!(m.pregap.is_some(), j["pregap"].is_object(), "{at}");
                let data = j["data-tracks"].as_array().map(Vec::len).unwrap_or(0);
                assert_eq!(m.data_tracks.len(), data, "{at}");
            }
        }
        assert!(
            events_seen > 20 && discs_seen > 2,
            "{events_seen} events, {discs_seen} discs"
        );
    }

    #[test]
    fn artist_areas_ids_and_rating_come_back_equal() {
        let rel = "artist/72c536dc-7137-4477-a521-567eeb840fa8.json";
        let json = value(rel);
        let Entity::Artist(a) = parse_entity(EntityType::Artist, &fixture(rel)).unwrap() else {
            panic!("not an artist")
        };
        let list = |k: &str| -> Vec<String> {
            json[k]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        assert_eq!(a.ipis, list("ipis"));
        assert_eq!(a.isnis, list("isnis"));
        assert!(!a.isnis.is_empty());
        assert_eq!(
            a.begin_area.as_ref().map(|b| b.name.as_str()),
            text(&json["begin-area"], "name")
        );
        let rating = a.annotations.rating.unwrap();
        assert_eq!(rating.value, json["rating"]["value"].as_f64());
        assert_eq!(
            i64::from(rating.votes),
            json["rating"]["votes-count"].as_i64().unwrap()
        );
    }
}
