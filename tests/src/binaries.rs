//! The workspace's programs, built for tests that run them as separate
//! processes (as an operator would).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives in the workspace")
}

/// Builds the two programs (a no-op when they are current, as after a
/// workspace build) and returns where cargo put them. A test crate cannot
/// name another package's binaries with `CARGO_BIN_EXE_*`, and a binary
/// merely found in target/ could be stale.
pub fn binary(program: &str) -> PathBuf {
    static BINARIES: OnceLock<HashMap<String, PathBuf>> = OnceLock::new();
    BINARIES
        .get_or_init(|| {
            let output = Command::new(env!("CARGO"))
                .current_dir(root())
                .args([
                    "build",
                    "--message-format=json-render-diagnostics",
                    "-p",
                    "musicmeta-query-api",
                    "-p",
                    "musicmeta-ingest-worker",
                    "--bins",
                ])
                .output()
                .expect("run cargo build");
            assert!(
                output.status.success(),
                "cargo build failed:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
            String::from_utf8_lossy(&output.stdout)
                .lines()
                .filter_map(|line| serde_json::from_str::<Value>(line).ok())
                .filter(|m| m["reason"] == "compiler-artifact")
                .filter_map(|m| {
                    let exe = m["executable"].as_str()?;
                    Some((m["target"]["name"].as_str()?.to_owned(), PathBuf::from(exe)))
                })
                .collect()
        })
        .get(program)
        .cloned()
        .unwrap_or_else(|| panic!("cargo built no program named {program}"))
}
