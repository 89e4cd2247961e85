//! Synthesized MusicBrainz responses for the benchmarks: a recorded lookup
//! in which every MBID is replaced by a fresh one derived (UUIDv5) from the
//! original and the new entity's own MBID, so a handful of recordings yield
//! any number of distinct, realistic releases and artists — with their
//! tracks, recordings, credits, labels and release group — and the same
//! MBID always yields the same body.
//!
//! Only the benchmark binaries need this (`seed` writes such releases,
//! `mb-replay --synthesize` answers lookups of unknown MBIDs with them), so
//! they include the file with `#[path]` rather than the harness exporting it.

use std::path::Path;

use serde_json::Value;
use uuid::Uuid;

/// The recorded lookups new entities are made from.
#[derive(Debug)]
pub struct Templates {
    releases: Vec<Value>,
    artists: Vec<Value>,
}

impl Templates {
    /// Reads the primary recordings (not the `.alt` captures) in
    /// `<dir>/release` and `<dir>/artist`. Only releases with tracks, an
    /// artist credit and a release group qualify, so every synthesized
    /// release exercises the whole read path.
    pub fn load(dir: &Path) -> std::io::Result<Self> {
        let releases = read_recordings(&dir.join("release"))?
            .into_iter()
            .filter(|r| {
                let tracks = r["media"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|m| m["tracks"].as_array())
                    .map(Vec::len)
                    .sum::<usize>();
                let credited = r["artist-credit"].as_array().is_some_and(|a| !a.is_empty());
                tracks > 0 && credited && r["release-group"].is_object()
            })
            .collect::<Vec<_>>();
        let artists = read_recordings(&dir.join("artist"))?;
        if releases.is_empty() || artists.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!(
                    "no usable release or artist recordings in {}",
                    dir.display()
                ),
            ));
        }
        Ok(Self { releases, artists })
    }

    /// How many release recordings qualify.
    pub fn release_count(&self) -> usize {
        self.releases.len()
    }

    /// A release lookup body whose id is `mbid`, made from recording number
    /// `pick` (modulo how many there are).
    pub fn release(&self, mbid: Uuid, pick: u64) -> Value {
        synthesize(&self.releases, mbid, pick)
    }

    /// An artist lookup body whose id is `mbid`, made from recording `pick`.
    pub fn artist(&self, mbid: Uuid, pick: u64) -> Value {
        synthesize(&self.artists, mbid, pick)
    }
}

fn read_recordings(dir: &Path) -> std::io::Result<Vec<Value>> {
    let mut paths = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(".json") && n.matches('.').count() == 1)
        })
        .collect::<Vec<_>>();
    // Sorted, so a recording number means the same file on every run.
    paths.sort();
    let mut out = Vec::with_capacity(paths.len());
    for path in paths {
        let bytes = std::fs::read(&path)?;
        let value: Value = serde_json::from_slice(&bytes)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        out.push(value);
    }
    Ok(out)
}

fn synthesize(templates: &[Value], mbid: Uuid, pick: u64) -> Value {
    // `pick % len` fits in usize because len does.
    let mut body = templates[(pick % templates.len() as u64) as usize].clone();
    rewrite_ids(&mut body, mbid.as_bytes());
    body["id"] = Value::String(mbid.to_string());
    body
}

/// Replaces every `"id": "<uuid>"` below `value` by UUIDv5(original, salt):
/// the same original maps to the same new MBID within one body, so a track
/// and its recording, or a credit and the artist it names, stay linked.
fn rewrite_ids(value: &mut Value, salt: &[u8]) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                match v {
                    Value::String(s) if key == "id" => {
                        if let Ok(original) = Uuid::parse_str(s) {
                            *s = Uuid::new_v5(&original, salt).to_string();
                        }
                    }
                    _ => rewrite_ids(v, salt),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rewrite_ids(v, salt)),
        _ => {}
    }
}
