//! Models of the deployment files under `deploy/` and of the configuration
//! reference `docs/configuration.md`, for the tests that check them against
//! the code (`tests/it/deploy.rs`). Parsing is strict: a shape these models
//! do not cover panics, so a manifest cannot slip past the checks unread.
//!
//! - [`yaml`]: reading YAML files and nodes.
//! - [`config_keys`]: the configuration keys and variables, as the code has them.
//! - [`containers`]: what a musicmeta container runs, with which environment
//!   and configuration file, and whether the program's parser accepts it.
//! - [`compose`]: `deploy/compose/compose.yaml` as its containers.
//! - [`k8s`]: the Kubernetes base (`deploy/k8s`) as its objects and containers.
//! - [`dockerfile`]: `deploy/docker/Dockerfile` as its stages.
//! - [`config_doc`]: the tables of `docs/configuration.md`.

use std::path::{Path, PathBuf};

pub mod compose;
pub mod config_doc;
pub mod config_keys;
pub mod containers;
pub mod dockerfile;
pub mod k8s;
pub mod yaml;

/// The workspace version: the image tag every manifest must name.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub const IMAGE: &str = "musicmeta";
/// The programs in the image.
pub const PROGRAMS: [&str; 2] = ["query-api", "ingest-worker"];
/// `MUSICMETA_` variables that are not configuration keys.
pub const NON_KEY_VARS: [&str; 3] = [
    "MUSICMETA_CONFIG",
    "MUSICMETA_LOG_FORMAT",
    "MUSICMETA_LOOKUP_TOKEN",
];

/// The workspace root, which the paths in the manifests and docs are relative to.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives in the workspace")
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// A file that removes itself.
#[derive(Debug)]
pub struct TempFile(pub PathBuf);

impl TempFile {
    pub fn new(contents: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("musicmeta-deploy-{}.yaml", uuid::Uuid::new_v4()));
        std::fs::write(&path, contents).expect("write temp file");
        Self(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
