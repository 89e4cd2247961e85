//! The ws/2 grammar: what a MusicBrainz web-service request means, and what
//! its answer holds, without any I/O. The facade uses it to validate a
//! request exactly as musicbrainz-server would (same status, same message),
//! to key its cache and to derive small answers from a stored superset
//! document; the worker uses it to know what to fetch.
//!
//! The reference is `docs/ws2/server-rules.md` (what musicbrainz-server
//! does); section numbers in comments (§1.2, §6.2, …) point there.
//!
//! Layout:
//! - [`resource`]: the resources (`release`, `release-group`, `discid`, …).
//! - [`inc`]: `inc=` tokens: which are valid where, how a set is normalised.
//! - [`format`]: `fmt=` and `Accept` negotiation (JSON, XML, genre's text).
//! - [`request`]: a whole request parsed and validated, its cache key and the
//!   upstream request that answers it.
//! - [`project`]: the superset fetched once per entity, and the deletions that
//!   cut a smaller answer out of it.
//! - [`xml`]: the MMD 2.0 XML face of an answer, written from its (projected)
//!   JSON as MusicBrainz's XML serializer writes it, and its XML error body.
//!
//! Everything here assumes a GET: writes (POST, PUT, DELETE) are passed
//! through by the facade and never parsed.

pub mod format;
pub mod inc;
pub mod project;
pub mod request;
pub mod resource;
pub mod xml;

pub use format::{Format, negotiate, negotiate_for};
pub use inc::IncSet;
pub use project::{derivable, project, superset};
pub use request::{Kind, Request, error_format};
pub use resource::Resource;
pub use xml::XmlError;

/// The second line of every MusicBrainz error: the `help` of a JSON error,
/// the second `<text>` of an XML one.
pub const USAGE: &str = "For usage, please see: https://musicbrainz.org/development/mmd";

/// An answer MusicBrainz gives instead of a document: the HTTP status and
/// its exact message text (the `error` of a JSON body, the first `<text>` of
/// an XML one).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ws/2 {status}: {message}")]
pub struct Ws2Error {
    pub status: u16,
    pub message: String,
}

impl Ws2Error {
    pub(crate) fn new(status: u16, message: impl Into<String>) -> Self {
        Ws2Error {
            status,
            message: message.into(),
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Ws2Error::new(400, message)
    }

    pub(crate) fn not_found() -> Self {
        Ws2Error::new(404, "Not Found")
    }
}

/// Perl's `looks_like_number` read as a number: optional surrounding
/// whitespace, a sign, decimal digits with an optional fraction and exponent,
/// or `Inf`/`Infinity`/`NaN` in any case. MusicBrainz checks `limit`,
/// `offset` and `Accept`'s `q` with it, so `" 5"`, `"1e2"` and `"+3"` pass
/// where a Rust parse would not.
pub(crate) fn perl_number(s: &str) -> Option<f64> {
    let t = s.trim_matches(|c: char| c.is_ascii_whitespace() || c == '\x0b');
    let (sign, body) = match t.as_bytes().first() {
        Some(b'-') => (-1.0, &t[1..]),
        Some(b'+') => (1.0, &t[1..]),
        _ => (1.0, t),
    };
    let lower = body.to_ascii_lowercase();
    if lower == "inf" || lower == "infinity" {
        return Some(sign * f64::INFINITY);
    }
    if lower == "nan" {
        return Some(f64::NAN);
    }
    let bytes = body.as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < bytes.len() && bytes[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    let int_digits = digits(&mut i);
    let mut frac_digits = 0;
    if i < bytes.len() && bytes[i] == b'.' {
        i += 1;
        frac_digits = digits(&mut i);
    }
    if int_digits + frac_digits == 0 {
        return None;
    }
    if i < bytes.len() && (bytes[i] == b'e' || bytes[i] == b'E') {
        i += 1;
        if i < bytes.len() && (bytes[i] == b'+' || bytes[i] == b'-') {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return None;
        }
    }
    if i != bytes.len() {
        return None;
    }
    body.parse::<f64>().ok().map(|v| sign * v)
}

/// Perl's truth of a string parameter: `""` and `"0"` are false (and so is
/// an absent value). MusicBrainz skips such `inc` tokens and `type` values
/// and treats such a `limit` as unset.
pub(crate) fn perl_true(s: Option<&str>) -> bool {
    !matches!(s, None | Some("") | Some("0"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perl_numbers() {
        for (s, v) in [
            ("5", 5.0),
            (" 5", 5.0),
            ("5 ", 5.0),
            ("+3", 3.0),
            ("1e2", 100.0),
            ("1.", 1.0),
            (".5", 0.5),
            ("-0", 0.0),
        ] {
            assert_eq!(perl_number(s), Some(v), "{s:?}");
        }
        assert_eq!(perl_number("Inf"), Some(f64::INFINITY));
        for s in ["", " ", "abc", "0x10", "1_000", "1e", "--1", "1 2", "."] {
            assert_eq!(perl_number(s), None, "{s:?}");
        }
    }

    #[test]
    fn perl_truth() {
        assert!(!perl_true(None));
        assert!(!perl_true(Some("")));
        assert!(!perl_true(Some("0")));
        assert!(perl_true(Some("00")));
        assert!(perl_true(Some("0.0")));
    }
}
