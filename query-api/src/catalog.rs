//! The `musicmeta.v1.CatalogService` handlers: paged browse lists and ranked
//! search over what the cache holds (design: docs/catalog.md).
//!
//! Neither waits for MusicBrainz. A browse of a list the cache does not hold
//! whole answers with what is there and queues one job for the parent
//! (through the `fetch_request` ledger, keyed by the list, so repeated calls
//! publish once); the worker then pages through MusicBrainz's browse for the
//! rest. Search only reads. Requests are validated before any query: bad
//! MBIDs, page sizes, page tokens, queries and filters are INVALID_ARGUMENT.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use musicmeta_proto::v1 as pb;
use musicmeta_proto::v1::catalog_service_server::CatalogService;
use musicmeta_shared::amqp::JobPublisher;
use musicmeta_shared::catalog::{
    self as cat, BrowseKey, BrowseList, CatalogError, Hit, ListState, SearchFilter, SearchKey,
    Summary,
};
use musicmeta_shared::config::CacheConfig;
use musicmeta_shared::db::outcome::{self, Outcome};
use musicmeta_shared::db::{DbError, PgStore, browse, search};
use musicmeta_shared::domain::{ArtistCredit, LifeSpan, credit_phrase};
use musicmeta_shared::jobs::{FetchJob, Lane};
use musicmeta_shared::mbid::{EntityType, Mbid, MbidError};
use tonic::{Request, Response, Status};
use tracing::{Instrument, error, info, info_span, warn};

/// A completion asked for longer ago than this is assumed lost and asked
/// for again (the same rule as entity fetches).
const REASK_AFTER: Duration = Duration::from_secs(60);
/// Redirect chains longer than this are treated as unknown.
const MAX_REDIRECTS: usize = 3;

/// Why a catalog call cannot be answered.
#[derive(Debug, thiserror::Error)]
pub enum CatalogCallError {
    #[error(transparent)]
    Invalid(#[from] CatalogError),
    #[error("invalid {0}: {1}")]
    InvalidMbid(&'static str, MbidError),
    #[error("musicbrainz has no {0} with mbid {1}")]
    NotFound(EntityType, Mbid),
    #[error(transparent)]
    Database(#[from] DbError),
}

/// Error kind → gRPC code, as in `grpc.rs`: internal causes are logged here
/// in full; callers get a message that says what they can do.
fn status(error: CatalogCallError) -> Status {
    match error {
        e @ (CatalogCallError::Invalid(_) | CatalogCallError::InvalidMbid(..)) => {
            Status::invalid_argument(e.to_string())
        }
        e @ CatalogCallError::NotFound(..) => Status::not_found(e.to_string()),
        CatalogCallError::Database(e) => {
            error!(error = %e, "catalog call failed in the database");
            Status::unavailable("the cache database is unavailable; retry later")
        }
    }
}

#[derive(Debug, Clone)]
pub struct CatalogApi {
    store: PgStore,
    publisher: Arc<JobPublisher>,
    cache: CacheConfig,
}

/// One browse page, before conversion.
struct BrowsePage {
    items: Vec<Summary>,
    next_page_token: String,
    list: pb::ListState,
}

/// One search page, before conversion.
struct SearchPage {
    hits: Vec<Hit>,
    next_page_token: String,
}

/// Where a browse's parent stands in the cache.
enum Parent {
    /// A row (fetched or stub) under this MBID (after redirects).
    Known(Mbid),
    /// Never seen: the list is empty until the parent is fetched.
    Unknown(Mbid),
}

impl CatalogApi {
    pub fn new(store: PgStore, publisher: Arc<JobPublisher>, cache: CacheConfig) -> Self {
        Self {
            store,
            publisher,
            cache,
        }
    }

    async fn browse(
        &self,
        list: BrowseList,
        request: pb::BrowseRequest,
    ) -> Result<BrowsePage, CatalogCallError> {
        let requested =
            Mbid::parse(&request.mbid).map_err(|e| CatalogCallError::InvalidMbid("mbid", e))?;
        let size = cat::page_size(request.page_size)?;
        let scope = requested.to_string();
        let after: Option<BrowseKey> = cat::decode_token(&request.page_token, list.key(), &scope)?;

        let client = self.store.pool().get().await.map_err(DbError::from)?;
        let (parent, known) = match self.resolve(&client, list, requested).await? {
            Parent::Known(m) => (m, true),
            Parent::Unknown(m) => (m, false),
        };
        let mut rows = if known {
            browse::page(&client, list, parent, after.as_ref(), size + 1).await?
        } else {
            Vec::new()
        };
        let next_page_token = if rows.len() > size as usize {
            rows.truncate(size as usize);
            rows.last()
                .map(|(_, key)| cat::encode_token(list.key(), &scope, key))
                .unwrap_or_default()
        } else {
            String::new()
        };
        let state = browse::state(&client, list, parent).await?;
        drop(client);
        let completion_queued = if self.needs_completion(list, &state) {
            self.request_completion(list, parent).await?
        } else {
            false
        };
        Ok(BrowsePage {
            items: rows.into_iter().map(|(item, _)| item).collect(),
            next_page_token,
            list: pb::ListState {
                complete: state.complete,
                known_total: state.known_total,
                checked_at: state.checked_at.map(prost_types::Timestamp::from),
                completion_queued,
            },
        })
    }

    /// Follows merged MBIDs; a remembered 404 is NOT_FOUND.
    async fn resolve(
        &self,
        client: &deadpool_postgres::Client,
        list: BrowseList,
        requested: Mbid,
    ) -> Result<Parent, CatalogCallError> {
        let entity_type = list.parent_type();
        let mut current = requested;
        for _ in 0..=MAX_REDIRECTS {
            if browse::row_state(client, entity_type, current)
                .await?
                .is_some()
            {
                return Ok(Parent::Known(current));
            }
            match outcome::find(client, entity_type, current).await? {
                Some(Outcome::Redirect { to, .. }) => current = to,
                Some(Outcome::NotFound { recorded_at })
                    if age(recorded_at) < self.cache.negative_ttl() =>
                {
                    // A completion asked for before the 404 was learnt is moot.
                    for list in BrowseList::of_parent(entity_type) {
                        browse::release_completion(client, list, current).await?;
                    }
                    return Err(CatalogCallError::NotFound(entity_type, current));
                }
                _ => return Ok(Parent::Unknown(current)),
            }
        }
        warn!(mbid = %requested, "redirect chain too long; treating as unknown");
        Ok(Parent::Unknown(current))
    }

    /// A partial list, or a complete one older than the parent type's TTL.
    fn needs_completion(&self, list: BrowseList, state: &ListState) -> bool {
        let ttl = self.cache.ttl(list.parent_type());
        !state.complete || state.checked_at.is_none_or(|t| age(t) >= ttl)
    }

    /// Queues a job for the parent unless a completion of this list is
    /// already pending. True when a completion is pending now. A broker
    /// failure is logged, not returned: the page is still worth answering.
    async fn request_completion(
        &self,
        list: BrowseList,
        parent: Mbid,
    ) -> Result<bool, CatalogCallError> {
        let client = self.store.pool().get().await.map_err(DbError::from)?;
        if !browse::claim_completion(&client, list, parent, REASK_AFTER).await? {
            return Ok(true);
        }
        let job = FetchJob::new(list.parent_type(), parent);
        match self.publisher.publish(&job, Lane::Refresh).await {
            Ok(()) => {
                info!(list = list.key(), mbid = %parent, job_id = %job.job_id, "list completion queued");
                Ok(true)
            }
            Err(error) => {
                warn!(%error, list = list.key(), mbid = %parent, "could not queue list completion");
                // Without the job the claim would block others for REASK_AFTER.
                browse::release_completion(&client, list, parent).await?;
                Ok(false)
            }
        }
    }

    async fn search(
        &self,
        entity_type: EntityType,
        request: pb::SearchRequest,
    ) -> Result<SearchPage, CatalogCallError> {
        let query = cat::parse_query(&request.query)?;
        let size = cat::page_size(request.page_size)?;
        let filter = SearchFilter {
            kind: request.r#type,
            status: request.status,
            country: request.country,
            year_from: request.year_from,
            year_to: request.year_to,
            artist: request
                .artist_mbid
                .map(|m| Mbid::parse(&m))
                .transpose()
                .map_err(|e| CatalogCallError::InvalidMbid("artist_mbid", e))?,
        };
        filter.check(entity_type)?;
        let kind = format!("search/{entity_type}");
        let scope = filter.scope(&query);
        let after: Option<SearchKey> = cat::decode_token(&request.page_token, &kind, &scope)?;
        let mut hits = search::search(
            self.store.pool(),
            entity_type,
            &query,
            &filter,
            after,
            size + 1,
        )
        .await?;
        let next_page_token = if hits.len() > size as usize {
            hits.truncate(size as usize);
            hits.last()
                .map(|h| cat::encode_token(&kind, &scope, &h.key()))
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok(SearchPage {
            hits,
            next_page_token,
        })
    }
}

fn age(t: SystemTime) -> Duration {
    SystemTime::now().duration_since(t).unwrap_or_default()
}

/// Runs one call in a span named after its method, mapping errors once.
async fn serve<T>(
    method: &'static str,
    call: impl Future<Output = Result<T, CatalogCallError>>,
) -> Result<Response<T>, Status> {
    call.instrument(info_span!("rpc", method))
        .await
        .map(Response::new)
        .map_err(status)
}

// ---- conversion into protobuf messages ----

fn credits(c: Vec<ArtistCredit>) -> Vec<pb::ArtistCredit> {
    c.into_iter()
        .map(|c| pb::ArtistCredit {
            artist: Some(pb::ArtistRef {
                mbid: c.artist.mbid.to_string(),
                name: c.artist.name,
                sort_name: c.artist.sort_name,
                disambiguation: c.artist.disambiguation,
            }),
            credited_name: c.credited_name,
            join_phrase: c.join_phrase,
        })
        .collect()
}

fn life_span(l: LifeSpan) -> Option<pb::LifeSpan> {
    Some(pb::LifeSpan {
        begin: l.begin,
        end: l.end,
        ended: l.ended,
    })
}

fn artist(s: cat::ArtistSummary) -> pb::ArtistSummary {
    pb::ArtistSummary {
        mbid: s.mbid.to_string(),
        name: s.name,
        sort_name: s.sort_name,
        disambiguation: s.disambiguation,
        r#type: s.artist_type,
        country: s.country,
        life_span: life_span(s.life_span),
        fetched: s.fetched,
    }
}

fn label(s: cat::LabelSummary) -> pb::LabelSummary {
    pb::LabelSummary {
        mbid: s.mbid.to_string(),
        name: s.name,
        sort_name: s.sort_name,
        disambiguation: s.disambiguation,
        r#type: s.label_type,
        label_code: s.label_code,
        country: s.country,
        life_span: life_span(s.life_span),
        fetched: s.fetched,
    }
}

fn release_group(s: cat::ReleaseGroupSummary) -> pb::ReleaseGroupSummary {
    pb::ReleaseGroupSummary {
        mbid: s.mbid.to_string(),
        title: s.title,
        disambiguation: s.disambiguation,
        primary_type: s.primary_type,
        secondary_types: s.secondary_types,
        first_release_date: s.first_release_date,
        artist_credit_phrase: credit_phrase(&s.artist_credit),
        artist_credit: credits(s.artist_credit),
        fetched: s.fetched,
    }
}

fn release(s: cat::ReleaseSummary) -> pb::ReleaseSummary {
    pb::ReleaseSummary {
        mbid: s.mbid.to_string(),
        title: s.title,
        disambiguation: s.disambiguation,
        status: s.status,
        date: s.date,
        country: s.country,
        barcode: s.barcode,
        release_group_mbid: s.release_group.map(|m| m.to_string()),
        artist_credit_phrase: credit_phrase(&s.artist_credit),
        artist_credit: credits(s.artist_credit),
        fetched: s.fetched,
    }
}

fn recording(s: cat::RecordingSummary) -> pb::RecordingSummary {
    pb::RecordingSummary {
        mbid: s.mbid.to_string(),
        title: s.title,
        disambiguation: s.disambiguation,
        length_ms: s.length_ms,
        video: s.video,
        first_release_date: s.first_release_date,
        artist_credit_phrase: credit_phrase(&s.artist_credit),
        artist_credit: credits(s.artist_credit),
        fetched: s.fetched,
    }
}

fn relevance(tier: i32, score: i32, matched_alias: Option<String>) -> Option<pb::Relevance> {
    Some(pb::Relevance {
        score: f64::from(score) / 1_000_000.0,
        exact: tier == 0,
        matched_alias,
    })
}

/// The items of one type from a page of summaries (a page holds one type).
fn only<T>(items: Vec<Summary>, pick: impl Fn(Summary) -> Option<T>) -> Vec<T> {
    items.into_iter().filter_map(pick).collect()
}

#[tonic::async_trait]
impl CatalogService for CatalogApi {
    async fn browse_artist_release_groups(
        &self,
        request: Request<pb::BrowseRequest>,
    ) -> Result<Response<pb::BrowseReleaseGroupsResponse>, Status> {
        serve("BrowseArtistReleaseGroups", async {
            let page = self
                .browse(BrowseList::ArtistReleaseGroups, request.into_inner())
                .await?;
            Ok(pb::BrowseReleaseGroupsResponse {
                release_groups: only(page.items, |s| match s {
                    Summary::ReleaseGroup(g) => Some(release_group(g)),
                    _ => None,
                }),
                next_page_token: page.next_page_token,
                list: Some(page.list),
            })
        })
        .await
    }

    async fn browse_artist_recordings(
        &self,
        request: Request<pb::BrowseRequest>,
    ) -> Result<Response<pb::BrowseRecordingsResponse>, Status> {
        serve("BrowseArtistRecordings", async {
            let page = self
                .browse(BrowseList::ArtistRecordings, request.into_inner())
                .await?;
            Ok(pb::BrowseRecordingsResponse {
                recordings: only(page.items, |s| match s {
                    Summary::Recording(r) => Some(recording(r)),
                    _ => None,
                }),
                next_page_token: page.next_page_token,
                list: Some(page.list),
            })
        })
        .await
    }

    async fn browse_release_group_releases(
        &self,
        request: Request<pb::BrowseRequest>,
    ) -> Result<Response<pb::BrowseReleasesResponse>, Status> {
        serve("BrowseReleaseGroupReleases", async {
            let page = self
                .browse(BrowseList::ReleaseGroupReleases, request.into_inner())
                .await?;
            Ok(releases_response(page))
        })
        .await
    }

    async fn browse_label_releases(
        &self,
        request: Request<pb::BrowseRequest>,
    ) -> Result<Response<pb::BrowseReleasesResponse>, Status> {
        serve("BrowseLabelReleases", async {
            let page = self
                .browse(BrowseList::LabelReleases, request.into_inner())
                .await?;
            Ok(releases_response(page))
        })
        .await
    }

    async fn search_artists(
        &self,
        request: Request<pb::SearchRequest>,
    ) -> Result<Response<pb::SearchArtistsResponse>, Status> {
        serve("SearchArtists", async {
            let page = self
                .search(EntityType::Artist, request.into_inner())
                .await?;
            Ok(pb::SearchArtistsResponse {
                hits: page
                    .hits
                    .into_iter()
                    .filter_map(|h| match h.summary {
                        Summary::Artist(s) => Some(pb::ArtistHit {
                            relevance: relevance(h.tier, h.score, h.matched_alias),
                            artist: Some(artist(s)),
                        }),
                        _ => None,
                    })
                    .collect(),
                next_page_token: page.next_page_token,
            })
        })
        .await
    }

    async fn search_release_groups(
        &self,
        request: Request<pb::SearchRequest>,
    ) -> Result<Response<pb::SearchReleaseGroupsResponse>, Status> {
        serve("SearchReleaseGroups", async {
            let page = self
                .search(EntityType::ReleaseGroup, request.into_inner())
                .await?;
            Ok(pb::SearchReleaseGroupsResponse {
                hits: page
                    .hits
                    .into_iter()
                    .filter_map(|h| match h.summary {
                        Summary::ReleaseGroup(s) => Some(pb::ReleaseGroupHit {
                            relevance: relevance(h.tier, h.score, h.matched_alias),
                            release_group: Some(release_group(s)),
                        }),
                        _ => None,
                    })
                    .collect(),
                next_page_token: page.next_page_token,
            })
        })
        .await
    }

    async fn search_releases(
        &self,
        request: Request<pb::SearchRequest>,
    ) -> Result<Response<pb::SearchReleasesResponse>, Status> {
        serve("SearchReleases", async {
            let page = self
                .search(EntityType::Release, request.into_inner())
                .await?;
            Ok(pb::SearchReleasesResponse {
                hits: page
                    .hits
                    .into_iter()
                    .filter_map(|h| match h.summary {
                        Summary::Release(s) => Some(pb::ReleaseHit {
                            relevance: relevance(h.tier, h.score, h.matched_alias),
                            release: Some(release(s)),
                        }),
                        _ => None,
                    })
                    .collect(),
                next_page_token: page.next_page_token,
            })
        })
        .await
    }

    async fn search_recordings(
        &self,
        request: Request<pb::SearchRequest>,
    ) -> Result<Response<pb::SearchRecordingsResponse>, Status> {
        serve("SearchRecordings", async {
            let page = self
                .search(EntityType::Recording, request.into_inner())
                .await?;
            Ok(pb::SearchRecordingsResponse {
                hits: page
                    .hits
                    .into_iter()
                    .filter_map(|h| match h.summary {
                        Summary::Recording(s) => Some(pb::RecordingHit {
                            relevance: relevance(h.tier, h.score, h.matched_alias),
                            recording: Some(recording(s)),
                        }),
                        _ => None,
                    })
                    .collect(),
                next_page_token: page.next_page_token,
            })
        })
        .await
    }

    async fn search_labels(
        &self,
        request: Request<pb::SearchRequest>,
    ) -> Result<Response<pb::SearchLabelsResponse>, Status> {
        serve("SearchLabels", async {
            let page = self.search(EntityType::Label, request.into_inner()).await?;
            Ok(pb::SearchLabelsResponse {
                hits: page
                    .hits
                    .into_iter()
                    .filter_map(|h| match h.summary {
                        Summary::Label(s) => Some(pb::LabelHit {
                            relevance: relevance(h.tier, h.score, h.matched_alias),
                            label: Some(label(s)),
                        }),
                        _ => None,
                    })
                    .collect(),
                next_page_token: page.next_page_token,
            })
        })
        .await
    }
}

fn releases_response(page: BrowsePage) -> pb::BrowseReleasesResponse {
    pb::BrowseReleasesResponse {
        releases: only(page.items, |s| match s {
            Summary::Release(r) => Some(release(r)),
            _ => None,
        }),
        next_page_token: page.next_page_token,
        list: Some(page.list),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_map_to_codes() {
        let invalid = status(CatalogCallError::Invalid(CatalogError::EmptyQuery));
        assert_eq!(invalid.code(), tonic::Code::InvalidArgument);
        assert_eq!(invalid.message(), "query must not be empty");
        let bad_mbid = status(CatalogCallError::InvalidMbid(
            "artist_mbid",
            Mbid::parse("x").unwrap_err(),
        ));
        assert_eq!(bad_mbid.code(), tonic::Code::InvalidArgument);
        assert!(bad_mbid.message().starts_with("invalid artist_mbid"));
        let missing = status(CatalogCallError::NotFound(
            EntityType::Label,
            Mbid::parse("82935ddb-a9d6-45a7-85e3-0b0add51fa1c").unwrap(),
        ));
        assert_eq!(missing.code(), tonic::Code::NotFound);
    }
}
