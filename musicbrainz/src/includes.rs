//! Which `inc=` each entity type is fetched with: one request brings an
//! entity's nested data (a release comes with its media, tracks,
//! recordings, credits, labels and release group).

use musicmeta_shared::mbid::EntityType;

/// The `inc=` of a lookup of `entity_type`, `+`-separated as MusicBrainz
/// documents it.
pub fn lookup(entity_type: EntityType) -> &'static str {
    match entity_type {
        EntityType::Artist => "aliases+tags+genres+url-rels",
        EntityType::ReleaseGroup => "artist-credits+releases+aliases+tags+genres+url-rels",
        EntityType::Release => {
            "artist-credits+labels+recordings+release-groups+media+isrcs+aliases+tags+genres+url-rels"
        }
        EntityType::Recording => "artist-credits+isrcs+aliases+tags+genres+url-rels",
        EntityType::Label => "aliases+tags+genres+url-rels",
    }
}

/// The `inc=` of a browse page: the items' artist credits.
pub const BROWSE: &str = "artist-credits";
