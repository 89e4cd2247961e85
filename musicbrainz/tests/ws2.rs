//! The ws/2 grammar against MusicBrainz's own answers: every validation rule
//! with its exact status and message, the cache keys of requests the clients
//! send, and projection over the recorded corpus in
//! `tests/fixtures/musicbrainz/`.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use musicmeta_musicbrainz::ws2::{
    Format, IncSet, Kind, Request, Resource, derivable, error_format, project, superset,
};
mod corpus;

use corpus::{Row, load, manifest, recorded_lookup};
use proptest::prelude::*;
use serde_json::Value;

const ID: &str = "5b11f4ce-a62d-471e-81fc-a69a8278c7da";
const ID_UPPER: &str = "5B11F4CE-A62D-471E-81FC-A69A8278C7DA";

fn parse(path: &str, query: &str) -> Result<Request, (u16, String)> {
    let query = (!query.is_empty()).then_some(query);
    Request::parse(path, query, None).map_err(|e| (e.status, e.message))
}

fn key(path: &str, query: &str) -> String {
    parse(path, query)
        .unwrap_or_else(|e| panic!("{path}?{query}: {e:?}"))
        .key()
}

// ---------------------------------------------------------------------------
// Validation

#[test]
fn every_error_rule_gives_musicbrainz_status_and_message() {
    let id = ID;
    let artist_credit_keys = "recordings, recording-rels, releases, release-rels, \
                              release-groups, release-group-rels, works";
    let cases: Vec<(String, String, u16, String)> = vec![
        // Unknown paths: 404 before any validation.
        ("foo/bar".into(), "".into(), 404, "Not Found".into()),
        ("".into(), "".into(), 404, "Not Found".into()),
        (format!("Release/{id}"), "".into(), 404, "Not Found".into()),
        (format!("release/{id}/extra"), "inc=foobar".into(), 404, "Not Found".into()),
        ("isrc".into(), "".into(), 404, "Not Found".into()),
        (format!("annotation/{id}"), "".into(), 404, "Not Found".into()),
        // Parameter sets.
        ("release".into(), "inc=labels".into(), 400,
         "The given parameters do not match any available query type for the release resource.".into()),
        ("release-group/".into(), "query=".into(), 400,
         "The given parameters do not match any available query type for the release-group resource.".into()),
        ("url".into(), "resource=".into(), 400,
         "The given parameters do not match any available query type for the url resource.".into()),
        // inc: unknown, case-sensitive, not for this resource.
        (format!("release/{id}"), "inc=foobar".into(), 400,
         "foobar is not a valid inc parameter for the release resource.".into()),
        (format!("release/{id}"), "inc=Aliases".into(), 400,
         "Aliases is not a valid inc parameter for the release resource.".into()),
        (format!("release/{id}"), "inc=labels+track-rels".into(), 400,
         "track-rels is not a valid inc parameter for the release resource.".into()),
        (format!("instrument/{id}"), "inc=ratings".into(), 400,
         "ratings is not a valid inc parameter for the instrument resource.".into()),
        ("isrc/USSUB0200002".into(), "inc=genres".into(), 400,
         "genres is not a valid inc parameter for the isrc resource.".into()),
        (format!("release/{id}"), "inc=various-artists".into(), 400,
         "various-artists is not a valid inc parameter for the release resource.".into()),
        // The first bad token in request order decides.
        (format!("artist/{id}"), "inc=aliases+coffee+tea".into(), 400,
         "coffee is not a valid inc parameter for the artist resource.".into()),
        // %extra_inc.
        (format!("artist/{id}"), "inc=isrcs".into(), 400,
         "isrcs is not a valid option for the inc parameter for the artist resource unless you \
          specify one of the following other inc parameters: recordings".into()),
        (format!("artist/{id}"), "inc=various-artists".into(), 400,
         "various-artists is not a valid option for the inc parameter for the artist resource \
          unless you specify one of the following other inc parameters: releases".into()),
        (format!("label/{id}"), "inc=media".into(), 400,
         "media is not a valid option for the inc parameter for the label resource unless you \
          specify one of the following other inc parameters: releases".into()),
        (format!("work/{id}"), "inc=artist-credits".into(), 400,
         format!("artist-credits is not a valid option for the inc parameter for the work \
                  resource unless you specify one of the following other inc parameters: {artist_credit_keys}")),
        (format!("artist/{id}"), "inc=type".into(), 400,
         "type is not a valid option for the inc parameter for the artist resource unless you \
          specify one of the following other inc parameters: releases, release-groups".into()),
        // An enabling token that is itself invalid does not help, and is
        // reported if it comes first.
        (format!("work/{id}"), "inc=releases+media".into(), 400,
         "releases is not a valid inc parameter for the work resource.".into()),
        // Tokens that pass the lists but have no attribute.
        (format!("release-group/{id}"), "inc=releases+type".into(), 400,
         "Unknown inc parameter: type".into()),
        (format!("artist/{id}"), "inc=releases+status".into(), 400,
         "Unknown inc parameter: status".into()),
        ("discid/rKs_PWM2y.8B7uVgxqJqzTDz7vs-".into(), "inc=cdstubs".into(), 400,
         "Unknown inc parameter: cdstubs".into()),
        ("release-group".into(), format!("artist={id}&inc=release-group-status"), 400,
         "Unknown inc parameter: release_group_status".into()),
        // Several inc parameters.
        (format!("release/{id}"), "inc=labels&inc=media".into(), 400,
         "Inc arguments must be combined with a space (+ or %20), but you provided multiple parameters".into()),
        // Ids.
        (format!("release/{}", &id[1..]), "".into(), 400, "Invalid mbid.".into()),
        ("release/123".into(), "".into(), 400, "Invalid mbid.".into()),
        ("release/00000000-0000-0000-0000-000000000000".into(), "".into(), 400, "Invalid mbid.".into()),
        (format!("{{{id}}}"), "".into(), 404, "Not Found".into()),
        ("url/not-an-mbid".into(), "inc=release-rels".into(), 400, "Invalid mbid.".into()),
        ("release".into(), "artist=not-an-mbid".into(), 400, "Invalid mbid.".into()),
        ("release".into(), format!("artist={id}&artist={id}"), 400, "Invalid mbid.".into()),
        ("discid/abc".into(), "".into(), 400, "Invalid discid.".into()),
        ("discid/".into(), "inc=labels".into(), 400, "Invalid discid.".into()),
        ("isrc/ussub0200002".into(), "".into(), 400, "Invalid isrc.".into()),
        ("iswc/T-900.755.682".into(), "".into(), 400, "Invalid iswc.".into()),
        ("discid/-".into(), "toc=1+2+3".into(), 400, "Invalid TOC".into()),
        ("discid/".into(), "toc=2+1+500+150".into(), 400, "Invalid TOC".into()),
        ("discid/-".into(), "toc=".into(), 404, "Not Found".into()),
        // limit and offset (browse).
        ("release".into(), format!("artist={id}&limit=abc"), 400,
         "The 'limit' and 'offset' parameters must be positive integers".into()),
        ("release".into(), format!("artist={id}&limit=-1"), 400,
         "The 'limit' and 'offset' parameters must be positive integers".into()),
        ("release".into(), format!("artist={id}&offset=1.5"), 400,
         "The 'limit' and 'offset' parameters must be positive integers".into()),
        ("release".into(), format!("artist={id}&limit=5&limit=6"), 400,
         "The 'limit' and 'offset' parameters must be positive integers".into()),
        ("genre/all".into(), "limit=x".into(), 400,
         "The 'limit' and 'offset' parameters must be positive integers".into()),
        // limit comes before the linked id.
        ("release".into(), "artist=bad&limit=bad".into(), 400,
         "The 'limit' and 'offset' parameters must be positive integers".into()),
        // type, status, release-group-status.
        (format!("artist/{id}"), "type=album".into(), 400,
         "type is not a valid parameter unless releases or release-groups are requested.".into()),
        ("artist".into(), "query=x&type=group".into(), 400,
         "type is not a valid parameter unless releases or release-groups are requested.".into()),
        (format!("artist/{id}"), "inc=releases&type=album|Live".into(), 400,
         "Live is not a recognized release-group type.".into()),
        (format!("recording/{id}"), "inc=release-groups&status=official".into(), 400,
         "status is not a valid parameter unless releases are requested.".into()),
        ("release".into(), format!("label={id}&status=official|foo"), 400,
         "foo is not a recognized release status.".into()),
        ("release-group".into(), format!("release={id}&release-group-status=all"), 400,
         "release-group-status is not a valid parameter unless release groups are browsed by artist.".into()),
        ("release-group".into(), format!("artist={id}&release-group-status=some"), 400,
         "some is not a valid value for the release-group-status parameter.".into()),
        // Search.
        ("release".into(), "query=%20%20".into(), 400,
         "You submitted a blank search query. You must include a non-blank 'query=' parameter with your search.".into()),
        ("release".into(), "query=%22+%22".into(), 400,
         "You submitted a blank search query. You must include a non-blank 'query=' parameter with your search.".into()),
        ("release".into(), "query=a&query=b".into(), 400,
         "Must specify at most 1 query argument".into()),
        ("genre".into(), "query=rock".into(), 501, "This hasn't been implemented yet.".into()),
        ("genre".into(), "".into(), 501, "This hasn't been implemented yet.".into()),
        // Collections: GET on the write endpoint.
        (format!("collection/{id}/releases/{id}"), "".into(), 405,
         "GET is not allowed on this endpoint.".into()),
        // Undecodable bytes.
        ("release".into(), "query=%FF".into(), 400,
         "Sorry, but your request could not be decoded. Please ensure your request is encoded \
          as UTF-8 and try again.".into()),
        // Control characters (the cache's rule, as gRPC's: issue 20).
        ("artist".into(), "query=%00".into(), 400,
         "query must not contain control characters (found U+0000)".into()),
        ("artist".into(), "query=a%1Bb".into(), 400,
         "query must not contain control characters (found U+001B)".into()),
        ("release".into(), "artist=x%C2%85".into(), 400,
         "artist must not contain control characters (found U+0085)".into()),
        // Format: a bad fmt wins over everything, even an unknown path.
        (format!("release/{id}"), "fmt=yaml&inc=foobar".into(), 406,
         "Invalid format. Either set an Accept header (recognized mime types are application/json \
          and application/xml), or include a fmt= argument in the query string (valid values for \
          fmt are json and xml).".into()),
        ("foo".into(), "fmt=".into(), 406,
         "Invalid format. Either set an Accept header (recognized mime types are application/json \
          and application/xml), or include a fmt= argument in the query string (valid values for \
          fmt are json and xml).".into()),
        (format!("release/{id}"), "fmt=json&fmt=json".into(), 406,
         "Invalid format. Either set an Accept header (recognized mime types are application/json \
          and application/xml), or include a fmt= argument in the query string (valid values for \
          fmt are json and xml).".into()),
        ("genre/all".into(), "fmt=csv".into(), 406,
         "Invalid format. Either set an Accept header (recognized mime types are application/json \
          and application/xml and text/plain), or include a fmt= argument in the query string \
          (valid values for fmt are json and txt and xml).".into()),
    ];
    let mut failures = Vec::new();
    for (path, query, status, message) in &cases {
        match parse(path, query) {
            Err((s, m)) if s == *status && m == *message => {}
            other => failures.push(format!(
                "{path}?{query}: got {other:?}, want {status} {message}"
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(cases.len(), 68);
}

#[test]
fn accept_header_decides_without_fmt() {
    let accept = |a: Option<&str>| {
        Request::parse(&format!("release/{ID}"), None, a)
            .map(|r| r.format)
            .map_err(|e| e.status)
    };
    assert_eq!(accept(Some("application/json")), Ok(Format::Json)); // Picard
    assert_eq!(accept(None), Ok(Format::Xml)); // musicbrainzngs
    assert_eq!(accept(Some("*/*")), Ok(Format::Xml));
    assert_eq!(accept(Some("text/html")), Err(406));
    let beets = Request::parse(&format!("release/{ID}"), Some("fmt=json"), Some("*/*")).unwrap();
    assert_eq!(beets.format, Format::Json);
    // `fmt` without `=` has no value: Accept decides.
    let bare = Request::parse(
        &format!("release/{ID}"),
        Some("fmt"),
        Some("application/json"),
    );
    assert_eq!(bare.unwrap().format, Format::Json);
    let txt = Request::parse("genre/all", Some("fmt=txt"), None).unwrap();
    assert_eq!(txt.format, Format::Txt);
}

#[test]
fn error_bodies_use_the_negotiated_format() {
    let bad = Some("inc=foobar&fmt=json");
    assert_eq!(
        error_format(&format!("release/{ID}"), bad, None),
        Some(Format::Json)
    );
    assert_eq!(
        error_format(
            &format!("release/{ID}"),
            Some("inc=foobar"),
            Some("application/json")
        ),
        Some(Format::Json)
    );
    assert_eq!(error_format("foo", None, None), Some(Format::Xml));
    assert_eq!(
        error_format("release", Some("fmt=yaml"), Some("application/json")),
        Some(Format::Xml)
    );
    assert_eq!(error_format("release", Some("query=%FF"), None), None);
}

// ---------------------------------------------------------------------------
// Keys

#[test]
fn keys_normalise_what_musicbrainz_treats_alike() {
    let id = ID;
    let groups: Vec<(&str, Vec<(String, String)>)> = vec![
        (
            "release/5b11f4ce-a62d-471e-81fc-a69a8278c7da?inc=aliases+artist-credits+discids+labels+media",
            vec![
                // Picard: sorted, `+` sent as %2B, Accept header.
                (format!("release/{id}"), "inc=aliases%2Bartist-credits%2Bartists%2Bdiscids%2Blabels%2Bmedia".into()),
                // beets >= 2.6: its own order, fmt=json.
                (format!("release/{id}"), "inc=artists+labels+discids+aliases&fmt=json".into()),
                // musicbrainzngs: spaces (`+` on the wire), random order.
                (format!("release/{id}"), "inc=labels+discids+artists+aliases".into()),
                // %20, mediums, puids, empty tokens, an upper-case MBID, a trailing slash.
                (format!("release/{ID_UPPER}/"), "inc=aliases%20%20artists+labels+mediums+discids".into()),
                // fmt, client, access-free unknown parameters and lookup limits never count.
                (format!("release/{id}"), "client=x&foo=bar&limit=3&inc=artist-credits+labels+discids+aliases&fmt=xml".into()),
            ],
        ),
        (
            "release/5b11f4ce-a62d-471e-81fc-a69a8278c7da",
            vec![
                (format!("release/{id}"), "".into()),
                (format!("release/{id}"), "fmt=json".into()),
                // On a release lookup type and status are accepted and ignored.
                (format!("release/{id}"), "type=album&status=official".into()),
                // A lookup path with `query=` validates as a search: inc ignored.
                (format!("release/{id}"), "query=x&inc=labels".into()),
                // `0` is a false token in Perl, skipped.
                (format!("release/{id}"), "inc=0".into()),
            ],
        ),
        (
            "release?release-group=5b11f4ce-a62d-471e-81fc-a69a8278c7da&inc=labels+media&limit=100&offset=0",
            vec![
                // Picard's "other versions".
                ("release".into(), format!("release-group={id}&limit=100&inc=labels%2Bmedia")),
                // musicbrainzngs: trailing slash, sorted, no offset at 0.
                ("release/".into(), format!("inc=labels+media&limit=100&release-group={ID_UPPER}")),
                ("release".into(), format!("release-group={id}&limit=500&offset=0&inc=media+labels")),
            ],
        ),
        (
            "release-group?artist=5b11f4ce-a62d-471e-81fc-a69a8278c7da&limit=25&offset=0&type=album%7Cep",
            vec![
                // beets' missing plugin; sa-/va- prefixes name the same type.
                ("release-group".into(), format!("artist={id}&type=ep|album&fmt=json")),
                ("release-group".into(), format!("artist={id}&type=sa-album|va-ep|album&limit=0")),
                ("release-group".into(), format!("artist={id}&type=|album|ep&release-group-status=all")),
            ],
        ),
        (
            "recording?query=artist%3A%28x%29+recording%3A%28y%29&limit=5&offset=0",
            vec![
                ("recording".into(), "limit=5&query=artist:(x)%20recording:(y)&fmt=json".into()),
                ("recording/".into(), "limit=5&query=artist%3A%28x%29+recording%3A%28y%29".into()),
                // inc is ignored on searches; type/status are checked, then unused.
                ("recording".into(), "query=artist:(x) recording:(y)&limit=5&inc=foobar".into()),
            ],
        ),
        (
            "release?query=x&limit=25&offset=0",
            vec![
                ("release".into(), "query=x".into()),
                ("release".into(), "query=x&limit=101&offset=-3".into()),
                ("release".into(), "query=x&limit=0&dismax=false".into()),
                ("release".into(), "query=x&type=album&status=official".into()),
            ],
        ),
        (
            "discid/rKs_PWM2y.8B7uVgxqJqzTDz7vs-?cdstubs=no&inc=artist-credits+labels",
            vec![
                ("discid/rKs_PWM2y.8B7uVgxqJqzTDz7vs-".into(), "cdstubs=no&inc=artist-credits%2Blabels".into()),
                ("discid/rKs_PWM2y.8B7uVgxqJqzTDz7vs-".into(), "inc=labels+artists&cdstubs=&limit=25".into()),
            ],
        ),
        (
            "discid/-?toc=1+3+1000+150+400+700&media-format=all",
            vec![
                // Picard 3.x.
                ("discid/".into(), "toc=1+3+1000+150+400+700&cdstubs=no&media-format=all".into()),
                // musicbrainzngs.
                ("discid/-".into(), "media-format=all&toc=1%203%201000%20150%20400%20700".into()),
                ("discid".into(), "toc=01%2B3%2B1000%2B150%2B400%2B700&media-format=all".into()),
            ],
        ),
        (
            "url?resource=https%3A%2F%2Fa.example%2F&resource=https%3A%2F%2Fb.example%2F&inc=artist-rels",
            vec![
                ("url".into(), "resource=https://b.example/&resource=https://a.example/&inc=artist-rels".into()),
                ("url/".into(), "inc=artist-rels&resource=https%3A%2F%2Fa.example%2F&resource=https%3A%2F%2Fb.example%2F".into()),
            ],
        ),
        (
            "recording/5b11f4ce-a62d-471e-81fc-a69a8278c7da?inc=isrcs",
            // `puids` is accepted and does nothing.
            vec![(format!("recording/{id}"), "inc=puids+isrcs".into())],
        ),
        ("genre/all?limit=100&offset=10", vec![("genre/all".into(), "limit=1000&offset=10&fmt=json".into())]),
    ];
    for (want, requests) in groups {
        for (path, query) in requests {
            assert_eq!(key(&path, &query), want, "{path}?{query}");
        }
    }
}

#[test]
fn keys_keep_what_changes_the_answer() {
    let distinct = [
        (format!("release/{ID}"), "inc=labels".to_owned()),
        (format!("release/{ID}"), "inc=labels+media".to_owned()),
        (format!("recording/{ID}"), "inc=releases".to_owned()),
        (
            format!("recording/{ID}"),
            "inc=releases&status=official".to_owned(),
        ),
        (
            format!("recording/{ID}"),
            "inc=releases&type=album".to_owned(),
        ),
        ("release".to_owned(), format!("artist={ID}")),
        ("release".to_owned(), format!("track_artist={ID}")),
        ("release".to_owned(), format!("artist={ID}&offset=25")),
        (
            "release-group".to_owned(),
            format!("artist={ID}&release-group-status=website-default"),
        ),
        ("release".to_owned(), "query=x&dismax=true".to_owned()),
        ("url".to_owned(), "resource=https://a.example/".to_owned()),
        (
            "url".to_owned(),
            "resource=https://a.example/&resource=https://a.example/".to_owned(),
        ),
        (
            "discid/rKs_PWM2y.8B7uVgxqJqzTDz7vs-".to_owned(),
            "".to_owned(),
        ),
        (
            "discid/rKs_PWM2y.8B7uVgxqJqzTDz7vs-".to_owned(),
            "cdstubs=maybe".to_owned(),
        ),
        ("iswc/T-900.755.682-3".to_owned(), "".to_owned()),
        ("iswc/T9007556823".to_owned(), "".to_owned()),
    ];
    let keys: BTreeSet<String> = distinct.iter().map(|(p, q)| key(p, q)).collect();
    assert_eq!(keys.len(), distinct.len(), "{keys:#?}");
}

#[test]
fn upstream_requests_carry_the_format() {
    let r = Request::parse(
        &format!("release/{ID_UPPER}"),
        Some("inc=labels%2Bartists"),
        Some("application/json"),
    )
    .unwrap();
    assert_eq!(
        r.upstream(),
        format!("release/{ID}?inc=artist-credits+labels&fmt=json")
    );
    let r = parse("release/", &format!("artist={ID}")).unwrap();
    assert_eq!(
        r.upstream(),
        format!("release?artist={ID}&limit=25&offset=0&fmt=xml")
    );
    let r = parse(&format!("artist/{ID}"), "").unwrap();
    assert_eq!(r.upstream(), format!("artist/{ID}?fmt=xml"));
    let r = parse("iswc/T-900.755.682-3", "").unwrap();
    assert_eq!(r.upstream(), "iswc/T-900.755.682-3?fmt=xml");
}

#[test]
fn kinds_carry_canonical_values() {
    let r = parse("release", &format!("track_artist={ID_UPPER}&limit=7")).unwrap();
    assert_eq!(
        r.kind,
        Kind::Browse {
            linked: Resource::Artist,
            id: ID.parse().unwrap(),
            limit: 7,
            offset: 0,
            param: "track_artist",
        }
    );
    let r = parse("release", "query=a b&limit=0&offset=5&dismax=true").unwrap();
    assert_eq!(
        r.kind,
        Kind::Search {
            query: "a b".into(),
            limit: 25,
            offset: 5,
            dismax: true
        }
    );
    let r = parse("isrc/USSUB0200002", "").unwrap();
    assert_eq!(
        r.kind,
        Kind::Lookup {
            id: "USSUB0200002".into()
        }
    );
    let r = parse("discid/-", "toc=1 1 500 150").unwrap();
    assert_eq!(
        r.kind,
        Kind::Toc {
            toc: "1+1+500+150".into()
        }
    );
    let r = parse("url", "resource=https://a.example/").unwrap();
    assert_eq!(
        r.kind,
        Kind::UrlByResource {
            resources: vec!["https://a.example/".into()]
        }
    );
    let r = parse("genre/all", "").unwrap();
    assert_eq!(
        r.kind,
        Kind::GenreAll {
            limit: 25,
            offset: 0
        }
    );
    let r = parse(
        &format!("collection/{ID}/releases"),
        "inc=artist-credits+media+releases&limit=100",
    )
    .unwrap();
    assert_eq!(
        r.kind,
        Kind::CollectionContents {
            id: ID.parse().unwrap(),
            entity: Resource::Release,
            limit: 100,
            offset: 0,
        }
    );
    // The browse definition validates `inc` on a lookup path carrying a
    // linked parameter; the lookup then runs with it.
    let r = parse(&format!("release/{ID}"), &format!("artist={ID}&inc=labels")).unwrap();
    assert_eq!(
        (r.kind, r.inc.as_query()),
        (Kind::Lookup { id: ID.into() }, "labels".into())
    );
    assert_eq!(
        parse(
            &format!("release/{ID}"),
            &format!("artist={ID}&inc=artists")
        )
        .unwrap_err()
        .1,
        "artists is not a valid inc parameter for the release resource."
    );
}

#[test]
fn credentials_and_derivability() {
    let picard = "inc=aliases%2Bannotation%2Bartist-credits%2Bartist-rels%2Bartists%2Bcollections\
                  %2Bdiscids%2Bisrcs%2Blabel-rels%2Blabels%2Bmedia%2Brecording-rels%2Brecordings\
                  %2Brelease-group-level-rels%2Brelease-groups%2Brelease-rels%2Bseries-rels%2Burl-rels%2Bwork-rels";
    let beets = "inc=artists+media+recordings+release-groups+labels+artist-credits+aliases\
                 +recording-level-rels+work-rels+work-level-rels+artist-rels+isrcs+url-rels\
                 +release-rels+genres+tags&fmt=json";
    for q in [picard, beets, "", "status=official"] {
        let r = parse(&format!("release/{ID}"), q).unwrap();
        assert!(derivable(&r) && !r.needs_credentials(), "{q}");
    }
    let beets_track = "inc=artists+aliases+isrcs+work-level-rels+artist-rels&fmt=json";
    assert!(derivable(
        &parse(&format!("recording/{ID}"), beets_track).unwrap()
    ));
    assert!(derivable(
        &parse(&format!("work/{ID}"), "inc=work-rels+artist-rels").unwrap()
    ));

    let user = parse(
        &format!("release/{ID}"),
        &format!("{picard}%2Buser-collections"),
    )
    .unwrap();
    assert!(user.needs_credentials() && !derivable(&user));
    let token = parse(&format!("release/{ID}"), "inc=labels&access_token=secret").unwrap();
    assert!(token.needs_credentials() && !derivable(&token));
    assert!(!token.key().contains("secret") && !token.upstream().contains("secret"));
    for (path, q) in [
        (format!("release/{ID}"), "inc=ratings"),
        (
            format!("recording/{ID}"),
            "inc=artists+media+release-groups+releases",
        ),
        (format!("artist/{ID}"), "inc=releases+various-artists"),
        (format!("instrument/{ID}"), "inc=artist-rels"),
        (format!("genre/{ID}"), ""),
        ("release".to_owned(), "query=x"),
        ("isrc/USSUB0200002".to_owned(), ""),
    ] {
        assert!(!derivable(&parse(&path, q).unwrap()), "{path}?{q}");
    }
    assert!(parse("collection", "").unwrap().needs_credentials());
    assert!(
        parse("rating", &format!("id={ID}&entity=artist"))
            .unwrap()
            .needs_credentials()
    );
    assert!(
        parse("tag", &format!("id={ID}&entity=artist"))
            .unwrap()
            .needs_credentials()
    );
    assert!(!parse("tag", "query=rock").unwrap().needs_credentials());
    // A known-looking disc id with a TOC: a lookup; the TOC is only read if
    // the disc id is unknown, so it is kept (canonical when it parses).
    let r = parse(
        "discid/rKs_PWM2y.8B7uVgxqJqzTDz7vs-",
        "toc=1 1 500 150&limit=30",
    )
    .unwrap();
    assert_eq!(
        r.key(),
        "discid/rKs_PWM2y.8B7uVgxqJqzTDz7vs-?toc=1%2B1%2B500%2B150"
    );
    assert!(
        parse(&format!("artist/{ID}"), "inc=user-tags")
            .unwrap()
            .needs_credentials()
    );
}

// ---------------------------------------------------------------------------
// The corpus

/// The lookup request a fixture answers: `<resource>/<id>` and its recorded `inc`.
fn recorded_request(row: &Row) -> Option<Request> {
    // Only a resource's folder holds its lookups (not search/, browse/, …).
    Resource::from_segment(row.path.split_once('/')?.0)?;
    let (path, query) = recorded_lookup(row)?;
    let request =
        Request::parse(&path, Some(&query), None).unwrap_or_else(|e| panic!("{}: {e}", row.path));
    Some(request)
}

#[test]
fn projection_onto_the_recorded_inc_changes_no_known_lookup() {
    let mut checked = 0;
    for row in manifest() {
        let Some(request) = recorded_request(&row) else {
            continue;
        };
        let original = load(&row.path);
        let mut projected = original.clone();
        project(&mut projected, request.resource, &request.inc);
        assert!(
            projected == original,
            "{}: projection onto {} changed it",
            row.path,
            request.inc
        );
        checked += 1;
    }
    assert_eq!(checked, 141);
}

#[test]
fn recorded_error_answers_are_reproduced() {
    let mut checked = 0;
    for row in manifest().iter().filter(|r| r.path.starts_with("errors/")) {
        let body = load(&row.path);
        let message = body["error"].as_str().unwrap();
        let Some(request) = row
            .notes
            .split("request: /ws/2/")
            .nth(1)
            .and_then(|r| r.split(';').next())
        else {
            continue;
        };
        let (path, query) = request.split_once('?').unwrap_or((request, ""));
        let query = query.split(' ').next().unwrap();
        match parse(path, query) {
            Err((_, m)) => assert_eq!(m, message, "{}", row.path),
            // `url?resource=` of an unknown URL: only MusicBrainz knows.
            Ok(r) => assert!(matches!(r.kind, Kind::UrlByResource { .. }), "{}", row.path),
        }
        checked += 1;
    }
    assert_eq!(checked, 5);
}

// Projection of rich release documents.

/// `release/942b9e7b…` (2024): the MANIFEST's inferred `inc` plus what
/// server-rules §7 found missing from it.
const RICH: &str = "release/942b9e7b-3a43-4f22-b200-ab69ee302d16.json";
const RICH_INC: &str = "aliases+annotation+area-rels+artist-credits+artist-rels+collections+discids\
                        +genres+isrcs+label-rels+labels+place-rels+ratings+recording-level-rels\
                        +recordings+release-group-level-rels+release-groups+series-rels+tags\
                        +url-rels+work-level-rels+work-rels";
/// `release/b1dc9838….alt1` (2026), recorded with a known `inc`.
const RICH2: &str = "release/b1dc9838-adf3-43f2-93f9-802b46e5fe59.alt1.json";

fn rich() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| load(RICH))
}

fn rich_inc() -> IncSet {
    IncSet::normalised(RICH_INC.split('+'))
}

fn projected(doc: &Value, inc: &str) -> Value {
    let mut d = doc.clone();
    project(&mut d, Resource::Release, &IncSet::from_canonical(inc));
    d
}

/// Every key anywhere in `v`, by name.
fn keys_anywhere(v: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    fn walk(v: &Value, out: &mut BTreeSet<String>) {
        match v {
            Value::Object(m) => {
                for (k, c) in m {
                    out.insert(k.clone());
                    walk(c, out);
                }
            }
            Value::Array(a) => a.iter().for_each(|c| walk(c, out)),
            _ => {}
        }
    }
    walk(v, &mut out);
    out
}

fn tracks(doc: &Value) -> Vec<&Value> {
    doc["media"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|m| m["tracks"].as_array().into_iter().flatten())
        .collect()
}

#[test]
fn the_rich_fixture_is_its_own_projection() {
    assert_eq!(&projected(rich(), &rich_inc().as_query()), rich());
    let request =
        recorded_request(&manifest().into_iter().find(|r| r.path == RICH2).unwrap()).unwrap();
    let doc = load(RICH2);
    assert_eq!(projected(&doc, &request.inc.as_query()), doc);
}

#[test]
fn recordings_alone_keeps_tracks_and_nothing_else() {
    for doc in [rich(), &load(RICH2)] {
        let p = projected(doc, "recordings");
        assert!(!tracks(&p).is_empty());
        let keys = keys_anywhere(&p);
        for gone in [
            "artist-credit",
            "isrcs",
            "label-info",
            "relations",
            "aliases",
            "tags",
            "genres",
            "rating",
            "collections",
            "release-group",
            "discs",
            "annotation",
        ] {
            assert!(!keys.contains(gone), "{gone} left");
        }
        for kept in [
            "tracks",
            "recording",
            "track-offset",
            "cover-art-archive",
            "text-representation",
        ] {
            assert!(keys.contains(kept), "{kept} gone");
        }
    }
}

#[test]
fn rel_types_and_levels_filter_relations() {
    let doc = rich();
    // artist-rels alone: the release keeps `relations` (here `[]`), nothing
    // else has any, and there are no media at all.
    let p = projected(doc, "artist-rels");
    assert_eq!(p["relations"], Value::Array(vec![]));
    assert!(p.get("media").is_none() && p.get("release-group").is_none());

    // Tracks without the recording level: no recording relations.
    let p = projected(doc, "artist-rels+recordings");
    assert!(
        tracks(&p)
            .iter()
            .all(|t| t["recording"].get("relations").is_none())
    );

    // With it: every track recording keeps `relations`, artist ones only.
    let p = projected(doc, "artist-rels+recording-level-rels+recordings");
    let rels: Vec<&Value> = tracks(&p)
        .iter()
        .map(|t| &t["recording"]["relations"])
        .collect();
    assert!(rels.iter().all(|r| r.is_array()));
    let types: BTreeSet<&str> = rels
        .iter()
        .flat_map(|r| r.as_array().unwrap())
        .map(|r| r["target-type"].as_str().unwrap())
        .collect();
    assert_eq!(types, BTreeSet::from(["artist"]));

    // Work targets keep their relations only with work-level-rels.
    let works = |p: &Value| -> Vec<Value> {
        tracks(p)
            .iter()
            .flat_map(|t| {
                t["recording"]["relations"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .filter(|r| r["target-type"] == "work")
            .map(|r| r["work"].clone())
            .collect()
    };
    let p = projected(doc, "recording-level-rels+recordings+work-rels");
    assert!(!works(&p).is_empty() && works(&p).iter().all(|w| w.get("relations").is_none()));
    let p = projected(
        doc,
        "recording-level-rels+recordings+url-rels+work-level-rels+work-rels",
    );
    let targets = works(&p);
    assert!(targets.iter().all(|w| w["relations"].is_array()));
    assert!(
        targets
            .iter()
            .flat_map(|w| w["relations"].as_array().unwrap())
            .all(|r| matches!(r["target-type"].as_str(), Some("work" | "url")))
    );

    // The release group's relations need its level switch.
    let p = projected(doc, "release-groups+url-rels");
    assert!(p["release-group"].get("relations").is_none());
    let p = projected(doc, "release-group-level-rels+release-groups+url-rels");
    assert_eq!(p["release-group"]["relations"].as_array().unwrap().len(), 2);
}

/// What removing one token from S deletes, as `(key, what)`: a key removed
/// from an object, or the `target-type` of an item removed from `relations`.
fn removed(before: &Value, after: &Value, out: &mut BTreeSet<String>) {
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            for (k, v) in b {
                match a.get(k) {
                    Some(w) => removed(v, w, out),
                    None => {
                        out.insert(k.clone());
                    }
                }
            }
            assert!(a.keys().all(|k| b.contains_key(k)), "a key was added");
        }
        (Value::Array(b), Value::Array(a)) if b.len() == a.len() => {
            b.iter().zip(a).for_each(|(v, w)| removed(v, w, out));
        }
        (Value::Array(b), Value::Array(a)) => {
            // Relation items were dropped: what remains is a subsequence of
            // the same relations (each possibly with deletions inside).
            let same = |x: &Value, y: &Value| {
                let target = |r: &Value| {
                    let t = r["target-type"].as_str().unwrap_or("");
                    (
                        t.to_owned(),
                        r["type"].clone(),
                        r["direction"].clone(),
                        r[t]["id"].clone(),
                    )
                };
                target(x) == target(y)
            };
            let mut rest = a.iter().peekable();
            for item in b {
                match rest.peek() {
                    Some(next) if same(item, next) => {
                        removed(item, next, out);
                        rest.next();
                    }
                    _ => {
                        out.insert(format!(
                            "item:{}",
                            item["target-type"].as_str().unwrap_or("?")
                        ));
                    }
                }
            }
            assert!(rest.next().is_none(), "items reordered or changed");
        }
        (b, a) => assert_eq!(b, a),
    }
}

#[test]
fn each_token_removes_exactly_its_keys() {
    let s = rich_inc();
    let expected = |token: &str| -> BTreeSet<String> {
        let keys: &[&str] = match token {
            "aliases" => &["aliases"],
            "annotation" => &["annotation"],
            "artist-credits" => &["artist-credit"],
            "collections" => &["collections"],
            "genres" => &["genres"],
            "isrcs" => &["isrcs"],
            "labels" => &["label-info"],
            "ratings" => &["rating"],
            "release-groups" => &["release-group"],
            "tags" => &["tags"],
            "discids" => &["discs"],
            // `media` stays: `recordings` still asks for it.
            "media" => &[],
            "recordings" => &["tracks", "track-offset"],
            "recording-level-rels" | "release-group-level-rels" | "work-level-rels" => {
                &["relations"]
            }
            rels => {
                let t = rels.strip_suffix("-rels").unwrap().replace('-', "_");
                return BTreeSet::from([format!("item:{t}")]);
            }
        };
        keys.iter().map(|k| k.to_string()).collect()
    };
    for token in s.iter() {
        let smaller: Vec<&str> = s.iter().filter(|t| *t != token).collect();
        let after = projected(rich(), &smaller.join("+"));
        let mut got = BTreeSet::new();
        removed(rich(), &after, &mut got);
        let want = expected(token);
        // A rel type S has no relation of removes nothing.
        assert!(
            got == want || (token.ends_with("-rels") && got.is_empty()),
            "{token}: {got:?}"
        );
    }
}

fn subset_strategy() -> impl Strategy<Value = (Vec<String>, Vec<String>)> {
    let tokens: Vec<String> = rich_inc().iter().map(str::to_owned).collect();
    let n = tokens.len();
    proptest::sample::subsequence(tokens, 0..=n).prop_flat_map(|r1| {
        let m = r1.len();
        (Just(r1.clone()), proptest::sample::subsequence(r1, 0..=m))
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn projection_composes_and_is_idempotent((r1, r2) in subset_strategy()) {
        let r1 = IncSet::normalised(r1.iter().map(String::as_str));
        let r2 = IncSet::normalised(r2.iter().map(String::as_str));
        prop_assume!(r2.is_subset(&r1));
        let once = projected(rich(), &r1.as_query());
        prop_assert_eq!(&projected(&once, &r1.as_query()), &once);
        let direct = projected(rich(), &r2.as_query());
        prop_assert_eq!(projected(&once, &r2.as_query()), direct);
    }
}

#[test]
fn superset_answers_are_projections_of_the_superset() {
    // Every resource with a superset accepts its own superset as a request,
    // and the requests it derives are exactly the lookups inside it.
    for r in Resource::ALL {
        let Some(s) = superset(r) else { continue };
        let half: Vec<&str> = s.iter().step_by(2).collect();
        let req = parse(&format!("{r}/{ID}"), &format!("inc={}", half.join("+"))).unwrap();
        assert!(derivable(&req), "{r}");
    }
    assert!(superset(Resource::Release).unwrap().contains("media"));
    assert!(!superset(Resource::Recording).unwrap().contains("releases"));
    assert!(!superset(Resource::Instrument).unwrap().contains("ratings"));
}
