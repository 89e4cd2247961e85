//! Property tests (proptest) for the values that cross a process boundary as
//! text: MBIDs (gRPC requests, job bodies, ws/2 responses), fetch-job bodies
//! (AMQP) and the redaction of connection URLs (logs). Each property holds for
//! every generated input; proptest shrinks a failure to a minimal case and
//! records its seed in `properties.proptest-regressions` beside this file.

use musicmeta_shared::config::redact_url;
use musicmeta_shared::jobs::{FetchJob, JobDecodeError, MAX_DEPTH, VERSION};
use musicmeta_shared::mbid::{EntityType, Mbid, MbidError};
use proptest::prelude::*;
use proptest::sample::select;
use uuid::Uuid;

fn any_mbid() -> impl Strategy<Value = Mbid> {
    // The nil UUID is no MBID (MusicBrainz's is_guid refuses it).
    (1..=u128::MAX).prop_map(|n| Mbid::from_uuid(Uuid::from_u128(n)))
}

fn any_job() -> impl Strategy<Value = FetchJob> {
    (
        any::<u128>(),
        select(EntityType::ALL.to_vec()),
        any_mbid(),
        0..=MAX_DEPTH,
        any::<bool>(),
    )
        .prop_map(|(id, entity_type, mbid, depth, force)| FetchJob {
            v: VERSION,
            job_id: Uuid::from_u128(id),
            entity_type,
            mbid,
            depth,
            force,
        })
}

/// Where the canonical form has its hyphens.
const HYPHENS: [usize; 4] = [8, 13, 18, 23];

proptest! {
    #[test]
    fn mbid_display_parses_back(m in any_mbid()) {
        let shown = m.to_string();
        prop_assert_eq!(shown.len(), 36);
        prop_assert_eq!(&shown, &shown.to_ascii_lowercase());
        prop_assert_eq!(Mbid::parse(&shown), Ok(m));
        // The serde form is the same string, so jobs and JSON columns agree.
        let json = serde_json::to_string(&m).unwrap();
        prop_assert_eq!(&json, &format!("\"{shown}\""));
        prop_assert_eq!(serde_json::from_str::<Mbid>(&json).unwrap(), m);
    }

    /// Case is the one normalisation mbid.rs documents: any mix of upper and
    /// lower case names the same MBID.
    #[test]
    fn mbid_case_is_normalised(m in any_mbid(), upper in any::<u64>()) {
        let mixed: String = m
            .to_string()
            .chars()
            .enumerate()
            .map(|(i, c)| if upper >> (i % 64) & 1 == 1 { c.to_ascii_uppercase() } else { c })
            .collect();
        prop_assert_eq!(Mbid::parse(&mixed), Ok(m));
    }

    /// Every other UUID spelling is refused, as MusicBrainz refuses it.
    #[test]
    fn mbid_other_spellings_are_refused(
        m in any_mbid(),
        pad in select(vec![" ", "\t", "\n", "\u{a0}", "\u{feff}"]),
    ) {
        let u = m.as_uuid();
        let shown = m.to_string();
        for other in [
            u.simple().to_string(),
            u.braced().to_string(),
            u.urn().to_string(),
            format!("{pad}{shown}"),
            format!("{shown}{pad}"),
            shown.replace('-', "_"),
        ] {
            prop_assert!(Mbid::parse(&other).is_err(), "{:?} was accepted", other);
        }
    }

    /// One character changed: still an MBID exactly when the new character
    /// fits the canonical form at that position.
    #[test]
    fn mbid_single_character_changes(m in any_mbid(), pos in 0usize..36, c in any::<char>()) {
        let mut chars: Vec<char> = m.to_string().chars().collect();
        chars[pos] = c;
        let s: String = chars.into_iter().collect();
        let shape = if HYPHENS.contains(&pos) { c == '-' } else { c.is_ascii_hexdigit() };
        let fits = shape && s != "00000000-0000-0000-0000-000000000000";
        prop_assert_eq!(Mbid::parse(&s).is_ok(), fits, "{:?}", s);
    }

    /// Any string: no panic; what is accepted is the canonical form up to
    /// case; what is refused is echoed at most 64 characters long.
    #[test]
    fn mbid_parse_of_any_string(s in any::<String>()) {
        match Mbid::parse(&s) {
            Ok(m) => prop_assert_eq!(m.to_string(), s.to_ascii_lowercase()),
            Err(MbidError::Empty) => prop_assert!(s.is_empty()),
            Err(MbidError::Nil) => prop_assert_eq!(s, "00000000-0000-0000-0000-000000000000"),
            Err(MbidError::Malformed(shown)) => {
                prop_assert!(shown.chars().count() <= 64);
                prop_assert!(s.starts_with(&shown));
            }
        }
    }

    #[test]
    fn job_encode_decode_round_trips(job in any_job()) {
        prop_assert_eq!(FetchJob::decode(&job.encode()).unwrap(), job);
    }

    /// The decoder refuses exactly the versions and depths it cannot run.
    #[test]
    fn job_version_and_depth_are_checked(
        job in any_job(),
        v in prop_oneof![Just(VERSION), any::<u32>()],
        depth in any::<u8>(),
    ) {
        let mut body = serde_json::to_value(&job).unwrap();
        body["v"] = v.into();
        body["depth"] = depth.into();
        let decoded = FetchJob::decode(&serde_json::to_vec(&body).unwrap());
        match decoded {
            Ok(got) => {
                prop_assert!(v == VERSION && depth <= MAX_DEPTH);
                prop_assert_eq!(got, FetchJob { depth, ..job });
            }
            Err(JobDecodeError::UnsupportedVersion(n)) => prop_assert!(n == v && v != VERSION),
            Err(JobDecodeError::TooDeep(d)) => {
                prop_assert!(v == VERSION && d == depth && depth > MAX_DEPTH);
            }
            Err(e) => prop_assert!(false, "unexpected {e}"),
        }
    }

    /// Whatever arrives on the queue: a job or an error, never a panic.
    #[test]
    fn job_decode_of_any_bytes(body in proptest::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(job) = FetchJob::decode(&body) {
            prop_assert_eq!(FetchJob::decode(&job.encode()).unwrap(), job);
        }
    }

    /// A valid body with one value replaced by arbitrary JSON-ish text.
    #[test]
    fn job_decode_of_mangled_fields(
        job in any_job(),
        field in select(vec!["v", "job_id", "entity_type", "mbid", "depth", "force"]),
        value in "[-0-9a-z\"{}\\[\\]:,. ]{0,40}",
    ) {
        let good = String::from_utf8(job.encode()).unwrap();
        let old = serde_json::to_value(&job).unwrap()[field].to_string();
        let pattern = format!("\"{field}\":{old}");
        prop_assert!(good.contains(&pattern), "{} not in {}", pattern, good);
        let body = good.replacen(&pattern, &format!("\"{field}\":{value}"), 1);
        if let Ok(got) = FetchJob::decode(body.as_bytes()) {
            prop_assert_eq!(FetchJob::decode(&got.encode()).unwrap(), got);
        }
    }

    /// A password set in a connection URL never shows in its redacted form,
    /// neither as written nor percent-encoded; user and host stay readable.
    #[test]
    fn redacted_urls_hide_the_password(
        scheme in prop_oneof![
            select(vec!["postgres", "postgresql", "amqp", "amqps", "http"]).prop_map(String::from),
            "[a-z][a-z0-9+.-]{0,8}".prop_map(String::from),
        ],
        user in "[a-z0-9._-]{0,12}",
        // Starts with a capital, which nothing else in the URL has, so a
        // match can only be the password itself.
        password in "[A-Z][A-Za-z0-9 !$&'()+,;=:@/?#%~\\[\\]\"<>^`{|}é€\u{1f3b5}]{3,24}",
        host in "[a-z][a-z0-9-]{0,10}(\\.[a-z]{2,5}){0,2}",
        port in proptest::option::of(1u16..),
        path in "(/[a-z0-9%._-]{0,10}){0,2}",
    ) {
        let port = port.map(|p| format!(":{p}")).unwrap_or_default();
        let url = url::Url::parse(&format!("{scheme}://{host}{port}{path}"));
        prop_assume!(url.is_ok());
        let mut url = url.unwrap();
        prop_assume!(url.set_username(&user).is_ok() && url.set_password(Some(&password)).is_ok());
        let encoded = url.password().unwrap().to_owned();

        let redacted = redact_url(url.as_str());
        prop_assert!(!redacted.contains(&password), "{} -> {}", url, redacted);
        prop_assert!(!redacted.contains(&encoded), "{} -> {}", url, redacted);
        let back = url::Url::parse(&redacted).unwrap();
        prop_assert_eq!(back.password(), Some("***"));
        prop_assert_eq!(back.username(), url.username());
        prop_assert_eq!(back.host_str(), url.host_str());
    }

    /// The same, for URLs written by hand without percent-encoding: whatever
    /// the parser makes of them, the whole password does not come out.
    #[test]
    fn redacted_hand_written_urls_hide_the_password(
        scheme in select(vec!["postgres", "amqp"]),
        user in "[a-z0-9._-]{0,12}",
        // Any character may lead (a leading `/`, `?` or `#` once leaked);
        // the one capital, which nothing else in the URL has, makes sure a
        // match can only be the password itself.
        password in "[a-z0-9 !$&'()*+,;=:@/?#%~]{0,12}[A-Z][A-Za-z0-9 !$&'()*+,;=:@/?#%~]{0,12}",
        host in "[a-z][a-z0-9-]{0,10}",
    ) {
        let written = format!("{scheme}://{user}:{password}@{host}:5432/db");
        let redacted = redact_url(&written);
        prop_assert!(!redacted.contains(&password), "{} -> {}", written, redacted);
    }
}
