//! `deploy/compose/compose.yaml`, read as `docker compose config` shows it
//! with no `.env`, and its musicmeta services as [`Container`]s.

use std::collections::HashMap;
use std::path::PathBuf;

use yaml_rust2::Yaml;

use super::containers::{Container, Mount, parse_invocation, resolve_config};
use super::dockerfile::dockerfile;
use super::yaml::{entries, list_or_empty, scalar, strings, text, yaml_file};
use super::{IMAGE, root};

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

pub const COMPOSE: &str = "deploy/compose/compose.yaml";

pub fn compose() -> Yaml {
    let docs = yaml_file(COMPOSE);
    assert_eq!(docs.len(), 1, "{COMPOSE}: one document");
    interpolate_yaml(&docs[0], COMPOSE)
}

pub fn compose_services(compose: &Yaml) -> Vec<(String, &Yaml)> {
    entries(&compose["services"], "services")
}

pub fn compose_service<'a>(compose: &'a Yaml, name: &str) -> &'a Yaml {
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

pub fn compose_containers() -> Vec<Container> {
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
