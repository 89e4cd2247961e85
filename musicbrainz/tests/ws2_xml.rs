//! The XML face of ws/2 answers (`ws2::xml`) against the official MMD 2.0
//! schema and against what musicbrainz-server's XMLSerializer.pm writes.
//! What musicbrainzngs, the client that reads it, makes of the facade's
//! XML is tested through HTTP in tests/tests/it/clients.rs.
//!
//! Needs `xmllint` (Debian: libxml2-utils); without it the tests fail with
//! a message saying so. `WS2_XML_DUMP=<folder>` keeps the XML written
//! for every fixture there, to read or validate by hand.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

mod corpus;

use corpus::{Row, load, manifest, recorded_lookup};
use musicmeta_musicbrainz::ws2::{self, Kind, Request, Resource, project, superset};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------
// The corpus

fn schema() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/ws2/mmd/musicbrainz_mmd-2.0.rng")
}

fn parse(path: &str, query: &str) -> Request {
    let q = (!query.is_empty()).then_some(query);
    Request::parse(path, q, None).unwrap_or_else(|e| panic!("{path}?{query}: {e}"))
}

/// The request a fixture answers, in XML: lookups (and disc ID, ISRC,
/// ISWC answers) with their recorded `inc`, browses as recorded, searches
/// of their resource (the query text changes nothing here). `None` for
/// errors, fragments, edited files and lookups whose `inc` is only inferred.
fn xml_request(row: &Row) -> Option<Request> {
    let (folder, _) = row.path.split_once('/')?;
    match folder {
        "search" => {
            let resource = row.entity_type.strip_prefix("search:")?;
            Some(parse(resource, "query=x&fmt=xml"))
        }
        "browse" => {
            let recorded = row
                .notes
                .split("request: /ws/2/")
                .nth(1)?
                .split(';')
                .next()?;
            let (path, query) = recorded.split_once('?')?;
            Some(parse(path, &query.replace("fmt=json", "fmt=xml")))
        }
        _ => {
            // Only a resource's folder holds its lookups.
            Resource::from_segment(folder)?;
            let (path, query) = recorded_lookup(row)?;
            let query = match query.as_str() {
                "" => "fmt=xml".to_owned(),
                inc => format!("{inc}&fmt=xml"),
            };
            Some(parse(&path, &query))
        }
    }
}

/// What the facade does: project a lookup that has a superset onto its
/// `inc`, then write the XML.
fn render(request: &Request, mut doc: Value) -> String {
    if matches!(request.kind, Kind::Lookup { .. }) && superset(request.resource).is_some() {
        project(&mut doc, request.resource, &request.inc);
    }
    ws2::xml::render(request, &doc).unwrap_or_else(|e| panic!("{}: {e}", request.key()))
}

// ---------------------------------------------------------------------------
// xmllint

/// A folder of its own under the system temp folder, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir =
            std::env::temp_dir().join(format!("ws2-xml-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Validates every document against the schema with one `xmllint` run;
/// returns, per document that fails, xmllint's messages about it.
fn invalid_documents(docs: &[(String, String)]) -> Vec<(String, String)> {
    let dir = TempDir::new("rng");
    let mut files = Vec::new();
    for (i, (_, xml)) in docs.iter().enumerate() {
        let file = dir.0.join(format!("{i:04}.xml"));
        std::fs::write(&file, xml).unwrap();
        files.push(file);
    }
    let output = Command::new("xmllint")
        .arg("--noout")
        .arg("--relaxng")
        .arg(schema())
        .args(&files)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run xmllint ({e}): install it (Debian: apt-get install -y libxml2-utils) \
                 to validate the XML answers against the MMD schema"
            )
        });
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("Relax-NG schema") || !stderr.contains("failed to compile"),
        "xmllint could not read the schema:\n{stderr}"
    );
    let mut failures = Vec::new();
    for ((name, _), file) in docs.iter().zip(&files) {
        let f = file.to_string_lossy();
        if !stderr.contains(&format!("{f} validates")) {
            let messages: Vec<&str> = stderr
                .lines()
                .filter(|l| l.starts_with(f.as_ref()))
                .take(8)
                .collect();
            failures.push((name.clone(), messages.join("\n")));
        }
    }
    failures
}

fn assert_valid(docs: &[(String, String)]) {
    let failures = invalid_documents(docs);
    assert!(
        failures.is_empty(),
        "{} of {} XML answers do not validate against the MMD 2.0 schema:\n{}",
        failures.len(),
        docs.len(),
        failures
            .iter()
            .map(|(name, msg)| format!("--- {name}\n{msg}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

// ---------------------------------------------------------------------------
// 1. Every recorded answer, written as XML, validates

/// What the official schema cannot express but MusicBrainz's data and
/// MusicBrainz's own XML carry, which `ws2::xml` writes as MusicBrainz does
/// rather than drop (see its module documentation): removed here, each
/// removal named, so that everything else in the document must validate.
fn strip_inexpressible(xml: &str) -> (String, BTreeSet<&'static str>) {
    use quick_xml::Reader;
    use quick_xml::Writer;
    use quick_xml::events::{BytesStart, Event};

    fn has_attr(e: &BytesStart, name: &str) -> bool {
        e.attributes().flatten().any(|a| a.key.as_ref() == name)
    }
    fn attr(e: &BytesStart, name: &str) -> Option<String> {
        e.attributes()
            .flatten()
            .find(|a| a.key.as_ref() == name)
            .map(|a| a.value.clone().into_owned())
    }
    // The schema's `def_locale`: [a-z]{2}(_[A-Za-z]+)?
    fn schema_locale(l: &str) -> bool {
        let (lang, region) = l.split_once('_').map_or((l, None), |(a, b)| (a, Some(b)));
        lang.len() == 2
            && lang.bytes().all(|b| b.is_ascii_lowercase())
            && region.is_none_or(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_alphabetic()))
    }

    let mut reader = Reader::from_str(xml);
    let mut out = Writer::new(Vec::new());
    let mut reasons = BTreeSet::new();
    loop {
        let event = reader.read_event().unwrap();
        match event {
            Event::Eof => break,
            Event::Start(ref e)
                if matches!(
                    e.name().as_ref(),
                    "attribute-list"
                        | "tag"
                        | "format"
                        | "gender"
                        | "status"
                        | "primary-type"
                        | "secondary-type"
                        | "packaging"
                ) =>
            {
                // The whole element, then keep it or not.
                let name = e.name().as_ref().to_owned();
                let mut subtree = vec![event.clone().into_owned()];
                let mut depth = 1;
                while depth > 0 {
                    let ev = reader.read_event().unwrap().into_owned();
                    match &ev {
                        Event::Start(_) => depth += 1,
                        Event::End(_) => depth -= 1,
                        _ => {}
                    }
                    subtree.push(ev);
                }
                let drop = match name.as_str() {
                    "attribute-list" => subtree
                        .iter()
                        .any(|ev| match ev {
                            Event::Start(a) | Event::Empty(a)
                                if a.name().as_ref() == "attribute" =>
                            {
                                !has_attr(a, "type-id")
                            }
                            _ => false,
                        })
                        .then_some("relation attributes without type ids (captures before 2019)"),
                    "tag" => attr(e, "count")
                        .is_some_and(|c| c.starts_with('-'))
                        .then_some("negative tag vote counts (search answers)"),
                    "format" => (!has_attr(e, "id"))
                        .then_some("a medium format without its id (search answers)"),
                    _ => (!has_attr(e, "id"))
                        .then_some("a gender, status or type without its id (older captures)"),
                };
                match drop {
                    Some(reason) => {
                        reasons.insert(reason);
                    }
                    None => subtree
                        .into_iter()
                        .for_each(|ev| out.write_event(ev).unwrap()),
                }
            }
            Event::Start(ref e) | Event::Empty(ref e)
                if e.name().as_ref() == "alias"
                    && attr(e, "locale").is_some_and(|l| !schema_locale(&l)) =>
            {
                reasons.insert("alias locales the schema's pattern predates (en_150, sms, …)");
                let mut kept = BytesStart::new("alias");
                kept.extend_attributes(
                    e.attributes()
                        .flatten()
                        .filter(|a| a.key.as_ref() != "locale"),
                );
                let ev = if matches!(event, Event::Start(_)) {
                    Event::Start(kept)
                } else {
                    Event::Empty(kept)
                };
                out.write_event(ev).unwrap();
            }
            ev => out.write_event(ev).unwrap(),
        }
    }
    (String::from_utf8(out.into_inner()).unwrap(), reasons)
}

#[test]
fn every_fixture_answer_validates_against_the_schema() {
    let mut docs = Vec::new();
    let mut kinds = BTreeMap::<&str, usize>::new();
    let mut stripped = BTreeMap::<&str, Vec<String>>::new();
    for row in manifest() {
        let Some(request) = xml_request(&row) else {
            continue;
        };
        let kind = match request.kind {
            Kind::Lookup { .. } => "lookup",
            Kind::Browse { .. } => "browse",
            Kind::Search { .. } => "search",
            _ => "other",
        };
        *kinds.entry(kind).or_default() += 1;
        let xml = render(&request, load(&row.path));
        if let Ok(dir) = std::env::var("WS2_XML_DUMP") {
            std::fs::write(
                Path::new(&dir).join(row.path.replace('/', "__") + ".xml"),
                &xml,
            )
            .unwrap();
        }
        let (xml, reasons) = strip_inexpressible(&xml);
        for reason in reasons {
            stripped.entry(reason).or_default().push(row.path.clone());
        }
        docs.push((row.path.clone(), xml));
    }
    assert_valid(&docs);
    // Every known-inc lookup (141, as ws2.rs counts them), browse and search.
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        vec![("browse", 21), ("lookup", 141), ("search", 41)]
    );
    // What had to be removed first, and from how many answers.
    let counts: Vec<(&str, usize)> = stripped.iter().map(|(r, f)| (*r, f.len())).collect();
    assert_eq!(counts, EXPECTED_INEXPRESSIBLE, "{stripped:#?}");
}

/// How many of the 203 answers carry what the schema cannot express: only
/// search answers (as MusicBrainz's search server writes them) and captures
/// older than the ids the schema now requires. Every lookup, browse, disc
/// ID, ISRC and ISWC answer of a current server validates as written.
const EXPECTED_INEXPRESSIBLE: &[(&str, usize)] = &[
    (
        "a gender, status or type without its id (older captures)",
        4,
    ),
    ("a medium format without its id (search answers)", 10),
    (
        "alias locales the schema's pattern predates (en_150, sms, …)",
        3,
    ),
    ("negative tag vote counts (search answers)", 2),
    (
        "relation attributes without type ids (captures before 2019)",
        6,
    ),
];

/// Projections of the rich fixtures onto the `inc` sets clients send, and
/// a few single tokens, validate too: the projection keeps only what XML
/// can write.
#[test]
fn projections_of_rich_releases_validate() {
    let incs = [
        // beets 2.0-2.5 (musicbrainzngs)
        "artists+media+recordings+release-groups+labels+artist-credits+aliases+recording-level-rels\
         +work-rels+work-level-rels+artist-rels+isrcs+url-rels+release-rels+tags",
        // Picard's default
        "aliases+annotation+artist-credits+artist-rels+artists+collections+discids+isrcs+label-rels\
         +labels+media+recording-rels+recordings+release-group-level-rels+release-groups+release-rels\
         +series-rels+url-rels+work-rels",
        "",
        "recordings",
        "discids",
        "artist-credits+recordings+ratings",
        "release-groups+release-group-level-rels+url-rels+artist-rels+genres+tags",
    ];
    let mut docs = Vec::new();
    for fixture in [
        "release/942b9e7b-3a43-4f22-b200-ab69ee302d16.json",
        "release/b1dc9838-adf3-43f2-93f9-802b46e5fe59.alt1.json",
        "release/987f3e2d-22a6-4a4f-b840-c80c26b8b91a.json",
    ] {
        let id = fixture[8..44].to_owned();
        for inc in incs {
            let query = if inc.is_empty() {
                String::new()
            } else {
                format!("inc={inc}")
            };
            let request = parse(&format!("release/{id}"), &query);
            docs.push((
                format!("{fixture} inc={inc}"),
                render(&request, load(fixture)),
            ));
        }
    }
    assert_valid(&docs);
}

// ---------------------------------------------------------------------------
// 2. What XMLSerializer.pm does

const ID: &str = "5b11f4ce-a62d-471e-81fc-a69a8278c7da";
const HEAD: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
                    <metadata xmlns=\"http://musicbrainz.org/ns/mmd-2.0#\">";

fn artist(id: &str, name: &str) -> Value {
    json!({"id": id, "name": name, "sort-name": name, "disambiguation": "", "type": null, "type-id": null})
}

fn credit(id: &str, name: &str) -> Value {
    json!([{"name": name, "joinphrase": "", "artist": artist(id, name)}])
}

const A1: &str = "11111111-1111-4111-8111-111111111111";
const A2: &str = "22222222-2222-4222-8222-222222222222";

/// A release of two tracks: the first as titled and credited as its
/// recording, the second with its own title and credit.
fn two_track_release() -> Value {
    json!({
        "id": ID, "title": "Album", "status": null, "status-id": null, "quality": "normal",
        "packaging": null, "packaging-id": null, "disambiguation": "", "barcode": "",
        "text-representation": {"language": null, "script": null},
        "artist-credit": credit(A1, "Band"),
        "collections": [],
        "media": [{
            "position": 1, "title": "", "format": null, "format-id": null, "track-count": 2, "track-offset": 0,
            "tracks": [
                {"id": "t1", "position": 1, "number": "1", "title": "Same", "length": 1000,
                 "artist-credit": credit(A1, "Band"),
                 "recording": {"id": "r1", "title": "Same", "length": 1000, "disambiguation": "", "video": false,
                               "artist-credit": credit(A1, "Band")}},
                {"id": "t2", "position": 2, "number": "2", "title": "Other (live)", "length": null,
                 "artist-credit": credit(A2, "Guest"),
                 "recording": {"id": "r2", "title": "Other", "length": 2000, "disambiguation": "", "video": false,
                               "artist-credit": credit(A1, "Band")}}
            ]
        }]
    })
}

#[test]
fn a_track_omits_title_and_credit_equal_to_its_recordings() {
    let request = parse(&format!("release/{ID}"), "inc=recordings+artist-credits");
    let xml = render(&request, two_track_release());
    let band = format!(
        "<artist-credit><name-credit><artist id=\"{A1}\"><name>Band</name><sort-name>Band</sort-name>\
         </artist></name-credit></artist-credit>"
    );
    let guest = format!(
        "<artist-credit><name-credit><artist id=\"{A2}\"><name>Guest</name><sort-name>Guest</sort-name>\
         </artist></name-credit></artist-credit>"
    );
    let expected = format!(
        "{HEAD}<release id=\"{ID}\"><title>Album</title><quality>normal</quality>{band}<barcode></barcode>\
         <medium-list count=\"1\"><medium><position>1</position><track-list count=\"2\" offset=\"0\">\
         <track id=\"t1\"><position>1</position><number>1</number><length>1000</length>\
         <recording id=\"r1\"><title>Same</title><length>1000</length>{band}</recording></track>\
         <track id=\"t2\"><position>2</position><number>2</number><title>Other (live)</title>{guest}\
         <recording id=\"r2\"><title>Other</title><length>2000</length>{band}</recording></track>\
         </track-list></medium></medium-list></release></metadata>\n"
    );
    assert_eq!(xml, expected);
    assert_valid(&[("two tracks".to_owned(), xml)]);
}

#[test]
fn the_recorded_releases_leave_out_track_titles_equal_to_the_recordings() {
    // A recorded lookup with recordings: every track whose title equals its
    // recording's has no <title>, every other one has it.
    let fixture = "release/1a8c4ac3-6f47-4570-aedb-f1928a0498ea.json";
    let doc = load(fixture);
    let request = parse(
        "release/1a8c4ac3-6f47-4570-aedb-f1928a0498ea",
        "inc=artist-credits+isrcs+labels+media+recordings+release-groups",
    );
    let xml = render(&request, doc.clone());
    let tracks: Vec<&Value> = doc["media"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| m["tracks"].as_array().unwrap())
        .collect();
    let titled = tracks
        .iter()
        .filter(|t| t["title"] != t["recording"]["title"])
        .count();
    let untitled = tracks.len() - titled;
    assert!(
        untitled > 0,
        "{fixture} has no track titled as its recording"
    );
    // `<track id…><position/><number/>` then either `<title>` or not.
    let track_starts = xml.matches("<track id=").count();
    let with_title = xml
        .split("<track id=")
        .skip(1)
        .filter(|t| {
            let head = &t[..t.find("<recording").unwrap()];
            head.contains("<title>")
        })
        .count();
    assert_eq!((track_starts, with_title), (tracks.len(), titled));
}

#[test]
fn relations_are_grouped_by_target_type_in_alphabetical_order() {
    let doc = json!({
        "id": ID, "name": "X", "sort-name": "X", "disambiguation": "", "type": "Group",
        "type-id": "e431f5f6-b5d2-343d-8b36-72607fffb74b",
        "relations": [
            {"type": "official homepage", "type-id": "fe33d22f-c3b0-4d68-bd53-a856badf2b15",
             "direction": "forward", "target-type": "url", "begin": null, "end": null, "ended": false,
             "attributes": [], "attribute-values": {}, "attribute-ids": {},
             "source-credit": "", "target-credit": "",
             "url": {"id": "0a1b2c3d-0000-4000-8000-000000000001", "resource": "https://x.example/"}},
            {"type": "member of band", "type-id": "5be4c609-9afa-4ea0-910b-12ffb71e3821",
             "direction": "backward", "target-type": "artist", "begin": "1990", "end": "1995", "ended": true,
             "attributes": ["original"], "attribute-values": {},
             "attribute-ids": {"original": "617cf4b9-4ac8-42a5-a1d3-bb8c4f3a9b55"},
             "source-credit": "", "target-credit": "Bassist",
             "artist": artist(A1, "Member")},
            {"type": "discogs", "type-id": "04a5b104-a4c2-4bac-99a1-7b837c37d9e4",
             "direction": "forward", "target-type": "url", "begin": null, "end": null, "ended": false,
             "attributes": [], "attribute-values": {}, "attribute-ids": {},
             "source-credit": "", "target-credit": "",
             "url": {"id": "0a1b2c3d-0000-4000-8000-000000000002", "resource": "https://d.example/?a=1&b=2"}}
        ]
    });
    let request = parse(&format!("artist/{ID}"), "inc=url-rels+artist-rels");
    let xml = render(&request, doc);
    let expected = format!(
        "{HEAD}<artist id=\"{ID}\" type=\"Group\" type-id=\"e431f5f6-b5d2-343d-8b36-72607fffb74b\">\
         <name>X</name><sort-name>X</sort-name>\
         <relation-list target-type=\"artist\">\
         <relation type=\"member of band\" type-id=\"5be4c609-9afa-4ea0-910b-12ffb71e3821\">\
         <target>{A1}</target><direction>backward</direction>\
         <attribute-list><attribute type-id=\"617cf4b9-4ac8-42a5-a1d3-bb8c4f3a9b55\">original</attribute></attribute-list>\
         <begin>1990</begin><end>1995</end><ended>true</ended>\
         <artist id=\"{A1}\"><name>Member</name><sort-name>Member</sort-name></artist>\
         <target-credit>Bassist</target-credit></relation></relation-list>\
         <relation-list target-type=\"url\">\
         <relation type=\"official homepage\" type-id=\"fe33d22f-c3b0-4d68-bd53-a856badf2b15\">\
         <target id=\"0a1b2c3d-0000-4000-8000-000000000001\">https://x.example/</target>\
         <direction>forward</direction></relation>\
         <relation type=\"discogs\" type-id=\"04a5b104-a4c2-4bac-99a1-7b837c37d9e4\">\
         <target id=\"0a1b2c3d-0000-4000-8000-000000000002\">https://d.example/?a=1&amp;b=2</target>\
         <direction>forward</direction></relation></relation-list></artist></metadata>\n"
    );
    assert_eq!(xml, expected);
    assert_valid(&[("relations".to_owned(), xml)]);
}

#[test]
fn pregap_and_data_tracks_frame_the_track_list() {
    let recording = |id: &str, title: &str| json!({"id": id, "title": title, "length": 5000, "disambiguation": "", "video": false});
    let doc = json!({
        "id": ID, "title": "Album", "quality": "normal", "disambiguation": "", "barcode": null,
        "media": [{
            "position": 1, "title": "", "format": "CD", "format-id": "9712d52a-4509-3d4b-a1a2-67c88c643e31",
            "track-count": 1, "track-offset": 0,
            "pregap": {"id": "p0", "position": 0, "number": "0", "title": "Hidden", "length": 5000,
                       "recording": recording("r0", "Hidden")},
            "tracks": [{"id": "t1", "position": 1, "number": "1", "title": "One", "length": 5000,
                        "recording": recording("r1", "One")}],
            "data-tracks": [{"id": "d2", "position": 2, "number": "2", "title": "Video", "length": 5000,
                             "recording": recording("r2", "Video")}]
        }]
    });
    let xml = render(&parse(&format!("release/{ID}"), "inc=recordings"), doc);
    let rec = |id: &str, title: &str| {
        format!("<recording id=\"{id}\"><title>{title}</title><length>5000</length></recording>")
    };
    assert!(
        xml.contains(&format!(
            "<medium-list count=\"1\"><medium><position>1</position>\
             <format id=\"9712d52a-4509-3d4b-a1a2-67c88c643e31\">CD</format>\
             <pregap id=\"p0\"><position>0</position><number>0</number><length>5000</length>{}</pregap>\
             <track-list count=\"1\" offset=\"0\"><track id=\"t1\"><position>1</position><number>1</number>\
             <length>5000</length>{}</track></track-list>\
             <data-track-list count=\"1\"><track id=\"d2\"><position>2</position><number>2</number>\
             <length>5000</length>{}</track></data-track-list></medium></medium-list>",
            rec("r0", "Hidden"),
            rec("r1", "One"),
            rec("r2", "Video")
        )),
        "{xml}"
    );
    assert_valid(&[("pregap".to_owned(), xml)]);
}

/// MusicBrainz keeps an entity's aliases, tags and rating once and its XML
/// shows them wherever the entity appears, where its JSON hides some (an
/// artist of the track's credit has no aliases in the recording's); nested
/// Various Artists shows none.
#[test]
fn entity_facts_show_wherever_the_entity_does() {
    let va = "89ad4ac3-39f7-470e-963a-56509c546377";
    let alias = json!([{"name": "Alias", "sort-name": "Alias", "locale": null, "primary": null,
                        "type": null, "type-id": null, "begin": null, "end": null, "ended": false}]);
    let tags = json!([{"count": 2, "name": "jazz"}]);
    let rating = json!({"value": 4.5, "votes-count": 2});
    let mut va_artist = artist(va, "Various Artists");
    va_artist["aliases"] = alias.clone();
    let mut with_facts = artist(A1, "Solo");
    with_facts["aliases"] = alias;
    with_facts["tags"] = tags;
    with_facts["rating"] = rating;
    let doc = json!({
        "id": ID, "title": "Album", "quality": "normal", "disambiguation": "", "barcode": null,
        "artist-credit": [{"name": "Various Artists", "joinphrase": "", "artist": va_artist}],
        "media": [{
            "position": 1, "title": "", "format": null, "format-id": null, "track-count": 1, "track-offset": 0,
            "tracks": [{"id": "t1", "position": 1, "number": "1", "title": "One", "length": 5000,
                        "artist-credit": [{"name": "Solo feat. X", "joinphrase": "", "artist": with_facts}],
                        "recording": {"id": "r1", "title": "One", "length": 5000, "disambiguation": "",
                                      "video": false,
                                      "artist-credit": [{"name": "Solo", "joinphrase": "",
                                                         "artist": artist(A1, "Solo")}]}}]
        }]
    });
    let request = parse(
        &format!("release/{ID}"),
        "inc=recordings+artist-credits+aliases+tags+ratings",
    );
    let xml = render(&request, doc);
    let solo = format!(
        "<artist id=\"{A1}\"><name>Solo</name><sort-name>Solo</sort-name>\
         <alias-list count=\"1\"><alias sort-name=\"Alias\">Alias</alias></alias-list>\
         <tag-list><tag count=\"2\"><name>jazz</name></tag></tag-list>\
         <rating votes-count=\"2\">4.5</rating></artist>"
    );
    // In the track's credit and, though the JSON hides them, the recording's.
    assert_eq!(xml.matches(&solo).count(), 2, "{xml}");
    assert!(
        xml.contains(&format!(
            "<artist id=\"{va}\"><name>Various Artists</name><sort-name>Various Artists</sort-name></artist>"
        )),
        "{xml}"
    );
    assert_valid(&[("facts".to_owned(), xml)]);
}

#[test]
fn lists_carry_count_and_a_nonzero_offset() {
    let page = |offset: u32| {
        json!({"release-group-count": 120, "release-group-offset": offset, "release-groups": [{
            "id": ID, "title": "T", "primary-type": "Album", "primary-type-id": "f529b476-6e62-324f-b0aa-1f3e33d313fc",
            "secondary-types": ["Live"], "secondary-type-ids": ["6fd474e2-6b58-3102-9d17-d6f7eb7da0a0"],
            "first-release-date": "", "disambiguation": ""}]})
    };
    let first = parse("release-group", &format!("artist={A1}"));
    let xml = render(&first, page(0));
    assert!(
        xml.contains("<release-group-list count=\"120\"><release-group id="),
        "{xml}"
    );
    // An album that is live says so in `type`.
    assert!(
        xml.contains("type=\"Live\" type-id=\"6fd474e2-6b58-3102-9d17-d6f7eb7da0a0\""),
        "{xml}"
    );
    let third = parse("release-group", &format!("artist={A1}&offset=50"));
    let xml = render(&third, page(50));
    assert!(
        xml.contains("<release-group-list count=\"120\" offset=\"50\">"),
        "{xml}"
    );

    // Recorded: a browse of 806 releases, one a page.
    let row = "browse/release-by-label-cf7fc5cf-limit-1.json";
    let request = parse(
        "release",
        "label=cf7fc5cf-e011-4ef4-b511-cd0188537910&limit=1",
    );
    let xml = render(&request, load(row));
    assert!(
        xml.contains("<release-list count=\"806\"><release id="),
        "{xml}"
    );
    // An empty artist browse has no list at all; other empty lists stay.
    let xml = render(
        &parse("artist", &format!("area={A1}")),
        json!({"artists": [], "artist-count": 0, "artist-offset": 0}),
    );
    assert_eq!(
        xml,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <metadata xmlns=\"http://musicbrainz.org/ns/mmd-2.0#\"/>\n"
    );
    let xml = render(
        &parse("label", &format!("area={A1}")),
        json!({"labels": [], "label-count": 0, "label-offset": 0}),
    );
    assert!(xml.contains("<label-list count=\"0\"/>"), "{xml}");
    // A recording's release list is written even when empty.
    let request = parse(&format!("recording/{ID}"), "inc=releases");
    let xml = render(
        &request,
        json!({"id": ID, "title": "R", "length": null, "disambiguation": "", "video": false, "releases": []}),
    );
    assert!(
        xml.ends_with("<release-list count=\"0\"/></recording></metadata>\n"),
        "{xml}"
    );
}

#[test]
fn empty_collection_lists_are_left_out() {
    let request = parse(&format!("release/{ID}"), "inc=collections");
    let mut doc = two_track_release();
    doc["media"] = json!([]);
    let xml = render(&request, doc.clone());
    assert!(!xml.contains("collection-list"), "{xml}");
    doc["collections"] = json!([{
        "id": A2, "name": "Mine", "editor": "someone", "entity-type": "release", "type": "Release",
        "type-id": "d94659b2-4ce5-3a98-b4b8-da1131cf33ee", "release-count": 3
    }]);
    let xml = render(&request, doc);
    assert!(
        xml.contains(&format!(
            "<collection-list count=\"1\"><collection id=\"{A2}\" type=\"Release\" entity-type=\"release\">\
             <name>Mine</name><editor>someone</editor><release-list count=\"3\"/></collection></collection-list>"
        )),
        "{xml}"
    );
}

#[test]
fn search_answers_carry_created_and_scores() {
    let row = "search/release-drivers_license.json";
    let request = parse("release", "query=%22drivers+license%22");
    let xml = render(&request, load(row));
    assert!(
        xml.starts_with(
            "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n\
             <metadata created=\"2026-03-06T19:33:44.667Z\" xmlns=\"http://musicbrainz.org/ns/mmd-2.0#\" \
             xmlns:ns2=\"http://musicbrainz.org/ns/ext#-2.0\"><release-list count=\"43\" offset=\"0\">\
             <release id=\"c4a8f130-5c44-454e-9e06-282e4053b0a0\" ns2:score=\"100\">"
        ),
        "{}",
        &xml[..400]
    );
}

#[test]
fn the_error_document_is_musicbrainzs() {
    assert_eq!(
        ws2::xml::error("Invalid mbid."),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <error><text>Invalid mbid.</text>\
         <text>For usage, please see: https://musicbrainz.org/development/mmd</text></error>\n"
    );
}

#[test]
fn collection_contents_are_not_written() {
    let request = parse(&format!("collection/{ID}/releases"), "");
    assert!(matches!(
        ws2::xml::render(&request, &json!({})),
        Err(ws2::XmlError::Unsupported(_))
    ));
}
