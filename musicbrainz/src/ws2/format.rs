//! Which format a request is answered in (`WebService::Format`, §5.1):
//! `fmt=` if present, else the `Accept` header, else XML.
//!
//! `Accept` is matched the way `REST::Utils::best_match` does it, which is
//! not RFC 7231: the best *fitness* wins (type match 100, subtype match 10)
//! and only then the quality; a `q` of 0 counts as 1; comparisons are
//! case-sensitive.

use super::resource::Resource;
use super::{Ws2Error, perl_number};

/// The format of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Json,
    Xml,
    /// `text/plain`: only the genre resource has it (`/ws/2/genre/all?fmt=txt`
    /// lists every genre name, one a line).
    Txt,
}

impl Format {
    /// The `fmt=` value.
    pub fn as_fmt(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Xml => "xml",
            Format::Txt => "txt",
        }
    }

    /// The MIME type matched against `Accept`.
    pub fn mime_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Xml => "application/xml",
            Format::Txt => "text/plain",
        }
    }

    /// The `Content-Type` MusicBrainz sends with answers (errors included).
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json; charset=utf-8",
            Format::Xml => "application/xml; charset=utf-8",
            Format::Txt => "text/plain; charset=utf-8",
        }
    }
}

/// The formats of every resource but genre. When two tie in `Accept`
/// matching (`application/*`, `*/*;q=0.8`), MusicBrainz's pick depends on
/// Perl hash order, i.e. on chance; we take the first of this list, XML,
/// the same answer MusicBrainz gives to a bare `*/*`.
const STANDARD: &[Format] = &[Format::Xml, Format::Json];
/// Genre adds text (its controller has a third serializer).
const GENRE: &[Format] = &[Format::Xml, Format::Json, Format::Txt];

/// The formats `resource` can be answered in.
pub(crate) fn formats_of(resource: Option<Resource>) -> &'static [Format] {
    if resource == Some(Resource::Genre) {
        GENRE
    } else {
        STANDARD
    }
}

/// The format of a request to any resource but genre; see [`negotiate_for`].
pub fn negotiate(fmt: Option<&str>, accept: Option<&str>) -> Result<Format, Ws2Error> {
    negotiate_among(STANDARD, fmt, accept)
}

/// The format of a request to `resource`: `fmt` (`None` when the query has
/// no `fmt=`; an empty value is present, and wrong) wins over `accept` (the
/// `Accept` header). A wrong `fmt` or an `Accept` naming none of the formats
/// is a 406, whose body MusicBrainz always writes in XML.
pub fn negotiate_for(
    resource: Resource,
    fmt: Option<&str>,
    accept: Option<&str>,
) -> Result<Format, Ws2Error> {
    negotiate_among(formats_of(Some(resource)), fmt, accept)
}

pub(crate) fn negotiate_among(
    formats: &[Format],
    fmt: Option<&str>,
    accept: Option<&str>,
) -> Result<Format, Ws2Error> {
    if let Some(fmt) = fmt {
        return formats
            .iter()
            .copied()
            .find(|f| f.as_fmt() == fmt)
            .ok_or_else(|| not_acceptable(formats));
    }
    // PICARD-273: no `Accept` (or an empty one, or "0", false in Perl), or
    // exactly `*/*`, means XML. Any other wildcard goes through matching.
    let accept = match accept {
        None | Some("") | Some("0") | Some("*/*") => Format::Xml.mime_type(),
        Some(a) => a,
    };
    best_match(formats, accept).ok_or_else(|| not_acceptable(formats))
}

/// The 406 answer. Its lists are sorted, as MusicBrainz sorts them.
pub(crate) fn not_acceptable(formats: &[Format]) -> Ws2Error {
    let mut mimes: Vec<&str> = formats.iter().map(|f| f.mime_type()).collect();
    mimes.sort_unstable();
    let mut fmts: Vec<&str> = formats.iter().map(|f| f.as_fmt()).collect();
    fmts.sort_unstable();
    Ws2Error::new(
        406,
        format!(
            "Invalid format. Either set an Accept header (recognized mime types are {}), \
             or include a fmt= argument in the query string (valid values for fmt are {}).",
            mimes.join(" and "),
            fmts.join(" and ")
        ),
    )
}

/// One media range of an `Accept` header, as `REST::Utils::parse_media_range`
/// reads it.
#[derive(Debug)]
struct MediaRange {
    /// `None` for an empty range (`application/json,,text/html`).
    kind: Option<String>,
    subtype: String,
    q: f64,
}

fn strip(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_ascii_whitespace() || c == '\x0b')
}

/// Perl's `split /$sep/, $s` without a limit: trailing empty fields go.
fn perl_split(s: &str, sep: char) -> Vec<&str> {
    let mut parts: Vec<&str> = s.split(sep).collect();
    while parts.last().is_some_and(|p| p.is_empty()) {
        parts.pop();
    }
    parts
}

fn parse_media_range(range: &str) -> MediaRange {
    let parts = perl_split(range, ';');
    // `map { _strip } map { split /=/, $_, 2 } @parts[1..]` flattened into a
    // hash: a parameter without `=` shifts every later key and value by one.
    let flat: Vec<&str> = parts
        .iter()
        .skip(1)
        .flat_map(|p| p.splitn(2, '='))
        .map(strip)
        .collect();
    let mut q_value = None;
    for pair in flat.chunks(2) {
        if pair[0] == "q" {
            q_value = Some(pair.get(1).copied().unwrap_or(""));
        }
    }
    // A missing, false ("" or "0"), non-numeric or out-of-range q is 1; so
    // `q=0` counts as 1, while `q=0.0` (a true string in Perl) stays 0 and
    // still matches.
    let q = q_value
        .filter(|v| super::perl_true(Some(v)))
        .and_then(perl_number)
        .filter(|q| (0.0..=1.0).contains(q))
        .unwrap_or(1.0);

    let full = strip(parts.first().copied().unwrap_or(""));
    let full = if full == "*" { "*/*" } else { full };
    let mut pieces = perl_split(full, '/').into_iter();
    let kind = pieces.next().map(|t| strip(t).to_owned());
    let subtype = pieces
        .next()
        .map(|t| strip(t).to_owned())
        .unwrap_or_default();
    MediaRange { kind, subtype, q }
}

/// `REST::Utils::best_match`: for each format the best-fitting range, then
/// the format with the highest (fitness, quality); on a tie the first of
/// `formats`.
fn best_match(formats: &[Format], header: &str) -> Option<Format> {
    let ranges: Vec<MediaRange> = perl_split(header, ',')
        .into_iter()
        .map(parse_media_range)
        .collect();
    let mut best: Option<(i32, f64, Format)> = None;
    for &format in formats {
        let (target_kind, target_sub) = format.mime_type().split_once('/').unwrap_or_default();
        let mut fitness = -1;
        let mut quality = 0.0;
        for range in &ranges {
            let Some(kind) = range.kind.as_deref() else {
                continue;
            };
            let kind_ok = kind == target_kind || kind == "*";
            let sub_ok = range.subtype == target_sub || range.subtype == "*";
            if !(kind_ok && sub_ok) {
                continue;
            }
            let fit = if kind == target_kind { 100 } else { 0 }
                + if range.subtype == target_sub { 10 } else { 0 };
            if fit > fitness {
                fitness = fit;
                quality = range.q;
            }
        }
        if fitness < 0 {
            continue;
        }
        if best.is_none_or(|(f, q, _)| (fitness, quality) > (f, q)) {
            best = Some((fitness, quality, format));
        }
    }
    best.map(|(_, _, f)| f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn neg(fmt: Option<&str>, accept: Option<&str>) -> Result<Format, u16> {
        negotiate(fmt, accept).map_err(|e| e.status)
    }

    #[test]
    fn fmt_wins_over_accept() {
        assert_eq!(neg(Some("json"), Some("application/xml")), Ok(Format::Json));
        assert_eq!(neg(Some("xml"), None), Ok(Format::Xml));
        assert_eq!(neg(Some(""), Some("application/json")), Err(406));
        assert_eq!(neg(Some("JSON"), None), Err(406));
        assert_eq!(neg(Some("txt"), None), Err(406));
        assert_eq!(
            negotiate_for(Resource::Genre, Some("txt"), None),
            Ok(Format::Txt)
        );
    }

    #[test]
    fn accept_rules() {
        assert_eq!(neg(None, None), Ok(Format::Xml));
        assert_eq!(neg(None, Some("")), Ok(Format::Xml));
        assert_eq!(neg(None, Some("*/*")), Ok(Format::Xml));
        assert_eq!(neg(None, Some("application/json")), Ok(Format::Json));
        assert_eq!(neg(None, Some("application/json;q=0")), Ok(Format::Json));
        assert_eq!(
            neg(
                None,
                Some("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
            ),
            Ok(Format::Xml)
        );
        // Fitness before quality: the exact type wins even at a lower q.
        assert_eq!(
            neg(None, Some("application/xml;q=0.1, application/*;q=1")),
            Ok(Format::Xml)
        );
        assert_eq!(
            neg(None, Some("application/json;q=0.5, application/xml;q=0.4")),
            Ok(Format::Json)
        );
        assert_eq!(neg(None, Some("text/html")), Err(406));
        assert_eq!(neg(None, Some("Application/JSON")), Err(406));
        assert_eq!(neg(None, Some("*")), Ok(Format::Xml));
        assert_eq!(
            negotiate_for(Resource::Genre, None, Some("text/plain")),
            Ok(Format::Txt)
        );
    }

    #[test]
    fn not_acceptable_messages() {
        assert_eq!(
            negotiate(Some("yaml"), None).unwrap_err().message,
            "Invalid format. Either set an Accept header (recognized mime types are \
             application/json and application/xml), or include a fmt= argument in the \
             query string (valid values for fmt are json and xml)."
        );
        assert_eq!(
            negotiate_for(Resource::Genre, None, Some("image/png"))
                .unwrap_err()
                .message,
            "Invalid format. Either set an Accept header (recognized mime types are \
             application/json and application/xml and text/plain), or include a fmt= \
             argument in the query string (valid values for fmt are json and txt and xml)."
        );
    }
}
