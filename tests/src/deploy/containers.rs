//! What a musicmeta container runs, with which environment and
//! configuration file, gathered the same way from compose and the k8s base
//! so that each check runs once over both; and whether a program's real
//! command-line parser accepts a container's command.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use musicmeta_shared::config::{Config, ConfigError};

use super::compose::compose_containers;
use super::k8s::k8s;
use super::{PROGRAMS, TempFile};
use crate::binaries::binary;

#[derive(Debug)]
pub struct Invocation {
    pub program: String,
    /// `--config`'s value, wherever it stands (it is a global flag).
    config: Option<String>,
    pub subcommand: Option<String>,
}

pub(super) fn parse_invocation(argv: &[String], what: &str) -> Invocation {
    let (program, args) = argv
        .split_first()
        .unwrap_or_else(|| panic!("{what}: empty command"));
    let program = Path::new(program)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_owned();
    let mut config = None;
    let mut subcommand = None;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        if arg == "--config" || arg == "-c" {
            config = args.next().cloned();
        } else if let Some(value) = arg.strip_prefix("--config=") {
            config = Some(value.to_owned());
        } else if subcommand.is_none() && !arg.starts_with('-') {
            subcommand = Some(arg.clone());
        }
    }
    Invocation {
        program,
        config,
        subcommand,
    }
}

#[derive(Debug)]
pub struct Container {
    pub origin: String,
    /// compose: the service; k8s: `Kind/name` of the workload.
    pub owner: String,
    /// The container's name (compose: the service's).
    pub name: String,
    pub image: String,
    pub argv: Vec<String>,
    pub invocation: Invocation,
    pub env: HashMap<String, String>,
    /// The file `--config` (or `MUSICMETA_CONFIG`) names, on this side.
    pub config_file: Option<PathBuf>,
    pub(super) _temp: Option<TempFile>,
}

impl Container {
    pub fn config(&self) -> Result<Config, ConfigError> {
        Config::load_with_env(self.config_file.as_deref(), self.env.clone())
    }

    pub fn runs(&self, program: &str, subcommand: &str) -> bool {
        self.invocation.program == program
            && self.invocation.subcommand.as_deref() == Some(subcommand)
    }
}

/// Where a file inside a container comes from.
pub(super) enum Mount {
    /// A host file or directory, bind-mounted.
    Bind {
        target: String,
        source: PathBuf,
        read_only: bool,
    },
    /// A ConfigMap's keys as files in `target`.
    ConfigMap {
        target: String,
        files: HashMap<String, ConfigFile>,
        read_only: bool,
    },
}

#[derive(Clone, Debug)]
pub enum ConfigFile {
    /// A file on disk (configMapGenerator's `files`).
    Path(PathBuf),
    /// Text embedded in a ConfigMap manifest.
    Text(String),
}

/// Resolves the configuration file a container reads: `--config`, else
/// `MUSICMETA_CONFIG` (as clap does). It must be mounted read-only.
pub(super) fn resolve_config(
    invocation: &Invocation,
    env: &HashMap<String, String>,
    mounts: &[Mount],
    what: &str,
) -> (Option<PathBuf>, Option<TempFile>) {
    let Some(path) = invocation
        .config
        .clone()
        .or_else(|| env.get("MUSICMETA_CONFIG").cloned())
    else {
        return (None, None);
    };
    for mount in mounts {
        match mount {
            Mount::Bind {
                target,
                source,
                read_only,
            } => {
                let host = if &path == target {
                    source.clone()
                } else if let Some(rest) = path.strip_prefix(&format!("{target}/")) {
                    source.join(rest)
                } else {
                    continue;
                };
                assert!(*read_only, "{what}: {path} must be mounted read-only");
                assert!(
                    host.is_file(),
                    "{what}: {path} comes from {}, which is no file",
                    host.display()
                );
                return (Some(host), None);
            }
            Mount::ConfigMap {
                target,
                files,
                read_only,
            } => {
                let Some(key) = path.strip_prefix(&format!("{target}/")) else {
                    continue;
                };
                assert!(*read_only, "{what}: {path} must be mounted read-only");
                let file = files.get(key).unwrap_or_else(|| {
                    panic!("{what}: the ConfigMap mounted at {target} has no key {key}")
                });
                return match file {
                    ConfigFile::Path(p) => (Some(p.clone()), None),
                    ConfigFile::Text(t) => {
                        let temp = TempFile::new(t);
                        (Some(temp.0.clone()), Some(temp))
                    }
                };
            }
        }
    }
    panic!("{what}: the configuration file {path} is not mounted");
}

pub fn all_containers() -> Vec<Container> {
    let mut all = compose_containers();
    all.extend(k8s().containers());
    all
}

/// Whether the program's command line parser accepts `argv` (its clap
/// definition; `--help` stops it before it does anything).
pub fn clap_accepts(argv: &[String]) -> Result<(), String> {
    let (program, args) = argv.split_first().ok_or("empty command")?;
    let name = Path::new(program)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    if !PROGRAMS.contains(&name) {
        return Err(format!("{program} is not one of {PROGRAMS:?}"));
    }
    let output = Command::new(binary(name))
        .args(args)
        .arg("--help")
        .env_remove("MUSICMETA_CONFIG")
        .output()
        .map_err(|e| e.to_string())?;
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}
