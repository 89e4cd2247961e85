//! `make-dump`: writes a MusicBrainz JSON data dump archive of N synthesized
//! releases (`<out>/release.tar.xz`: `TIMESTAMP`, `COPYING`,
//! `JSON_DUMPS_SCHEMA_NUMBER`, `mbdump/release`, one release per line), in
//! the format MusicBrainz publishes, for `scripts/bench-import`. Releases
//! are the recorded lookups with fresh deterministic MBIDs (see `synth`),
//! so release `i` is the same in every run.
//!
//!   make-dump --releases 20000 --out target/bench-import

// Only its releases are needed here.
#[allow(dead_code)]
#[path = "../synth.rs"]
mod synth;

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use musicmeta_tests::fixtures;
use uuid::Uuid;

#[derive(Parser)]
#[command(
    version,
    about = "Write a JSON data dump archive of synthesized releases"
)]
struct Args {
    #[arg(long, default_value_t = 20_000)]
    releases: u64,
    /// Folder to write `release.tar.xz` into.
    #[arg(long)]
    out: PathBuf,
    /// The recorded lookups to synthesize from.
    #[arg(long, default_value_os_t = fixtures::dir())]
    fixtures: PathBuf,
    /// The dump's TIMESTAMP.
    #[arg(long, default_value = "2026-11-28 00:00:10.123456+00")]
    timestamp: String,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let templates = synth::Templates::load(&args.fixtures).context("reading the recordings")?;
    std::fs::create_dir_all(&args.out)?;
    let path = args.out.join("release.tar.xz");
    let mut body = Vec::new();
    for i in 0..args.releases {
        let mbid = Uuid::new_v5(
            &Uuid::NAMESPACE_URL,
            format!("https://musicmeta.invalid/bench/dump/release/{i}").as_bytes(),
        );
        serde_json::to_writer(&mut body, &templates.release(mbid, i))?;
        body.push(b'\n');
    }
    let xz = liblzma::write::XzEncoder::new(std::fs::File::create(&path)?, 6);
    let mut tar = tar::Builder::new(xz);
    let mut add = |name: &str, data: &[u8]| -> std::io::Result<()> {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, name, data)
    };
    add("TIMESTAMP", format!("{}\n", args.timestamp).as_bytes())?;
    add(
        "COPYING",
        b"synthesized from recorded MusicBrainz responses\n",
    )?;
    add("JSON_DUMPS_SCHEMA_NUMBER", b"1\n")?;
    add("mbdump/release", &body)?;
    tar.into_inner()?.finish()?.flush()?;
    println!(
        "{}: {} releases, {} bytes of JSON lines",
        path.display(),
        args.releases,
        body.len()
    );
    Ok(())
}
