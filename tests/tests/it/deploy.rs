//! The deployment files under `deploy/` and the configuration reference
//! `docs/configuration.md`, checked against the code so that they cannot
//! drift from it.
//!
//! No container engine or cluster runs here, so this checks what can be
//! checked statically, with the real piece wherever there is one: the
//! configurations load with the real loader (`Config::load_with_env`), the
//! container commands are parsed by the real binaries' clap definitions, the
//! health-checked service name comes from the generated gRPC code, the lane
//! queues from `Lane::ALL`, and the documented keys and defaults from a
//! serialized `Config`. Each kind of check also has a case showing it fails
//! on a wrong input.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use musicmeta_proto::v1::metadata_service_server::SERVICE_NAME;
use musicmeta_shared::config::{Config, ConfigError};
use musicmeta_shared::jobs::Lane;
use serde_json::Value;
use yaml_rust2::{Yaml, YamlLoader};

/// The workspace version: the image tag every manifest must name.
const VERSION: &str = env!("CARGO_PKG_VERSION");
const IMAGE: &str = "musicmeta";
/// The programs in the image.
const PROGRAMS: [&str; 2] = ["query-api", "ingest-worker"];
/// `MUSICMETA_` variables that are not configuration keys.
const NON_KEY_VARS: [&str; 2] = ["MUSICMETA_CONFIG", "MUSICMETA_LOG_FORMAT"];

// ---------------------------------------------------------------------------
// Files and YAML

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives in the workspace")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn parse_yaml(text: &str, what: &str) -> Vec<Yaml> {
    YamlLoader::load_from_str(text)
        .unwrap_or_else(|e| panic!("{what}: invalid YAML: {e}"))
        .into_iter()
        .filter(|doc| !doc.is_null())
        .collect()
}

fn yaml_file(rel: &str) -> Vec<Yaml> {
    parse_yaml(&read(&root().join(rel)), rel)
}

/// A scalar as the string a YAML-reading tool sees.
fn scalar(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

fn text<'a>(y: &'a Yaml, what: &str) -> &'a str {
    y.as_str()
        .unwrap_or_else(|| panic!("{what}: expected a string, found {y:?}"))
}

fn list<'a>(y: &'a Yaml, what: &str) -> &'a [Yaml] {
    y.as_vec()
        .map(Vec::as_slice)
        .unwrap_or_else(|| panic!("{what}: expected a list, found {y:?}"))
}

/// A list of scalars, or an absent node as an empty list.
fn strings(y: &Yaml, what: &str) -> Vec<String> {
    if y.is_badvalue() {
        return Vec::new();
    }
    list(y, what)
        .iter()
        .map(|item| scalar(item).unwrap_or_else(|| panic!("{what}: not a scalar: {item:?}")))
        .collect()
}

/// A mapping's entries with string keys, or none for an absent node.
fn entries<'a>(y: &'a Yaml, what: &str) -> Vec<(String, &'a Yaml)> {
    if y.is_badvalue() || y.is_null() {
        return Vec::new();
    }
    y.as_hash()
        .unwrap_or_else(|| panic!("{what}: expected a mapping, found {y:?}"))
        .iter()
        .map(|(k, v)| (scalar(k).expect("scalar mapping key"), v))
        .collect()
}

fn all_yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read deploy/") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            all_yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
}

/// A file that removes itself.
#[derive(Debug)]
struct TempFile(PathBuf);

impl TempFile {
    fn new(contents: &str) -> Self {
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

// ---------------------------------------------------------------------------
// The configuration, as the code has it

/// The two required values, as the deployments pass them.
fn urls() -> HashMap<String, String> {
    env(&[
        (
            "DATABASE_URL",
            "postgres://musicmeta@db.test:5432/musicmeta",
        ),
        ("AMQP_URL", "amqp://guest:guest@mq.test:5672/%2f"),
    ])
}

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn leaves(value: &Value, prefix: &str, out: &mut BTreeMap<String, Value>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaves(v, &key, out);
            }
        }
        _ => {
            out.insert(prefix.to_owned(), value.clone());
        }
    }
}

/// Every key of a configuration and its value.
fn keys_of(config: &Config) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    leaves(
        &serde_json::to_value(config).expect("serialize Config"),
        "",
        &mut out,
    );
    out
}

/// Every key the code has, with its default (the URLs as [`urls`] gives them).
fn code_keys() -> BTreeMap<String, Value> {
    keys_of(&Config::load_with_env(None, urls()).expect("defaults load"))
}

/// The variable that sets `key`: `MUSICMETA_<SECTION>__<KEY>`.
fn variable_of(key: &str) -> String {
    format!("MUSICMETA_{}", key.to_uppercase().replace('.', "__"))
}

/// Whether `name=value` is accepted as a configuration variable: it must
/// name a key (the loader rejects unknown keys) and hold a valid value.
fn check_variable(name: &str, value: &str) -> Result<(), String> {
    let rest = name
        .strip_prefix("MUSICMETA_")
        .ok_or_else(|| format!("{name} is not a MUSICMETA_ variable"))?;
    if !rest.contains("__") {
        return if NON_KEY_VARS.contains(&name) {
            Ok(())
        } else {
            Err(format!(
                "{name} is neither MUSICMETA_<SECTION>__<KEY> nor one of {NON_KEY_VARS:?}"
            ))
        };
    }
    let mut vars = urls();
    vars.insert(name.to_owned(), value.to_owned());
    Config::load_with_env(None, vars)
        .map(drop)
        .map_err(|e| format!("{name}={value:?}: {e}"))
}

// ---------------------------------------------------------------------------
// Containers: what each musicmeta container of compose.yaml and the k8s base
// runs, with which environment and configuration file

#[derive(Debug)]
struct Invocation {
    program: String,
    /// `--config`'s value, wherever it stands (it is a global flag).
    config: Option<String>,
    subcommand: Option<String>,
}

fn parse_invocation(argv: &[String], what: &str) -> Invocation {
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
struct Container {
    origin: String,
    /// compose: the service; k8s: `Kind/name` of the workload.
    owner: String,
    /// The container's name (compose: the service's).
    name: String,
    image: String,
    argv: Vec<String>,
    invocation: Invocation,
    env: HashMap<String, String>,
    /// The file `--config` (or `MUSICMETA_CONFIG`) names, on this side.
    config_file: Option<PathBuf>,
    _temp: Option<TempFile>,
}

impl Container {
    fn config(&self) -> Result<Config, ConfigError> {
        Config::load_with_env(self.config_file.as_deref(), self.env.clone())
    }

    fn runs(&self, program: &str, subcommand: &str) -> bool {
        self.invocation.program == program
            && self.invocation.subcommand.as_deref() == Some(subcommand)
    }
}

/// Where a file inside a container comes from.
enum Mount {
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

#[derive(Clone)]
enum ConfigFile {
    /// A file on disk (configMapGenerator's `files`).
    Path(PathBuf),
    /// Text embedded in a ConfigMap manifest.
    Text(String),
}

/// Resolves the configuration file a container reads: `--config`, else
/// `MUSICMETA_CONFIG` (as clap does). It must be mounted read-only.
fn resolve_config(
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

// --- compose.yaml

/// Compose's `${VAR:-default}` interpolation with every variable unset, as
/// `docker compose config` shows the file on a machine without an `.env`:
/// a variable without a default would leave the shipped file unusable.
fn interpolate(s: &str, what: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(r) = after.strip_prefix('$') {
            out.push('$');
            rest = r;
            continue;
        }
        let body = after
            .strip_prefix('{')
            .unwrap_or_else(|| panic!("{what}: write ${{NAME:-default}}, not a bare $ in {s:?}"));
        let end = body
            .find('}')
            .unwrap_or_else(|| panic!("{what}: unclosed ${{ in {s:?}"));
        let expr = &body[..end];
        let (name, default) = expr
            .split_once(":-")
            .or_else(|| expr.split_once('-'))
            .unwrap_or_else(|| panic!("{what}: ${{{expr}}} has no default in {s:?}"));
        assert!(
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{what}: ${{{expr}}} is not ${{NAME:-default}}"
        );
        out.push_str(default);
        rest = &body[end + 1..];
    }
    out.push_str(rest);
    out
}

fn interpolate_yaml(y: &Yaml, what: &str) -> Yaml {
    match y {
        Yaml::String(s) => Yaml::String(interpolate(s, what)),
        Yaml::Array(items) => {
            Yaml::Array(items.iter().map(|i| interpolate_yaml(i, what)).collect())
        }
        Yaml::Hash(map) => Yaml::Hash(
            map.iter()
                .map(|(k, v)| (k.clone(), interpolate_yaml(v, what)))
                .collect(),
        ),
        other => other.clone(),
    }
}

const COMPOSE: &str = "deploy/compose/compose.yaml";

fn compose() -> Yaml {
    let docs = yaml_file(COMPOSE);
    assert_eq!(docs.len(), 1, "{COMPOSE}: one document");
    interpolate_yaml(&docs[0], COMPOSE)
}

fn compose_services(compose: &Yaml) -> Vec<(String, &Yaml)> {
    entries(&compose["services"], "services")
}

fn compose_service<'a>(compose: &'a Yaml, name: &str) -> &'a Yaml {
    let service = &compose["services"][name];
    assert!(!service.is_badvalue(), "{COMPOSE}: no service {name}");
    service
}

/// A compose `environment:` as a map (it may be a mapping or a list).
fn compose_env(service: &Yaml, what: &str) -> HashMap<String, String> {
    let env = &service["environment"];
    if env.as_vec().is_some() {
        strings(env, what)
            .into_iter()
            .map(|pair| match pair.split_once('=') {
                Some((k, v)) => (k.to_owned(), v.to_owned()),
                None => panic!("{what}: {pair:?} passes a variable from the host; give it a value"),
            })
            .collect()
    } else {
        entries(env, what)
            .into_iter()
            .map(|(k, v)| {
                let value = scalar(v).unwrap_or_else(|| panic!("{what}: {k} has no value"));
                (k, value)
            })
            .collect()
    }
}

fn compose_command(service: &Yaml, what: &str) -> Option<Vec<String>> {
    let command = &service["command"];
    if command.is_badvalue() {
        None
    } else if let Some(s) = command.as_str() {
        Some(s.split_whitespace().map(str::to_owned).collect())
    } else {
        Some(strings(command, what))
    }
}

fn compose_containers() -> Vec<Container> {
    let compose = compose();
    let dir = root().join("deploy/compose");
    let mut out = Vec::new();
    for (name, service) in compose_services(&compose) {
        let what = format!("{COMPOSE} service {name}");
        let image = service["image"].as_str().unwrap_or_default().to_owned();
        if !image.starts_with(&format!("{IMAGE}:")) && service["build"].is_badvalue() {
            continue;
        }
        let argv = compose_command(service, &what).unwrap_or_else(|| dockerfile().cmd());
        let invocation = parse_invocation(&argv, &what);
        let env = compose_env(service, &what);
        let mut mounts = Vec::new();
        for volume in list_or_empty(&service["volumes"]) {
            if let Some(short) = volume.as_str() {
                let parts: Vec<&str> = short.split(':').collect();
                if parts.len() < 2 || !(parts[0].starts_with('.') || parts[0].starts_with('/')) {
                    continue; // a named volume
                }
                mounts.push(Mount::Bind {
                    target: parts[1].to_owned(),
                    source: lexical(dir.join(parts[0])),
                    read_only: parts
                        .get(2)
                        .is_some_and(|mode| mode.split(',').any(|m| m == "ro")),
                });
            } else if volume["type"].as_str() == Some("bind") {
                mounts.push(Mount::Bind {
                    target: text(&volume["target"], &what).to_owned(),
                    source: lexical(dir.join(text(&volume["source"], &what))),
                    read_only: volume["read_only"].as_bool() == Some(true),
                });
            }
        }
        let (config_file, temp) = resolve_config(&invocation, &env, &mounts, &what);
        out.push(Container {
            origin: what,
            owner: name.clone(),
            name,
            image,
            argv,
            invocation,
            env,
            config_file,
            _temp: temp,
        });
    }
    out
}

/// `a/./b` as `a/b`.
fn lexical(path: PathBuf) -> PathBuf {
    path.components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect()
}

fn list_or_empty(y: &Yaml) -> &[Yaml] {
    y.as_vec().map(Vec::as_slice).unwrap_or_default()
}

// --- the Kubernetes base

const K8S: &str = "deploy/k8s";

struct K8s {
    kustomization: Yaml,
    /// (file, object) of every resource listed in kustomization.yaml.
    objects: Vec<(String, Yaml)>,
    /// configMapGenerator entries: name → key → file.
    generated: HashMap<String, HashMap<String, PathBuf>>,
}

fn k8s() -> K8s {
    let docs = yaml_file(&format!("{K8S}/kustomization.yaml"));
    assert_eq!(docs.len(), 1, "kustomization.yaml: one document");
    let kustomization = docs.into_iter().next().expect("one document");
    let mut objects = Vec::new();
    for resource in strings(&kustomization["resources"], "resources") {
        let path = root().join(K8S).join(&resource);
        assert!(
            path.is_file(),
            "kustomization.yaml lists {resource}, which is no file here"
        );
        for doc in yaml_file(&format!("{K8S}/{resource}")) {
            objects.push((resource.clone(), doc));
        }
    }
    let mut generated = HashMap::new();
    for generator in list_or_empty(&kustomization["configMapGenerator"]) {
        let name = text(&generator["name"], "configMapGenerator name").to_owned();
        let mut files = HashMap::new();
        for file in strings(&generator["files"], "configMapGenerator files") {
            let (key, path) = match file.split_once('=') {
                Some((k, p)) => (k.to_owned(), p.to_owned()),
                None => (
                    Path::new(&file)
                        .file_name()
                        .and_then(|n| n.to_str())
                        .expect("file name")
                        .to_owned(),
                    file.clone(),
                ),
            };
            let path = root().join(K8S).join(path);
            assert!(
                path.is_file(),
                "configMapGenerator {name}: no file {}",
                path.display()
            );
            files.insert(key, path);
        }
        generated.insert(name, files);
    }
    K8s {
        kustomization,
        objects,
        generated,
    }
}

impl K8s {
    fn of_kind(&self, kind: &str) -> Vec<&Yaml> {
        self.objects
            .iter()
            .filter(|(_, o)| o["kind"].as_str() == Some(kind))
            .map(|(_, o)| o)
            .collect()
    }

    fn named(&self, kind: &str, name: &str) -> &Yaml {
        self.of_kind(kind)
            .into_iter()
            .find(|o| o["metadata"]["name"].as_str() == Some(name))
            .unwrap_or_else(|| panic!("{K8S}: no {kind} named {name}"))
    }

    /// Secret name → key → value (from `stringData`).
    fn secrets(&self) -> HashMap<String, HashMap<String, String>> {
        self.of_kind("Secret")
            .into_iter()
            .map(|s| {
                let name = text(&s["metadata"]["name"], "Secret name").to_owned();
                assert!(
                    s["data"].is_badvalue(),
                    "Secret {name}: use stringData (placeholders an operator can read)"
                );
                let data = entries(&s["stringData"], &name)
                    .into_iter()
                    .map(|(k, v)| (k, scalar(v).expect("string value")))
                    .collect();
                (name, data)
            })
            .collect()
    }

    /// ConfigMap name → key → file, generated or embedded.
    fn config_maps(&self) -> HashMap<String, HashMap<String, ConfigFile>> {
        let mut maps: HashMap<String, HashMap<String, ConfigFile>> = self
            .generated
            .iter()
            .map(|(name, files)| {
                let files = files
                    .iter()
                    .map(|(k, p)| (k.clone(), ConfigFile::Path(p.clone())))
                    .collect();
                (name.clone(), files)
            })
            .collect();
        for cm in self.of_kind("ConfigMap") {
            let name = text(&cm["metadata"]["name"], "ConfigMap name").to_owned();
            let files = entries(&cm["data"], &name)
                .into_iter()
                .map(|(k, v)| (k, ConfigFile::Text(scalar(v).expect("string value"))))
                .collect();
            maps.insert(name, files);
        }
        maps
    }

    /// (object, pod spec) of every workload.
    fn pod_specs(&self) -> Vec<(&Yaml, &Yaml)> {
        let mut out = Vec::new();
        for (_, object) in &self.objects {
            let spec = match object["kind"].as_str() {
                Some("Deployment" | "StatefulSet" | "DaemonSet" | "Job") => {
                    &object["spec"]["template"]["spec"]
                }
                Some("CronJob") => &object["spec"]["jobTemplate"]["spec"]["template"]["spec"],
                _ => continue,
            };
            out.push((object, spec));
        }
        out
    }

    fn containers(&self) -> Vec<Container> {
        let secrets = self.secrets();
        let config_maps = self.config_maps();
        let mut out = Vec::new();
        for (object, pod) in self.pod_specs() {
            let kind = text(&object["kind"], "kind");
            let name = text(&object["metadata"]["name"], "name");
            let volumes: HashMap<String, &Yaml> = list_or_empty(&pod["volumes"])
                .iter()
                .map(|v| (text(&v["name"], "volume name").to_owned(), v))
                .collect();
            let all = list_or_empty(&pod["initContainers"])
                .iter()
                .chain(list_or_empty(&pod["containers"]));
            for c in all {
                let container_name = text(&c["name"], "name").to_owned();
                let what = format!("{K8S} {kind}/{name} container {container_name}");
                let image = text(&c["image"], &what).to_owned();
                let mut argv = strings(&c["command"], &what);
                argv.extend(strings(&c["args"], &what));
                if argv.is_empty() {
                    argv = dockerfile().cmd();
                }
                assert!(
                    c["envFrom"].is_badvalue(),
                    "{what}: envFrom is not checked here; name each variable"
                );
                let mut env = HashMap::new();
                for var in list_or_empty(&c["env"]) {
                    let var_name = text(&var["name"], &what).to_owned();
                    let value = if !var["value"].is_badvalue() {
                        // Kubernetes accepts only strings here.
                        text(&var["value"], &format!("{what} env {var_name}")).to_owned()
                    } else if !var["valueFrom"]["secretKeyRef"].is_badvalue() {
                        let r = &var["valueFrom"]["secretKeyRef"];
                        let (secret, key) = (text(&r["name"], &what), text(&r["key"], &what));
                        secrets
                            .get(secret)
                            .and_then(|s| s.get(key))
                            .unwrap_or_else(|| panic!("{what}: {var_name} refers to {secret}/{key}, which the base does not define"))
                            .clone()
                    } else {
                        panic!("{what}: {var_name}: only value and secretKeyRef are checked here");
                    };
                    env.insert(var_name, value);
                }
                let mut mounts = Vec::new();
                for m in list_or_empty(&c["volumeMounts"]) {
                    assert!(
                        m["subPath"].is_badvalue(),
                        "{what}: subPath mounts are not checked here"
                    );
                    let volume_name = text(&m["name"], &what);
                    let volume = volumes
                        .get(volume_name)
                        .unwrap_or_else(|| panic!("{what}: mounts undefined volume {volume_name}"));
                    if volume["configMap"].is_badvalue() {
                        continue;
                    }
                    assert!(
                        volume["configMap"]["items"].is_badvalue(),
                        "{what}: configMap items are not checked here"
                    );
                    let cm = text(&volume["configMap"]["name"], &what);
                    mounts.push(Mount::ConfigMap {
                        target: text(&m["mountPath"], &what)
                            .trim_end_matches('/')
                            .to_owned(),
                        files: config_maps
                            .get(cm)
                            .unwrap_or_else(|| panic!("{what}: no ConfigMap {cm} in the base"))
                            .clone(),
                        read_only: m["readOnly"].as_bool() == Some(true),
                    });
                }
                let invocation = parse_invocation(&argv, &what);
                let (config_file, temp) = resolve_config(&invocation, &env, &mounts, &what);
                out.push(Container {
                    origin: what,
                    owner: format!("{kind}/{name}"),
                    name: container_name,
                    image,
                    argv,
                    invocation,
                    env,
                    config_file,
                    _temp: temp,
                });
            }
        }
        out
    }
}

fn all_containers() -> Vec<Container> {
    let mut all = compose_containers();
    all.extend(k8s().containers());
    all
}

// ---------------------------------------------------------------------------
// The Dockerfile

struct Stage {
    name: Option<String>,
    /// (INSTRUCTION, arguments), continuation lines joined.
    instructions: Vec<(String, String)>,
}

struct Dockerfile {
    stages: Vec<Stage>,
}

const DOCKERFILE: &str = "deploy/docker/Dockerfile";

fn dockerfile() -> Dockerfile {
    let mut logical = Vec::new();
    let mut current = String::new();
    for line in read(&root().join(DOCKERFILE)).lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(part) => {
                current.push_str(part);
                current.push(' ');
            }
            None => {
                current.push_str(line);
                logical.push(std::mem::take(&mut current));
            }
        }
    }
    let mut stages: Vec<Stage> = Vec::new();
    for line in logical {
        let (instruction, args) = line.split_once(char::is_whitespace).unwrap_or((&line, ""));
        let instruction = instruction.to_uppercase();
        let args = args.trim().to_owned();
        if instruction == "FROM" {
            let words: Vec<&str> = args.split_whitespace().collect();
            let name = match words.as_slice() {
                [_, as_, name] if as_.eq_ignore_ascii_case("as") => Some((*name).to_owned()),
                _ => None,
            };
            stages.push(Stage {
                name,
                instructions: vec![(instruction, args)],
            });
        } else if let Some(stage) = stages.last_mut() {
            stage.instructions.push((instruction, args));
        }
    }
    assert!(!stages.is_empty(), "{DOCKERFILE}: no FROM");
    Dockerfile { stages }
}

impl Dockerfile {
    fn runtime(&self) -> &Stage {
        self.stages.last().expect("a stage")
    }

    fn cmd(&self) -> Vec<String> {
        let (_, args) = self
            .runtime()
            .instructions
            .iter()
            .rev()
            .find(|(i, _)| i == "CMD")
            .expect("the runtime stage has a CMD");
        serde_json::from_str(args).expect("CMD in exec (JSON) form")
    }

    /// Files the runtime stage copies in (destination paths).
    fn runtime_files(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (instruction, args) in &self.runtime().instructions {
            if instruction != "COPY" {
                continue;
            }
            let words: Vec<&str> = args
                .split_whitespace()
                .filter(|w| !w.starts_with("--"))
                .collect();
            let (dest, sources) = words.split_last().expect("COPY has a destination");
            if dest.ends_with('/') {
                for source in sources {
                    let file = source.rsplit('/').next().unwrap_or(source);
                    out.push(format!("{dest}{file}"));
                }
            } else {
                out.push((*dest).to_owned());
            }
        }
        out
    }
}

// ---------------------------------------------------------------------------
// The real binaries

use musicmeta_tests::binaries::binary;

/// Whether the program's command line parser accepts `argv` (its clap
/// definition; `--help` stops it before it does anything).
fn clap_accepts(argv: &[String]) -> Result<(), String> {
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

// ---------------------------------------------------------------------------
// docs/configuration.md

const DOC: &str = "docs/configuration.md";

fn section<'a>(md: &'a str, heading: &str) -> &'a str {
    let start = md
        .find(&format!("\n## {heading}\n"))
        .unwrap_or_else(|| panic!("{DOC}: no section \"## {heading}\""));
    let body = &md[start + heading.len() + 5..];
    body.find("\n## ").map_or(body, |end| &body[..end])
}

/// Table rows (cells trimmed), without the header and separator.
fn table_rows(section: &str) -> Vec<Vec<String>> {
    section
        .lines()
        .filter(|l| l.starts_with('|'))
        .skip(2)
        .map(|l| {
            l.trim()
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_owned())
                .collect()
        })
        .collect()
}

fn code_spans(s: &str) -> Vec<String> {
    s.split('`').skip(1).step_by(2).map(str::to_owned).collect()
}

#[derive(Debug)]
struct KeyRow {
    key: String,
    kind: String,
    default: String,
    variables: Vec<String>,
}

fn doc_key_rows(md: &str) -> Vec<KeyRow> {
    table_rows(section(md, "Keys"))
        .into_iter()
        .map(|cells| {
            assert_eq!(cells.len(), 5, "{DOC}: a key row has 5 cells: {cells:?}");
            let key = code_spans(&cells[0]);
            assert_eq!(key.len(), 1, "{DOC}: one `key` per row: {cells:?}");
            KeyRow {
                key: key[0].clone(),
                kind: cells[1].clone(),
                default: cells[2].clone(),
                variables: code_spans(&cells[3]),
            }
        })
        .collect()
}

/// Keys only in the code, and keys only in the document.
fn key_differences(code: &BTreeSet<String>, doc: &BTreeSet<String>) -> (Vec<String>, Vec<String>) {
    (
        code.difference(doc).cloned().collect(),
        doc.difference(code).cloned().collect(),
    )
}

/// Environment variables the code reads besides the configuration keys:
/// name → files.
fn variables_read_by_code() -> BTreeMap<String, BTreeSet<String>> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("read source dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    for dir in [
        "shared/src",
        "query-api/src",
        "ingest-worker/src",
        "tests/src",
    ] {
        walk(&root().join(dir), &mut files);
    }
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let source = read(&file);
        let rel = file
            .strip_prefix(root())
            .unwrap_or(&file)
            .display()
            .to_string();
        for pattern in ["env::var(\"", "env::var_os(\"", "env = \""] {
            for (i, _) in source.match_indices(pattern) {
                let rest = &source[i + pattern.len()..];
                let name = &rest[..rest.find('"').expect("closing quote")];
                out.entry(name.to_owned()).or_default().insert(rel.clone());
            }
        }
        // tracing-subscriber's EnvFilter reads RUST_LOG.
        if source.contains("from_default_env") {
            out.entry("RUST_LOG".to_owned())
                .or_default()
                .insert(rel.clone());
        }
    }
    out
}

// ===========================================================================
// Tests

#[test]
fn every_yaml_file_under_deploy_parses() {
    let mut files = Vec::new();
    all_yaml_files(&root().join("deploy"), &mut files);
    let rel: BTreeSet<String> = files
        .iter()
        .map(|f| {
            f.strip_prefix(root())
                .expect("under root")
                .display()
                .to_string()
        })
        .collect();
    for expected in [
        "deploy/config.example.yaml",
        "deploy/compose/compose.yaml",
        "deploy/compose/config.yaml",
        "deploy/k8s/kustomization.yaml",
        "deploy/k8s/config.yaml",
    ] {
        assert!(rel.contains(expected), "missing {expected}; found {rel:?}");
    }
    for file in &rel {
        let docs = yaml_file(file);
        assert!(!docs.is_empty(), "{file}: no YAML document");
        for (i, doc) in docs.iter().enumerate() {
            assert!(
                doc.as_hash().is_some(),
                "{file} document {i}: not a mapping"
            );
        }
    }
    // Multi-document files are read whole.
    assert_eq!(yaml_file("deploy/k8s/query-api.yaml").len(), 3);
    assert!(YamlLoader::load_from_str("a: [1, 2\n").is_err());
}

/// (a) Every configuration file loads with the real loader, so every key it
/// sets exists and every value is valid.
#[test]
fn configuration_files_load_with_the_real_loader() {
    let example = root().join("deploy/config.example.yaml");
    Config::load_with_env(Some(&example), HashMap::new())
        .unwrap_or_else(|e| panic!("config.example.yaml alone: {e}"));
    Config::load_with_env(Some(&example), urls())
        .unwrap_or_else(|e| panic!("config.example.yaml with DATABASE_URL/AMQP_URL: {e}"));

    // Each container's own file and environment, as it will start.
    let containers = all_containers();
    let mut loaded = BTreeSet::new();
    for c in &containers {
        let config = c
            .config()
            .unwrap_or_else(|e| panic!("{}: its configuration does not load: {e}", c.origin));
        if let Some(file) = &c.config_file {
            loaded.insert(
                file.strip_prefix(root())
                    .unwrap_or(file)
                    .display()
                    .to_string(),
            );
        }
        if c.runs("ingest-worker", "run") {
            config
                .musicbrainz
                .check_contact()
                .unwrap_or_else(|e| panic!("{}: the worker would not start: {e}", c.origin));
        }
    }
    assert!(
        loaded.contains("deploy/compose/config.yaml") && loaded.contains("deploy/k8s/config.yaml"),
        "containers load {loaded:?}"
    );

    // The k8s ConfigMap, as generated from its file (written out, as a
    // mounted ConfigMap key would be).
    let k8s = k8s();
    assert!(
        !k8s.config_maps().is_empty(),
        "the k8s base has a ConfigMap"
    );
    for (name, files) in k8s.config_maps() {
        for (key, file) in files {
            let text = match file {
                ConfigFile::Path(p) => read(&p),
                ConfigFile::Text(t) => t,
            };
            let temp = TempFile::new(&text);
            Config::load_with_env(Some(&temp.0), urls())
                .unwrap_or_else(|e| panic!("ConfigMap {name} key {key}: {e}"));
        }
    }

    // The check fails on a key the code does not have.
    let bad = TempFile::new("grpc:\n  listen_adress: 0.0.0.0:50051\n");
    let e = Config::load_with_env(Some(&bad.0), urls()).unwrap_err();
    assert!(e.to_string().contains("listen_adress"), "{e}");
}

/// (b) Every `MUSICMETA_` variable the manifests set names a real key (or is
/// one of the non-key variables).
#[test]
fn every_musicmeta_variable_names_a_real_key() {
    let mut checked = 0;
    for c in all_containers() {
        for (name, value) in &c.env {
            if name.starts_with("MUSICMETA_") {
                check_variable(name, value).unwrap_or_else(|e| panic!("{}: {e}", c.origin));
                checked += 1;
            }
        }
    }
    // compose: GRPC__LISTEN_ADDR, MUSICBRAINZ__USER_AGENT; k8s: LISTEN_ADDR, LOG_FORMAT ×3.
    assert!(checked >= 5, "only {checked} MUSICMETA_ variables found");

    // The check fails on a variable that names no key, or misspells one.
    for name in [
        "MUSICMETA_GRPC__LISTEN_ADRESS",
        "MUSICMETA_CACHE__TTL_SECS__RELASE",
        "MUSICMETA_GPRC__LISTEN_ADDR",
        "MUSICMETA_LOGFORMAT",
    ] {
        assert!(
            check_variable(name, "0.0.0.0:50051").is_err(),
            "{name} accepted"
        );
    }
    // ... and on a real key with an invalid value.
    assert!(check_variable("MUSICMETA_AMQP__PREFETCH", "0").is_err());
    assert!(check_variable("MUSICMETA_GRPC__LISTEN_ADDR", "0.0.0.0:50051").is_ok());
}

/// (c) The ports published and probed are the port query-api listens on.
#[test]
fn ports_and_health_checks_agree_with_grpc_listen_addr() {
    let dockerfile = dockerfile();
    let probe_binaries = dockerfile.runtime_files();

    // compose
    let compose = compose();
    let api: Vec<Container> = compose_containers()
        .into_iter()
        .filter(|c| c.runs("query-api", "serve"))
        .collect();
    assert_eq!(api.len(), 1, "one query-api service in {COMPOSE}");
    let listen = api[0].config().expect("loads").grpc.listen_addr;
    assert!(
        listen.ip().is_unspecified(),
        "compose query-api listens on {listen}: unreachable from outside its container"
    );
    let name = api[0].owner.as_str();
    let service = compose_service(&compose, name);
    let container_ports: Vec<u16> = strings(&service["ports"], name)
        .iter()
        .map(|p| {
            let container = p
                .rsplit(':')
                .next()
                .expect("port")
                .split('/')
                .next()
                .expect("port");
            container
                .parse()
                .unwrap_or_else(|_| panic!("{name}: port {p:?}"))
        })
        .collect();
    assert_eq!(
        container_ports,
        vec![listen.port()],
        "{name} publishes {container_ports:?}, listens on {listen}"
    );
    let test = strings(&service["healthcheck"]["test"], name);
    assert_eq!(
        test.first().map(String::as_str),
        Some("CMD"),
        "{name}: healthcheck in exec form (the image has no shell): {test:?}"
    );
    assert!(
        probe_binaries.contains(&test[1]),
        "{name}: the healthcheck runs {}, which {DOCKERFILE} does not install ({probe_binaries:?})",
        test[1]
    );
    assert!(test[1].ends_with("grpc_health_probe"), "{test:?}");
    let addr = test
        .iter()
        .find_map(|a| a.strip_prefix("-addr="))
        .expect("-addr=");
    let addr: SocketAddr = addr.parse().expect("-addr=<ip>:<port>");
    assert_eq!(
        addr.port(),
        listen.port(),
        "{name}: probes {addr}, listens on {listen}"
    );
    assert!(
        test.contains(&format!("-service={SERVICE_NAME}")),
        "{name}: probe the lookup service ({SERVICE_NAME}), which turns NOT_SERVING on shutdown: {test:?}"
    );
    for (service_name, image, probe) in [
        ("postgres", "postgres", "pg_isready"),
        ("rabbitmq", "rabbitmq", "rabbitmq-diagnostics"),
    ] {
        let service = compose_service(&compose, service_name);
        assert!(text(&service["image"], service_name).starts_with(image));
        let test = strings(&service["healthcheck"]["test"], service_name);
        assert!(
            test.iter().any(|w| w == probe),
            "{service_name} healthcheck: {test:?}"
        );
    }
    let ping = strings(
        &compose_service(&compose, "rabbitmq")["healthcheck"]["test"],
        "rabbitmq",
    );
    assert!(ping.contains(&"ping".to_owned()), "{ping:?}");

    // k8s
    let k8s = k8s();
    let containers = k8s.containers();
    let api: Vec<&Container> = containers
        .iter()
        .filter(|c| c.runs("query-api", "serve"))
        .collect();
    assert_eq!(api.len(), 1, "one query-api container in {K8S}");
    let listen = api[0].config().expect("loads").grpc.listen_addr;
    assert!(
        listen.ip().is_unspecified(),
        "k8s query-api listens on {listen}: unreachable for the kubelet and other pods"
    );
    let deployment_name = api[0]
        .owner
        .strip_prefix("Deployment/")
        .unwrap_or_else(|| panic!("query-api runs in a Deployment, not {}", api[0].owner));
    let deployment = k8s.named("Deployment", deployment_name);
    let container = list_or_empty(&deployment["spec"]["template"]["spec"]["containers"])
        .iter()
        .find(|c| c["name"].as_str() == Some(api[0].name.as_str()))
        .expect("the container");
    let ports: Vec<(Option<String>, i64)> = list_or_empty(&container["ports"])
        .iter()
        .map(|p| {
            (
                p["name"].as_str().map(str::to_owned),
                p["containerPort"].as_i64().expect("containerPort"),
            )
        })
        .collect();
    let port_named = |name: &str| {
        ports
            .iter()
            .find(|p| p.0.as_deref() == Some(name))
            .map(|p| p.1)
    };
    assert_eq!(
        port_named("grpc"),
        Some(i64::from(listen.port())),
        "{deployment_name}: the grpc containerPort vs {listen}"
    );
    // A metrics port, if declared, is where MUSICMETA_METRICS__LISTEN_ADDR points.
    let metrics_env = list_or_empty(&container["env"])
        .iter()
        .find(|e| e["name"].as_str() == Some("MUSICMETA_METRICS__LISTEN_ADDR"))
        .and_then(|e| e["value"].as_str())
        .map(|v| v.parse::<SocketAddr>().expect("metrics address").port());
    assert_eq!(
        port_named("metrics"),
        metrics_env.map(i64::from),
        "{deployment_name}: the metrics containerPort vs MUSICMETA_METRICS__LISTEN_ADDR"
    );
    assert_eq!(
        ports.len(),
        1 + usize::from(metrics_env.is_some()),
        "{deployment_name}: stray ports {ports:?}"
    );
    for probe in ["startupProbe", "livenessProbe", "readinessProbe"] {
        let p = &container[probe];
        if p.is_badvalue() {
            assert_ne!(
                probe, "readinessProbe",
                "{deployment_name} needs a readinessProbe"
            );
            assert_ne!(
                probe, "livenessProbe",
                "{deployment_name} needs a livenessProbe"
            );
            continue;
        }
        let grpc = &p["grpc"];
        assert!(
            !grpc.is_badvalue(),
            "{deployment_name} {probe}: must be a grpc probe: {p:?}"
        );
        assert_eq!(
            grpc["port"].as_i64(),
            Some(i64::from(listen.port())),
            "{deployment_name} {probe} port vs {listen}"
        );
        let service = grpc["service"].as_str().unwrap_or_default();
        let expected = if probe == "readinessProbe" {
            SERVICE_NAME
        } else {
            ""
        };
        assert_eq!(service, expected, "{deployment_name} {probe}: service");
    }
    // The Service reaches that port, and selects these pods.
    let pod_labels = entries(
        &deployment["spec"]["template"]["metadata"]["labels"],
        "labels",
    );
    let selects = |selector: &Yaml| {
        entries(selector, "selector")
            .into_iter()
            .all(|(k, v)| pod_labels.iter().any(|(pk, pv)| *pk == k && pv == &v))
    };
    let services: Vec<&Yaml> = k8s
        .of_kind("Service")
        .into_iter()
        .filter(|s| selects(&s["spec"]["selector"]))
        .collect();
    assert_eq!(services.len(), 1, "one Service selects {deployment_name}");
    for port in list_or_empty(&services[0]["spec"]["ports"]) {
        let target = &port["targetPort"];
        let resolved = match target {
            Yaml::Integer(n) => *n,
            Yaml::String(name) => {
                ports
                    .iter()
                    .find(|(n, _)| n.as_deref() == Some(name))
                    .unwrap_or_else(|| panic!("Service targetPort {name} names no container port"))
                    .1
            }
            _ => port["port"].as_i64().expect("port"),
        };
        assert_eq!(
            resolved,
            i64::from(listen.port()),
            "Service port reaches {resolved}, query-api listens on {listen}"
        );
    }
    let pdbs: Vec<&Yaml> = k8s
        .of_kind("PodDisruptionBudget")
        .into_iter()
        .filter(|p| selects(&p["spec"]["selector"]["matchLabels"]))
        .collect();
    assert_eq!(
        pdbs.len(),
        1,
        "one PodDisruptionBudget for {deployment_name}"
    );
}

/// (d) One image, built by compose and named by every manifest.
#[test]
fn every_manifest_names_the_same_image() {
    let expected = format!("{IMAGE}:{VERSION}");
    let containers = all_containers();
    assert!(containers.len() >= 6, "{} containers", containers.len());
    for c in &containers {
        assert_eq!(
            c.image, expected,
            "{}: image (the workspace version is {VERSION})",
            c.origin
        );
    }
    let compose = compose();
    let mut built = 0;
    for (name, service) in compose_services(&compose) {
        let build = &service["build"];
        if build.is_badvalue() {
            continue;
        }
        built += 1;
        assert_eq!(
            service["image"].as_str(),
            Some(expected.as_str()),
            "{name}: builds, so names the image"
        );
        let context = root()
            .join("deploy/compose")
            .join(text(&build["context"], &name));
        assert_eq!(
            context.canonicalize().expect("context exists"),
            root().canonicalize().expect("root"),
            "{name}: the build context is the workspace root"
        );
        assert_eq!(
            text(&build["dockerfile"], &name),
            DOCKERFILE,
            "{name}: dockerfile"
        );
    }
    assert!(built >= 1, "compose builds the image");
    let k8s = k8s();
    assert!(
        k8s.kustomization["images"].is_badvalue(),
        "retag in an overlay, not in the base"
    );
}

#[test]
fn dockerfile_builds_both_programs_for_a_non_root_user() {
    let dockerfile = dockerfile();
    assert!(dockerfile.stages.len() >= 2, "multi-stage");
    let runtime = dockerfile.runtime();
    let from = &runtime.instructions[0].1;
    assert!(
        !from.starts_with("rust"),
        "the runtime image is not the builder: {from}"
    );
    let user = runtime
        .instructions
        .iter()
        .rev()
        .find(|(i, _)| i == "USER")
        .map(|(_, u)| u.clone())
        .expect("the runtime stage sets USER");
    let uid = user.split(':').next().unwrap_or_default();
    assert!(
        uid != "root" && uid != "0" && uid.parse::<u32>().is_ok(),
        "USER {user}: numeric and not root, so runAsNonRoot can verify it"
    );
    let build: String = dockerfile
        .stages
        .iter()
        .filter(|s| s.name.is_some())
        .flat_map(|s| s.instructions.iter())
        .filter(|(i, _)| i == "RUN")
        .map(|(_, a)| a.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(build.contains("cargo build --release"), "release build");
    let installed = dockerfile.runtime_files();
    for program in PROGRAMS {
        assert!(
            build.contains(&format!("--bin {program}")),
            "builds {program}"
        );
        assert!(
            installed.contains(&format!("/usr/local/bin/{program}")),
            "installs {program}: {installed:?}"
        );
    }
    clap_accepts(&dockerfile.cmd()).unwrap_or_else(|e| panic!("CMD: {e}"));
}

/// (e) Every command is a real subcommand of a real program, with options
/// its parser accepts.
#[test]
fn commands_are_real_subcommands() {
    let containers = all_containers();
    for c in &containers {
        let sub = c
            .invocation
            .subcommand
            .as_deref()
            .unwrap_or_else(|| panic!("{}: name the subcommand: {:?}", c.origin, c.argv));
        let allowed: &[&str] = match c.invocation.program.as_str() {
            "query-api" => &["serve", "migrate"],
            "ingest-worker" => &["run", "migrate"],
            other => panic!("{}: runs {other}", c.origin),
        };
        assert!(
            allowed.contains(&sub),
            "{}: a deployment runs {allowed:?}, not {sub}",
            c.origin
        );
        clap_accepts(&c.argv)
            .unwrap_or_else(|e| panic!("{}: {:?} is rejected: {e}", c.origin, c.argv));
    }
    // What each deployment must run.
    let compose = compose_containers();
    let k8s = k8s().containers();
    for (name, set) in [("compose", &compose), ("k8s", &k8s)] {
        for (program, sub) in [
            ("query-api", "serve"),
            ("ingest-worker", "run"),
            ("query-api", "migrate"),
        ] {
            assert!(
                set.iter().any(|c| c.runs(program, sub)),
                "{name}: nothing runs {program} {sub}"
            );
        }
    }
    // The check fails on subcommands and options the programs do not have.
    for argv in [
        &["query-api", "run"][..],
        &["ingest-worker", "serve"],
        &["query-api", "--config", "/etc/x.yaml", "migrat"],
        &["ingest-worker", "--konfig", "/etc/x.yaml", "run"],
        &["musicmeta", "serve"],
    ] {
        let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
        assert!(clap_accepts(&argv).is_err(), "{argv:?} accepted");
    }
}

#[test]
fn compose_starts_in_order_and_scales_workers() {
    let compose = compose();
    let containers = compose_containers();
    let service_of = |program: &str, sub: &str| {
        let c = containers
            .iter()
            .find(|c| c.runs(program, sub))
            .unwrap_or_else(|| panic!("no service runs {program} {sub}"));
        (c.owner.clone(), compose_service(&compose, &c.owner).clone())
    };
    let (migrate, migrate_service) = service_of("query-api", "migrate");
    assert_eq!(
        scalar(&migrate_service["restart"]).as_deref(),
        Some("no"),
        "{migrate} is one-shot"
    );
    for (program, sub) in [("query-api", "serve"), ("ingest-worker", "run")] {
        let (name, service) = service_of(program, sub);
        let depends = &service["depends_on"];
        for (dep, condition) in [
            ("postgres", "service_healthy"),
            ("rabbitmq", "service_healthy"),
            (migrate.as_str(), "service_completed_successfully"),
        ] {
            assert_eq!(
                depends[dep]["condition"].as_str(),
                Some(condition),
                "{name} depends on {dep}"
            );
        }
    }
    let (worker, service) = service_of("ingest-worker", "run");
    assert!(
        service["container_name"].is_badvalue(),
        "{worker}: a container_name prevents --scale"
    );
    assert!(
        service["ports"].is_badvalue(),
        "{worker}: fixed host ports prevent --scale"
    );
    let ua = &containers
        .iter()
        .find(|c| c.runs("ingest-worker", "run"))
        .expect("worker")
        .env["MUSICMETA_MUSICBRAINZ__USER_AGENT"];
    assert!(
        ua.contains("CHANGE-ME"),
        "the shipped User-Agent is a placeholder that says to change it: {ua}"
    );
}

#[test]
fn kubernetes_base_is_complete() {
    let k8s = k8s();
    // Every manifest in the directory is used.
    let mut listed: BTreeSet<String> = strings(&k8s.kustomization["resources"], "resources")
        .into_iter()
        .collect();
    listed.insert("kustomization.yaml".into());
    for files in k8s.generated.values() {
        for path in files.values() {
            listed.insert(
                path.file_name()
                    .and_then(|n| n.to_str())
                    .expect("name")
                    .to_owned(),
            );
        }
    }
    for entry in std::fs::read_dir(root().join(K8S)).expect("read k8s dir") {
        let name = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        assert!(
            listed.contains(&name),
            "{K8S}/{name} is not in kustomization.yaml"
        );
    }
    for kind in [
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "Job",
        "Secret",
        "ScaledObject",
        "TriggerAuthentication",
    ] {
        assert!(!k8s.of_kind(kind).is_empty(), "the base has no {kind}");
    }
    for (object, pod) in k8s.pod_specs() {
        let name = text(&object["metadata"]["name"], "name");
        assert_eq!(
            pod["securityContext"]["runAsNonRoot"].as_bool(),
            Some(true),
            "{name}: runAsNonRoot"
        );
        for c in list_or_empty(&pod["containers"]) {
            for bound in ["requests", "limits"] {
                for resource in ["cpu", "memory"] {
                    assert!(
                        scalar(&c["resources"][bound][resource]).is_some(),
                        "{name}: resources.{bound}.{resource}"
                    );
                }
            }
        }
    }
    let containers = k8s.containers();
    let deployments_running = |program: &str, sub: &str| {
        containers
            .iter()
            .filter(|c| c.runs(program, sub) && c.owner.starts_with("Deployment/"))
            .map(|c| c.owner.clone())
            .collect::<BTreeSet<_>>()
            .len()
    };
    assert_eq!(deployments_running("query-api", "serve"), 1);
    assert_eq!(deployments_running("ingest-worker", "run"), 1);
    assert!(
        containers
            .iter()
            .any(|c| c.runs("query-api", "migrate") && c.owner.starts_with("Job/")),
        "a Job runs the migrations"
    );
    let secrets = k8s.secrets();
    for c in &containers {
        for var in ["DATABASE_URL", "AMQP_URL"] {
            assert!(c.env.contains_key(var), "{}: {var}", c.origin);
        }
    }
    assert!(
        secrets
            .values()
            .any(|s| s.contains_key("DATABASE_URL") && s.contains_key("AMQP_URL"))
    );
}

/// KEDA scales the worker on its lane queues, as the configuration names them.
#[test]
fn keda_scales_the_worker_on_its_lane_queues() {
    let k8s = k8s();
    let containers = k8s.containers();
    let worker = containers
        .iter()
        .find(|c| c.runs("ingest-worker", "run"))
        .expect("a worker container");
    let config = worker.config().expect("worker configuration loads");
    let lanes: BTreeMap<String, Lane> = Lane::ALL
        .into_iter()
        .map(|lane| (format!("{}.{}", config.amqp.queue, lane.as_str()), lane))
        .collect();
    let deployment = worker
        .owner
        .strip_prefix("Deployment/")
        .expect("the worker runs in a Deployment");
    assert!(
        k8s.named("Deployment", deployment)["spec"]["replicas"].is_badvalue(),
        "{deployment}: KEDA owns replicas; a fixed count fights it"
    );
    let scaled = k8s.of_kind("ScaledObject");
    assert_eq!(scaled.len(), 1);
    let so = scaled[0];
    assert_eq!(so["apiVersion"].as_str(), Some("keda.sh/v1alpha1"));
    assert_eq!(
        so["spec"]["scaleTargetRef"]["name"].as_str(),
        Some(deployment)
    );
    assert!(
        so["spec"]["minReplicaCount"]
            .as_i64()
            .is_some_and(|n| n >= 1),
        "keep a worker for interactive misses"
    );
    let secrets = k8s.secrets();
    let mut queues = BTreeSet::new();
    for trigger in list(&so["spec"]["triggers"], "triggers") {
        assert_eq!(trigger["type"].as_str(), Some("rabbitmq"));
        let queue = text(&trigger["metadata"]["queueName"], "queueName");
        let lane = lanes
            .get(queue)
            .unwrap_or_else(|| panic!("{queue} is not a lane queue; they are {:?}", lanes.keys()));
        queues.insert(lane.as_str());
        assert_eq!(trigger["metadata"]["mode"].as_str(), Some("QueueLength"));
        let auth_name = text(&trigger["authenticationRef"]["name"], "authenticationRef");
        let auth = k8s.named("TriggerAuthentication", auth_name);
        let refs = list(&auth["spec"]["secretTargetRef"], "secretTargetRef");
        let host = refs
            .iter()
            .find(|r| r["parameter"].as_str() == Some("host"))
            .expect("the host parameter comes from the secret");
        let value = secrets
            .get(text(&host["name"], "name"))
            .and_then(|s| s.get(text(&host["key"], "key")))
            .expect("the secret and key exist in the base");
        assert_eq!(
            value, &worker.env["AMQP_URL"],
            "KEDA watches the broker the worker consumes"
        );
    }
    assert_eq!(queues, BTreeSet::from(["interactive", "backfill"]));
}

/// (f) docs/configuration.md lists exactly the keys the code has.
#[test]
fn configuration_doc_lists_exactly_the_keys() {
    let md = read(&root().join(DOC));
    let rows = doc_key_rows(&md);
    let doc: BTreeSet<String> = rows.iter().map(|r| r.key.clone()).collect();
    assert_eq!(doc.len(), rows.len(), "{DOC}: a key is listed twice");
    let code: BTreeSet<String> = code_keys().into_keys().collect();
    let (undocumented, unknown) = key_differences(&code, &doc);
    assert!(
        undocumented.is_empty() && unknown.is_empty(),
        "{DOC}: keys missing from the table: {undocumented:?}; keys the code does not have: {unknown:?}"
    );

    // The comparison fails both ways.
    let mut fewer = doc.clone();
    fewer.remove("cache.ttl_secs.label");
    fewer.insert("cache.ttl_secs.work".into());
    let (missing, extra) = key_differences(&code, &fewer);
    assert_eq!(missing, ["cache.ttl_secs.label"]);
    assert_eq!(extra, ["cache.ttl_secs.work"]);
}

/// (f) ... with each key's real type, default and variable.
#[test]
fn configuration_doc_types_defaults_and_variables_are_right() {
    let md = read(&root().join(DOC));
    let defaults = code_keys();
    for row in doc_key_rows(&md) {
        let key = &row.key;
        let Some(value) = defaults.get(key) else {
            continue;
        }; // reported by the test above
        // Type.
        let kind = row.kind.split([' ', ',']).next().unwrap_or_default();
        // An optional key is absent (null) by default, documented as "none".
        let optional = row.kind.contains("optional");
        let type_ok = match kind {
            _ if optional && value.is_null() => row.default.starts_with("none"),
            "integer" => value.is_u64(),
            "number" => value.is_f64(),
            "string" => value
                .as_str()
                .is_some_and(|s| s.parse::<SocketAddr>().is_err()),
            "address" => value
                .as_str()
                .is_some_and(|s| s.parse::<SocketAddr>().is_ok()),
            other => panic!("{key}: unknown type {other:?}"),
        };
        assert!(
            type_ok,
            "{key}: documented as {:?}, the code has {value}",
            row.kind
        );

        // Default: the first `code` of the cell, or "required".
        let url_vars: Vec<&str> = ["DATABASE_URL", "AMQP_URL"]
            .into_iter()
            .filter(|v| row.variables.iter().any(|r| r == v))
            .collect();
        if row.default.contains("required") {
            let mut vars = urls();
            for var in &url_vars {
                vars.remove(*var);
            }
            let Err(e) = Config::load_with_env(None, vars) else {
                panic!("{key} is documented as required, but loads without it");
            };
            // A missing URL leaves its section or its field missing.
            let (section, field) = key.split_once('.').expect("section.field");
            let message = e.to_string();
            assert!(
                message.contains(&format!("\"{section}\"")) || message.contains(field),
                "{key}: {message}"
            );
        } else if optional && value.is_null() {
            // Checked with the type above: documented as "none".
        } else {
            let documented = code_spans(&row.default)
                .into_iter()
                .next()
                .unwrap_or_else(|| panic!("{key}: the default is not `code`"))
                .replace("<version>", VERSION);
            let actual = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            assert_eq!(documented, actual, "{key}: documented default");
        }

        // Variables: MUSICMETA_<SECTION>__<KEY>, plus DATABASE_URL/AMQP_URL
        // for the URLs; each really sets the key.
        let canonical = variable_of(key);
        assert!(
            row.variables.contains(&canonical),
            "{key}: documents {:?}, not {canonical}",
            row.variables
        );
        for var in &row.variables {
            assert!(
                *var == canonical || url_vars.contains(&var.as_str()),
                "{key}: {var} is not its variable"
            );
            let sample = sample_value(value);
            let mut vars = urls();
            for url_var in &url_vars {
                vars.remove(*url_var);
            }
            vars.insert(var.clone(), sample.clone());
            let config = Config::load_with_env(None, vars)
                .unwrap_or_else(|e| panic!("{key}: {var}={sample}: {e}"));
            let set = keys_of(&config)[key].clone();
            let set = match set {
                // A secret (a bearer token) is set but serializes redacted.
                Value::String(s) if s == "***" && row.kind.contains("secret") => sample.clone(),
                Value::String(s) => s,
                other => other.to_string(),
            };
            assert_eq!(set, sample, "{var} does not set {key}");
        }
    }
    // A wrong variable name does not set its key (it is rejected).
    assert!(check_variable("MUSICMETA_CACHE__TTL_SECS__RELEASEGROUP", "5").is_err());
}

/// A valid value different from `default`, as an environment variable holds it.
fn sample_value(default: &Value) -> String {
    match default {
        Value::Number(n) if n.is_u64() => (n.as_u64().expect("u64") + 1).to_string(),
        Value::Number(n) => {
            let x = n.as_f64().expect("f64") + 0.5;
            serde_json::to_string(&x).expect("number")
        }
        Value::String(s) => {
            if let Ok(addr) = s.parse::<SocketAddr>() {
                SocketAddr::new(addr.ip(), addr.port().wrapping_add(1)).to_string()
            } else if s.starts_with("postgres") {
                "postgres://sample@sample.test:5432/sample".into()
            } else if s.starts_with("amqp") {
                "amqp://sample:sample@sample.test:5672/sample".into()
            } else if s.starts_with("http") {
                "https://mirror.test/ws/2".into()
            } else {
                format!("{s}-sample")
            }
        }
        // An optional address, unset by default.
        Value::Null => "127.0.0.1:9464".into(),
        other => panic!("no sample for {other}"),
    }
}

/// docs/configuration.md lists the other variables the code reads, and
/// only those.
#[test]
fn configuration_doc_lists_the_other_variables() {
    let md = read(&root().join(DOC));
    let documented: BTreeSet<String> = table_rows(section(&md, "Other environment variables"))
        .into_iter()
        .map(|cells| {
            let names = code_spans(&cells[0]);
            assert_eq!(names.len(), 1, "{cells:?}");
            names[0].clone()
        })
        .collect();
    let read_by_code = variables_read_by_code();
    let code: BTreeSet<String> = read_by_code.keys().cloned().collect();
    let (undocumented, unread) = key_differences(&code, &documented);
    assert!(
        undocumented.is_empty() && unread.is_empty(),
        "{DOC}: read by the code but not documented: {undocumented:?} (in {:?}); documented but read nowhere: {unread:?}",
        undocumented
            .iter()
            .map(|v| &read_by_code[v])
            .collect::<Vec<_>>()
    );
    for var in NON_KEY_VARS {
        assert!(documented.contains(var), "{var} is documented");
    }
    for var in ["RUST_LOG", "MUSICMETA_TEST_PG", "MUSICMETA_TEST_AMQP"] {
        assert!(code.contains(var), "the scan finds {var}");
    }
}
