//! The configuration keys and their variables as the code has them: keys
//! and defaults from a serialized `Config`, variables checked by loading
//! them with the real loader (`Config::load_with_env`), which rejects
//! unknown keys.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;

use musicmeta_shared::config::Config;
use serde_json::Value;

use super::NON_KEY_VARS;

/// The two required values, as the deployments pass them.
pub fn urls() -> HashMap<String, String> {
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
pub fn keys_of(config: &Config) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    leaves(
        &serde_json::to_value(config).expect("serialize Config"),
        "",
        &mut out,
    );
    out
}

/// Every key the code has, with its default (the URLs as [`urls`] gives them).
/// The `http` section is optional; it is switched on here (with a value
/// that is its default) so that its keys and defaults are listed too.
pub fn code_keys() -> BTreeMap<String, Value> {
    let mut vars = urls();
    vars.insert("MUSICMETA_HTTP__PASS_THROUGH".into(), "true".into());
    keys_of(&Config::load_with_env(None, vars).expect("defaults load"))
}

/// The variable that sets `key`: `MUSICMETA_<SECTION>__<KEY>`.
pub fn variable_of(key: &str) -> String {
    format!("MUSICMETA_{}", key.to_uppercase().replace('.', "__"))
}

/// Whether `name=value` is accepted as a configuration variable: it must
/// name a key (the loader rejects unknown keys) and hold a valid value.
pub fn check_variable(name: &str, value: &str) -> Result<(), String> {
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

/// A valid value different from `default`, as an environment variable holds it.
/// `kind` is the documented type, for an optional key unset by default.
pub fn sample_value(default: &Value, kind: &str) -> String {
    match default {
        Value::Bool(b) => (!b).to_string(),
        Value::Null if kind.starts_with("number") => "2.5".into(),
        Value::Number(n) if n.is_u64() => (n.as_u64().expect("u64") + 1).to_string(),
        Value::Number(n) => {
            let x = n.as_f64().expect("f64") + 0.5;
            serde_json::to_string(&x).expect("number")
        }
        Value::String(s) => {
            // A choice (`string, \`quorum\` or \`classic\``): another one.
            let choices: Vec<&str> = kind.split('`').skip(1).step_by(2).collect();
            if let Some(other) = choices.iter().find(|c| **c != s) {
                return (*other).to_owned();
            }
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
        // A list of URLs (`amqp.urls`, `database.read_urls`): two more servers.
        Value::Array(_) if kind.contains("postgres") => {
            "postgres://sample@replica-a.test:5432/sample,postgres://sample@replica-b.test:5432/sample"
                .into()
        }
        Value::Array(_) => {
            "amqp://sample@node-b.test:5672/%2f,amqp://sample@node-c.test:5672/%2f".into()
        }
        // An optional address, unset by default.
        Value::Null => "127.0.0.1:9464".into(),
        other => panic!("no sample for {other}"),
    }
}
