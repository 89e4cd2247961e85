//! The recorded MusicBrainz responses in `tests/fixtures/musicbrainz/`
//! (provenance in its `MANIFEST.tsv`).

use std::path::PathBuf;

use musicmeta_shared::mbid::EntityType;

/// Labels recorded as plain lookups (the stand-in serves them), for tests
/// that fill and read several entities of one type.
pub const RECORDED_LABELS: [&str; 7] = [
    "015a28ab-1eb8-45a0-b2c6-601e410548af",
    "156fa9e1-1385-41c5-9403-54effeeab69c",
    "225e2add-bfe5-41c8-a0ac-29c102723efb",
    "2757a11f-0dbd-4f0c-97f6-f62532972898",
    "2b4025d3-8046-489e-a1eb-5adee4131e8e",
    "30235128-d661-4233-879e-7129edcee178",
    "46f0f4cd-8aab-4b33-b698-f459faf64190",
];

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

/// A recorded answer and the ws/2 request that gets it: `path` after
/// `/ws/2/`, `query` without `fmt` (empty for none), `file` under [`dir`].
#[derive(Debug, Clone)]
pub struct RecordedAnswer {
    pub path: String,
    pub query: String,
    pub file: String,
}

impl RecordedAnswer {
    /// `path?query&fmt=<fmt>`, or without `fmt` when `None`.
    pub fn request(&self, fmt: Option<&str>) -> String {
        let mut query = self.query.clone();
        if let Some(fmt) = fmt {
            if !query.is_empty() {
                query.push('&');
            }
            query.push_str("fmt=");
            query.push_str(fmt);
        }
        match query.is_empty() {
            true => self.path.clone(),
            false => format!("{}?{query}", self.path),
        }
    }
}

/// The recorded lookups of an entity whose inc is known (MANIFEST
/// `known:`), primary captures answered 200: the request each answers.
pub fn recorded_lookups() -> Vec<RecordedAnswer> {
    let manifest = String::from_utf8_lossy(&read("MANIFEST.tsv")).into_owned();
    manifest
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            let (path, kind, id, inc, notes) = (f[0], f[1], f[2], f[3], f.get(5)?);
            let inc = match inc.strip_prefix("known: ")? {
                "inc=(none)" | "no inc" => String::new(),
                other => other.strip_prefix("inc=")?.to_owned(),
            };
            let primary = !path.contains(".alt") && notes.contains("HTTP 200");
            let folder = path.split('/').next()?;
            (primary && folder == kind && !matches!(kind, "collection" | "edge" | "fragments"))
                .then(|| RecordedAnswer {
                    path: format!("{kind}/{id}"),
                    query: if inc.is_empty() {
                        inc
                    } else {
                        format!("inc={inc}")
                    },
                    file: path.to_owned(),
                })
        })
        .collect()
}

/// Every other recorded answer the cache serves as MusicBrainz gave it:
/// browses, searches, disc IDs, ISRCs, ISWCs (entity lookups are
/// [`recorded_lookups`]: an alternate capture of one is not what a
/// superset fetch returns; collections need a user; errors are tested with
/// their statuses elsewhere; a search recorded with `inc=` is another
/// day's capture of one already here, as MusicBrainz and the cache's key
/// ignore `inc` on a search).
pub fn recorded_documents() -> Vec<RecordedAnswer> {
    let mut out: Vec<RecordedAnswer> = recorded_requests(&dir())
        .into_iter()
        .filter_map(|(key, file)| {
            let (path, query) = key.split_once('?').unwrap_or((&key, ""));
            let path = path.trim_start_matches("/ws/2/");
            let lookup_of_entity = path.contains('/')
                && !["discid", "isrc", "iswc"]
                    .iter()
                    .any(|p| path.starts_with(p));
            let skip = lookup_of_entity
                || file.starts_with("errors/")
                || file.starts_with("collection")
                || path.starts_with("collection")
                || query.contains("collection=")
                || (query.contains("query=") && query.contains("inc="));
            (!skip).then(|| RecordedAnswer {
                path: path.to_owned(),
                query: query.to_owned(),
                file,
            })
        })
        .collect();
    out.sort_by(|a, b| a.file.cmp(&b.file));
    out
}
