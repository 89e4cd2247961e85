//! `inc=` tokens: which are valid for which request (§1.2–§1.4), how
//! MusicBrainz checks them, and the normalised set ([`IncSet`]) that keys and
//! projections work with.
//!
//! Validation is MusicBrainz's, token for token: matching is case-sensitive,
//! the first bad token (in request order) decides the message, and some
//! tokens pass the lists yet fail afterwards with `Unknown inc parameter`.

use std::collections::BTreeSet;
use std::sync::{Arc, LazyLock};

use super::Ws2Error;
use super::perl_true;
use super::resource::Resource;

/// A normalised `inc` set: `artists` is `artist-credits`, `mediums` is
/// `media`, `discids` brings `media`, `puids` (a no-op) is dropped. Kept
/// sorted, so equal sets compare, hash and print the same. Shared, so a
/// copy (a hot-tier key, a remembered validation) is a reference count.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct IncSet(Arc<BTreeSet<String>>);

impl IncSet {
    /// The set of `tokens` after normalisation. No validation: for tokens
    /// already checked, or written by us.
    pub fn normalised<'a>(tokens: impl IntoIterator<Item = &'a str>) -> IncSet {
        let mut set = BTreeSet::new();
        for token in tokens {
            match token {
                "" | "puids" => {}
                "artists" => {
                    set.insert("artist-credits".to_owned());
                }
                "mediums" => {
                    set.insert("media".to_owned());
                }
                "discids" => {
                    set.insert("discids".to_owned());
                    set.insert("media".to_owned());
                }
                other => {
                    set.insert(other.to_owned());
                }
            }
        }
        IncSet(Arc::new(set))
    }

    /// The set written by [`IncSet::as_query`] (or any `+`-joined list).
    pub fn from_canonical(s: &str) -> IncSet {
        IncSet::normalised(s.split('+'))
    }

    pub fn contains(&self, inc: &str) -> bool {
        self.0.contains(inc)
    }

    pub fn is_subset(&self, of: &IncSet) -> bool {
        self.0.is_subset(&of.0)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The tokens, sorted.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// Both sets together.
    pub fn union(&self, other: &IncSet) -> IncSet {
        IncSet(Arc::new(self.0.union(&other.0).cloned().collect()))
    }

    /// The tokens joined with `+`, sorted; `""` for the empty set.
    pub fn as_query(&self) -> String {
        self.iter().collect::<Vec<_>>().join("+")
    }

    /// The relationship target types asked for, one per `<type>-rels`, in
    /// the `target-type` spelling of relation objects (`release_group`).
    /// The level switches (`recording-level-rels`, …) are not types.
    pub fn rel_types(&self) -> impl Iterator<Item = &str> {
        self.iter().filter_map(|t| {
            let ty = t.strip_suffix("-rels")?;
            let r = Resource::from_relatable(ty)?;
            Some(relation_target_type(r))
        })
    }

    /// Whether any `<type>-rels` is asked for (MusicBrainz's `has_rels`).
    pub fn has_rels(&self) -> bool {
        self.rel_types().next().is_some()
    }
}

impl std::fmt::Display for IncSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.as_query())
    }
}

/// The `target-type` of relations pointing at `r` (`release_group`).
pub(crate) fn relation_target_type(r: Resource) -> &'static str {
    match r {
        Resource::ReleaseGroup => "release_group",
        other => other.as_str(),
    }
}

/// The tokens one of MusicBrainz's parameter definitions accepts (an
/// `inc => [...]` list of a `mkopt` block); `relations` stands for its
/// `_relations`, i.e. the 13 `<type>-rels`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IncRules {
    pub(crate) tokens: &'static [&'static str],
    pub(crate) relations: bool,
}

const fn rules(tokens: &'static [&'static str], relations: bool) -> IncRules {
    IncRules { tokens, relations }
}

// The lists below are copied from the `mkopt` blocks of
// `Controller/WS/2/<X>.pm` (server-rules §1.4, §2.2), in their order.

const TAGS_RATINGS: &[&str] = &[
    "aliases",
    "annotation",
    "tags",
    "user-tags",
    "genres",
    "user-genres",
    "ratings",
    "user-ratings",
];

/// area, event, place and work lookups and browses; artist and label browses.
pub(crate) const GENERIC: IncRules = rules(TAGS_RATINGS, true);
/// instrument and series: no ratings.
pub(crate) const UNRATED: IncRules = rules(
    &[
        "aliases",
        "annotation",
        "tags",
        "user-tags",
        "genres",
        "user-genres",
    ],
    true,
);
pub(crate) const ARTIST_LOOKUP: IncRules = rules(
    &[
        "recordings",
        "releases",
        "release-groups",
        "works",
        "aliases",
        "annotation",
        "tags",
        "user-tags",
        "genres",
        "user-genres",
        "ratings",
        "user-ratings",
    ],
    true,
);
pub(crate) const LABEL_LOOKUP: IncRules = rules(
    &[
        "releases",
        "aliases",
        "annotation",
        "tags",
        "user-tags",
        "genres",
        "user-genres",
        "ratings",
        "user-ratings",
    ],
    true,
);
pub(crate) const RECORDING_LOOKUP: IncRules = rules(
    &[
        "artists",
        "releases",
        "artist-credits",
        "puids",
        "isrcs",
        "aliases",
        "tags",
        "user-tags",
        "genres",
        "user-genres",
        "ratings",
        "user-ratings",
        "release-groups",
        "work-level-rels",
        "annotation",
    ],
    true,
);
pub(crate) const RECORDING_BROWSE: IncRules = rules(
    &[
        "aliases",
        "artist-credits",
        "puids",
        "isrcs",
        "annotation",
        "tags",
        "user-tags",
        "genres",
        "user-genres",
        "ratings",
        "user-ratings",
        "work-level-rels",
    ],
    true,
);
pub(crate) const RELEASE_LOOKUP: IncRules = rules(
    &[
        "artists",
        "labels",
        "recordings",
        "release-groups",
        "aliases",
        "tags",
        "user-tags",
        "genres",
        "user-genres",
        "ratings",
        "user-ratings",
        "collections",
        "user-collections",
        "artist-credits",
        "discids",
        "media",
        "recording-level-rels",
        "release-group-level-rels",
        "work-level-rels",
        "annotation",
    ],
    true,
);
pub(crate) const RELEASE_BROWSE: IncRules = rules(
    &[
        "aliases",
        "artist-credits",
        "labels",
        "recordings",
        "discids",
        "tags",
        "user-tags",
        "genres",
        "user-genres",
        "ratings",
        "user-ratings",
        "release-groups",
        "media",
        "recording-level-rels",
        "release-group-level-rels",
        "work-level-rels",
        "annotation",
    ],
    true,
);
pub(crate) const RELEASE_GROUP_LOOKUP: IncRules = rules(
    &[
        "artists",
        "releases",
        "artist-credits",
        "aliases",
        "annotation",
        "tags",
        "user-tags",
        "genres",
        "user-genres",
        "ratings",
        "user-ratings",
    ],
    true,
);
/// `release-group-status` is listed here by mistake upstream: as an `inc` it
/// passes the list and then fails with `Unknown inc parameter` (§1.2).
pub(crate) const RELEASE_GROUP_BROWSE: IncRules = rules(
    &[
        "aliases",
        "artist-credits",
        "annotation",
        "release-group-status",
        "tags",
        "user-tags",
        "genres",
        "user-genres",
        "ratings",
        "user-ratings",
    ],
    true,
);
pub(crate) const RELATIONS_ONLY: IncRules = rules(&[], true);
/// `cdstubs` is a query parameter; as an `inc` it fails with `Unknown inc
/// parameter`. `media` and `discids` are forced on, not requested.
pub(crate) const DISCID: IncRules = rules(
    &[
        "artists",
        "labels",
        "recordings",
        "release-groups",
        "artist-credits",
        "tags",
        "user-tags",
        "genres",
        "user-genres",
        "aliases",
        "puids",
        "isrcs",
        "cdstubs",
    ],
    true,
);
pub(crate) const ISRC: IncRules = rules(
    &[
        "artists",
        "releases",
        "puids",
        "isrcs",
        "artist-credits",
        "aliases",
        "tags",
        "user-tags",
        "ratings",
        "user-ratings",
    ],
    true,
);
pub(crate) const ISWC: IncRules = rules(
    &[
        "artists",
        "aliases",
        "artist-credits",
        "tags",
        "user-tags",
        "ratings",
        "user-ratings",
    ],
    true,
);
/// `/ws/2/collection?<entity>=…` (the collections holding an entity).
pub(crate) const COLLECTION_BROWSE: IncRules = rules(&["user-collections"], false);
/// Any other collection request: the plural of every collectable entity
/// (`entities_with('collections', take => 'plural_url')`) plus `tags`.
pub(crate) const COLLECTION_ITEMS: IncRules = rules(
    &[
        "areas",
        "artists",
        "events",
        "genres",
        "instruments",
        "labels",
        "places",
        "recordings",
        "releases",
        "release-groups",
        "series",
        "works",
        "tags",
    ],
    false,
);

/// MusicBrainz's `%extra_inc`: tokens that become valid when the key token
/// is in the same request, for any resource (`generic`) or one (`only`).
/// The order of this table is also the order in which the "unless you
/// specify one of the following" message lists the keys: MusicBrainz lists
/// them in Perl hash order, which changes from process to process, so any
/// order is one it may send; this one is the declaration order.
struct ExtraInc {
    key: &'static str,
    generic: &'static [&'static str],
    only: Option<(Resource, &'static [&'static str])>,
}

const EXTRA_INC: &[ExtraInc] = &[
    ExtraInc {
        key: "recordings",
        generic: &["artist-credits", "puids", "isrcs"],
        only: None,
    },
    ExtraInc {
        key: "recording-rels",
        generic: &["artist-credits"],
        only: None,
    },
    ExtraInc {
        key: "releases",
        generic: &["artist-credits", "discids", "media", "status", "type"],
        only: Some((Resource::Artist, &["various-artists"])),
    },
    ExtraInc {
        key: "release-rels",
        generic: &["artist-credits"],
        only: None,
    },
    ExtraInc {
        key: "release-groups",
        generic: &["artist-credits", "type"],
        only: None,
    },
    ExtraInc {
        key: "release-group-rels",
        generic: &["artist-credits"],
        only: None,
    },
    ExtraInc {
        key: "works",
        generic: &["artist-credits"],
        only: None,
    },
];

impl ExtraInc {
    fn enables(&self, resource: Resource) -> impl Iterator<Item = &'static str> {
        let only = match self.only {
            Some((r, tokens)) if r == resource => tokens,
            _ => &[],
        };
        self.generic.iter().chain(only.iter()).copied()
    }
}

/// The attributes of MusicBrainz's `WebServiceInc` (`-` spelled `_`): a
/// token that passed the lists but is not one of these makes the request
/// fail with `Unknown inc parameter: <token>`.
const WSI_ATTRIBUTES: &[&str] = &[
    "aliases",
    "discids",
    "isrcs",
    "media",
    "puids",
    "various_artists",
    "artist_credits",
    "labels",
    "recordings",
    "releases",
    "release_groups",
    "works",
    "tags",
    "genres",
    "ratings",
    "user_tags",
    "user_genres",
    "user_ratings",
    "collections",
    "user_collections",
    "recording_level_rels",
    "release_group_level_rels",
    "work_level_rels",
    "rels",
    "annotation",
    "release_events",
];

/// Whether `token` is one of the 13 `<type>-rels`.
pub(crate) fn is_relation_token(token: &str) -> bool {
    token
        .strip_suffix("-rels")
        .is_some_and(|t| !t.contains('_') && Resource::from_relatable(t).is_some())
}

/// Checks the `inc` parameter of a request against `rules`, as
/// `Validator::validate_inc` and `WebServiceInc::BUILD` do, and returns the
/// normalised set. `values` holds one entry per `inc=` in the query (`None`
/// for an `inc` without `=`); `resource` names the resource in messages.
pub(crate) fn validate(
    resource: Resource,
    values: &[Option<&str>],
    rules: &IncRules,
) -> Result<IncSet, Ws2Error> {
    let raw = match values {
        [] => "",
        [one] => one.unwrap_or(""),
        _ => {
            return Err(Ws2Error::bad_request(
                "Inc arguments must be combined with a space (+ or %20), but you provided multiple parameters",
            ));
        }
    };
    // MusicBrainz splits on `+` or space, after the query string was decoded
    // (so `%2B` and `+` and `%20` all separate tokens).
    let tokens: Vec<&str> = raw.split(['+', ' ']).collect();

    // The extras are enabled by the tokens as sent, before `mediums` becomes
    // `media` and whether or not the enabling token is itself valid here.
    let extras: BTreeSet<&str> = tokens
        .iter()
        .filter_map(|t| EXTRA_INC.iter().find(|e| e.key == *t))
        .flat_map(|e| e.enables(resource))
        .collect();

    let mut accepted: Vec<String> = Vec::new();
    for token in tokens {
        // Perl skips false tokens: the empty ones between two separators, and "0".
        if !perl_true(Some(token)) {
            continue;
        }
        // A substring replacement, first occurrence only, as `s/mediums/media/`.
        let token = token.replacen("mediums", "media", 1);
        if rules.relations && is_relation_token(&token) {
            accepted.push(token);
            continue;
        }
        if !rules.tokens.contains(&token.as_str()) && !extras.contains(token.as_str()) {
            return Err(invalid_token(resource, &token));
        }
        accepted.push(token);
    }

    // `WebServiceInc::BUILD` runs only once every token passed the lists, so
    // an unknown attribute is reported after (never instead of) a bad token.
    for token in &accepted {
        let attribute = match token.as_str() {
            "artists" => "artist_credits".to_owned(),
            t => t.to_lowercase().replace('-', "_"),
        };
        let known = WSI_ATTRIBUTES.contains(&attribute.as_str())
            || attribute
                .strip_suffix("_rels")
                .is_some_and(|t| Resource::from_relatable(t).is_some());
        if !known {
            return Err(Ws2Error::bad_request(format!(
                "Unknown inc parameter: {attribute}"
            )));
        }
    }
    Ok(IncSet::normalised(accepted.iter().map(String::as_str)))
}

/// Validations remembered by resource, parameter definition and `inc=`
/// value. Clients send the same few lists again and again (Picard its 19
/// tokens with every release lookup) and [`validate`] is a pure function of
/// these, so a repeat costs one probe instead of some sixty allocations.
/// Bounded: a stream of distinct lists only churns it.
static VALIDATED: LazyLock<moka::sync::Cache<ValidationKey, Result<IncSet, Ws2Error>>> =
    LazyLock::new(|| moka::sync::Cache::new(1024));

/// Resource, the index of its parameter definition, the raw `inc=` value.
type ValidationKey = (Resource, usize, Box<str>);

/// The longest `inc=` value remembered; longer ones are validated each time.
const REMEMBERED_LEN: usize = 1024;

/// [`validate`], remembered for a single `inc=` value. `definition` tells
/// apart the parameter definitions of one resource (lookup and browse
/// accept different lists).
pub(crate) fn validate_remembered(
    resource: Resource,
    definition: usize,
    values: &[Option<&str>],
    rules: &IncRules,
) -> Result<IncSet, Ws2Error> {
    let [Some(raw)] = values else {
        return validate(resource, values, rules);
    };
    if raw.len() > REMEMBERED_LEN {
        return validate(resource, values, rules);
    }
    let key = (resource, definition, Box::<str>::from(*raw));
    if let Some(known) = VALIDATED.get(&key) {
        return known;
    }
    let result = validate(resource, values, rules);
    VALIDATED.insert(key, result.clone());
    result
}

/// The message for a token that is in neither the resource's list nor the
/// extras enabled by the request.
fn invalid_token(resource: Resource, token: &str) -> Ws2Error {
    let possible: Vec<&str> = EXTRA_INC
        .iter()
        .filter(|e| e.enables(resource).any(|t| t == token))
        .map(|e| e.key)
        .collect();
    if possible.is_empty() {
        Ws2Error::bad_request(format!(
            "{token} is not a valid inc parameter for the {resource} resource."
        ))
    } else {
        Ws2Error::bad_request(format!(
            "{token} is not a valid option for the inc parameter for the {resource} resource \
             unless you specify one of the following other inc parameters: {}",
            possible.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(resource: Resource, rules: &IncRules, raw: &str) -> Result<String, String> {
        validate(resource, &[Some(raw)], rules)
            .map(|s| s.as_query())
            .map_err(|e| format!("{} {}", e.status, e.message))
    }

    #[test]
    fn normalises_aliases_and_implications() {
        let s = IncSet::normalised(["artists", "mediums", "puids", "discids", "labels"]);
        assert_eq!(s.as_query(), "artist-credits+discids+labels+media");
        assert_eq!(IncSet::from_canonical(&s.as_query()), s);
        assert_eq!(IncSet::from_canonical(""), IncSet::default());
        assert_eq!(IncSet::default().as_query(), "");
    }

    #[test]
    fn rel_types_use_target_type_spelling() {
        let s = IncSet::from_canonical("release-group-rels+url-rels+recording-level-rels+labels");
        assert_eq!(s.rel_types().collect::<Vec<_>>(), ["release_group", "url"]);
        assert!(!IncSet::from_canonical("recording-level-rels").has_rels());
    }

    #[test]
    fn a_remembered_validation_is_the_validation_of_its_own_definition() {
        let r = Resource::Release;
        // Definition numbers unlike any real one, so other tests' entries
        // cannot answer for these.
        let (lookup, relations_only) = (1000, 1001);
        for raw in ["aliases+labels", "aliases+bogus", "", "artists+mediums"] {
            let values = [Some(raw)];
            for _ in 0..2 {
                assert_eq!(
                    validate_remembered(r, lookup, &values, &RELEASE_LOOKUP),
                    validate(r, &values, &RELEASE_LOOKUP),
                    "{raw}"
                );
            }
        }
        // The same value under another definition is validated by its rules.
        let values = [Some("aliases")];
        assert!(validate_remembered(r, lookup, &values, &RELEASE_LOOKUP).is_ok());
        assert!(validate_remembered(r, relations_only, &values, &RELATIONS_ONLY).is_err());
        // Two inc= parameters are an error, never remembered as one value.
        let two = [Some("labels"), Some("media")];
        assert!(validate_remembered(r, lookup, &two, &RELEASE_LOOKUP).is_err());
    }

    #[test]
    fn validation_follows_the_server() {
        let r = Resource::Release;
        assert_eq!(
            check(r, &RELEASE_LOOKUP, "artists+labels++mediums").as_deref(),
            Ok("artist-credits+labels+media")
        );
        assert_eq!(
            check(r, &RELEASE_LOOKUP, "Aliases").unwrap_err(),
            "400 Aliases is not a valid inc parameter for the release resource."
        );
        assert_eq!(
            check(r, &RELEASE_LOOKUP, "track-rels").unwrap_err(),
            "400 track-rels is not a valid inc parameter for the release resource."
        );
        // "0" is false in Perl and skipped.
        assert_eq!(
            check(r, &RELEASE_LOOKUP, "0+labels").as_deref(),
            Ok("labels")
        );
        assert_eq!(
            check(Resource::Artist, &ARTIST_LOOKUP, "isrcs").unwrap_err(),
            "400 isrcs is not a valid option for the inc parameter for the artist resource \
             unless you specify one of the following other inc parameters: recordings"
        );
        assert_eq!(
            check(Resource::Artist, &ARTIST_LOOKUP, "releases+various-artists").as_deref(),
            Ok("releases+various-artists")
        );
        assert_eq!(
            check(Resource::Label, &LABEL_LOOKUP, "releases+various-artists").unwrap_err(),
            "400 various-artists is not a valid inc parameter for the label resource."
        );
        assert_eq!(
            check(Resource::Artist, &ARTIST_LOOKUP, "release-groups+type").unwrap_err(),
            "400 Unknown inc parameter: type"
        );
        // A bad token anywhere wins over an unknown attribute before it.
        assert_eq!(
            check(Resource::Artist, &ARTIST_LOOKUP, "releases+status+foo").unwrap_err(),
            "400 foo is not a valid inc parameter for the artist resource."
        );
        assert_eq!(
            validate(r, &[Some("labels"), Some("media")], &RELEASE_LOOKUP)
                .unwrap_err()
                .message,
            "Inc arguments must be combined with a space (+ or %20), but you provided multiple parameters"
        );
    }
}
