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

/// Every recorded response whose request the MANIFEST gives in full, by
/// that request's [`request_key`]: searches, browses, disc IDs, URL lookups
/// by resource, lookups with their inc. Requests recorded only in part
/// ("<not recorded>") are left out.
pub fn recorded_requests(dir: &std::path::Path) -> std::collections::HashMap<String, String> {
    let manifest = std::fs::read_to_string(dir.join("MANIFEST.tsv")).unwrap_or_default();
    let mut out = std::collections::HashMap::new();
    for line in manifest.lines().skip(1) {
        let fields: Vec<&str> = line.split('\t').collect();
        let (Some(path), Some(notes)) = (fields.first(), fields.get(5)) else {
            continue;
        };
        let Some(start) = notes.find("request: /ws/2/") else {
            continue;
        };
        let request = &notes[start + "request: ".len()..];
        let end = [
            request.find("; HTTP"),
            request.find(" ("),
            request.find("; "),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(request.len());
        let request = &request[..end];
        if request.contains('<') {
            continue;
        }
        let (path_part, query) = request.split_once('?').unwrap_or((request, ""));
        let key = request_key(path_part, query);
        // The primary capture answers; an alternate only where it is alone.
        if path.contains(".alt") {
            out.entry(key).or_insert_with(|| (*path).to_owned());
        } else {
            out.insert(key, (*path).to_owned());
        }
    }
    out
}

/// A request as the stand-in MusicBrainz matches it: the decoded path, and
/// the decoded query without `fmt`, without parameters at their default
/// (`limit=25`, `offset=0`, `dismax=false`), sorted, with the inc list
/// sorted — so a recorded request and the worker's request for the same
/// answer meet, whatever the order and encoding either used.
pub fn request_key(path: &str, query: &str) -> String {
    let path = url::form_urlencoded::parse(format!("p={path}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let path = path.trim_end_matches('/');
    let mut pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .filter(|(k, v)| {
            !matches!(
                (k.as_ref(), v.as_ref()),
                ("fmt", _) | ("limit", "25") | ("offset", "0") | ("dismax", "false")
            )
        })
        .map(|(k, v)| {
            if k == "inc" {
                let mut incs: Vec<&str> = v.split([' ', '+']).filter(|i| !i.is_empty()).collect();
                incs.sort_unstable();
                (k.into_owned(), incs.join("+"))
            } else {
                (k.into_owned(), v.into_owned())
            }
        })
        .filter(|(k, v)| !(k == "inc" && v.is_empty()))
        .collect();
    pairs.sort();
    let query: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{path}?{}", query.join("&"))
}
