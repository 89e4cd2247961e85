//! Works, and the answers MusicBrainz gives to lookups by identifier: an
//! ISRC lists recordings, an ISWC works, a disc ID (or a TOC) releases, a
//! barcode search releases, and a URL the relationships that link it.
//! query-api reads them from stored ws/2 documents for the typed API.

use serde::Deserialize;

use musicmeta_shared::domain::{Entity, Recording, Relation, Release, Work, WorkAttribute};

use super::relations::{self, MbRelation};
use super::{
    IntoEntity, MbAnnotations, MbErrorBody, MbRecording, MbRelease, ParseError, known,
    null_as_default, null_list, top_id,
};

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "kebab-case")]
struct MbWork {
    id: Option<String>,
    #[serde(deserialize_with = "null_as_default")]
    title: String,
    #[serde(deserialize_with = "null_as_default")]
    disambiguation: String,
    #[serde(rename = "type")]
    work_type: Option<String>,
    /// The single language of captures before `languages` existed.
    language: Option<String>,
    #[serde(deserialize_with = "null_list")]
    languages: Vec<String>,
    #[serde(deserialize_with = "null_list")]
    iswcs: Vec<String>,
    #[serde(deserialize_with = "null_list")]
    attributes: Vec<MbWorkAttribute>,
    #[serde(flatten)]
    annotations: MbAnnotations,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct MbWorkAttribute {
    #[serde(rename = "type", deserialize_with = "null_as_default")]
    attribute_type: String,
    #[serde(deserialize_with = "null_as_default")]
    value: String,
}

impl MbWork {
    fn into_work(self) -> Result<Work, ParseError> {
        let mut languages = self.languages;
        if languages.is_empty() {
            languages.extend(known(self.language));
        }
        Ok(Work {
            mbid: top_id(self.id.as_deref())?,
            title: self.title,
            disambiguation: self.disambiguation,
            work_type: known(self.work_type),
            languages,
            iswcs: self.iswcs,
            attributes: self
                .attributes
                .into_iter()
                .filter(|a| !a.attribute_type.is_empty())
                .map(|a| WorkAttribute {
                    attribute_type: a.attribute_type,
                    value: a.value,
                })
                .collect(),
            annotations: self.annotations.into_domain(),
        })
    }
}

/// An error body names MusicBrainz's message; anything else without an id
/// stays `MissingId`.
fn named(err: ParseError, body: &[u8]) -> ParseError {
    match (err, serde_json::from_slice::<MbErrorBody>(body)) {
        (ParseError::MissingId, Ok(MbErrorBody { error: Some(msg) })) => ParseError::Upstream(msg),
        (err, _) => err,
    }
}

/// A work lookup (`/ws/2/work/<mbid>`).
pub fn parse_work(body: &[u8]) -> Result<Work, ParseError> {
    serde_json::from_slice::<MbWork>(body)?
        .into_work()
        .map_err(|e| named(e, body))
}

/// The list under `key`, or the error MusicBrainz answered with. Items
/// without a valid id are dropped.
fn list<T, U>(
    body: &[u8],
    key: &str,
    item: impl Fn(T) -> Result<U, ParseError>,
) -> Result<Vec<U>, ParseError>
where
    T: serde::de::DeserializeOwned,
{
    let value: serde_json::Value = serde_json::from_slice(body)?;
    let Some(items) = value.get(key) else {
        return Err(
            match value.get("error").and_then(serde_json::Value::as_str) {
                Some(msg) => ParseError::Upstream(msg.to_owned()),
                None => ParseError::MissingId,
            },
        );
    };
    let items = match items {
        serde_json::Value::Array(items) => items.clone(),
        _ => Vec::new(),
    };
    Ok(items
        .into_iter()
        .filter_map(|v| serde_json::from_value::<T>(v).ok())
        .filter_map(|t| item(t).ok())
        .collect())
}

fn recording(r: MbRecording) -> Result<Recording, ParseError> {
    match r.into_entity()? {
        Entity::Recording(r) => Ok(r),
        _ => Err(ParseError::MissingId),
    }
}

fn release(r: MbRelease) -> Result<Release, ParseError> {
    match r.into_entity()? {
        Entity::Release(r) => Ok(*r),
        _ => Err(ParseError::MissingId),
    }
}

/// `/ws/2/isrc/<isrc>`: the recordings that carry the ISRC.
pub fn parse_isrc(body: &[u8]) -> Result<Vec<Recording>, ParseError> {
    list(body, "recordings", recording)
}

/// `/ws/2/iswc/<iswc>`: the works that carry the ISWC.
pub fn parse_iswc(body: &[u8]) -> Result<Vec<Work>, ParseError> {
    parse_work_list(body)
}

/// Any list of works (an ISWC lookup, a browse of works).
pub fn parse_work_list(body: &[u8]) -> Result<Vec<Work>, ParseError> {
    list(body, "works", MbWork::into_work)
}

/// `/ws/2/discid/<id>` (and its TOC fuzzy match): the releases with a
/// medium of that disc ID or TOC.
pub fn parse_discid(body: &[u8]) -> Result<Vec<Release>, ParseError> {
    parse_release_list(body)
}

/// Any list of releases: a disc ID answer, a search, a browse page.
pub fn parse_release_list(body: &[u8]) -> Result<Vec<Release>, ParseError> {
    list(body, "releases", release)
}

/// One page of a browse: MusicBrainz's count of the whole list, where the
/// page starts, and its items (any without a valid id dropped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPage<T> {
    pub total: u32,
    pub offset: u32,
    pub items: Vec<T>,
}

fn page<T>(body: &[u8], kind: &str, items: Vec<T>) -> Result<ListPage<T>, ParseError> {
    let value: serde_json::Value = serde_json::from_slice(body)?;
    let count = |key: String| {
        value
            .get(&key)
            .and_then(serde_json::Value::as_u64)
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
    };
    Ok(ListPage {
        total: count(format!("{kind}-count")).unwrap_or(items.len() as u32),
        offset: count(format!("{kind}-offset")).unwrap_or(0),
        items,
    })
}

/// A browse page of works (`/ws/2/work?artist=…`).
pub fn parse_work_page(body: &[u8]) -> Result<ListPage<Work>, ParseError> {
    page(body, "work", parse_work_list(body)?)
}

/// A browse page of recordings (`/ws/2/recording?work=…`).
pub fn parse_recording_page(body: &[u8]) -> Result<ListPage<Recording>, ParseError> {
    page(body, "recording", list(body, "recordings", recording)?)
}

/// A URL and the relationships that link it to entities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlLinks {
    pub mbid: musicmeta_shared::mbid::Mbid,
    pub resource: String,
    pub relations: Vec<Relation>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct MbUrlEntity {
    id: Option<String>,
    #[serde(deserialize_with = "null_as_default")]
    resource: String,
    #[serde(deserialize_with = "null_list")]
    relations: Vec<MbRelation>,
}

/// `/ws/2/url?resource=<url>` (or `/ws/2/url/<mbid>`) with relationships.
pub fn parse_url(body: &[u8]) -> Result<UrlLinks, ParseError> {
    let url = serde_json::from_slice::<MbUrlEntity>(body)?;
    Ok(UrlLinks {
        mbid: top_id(url.id.as_deref()).map_err(|e| named(e, body))?,
        resource: url.resource,
        relations: relations::relations(url.relations),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::super::relations::tests::assert_relations_match;
    use super::super::tests::{fixture, json_files};
    use super::*;

    fn strings(v: &Value) -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    fn assert_work_matches(w: &Work, j: &Value, at: &str) {
        assert_eq!(w.mbid.to_string(), j["id"].as_str().unwrap(), "{at}");
        assert_eq!(w.title, j["title"].as_str().unwrap_or_default(), "{at}");
        assert_eq!(w.work_type.as_deref(), j["type"].as_str(), "{at}");
        assert_eq!(w.iswcs, strings(&j["iswcs"]), "{at}");
        let languages = strings(&j["languages"]);
        if !languages.is_empty() {
            assert_eq!(w.languages, languages, "{at}");
        }
        let attributes = j["attributes"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        assert_eq!(w.attributes.len(), attributes.len(), "{at}");
        for (a, s) in w.attributes.iter().zip(attributes) {
            assert_eq!(a.attribute_type, s["type"].as_str().unwrap(), "{at}");
            assert_eq!(a.value, s["value"].as_str().unwrap(), "{at}");
        }
        assert_relations_match(&j["relations"], &w.annotations.relations, at);
    }

    #[test]
    fn every_recorded_work_comes_back_equal() {
        for path in json_files("work") {
            let body = std::fs::read(&path).unwrap();
            let json: Value = serde_json::from_slice(&body).unwrap();
            let work = parse_work(&body).unwrap();
            assert_work_matches(&work, &json, &path.display().to_string());
        }
    }

    #[test]
    fn identifier_answers_list_what_they_link() {
        let isrc = fixture("isrc/USSUB0200002.json");
        let json: Value = serde_json::from_slice(&isrc).unwrap();
        let recordings = parse_isrc(&isrc).unwrap();
        let sent = json["recordings"].as_array().unwrap();
        assert_eq!(recordings.len(), sent.len());
        for (r, s) in recordings.iter().zip(sent) {
            assert_eq!(r.mbid.to_string(), s["id"].as_str().unwrap());
            assert_eq!(r.title, s["title"].as_str().unwrap());
        }

        let iswc = fixture("iswc/T-900.755.682-3.json");
        let json: Value = serde_json::from_slice(&iswc).unwrap();
        let works = parse_iswc(&iswc).unwrap();
        assert_eq!(works.len(), json["works"].as_array().unwrap().len());
        for (w, s) in works.iter().zip(json["works"].as_array().unwrap()) {
            assert_work_matches(w, s, "iswc");
        }

        for path in json_files("discid") {
            let body = std::fs::read(&path).unwrap();
            let json: Value = serde_json::from_slice(&body).unwrap();
            let releases = parse_discid(&body).unwrap();
            let sent = json["releases"].as_array().unwrap();
            assert_eq!(releases.len(), sent.len(), "{}", path.display());
            for (r, s) in releases.iter().zip(sent) {
                assert_eq!(r.mbid.to_string(), s["id"].as_str().unwrap());
            }
        }

        for path in json_files("url") {
            let body = std::fs::read(&path).unwrap();
            let json: Value = serde_json::from_slice(&body).unwrap();
            let url = parse_url(&body).unwrap();
            assert_eq!(url.resource, json["resource"].as_str().unwrap());
            assert_relations_match(&json["relations"], &url.relations, "url");
        }
    }

    #[test]
    fn error_bodies_name_musicbrainz_message() {
        let body = br#"{"error":"Not Found","help":"..."}"#;
        assert!(matches!(parse_work(body), Err(ParseError::Upstream(m)) if m == "Not Found"));
        assert!(matches!(parse_isrc(body), Err(ParseError::Upstream(_))));
        assert!(matches!(parse_url(b"{}"), Err(ParseError::MissingId)));
        assert!(parse_release_list(b"[").is_err());
    }
}
