//! The recorded MusicBrainz answers (`tests/fixtures/musicbrainz`, with
//! their `MANIFEST.tsv`), as the ws/2 grammar and XML tests read them.

// Each test binary uses what it needs of this.
#![allow(dead_code)]

use std::path::PathBuf;

use serde_json::Value;

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/musicbrainz")
}

/// A recorded answer, parsed.
pub fn load(path: &str) -> Value {
    let text = std::fs::read_to_string(fixtures().join(path)).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// One MANIFEST row: the file, what it answers, its inc and its notes (the
/// request it was recorded with, among them).
pub struct Row {
    pub path: String,
    pub entity_type: String,
    pub inc: String,
    pub notes: String,
}

/// The lookup a row records, when its inc is known: `<resource>/<id>` and
/// its query (`inc=…`, or empty). `None` for other rows.
pub fn recorded_lookup(row: &Row) -> Option<(String, String)> {
    let (folder, file) = row.path.split_once('/')?;
    let inc = row.inc.strip_prefix("known: inc=")?;
    let id = file.split(".json").next()?;
    let id = id
        .strip_suffix(".alt1")
        .or(id.strip_suffix(".alt2"))
        .unwrap_or(id);
    let query = match inc {
        "(none)" => String::new(),
        inc => format!("inc={inc}"),
    };
    Some((format!("{folder}/{id}"), query))
}

pub fn manifest() -> Vec<Row> {
    let text = std::fs::read_to_string(fixtures().join("MANIFEST.tsv")).unwrap();
    text.lines()
        .skip(1)
        .map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            Row {
                path: cols[0].to_owned(),
                entity_type: cols[1].to_owned(),
                inc: cols[3].to_owned(),
                notes: cols[5].to_owned(),
            }
        })
        .collect()
}
