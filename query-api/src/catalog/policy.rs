//! What a catalog call does, apart from its wire format: validating the
//! request, reading a browse page or search page through the
//! [`CatalogRepository`], and asking for a list's completion when the cache
//! does not hold it whole (design: docs/catalog.md).
//!
//! Neither browse nor search waits for MusicBrainz. A browse of a list the
//! cache does not hold whole answers with what is there and asks for one
//! completion job for the parent (through `FetchRequests`, claimed under
//! the list, so repeated calls make one job); the worker then pages through
//! MusicBrainz's browse for the rest. Search only reads. Requests are
//! validated before any query: bad MBIDs, page sizes, page tokens, queries
//! and filters are invalid arguments.

use musicmeta_shared::catalog::{
    self as cat, BrowseKey, BrowseList, CatalogError, Hit, ListState, SearchFilter, SearchKey,
    Summary,
};
use musicmeta_shared::config::CacheConfig;
use musicmeta_shared::db::redirects::{Resolved, resolve_redirects};
use musicmeta_shared::db::{CacheStateRepository, CatalogRepository};
use musicmeta_shared::fetch_requests::{FetchRequests, Request, Requested};
use musicmeta_shared::mbid::{EntityType, Mbid};
use tracing::info;

use crate::error::ApiError;

impl From<CatalogError> for ApiError {
    fn from(e: CatalogError) -> Self {
        ApiError::InvalidArgument(e.to_string())
    }
}

/// A browse call's input, as the wire gives it.
#[derive(Debug, Clone, Default)]
pub struct BrowseQuery {
    pub mbid: String,
    pub page_size: i32,
    pub page_token: String,
}

/// A search call's input, as the wire gives it.
#[derive(Debug, Clone, Default)]
pub struct SearchQuery {
    pub query: String,
    pub page_size: i32,
    pub page_token: String,
    pub kind: Option<String>,
    pub status: Option<String>,
    pub country: Option<String>,
    pub year_from: Option<i32>,
    pub year_to: Option<i32>,
    pub artist_mbid: Option<String>,
}

/// One browse page.
#[derive(Debug)]
pub struct BrowsePage {
    pub items: Vec<Summary>,
    pub next_page_token: String,
    pub list: ListState,
    /// A completion of the list is pending (asked for now or before).
    pub completion_queued: bool,
}

/// One search page.
#[derive(Debug)]
pub struct SearchPage {
    pub hits: Vec<Hit>,
    pub next_page_token: String,
}

/// The catalog policy; cheap to clone.
#[derive(Debug, Clone)]
pub struct CatalogPolicy<R> {
    repo: R,
    requests: FetchRequests,
    cache: CacheConfig,
}

fn invalid_mbid(field: &str, raw: &str) -> Result<Mbid, ApiError> {
    Mbid::parse(raw).map_err(|e| ApiError::InvalidArgument(format!("invalid {field}: {e}")))
}

impl<R> CatalogPolicy<R>
where
    R: CatalogRepository + CacheStateRepository,
{
    pub fn new(repo: R, requests: FetchRequests, cache: CacheConfig) -> Self {
        Self {
            repo,
            requests,
            cache,
        }
    }

    pub async fn browse(
        &self,
        list: BrowseList,
        query: BrowseQuery,
    ) -> Result<BrowsePage, ApiError> {
        let requested = invalid_mbid("mbid", &query.mbid)?;
        let size = cat::page_size(query.page_size)?;
        let scope = requested.to_string();
        let after: Option<BrowseKey> = cat::decode_token(&query.page_token, list.key(), &scope)?;

        let parent_type = list.parent_type();
        let resolved = resolve_redirects(
            &self.repo,
            &self.cache,
            parent_type,
            requested,
            |m| async move { Ok(self.repo.is_known(parent_type, m).await?.then_some(())) },
        )
        .await?;
        let (parent, known) = match resolved {
            Resolved::Found { mbid, .. } => (mbid, true),
            Resolved::Unknown(mbid) => (mbid, false),
            Resolved::NotFound(mbid) => {
                // A completion asked for before the 404 was learnt is moot.
                for list in BrowseList::of_parent(parent_type) {
                    self.repo.release_completion(list, mbid).await?;
                }
                return Err(ApiError::NotFound(parent_type, mbid));
            }
            Resolved::Failed(mbid) => return Err(ApiError::UpstreamFailed(parent_type, mbid)),
        };
        let mut rows = if known {
            self.repo
                .browse_page(list, parent, after.as_ref(), size + 1)
                .await?
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
        let state = self.repo.list_state(list, parent).await?;
        let completion_queued = if self.needs_completion(list, &state) {
            let outcome = self
                .requests
                .request(Request::complete_list(list, parent))
                .await?;
            if outcome == Requested::Queued {
                info!(list = list.key(), mbid = %parent, "list completion queued");
            }
            // Staged counts as queued: the relay sends it once the broker is back.
            true
        } else {
            false
        };
        Ok(BrowsePage {
            items: rows.into_iter().map(|(item, _)| item).collect(),
            next_page_token,
            list: state,
            completion_queued,
        })
    }

    /// A partial list, or a complete one older than the parent type's TTL.
    fn needs_completion(&self, list: BrowseList, state: &ListState) -> bool {
        !state.complete
            || state
                .checked_at
                .is_none_or(|t| !self.cache.is_fresh(list.parent_type(), t))
    }

    pub async fn search(
        &self,
        entity_type: EntityType,
        request: SearchQuery,
    ) -> Result<SearchPage, ApiError> {
        let query = cat::parse_query(&request.query)?;
        let size = cat::page_size(request.page_size)?;
        let filter = SearchFilter {
            kind: request.kind,
            status: request.status,
            country: request.country,
            year_from: request.year_from,
            year_to: request.year_to,
            artist: request
                .artist_mbid
                .map(|m| invalid_mbid("artist_mbid", &m))
                .transpose()?,
        };
        filter.check(entity_type)?;
        let kind = format!("search/{entity_type}");
        let scope = filter.scope(&query);
        let after: Option<SearchKey> = cat::decode_token(&request.page_token, &kind, &scope)?;
        let mut hits = self
            .repo
            .search(entity_type, &query, &filter, after, size + 1)
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
