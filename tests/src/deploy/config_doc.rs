//! The tables of `docs/configuration.md`, and what they are compared
//! with besides the keys: the environment variables the source reads.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::{read, root};

pub const DOC: &str = "docs/configuration.md";

pub fn section<'a>(md: &'a str, heading: &str) -> &'a str {
    let start = md
        .find(&format!("\n## {heading}\n"))
        .unwrap_or_else(|| panic!("{DOC}: no section \"## {heading}\""));
    let body = &md[start + heading.len() + 5..];
    body.find("\n## ").map_or(body, |end| &body[..end])
}

/// Table rows (cells trimmed), without the header and separator.
pub fn table_rows(section: &str) -> Vec<Vec<String>> {
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

pub fn code_spans(s: &str) -> Vec<String> {
    s.split('`').skip(1).step_by(2).map(str::to_owned).collect()
}

#[derive(Debug)]
pub struct KeyRow {
    pub key: String,
    pub kind: String,
    pub default: String,
    pub variables: Vec<String>,
}

pub fn doc_key_rows(md: &str) -> Vec<KeyRow> {
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
pub fn key_differences(
    code: &BTreeSet<String>,
    doc: &BTreeSet<String>,
) -> (Vec<String>, Vec<String>) {
    (
        code.difference(doc).cloned().collect(),
        doc.difference(code).cloned().collect(),
    )
}

/// Environment variables the code reads besides the configuration keys:
/// name → files.
pub fn variables_read_by_code() -> BTreeMap<String, BTreeSet<String>> {
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
        "musicbrainz/src",
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
        // Written with escaped quotes so that this file, under the scanned
        // tests/src, does not match itself.
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
