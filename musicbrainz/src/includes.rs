//! Which `inc=` each entity type is fetched with: the superset of its
//! resource (`ws2::superset`), so that one request answers every lookup a
//! client makes of it, by projection (docs/ws2/server-rules.md §6), and
//! brings the entity's nested data along (a release comes with its media,
//! tracks, recordings, credits, labels, release group and relations).

use musicmeta_shared::mbid::EntityType;

use crate::ws2::{self, Resource};

/// The `inc=` of a lookup of `entity_type`, `+`-separated and sorted.
pub fn lookup(entity_type: EntityType) -> String {
    Resource::from_segment(entity_type.as_str())
        .and_then(ws2::superset)
        .map(|inc| inc.as_query())
        .unwrap_or_default()
}

/// The `inc=` of a browse page: the items' artist credits.
pub const BROWSE: &str = "artist-credits";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entity_type_has_a_superset() {
        for entity_type in EntityType::ALL {
            let inc = lookup(entity_type);
            assert!(inc.contains("aliases"), "{entity_type}: {inc}");
        }
        assert!(lookup(EntityType::Release).contains("recording-level-rels"));
    }
}
