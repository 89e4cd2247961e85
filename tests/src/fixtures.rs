//! The recorded MusicBrainz responses in `tests/fixtures/musicbrainz/`
//! (provenance in its `MANIFEST.tsv`).

use std::path::PathBuf;

use musicmeta_shared::mbid::EntityType;

pub fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/musicbrainz")
}

/// The primary recorded lookup of `mbid`, if there is one.
pub fn lookup_path(entity_type: EntityType, mbid: &str) -> PathBuf {
    dir()
        .join(entity_type.as_str())
        .join(format!("{mbid}.json"))
}

pub fn read(relative: &str) -> Vec<u8> {
    let path = dir().join(relative);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading fixture {}: {e}", path.display()))
}

/// The recorded lookup as JSON, to compare answers against.
pub fn lookup_json(entity_type: EntityType, mbid: &str) -> serde_json::Value {
    let bytes = read(&format!("{}/{mbid}.json", entity_type.as_str()));
    serde_json::from_slice(&bytes).expect("fixture is JSON")
}
