//! `mb-replay`: serves the recorded MusicBrainz responses on a fixed address,
//! for running musicmeta offline (`scripts/demo --offline`). Not MusicBrainz:
//! it knows only the entities in `tests/fixtures/musicbrainz/`.

use std::net::TcpListener;
use std::path::PathBuf;

use musicmeta_tests::fixtures;
use musicmeta_tests::musicbrainz_stub::MusicBrainzStub;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let listen = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8089".into());
    let dir = std::env::args()
        .nth(2)
        .map(PathBuf::from)
        .unwrap_or_else(fixtures::dir);
    let listener = TcpListener::bind(&listen)?;
    let stub = MusicBrainzStub::start_on(listener, dir).await;
    println!(
        "mb-replay: serving recorded responses at {}",
        stub.base_url()
    );
    tokio::signal::ctrl_c().await?;
    Ok(())
}
