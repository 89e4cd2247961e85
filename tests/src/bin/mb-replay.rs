//! `mb-replay`: serves the recorded MusicBrainz responses on a fixed address,
//! for running musicmeta offline (`scripts/demo --offline`). Not MusicBrainz:
//! it knows only the entities in `tests/fixtures/musicbrainz/`.
//!
//! With `--synthesize` it is the zero-latency upstream of the benchmarks
//! (`scripts/bench`): a lookup of a release or artist it has no recording of
//! is answered at once with a recorded body whose MBIDs are rewritten from
//! the requested one (the same MBID always gets the same body), so every
//! cold lookup finds something to store.

#[path = "../synth.rs"]
mod synth;

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Parser;
use musicmeta_tests::fixtures;
use musicmeta_tests::musicbrainz_stub::MusicBrainzStub;
use uuid::Uuid;
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

#[derive(Parser)]
#[command(
    version,
    about = "Serve recorded MusicBrainz ws/2 responses (an offline stand-in)"
)]
struct Args {
    /// Address to listen on; point musicbrainz.base_url at http://<it>/ws/2.
    #[arg(default_value = "127.0.0.1:8089")]
    listen: String,
    /// Folder of recorded responses (<type>/<mbid>.json, browse/, errors/).
    #[arg(default_value_os_t = fixtures::dir())]
    fixtures: PathBuf,
    /// Answer lookups of unrecorded release and artist MBIDs with a recorded
    /// body rewritten to the requested MBID, instead of 404 (for
    /// benchmarks; browses are not served in this mode).
    #[arg(long)]
    synthesize: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let listener = TcpListener::bind(&args.listen)?;
    // Held until exit: dropping either server stops it.
    let mut mode = "recorded responses".to_owned();
    let (_stub, _server, base_url) = if args.synthesize {
        let templates = Arc::new(synth::Templates::load(&args.fixtures)?);
        mode = format!(
            "recorded responses, and for unrecorded releases and artists bodies synthesized from {} recorded releases",
            templates.release_count()
        );
        let server = MockServer::builder().listener(listener).start().await;
        Mock::given(method("GET"))
            .and(path_regex(r"^/ws/2/[a-z-]+/[^/]+$"))
            .respond_with(Synthesized {
                dir: args.fixtures,
                templates,
            })
            .mount(&server)
            .await;
        let base_url = format!("{}/ws/2", server.uri());
        (None, Some(server), base_url)
    } else {
        let stub = MusicBrainzStub::start_on(listener, args.fixtures).await;
        let base_url = stub.base_url();
        (Some(stub), None, base_url)
    };
    println!("mb-replay: serving {mode} at {base_url}");
    tokio::signal::ctrl_c().await?;
    Ok(())
}

/// The recording of a lookup if there is one; otherwise, for a release or
/// an artist, a synthesized body; otherwise 404.
struct Synthesized {
    dir: PathBuf,
    templates: Arc<synth::Templates>,
}

impl Respond for Synthesized {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut segments = request.url.path().trim_start_matches("/ws/2/").split('/');
        let (Some(kind), Some(id)) = (segments.next(), segments.next()) else {
            return ResponseTemplate::new(400);
        };
        let Ok(mbid) = Uuid::parse_str(id) else {
            return ResponseTemplate::new(400);
        };
        // `kind` is a single path segment of letters and dashes (the route's
        // pattern) and `mbid` a parsed UUID, so the path stays in the folder.
        if let Ok(body) = std::fs::read(self.dir.join(kind).join(format!("{mbid}.json"))) {
            return json(200, body);
        }
        // The MBID's high half chooses the recording: random MBIDs spread
        // over all of them.
        let pick = mbid.as_u64_pair().0;
        let body = match kind {
            "release" => self.templates.release(mbid, pick),
            "artist" => self.templates.artist(mbid, pick),
            _ => return json(404, br#"{"error":"Not Found"}"#.to_vec()),
        };
        json(200, serde_json::to_vec(&body).unwrap_or_default())
    }
}

fn json(status: u16, body: Vec<u8>) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .insert_header("content-type", "application/json; charset=utf-8")
        .set_body_bytes(body)
}
