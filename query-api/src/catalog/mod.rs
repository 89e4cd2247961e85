//! The `musicmeta.v1.CatalogService` handlers: each turns its request into
//! the catalog policy's input and the page it returns into the response
//! message, nothing more. What a browse or search does is
//! [`policy`]'s; errors become statuses in `crate::error`.

pub mod policy;

use musicmeta_proto::v1 as pb;
use musicmeta_proto::v1::catalog_service_server::CatalogService;
use musicmeta_shared::catalog::{BrowseList, Summary};
use musicmeta_shared::db::PgStore;
use musicmeta_shared::mbid::EntityType;
use tonic::{Request, Response, Status};
use tracing::{Instrument, info_span};

use crate::convert::{
    artist_summary, label_summary, recording_summary, release_group_summary, release_summary,
    relevance,
};
use crate::error::ApiError;
use policy::{BrowsePage, BrowseQuery, CatalogPolicy, SearchPage, SearchQuery};

/// The production catalog policy: the PostgreSQL repositories.
pub type Catalog = CatalogPolicy<PgStore>;

#[derive(Debug, Clone)]
pub struct CatalogApi {
    policy: Catalog,
}

impl CatalogApi {
    pub fn new(policy: Catalog) -> Self {
        Self { policy }
    }

    async fn browse(
        &self,
        list: BrowseList,
        request: pb::BrowseRequest,
    ) -> Result<BrowsePage, ApiError> {
        let query = BrowseQuery {
            mbid: request.mbid,
            page_size: request.page_size,
            page_token: request.page_token,
        };
        self.policy.browse(list, query).await
    }

    async fn search(
        &self,
        entity_type: EntityType,
        request: pb::SearchRequest,
    ) -> Result<SearchPage, ApiError> {
        let query = SearchQuery {
            query: request.query,
            page_size: request.page_size,
            page_token: request.page_token,
            kind: request.r#type,
            status: request.status,
            country: request.country,
            year_from: request.year_from,
            year_to: request.year_to,
            artist_mbid: request.artist_mbid,
        };
        self.policy.search(entity_type, query).await
    }
}

/// Runs one call in a span named after its method.
async fn serve<T>(
    method: &'static str,
    call: impl Future<Output = Result<T, ApiError>>,
) -> Result<Response<T>, Status> {
    call.instrument(info_span!("rpc", method))
        .await
        .map(Response::new)
        .map_err(Status::from)
}

/// The list state of a page, as the wire has it.
fn list_state(page: &BrowsePage) -> pb::ListState {
    pb::ListState {
        complete: page.list.complete,
        known_total: page.list.known_total,
        checked_at: page.list.checked_at.map(prost_types::Timestamp::from),
        completion_queued: page.completion_queued,
    }
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
            let list = Some(list_state(&page));
            Ok(pb::BrowseReleaseGroupsResponse {
                release_groups: only(page.items, |s| match s {
                    Summary::ReleaseGroup(g) => Some(release_group_summary(g)),
                    _ => None,
                }),
                next_page_token: page.next_page_token,
                list,
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
            let list = Some(list_state(&page));
            Ok(pb::BrowseRecordingsResponse {
                recordings: only(page.items, |s| match s {
                    Summary::Recording(r) => Some(recording_summary(r)),
                    _ => None,
                }),
                next_page_token: page.next_page_token,
                list,
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
                            artist: Some(artist_summary(s)),
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
                            release_group: Some(release_group_summary(s)),
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
                            release: Some(release_summary(s)),
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
                            recording: Some(recording_summary(s)),
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
                            label: Some(label_summary(s)),
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
    let list = Some(list_state(&page));
    pb::BrowseReleasesResponse {
        releases: only(page.items, |s| match s {
            Summary::Release(r) => Some(release_summary(r)),
            _ => None,
        }),
        next_page_token: page.next_page_token,
        list,
    }
}
