//! `mb-replay`: serves the recorded MusicBrainz responses on a fixed address,
//! for running musicmeta offline (`scripts/demo --offline`). Not MusicBrainz:
//! it knows only the entities in `tests/fixtures/musicbrainz/`.

use std::net::TcpListener;
use std::path::PathBuf;

use clap::Parser;
use musicmeta_tests::fixtures;
use musicmeta_tests::musicbrainz_stub::MusicBrainzStub;

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
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let listener = TcpListener::bind(&args.listen)?;
    let stub = MusicBrainzStub::start_on(listener, args.fixtures).await;
    println!(
        "mb-replay: serving recorded responses at {}",
        stub.base_url()
    );
    tokio::signal::ctrl_c().await?;
    Ok(())
}
