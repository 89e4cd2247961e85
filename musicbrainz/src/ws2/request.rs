//! A ws/2 request, parsed and validated as musicbrainz-server does it, and
//! the two strings the cache needs: the key of its answer and the upstream
//! request that produces that answer.
//!
//! The checks run in MusicBrainz's order (§1.1): decoding, format (406),
//! route (404), parameter set, `inc`, `type`/`status`, then the action's own
//! checks (ids, `limit`/`offset`, TOC). The first failure is the answer, with
//! MusicBrainz's status and message. A request that passes carries only
//! canonical values, so two requests MusicBrainz answers alike key alike:
//! `inc` is a normalised set, ids are lower-case, defaults are filled in,
//! `type=sa-album|ep` is `album|ep`, and parameters that change nothing
//! (`fmt`, `client`, unknown ones, `limit` on a lookup) are gone.
//!
//! One rule covers every parameter MusicBrainz reads as a single value and
//! that may come twice (`type`, `status`, `cdstubs`, `toc`, `entity`, …): we
//! use the first one. MusicBrainz would see a Perl array there and mostly
//! fail on it (`ARRAY(0x…) is not a recognized release-group type.`), with a
//! message no one can reproduce. Where its answer to a repeated parameter is
//! well defined we give it instead: `inc` (400), `fmt` (406), `query` (400),
//! `limit`/`offset` on a browse (400), a linked id (400 `Invalid mbid.`) and
//! `resource` (a list of URLs).

use std::collections::BTreeMap;

use musicmeta_shared::mbid::Mbid;

use super::format::{self, Format};
use super::inc::{self, IncRules, IncSet};
use super::resource::Resource;
use super::{Ws2Error, perl_number, perl_true};

/// What a request asks for, beyond its resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// `/ws/2/<resource>/<id>`. The id is a lower-case MBID for entity
    /// resources and collections; disc ids, ISRCs and ISWCs are kept as
    /// given (MusicBrainz matches them verbatim). For `tag` and `rating`
    /// (`?id=…&entity=…`, always authenticated) it is the `id` parameter.
    Lookup { id: String },
    /// `/ws/2/<resource>?<linked>=<mbid>`: the entities linked to one entity.
    Browse {
        /// The linked entity's resource: `Artist` for `track_artist`, and
        /// `Release` for `track` (a track is a place on a release).
        linked: Resource,
        id: Mbid,
        limit: u32,
        offset: u32,
        /// The linked parameter as MusicBrainz names it (`artist`,
        /// `track_artist`, `release-group`, `track`, `collection`, …):
        /// `linked` alone cannot tell `artist` from `track_artist`.
        param: &'static str,
    },
    /// `/ws/2/<resource>?query=…`: passed to the search server.
    Search {
        query: String,
        limit: u32,
        offset: u32,
        dismax: bool,
    },
    /// `/ws/2/url?resource=…`: one URL gives the URL object, two or more a
    /// list (sorted, at most 100: MusicBrainz reads only the first 100).
    UrlByResource { resources: Vec<String> },
    /// `/ws/2/discid/?toc=…` or `/ws/2/discid/-?toc=…` (any invalid disc id):
    /// the fuzzy TOC lookup. `toc` is canonical: `+`-joined numbers.
    Toc { toc: String },
    /// `/ws/2/genre/all`.
    GenreAll { limit: u32, offset: u32 },
    /// `/ws/2/collection`: the caller's own collections (authenticated).
    CollectionList,
    /// `/ws/2/collection?editor=<name>`: an editor's collections.
    EditorCollections {
        editor: String,
        limit: u32,
        offset: u32,
    },
    /// `/ws/2/collection/<id>/<plural>`: the items of a collection.
    CollectionContents {
        id: Mbid,
        entity: Resource,
        limit: u32,
        offset: u32,
    },
}

/// A validated ws/2 GET request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub resource: Resource,
    pub kind: Kind,
    /// The normalised `inc`; empty where MusicBrainz ignores `inc` (searches,
    /// genres, a lookup path that carries `query=`).
    pub inc: IncSet,
    /// The other parameters that shape the answer, canonical, by their
    /// MusicBrainz names: `type`, `status`, `release-group-status`,
    /// `cdstubs`, `toc`, `media-format`, disc-id `limit`/`offset` when not
    /// the default, `entity`. Never `fmt`, `client` or `access_token`.
    pub params: BTreeMap<String, String>,
    pub format: Format,
    /// The query carries `access_token`: MusicBrainz authenticates the
    /// request with it, so the answer may be the caller's own (private
    /// collections). The token itself is never kept.
    pub credentials_in_query: bool,
}

const UNDECODABLE: &str = "Sorry, but your request could not be decoded. \
                           Please ensure your request is encoded as UTF-8 and try again.";
const NO_MATCH: &str = "The given parameters do not match any available query type for the";
const BAD_PAGING: &str = "The 'limit' and 'offset' parameters must be positive integers";

impl Request {
    /// `path`: the raw path after `/ws/2/` (e.g. "release/<id>", "release",
    /// "release/"), percent-encoded as received; `query`: the raw query
    /// string as received (None when absent); `accept`: the Accept header.
    pub fn parse(
        path: &str,
        query: Option<&str>,
        accept: Option<&str>,
    ) -> Result<Request, Ws2Error> {
        let q = Query::parse(query)?;
        let segments = decode_path(path)?;
        let resource = segments.first().and_then(|s| Resource::from_segment(s));
        let format = negotiate_request(resource, &q, accept)?;
        let resource = resource.ok_or_else(Ws2Error::not_found)?;
        let route = route(resource, &segments[1..]).ok_or_else(Ws2Error::not_found)?;
        Parser {
            resource,
            q: &q,
            format,
        }
        .parse(route)
    }

    /// Canonical key of the answer, independent of the format and of
    /// parameter order/encoding/case of inc aliases: e.g.
    /// "release/0a1b…?inc=aliases+labels",
    /// "release?artist=<mbid>&inc=labels&limit=25&offset=0",
    /// "release?query=…&limit=25&offset=0". Two requests MusicBrainz would
    /// answer the same way get the same key.
    pub fn key(&self) -> String {
        self.canonical()
    }

    /// What to ask MusicBrainz for this exact answer:
    /// "release/<id>?inc=a+b&fmt=json" (path and query, no leading slash).
    /// Credentials are not part of it: for [`Request::needs_credentials`]
    /// the caller forwards the client's own.
    pub fn upstream(&self) -> String {
        let mut s = self.canonical();
        s.push(if s.contains('?') { '&' } else { '?' });
        s.push_str("fmt=");
        s.push_str(self.format.as_fmt());
        s
    }

    /// user-tags/user-genres/user-ratings/user-collections: only an
    /// authenticated upstream request can answer. Also true for a request
    /// that authenticates itself (`access_token`), for one's own collection
    /// list, and for user tag and rating lookups.
    pub fn needs_credentials(&self) -> bool {
        [
            "user-tags",
            "user-genres",
            "user-ratings",
            "user-collections",
        ]
        .iter()
        .any(|t| self.inc.contains(t))
            || self.credentials_in_query
            || matches!(self.kind, Kind::CollectionList)
            || self.resource == Resource::Rating
            || (self.resource == Resource::Tag && matches!(self.kind, Kind::Lookup { .. }))
    }

    /// Path and query without `fmt`: the key, and the upstream request
    /// before its format. The kind's own parameter (linked id, query, toc,
    /// resource) comes first, then the rest sorted by name.
    fn canonical(&self) -> String {
        let mut path = self.resource.as_str().to_owned();
        let mut lead: Vec<(&str, String)> = Vec::new();
        let mut rest: BTreeMap<&str, String> = self
            .params
            .iter()
            .map(|(k, v)| (k.as_str(), encode_value(v)))
            .collect();
        if !self.inc.is_empty() {
            // Tokens are `[a-z-]`; `+` separates them, as MusicBrainz reads it.
            rest.insert("inc", self.inc.as_query());
        }
        let mut paging = None;
        match &self.kind {
            Kind::Lookup { id } => match self.resource {
                Resource::Tag | Resource::Rating => lead.push(("id", encode_value(id))),
                _ => {
                    path.push('/');
                    path.push_str(&encode_path(id));
                }
            },
            Kind::Browse {
                id,
                limit,
                offset,
                param,
                ..
            } => {
                lead.push((param, id.to_string()));
                paging = Some((*limit, *offset));
            }
            Kind::Search {
                query,
                limit,
                offset,
                dismax,
            } => {
                lead.push(("query", encode_value(query)));
                if *dismax {
                    rest.insert("dismax", "true".to_owned());
                }
                paging = Some((*limit, *offset));
            }
            Kind::UrlByResource { resources } => {
                lead.extend(resources.iter().map(|r| ("resource", encode_value(r))));
            }
            Kind::Toc { toc } => {
                path.push_str("/-");
                // Digits joined by `+`, which MusicBrainz reads as spaces.
                lead.push(("toc", toc.clone()));
            }
            Kind::GenreAll { limit, offset } => {
                path.push_str("/all");
                paging = Some((*limit, *offset));
            }
            Kind::CollectionList => {}
            Kind::EditorCollections {
                editor,
                limit,
                offset,
            } => {
                lead.push(("editor", encode_value(editor)));
                paging = Some((*limit, *offset));
            }
            Kind::CollectionContents {
                id,
                entity,
                limit,
                offset,
            } => {
                path = format!("collection/{id}/{}", entity.list_key());
                paging = Some((*limit, *offset));
            }
        }
        if let Some((limit, offset)) = paging {
            rest.insert("limit", limit.to_string());
            rest.insert("offset", offset.to_string());
        }
        let mut out = path;
        let mut sep = '?';
        for (name, value) in lead.into_iter().chain(rest) {
            out.push(sep);
            out.push_str(name);
            out.push('=');
            out.push_str(&value);
            sep = '&';
        }
        out
    }
}

/// The format an error answer to this request is written in: the
/// negotiated one, or XML when negotiation itself failed (MusicBrainz writes
/// its 406 in XML). `None` when the request cannot be decoded: MusicBrainz
/// then answers 400 with a bare text body (the message of
/// [`Request::parse`]'s error).
pub fn error_format(path: &str, query: Option<&str>, accept: Option<&str>) -> Option<Format> {
    let q = Query::parse(query).ok()?;
    let segments = decode_path(path).ok()?;
    let resource = segments.first().and_then(|s| Resource::from_segment(s));
    Some(negotiate_request(resource, &q, accept).unwrap_or(Format::Xml))
}

/// `fmt` and `Accept` for `resource` (`None`: an unknown path, answered by a
/// controller with the usual two formats). A repeated `fmt` is a Perl array,
/// which names no format: 406. An `fmt` without `=` has no value, so
/// `Accept` decides.
fn negotiate_request(
    resource: Option<Resource>,
    q: &Query,
    accept: Option<&str>,
) -> Result<Format, Ws2Error> {
    let formats = format::formats_of(resource);
    match q.get("fmt") {
        Param::Many => Err(format::not_acceptable(formats)),
        Param::One(fmt) => format::negotiate_among(formats, fmt, accept),
        Param::Absent => format::negotiate_among(formats, None, accept),
    }
}

// ---------------------------------------------------------------------------
// Decoding

/// The query string as Catalyst decodes it: pairs split on `&` or `;`, `+`
/// is a space, `%XX` a byte (a malformed `%` stays as it is), then UTF-8.
#[derive(Debug)]
struct Query {
    /// In request order; the value is `None` for a parameter without `=`.
    pairs: Vec<(String, Option<String>)>,
}

/// A parameter as MusicBrainz sees it: absent, one value (`None` when it
/// had no `=`, which Perl reads as undef), or several (a Perl array).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Param<'a> {
    Absent,
    One(Option<&'a str>),
    Many,
}

impl Query {
    fn parse(raw: Option<&str>) -> Result<Query, Ws2Error> {
        let mut pairs = Vec::new();
        for pair in raw
            .unwrap_or("")
            .split(['&', ';'])
            .filter(|p| !p.is_empty())
        {
            let (name, value) = match pair.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (pair, None),
            };
            let value = value.map(|v| unescape(v, true)).transpose()?;
            let name = unescape(name, true)?;
            // No MusicBrainz name, id or query holds a control character;
            // NUL cannot even be stored. Refused up front, as gRPC does.
            if let Some(c) = value
                .as_deref()
                .and_then(|v| v.chars().find(|c| c.is_control()))
            {
                return Err(Ws2Error::bad_request(format!(
                    "{name} must not contain control characters (found U+{:04X})",
                    u32::from(c)
                )));
            }
            pairs.push((name, value));
        }
        Ok(Query { pairs })
    }

    fn get(&self, name: &str) -> Param<'_> {
        let mut found = self.pairs.iter().filter(|(n, _)| n == name);
        match (found.next(), found.next()) {
            (None, _) => Param::Absent,
            (Some((_, v)), None) => Param::One(v.as_deref()),
            (Some(_), Some(_)) => Param::Many,
        }
    }

    fn has(&self, name: &str) -> bool {
        self.pairs.iter().any(|(n, _)| n == name)
    }

    /// The first value (the rule for repeated parameters; see the module
    /// comment); `None` when absent or without `=`.
    fn first(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.as_deref())
    }

    fn values(&self, name: &str) -> Vec<Option<&str>> {
        self.pairs
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_deref())
            .collect()
    }

    /// MusicBrainz's "present and not empty" (`exists && ne ''`): an array
    /// (repeated parameter) counts as present.
    fn nonempty(&self, name: &str) -> bool {
        match self.get(name) {
            Param::Absent | Param::One(None) | Param::One(Some("")) => false,
            Param::One(Some(_)) | Param::Many => true,
        }
    }
}

/// Percent-decoding (and `+` as a space in queries), then UTF-8.
fn unescape(s: &str, plus_is_space: bool) -> Result<String, Ws2Error> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push((hi * 16 + lo) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus_is_space => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| Ws2Error::bad_request(UNDECODABLE))
}

/// The path after `/ws/2/` as segments: decoded, leading slashes dropped,
/// and trailing empty segments dropped as Perl's `split` drops them (so
/// `release/` is `release`).
fn decode_path(path: &str) -> Result<Vec<String>, Ws2Error> {
    let mut segments = path
        .trim_start_matches('/')
        .split('/')
        .map(|s| unescape(s, false))
        .collect::<Result<Vec<_>, _>>()?;
    while segments.last().is_some_and(String::is_empty) {
        segments.pop();
    }
    Ok(segments)
}

// ---------------------------------------------------------------------------
// Routes and parameter sets

/// Which action the path reaches in MusicBrainz's dispatch.
#[derive(Debug, Clone, Copy)]
enum Route<'a> {
    /// `/ws/2/<resource>`: search or browse (or a URL by resource).
    Base,
    /// `/ws/2/<resource>/<id>`.
    Id(&'a str),
    GenreAll,
    /// `/ws/2/discid[/<id>[/…]]`: the action takes any number of segments.
    DiscId(Option<&'a str>),
    CollectionItems(&'a str, Resource),
    /// `/ws/2/collection/<id>/<plural>/<ids>`: PUT and DELETE only.
    CollectionWrite(&'a str),
}

/// The route of the segments after the resource; `None` is a path no action
/// takes, which MusicBrainz answers with 404 (before validating anything).
fn route(resource: Resource, rest: &[String]) -> Option<Route<'_>> {
    if rest.iter().any(String::is_empty) {
        return None;
    }
    let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
    match resource {
        Resource::DiscId => Some(Route::DiscId(rest.first().copied())),
        Resource::Genre if rest.first() == Some(&"all") => Some(Route::GenreAll),
        Resource::Isrc | Resource::Iswc => match rest[..] {
            [id] => Some(Route::Id(id)),
            _ => None,
        },
        Resource::Annotation | Resource::CdStub | Resource::Tag | Resource::Rating => {
            rest.is_empty().then_some(Route::Base)
        }
        Resource::Collection => match rest[..] {
            [] => Some(Route::Base),
            [id] => Some(Route::Id(id)),
            [id, plural] => Resource::from_collection_plural(plural)
                .map(|entity| Route::CollectionItems(id, entity)),
            [id, plural, _] => {
                Resource::from_collection_plural(plural).map(|_| Route::CollectionWrite(id))
            }
            _ => None,
        },
        _ => match rest[..] {
            [] => Some(Route::Base),
            [id] => Some(Route::Id(id)),
            _ => None,
        },
    }
}

/// One of MusicBrainz's parameter definitions (a `mkopt` block).
#[derive(Debug, Clone, Copy)]
struct Def {
    shape: Shape,
    inc: Option<IncRules>,
}

#[derive(Debug, Clone, Copy)]
enum Shape {
    /// `required => [query]`.
    Search,
    /// `linked => [...]`: matches when any of them is present.
    Browse(&'static [&'static str]),
    /// `action => '/ws/2/<x>/lookup'`: matches the id path only.
    Lookup,
    /// No condition at all.
    Any,
    /// `required => [...]` other than `query`.
    Requires(&'static [&'static str]),
}

const fn def(shape: Shape, inc: Option<IncRules>) -> Def {
    Def { shape, inc }
}

const SEARCH: Def = def(Shape::Search, None);

/// The definitions of `resource`, in MusicBrainz's order (the first that
/// matches wins), from `Controller/WS/2/<X>.pm`.
fn definitions(resource: Resource) -> &'static [Def] {
    use Shape::{Any, Browse, Lookup, Requires};
    use inc::*;
    match resource {
        Resource::Area => {
            const D: &[Def] = &[
                SEARCH,
                def(Browse(&["collection"]), Some(GENERIC)),
                def(Lookup, Some(GENERIC)),
            ];
            D
        }
        Resource::Artist => {
            const D: &[Def] = &[
                SEARCH,
                def(
                    Browse(&[
                        "area",
                        "recording",
                        "release",
                        "release-group",
                        "work",
                        "collection",
                    ]),
                    Some(GENERIC),
                ),
                def(Lookup, Some(ARTIST_LOOKUP)),
            ];
            D
        }
        Resource::Event => {
            const D: &[Def] = &[
                SEARCH,
                def(
                    Browse(&["area", "artist", "collection", "event", "place", "series"]),
                    Some(GENERIC),
                ),
                def(Lookup, Some(GENERIC)),
            ];
            D
        }
        // Genre has no `inc` anywhere: it is ignored, never rejected.
        Resource::Genre => {
            const D: &[Def] = &[
                def(Browse(&["collection"]), None),
                def(Any, None),
                def(Lookup, None),
            ];
            D
        }
        Resource::Instrument => {
            const D: &[Def] = &[
                SEARCH,
                def(Browse(&["collection"]), Some(UNRATED)),
                def(Lookup, Some(UNRATED)),
            ];
            D
        }
        Resource::Label => {
            const D: &[Def] = &[
                SEARCH,
                def(Browse(&["area", "release", "collection"]), Some(GENERIC)),
                def(Lookup, Some(LABEL_LOOKUP)),
            ];
            D
        }
        Resource::Place => {
            const D: &[Def] = &[
                SEARCH,
                def(Browse(&["area", "collection"]), Some(GENERIC)),
                def(Lookup, Some(GENERIC)),
            ];
            D
        }
        Resource::Recording => {
            const D: &[Def] = &[
                SEARCH,
                def(
                    Browse(&["artist", "release", "collection", "work"]),
                    Some(RECORDING_BROWSE),
                ),
                def(Lookup, Some(RECORDING_LOOKUP)),
            ];
            D
        }
        Resource::Release => {
            const D: &[Def] = &[
                SEARCH,
                def(
                    Browse(&[
                        "area",
                        "track_artist",
                        "artist",
                        "label",
                        "recording",
                        "release-group",
                        "track",
                        "collection",
                    ]),
                    Some(RELEASE_BROWSE),
                ),
                def(Lookup, Some(RELEASE_LOOKUP)),
            ];
            D
        }
        Resource::ReleaseGroup => {
            const D: &[Def] = &[
                SEARCH,
                def(
                    Browse(&["artist", "release", "collection"]),
                    Some(RELEASE_GROUP_BROWSE),
                ),
                def(Lookup, Some(RELEASE_GROUP_LOOKUP)),
            ];
            D
        }
        Resource::Series => {
            const D: &[Def] = &[
                SEARCH,
                def(Browse(&["collection"]), Some(UNRATED)),
                def(Lookup, Some(UNRATED)),
            ];
            D
        }
        Resource::Url => {
            const D: &[Def] = &[
                SEARCH,
                def(Requires(&["resource"]), Some(RELATIONS_ONLY)),
                def(Lookup, Some(RELATIONS_ONLY)),
            ];
            D
        }
        Resource::Work => {
            const D: &[Def] = &[
                SEARCH,
                def(Browse(&["artist", "collection"]), Some(GENERIC)),
                def(Lookup, Some(GENERIC)),
            ];
            D
        }
        Resource::DiscId => {
            const D: &[Def] = &[def(Any, Some(DISCID))];
            D
        }
        Resource::Isrc => {
            const D: &[Def] = &[def(Any, Some(ISRC))];
            D
        }
        Resource::Iswc => {
            const D: &[Def] = &[def(Any, Some(ISWC))];
            D
        }
        Resource::Collection => {
            const D: &[Def] = &[
                def(
                    Browse(&[
                        "area",
                        "artist",
                        "event",
                        "genre",
                        "instrument",
                        "label",
                        "place",
                        "recording",
                        "release",
                        "release-group",
                        "series",
                        "work",
                        "editor",
                    ]),
                    Some(COLLECTION_BROWSE),
                ),
                def(Any, Some(COLLECTION_ITEMS)),
            ];
            D
        }
        Resource::Annotation | Resource::CdStub => {
            const D: &[Def] = &[SEARCH];
            D
        }
        Resource::Tag => {
            const D: &[Def] = &[SEARCH, def(Requires(&["id", "entity"]), None)];
            D
        }
        Resource::Rating => {
            const D: &[Def] = &[def(Requires(&["id", "entity"]), None)];
            D
        }
    }
}

impl Def {
    fn matches(&self, route: &Route<'_>, q: &Query) -> bool {
        match self.shape {
            Shape::Search => q.nonempty("query"),
            Shape::Requires(names) => names.iter().all(|n| q.nonempty(n)),
            Shape::Browse(linked) => linked.iter().any(|n| q.has(n)),
            Shape::Lookup => matches!(route, Route::Id(_)),
            Shape::Any => true,
        }
    }
}

// ---------------------------------------------------------------------------
// `type`, `status` and `release-group-status` (§1.5)

/// Release-group types (primary, then secondary), lower-cased, as
/// MusicBrainz's database names them; `sa-`/`va-` prefixed forms mean the
/// same.
const RELEASE_GROUP_TYPES: &[&str] = &[
    "album",
    "single",
    "ep",
    "broadcast",
    "other",
    "compilation",
    "soundtrack",
    "spokenword",
    "interview",
    "audiobook",
    "audio drama",
    "live",
    "remix",
    "dj-mix",
    "mixtape/street",
    "demo",
    "field recording",
];
const RELEASE_STATUSES: &[&str] = &[
    "official",
    "promotion",
    "bootleg",
    "pseudo-release",
    "withdrawn",
    "expunged",
    "cancelled",
];

/// The filters of a request, canonical: sorted, de-duplicated names without
/// their `sa-`/`va-` prefix, `|`-joined (MusicBrainz maps the prefixed and
/// bare names to the same id). `None` when absent or empty.
#[derive(Debug, Default)]
struct Filters {
    types: Option<String>,
    statuses: Option<String>,
    /// `release-group-status=website-default`; any other accepted value
    /// (`all`) is the default.
    website_default: bool,
}

impl Filters {
    fn check(resource: Resource, q: &Query, inc: &IncSet) -> Result<Filters, Ws2Error> {
        let mut filters = Filters::default();
        let value = q.first("type");
        if perl_true(value) {
            let allowed = inc.contains("releases")
                || inc.contains("release-groups")
                || matches!(resource, Resource::Release | Resource::ReleaseGroup);
            if !allowed {
                return Err(Ws2Error::bad_request(
                    "type is not a valid parameter unless releases or release-groups are requested.",
                ));
            }
            filters.types = canonical_names(value.unwrap_or(""), RELEASE_GROUP_TYPES, |v| {
                format!("{v} is not a recognized release-group type.")
            })?;
        }
        let value = q.first("status");
        if perl_true(value) {
            if !(inc.contains("releases") || resource == Resource::Release) {
                return Err(Ws2Error::bad_request(
                    "status is not a valid parameter unless releases are requested.",
                ));
            }
            filters.statuses = canonical_names(value.unwrap_or(""), RELEASE_STATUSES, |v| {
                format!("{v} is not a recognized release status.")
            })?;
        }
        let value = q.first("release-group-status");
        if let Some(v) = value.filter(|v| perl_true(Some(v))) {
            if !(resource == Resource::ReleaseGroup && q.has("artist")) {
                return Err(Ws2Error::bad_request(
                    "release-group-status is not a valid parameter unless release groups are browsed by artist.",
                ));
            }
            // MusicBrainz matches the two values against the parameter used
            // as a regular expression (`/^$value$/`), so `.*` passes there;
            // we accept the two values themselves only.
            if v != "website-default" && v != "all" {
                return Err(Ws2Error::bad_request(format!(
                    "{v} is not a valid value for the release-group-status parameter."
                )));
            }
            filters.website_default = v == "website-default";
        }
        Ok(filters)
    }

    /// The filters that change a lookup's answer (§1.5 "Where the filters
    /// actually apply"): none on a release, `status` on a release group.
    fn lookup_params(&self, resource: Resource) -> BTreeMap<String, String> {
        let mut params = BTreeMap::new();
        if let Some(s) = &self.statuses
            && resource != Resource::Release
        {
            params.insert("status".to_owned(), s.clone());
        }
        if let Some(t) = &self.types
            && !matches!(resource, Resource::Release | Resource::ReleaseGroup)
        {
            params.insert("type".to_owned(), t.clone());
        }
        params
    }

    fn browse_params(&self) -> BTreeMap<String, String> {
        let mut params = BTreeMap::new();
        if let Some(s) = &self.statuses {
            params.insert("status".to_owned(), s.clone());
        }
        if let Some(t) = &self.types {
            params.insert("type".to_owned(), t.clone());
        }
        if self.website_default {
            params.insert(
                "release-group-status".to_owned(),
                "website-default".to_owned(),
            );
        }
        params
    }
}

/// `value` split on `|`, each piece (false ones skipped, as Perl does)
/// checked against `names` with an optional `sa-`/`va-` prefix.
fn canonical_names(
    value: &str,
    names: &[&'static str],
    message: impl Fn(&str) -> String,
) -> Result<Option<String>, Ws2Error> {
    let mut found = std::collections::BTreeSet::new();
    for piece in value.split('|').filter(|p| perl_true(Some(p))) {
        let bare = piece
            .strip_prefix("sa-")
            .or_else(|| piece.strip_prefix("va-"))
            .filter(|b| names.contains(b));
        let name = names
            .iter()
            .find(|n| **n == piece)
            .copied()
            .or_else(|| names.iter().find(|n| Some(**n) == bare).copied())
            .ok_or_else(|| Ws2Error::bad_request(message(piece)))?;
        found.insert(name);
    }
    Ok((!found.is_empty()).then(|| found.into_iter().collect::<Vec<_>>().join("|")))
}

// ---------------------------------------------------------------------------
// Paging

/// `_limit_and_offset` (browse, disc id, genre list, collections): unset or
/// false values take the defaults (25, 0); anything else must be a natural
/// number (`is_nat`: Perl's number, integral, ≥ 0); `limit` above 100 is 100.
/// A `limit` that is 0 by another spelling (`00`, `0.0`) would reach
/// MusicBrainz's SQL as 0; we read it as 25, the same as `limit=0`.
fn browse_paging(q: &Query) -> Result<(u32, u32), Ws2Error> {
    let limit =
        natural(q, "limit")?.map_or(25, |n| if n == 0.0 { 25 } else { n.min(100.0) as u32 });
    // Offsets beyond u32 saturate; MusicBrainz has nothing there either.
    let offset = natural(q, "offset")?.map_or(0, |n| n.min(f64::from(u32::MAX)) as u32);
    Ok((limit, offset))
}

fn natural(q: &Query, name: &str) -> Result<Option<f64>, Ws2Error> {
    match q.get(name) {
        Param::Absent | Param::One(None) => Ok(None),
        Param::One(Some(v)) if !perl_true(Some(v)) => Ok(None),
        Param::One(Some(v)) => perl_number(v)
            .filter(|n| n.trunc() == *n && *n >= 0.0)
            .map(Some)
            .ok_or_else(|| Ws2Error::bad_request(BAD_PAGING)),
        Param::Many => Err(Ws2Error::bad_request(BAD_PAGING)),
    }
}

/// The search server's paging (`xml_search`): never an error; a `limit`
/// that is not an integer in 1–100 is 25, an `offset` that is not a
/// positive integer is 0.
fn search_paging(q: &Query) -> (u32, u32) {
    let positive = |name: &str| -> Option<u128> {
        let Param::One(Some(v)) = q.get(name) else {
            return None;
        };
        let digits = v.strip_prefix('-').unwrap_or(v);
        if digits.is_empty() || digits.len() > 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let n: u128 = digits.parse().ok()?;
        (n > 0 && !v.starts_with('-')).then_some(n)
    };
    let limit = positive("limit")
        .filter(|n| *n <= 100)
        .map_or(25, |n| n as u32);
    let offset = positive("offset").map_or(0, |n| n.min(u128::from(u32::MAX)) as u32);
    (limit, offset)
}

// ---------------------------------------------------------------------------
// Identifiers

/// `Validation::is_guid`: 36 characters, hyphenated hex in either case, not
/// all zeros. Integer row ids are refused on ws/2.
fn guid(s: &str) -> Option<Mbid> {
    if !s.contains(|c: char| c != '0' && c != '-') {
        return None;
    }
    Mbid::parse(s).ok()
}

/// Perl's `$` also matches before a final newline.
fn perl_end(s: &str) -> &str {
    s.strip_suffix('\n').unwrap_or(s)
}

/// `^[A-Za-z0-9._-]{27}-`, with no end anchor: anything may follow.
fn is_valid_discid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 28
        && b[..27]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
        && b[27] == b'-'
}

/// `^[A-Z]{2}[A-Z0-9]{3}[0-9]{7}$`: upper case only, no normalising.
fn is_valid_isrc(s: &str) -> bool {
    let b = perl_end(s).as_bytes();
    b.len() == 12
        && b[..2].iter().all(u8::is_ascii_uppercase)
        && b[2..5]
            .iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        && b[5..].iter().all(u8::is_ascii_digit)
}

/// `^T-?[0-9]{3}\.?[0-9]{3}\.?[0-9]{3}[-.]?[0-9]$` once whitespace is removed.
fn is_valid_iswc(s: &str) -> bool {
    let t: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let mut i = 0;
    let mut take = |pred: &dyn Fn(u8) -> bool| -> bool {
        if t.get(i).copied().is_some_and(pred) {
            i += 1;
            true
        } else {
            false
        }
    };
    if !take(&|b| b == b'T') {
        return false;
    }
    take(&|b| b == b'-');
    for group in 0..3 {
        for _ in 0..3 {
            if !take(&|b: u8| b.is_ascii_digit()) {
                return false;
            }
        }
        if group < 2 {
            take(&|b| b == b'.');
        }
    }
    take(&|b| b == b'-' || b == b'.');
    if !take(&|b: u8| b.is_ascii_digit()) {
        return false;
    }
    i == t.len()
}

/// A TOC as `DurationLookup::_parse_toc` reads it: `+` or single spaces
/// between decimal numbers `1 N leadout off1 … offN` (surrounding
/// whitespace allowed), first track 1, 1 ≤ N ≤ 99, offsets strictly
/// increasing, lead-out after the last one, and no track longer than a
/// Postgres integer of milliseconds. Returns the numbers `+`-joined, leading
/// zeros dropped (MusicBrainz compares them as numbers). Numbers past u64,
/// which Perl would turn into floats, are refused.
pub(crate) fn canonical_toc(raw: &str) -> Option<String> {
    let spaced = raw.replace('+', " ");
    let trimmed = spaced.trim_matches(|c: char| c.is_ascii_whitespace() || c == '\x0b');
    let numbers = trimmed
        .split(' ')
        .map(|n| {
            (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                .then(|| n.parse::<u64>().ok())
                .flatten()
        })
        .collect::<Option<Vec<u64>>>()?;
    let [first, last, leadout, offsets @ ..] = numbers.as_slice() else {
        return None;
    };
    let ok = *first == 1
        && (1..=99).contains(last)
        && offsets.len() as u64 == *last
        && offsets.windows(2).all(|w| w[1] > w[0])
        && offsets.last().is_some_and(|l| leadout > l);
    if !ok {
        return None;
    }
    let mut bounds = offsets.to_vec();
    bounds.push(*leadout);
    let too_long = bounds
        .windows(2)
        .any(|w| u128::from(w[1] - w[0]) * 1000 / 75 > 2_147_483_647);
    if too_long {
        return None;
    }
    Some(
        numbers
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join("+"),
    )
}

// ---------------------------------------------------------------------------
// The actions

#[derive(Debug)]
struct Parser<'a> {
    resource: Resource,
    q: &'a Query,
    format: Format,
}

impl Parser<'_> {
    fn parse(&self, route: Route<'_>) -> Result<Request, Ws2Error> {
        let resource = self.resource;
        let (definition, def) = definitions(resource)
            .iter()
            .enumerate()
            .find(|(_, d)| d.matches(&route, self.q))
            .ok_or_else(|| Ws2Error::bad_request(format!("{NO_MATCH} {resource} resource.")))?;
        let inc = match &def.inc {
            Some(rules) => {
                inc::validate_remembered(resource, definition, &self.q.values("inc"), rules)?
            }
            None => IncSet::default(),
        };
        let filters = Filters::check(resource, self.q, &inc)?;
        // MusicBrainz authenticates `user-tags`, `user-genres` and
        // `user-ratings` at this point, before it looks at ids; we check
        // ids first, so a request both unauthenticated and malformed gets
        // our 400 where MusicBrainz gives 401.
        let (kind, params, inc) = match route {
            Route::Id(raw) => {
                let id = match resource {
                    Resource::Isrc if !is_valid_isrc(raw) => {
                        return Err(Ws2Error::bad_request("Invalid isrc."));
                    }
                    Resource::Iswc if !is_valid_iswc(raw) => {
                        return Err(Ws2Error::bad_request("Invalid iswc."));
                    }
                    Resource::Isrc | Resource::Iswc => raw.to_owned(),
                    _ => guid(raw)
                        .ok_or_else(|| Ws2Error::bad_request("Invalid mbid."))?
                        .to_string(),
                };
                (Kind::Lookup { id }, filters.lookup_params(resource), inc)
            }
            Route::Base => self.base(def, inc, &filters)?,
            Route::GenreAll => {
                let (limit, offset) = browse_paging(self.q)?;
                (Kind::GenreAll { limit, offset }, BTreeMap::new(), inc)
            }
            Route::DiscId(id) => {
                let (kind, params) = self.discid(id)?;
                (kind, params, inc)
            }
            Route::CollectionItems(raw, entity) => {
                let id = guid(raw).ok_or_else(|| Ws2Error::bad_request("Invalid mbid."))?;
                let (limit, offset) = browse_paging(self.q)?;
                let kind = Kind::CollectionContents {
                    id,
                    entity,
                    limit,
                    offset,
                };
                (kind, filters.browse_params(), inc)
            }
            Route::CollectionWrite(raw) => {
                guid(raw).ok_or_else(|| Ws2Error::bad_request("Invalid mbid."))?;
                // MusicBrainz loads the collection first, so an unknown one
                // is a 404 there; we cannot know that here.
                return Err(Ws2Error::new(405, "GET is not allowed on this endpoint."));
            }
        };
        Ok(Request {
            resource,
            kind,
            inc,
            params,
            format: self.format,
            credentials_in_query: self.q.has("access_token"),
        })
    }

    /// `/ws/2/<resource>` with no id: what the matched definition makes it.
    fn base(
        &self,
        def: &Def,
        inc: IncSet,
        filters: &Filters,
    ) -> Result<(Kind, BTreeMap<String, String>, IncSet), Ws2Error> {
        let resource = self.resource;
        let none = BTreeMap::new;
        match def.shape {
            // `url_search` turns to the by-resource lookup whenever
            // `resource` has a value, even when `query` made it a search.
            Shape::Search | Shape::Requires(_)
                if resource == Resource::Url
                    && matches!(self.q.get("resource"), Param::One(Some(_)) | Param::Many) =>
            {
                Ok((self.url_by_resource(), none(), inc))
            }
            Shape::Search => Ok((self.search()?, none(), inc)),
            Shape::Browse(linked) => self.browse(linked, inc, filters),
            Shape::Requires(_) => {
                // `tag` and `rating` by `id` and `entity`: one user's data.
                let mut params = none();
                params.insert(
                    "entity".to_owned(),
                    self.q.first("entity").unwrap_or("").to_owned(),
                );
                let id = self.q.first("id").unwrap_or("").to_owned();
                Ok((Kind::Lookup { id }, params, inc))
            }
            Shape::Any if resource == Resource::Collection => {
                Ok((Kind::CollectionList, filters.browse_params(), inc))
            }
            // Genre has no search: `genre_search` answers 501 whatever the
            // query.
            Shape::Any | Shape::Lookup => {
                Err(Ws2Error::new(501, "This hasn't been implemented yet."))
            }
        }
    }

    fn search(&self) -> Result<Kind, Ws2Error> {
        let (limit, offset) = search_paging(self.q);
        let query = match self.q.get("query") {
            Param::One(Some(v)) => v,
            Param::Many => {
                return Err(Ws2Error::bad_request(
                    "Must specify at most 1 query argument",
                ));
            }
            // The search definition matched, so `query` has a value.
            Param::One(None) | Param::Absent => "",
        };
        if is_blank_query(query) {
            return Err(Ws2Error::bad_request(
                "You submitted a blank search query. You must include a non-blank 'query=' parameter with your search.",
            ));
        }
        Ok(Kind::Search {
            query: query.to_owned(),
            limit,
            offset,
            dismax: self.q.get("dismax") == Param::One(Some("true")),
        })
    }

    fn url_by_resource(&self) -> Kind {
        let mut resources: Vec<String> = self
            .q
            .values("resource")
            .into_iter()
            .take(100)
            .map(|v| v.unwrap_or("").to_owned())
            .collect();
        // A list comes back sorted by MBID whatever the order asked in.
        // Duplicates are kept: two equal values still ask for a list.
        resources.sort();
        Kind::UrlByResource { resources }
    }

    fn browse(
        &self,
        linked: &'static [&'static str],
        inc: IncSet,
        filters: &Filters,
    ) -> Result<(Kind, BTreeMap<String, String>, IncSet), Ws2Error> {
        // With several linked parameters MusicBrainz uses the first in Perl
        // hash order, i.e. any; we use the first in its definition's list.
        let param = linked
            .iter()
            .copied()
            .find(|n| self.q.has(n))
            .ok_or_else(|| {
                Ws2Error::bad_request(format!("{NO_MATCH} {} resource.", self.resource))
            })?;
        let (limit, offset) = browse_paging(self.q)?;
        let value = match self.q.get(param) {
            Param::One(v) => Some(v.unwrap_or("")),
            Param::Absent | Param::Many => None,
        };
        if self.resource == Resource::Collection {
            return self.collection_browse(param, value, limit, offset, inc, filters);
        }
        let id = value
            .and_then(guid)
            .ok_or_else(|| Ws2Error::bad_request("Invalid mbid."))?;
        let kind = Kind::Browse {
            linked: linked_resource(param),
            id,
            limit,
            offset,
            param,
        };
        Ok((kind, filters.browse_params(), inc))
    }

    /// `collection_browse`: by editor name, or by an entity, which is looked
    /// up without an id check (a malformed one is simply not found).
    fn collection_browse(
        &self,
        param: &'static str,
        value: Option<&str>,
        limit: u32,
        offset: u32,
        inc: IncSet,
        filters: &Filters,
    ) -> Result<(Kind, BTreeMap<String, String>, IncSet), Ws2Error> {
        let kind = if param == "editor" {
            Kind::EditorCollections {
                editor: self.q.first("editor").unwrap_or("").to_owned(),
                limit,
                offset,
            }
        } else {
            let id = value.and_then(guid).ok_or_else(Ws2Error::not_found)?;
            Kind::Browse {
                linked: linked_resource(param),
                id,
                limit,
                offset,
                param,
            }
        };
        Ok((kind, filters.browse_params(), inc))
    }

    /// `/ws/2/discid[/<id>]` (§4.1).
    fn discid(&self, id: Option<&str>) -> Result<(Kind, BTreeMap<String, String>), Ws2Error> {
        let q = self.q;
        let valid = id.is_some_and(is_valid_discid);
        if !valid && !q.has("toc") {
            return Err(Ws2Error::bad_request("Invalid discid."));
        }
        let (limit, offset) = browse_paging(q)?;
        let limit = limit.min(25);
        let mut params = BTreeMap::new();
        if limit != 25 {
            params.insert("limit".to_owned(), limit.to_string());
        }
        if offset != 0 {
            params.insert("offset".to_owned(), offset.to_string());
        }
        let toc = q.first("toc").filter(|t| perl_true(Some(t)));
        if toc.is_some() && q.first("media-format") == Some("all") {
            params.insert("media-format".to_owned(), "all".to_owned());
        }
        match (valid, id) {
            (true, Some(id)) => {
                // Stubs are looked for unless `cdstubs` is present and not
                // `yes`. A true value other than yes/no sets status 400 and
                // carries on (the `bad_req` quirk): such a value is kept as
                // it is, so the key stays exact.
                match q.get("cdstubs") {
                    Param::Absent | Param::One(Some("yes")) => {}
                    Param::One(Some(v)) if perl_true(Some(v)) && v != "no" => {
                        params.insert("cdstubs".to_owned(), v.to_owned());
                    }
                    _ => {
                        params.insert("cdstubs".to_owned(), "no".to_owned());
                    }
                }
                // The TOC is read only if the disc id is unknown; it is not
                // checked before that.
                if let Some(toc) = toc {
                    let toc = canonical_toc(toc).unwrap_or_else(|| toc.to_owned());
                    params.insert("toc".to_owned(), toc);
                }
                Ok((Kind::Lookup { id: id.to_owned() }, params))
            }
            _ => {
                if q.get("toc") == Param::Many {
                    // A Perl array never parses as a TOC.
                    return Err(Ws2Error::bad_request("Invalid TOC"));
                }
                let toc = toc.ok_or_else(Ws2Error::not_found)?;
                let toc = canonical_toc(toc).ok_or_else(|| Ws2Error::bad_request("Invalid TOC"))?;
                Ok((Kind::Toc { toc }, params))
            }
        }
    }
}

/// The resource a linked parameter points at.
fn linked_resource(param: &str) -> Resource {
    match param {
        "track_artist" => Resource::Artist,
        "track" => Resource::Release,
        other => Resource::from_segment(other).unwrap_or(Resource::Release),
    }
}

/// `xml_search`'s blank test, `/^(?:\s*|"\s*")$/`.
fn is_blank_query(query: &str) -> bool {
    let q = perl_end(query);
    let blank = |s: &str| s.chars().all(char::is_whitespace);
    blank(q)
        || (q.len() >= 2 && q.starts_with('"') && q.ends_with('"') && blank(&q[1..q.len() - 1]))
}

// ---------------------------------------------------------------------------
// Encoding keys and upstream requests

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')
}

/// A query value: unreserved bytes as they are, space as `+`, the rest `%XX`.
fn encode_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b' ' => out.push('+'),
            b if is_unreserved(b) => out.push(b as char),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A path segment: unreserved bytes as they are, the rest `%XX`.
fn encode_path(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if is_unreserved(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toc_parsing() {
        assert_eq!(
            canonical_toc("1 3 1000 150 400 700").as_deref(),
            Some("1+3+1000+150+400+700")
        );
        assert_eq!(
            canonical_toc(" 01+2+900+0150+400 ").as_deref(),
            Some("1+2+900+150+400")
        );
        for bad in [
            "",
            "2 3 1000 150 400 700",
            "1 3 1000 150 400",
            "1 3 1000 150 140 700",
            "1 3 600 150 400 700",
            "1  3 1000 150 400 700",
            "1 0 1000",
            "1 3 1000 150 400 x",
            "1 1 99999999999 0",
        ] {
            assert_eq!(canonical_toc(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn identifiers() {
        assert!(guid("00000000-0000-0000-0000-000000000000").is_none());
        assert!(guid("5B11F4CE-A62D-471E-81FC-A69A8278C7DA").is_some());
        assert!(is_valid_discid("rKs_PWM2y.8B7uVgxqJqzTDz7vs-"));
        assert!(is_valid_discid("rKs_PWM2y.8B7uVgxqJqzTDz7vs-anything"));
        assert!(!is_valid_discid("rKs_PWM2y.8B7uVgxqJqzTDz7vs"));
        assert!(is_valid_isrc("USSUB0200002"));
        assert!(is_valid_isrc("USSUB0200002\n"));
        assert!(!is_valid_isrc("ussub0200002"));
        assert!(is_valid_iswc("T-900.755.682-3"));
        assert!(is_valid_iswc("T9007556823"));
        assert!(is_valid_iswc("T 900 755 682 3"));
        assert!(!is_valid_iswc("T-900.755.682-"));
        assert!(!is_valid_iswc("900.755.682-3"));
    }

    #[test]
    fn blank_queries() {
        for q in ["", " ", "\"\"", "\" \"", "  \n"] {
            assert!(is_blank_query(q), "{q:?}");
        }
        for q in ["a", "\"a\"", "\""] {
            assert!(!is_blank_query(q), "{q:?}");
        }
    }

    #[test]
    fn query_decoding() {
        let q = Query::parse(Some(";;inc=a%2Bb+c&x&&y=%zz;fmt=")).unwrap();
        assert_eq!(q.get("inc"), Param::One(Some("a+b c")));
        assert_eq!(q.get("x"), Param::One(None));
        assert_eq!(q.get("y"), Param::One(Some("%zz")));
        assert_eq!(q.get("fmt"), Param::One(Some("")));
        assert_eq!(q.get("nope"), Param::Absent);
        assert_eq!(
            Query::parse(Some("query=%FF")).unwrap_err().message,
            UNDECODABLE
        );
    }
}
