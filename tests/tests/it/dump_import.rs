//! `ingest-worker import-dump` with dump archives built in MusicBrainz's
//! published format (`<entity>.tar.xz`: `TIMESTAMP`, `COPYING`,
//! `JSON_DUMPS_SCHEMA_NUMBER`, `mbdump/<entity>` with one entity per line)
//! from the recorded responses, into a real PostgreSQL.

use std::io::Write;
use std::path::{Path, PathBuf};

use musicmeta_ingest_worker::import::{self, ImportError, ImportOptions, Summary};
use musicmeta_ingest_worker::progress::Progress;
use musicmeta_musicbrainz::model::parse_entity;
use musicmeta_shared::db::{self, EntityWriter, PgStore};
use musicmeta_shared::domain::{Document, FetchOutcome};
use musicmeta_shared::mbid::EntityType;
use musicmeta_tests::database::TestDatabase;
use musicmeta_tests::fixtures;
use tokio_util::sync::CancellationToken;

/// When the test dumps were made, as MusicBrainz writes it.
const TIMESTAMP: &str = "2026-11-28 00:00:10.123456+00";

/// A folder of its own under the system's temporary folder, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("musicmeta-dump-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The recorded lookups of `entity_type` (primary captures that parse), one
/// compact JSON line each.
fn recorded_lines(entity_type: EntityType) -> Vec<String> {
    let dir = fixtures::dir().join(entity_type.as_str());
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.ends_with(".json") && name.matches('.').count() == 1
        })
        .collect();
    files.sort();
    files
        .iter()
        .filter_map(|p| {
            let body = std::fs::read(p).unwrap();
            parse_entity(entity_type, &body).ok()?;
            let value: serde_json::Value = serde_json::from_slice(&body).ok()?;
            Some(value.to_string())
        })
        .collect()
}

/// Writes `<dir>/<entity>.tar.xz` with `lines` as `mbdump/<entity>`.
fn archive(dir: &Path, entity: &str, lines: &[String]) -> PathBuf {
    archive_made_at(dir, entity, lines, TIMESTAMP)
}

/// [`archive`] of a dump made at `timestamp` (MusicBrainz's format).
fn archive_made_at(dir: &Path, entity: &str, lines: &[String], timestamp: &str) -> PathBuf {
    let path = dir.join(format!("{entity}.tar.xz"));
    let xz = liblzma::write::XzEncoder::new(std::fs::File::create(&path).unwrap(), 6);
    let mut tar = tar::Builder::new(xz);
    let mut add = |name: &str, data: &[u8]| {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, name, data).unwrap();
    };
    add("TIMESTAMP", format!("{timestamp}\n").as_bytes());
    add("COPYING", b"CC0 and CC BY-NC-SA, see README\n");
    add("JSON_DUMPS_SCHEMA_NUMBER", b"1\n");
    let mut body = Vec::new();
    for line in lines {
        body.write_all(line.as_bytes()).unwrap();
        body.push(b'\n');
    }
    add(&format!("mbdump/{entity}"), &body);
    tar.into_inner().unwrap().finish().unwrap();
    path
}

async fn import(
    db: &TestDatabase,
    paths: &[PathBuf],
    options: &ImportOptions,
) -> Result<Summary, ImportError> {
    import::run(
        &db.config(),
        paths,
        options,
        Progress::Off,
        CancellationToken::new(),
    )
    .await
}

/// Releases with a bad line and an error body among them, and artists.
struct Dump {
    _dir: Scratch,
    paths: Vec<PathBuf>,
    releases: usize,
    artists: usize,
}

fn dump() -> Dump {
    let dir = Scratch::new();
    let mut releases = recorded_lines(EntityType::Release);
    let good_releases = releases.len();
    releases.insert(3, "{\"title\": \"cut off".to_owned());
    releases.insert(7, r#"{"error": "Not Found"}"#.to_owned());
    releases.insert(9, String::new());
    let artists = recorded_lines(EntityType::Artist);
    let paths = vec![
        archive(&dir.0, "release", &releases),
        archive(&dir.0, "artist", &artists),
        archive(
            &dir.0,
            "work",
            &[r#"{"id": "b1df2cf3-69a9-3bc0-be44-f71e79b27a22"}"#.to_owned()],
        ),
    ];
    Dump {
        releases: good_releases,
        artists: artists.len(),
        paths,
        _dir: dir,
    }
}

async fn fetched_at_dump_time(db: &TestDatabase, table: &str) -> i64 {
    let client = db.connect().await;
    client
        .query_one(
            &format!("SELECT count(*) FROM {table} WHERE fetched_at = $1::text::timestamptz"),
            &[&TIMESTAMP],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn a_dump_fills_the_tables_with_the_dump_time_and_reports_bad_lines() {
    let db = TestDatabase::migrated().await;
    let dump = dump();
    let summary = import(&db, &dump.paths, &ImportOptions::default())
        .await
        .unwrap();
    assert_eq!(
        summary.stored as usize,
        dump.releases + dump.artists,
        "{summary}"
    );
    assert_eq!(summary.bad, 2, "{summary}");
    assert_eq!((summary.files, summary.unsupported), (2, 1), "{summary}");
    assert!(!summary.interrupted);

    // Every imported row was "fetched" when the dump was made; the
    // releases' credited artists that the artist dump lacks are stubs.
    assert_eq!(
        fetched_at_dump_time(&db, "release").await as usize,
        dump.releases
    );
    assert_eq!(
        db.count("SELECT count(*) FROM release WHERE fetched_at IS NOT NULL")
            .await as usize,
        dump.releases
    );
    assert_eq!(
        fetched_at_dump_time(&db, "artist").await as usize,
        dump.artists
    );

    // Stored as a fetch stores it: the same rows as the fetch path makes,
    // but for the fetch time.
    let fetched = TestDatabase::migrated().await;
    let store = PgStore::new(db::build_pool(&fetched.config()).unwrap());
    for (entity_type, lines) in [
        (EntityType::Release, recorded_lines(EntityType::Release)),
        (EntityType::Artist, recorded_lines(EntityType::Artist)),
    ] {
        for line in lines {
            let entity = parse_entity(entity_type, line.as_bytes()).unwrap();
            let mbid = entity.mbid();
            let document = Document::new(line.into_bytes());
            store
                .store(entity_type, mbid, FetchOutcome::Found { entity, document })
                .await
                .unwrap();
        }
    }
    let without_times = |rows: Vec<String>| -> Vec<String> {
        rows.into_iter()
            .filter(|r| !r.starts_with("dump_import: "))
            // Fetch times differ by design: the dump's, and now.
            .map(|r| without_timestamps(&r))
            .collect()
    };
    assert_eq!(
        without_times(db.snapshot().await),
        without_times(fetched.snapshot().await)
    );

    // The progress row says where the release file stands.
    assert_release_file_done(&db, &dump).await;
}

/// The release file's progress row: every line read, every release stored
/// once, the two bad lines counted, finished; no batch left to fold.
async fn assert_release_file_done(db: &TestDatabase, dump: &Dump) {
    let row = db
        .connect()
        .await
        .query_one(
            "SELECT lines, stored, bad, finished_at IS NOT NULL FROM dump_import \
             WHERE source = 'release.tar.xz:mbdump/release'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0) as usize, dump.releases + 3);
    assert_eq!(row.get::<_, i64>(1) as usize, dump.releases);
    assert_eq!(row.get::<_, i64>(2), 2);
    assert!(row.get::<_, bool>(3));
    assert_eq!(db.count("SELECT count(*) FROM dump_import_batch").await, 0);
}

/// A row's text without its timestamps (`2026-12-02 16:20:01.123+00`).
fn without_timestamps(row: &str) -> String {
    let bytes = row.as_bytes();
    let mut out = String::with_capacity(row.len());
    let mut i = 0;
    while i < bytes.len() {
        let looks_like_time = bytes.len() - i >= 19
            && bytes[i..i + 4].iter().all(u8::is_ascii_digit)
            && bytes[i + 4] == b'-'
            && bytes[i + 7] == b'-'
            && bytes[i + 10] == b' '
            && bytes[i + 13] == b':';
        if looks_like_time {
            let mut j = i + 19;
            while j < bytes.len() && (bytes[j].is_ascii_digit() || b".+-:".contains(&bytes[j])) {
                j += 1;
            }
            out.push_str("<time>");
            i = j;
        } else {
            out.push(bytes[i] as char);
            i += 1;
        }
    }
    out
}

#[tokio::test]
async fn importing_again_changes_nothing_and_reads_nothing() {
    let db = TestDatabase::migrated().await;
    let dump = dump();
    import(&db, &dump.paths, &ImportOptions::default())
        .await
        .unwrap();
    let first = db.snapshot().await;
    let again = import(&db, &dump.paths, &ImportOptions::default())
        .await
        .unwrap();
    assert_eq!((again.stored, again.already_done), (0, 2), "{again}");
    assert_eq!(db.snapshot().await, first);

    // Forgetting that it was done, the same lines stored again change no row.
    let client = db.connect().await;
    client
        .batch_execute("DELETE FROM dump_import")
        .await
        .unwrap();
    let forced = import(&db, &dump.paths, &ImportOptions::default())
        .await
        .unwrap();
    assert_eq!(forced.stored as usize, dump.releases + dump.artists);
    let strip = |rows: Vec<String>| -> Vec<String> {
        rows.into_iter()
            .filter(|r| !r.starts_with("dump_import: "))
            .collect()
    };
    assert_eq!(strip(db.snapshot().await), strip(first));
}

#[tokio::test]
async fn an_import_stopped_anywhere_resumes_after_its_last_commit() {
    let whole = TestDatabase::migrated().await;
    let dump = dump();
    let options = ImportOptions {
        batch: 4,
        ..ImportOptions::default()
    };
    import(&whole, &dump.paths, &options).await.unwrap();

    // Stopped before it began (Ctrl-C at once), then run again.
    let db = TestDatabase::migrated().await;
    let stop = CancellationToken::new();
    stop.cancel();
    let stopped = import::run(&db.config(), &dump.paths, &options, Progress::Off, stop)
        .await
        .unwrap();
    assert!(stopped.interrupted);
    import(&db, &dump.paths, &options).await.unwrap();
    assert_eq!(db.snapshot().await.len(), whole.snapshot().await.len());

    // Stopped after the first 4 release lines were committed (as a crash
    // leaves it): the next run stores only the lines after them.
    let db = TestDatabase::migrated().await;
    import(&db, &dump.paths[..1], &options).await.unwrap();
    let client = db.connect().await;
    let first_four: i64 = client
        .query_one(
            "SELECT count(*) FROM release WHERE fetched_at IS NOT NULL",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    client
        .batch_execute(
            "UPDATE dump_import SET lines = 4, finished_at = NULL; \
             UPDATE release SET title = 'stored before the crash'",
        )
        .await
        .unwrap();
    let resumed = import(&db, &dump.paths[..1], &options).await.unwrap();
    // Lines 1-4 hold 3 releases and the line cut off.
    assert_eq!(resumed.stored as i64, first_four - 3, "{resumed}");
    assert_eq!(
        resumed.bad, 1,
        "only the error body after line 4: {resumed}"
    );
    assert_eq!(
        db.count("SELECT count(*) FROM release WHERE title = 'stored before the crash'")
            .await,
        3,
        "lines before the resume point were read again"
    );
}

/// Batches are stored two at a time, so a crash can leave a later batch
/// committed and an earlier one not: the next run reads the gap and what
/// follows, and skips the lines that batch committed.
#[tokio::test]
async fn a_batch_committed_beyond_a_gap_is_not_stored_again_and_the_gap_is() {
    let db = TestDatabase::migrated().await;
    let dump = dump();
    let options = ImportOptions {
        batch: 4,
        ..ImportOptions::default()
    };
    import(&db, &dump.paths[..1], &options).await.unwrap();
    let client = db.connect().await;
    // As a crash leaves it: lines 1-4 and 9-12 committed, 5-8 not.
    client
        .batch_execute(
            "UPDATE dump_import SET lines = 4, stored = 3, bad = 1, finished_at = NULL; \
             INSERT INTO dump_import_batch \
               (source, dumped_at, first_line, last_line, stored, newer, bad) \
             SELECT source, dumped_at, 9, 12, 3, 0, 0 FROM dump_import; \
             UPDATE release SET title = 'stored before the crash'",
        )
        .await
        .unwrap();
    let resumed = import(&db, &dump.paths[..1], &options).await.unwrap();
    // Lines 1-4 hold 3 releases and a line cut off; 9-12 hold 3 releases
    // and a blank line; line 8 is an error body.
    assert_eq!(resumed.stored as usize, dump.releases - 6, "{resumed}");
    assert_eq!(resumed.bad, 1, "only line 8: {resumed}");
    assert_eq!(
        db.count("SELECT count(*) FROM release WHERE title = 'stored before the crash'")
            .await,
        6,
        "lines committed before the crash were read again"
    );
    assert_eq!(
        db.count("SELECT count(*) FROM release WHERE fetched_at IS NOT NULL")
            .await as usize,
        dump.releases
    );
    // The totals count every line once, and nothing is left to fold.
    assert_release_file_done(&db, &dump).await;
}

#[tokio::test]
async fn rows_fetched_after_the_dump_are_left_alone() {
    let db = TestDatabase::migrated().await;
    let dump = dump();
    let line = recorded_lines(EntityType::Release).remove(0);
    let entity = parse_entity(EntityType::Release, line.as_bytes()).unwrap();
    let mbid = entity.mbid();
    let store = PgStore::new(db::build_pool(&db.config()).unwrap());
    store
        .store(
            EntityType::Release,
            mbid,
            FetchOutcome::Found {
                entity,
                document: Document::new(line.into_bytes()),
            },
        )
        .await
        .unwrap();
    let summary = import(&db, &dump.paths, &ImportOptions::default())
        .await
        .unwrap();
    assert_eq!(summary.newer, 1, "{summary}");
    assert_eq!(
        fetched_at_dump_time(&db, "release").await as usize,
        dump.releases - 1
    );
}

#[tokio::test]
async fn core_only_leaves_out_what_is_not_cc0() {
    let db = TestDatabase::migrated().await;
    let dump = dump();
    let options = ImportOptions {
        core_only: true,
        ..ImportOptions::default()
    };
    import(&db, &dump.paths, &options).await.unwrap();
    assert_eq!(db.count("SELECT count(*) FROM entity_tag").await, 0);
    assert_eq!(
        db.count("SELECT count(*) FROM artist WHERE raw ? 'tags' OR raw ? 'rating'")
            .await,
        0
    );
    assert!(db.count("SELECT count(*) FROM entity_alias").await > 0);
}

#[tokio::test]
async fn an_extracted_entity_file_needs_its_dump_time() {
    let db = TestDatabase::migrated().await;
    let dir = Scratch::new();
    let mbdump = dir.0.join("mbdump");
    std::fs::create_dir_all(&mbdump).unwrap();
    let file = mbdump.join("artist");
    std::fs::write(&file, recorded_lines(EntityType::Artist).join("\n")).unwrap();
    let error = import(&db, std::slice::from_ref(&file), &ImportOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(error, ImportError::NoTimestamp(_)), "{error}");

    std::fs::write(dir.0.join("TIMESTAMP"), format!("{TIMESTAMP}\n")).unwrap();
    let summary = import(&db, &[file], &ImportOptions::default())
        .await
        .unwrap();
    assert_eq!(summary.bad, 0);
    assert_eq!(
        fetched_at_dump_time(&db, "artist").await as u64,
        summary.stored
    );

    let error = import(
        &db,
        &[dir.0.join("nothing.tar.xz")],
        &ImportOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(error, ImportError::Read { .. }), "{error}");
}

#[tokio::test]
async fn a_running_query_api_answers_what_an_import_stored() {
    // Hot copies kept for an hour: only the import's notification can
    // replace one in time.
    let app = musicmeta_tests::TestApp::spawn_with(musicmeta_tests::TestOptions {
        env: vec![("MUSICMETA_CACHE__HOT_TTL_SECS".into(), "3600".into())],
        ..musicmeta_tests::TestOptions::default()
    })
    .await;
    let mut client = app.client().await;
    let label = "82935ddb-a9d6-45a7-85e3-0b0add51fa1c"; // City Slang
    let name_of =
        async |client: &mut musicmeta_proto::v1::metadata_service_client::MetadataServiceClient<
            tonic::transport::Channel,
        >| {
            client
                .get_label(musicmeta_proto::v1::GetLabelRequest { mbid: label.into() })
                .await
                .expect("the label is answered")
                .into_inner()
                .label
                .unwrap()
                .name
        };
    let mut recorded = fixtures::lookup_json(EntityType::Label, label);
    let name = recorded["name"].as_str().unwrap().to_owned();
    // Filled, then answered from the hot tier.
    assert_eq!(name_of(&mut client).await, name);
    assert_eq!(name_of(&mut client).await, name);

    // A dump made after the fetch renames it.
    let made_at: String = app
        .db
        .connect()
        .await
        .query_one(
            "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    recorded["name"] = serde_json::Value::String(format!("{name} Records"));
    let dir = Scratch::new();
    let path = archive_made_at(&dir.0, "label", &[recorded.to_string()], &made_at);
    let mut listening = app.client().await;
    let summary = import(&app.db, &[path], &ImportOptions::default())
        .await
        .unwrap();
    assert_eq!(summary.stored, 1);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let got = name_of(&mut listening).await;
        if got == format!("{name} Records") {
            break;
        }
        // The notification travels after the commit: poll, with a bound.
        assert!(
            tokio::time::Instant::now() < deadline,
            "still answering {got:?} from the hot tier"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
