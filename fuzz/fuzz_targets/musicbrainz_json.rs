//! Fuzz target for the MusicBrainz ws/2 JSON parser: any response body, read
//! as a lookup of each entity type and as a browse page of each type, must
//! give an entity or an error, never a panic, and what it gives must be
//! consistent with what was asked for.
#![no_main]

use libfuzzer_sys::fuzz_target;
use musicmeta_shared::mbid::EntityType;
use musicmeta_musicbrainz::model::{parse_browse, parse_entity};

fuzz_target!(|body: &[u8]| {
    for t in EntityType::ALL {
        if let Ok(entity) = parse_entity(t, body) {
            assert_eq!(entity.entity_type(), t, "lookup parsed as another type");
        }
        if let Ok(page) = parse_browse(t, body) {
            // Items lacking a valid id are dropped but still counted.
            assert!(page.items.len() as u64 <= u64::from(page.received));
            assert!(page.items.iter().all(|e| e.entity_type() == t));
        }
    }
});
