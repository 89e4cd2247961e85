//! Answering a lookup from a superset document (§6): the one `inc` set the
//! worker fetches per entity ([`superset`]), which requests can be answered
//! from it ([`derivable`]), and how ([`project`]).
//!
//! Every rule of [`project`] is a deletion, decided by one token being
//! absent from the request: a key MusicBrainz emits only for that token is
//! removed wherever it occurs. So the result keeps the order of what
//! remains, projecting twice changes nothing, and projecting in two steps
//! (S → R1 → R2, R2 ⊆ R1) equals projecting once. What MusicBrainz would
//! not emit for the smaller request is never added back, e.g. recording
//! relations that a release of more than 500 recordings lacks (§6.2 13).
//!
//! Projection works on MusicBrainz's JSON. XML answers have their own
//! presence rules (§6.5) and must be rendered from the projected JSON by a
//! serializer that knows them, or fetched under their own key.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::inc::IncSet;
use super::request::{Kind, Request};
use super::resource::Resource;

/// The 13 `<type>-rels`, for the supersets that take them all.
const ALL_RELS: &[&str] = &[
    "area-rels",
    "artist-rels",
    "event-rels",
    "genre-rels",
    "instrument-rels",
    "label-rels",
    "place-rels",
    "recording-rels",
    "release-rels",
    "release-group-rels",
    "series-rels",
    "url-rels",
    "work-rels",
];

/// What the worker fetches once per entity of `resource` (server-rules §6.4),
/// normalised; `None` when answers are never cut from a superset (genre,
/// whose lookup has no `inc`; disc ids, ISRCs, ISWCs and collections, which
/// are cached by exact key). Each set is a valid request for its resource:
/// instrument and series take no `ratings` (400), and nothing here needs
/// credentials (`user-*` would).
pub fn superset(resource: Resource) -> Option<IncSet> {
    let tokens: Vec<&str> = match resource {
        // CONTRACT §3.1: every Picard (2.13, 3.x, all options but `user-*`)
        // and beets (2.0–2.14) release lookup. `artists` is `artist-credits`
        // and `media` comes with `discids`. Not taken: `ratings` (§6.4 lists
        // it as optional; no client that matters asks for it, and it puts a
        // `rating` on every release group, medium and target in media) and
        // the six other `*-rels`, which no such client asks for. Big
        // releases are heavy with the level rels, but the 500-recording rule
        // makes S exactly what MusicBrainz sends.
        Resource::Release => vec![
            "aliases",
            "annotation",
            "artist-credits",
            "collections",
            "discids",
            "genres",
            "isrcs",
            "labels",
            "recordings",
            "release-groups",
            "tags",
            "artist-rels",
            "label-rels",
            "recording-rels",
            "release-rels",
            "series-rels",
            "url-rels",
            "work-rels",
            "recording-level-rels",
            "release-group-level-rels",
            "work-level-rels",
        ],
        // Picard's track/NAT lookups with `track_ars`, beets' `track_for_id`.
        // No `releases`: a capped list of 25 releases that beets never needs
        // would make every lookup heavy; requests with `releases` are fetched
        // under their own key.
        Resource::Recording => vec![
            "aliases",
            "annotation",
            "artist-credits",
            "isrcs",
            "tags",
            "genres",
            "artist-rels",
            "label-rels",
            "recording-rels",
            "release-rels",
            "series-rels",
            "url-rels",
            "work-rels",
            "work-level-rels",
        ],
        // beets' parentwork (`work-rels artist-rels`) and more. No
        // `artist-credits`: valid only beside recording-, release- or
        // release-group-rels, and not asked for.
        Resource::Work => vec![
            "aliases",
            "annotation",
            "tags",
            "genres",
            "ratings",
            "artist-rels",
            "label-rels",
            "recording-rels",
            "release-rels",
            "series-rels",
            "url-rels",
            "work-rels",
            "area-rels",
            "place-rels",
            "event-rels",
        ],
        // No `releases`: a capped, `status`-filtered list, cached by exact key.
        Resource::ReleaseGroup => vec![
            "aliases",
            "annotation",
            "artist-credits",
            "tags",
            "genres",
            "ratings",
            "url-rels",
            "artist-rels",
            "series-rels",
            "release-group-rels",
        ],
        // No recording-, release-, release-group- or work-rels: an artist's
        // relations are not capped, and prolific artists have thousands. No
        // sub-lists (`recordings`, `releases`, …): capped and filterable.
        Resource::Artist => vec![
            "aliases",
            "annotation",
            "tags",
            "genres",
            "ratings",
            "url-rels",
            "artist-rels",
            "label-rels",
            "place-rels",
            "area-rels",
            "series-rels",
            "event-rels",
            "instrument-rels",
            "genre-rels",
        ],
        // No `releases` or `release-rels`: large, capped or filtered.
        Resource::Label => vec![
            "aliases",
            "annotation",
            "tags",
            "genres",
            "ratings",
            "url-rels",
            "artist-rels",
            "label-rels",
            "area-rels",
            "place-rels",
            "series-rels",
        ],
        // An area's artist, recording, release, … relations can be huge. No
        // `ratings`: accepted, but areas are not ratable.
        Resource::Area => vec![
            "aliases",
            "annotation",
            "tags",
            "genres",
            "url-rels",
            "area-rels",
        ],
        // An event's relations are few.
        Resource::Event => [
            &["aliases", "annotation", "tags", "genres", "ratings"],
            ALL_RELS,
        ]
        .concat(),
        // A place's recording and release relations can be large.
        Resource::Place => vec![
            "aliases",
            "annotation",
            "tags",
            "genres",
            "ratings",
            "url-rels",
            "area-rels",
            "artist-rels",
            "event-rels",
            "place-rels",
            "label-rels",
            "series-rels",
        ],
        // `ratings` would be a 400; recording and artist relations of an
        // instrument are very large.
        Resource::Instrument => vec![
            "aliases",
            "annotation",
            "tags",
            "genres",
            "url-rels",
            "instrument-rels",
        ],
        // `ratings` would be a 400. A series' part-of relations are bounded
        // in practice (not capped).
        Resource::Series => [&["aliases", "annotation", "tags", "genres"], ALL_RELS].concat(),
        // A URL has few relations.
        Resource::Url => ALL_RELS.to_vec(),
        Resource::Genre
        | Resource::DiscId
        | Resource::Isrc
        | Resource::Iswc
        | Resource::Collection
        | Resource::Annotation
        | Resource::CdStub
        | Resource::Tag
        | Resource::Rating => return None,
    };
    Some(IncSet::normalised(tokens))
}

/// True when `request` is a lookup by MBID whose answer can be cut from the
/// superset document of its resource (server-rules §6.1: inc ⊆ superset, no
/// list-changing type/status/various-artists, no user-*). The caller still
/// has to check what only it sees: an `Authorization` header makes the
/// request per-user (collections), so it must go upstream as it is.
pub fn derivable(request: &Request) -> bool {
    let Kind::Lookup { .. } = request.kind else {
        return false;
    };
    // Filters that change a lookup are the only params a lookup of these
    // resources keeps (no-op ones were dropped when parsing). They need
    // `releases` or `release-groups`, which no superset has, but say so.
    if !request.params.is_empty() || request.needs_credentials() {
        return false;
    }
    superset(request.resource).is_some_and(|s| request.inc.is_subset(&s))
}

/// Deletes from `document` (a stored superset answer, in MusicBrainz's JSON
/// shape) what `requested` did not ask for, at every level (server-rules
/// §6.2). Pure deletions: what remains keeps its order. Idempotent.
pub fn project(document: &mut Value, resource: Resource, requested: &IncSet) {
    let plan = Plan::new(resource, requested);
    let Value::Object(top) = document else {
        return;
    };
    // §6.2 5: the annotation exists at the top level only.
    if !requested.contains("annotation") {
        top.remove("annotation");
    }
    // §6.2 11: the capped sub-lists are top-level keys of these lookups. On
    // ISRC, ISWC and disc-id answers the same names are the answer itself.
    if matches!(
        resource,
        Resource::Artist | Resource::Label | Resource::Recording | Resource::ReleaseGroup
    ) {
        for list in ["releases", "recordings", "release-groups", "works"] {
            if !requested.contains(list) {
                top.remove(list);
            }
        }
    }
    plan.object(top, Role::Top);
}

/// Where an object sits, for the rules that depend on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Top,
    Medium,
    Track,
    /// `tracks[].recording` (and the pregap's and data tracks').
    TrackRecording,
    /// A release's `release-group`.
    ReleaseGroup,
    /// An item of a `relations` array.
    Relation,
    /// The `work` target of a relation.
    WorkTarget,
    Other,
}

/// The deletions a request set calls for (§6.2), decided once.
#[derive(Debug)]
struct Plan {
    /// Keys removed wherever they occur.
    drop_everywhere: Vec<&'static str>,
    discs: bool,
    /// `tracks` and friends of media, removed in release documents only
    /// (in a recording's `releases`, `media` brings one track).
    drop_tracks: bool,
    /// Relation target types kept (`release_group` spelling).
    rel_types: BTreeSet<String>,
    recording_level: bool,
    release_group_level: bool,
    work_level: bool,
}

impl Plan {
    fn new(resource: Resource, requested: &IncSet) -> Plan {
        let mut r = requested.clone();
        // A disc id answer always has media and discs (§4.1).
        if resource == Resource::DiscId {
            r = r.union(&IncSet::normalised(["discids"]));
        }
        let has = |t: &str| r.contains(t);
        let mut drop = Vec::new();
        let mut unless = |keep: bool, key: &'static str| {
            if !keep {
                drop.push(key);
            }
        };
        unless(has("artist-credits"), "artist-credit");
        unless(has("aliases"), "aliases");
        unless(has("tags"), "tags");
        unless(has("genres"), "genres");
        unless(has("user-tags"), "user-tags");
        unless(has("user-genres"), "user-genres");
        unless(has("ratings"), "rating");
        unless(has("user-ratings"), "user-rating");
        unless(has("collections") || has("user-collections"), "collections");
        unless(has("labels"), "label-info");
        unless(has("release-groups"), "release-group");
        unless(has("media") || has("discids") || has("recordings"), "media");
        unless(has("isrcs"), "isrcs");
        Plan {
            drop_everywhere: drop,
            discs: has("discids"),
            drop_tracks: matches!(resource, Resource::Release | Resource::DiscId)
                && !has("recordings"),
            rel_types: r.rel_types().map(str::to_owned).collect(),
            recording_level: has("recording-level-rels"),
            release_group_level: has("release-group-level-rels"),
            work_level: has("work-level-rels"),
        }
    }

    fn object(&self, map: &mut Map<String, Value>, role: Role) {
        for key in &self.drop_everywhere {
            map.remove(*key);
        }
        if role == Role::Medium {
            if !self.discs {
                map.remove("discs");
            }
            if self.drop_tracks {
                for key in ["tracks", "track-offset", "pregap", "data-tracks"] {
                    map.remove(key);
                }
            }
        }
        self.relations(map, role);
        for (key, child) in map.iter_mut() {
            let child_role = match (key.as_str(), role) {
                // Maps keyed by attribute names, which could be anything.
                ("attribute-values" | "attribute-ids" | "attribute-credits", _) => continue,
                ("media", _) => Role::Medium,
                ("tracks" | "data-tracks" | "pregap", Role::Medium) => Role::Track,
                ("recording", Role::Track) => Role::TrackRecording,
                ("release-group", _) => Role::ReleaseGroup,
                ("relations", _) => Role::Relation,
                ("work", Role::Relation) => Role::WorkTarget,
                _ => Role::Other,
            };
            self.value(child, child_role);
        }
    }

    fn value(&self, value: &mut Value, role: Role) {
        match value {
            Value::Object(map) => self.object(map, role),
            Value::Array(items) => {
                for item in items {
                    self.value(item, role);
                }
            }
            _ => {}
        }
    }

    /// §6.2 12: no `*-rels` at all removes every `relations`; a level switch
    /// that is off removes its level's `relations`; every other `relations`
    /// keeps the requested target types (an empty array stays).
    fn relations(&self, map: &mut Map<String, Value>, role: Role) {
        let level_off = match role {
            Role::TrackRecording => !self.recording_level,
            Role::ReleaseGroup => !self.release_group_level,
            Role::WorkTarget => !self.work_level,
            _ => false,
        };
        if self.rel_types.is_empty() || level_off {
            map.remove("relations");
            return;
        }
        if let Some(Value::Array(items)) = map.get_mut("relations") {
            // An item without a `target-type` (none in lookup answers) is not
            // of a requested type either.
            items.retain(|item| {
                item.get("target-type")
                    .and_then(Value::as_str)
                    .is_some_and(|t| self.rel_types.contains(t))
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_superset_is_a_valid_request() {
        for r in Resource::ALL {
            let Some(s) = superset(r) else { continue };
            let path = match r {
                Resource::Url => "url/4347ffe2-82ec-4059-9520-6a1a3f73a304".to_owned(),
                _ => format!("{r}/4347ffe2-82ec-4059-9520-6a1a3f73a304"),
            };
            let req = Request::parse(&path, Some(&format!("inc={}", s.as_query())), None)
                .unwrap_or_else(|e| panic!("{r}: {e}"));
            assert_eq!(req.inc, s, "{r}");
            assert!(derivable(&req), "{r}");
        }
    }

    #[test]
    fn relations_follow_levels() {
        let mut doc = json!({
            "relations": [
                {"target-type": "artist", "artist": {"id": "a"}},
                {"target-type": "work", "work": {"relations": [{"target-type": "artist"}]}},
                {"target-type": "url", "url": {"id": "u"}}
            ],
            "media": [{"tracks": [{"recording": {"relations": []}}], "discs": []}],
            "release-group": {"relations": []}
        });
        let r = IncSet::from_canonical("artist-rels+recordings+work-rels+release-groups");
        project(&mut doc, Resource::Release, &r);
        assert_eq!(
            doc,
            json!({
                "relations": [
                    {"target-type": "artist", "artist": {"id": "a"}},
                    {"target-type": "work", "work": {}}
                ],
                "media": [{"tracks": [{"recording": {}}]}],
                "release-group": {}
            })
        );
    }
}
