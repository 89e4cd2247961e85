//! Reading the manifests' YAML (yaml-rust2, plain nodes) with accessors
//! that panic naming the file and node when a manifest has another shape.
//! An absent node reads as empty where a manifest may leave it out.

use std::path::{Path, PathBuf};

use yaml_rust2::{Yaml, YamlLoader};

use super::{read, root};

fn parse_yaml(text: &str, what: &str) -> Vec<Yaml> {
    YamlLoader::load_from_str(text)
        .unwrap_or_else(|e| panic!("{what}: invalid YAML: {e}"))
        .into_iter()
        .filter(|doc| !doc.is_null())
        .collect()
}

pub fn yaml_file(rel: &str) -> Vec<Yaml> {
    parse_yaml(&read(&root().join(rel)), rel)
}

/// A scalar as the string a YAML-reading tool sees.
pub fn scalar(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

pub fn text<'a>(y: &'a Yaml, what: &str) -> &'a str {
    y.as_str()
        .unwrap_or_else(|| panic!("{what}: expected a string, found {y:?}"))
}

pub fn list<'a>(y: &'a Yaml, what: &str) -> &'a [Yaml] {
    y.as_vec()
        .map(Vec::as_slice)
        .unwrap_or_else(|| panic!("{what}: expected a list, found {y:?}"))
}

/// A list of scalars, or an absent node as an empty list.
pub fn strings(y: &Yaml, what: &str) -> Vec<String> {
    if y.is_badvalue() {
        return Vec::new();
    }
    list(y, what)
        .iter()
        .map(|item| scalar(item).unwrap_or_else(|| panic!("{what}: not a scalar: {item:?}")))
        .collect()
}

/// A mapping's entries with string keys, or none for an absent node.
pub fn entries<'a>(y: &'a Yaml, what: &str) -> Vec<(String, &'a Yaml)> {
    if y.is_badvalue() || y.is_null() {
        return Vec::new();
    }
    y.as_hash()
        .unwrap_or_else(|| panic!("{what}: expected a mapping, found {y:?}"))
        .iter()
        .map(|(k, v)| (scalar(k).expect("scalar mapping key"), v))
        .collect()
}

pub fn all_yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read deploy/") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            all_yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
}

pub fn list_or_empty(y: &Yaml) -> &[Yaml] {
    y.as_vec().map(Vec::as_slice).unwrap_or_default()
}
