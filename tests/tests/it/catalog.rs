//! Browse and search over the cache (`CatalogService`) through the real
//! services: partial lists completed by one job, paging, search ranking and
//! filters on the recorded responses, bad input, and the indexes the
//! statements use.

use std::collections::HashSet;

use futures::future::join_all;
use musicmeta_ingest_worker::{JobOutcome, Worker};
use musicmeta_proto::v1 as pb;
use musicmeta_proto::v1::catalog_service_client::CatalogServiceClient;
use musicmeta_shared::catalog::{BrowseList, SearchFilter};
use musicmeta_shared::db::{self, browse, search};
use musicmeta_shared::jobs::Lane;
use musicmeta_shared::mbid::{EntityType, Mbid};
use musicmeta_tests::app::next_report;
use musicmeta_tests::database::TestDatabase;
use musicmeta_tests::{TestApp, TestOptions};
use tokio_util::sync::CancellationToken;
use tonic::Code;
use tonic::transport::Channel;

const LURES: &str = "c8da2e40-bd28-4d4e-813a-bd2f51958ba8"; // 5 release groups, 25 recordings
const CITY_SLANG: &str = "82935ddb-a9d6-45a7-85e3-0b0add51fa1c"; // 10 releases recorded
const UNKNOWN_ARTIST: &str = "00000000-0000-4000-8000-000000000001"; // the stub answers 404

const ARTISTS: [&str; 9] = [
    "72c536dc-7137-4477-a521-567eeb840fa8", // Bob Dylan (15 aliases)
    "b10bbbfc-cf9e-42e0-be17-e2c3e1d2600d", // The Beatles
    "ba550d0e-adac-4864-b88b-407cab5e76af", // Paul McCartney
    "4d5447d7-c61c-4120-ba1b-d7f471d385b9", // John Lennon
    "24f1766e-9635-4d58-a4d4-9413f9f98a4c", // Johann Sebastian Bach
    "5235052b-7fa0-498b-accf-26b9e7767da7", // محمد منير (alias Mohamed Mounir)
    "300c4c73-33ac-4255-9d57-4e32627f5e13", // Ringo Starr
    "42a8f507-8412-4611-854f-926571049fa0", // George Harrison
    "db92a151-1ac2-438b-bc43-b82e149ddd50", // Rick Astley
];

const LABELS: [&str; 12] = [
    "156fa9e1-1385-41c5-9403-54effeeab69c", // Fin de Siècle Media
    "2b4025d3-8046-489e-a1eb-5adee4131e8e", // Finlandia Records
    "b2fc8bdc-1b49-4c08-aadf-cdf12775461f", // Finnlevy
    "8e2866e7-2df9-4193-886f-f5b9ae52009c", // Finders Keepers
    "70513ce9-894a-4488-9803-d4cbe9ccad04", // Silver Fin Records
    "e1404b13-dc91-4d7e-ab05-932995207bc3", // Blu Fin
    "9b4b2233-6ef8-455f-9abc-2bacc68dba4b", // La Fin du Monde
    "600f2b3a-ca69-469b-b5fa-d7e926e55779", // Música Sin Fin
    "7bbb7278-2af1-4f17-9cf3-5c90a1b4c4f2", // Infinity
    "995428e7-81b6-41dd-bd38-5a7a0ece8ad6", // Mercury Records
    "2757a11f-0dbd-4f0c-97f6-f62532972898", // Shinto Records
    "e2a13cfb-82e3-4d87-89ef-3eb6c15bef52", // Hype Records
];

async fn catalog(app: &TestApp) -> CatalogServiceClient<Channel> {
    CatalogServiceClient::connect(format!("http://{}", app.addr))
        .await
        .expect("connect to query-api")
}

fn browse_request(mbid: &str, page_size: i32, page_token: &str) -> pb::BrowseRequest {
    pb::BrowseRequest {
        mbid: mbid.into(),
        page_size,
        page_token: page_token.into(),
    }
}

fn search_request(query: &str) -> pb::SearchRequest {
    pb::SearchRequest {
        query: query.into(),
        ..pb::SearchRequest::default()
    }
}

/// A worker whose reports are subscribed to before it takes any job.
async fn start_worker(app: &TestApp) -> (Worker, CancellationToken) {
    let worker = Worker::build(app.config.clone())
        .await
        .expect("worker starts");
    let stop = CancellationToken::new();
    let run = worker.clone();
    let token = stop.clone();
    tokio::spawn(async move { run.run(token).await });
    (worker, stop)
}

/// Fills the cache with the recorded entities through ordinary lookups.
async fn load(app: &TestApp) {
    let client = app.client().await;
    let artists = ARTISTS.iter().map(|m| {
        let mut c = client.clone();
        async move {
            c.get_artist(pb::GetArtistRequest { mbid: (*m).into() })
                .await
                .expect("artist lookup filled")
        }
    });
    let labels = LABELS.iter().map(|m| {
        let mut c = client.clone();
        async move {
            c.get_label(pb::GetLabelRequest { mbid: (*m).into() })
                .await
                .expect("label lookup filled")
        }
    });
    join_all(artists).await;
    join_all(labels).await;
}

#[tokio::test]
async fn a_partial_list_is_answered_and_completed_by_one_job() {
    let app = TestApp::spawn_with(TestOptions {
        workers: 0,
        ..TestOptions::default()
    })
    .await;
    let mut catalog = catalog(&app).await;

    // Never seen: an empty, partial page, and a completion queued. Five
    // concurrent calls publish one job between them.
    let calls = (0..5).map(|_| {
        let mut c = catalog.clone();
        async move {
            c.browse_artist_release_groups(browse_request(LURES, 0, ""))
                .await
                .expect("browse answers")
                .into_inner()
        }
    });
    for page in join_all(calls).await {
        assert!(page.release_groups.is_empty());
        let list = page.list.unwrap();
        assert!(!list.complete);
        assert!(list.completion_queued);
    }
    assert_eq!(
        app.broker
            .depth(&app.broker.lane_queue(Lane::Refresh))
            .await,
        1
    );

    let (worker, stop) = start_worker(&app).await;
    let mut reports = worker.subscribe();
    let report = next_report(&mut reports, |r| {
        r.entity
            .is_some_and(|(t, m)| t == EntityType::Artist && m.to_string() == LURES)
    })
    .await;
    assert!(matches!(report.outcome, JobOutcome::Stored { .. }));
    assert_eq!(report.queued, 0, "completing a list fetches no children");
    assert_eq!(app.musicbrainz.browses_of(LURES).await, 1);

    let page = catalog
        .browse_artist_release_groups(browse_request(LURES, 0, ""))
        .await
        .unwrap()
        .into_inner();
    let list = page.list.unwrap();
    assert!(list.complete);
    assert!(!list.completion_queued);
    assert_eq!(list.known_total, Some(5));
    let titles: Vec<_> = page
        .release_groups
        .iter()
        .map(|g| g.title.as_str())
        .collect();
    // Date order: 2013-06-18, 2013-10-22, 2014-03-05, 2014-10-07, 2017-02-03.
    assert_eq!(
        titles,
        ["Dizzy", "Vacant", "Tape", "Lures", "There's No Pressure"]
    );
    assert!(page.release_groups.iter().all(|g| !g.fetched));
    assert!(
        page.release_groups
            .iter()
            .all(|g| g.artist_credit_phrase == "Lures")
    );
    assert!(page.next_page_token.is_empty());
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM fetch_request WHERE entity_type LIKE '%/%'")
            .await,
        0,
        "the completion request is cleared"
    );

    // Pages of two walk the same list, each item once.
    let mut token = String::new();
    let mut paged = Vec::new();
    let mut pages = 0;
    loop {
        let page = catalog
            .browse_artist_release_groups(browse_request(LURES, 2, &token))
            .await
            .unwrap()
            .into_inner();
        pages += 1;
        paged.extend(page.release_groups.into_iter().map(|g| g.title));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(pages, 3);
    assert_eq!(paged, titles);

    // Once a release group is fetched, the list says so. (Its recorded
    // lookup lacks credits, which a fetch would store as they came, so the
    // fetch is marked directly.)
    app.db
        .connect()
        .await
        .execute(
            "UPDATE release_group SET fetched_at = now() WHERE title = 'Lures'",
            &[],
        )
        .await
        .unwrap();
    let page = catalog
        .browse_artist_release_groups(browse_request(LURES, 0, ""))
        .await
        .unwrap()
        .into_inner();
    let lures = page
        .release_groups
        .iter()
        .find(|g| g.title == "Lures")
        .unwrap();
    assert!(lures.fetched);

    // Search reaches the stubs a browse stored, filtered by credited artist.
    let hits = catalog
        .search_release_groups(pb::SearchRequest {
            artist_mbid: Some(LURES.into()),
            ..search_request("vacnt")
        })
        .await
        .unwrap()
        .into_inner()
        .hits;
    assert_eq!(hits[0].release_group.as_ref().unwrap().title, "Vacant");
    stop.cancel();
}

#[tokio::test]
async fn label_releases_and_artist_recordings_are_browsed() {
    let app = TestApp::spawn().await;
    let mut catalog = catalog(&app).await;
    let mut reports = app.reports();

    let first = catalog
        .browse_label_releases(browse_request(CITY_SLANG, 0, ""))
        .await
        .unwrap()
        .into_inner();
    assert!(first.releases.is_empty());
    assert!(first.list.unwrap().completion_queued);
    next_report(&mut reports, |r| {
        r.entity.is_some_and(|(_, m)| m.to_string() == CITY_SLANG)
    })
    .await;
    let page = catalog
        .browse_label_releases(browse_request(CITY_SLANG, 0, ""))
        .await
        .unwrap()
        .into_inner();
    assert!(page.list.unwrap().complete);
    assert_eq!(page.releases.len(), 10);
    let dates: Vec<_> = page
        .releases
        .iter()
        .map(|r| r.date.clone().unwrap())
        .collect();
    let mut sorted = dates.clone();
    sorted.sort();
    assert_eq!(dates, sorted, "releases come in date order");
    assert_eq!(dates[0], "1990");

    catalog
        .browse_artist_recordings(browse_request(LURES, 0, ""))
        .await
        .unwrap();
    next_report(&mut reports, |r| {
        r.entity.is_some_and(|(_, m)| m.to_string() == LURES)
    })
    .await;
    let mut token = String::new();
    let mut seen = HashSet::new();
    loop {
        let page = catalog
            .browse_artist_recordings(browse_request(LURES, 10, &token))
            .await
            .unwrap()
            .into_inner();
        assert!(page.list.unwrap().complete);
        for r in page.recordings {
            assert!(seen.insert(r.mbid), "no recording twice");
        }
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen.len(), 25);
}

#[tokio::test]
async fn a_parent_musicbrainz_does_not_have_is_not_found() {
    let app = TestApp::spawn().await;
    let mut catalog = catalog(&app).await;
    let mut reports = app.reports();
    let first = catalog
        .browse_artist_recordings(browse_request(UNKNOWN_ARTIST, 0, ""))
        .await
        .unwrap()
        .into_inner();
    assert!(first.list.unwrap().completion_queued);
    let report = next_report(&mut reports, |r| r.entity.is_some()).await;
    assert_eq!(report.outcome, JobOutcome::NotFound);
    let err = catalog
        .browse_artist_recordings(browse_request(UNKNOWN_ARTIST, 0, ""))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    assert_eq!(
        app.db.count("SELECT count(*) FROM fetch_request").await,
        0,
        "no completion is left pending for it"
    );
}

#[tokio::test]
async fn search_is_accent_case_and_typo_tolerant_and_ranked() {
    let app = TestApp::spawn().await;
    load(&app).await;
    let mut catalog = catalog(&app).await;
    let labels = |r: pb::SearchLabelsResponse| -> Vec<(String, bool)> {
        r.hits
            .into_iter()
            .map(|h| (h.label.unwrap().name, h.relevance.unwrap().exact))
            .collect()
    };
    let artists = |r: pb::SearchArtistsResponse| -> Vec<(String, pb::Relevance)> {
        r.hits
            .into_iter()
            .map(|h| (h.artist.unwrap().name, h.relevance.unwrap()))
            .collect()
    };

    // Prefix matches first, then names containing the word.
    let fin = labels(
        catalog
            .search_labels(search_request("fin"))
            .await
            .unwrap()
            .into_inner(),
    );
    let names: Vec<&str> = fin.iter().map(|(n, _)| n.as_str()).collect();
    let prefix: HashSet<&str> = names[..4].iter().copied().collect();
    assert_eq!(
        prefix,
        HashSet::from([
            "Fin de Siècle Media",
            "Finlandia Records",
            "Finnlevy",
            "Finders Keepers"
        ])
    );
    for other in [
        "Silver Fin Records",
        "Blu Fin",
        "La Fin du Monde",
        "Música Sin Fin",
    ] {
        assert!(names[4..].contains(&other), "{other} in {names:?}");
    }
    assert!(
        !names.contains(&"Infinity"),
        "a word inside another is not a match"
    );
    assert!(fin.iter().all(|(_, exact)| !exact));

    // Accents and case do not matter; an exact match comes first.
    let musica = labels(
        catalog
            .search_labels(search_request("MUSICA sin fin"))
            .await
            .unwrap()
            .into_inner(),
    );
    assert_eq!(musica[0], ("Música Sin Fin".to_owned(), true));

    // Typos.
    let beatles = artists(
        catalog
            .search_artists(search_request("beatels"))
            .await
            .unwrap()
            .into_inner(),
    );
    assert_eq!(beatles[0].0, "The Beatles");
    let paul = artists(
        catalog
            .search_artists(search_request("Paul Mcartny"))
            .await
            .unwrap()
            .into_inner(),
    );
    assert_eq!(paul[0].0, "Paul McCartney");
    assert!(!paul[0].1.exact && paul[0].1.score < 1.0);

    // Aliases, reported as the match.
    let zimmerman = artists(
        catalog
            .search_artists(search_request("robert zimmerman"))
            .await
            .unwrap()
            .into_inner(),
    );
    assert_eq!(zimmerman[0].0, "Bob Dylan");
    assert!(zimmerman[0].1.exact);
    assert_eq!(
        zimmerman[0].1.matched_alias.as_deref(),
        Some("Robert Zimmerman")
    );
    let mounir = artists(
        catalog
            .search_artists(search_request("mohamed mounir"))
            .await
            .unwrap()
            .into_inner(),
    );
    assert_eq!(mounir[0].0, "محمد منير");

    // Filters: "john" is similar to both John Lennon and Johann Sebastian Bach.
    let john = |filter: pb::SearchRequest| {
        let mut c = catalog.clone();
        async move {
            let names: Vec<String> = artists(c.search_artists(filter).await.unwrap().into_inner())
                .into_iter()
                .map(|(n, _)| n)
                .collect();
            names
        }
    };
    let all = john(search_request("john")).await;
    assert!(
        all.contains(&"John Lennon".to_owned())
            && all.contains(&"Johann Sebastian Bach".to_owned())
    );
    assert_eq!(
        john(pb::SearchRequest {
            country: Some("de".into()),
            ..search_request("john")
        })
        .await,
        ["Johann Sebastian Bach"]
    );
    assert_eq!(
        john(pb::SearchRequest {
            year_from: Some(1900),
            year_to: Some(1950),
            ..search_request("john")
        })
        .await,
        ["John Lennon"]
    );
    assert!(
        john(pb::SearchRequest {
            r#type: Some("group".into()),
            ..search_request("john")
        })
        .await
        .is_empty()
    );

    // Pages of two give the same order as one page of all.
    let whole = catalog
        .search_labels(search_request("records"))
        .await
        .unwrap()
        .into_inner();
    assert!(whole.next_page_token.is_empty());
    let whole: Vec<String> = whole
        .hits
        .into_iter()
        .map(|h| h.label.unwrap().mbid)
        .collect();
    assert!(whole.len() >= 4, "{whole:?}");
    let mut paged = Vec::new();
    let mut token = String::new();
    loop {
        let page = catalog
            .search_labels(pb::SearchRequest {
                page_size: 2,
                page_token: token.clone(),
                ..search_request("records")
            })
            .await
            .unwrap()
            .into_inner();
        assert!(page.hits.len() <= 2);
        paged.extend(page.hits.into_iter().map(|h| h.label.unwrap().mbid));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(paged, whole);

    // Search never asks MusicBrainz for anything.
    let before = app.musicbrainz.requests().await.len();
    catalog
        .search_recordings(search_request("anything at all"))
        .await
        .unwrap();
    assert_eq!(app.musicbrainz.requests().await.len(), before);
    assert_eq!(
        app.broker
            .depth(&app.broker.lane_queue(Lane::Refresh))
            .await,
        0
    );
}

#[tokio::test]
async fn bad_input_is_invalid_argument_with_a_clear_message() {
    let app = TestApp::spawn_with(TestOptions {
        workers: 0,
        ..TestOptions::default()
    })
    .await;
    let mut catalog = catalog(&app).await;
    let other_token = {
        // A real token, from another query.
        let conn = app.db.connect().await;
        conn.batch_execute(
            "INSERT INTO label (mbid, name) SELECT gen_random_uuid(), 'Records ' || i \
             FROM generate_series(1, 3) i",
        )
        .await
        .unwrap();
        catalog
            .search_labels(pb::SearchRequest {
                page_size: 1,
                ..search_request("records")
            })
            .await
            .unwrap()
            .into_inner()
            .next_page_token
    };
    assert!(!other_token.is_empty());

    let search_cases = [
        (search_request(""), "query must not be empty"),
        (search_request("   "), "query must not be empty"),
        (search_request(&"x".repeat(201)), "at most 200 characters"),
        (
            pb::SearchRequest {
                page_size: 101,
                ..search_request("x")
            },
            "page_size must be between 0 and 100",
        ),
        (
            pb::SearchRequest {
                page_size: -1,
                ..search_request("x")
            },
            "page_size",
        ),
        (
            pb::SearchRequest {
                page_token: "garbage!".into(),
                ..search_request("x")
            },
            "page_token is not valid",
        ),
        (
            pb::SearchRequest {
                page_token: other_token.clone(),
                ..search_request("other query")
            },
            "belongs to another",
        ),
        (
            pb::SearchRequest {
                artist_mbid: Some("not-an-mbid".into()),
                ..search_request("x")
            },
            "invalid artist_mbid",
        ),
        (
            pb::SearchRequest {
                country: Some("GB".into()),
                ..search_request("x")
            },
            "filter country does not apply to recording",
        ),
        (
            pb::SearchRequest {
                year_from: Some(2000),
                year_to: Some(1990),
                ..search_request("x")
            },
            "year_from",
        ),
    ];
    for (request, message) in search_cases {
        let err = catalog
            .search_recordings(request.clone())
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{request:?}");
        assert!(
            err.message().contains(message),
            "{:?} should mention {message:?}",
            err.message()
        );
    }
    // The same token is refused by another entity type's search.
    let err = catalog
        .search_artists(pb::SearchRequest {
            page_token: other_token,
            ..search_request("records")
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);

    let browse_cases = [
        (browse_request("nope", 0, ""), "invalid mbid"),
        (browse_request(LURES, 500, ""), "page_size"),
        (browse_request(LURES, 0, "AAAA"), "page_token is not valid"),
    ];
    for (request, message) in browse_cases {
        let err = catalog
            .browse_artist_release_groups(request)
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert!(err.message().contains(message), "{}", err.message());
    }
    assert_eq!(
        app.db.count("SELECT count(*) FROM fetch_request").await,
        0,
        "nothing is queued for bad input"
    );
}

/// A NUL in a search query reached PostgreSQL and came back as
/// `UNAVAILABLE` "the cache database is unavailable" (issue 20): control
/// characters in a query or a text filter are the client's mistake,
/// refused before any query with the reason.
#[tokio::test]
async fn control_characters_in_search_text_are_invalid_argument() {
    let app = TestApp::spawn_with(TestOptions {
        workers: 0,
        ..TestOptions::default()
    })
    .await;
    let mut catalog = catalog(&app).await;
    for (query, found) in [
        ("\0", "U+0000"),
        ("beat\0les", "U+0000"),
        ("\u{1}", "U+0001"),
        ("a\u{1b}[2J", "U+001B"),
        ("the\tbeatles", "U+0009"),
        ("\u{7f}", "U+007F"),
        ("\u{9f}x", "U+009F"),
    ] {
        let err = catalog
            .search_artists(search_request(query))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{query:?}: {err:?}");
        assert_eq!(
            err.message(),
            format!("query must not contain control characters (found {found})"),
            "{query:?}"
        );
    }
    let err = catalog
        .search_artists(pb::SearchRequest {
            r#type: Some("Gro\0up".into()),
            ..search_request("x")
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(
        err.message().starts_with("type must not contain"),
        "{err:?}"
    );
    let err = catalog
        .search_releases(pb::SearchRequest {
            status: Some("\0".into()),
            ..search_request("x")
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(
        err.message().starts_with("status must not contain"),
        "{err:?}"
    );
}

/// Whatever text a client puts in a search (query and every text filter),
/// the answer is a result or `INVALID_ARGUMENT`: never an outage
/// (`UNAVAILABLE`) or a fault of ours (`INTERNAL`, `UNKNOWN`). Strings from
/// proptest's generators (any Unicode scalar, control characters, SQL and
/// LIKE metacharacters) plus a table of known troublemakers.
#[tokio::test]
async fn odd_search_strings_are_answered_or_invalid_never_an_outage() {
    use proptest::strategy::{Strategy, ValueTree};
    use proptest::test_runner::TestRunner;

    let app = TestApp::spawn_with(TestOptions {
        workers: 0,
        ..TestOptions::default()
    })
    .await;
    app.db
        .connect()
        .await
        .batch_execute(
            "INSERT INTO artist (mbid, name) VALUES (gen_random_uuid(), 'The Beatles'); \
             INSERT INTO release (mbid, title) VALUES (gen_random_uuid(), 'Abbey Road')",
        )
        .await
        .unwrap();
    let mut catalog = catalog(&app).await;
    let strategy = proptest::prop_oneof![
        proptest::arbitrary::any::<String>(),
        "[\\x00-\\x1f\\x7f-\\x9f a-z%_'\"\\\\*:&|!()<>-]{0,12}",
        "\\PC{0,250}",
    ];
    let mut runner = TestRunner::deterministic();
    let mut inputs: Vec<String> = [
        "\0",
        "%",
        "_",
        "\\",
        "'",
        "''",
        "\"",
        "%_%",
        "' OR '1'='1",
        "$1",
        "::text",
        "\u{feff}",
        "\u{200b}",
        "\u{fffd}",
        "\u{10ffff}",
        "\u{e000}",
        "Ｂｅａｔｌｅｓ",
        "ß",
        "İ",
        "ﬁ",
        "🎵",
        "a\u{301}",
        "\u{2028}",
        "\u{85}",
        "\r\n",
        " ",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    inputs.push("é".repeat(200));
    inputs.push("x".repeat(10_000));
    for _ in 0..150 {
        inputs.push(strategy.new_tree(&mut runner).unwrap().current());
    }
    for text in &inputs {
        let calls = [
            (
                "query",
                catalog.search_artists(search_request(text)).await.err(),
            ),
            (
                "type",
                catalog
                    .search_artists(pb::SearchRequest {
                        r#type: Some(text.clone()),
                        ..search_request("beatles")
                    })
                    .await
                    .err(),
            ),
            (
                "country",
                catalog
                    .search_artists(pb::SearchRequest {
                        country: Some(text.clone()),
                        ..search_request("beatles")
                    })
                    .await
                    .err(),
            ),
            (
                "status",
                catalog
                    .search_releases(pb::SearchRequest {
                        status: Some(text.clone()),
                        ..search_request("abbey")
                    })
                    .await
                    .err(),
            ),
        ];
        for (field, err) in calls {
            let Some(err) = err else { continue };
            assert_eq!(
                err.code(),
                Code::InvalidArgument,
                "{field} = {text:?}: {err:?}"
            );
            assert!(
                err.message().contains(field),
                "{field} = {text:?}: the reason does not name the field: {err:?}"
            );
        }
    }
}

#[tokio::test]
async fn search_and_browse_use_their_indexes() {
    let db = TestDatabase::migrated().await;
    let conn = db.connect().await;
    // Enough rows that a sequential scan is not the cheap plan: 20,000 of
    // each kind with random names, credits, groups and labels.
    conn.batch_execute(
        "INSERT INTO artist (mbid, name) \
           SELECT md5('a' || i)::uuid, 'a' || substr(md5(i::text), 1, 12) FROM generate_series(1, 20000) i; \
         INSERT INTO label (mbid, name) \
           SELECT md5('l' || i)::uuid, 'l' || substr(md5(i::text), 1, 12) FROM generate_series(1, 20000) i; \
         INSERT INTO release_group (mbid, title) \
           SELECT md5('g' || i)::uuid, 'g' || substr(md5(i::text), 1, 12) FROM generate_series(1, 20000) i; \
         INSERT INTO release (mbid, title, release_group_mbid) \
           SELECT md5('r' || i)::uuid, 'r' || substr(md5(i::text), 1, 12), md5('g' || (i % 20000 + 1))::uuid \
           FROM generate_series(1, 20000) i; \
         INSERT INTO recording (mbid, title) \
           SELECT md5('c' || i)::uuid, 'c' || substr(md5(i::text), 1, 12) FROM generate_series(1, 20000) i; \
         INSERT INTO entity_alias (entity_type, mbid, position, name) \
           SELECT 'artist', md5('a' || i)::uuid, 0, 'x' || substr(md5(i::text), 5, 12) FROM generate_series(1, 20000) i; \
         INSERT INTO artist_credit (entity_type, mbid, position, artist_mbid, credited_name) \
           SELECT 'release-group', md5('g' || i)::uuid, 0, md5('a' || i)::uuid, 'x' FROM generate_series(1, 20000) i; \
         INSERT INTO release_label (release_mbid, position, label_mbid) \
           SELECT md5('r' || i)::uuid, 0, md5('l' || i)::uuid FROM generate_series(1, 20000) i; \
         INSERT INTO artist_credit (entity_type, mbid, position, artist_mbid, credited_name) \
           SELECT 'recording', md5('c' || i)::uuid, 0, md5('a' || i)::uuid, 'x' FROM generate_series(1, 20000) i; \
         INSERT INTO medium (release_mbid, position) \
           SELECT md5('r' || i)::uuid, 1 FROM generate_series(1, 20000) i; \
         INSERT INTO track (mbid, release_mbid, medium_position, position, title, recording_mbid) \
           SELECT md5('t' || i)::uuid, md5('r' || i)::uuid, 1, 1, 't', md5('c' || i)::uuid \
           FROM generate_series(1, 20000) i; \
         INSERT INTO artist_credit (entity_type, mbid, position, artist_mbid, credited_name) \
           SELECT 'track', md5('t' || i)::uuid, 0, md5('a' || i)::uuid, 'x' FROM generate_series(1, 20000) i; \
         ANALYZE;",
    )
    .await
    .unwrap();
    let pool = db::build_pool(&db.config()).unwrap();
    let indexes = [
        (EntityType::Artist, "artist_name_trgm_idx"),
        (EntityType::Artist, "entity_alias_name_trgm_idx"),
        (EntityType::Label, "label_name_trgm_idx"),
        (EntityType::ReleaseGroup, "release_group_title_trgm_idx"),
        (EntityType::Release, "release_title_trgm_idx"),
        (EntityType::Recording, "recording_title_trgm_idx"),
    ];
    for (entity_type, index) in indexes {
        let plan = search::explain(
            &pool,
            entity_type,
            "c4ca4238a0b9",
            &SearchFilter::default(),
            25,
            false,
        )
        .await
        .unwrap();
        assert!(
            plan.contains(index),
            "{entity_type} search uses {index}:\n{plan}"
        );
        assert!(
            !plan.contains("Seq Scan"),
            "{entity_type} search scans:\n{plan}"
        );
    }
    let client = pool.get().await.unwrap();
    let row = client
        .query_one(
            "SELECT md5('a1')::uuid, md5('g1')::uuid, md5('l1')::uuid",
            &[],
        )
        .await
        .unwrap();
    let parent = |i: usize| Mbid::from_uuid(row.get::<_, uuid::Uuid>(i));
    let lists = [
        (
            BrowseList::ArtistReleaseGroups,
            parent(0),
            "artist_credit_artist",
        ),
        (
            BrowseList::ReleaseGroupReleases,
            parent(1),
            "release_release_group_idx",
        ),
        (
            BrowseList::LabelReleases,
            parent(2),
            "release_label_label_idx",
        ),
        (
            BrowseList::ArtistRecordings,
            parent(0),
            "artist_credit_artist",
        ),
    ];
    for (list, mbid, index) in lists {
        let plan = browse::explain_page(&client, list, mbid, 25).await.unwrap();
        assert!(plan.contains(index), "{} uses {index}:\n{plan}", list.key());
        assert!(!plan.contains("Seq Scan"), "{} scans:\n{plan}", list.key());
    }
}
