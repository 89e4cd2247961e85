//! Browse and search over the cache, free of I/O: which lists can be browsed,
//! the limits a request must respect (page size, query length, filters),
//! the summaries lists and searches answer with, and the opaque page tokens.
//!
//! A page token is URL-safe base64 (no padding) of a small versioned JSON
//! object: the kind of list, the scope it belongs to (the parent MBID of a
//! browse, the query and filters of a search) and the keyset position of the
//! last item served. A token used with another list, query or filter is
//! refused, so a client cannot silently page through a different result.
//! The database code (`db::browse`, `db::search`) turns positions into
//! keyset conditions; nothing here knows SQL.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::domain::{ArtistCredit, LifeSpan};
use crate::mbid::{EntityType, Mbid};

/// Items per page when the request says 0.
pub const DEFAULT_PAGE_SIZE: u32 = 25;
/// Most items one page may hold.
pub const MAX_PAGE_SIZE: u32 = 100;
/// Longest search query, in characters after trimming.
pub const MAX_QUERY_CHARS: usize = 200;
/// Page tokens longer than this are not ours (ours stay well below it).
const MAX_TOKEN_BYTES: usize = 2048;
/// The token layout this build writes and reads.
const TOKEN_VERSION: u32 = 1;

/// Why a browse or search request cannot be served as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    #[error(
        "page_size must be between 0 and {MAX_PAGE_SIZE} (0 means {DEFAULT_PAGE_SIZE}), got {0}"
    )]
    PageSize(i32),
    #[error("page_token is not valid: {0}")]
    PageToken(&'static str),
    #[error("query must not be empty")]
    EmptyQuery,
    #[error("query must be at most {MAX_QUERY_CHARS} characters, got {0}")]
    QueryTooLong(usize),
    /// NUL or another control character in free text (see [`check_printable`]).
    #[error("{0} must not contain control characters (found U+{1:04X})")]
    ControlCharacter(&'static str, u32),
    #[error("filter {filter} does not apply to {kind} searches")]
    FilterNotApplicable {
        filter: &'static str,
        kind: &'static str,
    },
    #[error("filter {0} is not valid: {1}")]
    BadFilter(&'static str, String),
}

/// The page size a request asks for: 0 means the default; above the maximum
/// or negative is an error rather than silently clamped.
pub fn page_size(requested: i32) -> Result<u32, CatalogError> {
    match u32::try_from(requested) {
        Ok(0) => Ok(DEFAULT_PAGE_SIZE),
        Ok(n) if n <= MAX_PAGE_SIZE => Ok(n),
        _ => Err(CatalogError::PageSize(requested)),
    }
}

/// A search query, trimmed; empty, longer than [`MAX_QUERY_CHARS`] or
/// holding a control character is an error.
pub fn parse_query(raw: &str) -> Result<String, CatalogError> {
    let query = raw.trim();
    let chars = query.chars().count();
    if chars == 0 {
        return Err(CatalogError::EmptyQuery);
    }
    check_printable("query", query)?;
    if chars > MAX_QUERY_CHARS {
        return Err(CatalogError::QueryTooLong(chars));
    }
    Ok(query.to_owned())
}

/// Free text a client sends (a search query, a filter value) must hold no
/// control character (Unicode category Cc: NUL, U+0001..U+001F, DEL,
/// U+0080..U+009F). PostgreSQL's `text` cannot hold NUL at all — the query
/// would fail in the database and look like an outage — and the others
/// never occur in a MusicBrainz name, so each is the client's mistake and is
/// refused before any query is made. Whitespace around a query is trimmed
/// first, so a trailing newline is no error; a tab inside one is.
pub fn check_printable(field: &'static str, text: &str) -> Result<(), CatalogError> {
    match text.chars().find(|c| c.is_control()) {
        Some(c) => Err(CatalogError::ControlCharacter(field, u32::from(c))),
        None => Ok(()),
    }
}

/// Which of an entity's paged lists a browse page belongs to (the
/// `relation` of `aggregate_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    /// An artist's release groups (through their artist credits).
    ReleaseGroups,
    /// A release group's releases, or a label's.
    Releases,
    /// An artist's recordings (through their artist credits).
    Recordings,
}

impl Relation {
    pub fn as_str(self) -> &'static str {
        match self {
            Relation::ReleaseGroups => "release-groups",
            Relation::Releases => "releases",
            Relation::Recordings => "recordings",
        }
    }
}

/// A list the cache can be browsed by, and the MusicBrainz browse that
/// completes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BrowseList {
    /// Release groups credited to an artist.
    ArtistReleaseGroups,
    /// Releases of a release group.
    ReleaseGroupReleases,
    /// Releases issued on a label.
    LabelReleases,
    /// Recordings credited to an artist (on the recording or on a track).
    ArtistRecordings,
}

impl BrowseList {
    pub const ALL: [BrowseList; 4] = [
        BrowseList::ArtistReleaseGroups,
        BrowseList::ReleaseGroupReleases,
        BrowseList::LabelReleases,
        BrowseList::ArtistRecordings,
    ];

    pub fn parent_type(self) -> EntityType {
        match self {
            BrowseList::ArtistReleaseGroups | BrowseList::ArtistRecordings => EntityType::Artist,
            BrowseList::ReleaseGroupReleases => EntityType::ReleaseGroup,
            BrowseList::LabelReleases => EntityType::Label,
        }
    }

    pub fn item_type(self) -> EntityType {
        match self {
            BrowseList::ArtistReleaseGroups => EntityType::ReleaseGroup,
            BrowseList::ReleaseGroupReleases | BrowseList::LabelReleases => EntityType::Release,
            BrowseList::ArtistRecordings => EntityType::Recording,
        }
    }

    /// The `aggregate_state` relation recording how much of the list was seen.
    pub fn relation(self) -> Relation {
        match self {
            BrowseList::ArtistReleaseGroups => Relation::ReleaseGroups,
            BrowseList::ReleaseGroupReleases | BrowseList::LabelReleases => Relation::Releases,
            BrowseList::ArtistRecordings => Relation::Recordings,
        }
    }

    /// `<parent type>/<relation>`: the list's name in page tokens, logs and
    /// the `fetch_request` ledger (where a pending completion is recorded).
    pub fn key(self) -> &'static str {
        match self {
            BrowseList::ArtistReleaseGroups => "artist/release-groups",
            BrowseList::ReleaseGroupReleases => "release-group/releases",
            BrowseList::LabelReleases => "label/releases",
            BrowseList::ArtistRecordings => "artist/recordings",
        }
    }

    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.key() == key)
    }

    /// The lists an entity of `parent` type has.
    pub fn of_parent(parent: EntityType) -> impl Iterator<Item = BrowseList> {
        Self::ALL
            .into_iter()
            .filter(move |l| l.parent_type() == parent)
    }
}

/// Filters a search may carry; which apply depends on the entity type
/// (see [`SearchFilter::check`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchFilter {
    /// Artist or label type; a release group's primary or secondary type.
    pub kind: Option<String>,
    /// A release's status (Official, Promotion, Bootleg, ...).
    pub status: Option<String>,
    /// ISO 3166-1 code of an artist, label or release.
    pub country: Option<String>,
    /// Inclusive year range: begin year of an artist or label; first release
    /// year of a release group or recording; date of a release.
    pub year_from: Option<i32>,
    pub year_to: Option<i32>,
    /// Credited artist of a release group, release or recording.
    pub artist: Option<Mbid>,
}

impl SearchFilter {
    /// Refuses filters that mean nothing for `entity_type` and ranges that
    /// cannot match, so a mistaken request is told rather than answered empty.
    pub fn check(&self, entity_type: EntityType) -> Result<(), CatalogError> {
        use EntityType as T;
        let applies = |filter: &'static str, set: bool, ok: &[T]| {
            if set && !ok.contains(&entity_type) {
                Err(CatalogError::FilterNotApplicable {
                    filter,
                    kind: entity_type.as_str(),
                })
            } else {
                Ok(())
            }
        };
        applies(
            "type",
            self.kind.is_some(),
            &[T::Artist, T::Label, T::ReleaseGroup],
        )?;
        applies("status", self.status.is_some(), &[T::Release])?;
        applies(
            "country",
            self.country.is_some(),
            &[T::Artist, T::Label, T::Release],
        )?;
        applies(
            "artist_mbid",
            self.artist.is_some(),
            &[T::ReleaseGroup, T::Release, T::Recording],
        )?;
        if let Some(country) = &self.country
            && !(country.len() == 2 && country.chars().all(|c| c.is_ascii_alphabetic()))
        {
            return Err(CatalogError::BadFilter(
                "country",
                format!("expected a two-letter ISO 3166-1 code, got {country:?}"),
            ));
        }
        for (name, value) in [("type", &self.kind), ("status", &self.status)] {
            if let Some(value) = value {
                check_printable(name, value)?;
            }
            if value
                .as_ref()
                .is_some_and(|v| v.trim().is_empty() || v.len() > 64)
            {
                return Err(CatalogError::BadFilter(
                    name,
                    "must be 1 to 64 characters".into(),
                ));
            }
        }
        for (name, year) in [("year_from", self.year_from), ("year_to", self.year_to)] {
            if year.is_some_and(|y| !(0..=9999).contains(&y)) {
                return Err(CatalogError::BadFilter(name, "must be 0 to 9999".into()));
            }
        }
        if let (Some(from), Some(to)) = (self.year_from, self.year_to)
            && from > to
        {
            return Err(CatalogError::BadFilter(
                "year_from",
                format!("{from} is after year_to {to}"),
            ));
        }
        Ok(())
    }

    /// A canonical rendering, the scope a search page token is bound to.
    pub fn scope(&self, query: &str) -> String {
        serde_json::json!([
            query,
            self.kind,
            self.status,
            self.country.as_ref().map(|c| c.to_ascii_uppercase()),
            self.year_from,
            self.year_to,
            self.artist.map(|m| m.to_string()),
        ])
        .to_string()
    }
}

/// Where a browse page ends: lists are ordered by date (unknown last), then
/// title, then MBID, compared bytewise so the order never depends on locale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrowseKey {
    pub date: String,
    pub title: String,
    pub mbid: Mbid,
}

/// Where a search page ends: results are ordered by tier (exact, prefix,
/// similar), then score (descending), then MBID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchKey {
    pub tier: i32,
    /// The score in millionths, an integer so positions compare exactly.
    pub score: i32,
    pub mbid: Mbid,
}

#[derive(Serialize, Deserialize)]
struct Token<K> {
    v: u32,
    kind: String,
    scope: String,
    after: K,
}

/// An opaque token for the page after `after`.
pub fn encode_token<K: Serialize>(kind: &str, scope: &str, after: &K) -> String {
    let token = Token {
        v: TOKEN_VERSION,
        kind: kind.to_owned(),
        scope: scope.to_owned(),
        after,
    };
    // Serializing strings, integers and an MBID cannot fail.
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&token).unwrap_or_default())
}

/// The position a token continues from; `None` for an empty token (the first
/// page). A token of another list, query or filter is an error.
pub fn decode_token<K: DeserializeOwned>(
    token: &str,
    kind: &str,
    scope: &str,
) -> Result<Option<K>, CatalogError> {
    if token.is_empty() {
        return Ok(None);
    }
    if token.len() > MAX_TOKEN_BYTES {
        return Err(CatalogError::PageToken("too long"));
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| CatalogError::PageToken("not a token this service issued"))?;
    let token: Token<K> = serde_json::from_slice(&bytes)
        .map_err(|_| CatalogError::PageToken("not a token this service issued"))?;
    if token.v != TOKEN_VERSION {
        return Err(CatalogError::PageToken("issued by another version"));
    }
    if token.kind != kind || token.scope != scope {
        return Err(CatalogError::PageToken(
            "it belongs to another list, query or filter",
        ));
    }
    Ok(Some(token.after))
}

/// What the cache knows of a list as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListState {
    /// Every MusicBrainz browse page was seen when `checked_at` was recorded.
    pub complete: bool,
    /// MusicBrainz's count at the last browse, when a page was ever seen.
    pub known_total: Option<i32>,
    pub checked_at: Option<std::time::SystemTime>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtistSummary {
    pub mbid: Mbid,
    pub name: String,
    pub sort_name: String,
    pub disambiguation: String,
    pub artist_type: Option<String>,
    pub country: Option<String>,
    pub life_span: LifeSpan,
    /// Fetched in full; false for a stub known only from another entity.
    pub fetched: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelSummary {
    pub mbid: Mbid,
    pub name: String,
    pub sort_name: String,
    pub disambiguation: String,
    pub label_type: Option<String>,
    pub label_code: Option<i32>,
    pub country: Option<String>,
    pub life_span: LifeSpan,
    pub fetched: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseGroupSummary {
    pub mbid: Mbid,
    pub title: String,
    pub disambiguation: String,
    pub primary_type: Option<String>,
    pub secondary_types: Vec<String>,
    pub first_release_date: Option<String>,
    pub artist_credit: Vec<ArtistCredit>,
    pub fetched: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseSummary {
    pub mbid: Mbid,
    pub title: String,
    pub disambiguation: String,
    pub status: Option<String>,
    pub date: Option<String>,
    pub country: Option<String>,
    pub barcode: Option<String>,
    pub release_group: Option<Mbid>,
    pub artist_credit: Vec<ArtistCredit>,
    pub fetched: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingSummary {
    pub mbid: Mbid,
    pub title: String,
    pub disambiguation: String,
    pub length_ms: Option<i32>,
    pub video: bool,
    pub first_release_date: Option<String>,
    pub artist_credit: Vec<ArtistCredit>,
    pub fetched: bool,
}

/// One item of a list or a search result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Summary {
    Artist(ArtistSummary),
    Label(LabelSummary),
    ReleaseGroup(ReleaseGroupSummary),
    Release(ReleaseSummary),
    Recording(RecordingSummary),
}

impl Summary {
    pub fn mbid(&self) -> Mbid {
        match self {
            Summary::Artist(s) => s.mbid,
            Summary::Label(s) => s.mbid,
            Summary::ReleaseGroup(s) => s.mbid,
            Summary::Release(s) => s.mbid,
            Summary::Recording(s) => s.mbid,
        }
    }

    /// Where credits attach, for the entity types that have them.
    pub(crate) fn credits_mut(&mut self) -> Option<&mut Vec<ArtistCredit>> {
        match self {
            Summary::ReleaseGroup(s) => Some(&mut s.artist_credit),
            Summary::Release(s) => Some(&mut s.artist_credit),
            Summary::Recording(s) => Some(&mut s.artist_credit),
            Summary::Artist(_) | Summary::Label(_) => None,
        }
    }
}

/// One search result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub summary: Summary,
    /// 0 exact match of the normalised name, 1 prefix, 2 similar.
    pub tier: i32,
    /// Similarity in millionths (0..=1_000_000).
    pub score: i32,
    /// The alias that matched, when it ranked above the entity's own name.
    pub matched_alias: Option<String>,
}

impl Hit {
    pub fn key(&self) -> SearchKey {
        SearchKey {
            tier: self.tier,
            score: self.score,
            mbid: self.summary.mbid(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MBID: &str = "b10bbbfc-cf9e-42e0-be17-e2c3e1d2600d";

    #[test]
    fn page_sizes() {
        assert_eq!(page_size(0), Ok(DEFAULT_PAGE_SIZE));
        assert_eq!(page_size(1), Ok(1));
        assert_eq!(page_size(100), Ok(100));
        assert_eq!(page_size(101), Err(CatalogError::PageSize(101)));
        assert_eq!(page_size(-1), Err(CatalogError::PageSize(-1)));
    }

    #[test]
    fn queries() {
        assert_eq!(
            parse_query("  the beatles \n").as_deref(),
            Ok("the beatles")
        );
        assert_eq!(parse_query(" \t "), Err(CatalogError::EmptyQuery));
        assert_eq!(parse_query(&"é".repeat(200)).map(|q| q.len()), Ok(400));
        assert_eq!(
            parse_query(&"a".repeat(201)),
            Err(CatalogError::QueryTooLong(201))
        );
    }

    /// NUL reached PostgreSQL and came back as an outage (issue 20): every
    /// control character is refused up front, naming the field.
    #[test]
    fn control_characters_are_refused_with_the_field() {
        for (raw, found) in [
            ("\0", 0),
            ("a\0b", 0),
            ("\u{1}", 1),
            ("the\tbeatles", 9),
            ("x\u{1b}[31m", 0x1b),
            ("\u{7f}", 0x7f),
            ("a\u{85}b", 0x85),
        ] {
            assert_eq!(
                parse_query(raw),
                Err(CatalogError::ControlCharacter("query", found)),
                "{raw:?}"
            );
        }
        let e = parse_query("a\0").unwrap_err().to_string();
        assert_eq!(
            e,
            "query must not contain control characters (found U+0000)"
        );
        // Printable oddities are queries like any other.
        for ok in ["\u{200b}", "🎵", "a%_\\'\"", "Ｂｅａｔｌｅｓ", "\u{fffd}"] {
            assert!(parse_query(ok).is_ok(), "{ok:?}");
        }
        for (filter, entity_type, set) in [
            (
                "type",
                EntityType::ReleaseGroup,
                SearchFilter {
                    kind: Some("Al\0bum".into()),
                    ..SearchFilter::default()
                },
            ),
            (
                "status",
                EntityType::Release,
                SearchFilter {
                    status: Some("Official\n".into()),
                    ..SearchFilter::default()
                },
            ),
        ] {
            let e = set.check(entity_type).unwrap_err();
            assert!(
                matches!(e, CatalogError::ControlCharacter(f, _) if f == filter),
                "{e:?}"
            );
        }
    }

    #[test]
    fn tokens_round_trip_and_are_bound_to_their_scope() {
        let key = SearchKey {
            tier: 2,
            score: 512_345,
            mbid: Mbid::parse(MBID).unwrap(),
        };
        let token = encode_token("search/artist", "[\"x\"]", &key);
        assert!(
            token
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_eq!(
            decode_token::<SearchKey>(&token, "search/artist", "[\"x\"]"),
            Ok(Some(key))
        );
        assert_eq!(
            decode_token::<SearchKey>("", "search/artist", "x"),
            Ok(None)
        );
        assert!(decode_token::<SearchKey>(&token, "search/label", "[\"x\"]").is_err());
        assert!(decode_token::<SearchKey>(&token, "search/artist", "[\"y\"]").is_err());
        assert!(decode_token::<SearchKey>("not!base64", "search/artist", "x").is_err());
        assert!(decode_token::<SearchKey>("eyJ2IjoxfQ", "search/artist", "x").is_err());
        assert!(decode_token::<BrowseKey>(&token, "search/artist", "[\"x\"]").is_err());
    }

    #[test]
    fn filters_must_apply() {
        let f = SearchFilter {
            country: Some("GB".into()),
            ..SearchFilter::default()
        };
        assert!(f.check(EntityType::Artist).is_ok());
        assert!(matches!(
            f.check(EntityType::Recording),
            Err(CatalogError::FilterNotApplicable {
                filter: "country",
                ..
            })
        ));
        let bad_range = SearchFilter {
            year_from: Some(2000),
            year_to: Some(1990),
            ..SearchFilter::default()
        };
        assert!(bad_range.check(EntityType::Release).is_err());
        let bad_country = SearchFilter {
            country: Some("GBR".into()),
            ..SearchFilter::default()
        };
        assert!(bad_country.check(EntityType::Label).is_err());
    }

    #[test]
    fn lists_have_keys() {
        for list in BrowseList::ALL {
            assert_eq!(BrowseList::from_key(list.key()), Some(list));
            assert!(list.key().starts_with(list.parent_type().as_str()));
        }
        assert_eq!(BrowseList::of_parent(EntityType::Artist).count(), 2);
    }
}
