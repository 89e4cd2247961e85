//! The ws/2 resources: the first path segment after `/ws/2/`, and what each
//! one is called in paths, list keys and `musicmeta_shared`'s entity types.
//!
//! Besides the seventeen resources the facade serves, four more exist in
//! MusicBrainz (`annotation`, `cdstub`, `tag`, `rating`): they are listed so
//! that a request for them is told apart from an unknown path, which
//! MusicBrainz answers with 404.

use musicmeta_shared::mbid::EntityType;

/// A ws/2 resource, named by its path segment (`release-group`, `discid`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Resource {
    Area,
    Artist,
    Event,
    Genre,
    Instrument,
    Label,
    Place,
    Recording,
    Release,
    ReleaseGroup,
    Series,
    Url,
    Work,
    DiscId,
    Isrc,
    Iswc,
    Collection,
    /// Search only (`/ws/2/annotation?query=`); annotations have no lookup.
    Annotation,
    /// Search only (`/ws/2/cdstub?query=`); stubs are found through `discid`.
    CdStub,
    /// Tag search, or one user's tags on an entity (`?id=&entity=`, authenticated).
    Tag,
    /// One user's rating of an entity (`?id=&entity=`, authenticated).
    Rating,
}

impl Resource {
    /// Every resource, in the order of the enum.
    pub const ALL: [Resource; 21] = [
        Resource::Area,
        Resource::Artist,
        Resource::Event,
        Resource::Genre,
        Resource::Instrument,
        Resource::Label,
        Resource::Place,
        Resource::Recording,
        Resource::Release,
        Resource::ReleaseGroup,
        Resource::Series,
        Resource::Url,
        Resource::Work,
        Resource::DiscId,
        Resource::Isrc,
        Resource::Iswc,
        Resource::Collection,
        Resource::Annotation,
        Resource::CdStub,
        Resource::Tag,
        Resource::Rating,
    ];

    /// The path segment, as in `/ws/2/<segment>/…`.
    pub fn as_str(self) -> &'static str {
        match self {
            Resource::Area => "area",
            Resource::Artist => "artist",
            Resource::Event => "event",
            Resource::Genre => "genre",
            Resource::Instrument => "instrument",
            Resource::Label => "label",
            Resource::Place => "place",
            Resource::Recording => "recording",
            Resource::Release => "release",
            Resource::ReleaseGroup => "release-group",
            Resource::Series => "series",
            Resource::Url => "url",
            Resource::Work => "work",
            Resource::DiscId => "discid",
            Resource::Isrc => "isrc",
            Resource::Iswc => "iswc",
            Resource::Collection => "collection",
            Resource::Annotation => "annotation",
            Resource::CdStub => "cdstub",
            Resource::Tag => "tag",
            Resource::Rating => "rating",
        }
    }

    /// The resource of a path segment. Case-sensitive, as MusicBrainz's
    /// routes are: `Release` is an unknown path.
    pub fn from_segment(s: &str) -> Option<Self> {
        Resource::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// The entity type musicmeta caches for this resource, for the five it
    /// stores as typed entities.
    pub fn entity_type(self) -> Option<EntityType> {
        match self {
            Resource::Artist => Some(EntityType::Artist),
            Resource::Label => Some(EntityType::Label),
            Resource::Recording => Some(EntityType::Recording),
            Resource::Release => Some(EntityType::Release),
            Resource::ReleaseGroup => Some(EntityType::ReleaseGroup),
            _ => None,
        }
    }

    /// The key of the list in a browse or search answer (`releases`,
    /// `release-groups`, `series`). For `discid`, `isrc` and `iswc`, which are
    /// neither browsed nor searched, the list their answers carry:
    /// `releases` (TOC lookup), `recordings` and `works`.
    pub fn list_key(self) -> &'static str {
        match self {
            Resource::Area => "areas",
            Resource::Artist => "artists",
            Resource::Event => "events",
            Resource::Genre => "genres",
            Resource::Instrument => "instruments",
            Resource::Label => "labels",
            Resource::Place => "places",
            Resource::Recording => "recordings",
            Resource::Release => "releases",
            Resource::ReleaseGroup => "release-groups",
            Resource::Series => "series",
            Resource::Url => "urls",
            Resource::Work => "works",
            Resource::DiscId => "releases",
            Resource::Isrc => "recordings",
            Resource::Iswc => "works",
            Resource::Collection => "collections",
            Resource::Annotation => "annotations",
            Resource::CdStub => "cdstubs",
            Resource::Tag => "tags",
            Resource::Rating => "ratings",
        }
    }

    /// The resource whose path segment is the `*-rels` / `target-type` name
    /// `t` (`release-group` or `release_group`), for the 13 relatable types.
    pub(crate) fn from_relatable(t: &str) -> Option<Self> {
        let r = Resource::from_segment(&t.replace('_', "-"))?;
        r.is_relatable().then_some(r)
    }

    /// Whether relationships can point at this resource (MusicBrainz's
    /// `entities.json` `mbid.relatable`): the 13 `<type>-rels` of `inc=`.
    pub fn is_relatable(self) -> bool {
        matches!(
            self,
            Resource::Area
                | Resource::Artist
                | Resource::Event
                | Resource::Genre
                | Resource::Instrument
                | Resource::Label
                | Resource::Place
                | Resource::Recording
                | Resource::Release
                | Resource::ReleaseGroup
                | Resource::Series
                | Resource::Url
                | Resource::Work
        )
    }

    /// The resource whose collection items `/ws/2/collection/<id>/<plural>`
    /// lists, by that plural (`releases`, `release-groups`, `series`).
    pub(crate) fn from_collection_plural(plural: &str) -> Option<Self> {
        Resource::ALL
            .into_iter()
            .filter(|r| r.can_be_collected())
            .find(|r| r.list_key() == plural)
    }

    /// Whether collections can hold this resource (`entities.json` `collections`).
    pub(crate) fn can_be_collected(self) -> bool {
        self.is_relatable() && self != Resource::Url
    }
}

impl std::fmt::Display for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_round_trip() {
        for r in Resource::ALL {
            assert_eq!(Resource::from_segment(r.as_str()), Some(r));
        }
        assert_eq!(Resource::from_segment("Release"), None);
        assert_eq!(Resource::from_segment("release_group"), None);
        assert_eq!(Resource::from_segment(""), None);
    }

    #[test]
    fn typed_resources_match_entity_types() {
        for t in EntityType::ALL {
            let r = Resource::from_segment(t.as_str()).unwrap();
            assert_eq!(r.entity_type(), Some(t));
        }
        assert_eq!(Resource::Work.entity_type(), None);
    }

    #[test]
    fn relatable_and_collectable() {
        assert_eq!(
            Resource::ALL.iter().filter(|r| r.is_relatable()).count(),
            13
        );
        assert_eq!(
            Resource::from_relatable("release_group"),
            Some(Resource::ReleaseGroup)
        );
        assert_eq!(Resource::from_relatable("discid"), None);
        assert_eq!(
            Resource::from_collection_plural("series"),
            Some(Resource::Series)
        );
        assert_eq!(Resource::from_collection_plural("urls"), None);
        assert_eq!(Resource::ReleaseGroup.list_key(), "release-groups");
    }
}
