//! MusicBrainz's XML (MMD 2.0) answers, written from the JSON ones.
//!
//! The cache keeps one document per answer, in MusicBrainz's JSON, and one
//! projection ([`super::project`]) cuts a lookup down to its `inc`. XML is a
//! second face of that same document: the facade projects first, then calls
//! [`render`]. Nothing here decides what a request asks for; this module
//! only knows how MusicBrainz *writes* what is there, following
//! musicbrainz-server's `WebService/XMLSerializer.pm` (lookups, browses, disc
//! IDs, ISRCs, ISWCs, URLs) and the search server's writer (searches,
//! metabrainz/mb-solr, whose XML is the schema's order).
//!
//! What XML does that JSON does not, all decided here:
//! - a track's `<title>` and `<artist-credit>` are left out when they equal
//!   its recording's; the track-list carries `count` (tracks without pregap
//!   and data tracks) and `offset`; the pregap is a `<pregap>`, data tracks a
//!   `<data-track-list>`;
//! - relations are grouped into one `<relation-list target-type="…">` per
//!   target type, in alphabetical order, and a relation names its target in
//!   `<target>` (a URL's with its id);
//! - lists carry `count` (and `offset` when it is not 0); lists MusicBrainz
//!   loads but finds empty are left out (`<alias-list>`, `<tag-list>`,
//!   `<isrc-list>`, `<collection-list>`, MBS-8845), while the lists an `inc`
//!   asks for are written even when empty (`<release-list count="0"/>`), and
//!   so is an empty browse page, except an artist browse's, which leaves
//!   `<metadata>` empty;
//! - empty or null values are left out (`disambiguation`, `length`, an
//!   unrated `rating`), except a known-empty barcode (`<barcode></barcode>`);
//! - the release group's `type` attribute: its primary type, or for an album
//!   the first of compilation, remix, soundtrack, live, spokenword and
//!   interview among its secondary types;
//! - Various Artists, nested, shows no aliases, tags or rating; artists in a
//!   release group's or recording's release list show no aliases or tags;
//!   nothing inside a relation shows aliases, tags or genres.
//!
//! **MusicBrainz keeps per-entity facts once** (its `WebServiceStash`:
//! aliases, tags, genres, ratings, ISRCs, keyed by entity) and its XML shows
//! them wherever the entity appears, while its JSON hides some by position
//! (an artist already in the release's artist credit loses tags in the
//! track's; a rating shows only at top level and under a release's media and
//! release group). So before writing, [`Facts`] gathers every fact the
//! document shows for each MBID, and an entity is written with the facts of
//! its MBID, under XML's own visibility rules.
//!
//! **Where XMLSerializer.pm and the official schema disagree on order**, the
//! schema's order is written (`docs/ws2/mmd/musicbrainz_mmd-2.0.rng`), so
//! that an answer validates wherever its data fits the schema; nothing is
//! lost, and no client reads these by position (musicbrainzngs and JAXB
//! read by name):
//! - a relation's `<attribute-list>` comes before `<begin>`, `<end>`,
//!   `<ended>` (MusicBrainz writes it after them);
//! - `<annotation>` comes before `<disambiguation>` on releases, release
//!   groups, recordings and works, and a label's `<disambiguation>` comes
//!   after its label code, IPIs, ISNIs and annotation (MusicBrainz writes it
//!   right after the sort name).
//!
//! **What the JSON does not carry cannot be written**, so these differ from
//! MusicBrainz's XML: `count` of the capped sub-lists of lookups (an
//! artist's releases, …) and of a disc ID's releases is the number listed
//! (MusicBrainz gives the total, known only when the page is not full);
//! browse and ISWC items come in the JSON's MBID order (MusicBrainz's XML
//! keeps the database order); the recordings of an ISRC answer lack the
//! rating and release list MusicBrainz's XML gives them (its JSON leaves
//! them out); areas nested at top level (an artist's area, a release
//! event's) lack their life span; an entity's rating shows only if the
//! JSON shows it somewhere.
//!
//! **Nothing is dropped or altered to fit the schema.** Where MusicBrainz's
//! data has outgrown the schema's patterns (alias locales such as `en_150`
//! or `sms`; negative vote counts of a search hit's tags), or the JSON lacks
//! an id the schema requires (a search answer's medium `<format>`: the
//! search JSON has no format id, and MusicBrainz's search XML has none
//! either; gender, status, type and relation attribute ids in captures
//! older than those ids), the value is written as MusicBrainz writes it and
//! that answer does not validate, as MusicBrainz's own does not. The tests
//! (`musicbrainz/tests/ws2_xml.rs`) count these cases in the corpus.
//!
//! Search answers follow the search server: `<metadata created="…">` with
//! the `ns2` namespace, `count` and `offset` on the list, `ns2:score` on
//! each hit, no `count` on nested lists, the JSON's own counts (a
//! release's media and tracks, a medium's discs and tracks).

use std::collections::{BTreeMap, HashMap};
use std::io;

use quick_xml::Writer;
use quick_xml::escape::partial_escape;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use serde_json::{Map, Value};

use super::USAGE;
use super::request::{Kind, Request};
use super::resource::Resource;

/// The MMD 2.0 namespace, `xmlns` of every `<metadata>`: musicbrainzngs
/// crashes on XML without it.
pub const MMD_NAMESPACE: &str = "http://musicbrainz.org/ns/mmd-2.0#";
/// The extension namespace of search answers (`ns2:score`), which
/// musicbrainzngs reads as `ext:score`.
pub const EXT_NAMESPACE: &str = "http://musicbrainz.org/ns/ext#-2.0";
/// Various Artists: shown compact wherever it is not the answer itself.
const VARIOUS_ARTISTS: &str = "89ad4ac3-39f7-470e-963a-56509c546377";

/// Why an answer has no XML here.
#[derive(Debug, thiserror::Error)]
pub enum XmlError {
    /// A request whose answer this module does not write: a collection's
    /// contents, one user's tags or ratings. The facade forwards those.
    #[error("no XML rendering for {0}")]
    Unsupported(String),
    /// The document is not the JSON MusicBrainz answers to the request.
    #[error("the JSON answer to a {resource} request is not as expected: {detail}")]
    Shape { resource: Resource, detail: String },
    /// Writing into memory failed (not expected).
    #[error("writing XML: {0}")]
    Write(#[from] io::Error),
}

/// The MMD 2.0 XML MusicBrainz answers for `request`, from the (already
/// projected) JSON answer `doc`.
pub fn render(request: &Request, doc: &Value) -> Result<String, XmlError> {
    let resource = request.resource;
    let shape = |detail: &str| XmlError::Shape {
        resource,
        detail: detail.to_owned(),
    };
    let top = doc.as_object().ok_or_else(|| shape("not an object"))?;
    let search = matches!(request.kind, Kind::Search { .. });
    let xml = Xml {
        facts: if search {
            Facts::default()
        } else {
            Facts::gather(doc)
        },
        search,
    };
    let mut metadata = El::new("metadata");
    if search {
        if let Some(created) = text(top, "created") {
            metadata.attr("created", created);
        }
        metadata.attr("xmlns", MMD_NAMESPACE);
        metadata.attr("xmlns:ns2", EXT_NAMESPACE);
    } else {
        metadata.attr("xmlns", MMD_NAMESPACE);
    }
    let cx = Ctx::default();
    let child = match &request.kind {
        Kind::Lookup { .. } => match resource {
            Resource::DiscId => xml.disc_answer(top, request)?,
            Resource::Isrc => xml.isrc(top),
            Resource::Iswc => xml.listing(top, Resource::Work, true)?,
            // One user's tags or rating, a collection and what has no
            // lookup: forwarded to MusicBrainz, never written here.
            r @ (Resource::Collection
            | Resource::Tag
            | Resource::Rating
            | Resource::Annotation
            | Resource::CdStub) => return Err(XmlError::Unsupported(format!("{r} lookups"))),
            r => xml
                .entity(r.as_str(), top, true, cx)
                .ok_or_else(|| XmlError::Unsupported(format!("{r} lookups")))?,
        },
        Kind::Browse { .. } | Kind::GenreAll { .. } => xml.listing(top, resource, true)?,
        Kind::CollectionList | Kind::EditorCollections { .. } => {
            xml.listing(top, Resource::Collection, true)?
        }
        Kind::Search { .. } => xml.search_list(top, resource)?,
        Kind::UrlByResource { .. } => {
            if top.contains_key("urls") {
                xml.listing(top, Resource::Url, true)?
            } else {
                xml.url(top, cx)
            }
        }
        Kind::Toc { .. } => xml.listing(top, Resource::Release, true)?,
        Kind::CollectionContents { .. } => {
            return Err(XmlError::Unsupported("collection contents".to_owned()));
        }
    };
    // An empty artist list is left out (XMLSerializer's
    // `_serialize_artist_list`), unlike every other list.
    let empty_artists = child.name == "artist-list" && child.kids.is_empty() && !search;
    if !empty_artists {
        metadata.push(child);
    }
    finish(&metadata, search)
}

/// MusicBrainz's XML error document (no namespace, no `<metadata>`):
/// `<error><text>msg</text><text>For usage, please see: …</text></error>`.
pub fn error(message: &str) -> String {
    let mut root = El::new("error");
    root.text("text", message);
    root.text("text", USAGE);
    // Writing into a Vec cannot fail; an empty body would only hide the
    // status, which the caller sends anyway.
    finish(&root, false).unwrap_or_default()
}

/// The document as bytes: declaration, root, and the newline libxml2 ends
/// MusicBrainz's documents with. Search answers come from a Java writer
/// that declares `standalone="yes"`.
fn finish(root: &El, search: bool) -> Result<String, XmlError> {
    let mut w = Writer::new(Vec::with_capacity(4096));
    let standalone = search.then_some("yes");
    w.write_event(Event::Decl(BytesDecl::new(
        "1.0",
        Some("UTF-8"),
        standalone,
    )))?;
    w.write_event(Event::Text(BytesText::from_escaped("\n")))?;
    write_el(&mut w, root)?;
    if !search {
        w.write_event(Event::Text(BytesText::from_escaped("\n")))?;
    }
    String::from_utf8(w.into_inner())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e).into())
}

// ---------------------------------------------------------------------------
// The element tree

/// An element being built, as XMLSerializer builds its DOM: children and
/// attributes in the order they are added. Written once complete, because
/// whether an element is empty (`<x/>`) is known only then.
#[derive(Debug)]
struct El {
    name: &'static str,
    attrs: Vec<(&'static str, String)>,
    kids: Vec<Node>,
}

#[derive(Debug)]
enum Node {
    El(El),
    Text(String),
}

impl El {
    fn new(name: &'static str) -> El {
        El {
            name,
            attrs: Vec::new(),
            kids: Vec::new(),
        }
    }

    fn attr(&mut self, name: &'static str, value: impl Into<String>) -> &mut El {
        self.attrs.push((name, value.into()));
        self
    }

    /// `name="value"` when there is a value.
    fn attr_opt(&mut self, name: &'static str, value: Option<impl Into<String>>) -> &mut El {
        if let Some(v) = value {
            self.attr(name, v);
        }
        self
    }

    fn push(&mut self, child: El) {
        self.kids.push(Node::El(child));
    }

    fn push_text(&mut self, value: impl Into<String>) {
        self.kids.push(Node::Text(value.into()));
    }

    /// `<name>value</name>` (libxml's `appendTextChild`).
    fn text(&mut self, name: &'static str, value: impl Into<String>) {
        let mut e = El::new(name);
        e.push_text(value);
        self.push(e);
    }

    /// `<name>value</name>` when there is a value.
    fn text_opt(&mut self, name: &'static str, value: Option<impl Into<String>>) {
        if let Some(v) = value {
            self.text(name, v);
        }
    }
}

fn write_el(w: &mut Writer<Vec<u8>>, el: &El) -> io::Result<()> {
    let mut start = BytesStart::new(el.name);
    for (name, value) in &el.attrs {
        start.push_attribute((*name, value.as_str()));
    }
    if el.kids.is_empty() {
        return w.write_event(Event::Empty(start));
    }
    w.write_event(Event::Start(start))?;
    for kid in &el.kids {
        match kid {
            Node::El(e) => write_el(w, e)?,
            // libxml2 escapes `<`, `>` and `&` in text, and leaves quotes.
            Node::Text(t) if !t.is_empty() => {
                w.write_event(Event::Text(BytesText::from_escaped(partial_escape(
                    t.as_str(),
                ))))?;
            }
            Node::Text(_) => {}
        }
    }
    w.write_event(Event::End(BytesEnd::new(el.name)))
}

// ---------------------------------------------------------------------------
// Reading the JSON

type Obj = Map<String, Value>;

/// A string value, `None` when absent, null or empty.
fn text<'v>(m: &'v Obj, key: &str) -> Option<&'v str> {
    m.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// A number (or a numeric string, as search answers write coordinates) as
/// Perl prints it: integers without a fraction.
fn number(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.to_string(),
            (None, Some(f)) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
            _ => n.to_string(),
        }),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

fn num(m: &Obj, key: &str) -> Option<String> {
    m.get(key).and_then(number)
}

/// A number that Perl finds true: present and not 0.
fn nonzero(m: &Obj, key: &str) -> Option<String> {
    num(m, key).filter(|n| n != "0")
}

fn obj<'v>(m: &'v Obj, key: &str) -> Option<&'v Obj> {
    m.get(key).and_then(Value::as_object)
}

fn list<'v>(m: &'v Obj, key: &str) -> Option<&'v [Value]> {
    m.get(key).and_then(Value::as_array).map(Vec::as_slice)
}

fn objects(items: &[Value]) -> impl Iterator<Item = &Obj> {
    items.iter().filter_map(Value::as_object)
}

fn is_true(m: &Obj, key: &str) -> bool {
    m.get(key).and_then(Value::as_bool) == Some(true)
}

/// A key spelled either way (captures before 2021 have `begin_area`).
fn either<'v>(m: &'v Obj, a: &str, b: &str) -> Option<&'v Value> {
    m.get(a).filter(|v| !v.is_null()).or_else(|| m.get(b))
}

// ---------------------------------------------------------------------------
// What MusicBrainz knows once per entity

/// The per-entity facts of a document (MusicBrainz's stash), by MBID: the
/// first non-empty value any occurrence of the entity carries.
#[derive(Debug, Default)]
struct Facts<'a> {
    by_id: HashMap<&'a str, Known<'a>>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Known<'a> {
    aliases: Option<&'a [Value]>,
    tags: Option<&'a [Value]>,
    genres: Option<&'a [Value]>,
    user_tags: Option<&'a [Value]>,
    user_genres: Option<&'a [Value]>,
    isrcs: Option<&'a [Value]>,
    rating: Option<&'a Obj>,
    user_rating: Option<&'a Obj>,
}

impl<'a> Known<'a> {
    /// The facts `m` itself shows.
    fn of(m: &'a Obj) -> Known<'a> {
        let nonempty = |k: &str| list(m, k).filter(|l| !l.is_empty());
        Known {
            aliases: nonempty("aliases"),
            tags: nonempty("tags"),
            genres: nonempty("genres"),
            user_tags: nonempty("user-tags"),
            user_genres: nonempty("user-genres"),
            isrcs: nonempty("isrcs"),
            // Unrated entities show `{value: null, votes-count: 0}`.
            rating: obj(m, "rating").filter(|r| nonzero(r, "votes-count").is_some()),
            user_rating: obj(m, "user-rating").filter(|r| num(r, "value").is_some()),
        }
    }

    /// `self`, completed by `other` where `self` knows nothing.
    fn or(self, other: Known<'a>) -> Known<'a> {
        Known {
            aliases: self.aliases.or(other.aliases),
            tags: self.tags.or(other.tags),
            genres: self.genres.or(other.genres),
            user_tags: self.user_tags.or(other.user_tags),
            user_genres: self.user_genres.or(other.user_genres),
            isrcs: self.isrcs.or(other.isrcs),
            rating: self.rating.or(other.rating),
            user_rating: self.user_rating.or(other.user_rating),
        }
    }
}

impl<'a> Facts<'a> {
    fn gather(doc: &'a Value) -> Facts<'a> {
        let mut facts = Facts::default();
        facts.walk(doc);
        facts
    }

    fn walk(&mut self, v: &'a Value) {
        match v {
            Value::Object(m) => {
                if let Some(id) = text(m, "id") {
                    let known = Known::of(m);
                    let slot = self.by_id.entry(id).or_default();
                    *slot = slot.or(known);
                }
                for (key, child) in m {
                    // Keyed by attribute names, not entities.
                    if !key.starts_with("attribute-") {
                        self.walk(child);
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|i| self.walk(i)),
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------
// The serializer

/// XMLSerializer's dynamically scoped switches.
#[derive(Debug, Clone, Copy)]
struct Ctx {
    /// Inside a `<relation>`: no tags or genres.
    in_relation: bool,
    /// Aliases shown (off inside relations).
    show_aliases: bool,
    /// Off in a release group's or recording's release list.
    show_artist_aliases: bool,
    show_artist_tags: bool,
}

impl Default for Ctx {
    fn default() -> Ctx {
        Ctx {
            in_relation: false,
            show_aliases: true,
            show_artist_aliases: true,
            show_artist_tags: true,
        }
    }
}

impl Ctx {
    fn relation_target(self) -> Ctx {
        Ctx {
            in_relation: true,
            show_aliases: false,
            ..self
        }
    }

    fn release_list_of_entity(self) -> Ctx {
        Ctx {
            show_artist_aliases: false,
            show_artist_tags: false,
            ..self
        }
    }
}

struct Xml<'a> {
    facts: Facts<'a>,
    /// A search answer: the search server's conventions.
    search: bool,
}

/// The element name of a list of `r` (`release-group-list`).
fn list_name(r: Resource) -> &'static str {
    match r {
        Resource::Area => "area-list",
        Resource::Artist => "artist-list",
        Resource::Event => "event-list",
        Resource::Genre => "genre-list",
        Resource::Instrument => "instrument-list",
        Resource::Label => "label-list",
        Resource::Place => "place-list",
        Resource::Recording | Resource::Isrc => "recording-list",
        Resource::Release | Resource::DiscId => "release-list",
        Resource::ReleaseGroup => "release-group-list",
        Resource::Series => "series-list",
        Resource::Url => "url-list",
        Resource::Work | Resource::Iswc => "work-list",
        Resource::Collection => "collection-list",
        Resource::Annotation => "annotation-list",
        Resource::CdStub => "cdstub-list",
        Resource::Tag => "tag-list",
        Resource::Rating => "rating-list",
    }
}

/// The relatable entity keys of a relation object, for search answers,
/// which carry no `target-type`.
const TARGET_KEYS: &[&str] = &[
    "area",
    "artist",
    "event",
    "genre",
    "instrument",
    "label",
    "place",
    "recording",
    "release",
    "release_group",
    "release-group",
    "series",
    "url",
    "work",
];

impl<'a> Xml<'a> {
    /// What is known of entity `m`: what it shows, completed by what other
    /// occurrences of its MBID show.
    fn known(&self, m: &'a Obj) -> Known<'a> {
        let own = Known::of(m);
        match text(m, "id").and_then(|id| self.facts.by_id.get(id)) {
            Some(k) => own.or(*k),
            None => own,
        }
    }

    /// The sort name of a label or an area: MusicBrainz writes the name
    /// (they have no sort name of their own); the search server writes what
    /// it stored.
    fn name_as_sort_name(&self, m: &'a Obj) -> Option<&'a str> {
        if self.search {
            text(m, "sort-name")
        } else {
            m.get("name").and_then(Value::as_str)
        }
    }

    /// The element of an entity of type `kind` (a resource name or a
    /// relation target type).
    fn entity(&self, kind: &str, m: &'a Obj, toplevel: bool, cx: Ctx) -> Option<El> {
        Some(match kind {
            "artist" => self.artist(m, toplevel, cx),
            "release" => self.release(m, toplevel, cx),
            "release-group" | "release_group" => self.release_group(m, toplevel, cx),
            "recording" => self.recording(m, toplevel, cx),
            "label" => self.label(m, toplevel, cx),
            "work" => self.work(m, toplevel, cx),
            "area" => self.area("area", m, toplevel, cx),
            "place" => self.place(m, toplevel, cx),
            "instrument" => self.simple("instrument", m, toplevel, cx),
            "series" => self.simple("series", m, toplevel, cx),
            "event" => self.event(m, toplevel, cx),
            "url" => self.url(m, cx),
            "genre" => self.genre(m, None),
            "collection" => self.collection(m),
            "cdstub" => self.cdstub(m),
            "annotation" => self.annotation_hit(m),
            "tag" => {
                let mut e = El::new("tag");
                e.text_opt("name", text(m, "name"));
                e
            }
            _ => return None,
        })
    }

    // -- answers --------------------------------------------------------------

    /// `<x-list count offset>` of the top-level items of a browse (or
    /// ISWC, URL list, TOC, genre list) answer: `{plural}`, `{singular}-count`
    /// and `{singular}-offset` in JSON.
    fn listing(&self, top: &'a Obj, items: Resource, toplevel: bool) -> Result<El, XmlError> {
        let singular = match items {
            Resource::Iswc => "work",
            Resource::DiscId => "release",
            r => r.as_str(),
        };
        let values = list(top, items.list_key()).ok_or_else(|| XmlError::Shape {
            resource: items,
            detail: format!("no `{}` list", items.list_key()),
        })?;
        let mut l = El::new(list_name(items));
        let count =
            num(top, &format!("{singular}-count")).unwrap_or_else(|| values.len().to_string());
        l.attr("count", count);
        l.attr_opt("offset", nonzero(top, &format!("{singular}-offset")));
        for m in objects(values) {
            if let Some(e) = self.entity(singular, m, toplevel, Ctx::default()) {
                l.push(e);
            }
        }
        Ok(l)
    }

    /// A search answer's list: `count` and `offset` always, and each hit's
    /// `ns2:score`.
    fn search_list(&self, top: &'a Obj, r: Resource) -> Result<El, XmlError> {
        let values = list(top, r.list_key()).ok_or_else(|| XmlError::Shape {
            resource: r,
            detail: format!("no `{}` list", r.list_key()),
        })?;
        let mut l = El::new(list_name(r));
        l.attr(
            "count",
            num(top, "count").unwrap_or_else(|| values.len().to_string()),
        );
        l.attr(
            "offset",
            num(top, "offset").unwrap_or_else(|| "0".to_owned()),
        );
        for m in objects(values) {
            if let Some(mut e) = self.entity(r.as_str(), m, true, Ctx::default()) {
                e.attr_opt("ns2:score", num(m, "score"));
                l.push(e);
            }
        }
        Ok(l)
    }

    /// A disc ID answer: the disc with its releases, a CD stub, or (a TOC
    /// that matched no disc ID) a release list.
    fn disc_answer(&self, top: &'a Obj, request: &Request) -> Result<El, XmlError> {
        if top.contains_key("offsets") || top.contains_key("sectors") {
            let mut disc = self.disc(top);
            let releases = list(top, "releases").unwrap_or_default();
            let mut l = El::new("release-list");
            // The total is not in the JSON: exact unless the page is full.
            let offset: usize = request
                .params
                .get("offset")
                .and_then(|o| o.parse().ok())
                .unwrap_or(0);
            l.attr("count", (offset + releases.len()).to_string());
            if offset > 0 {
                l.attr("offset", offset.to_string());
            }
            for m in objects(releases) {
                l.push(self.release(m, true, Ctx::default()));
            }
            disc.push(l);
            Ok(disc)
        } else if top.contains_key("releases") {
            self.listing(top, Resource::Release, true)
        } else if top.contains_key("track-count") || top.contains_key("tracks") {
            Ok(self.cdstub(top))
        } else {
            Err(XmlError::Shape {
                resource: Resource::DiscId,
                detail: "neither a disc, a CD stub nor a release list".to_owned(),
            })
        }
    }

    /// `<isrc id><recording-list>`; its recordings are top-level ones.
    fn isrc(&self, top: &'a Obj) -> El {
        let mut e = El::new("isrc");
        e.attr_opt("id", text(top, "isrc"));
        if let Some(recordings) = list(top, "recordings").filter(|l| !l.is_empty()) {
            let mut l = El::new("recording-list");
            l.attr("count", recordings.len().to_string());
            for m in objects(recordings) {
                l.push(self.recording(m, true, Ctx::default()));
            }
            e.push(l);
        }
        e
    }

    // -- shared parts ---------------------------------------------------------

    /// `count` of a nested list. Search answers leave it out, as the
    /// search server does.
    fn count(&self, el: &mut El, n: usize) {
        if !self.search {
            el.attr("count", n.to_string());
        }
    }

    /// `<name id="…">text</name>` (XMLSerializer's `add_type_elem`).
    fn type_elem(parent: &mut El, name: &'static str, value: Option<&str>, id: Option<&str>) {
        if let Some(v) = value {
            let mut e = El::new(name);
            e.attr_opt("id", id);
            e.push_text(v);
            parent.push(e);
        }
    }

    /// The element of a simply typed entity: its `id`, `type` and `type-id`.
    fn typed_entity(name: &'static str, m: &Obj) -> El {
        let mut e = El::new(name);
        e.attr_opt("id", text(m, "id"));
        Self::type_attrs(&mut e, m);
        e
    }

    /// `type` and `type-id` attributes of a simply typed entity.
    fn type_attrs(el: &mut El, m: &Obj) {
        if let Some(t) = text(m, "type") {
            el.attr("type", t);
            el.attr_opt("type-id", text(m, "type-id"));
        }
    }

    fn annotation(el: &mut El, m: &Obj, toplevel: bool) {
        if toplevel && let Some(a) = text(m, "annotation") {
            let mut e = El::new("annotation");
            e.text("text", a);
            el.push(e);
        }
    }

    /// `<life-span>` when there is a begin or end date; `ended` only with
    /// one of them (`ended_allowed` is false for events).
    fn life_span(el: &mut El, m: &Obj, ended_allowed: bool) {
        let Some(ls) = obj(m, "life-span") else {
            return;
        };
        let (begin, end) = (text(ls, "begin"), text(ls, "end"));
        if begin.is_none() && end.is_none() {
            return;
        }
        let mut e = El::new("life-span");
        e.text_opt("begin", begin);
        e.text_opt("end", end);
        if ended_allowed && is_true(ls, "ended") {
            e.text("ended", "true");
        }
        el.push(e);
    }

    fn alias_list(&self, el: &mut El, m: &'a Obj, cx: Ctx) {
        if !cx.show_aliases {
            return;
        }
        let Some(aliases) = self.known(m).aliases else {
            return;
        };
        let mut l = El::new("alias-list");
        self.count(&mut l, aliases.len());
        for a in objects(aliases) {
            let mut e = El::new("alias");
            e.attr_opt("locale", text(a, "locale"));
            e.attr("sort-name", text(a, "sort-name").unwrap_or_default());
            if let Some(t) = text(a, "type") {
                e.attr("type", t);
                e.attr_opt("type-id", text(a, "type-id"));
            }
            if is_true(a, "primary") {
                e.attr("primary", "primary");
            }
            e.attr_opt(
                "begin-date",
                text(a, "begin").or_else(|| text(a, "begin-date")),
            );
            e.attr_opt("end-date", text(a, "end").or_else(|| text(a, "end-date")));
            e.push_text(text(a, "name").unwrap_or_default());
            l.push(e);
        }
        el.push(l);
    }

    /// Tags, user tags, genres, user genres (the first and third hidden
    /// inside relations).
    fn tags_and_genres(&self, el: &mut El, m: &'a Obj, cx: Ctx) {
        let known = self.known(m);
        if let Some(tags) = known.tags.filter(|_| !cx.in_relation) {
            let mut l = El::new("tag-list");
            for t in objects(tags) {
                let mut e = El::new("tag");
                e.attr_opt("count", num(t, "count"));
                e.text_opt("name", text(t, "name"));
                l.push(e);
            }
            el.push(l);
        }
        if let Some(tags) = known.user_tags {
            let mut l = El::new("user-tag-list");
            for t in objects(tags) {
                let mut e = El::new("user-tag");
                e.text_opt("name", text(t, "name"));
                l.push(e);
            }
            el.push(l);
        }
        if let Some(genres) = known.genres.filter(|_| !cx.in_relation) {
            let mut l = El::new("genre-list");
            for g in objects(genres) {
                l.push(self.genre(g, num(g, "count")));
            }
            el.push(l);
        }
        if let Some(genres) = known.user_genres {
            let mut l = El::new("user-genre-list");
            for g in objects(genres) {
                let mut e = self.genre(g, None);
                e.name = "user-genre";
                l.push(e);
            }
            el.push(l);
        }
    }

    fn ratings(&self, el: &mut El, m: &'a Obj) {
        let known = self.known(m);
        if let Some(r) = known.rating
            && let Some(value) = num(r, "value")
        {
            let mut e = El::new("rating");
            e.attr_opt("votes-count", num(r, "votes-count"));
            e.push_text(value);
            el.push(e);
        }
        if let Some(r) = known.user_rating {
            el.text_opt("user-rating", num(r, "value"));
        }
    }

    fn artist_credit(&self, el: &mut El, owner: &'a Obj, cx: Ctx) {
        let Some(credits) = list(owner, "artist-credit").filter(|l| !l.is_empty()) else {
            return;
        };
        let mut ac = El::new("artist-credit");
        ac.attr_opt("id", text(owner, "artist-credit-id"));
        for c in objects(credits) {
            let mut nc = El::new("name-credit");
            nc.attr_opt("joinphrase", text(c, "joinphrase"));
            let artist = obj(c, "artist");
            let artist_name = artist.and_then(|a| a.get("name")).and_then(Value::as_str);
            if let Some(name) = c.get("name").and_then(Value::as_str)
                && Some(name) != artist_name
            {
                nc.text("name", name);
            }
            if let Some(a) = artist {
                nc.push(self.artist(a, false, cx));
            }
            ac.push(nc);
        }
        el.push(ac);
    }

    /// One `<relation-list target-type>` per target type, alphabetical;
    /// relations keep their order within a type.
    fn relation_lists(&self, el: &mut El, m: &'a Obj, cx: Ctx) {
        let mut rels: Vec<&'a Obj> = list(m, "relations")
            .map(|l| objects(l).collect())
            .unwrap_or_default();
        // Search answers nest them: "relation-list": [{"relations": […]}].
        if let Some(lists) = list(m, "relation-list") {
            for l in objects(lists) {
                rels.extend(list(l, "relations").map(objects).into_iter().flatten());
            }
        }
        let mut by_type: BTreeMap<String, Vec<(&'a str, &'a Obj)>> = BTreeMap::new();
        for rel in rels {
            let Some(key) = text(rel, "target-type")
                .filter(|k| rel.contains_key(*k))
                .or_else(|| TARGET_KEYS.iter().copied().find(|k| obj(rel, k).is_some()))
            else {
                continue;
            };
            by_type
                .entry(key.replace('-', "_"))
                .or_default()
                .push((key, rel));
        }
        for (target_type, rels) in by_type {
            let mut l = El::new("relation-list");
            l.attr("target-type", target_type);
            for (key, rel) in rels {
                l.push(self.relation(key, rel, cx));
            }
            el.push(l);
        }
    }

    fn relation(&self, key: &str, rel: &'a Obj, cx: Ctx) -> El {
        let mut e = El::new("relation");
        e.attr_opt("type", text(rel, "type"));
        e.attr_opt("type-id", text(rel, "type-id"));
        let target = obj(rel, key);
        let mut t = El::new("target");
        if key == "url" {
            let url = target.unwrap_or(rel);
            t.attr_opt("id", text(url, "id"));
            t.push_text(text(url, "resource").unwrap_or_default());
        } else {
            let id = target
                .and_then(|o| text(o, "id"))
                .or_else(|| text(rel, "target"));
            t.push_text(id.unwrap_or_default());
        }
        e.push(t);
        e.text_opt("ordering-key", nonzero(rel, "ordering-key"));
        e.text_opt("direction", text(rel, "direction"));
        // Schema order (XMLSerializer writes the dates first).
        self.relation_attributes(&mut e, rel);
        e.text_opt("begin", text(rel, "begin"));
        e.text_opt("end", text(rel, "end"));
        if is_true(rel, "ended") {
            e.text("ended", "true");
        }
        if key != "url"
            && let Some(target) = target
            && let Some(t) = self.entity(key, target, false, cx.relation_target())
        {
            e.push(t);
        }
        e.text_opt("source-credit", text(rel, "source-credit"));
        e.text_opt("target-credit", text(rel, "target-credit"));
        e
    }

    fn relation_attributes(&self, e: &mut El, rel: &'a Obj) {
        let Some(attrs) = list(rel, "attributes").filter(|l| !l.is_empty()) else {
            return;
        };
        let lookup = |map: &str, name: &str| {
            obj(rel, map)
                .and_then(|m| m.get(name))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        let mut l = El::new("attribute-list");
        for a in attrs {
            // Lookup answers list names; search answers objects.
            let (name, id, value, credit) = match a {
                Value::String(name) => (
                    name.as_str(),
                    lookup("attribute-ids", name),
                    lookup("attribute-values", name),
                    lookup("attribute-credits", name),
                ),
                Value::Object(o) => (
                    text(o, "attribute")
                        .or_else(|| text(o, "content"))
                        .unwrap_or_default(),
                    text(o, "type-id"),
                    text(o, "value"),
                    text(o, "credited-as"),
                ),
                _ => continue,
            };
            let mut ae = El::new("attribute");
            ae.attr_opt("type-id", id);
            // A text value wins over a credit, as in XMLSerializer.
            if let Some(v) = value {
                ae.attr("value", v);
            } else {
                ae.attr_opt("credited-as", credit);
            }
            ae.push_text(name);
            l.push(ae);
        }
        e.push(l);
    }

    // -- entities -------------------------------------------------------------

    fn artist(&self, m: &'a Obj, toplevel: bool, cx: Ctx) -> El {
        let compact = !toplevel && text(m, "id") == Some(VARIOUS_ARTISTS);
        let mut e = Self::typed_entity("artist", m);
        e.text_opt("name", m.get("name").and_then(Value::as_str));
        e.text_opt("sort-name", text(m, "sort-name"));
        if toplevel {
            Self::type_elem(&mut e, "gender", text(m, "gender"), text(m, "gender-id"));
        }
        e.text_opt("country", text(m, "country"));
        if toplevel {
            if let Some(area) = obj(m, "area") {
                e.push(self.area("area", area, true, cx));
            }
            if let Some(area) = either(m, "begin-area", "begin_area").and_then(Value::as_object) {
                e.push(self.area("begin-area", area, true, cx));
            }
            if let Some(area) = either(m, "end-area", "end_area").and_then(Value::as_object) {
                e.push(self.area("end-area", area, true, cx));
            }
        }
        Self::annotation(&mut e, m, toplevel);
        e.text_opt("disambiguation", text(m, "disambiguation"));
        self.ipis_isnis(&mut e, m, true);
        if toplevel {
            Self::life_span(&mut e, m, true);
        }
        if cx.show_artist_aliases && !compact {
            self.alias_list(&mut e, m, cx);
        }
        if toplevel {
            self.sub_list(&mut e, m, "recordings", Resource::Recording, cx);
            self.sub_list(&mut e, m, "releases", Resource::Release, cx);
            self.sub_list(&mut e, m, "release-groups", Resource::ReleaseGroup, cx);
            self.sub_list(&mut e, m, "works", Resource::Work, cx);
        }
        self.relation_lists(&mut e, m, cx);
        if !compact {
            if cx.show_artist_tags {
                self.tags_and_genres(&mut e, m, cx);
            }
            self.ratings(&mut e, m);
        }
        e
    }

    /// `<ipi>` (the first, unless `first` is false), `<ipi-list>`, `<isni-list>`.
    fn ipis_isnis(&self, e: &mut El, m: &Obj, first: bool) {
        if let Some(ipis) = list(m, "ipis").filter(|l| !l.is_empty()) {
            if first {
                e.text_opt("ipi", ipis.first().and_then(Value::as_str));
            }
            let mut l = El::new("ipi-list");
            ipis.iter()
                .filter_map(Value::as_str)
                .for_each(|i| l.text("ipi", i));
            e.push(l);
        }
        if let Some(isnis) = list(m, "isnis").filter(|l| !l.is_empty()) {
            let mut l = El::new("isni-list");
            isnis
                .iter()
                .filter_map(Value::as_str)
                .for_each(|i| l.text("isni", i));
            e.push(l);
        }
    }

    /// A capped sub-list of a lookup (an artist's releases, …): written
    /// whenever its `inc` was asked for, even empty. Its items are nested.
    fn sub_list(&self, e: &mut El, m: &'a Obj, key: &str, items: Resource, cx: Ctx) {
        let Some(values) = list(m, key) else {
            return;
        };
        let mut l = El::new(list_name(items));
        // A search answer's release group says how many releases it has.
        let count = if self.search { num(m, "count") } else { None };
        l.attr("count", count.unwrap_or_else(|| values.len().to_string()));
        for v in objects(values) {
            if let Some(x) = self.entity(items.as_str(), v, false, cx) {
                l.push(x);
            }
        }
        e.push(l);
    }

    fn release_group(&self, m: &'a Obj, toplevel: bool, cx: Ctx) -> El {
        let mut e = El::new("release-group");
        e.attr_opt("id", text(m, "id"));
        let primary = text(m, "primary-type");
        let secondary: Vec<(&str, Option<&str>)> = list(m, "secondary-types")
            .unwrap_or_default()
            .iter()
            .enumerate()
            .filter_map(|(i, name)| {
                let id = list(m, "secondary-type-ids")
                    .and_then(|ids| ids.get(i))
                    .and_then(Value::as_str);
                Some((name.as_str()?, id))
            })
            .collect();
        let (type_name, type_id) =
            release_group_type(primary, text(m, "primary-type-id"), &secondary);
        if let Some(t) = type_name {
            e.attr("type", t);
            e.attr_opt("type-id", type_id);
        }
        e.text_opt("title", m.get("title").and_then(Value::as_str));
        Self::annotation(&mut e, m, toplevel);
        e.text_opt("disambiguation", text(m, "disambiguation"));
        e.text_opt("first-release-date", text(m, "first-release-date"));
        Self::type_elem(&mut e, "primary-type", primary, text(m, "primary-type-id"));
        if !secondary.is_empty() {
            let mut l = El::new("secondary-type-list");
            for (name, id) in &secondary {
                Self::type_elem(&mut l, "secondary-type", Some(name), *id);
            }
            e.push(l);
        }
        self.artist_credit(&mut e, m, cx);
        if toplevel {
            self.sub_list(
                &mut e,
                m,
                "releases",
                Resource::Release,
                cx.release_list_of_entity(),
            );
        }
        self.alias_list(&mut e, m, cx);
        self.relation_lists(&mut e, m, cx);
        self.tags_and_genres(&mut e, m, cx);
        self.ratings(&mut e, m);
        e
    }

    fn release(&self, m: &'a Obj, toplevel: bool, cx: Ctx) -> El {
        let mut e = El::new("release");
        e.attr_opt("id", text(m, "id"));
        e.text_opt("title", m.get("title").and_then(Value::as_str));
        Self::type_elem(&mut e, "status", text(m, "status"), text(m, "status-id"));
        e.text_opt("quality", text(m, "quality"));
        Self::annotation(&mut e, m, toplevel);
        e.text_opt("disambiguation", text(m, "disambiguation"));
        Self::type_elem(
            &mut e,
            "packaging",
            text(m, "packaging"),
            text(m, "packaging-id"),
        );
        if let Some(tr) = obj(m, "text-representation") {
            let (language, script) = (text(tr, "language"), text(tr, "script"));
            if language.is_some() || script.is_some() {
                let mut t = El::new("text-representation");
                t.text_opt("language", language);
                t.text_opt("script", script);
                e.push(t);
            }
        }
        self.artist_credit(&mut e, m, cx);
        self.alias_list(&mut e, m, cx);
        if let Some(rg) = obj(m, "release-group") {
            e.push(self.release_group(rg, false, cx));
        }
        if let Some(events) = list(m, "release-events").filter(|l| !l.is_empty()) {
            let first = events.first().and_then(Value::as_object);
            let date = text(m, "date").or_else(|| first.and_then(|f| text(f, "date")));
            e.text_opt("date", date);
            let country = text(m, "country").or_else(|| {
                first
                    .and_then(|f| obj(f, "area"))
                    .and_then(|a| list(a, "iso-3166-1-codes"))
                    .and_then(|c| c.first())
                    .and_then(Value::as_str)
            });
            e.text_opt("country", country);
            let mut l = El::new("release-event-list");
            self.count(&mut l, events.len());
            for ev in objects(events) {
                let mut re = El::new("release-event");
                re.text_opt("date", text(ev, "date"));
                if let Some(area) = obj(ev, "area") {
                    re.push(self.area("area", area, toplevel, cx));
                }
                l.push(re);
            }
            e.push(l);
        } else if self.search {
            // Search hits may carry a date or country without events.
            e.text_opt("date", text(m, "date"));
            e.text_opt("country", text(m, "country"));
        }
        if let Some(barcode) = m.get("barcode").and_then(Value::as_str) {
            e.text("barcode", barcode);
        }
        e.text_opt("asin", text(m, "asin"));
        if let Some(caa) = obj(m, "cover-art-archive") {
            let flag = |k: &str| if is_true(caa, k) { "true" } else { "false" };
            let mut c = El::new("cover-art-archive");
            c.text("artwork", flag("artwork"));
            c.text("count", num(caa, "count").unwrap_or_else(|| "0".to_owned()));
            c.text("front", flag("front"));
            c.text("back", flag("back"));
            if is_true(caa, "darkened") {
                c.text("darkened", "true");
            }
            e.push(c);
        }
        if (toplevel || self.search)
            && let Some(infos) = list(m, "label-info")
        {
            let mut l = El::new("label-info-list");
            self.count(&mut l, infos.len());
            for li in objects(infos) {
                let mut x = El::new("label-info");
                x.text_opt("catalog-number", text(li, "catalog-number"));
                if let Some(label) = obj(li, "label") {
                    x.push(self.label(label, false, cx));
                }
                l.push(x);
            }
            e.push(l);
        }
        if let Some(media) = list(m, "media") {
            e.push(self.medium_list(m, media, cx));
        }
        self.relation_lists(&mut e, m, cx);
        self.tags_and_genres(&mut e, m, cx);
        // Releases are not rated. MBS-8845: no empty collection list.
        if let Some(collections) = list(m, "collections").filter(|l| !l.is_empty()) {
            let mut l = El::new("collection-list");
            l.attr("count", collections.len().to_string());
            for c in objects(collections) {
                l.push(self.collection(c));
            }
            e.push(l);
        }
        e
    }

    fn medium_list(&self, release: &'a Obj, media: &'a [Value], cx: Ctx) -> El {
        let mut l = El::new("medium-list");
        if self.search {
            // The search server's `count` (media) and `<track-count>`.
            l.attr_opt("count", num(release, "count"));
            l.text_opt("track-count", num(release, "track-count"));
        } else {
            l.attr("count", media.len().to_string());
        }
        let mut sorted: Vec<&Obj> = objects(media).collect();
        sorted.sort_by_key(|m| m.get("position").and_then(Value::as_i64).unwrap_or(0));
        for medium in sorted {
            l.push(self.medium(medium, cx));
        }
        l
    }

    fn medium(&self, m: &'a Obj, cx: Ctx) -> El {
        let mut e = El::new("medium");
        e.attr_opt("id", text(m, "id"));
        e.text_opt("title", text(m, "title"));
        e.text_opt("position", num(m, "position"));
        Self::type_elem(&mut e, "format", text(m, "format"), text(m, "format-id"));
        if let Some(discs) = list(m, "discs") {
            let mut l = El::new("disc-list");
            l.attr("count", discs.len().to_string());
            let mut sorted: Vec<&Obj> = objects(discs).collect();
            sorted.sort_by(|a, b| text(a, "id").cmp(&text(b, "id")));
            for d in sorted {
                l.push(self.disc(d));
            }
            e.push(l);
        } else if let Some(count) = num(m, "disc-count") {
            let mut l = El::new("disc-list");
            l.attr("count", count);
            e.push(l);
        }
        // The pregap, then the track list, then the data tracks.
        if let Some(pregap) = obj(m, "pregap") {
            e.push(self.track("pregap", pregap, cx));
        }
        let tracks = list(m, "tracks").or_else(|| list(m, "track"));
        let mut l = El::new("track-list");
        let count =
            num(m, "track-count").unwrap_or_else(|| tracks.map_or(0, <[Value]>::len).to_string());
        l.attr("count", count);
        let offset = num(m, "track-offset").or_else(|| {
            // Tracks were loaded but only a pregap or data tracks exist.
            if m.contains_key("pregap") {
                Some("0".to_owned())
            } else {
                list(m, "data-tracks")
                    .and_then(|d| d.first())
                    .and_then(Value::as_object)
                    .and_then(|t| t.get("position"))
                    .and_then(Value::as_i64)
                    .map(|p| (p - 1).to_string())
            }
        });
        l.attr_opt("offset", offset);
        for t in objects(tracks.unwrap_or_default()) {
            l.push(self.track("track", t, cx));
        }
        e.push(l);
        if let Some(data) = list(m, "data-tracks").filter(|l| !l.is_empty()) {
            let mut l = El::new("data-track-list");
            l.attr("count", data.len().to_string());
            for t in objects(data) {
                l.push(self.track("track", t, cx));
            }
            e.push(l);
        }
        e
    }

    fn track(&self, name: &'static str, t: &'a Obj, cx: Ctx) -> El {
        let mut e = El::new(name);
        e.attr_opt("id", text(t, "id"));
        e.text_opt("position", num(t, "position"));
        e.text_opt("number", t.get("number").and_then(Value::as_str));
        let recording = obj(t, "recording");
        let title = t.get("title").and_then(Value::as_str);
        let recording_title = recording
            .and_then(|r| r.get("title"))
            .and_then(Value::as_str);
        if recording.is_none() || title != recording_title {
            e.text_opt("title", title);
        }
        e.text_opt("length", nonzero(t, "length"));
        // The track's credit only where it is not the recording's.
        let same_credit = recording.is_some_and(|r| same_artist_credit(t, r));
        if !same_credit {
            self.artist_credit(
                &mut e,
                t,
                Ctx {
                    show_aliases: true,
                    ..cx
                },
            );
        }
        if let Some(r) = recording {
            e.push(self.recording(r, false, cx));
        }
        e
    }

    fn disc(&self, m: &Obj) -> El {
        let mut e = El::new("disc");
        e.attr_opt("id", text(m, "id"));
        e.text_opt("sectors", num(m, "sectors"));
        let offsets = list(m, "offsets").unwrap_or_default();
        let mut l = El::new("offset-list");
        l.attr(
            "count",
            num(m, "offset-count").unwrap_or_else(|| offsets.len().to_string()),
        );
        for (i, o) in offsets.iter().enumerate() {
            if let Some(v) = number(o) {
                let mut x = El::new("offset");
                x.attr("position", (i + 1).to_string());
                x.push_text(v);
                l.push(x);
            }
        }
        e.push(l);
        e
    }

    fn cdstub(&self, m: &Obj) -> El {
        let mut e = El::new("cdstub");
        e.attr_opt("id", text(m, "id"));
        e.text(
            "title",
            m.get("title").and_then(Value::as_str).unwrap_or_default(),
        );
        e.text_opt("artist", text(m, "artist"));
        e.text_opt("barcode", text(m, "barcode"));
        e.text_opt("disambiguation", text(m, "disambiguation"));
        let tracks = list(m, "tracks").unwrap_or_default();
        let mut l = El::new("track-list");
        // A search hit's `count` is its number of tracks.
        let count = num(m, "track-count").or_else(|| num(m, "count"));
        l.attr("count", count.unwrap_or_else(|| tracks.len().to_string()));
        for t in objects(tracks) {
            let mut x = El::new("track");
            x.text(
                "title",
                t.get("title").and_then(Value::as_str).unwrap_or_default(),
            );
            x.text_opt("artist", text(t, "artist"));
            x.text("length", num(t, "length").unwrap_or_else(|| "0".to_owned()));
            l.push(x);
        }
        e.push(l);
        e
    }

    fn recording(&self, m: &'a Obj, toplevel: bool, cx: Ctx) -> El {
        let mut e = El::new("recording");
        e.attr_opt("id", text(m, "id"));
        e.text_opt("title", m.get("title").and_then(Value::as_str));
        e.text_opt("length", nonzero(m, "length"));
        Self::annotation(&mut e, m, toplevel);
        e.text_opt("disambiguation", text(m, "disambiguation"));
        if is_true(m, "video") {
            e.text("video", "true");
        }
        self.artist_credit(&mut e, m, cx);
        e.text_opt("first-release-date", text(m, "first-release-date"));
        if toplevel {
            self.sub_list(
                &mut e,
                m,
                "releases",
                Resource::Release,
                cx.release_list_of_entity(),
            );
        }
        self.alias_list(&mut e, m, cx);
        if let Some(isrcs) = self.known(m).isrcs {
            let mut l = El::new("isrc-list");
            self.count(&mut l, isrcs.len());
            let mut sorted: Vec<&str> = isrcs.iter().filter_map(Value::as_str).collect();
            sorted.sort_unstable();
            for i in sorted {
                let mut x = El::new("isrc");
                x.attr("id", i);
                l.push(x);
            }
            e.push(l);
        }
        self.relation_lists(&mut e, m, cx);
        self.tags_and_genres(&mut e, m, cx);
        self.ratings(&mut e, m);
        e
    }

    fn label(&self, m: &'a Obj, toplevel: bool, cx: Ctx) -> El {
        let mut e = Self::typed_entity("label", m);
        e.text_opt("name", m.get("name").and_then(Value::as_str));
        e.text_opt("sort-name", self.name_as_sort_name(m));
        e.text_opt("label-code", nonzero(m, "label-code"));
        self.ipis_isnis(&mut e, m, true);
        Self::annotation(&mut e, m, toplevel);
        // Schema order: after the codes and the annotation.
        e.text_opt("disambiguation", text(m, "disambiguation"));
        if toplevel {
            if let Some(area) = obj(m, "area") {
                e.text_opt("country", text(m, "country"));
                e.push(self.area("area", area, true, cx));
            }
            Self::life_span(&mut e, m, true);
        }
        self.alias_list(&mut e, m, cx);
        if toplevel {
            self.sub_list(&mut e, m, "releases", Resource::Release, cx);
        }
        self.relation_lists(&mut e, m, cx);
        self.tags_and_genres(&mut e, m, cx);
        self.ratings(&mut e, m);
        e
    }

    fn work(&self, m: &'a Obj, toplevel: bool, cx: Ctx) -> El {
        let mut e = Self::typed_entity("work", m);
        e.text_opt("title", m.get("title").and_then(Value::as_str));
        let languages: Vec<&str> = list(m, "languages")
            .unwrap_or_default()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        if languages.is_empty() {
            // Captures before MBS-5452 have only `language`.
            e.text_opt("language", text(m, "language"));
        } else {
            e.text(
                "language",
                if languages.len() > 1 {
                    "mul"
                } else {
                    languages[0]
                },
            );
            let mut l = El::new("language-list");
            languages.iter().for_each(|lang| l.text("language", *lang));
            e.push(l);
        }
        let iswcs: Vec<&str> = list(m, "iswcs")
            .unwrap_or_default()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        if let Some(first) = iswcs.first() {
            e.text("iswc", *first);
            let mut l = El::new("iswc-list");
            iswcs.iter().for_each(|i| l.text("iswc", *i));
            e.push(l);
        }
        if let Some(attrs) = list(m, "attributes").filter(|l| !l.is_empty()) {
            let mut l = El::new("attribute-list");
            for a in objects(attrs) {
                let mut x = El::new("attribute");
                x.attr_opt("value-id", text(a, "value-id"));
                x.attr_opt("type", text(a, "type"));
                x.attr_opt("type-id", text(a, "type-id"));
                x.push_text(a.get("value").and_then(Value::as_str).unwrap_or_default());
                l.push(x);
            }
            e.push(l);
        }
        Self::annotation(&mut e, m, toplevel);
        e.text_opt("disambiguation", text(m, "disambiguation"));
        self.alias_list(&mut e, m, cx);
        self.relation_lists(&mut e, m, cx);
        self.tags_and_genres(&mut e, m, cx);
        self.ratings(&mut e, m);
        e
    }

    /// An area under `name` (`area`, `begin-area`, `end-area`).
    fn area(&self, name: &'static str, m: &'a Obj, toplevel: bool, cx: Ctx) -> El {
        let mut e = Self::typed_entity(name, m);
        e.text_opt("name", m.get("name").and_then(Value::as_str));
        e.text_opt("sort-name", self.name_as_sort_name(m));
        e.text_opt("disambiguation", text(m, "disambiguation"));
        for (key, old, list_el, item) in [
            (
                "iso-3166-1-codes",
                "iso_3166_1_codes",
                "iso-3166-1-code-list",
                "iso-3166-1-code",
            ),
            (
                "iso-3166-2-codes",
                "iso_3166_2_codes",
                "iso-3166-2-code-list",
                "iso-3166-2-code",
            ),
            (
                "iso-3166-3-codes",
                "iso_3166_3_codes",
                "iso-3166-3-code-list",
                "iso-3166-3-code",
            ),
        ] {
            let codes = either(m, key, old).and_then(Value::as_array);
            if let Some(codes) = codes.filter(|c| !c.is_empty()) {
                let mut l = El::new(list_el);
                codes
                    .iter()
                    .filter_map(Value::as_str)
                    .for_each(|c| l.text(item, c));
                e.push(l);
            }
        }
        if toplevel {
            Self::annotation(&mut e, m, toplevel);
            Self::life_span(&mut e, m, true);
        }
        self.alias_list(&mut e, m, cx);
        self.relation_lists(&mut e, m, cx);
        self.tags_and_genres(&mut e, m, cx);
        e
    }

    fn place(&self, m: &'a Obj, toplevel: bool, cx: Ctx) -> El {
        let mut e = Self::typed_entity("place", m);
        e.text_opt("name", m.get("name").and_then(Value::as_str));
        e.text_opt("disambiguation", text(m, "disambiguation"));
        e.text_opt("address", text(m, "address"));
        if let Some(c) = obj(m, "coordinates") {
            let mut x = El::new("coordinates");
            x.text_opt("latitude", num(c, "latitude"));
            x.text_opt("longitude", num(c, "longitude"));
            e.push(x);
        }
        if toplevel {
            Self::annotation(&mut e, m, toplevel);
            if let Some(area) = obj(m, "area") {
                e.push(self.area("area", area, true, cx));
            }
            Self::life_span(&mut e, m, true);
        }
        self.alias_list(&mut e, m, cx);
        self.relation_lists(&mut e, m, cx);
        self.tags_and_genres(&mut e, m, cx);
        self.ratings(&mut e, m);
        e
    }

    /// Instruments and series, which differ only in an instrument's
    /// description.
    fn simple(&self, name: &'static str, m: &'a Obj, toplevel: bool, cx: Ctx) -> El {
        let mut e = Self::typed_entity(name, m);
        e.text_opt("name", m.get("name").and_then(Value::as_str));
        e.text_opt("disambiguation", text(m, "disambiguation"));
        e.text_opt("description", text(m, "description"));
        Self::annotation(&mut e, m, toplevel);
        self.alias_list(&mut e, m, cx);
        self.relation_lists(&mut e, m, cx);
        self.tags_and_genres(&mut e, m, cx);
        e
    }

    fn event(&self, m: &'a Obj, toplevel: bool, cx: Ctx) -> El {
        let mut e = Self::typed_entity("event", m);
        e.text_opt("name", m.get("name").and_then(Value::as_str));
        e.text_opt("disambiguation", text(m, "disambiguation"));
        if is_true(m, "cancelled") {
            e.text("cancelled", "true");
        }
        // At every level, and without `ended`.
        Self::life_span(&mut e, m, false);
        e.text_opt("time", text(m, "time"));
        e.text_opt("setlist", text(m, "setlist"));
        Self::annotation(&mut e, m, toplevel);
        self.alias_list(&mut e, m, cx);
        self.relation_lists(&mut e, m, cx);
        self.tags_and_genres(&mut e, m, cx);
        self.ratings(&mut e, m);
        e
    }

    fn url(&self, m: &'a Obj, cx: Ctx) -> El {
        let mut e = El::new("url");
        e.attr_opt("id", text(m, "id"));
        e.text_opt("resource", m.get("resource").and_then(Value::as_str));
        self.relation_lists(&mut e, m, cx);
        e
    }

    /// A genre; `count` for an entity's genres.
    fn genre(&self, m: &Obj, count: Option<String>) -> El {
        let mut e = El::new("genre");
        e.attr_opt("id", text(m, "id"));
        e.text_opt("name", m.get("name").and_then(Value::as_str));
        e.text_opt("disambiguation", text(m, "disambiguation"));
        e.attr_opt("count", count);
        e
    }

    /// A collection: name and editor, and `<x-list count>` of its items.
    fn collection(&self, m: &Obj) -> El {
        let mut e = El::new("collection");
        e.attr_opt("id", text(m, "id"));
        if let Some(t) = text(m, "type") {
            e.attr("type", t);
            e.attr_opt("entity-type", text(m, "entity-type"));
        }
        e.text_opt("name", m.get("name").and_then(Value::as_str));
        e.text_opt("editor", text(m, "editor"));
        let entity =
            text(m, "entity-type").and_then(|t| Resource::from_segment(&t.replace('_', "-")));
        if let Some(r) = entity
            && let Some(count) = num(m, &format!("{}-count", r.as_str()))
        {
            let mut l = El::new(list_name(r));
            l.attr("count", count);
            e.push(l);
        }
        e
    }

    /// An annotation search hit.
    fn annotation_hit(&self, m: &Obj) -> El {
        let mut e = El::new("annotation");
        e.attr_opt("type", text(m, "type"));
        e.text_opt("entity", text(m, "entity"));
        e.text_opt("name", text(m, "name"));
        e.text(
            "text",
            m.get("text").and_then(Value::as_str).unwrap_or_default(),
        );
        e
    }
}

/// XMLSerializer's release group `type`: the primary type, except that an
/// album takes the first of its secondary types in this order; without a
/// primary type, the first secondary type.
fn release_group_type<'v>(
    primary: Option<&'v str>,
    primary_id: Option<&'v str>,
    secondary: &[(&'v str, Option<&'v str>)],
) -> (Option<&'v str>, Option<&'v str>) {
    const ALBUM_FALLBACKS: &[&str] = &[
        "Compilation",
        "Remix",
        "Soundtrack",
        "Live",
        "Spokenword",
        "Interview",
    ];
    match primary {
        Some("Album") => ALBUM_FALLBACKS
            .iter()
            .find_map(|f| secondary.iter().find(|(name, _)| name == f))
            .map_or((primary, primary_id), |(name, id)| (Some(*name), *id)),
        Some(_) => (primary, primary_id),
        None => secondary
            .first()
            .map_or((None, None), |(name, id)| (Some(*name), *id)),
    }
}

/// MusicBrainz's artist credit equality: the same names, join phrases and
/// artists, in order.
fn same_artist_credit(a: &Obj, b: &Obj) -> bool {
    let (Some(x), Some(y)) = (list(a, "artist-credit"), list(b, "artist-credit")) else {
        return false;
    };
    x.len() == y.len() && x.iter().zip(y).all(|(p, q)| credit_key(p) == credit_key(q))
}

/// What makes one name of an artist credit: name, join phrase, artist.
fn credit_key(c: &Value) -> Option<(&str, &str, &str)> {
    let c = c.as_object()?;
    Some((
        c.get("name").and_then(Value::as_str).unwrap_or_default(),
        c.get("joinphrase")
            .and_then(Value::as_str)
            .unwrap_or_default(),
        obj(c, "artist")
            .and_then(|a| text(a, "id"))
            .unwrap_or_default(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_document() {
        assert_eq!(
            error("Invalid mbid & <more>"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<error><text>Invalid mbid &amp; &lt;more&gt;</text>\
             <text>For usage, please see: https://musicbrainz.org/development/mmd</text></error>\n"
        );
    }

    #[test]
    fn release_group_type_fallback() {
        let comp = [("Live", Some("l")), ("Compilation", Some("c"))];
        assert_eq!(
            release_group_type(Some("Album"), Some("a"), &comp),
            (Some("Compilation"), Some("c"))
        );
        assert_eq!(
            release_group_type(Some("Album"), Some("a"), &[("Demo", Some("d"))]),
            (Some("Album"), Some("a"))
        );
        assert_eq!(
            release_group_type(Some("Single"), Some("s"), &comp),
            (Some("Single"), Some("s"))
        );
        assert_eq!(
            release_group_type(None, None, &comp),
            (Some("Live"), Some("l"))
        );
        assert_eq!(release_group_type(None, None, &[]), (None, None));
    }

    #[test]
    fn numbers_print_as_perl_does() {
        assert_eq!(number(&serde_json::json!(5)), Some("5".to_owned()));
        assert_eq!(number(&serde_json::json!(4.0)), Some("4".to_owned()));
        assert_eq!(number(&serde_json::json!(3.5)), Some("3.5".to_owned()));
        assert_eq!(
            number(&serde_json::json!("51.94")),
            Some("51.94".to_owned())
        );
        assert_eq!(number(&Value::Null), None);
    }
}
