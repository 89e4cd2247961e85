//! The `musicmeta.v1.IdentifierService` and `WorkService` gRPC handlers:
//! lookups by identifier and lists of works, answered from stored ws/2
//! documents (`documents`), read into domain types by the `musicbrainz`
//! model and converted to protobuf.

use std::time::Duration;

use musicmeta_musicbrainz::model::{self, ParseError};
use musicmeta_musicbrainz::ws2::{Request as Ws2Request, Resource};
use musicmeta_proto::v1 as pb;
use musicmeta_proto::v1::identifier_service_server::IdentifierService;
use musicmeta_proto::v1::work_service_server::WorkService;
use tonic::{Request, Response, Status};
use tracing::{Instrument, info_span};

use crate::convert;
use crate::deadline::client_deadline;
use crate::documents::{self, DocumentLookups, Fetched};
use crate::error::ApiError;

/// The `inc=` of each identifier lookup: what a tagger needs of the
/// entities listed, in the one request MusicBrainz answers.
const ISRC_INC: &str = "artist-credits+isrcs";
const DISCID_INC: &str = "artist-credits+labels+release-groups";
const BARCODE_FIELD: &str = "barcode";

#[derive(Debug, Clone)]
pub struct IdentifierApi {
    documents: DocumentLookups,
}

impl IdentifierApi {
    pub fn new(documents: DocumentLookups) -> Self {
        Self { documents }
    }

    /// One lookup: the stored document for `request`, read by `parse`.
    async fn lookup<T>(
        &self,
        method: &'static str,
        what: String,
        request: Result<Ws2Request, ApiError>,
        deadline: Option<Duration>,
        parse: impl FnOnce(&[u8]) -> Result<T, ParseError>,
    ) -> Result<(T, pb::CacheInfo), Status> {
        let span = info_span!("rpc", method, what = %what.chars().take(128).collect::<String>());
        async move {
            let request = request?;
            let Fetched { body, cache, .. } = self.documents.get(&request, &what, deadline).await?;
            let parsed = documents::read(&what, &body, parse)?;
            Ok((parsed, cache))
        }
        .instrument(span)
        .await
    }
}

fn isrc_request(isrc: &str) -> Result<Ws2Request, ApiError> {
    DocumentLookups::request(&format!("isrc/{isrc}"), Some(&format!("inc={ISRC_INC}")))
}

fn iswc_request(iswc: &str) -> Result<Ws2Request, ApiError> {
    DocumentLookups::request(&format!("iswc/{iswc}"), None)
}

fn discid_request(disc_id: &str, toc: Option<&str>) -> Result<Ws2Request, ApiError> {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("inc", DISCID_INC);
    if let Some(toc) = toc {
        query.append_pair("toc", toc);
    }
    DocumentLookups::request(&format!("discid/{disc_id}"), Some(&query.finish()))
}

/// A barcode is searched for; only digits and letters may go into the
/// search query, so a barcode cannot change what is searched.
fn barcode_request(barcode: &str) -> Result<Ws2Request, ApiError> {
    if barcode.is_empty()
        || barcode.len() > 64
        || !barcode.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Err(ApiError::InvalidArgument(
            "a barcode is 1 to 64 digits or letters".to_owned(),
        ));
    }
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("query", &format!("{BARCODE_FIELD}:{barcode}"))
        .finish();
    DocumentLookups::request("release", Some(&query))
}

fn url_request(url: &str) -> Result<Ws2Request, ApiError> {
    let inc = musicmeta_musicbrainz::ws2::superset(Resource::Url)
        .map(|inc| inc.as_query())
        .unwrap_or_default();
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("resource", url)
        .append_pair("inc", &inc)
        .finish();
    DocumentLookups::request("url", Some(&query))
}

#[tonic::async_trait]
impl IdentifierService for IdentifierApi {
    async fn lookup_isrc(
        &self,
        request: Request<pb::LookupIsrcRequest>,
    ) -> Result<Response<pb::RecordingsResponse>, Status> {
        let deadline = client_deadline(&request);
        let isrc = request.into_inner().isrc;
        let (recordings, cache) = self
            .lookup(
                "LookupIsrc",
                format!("isrc {isrc}"),
                isrc_request(&isrc),
                deadline,
                model::parse_isrc,
            )
            .await?;
        Ok(Response::new(pb::RecordingsResponse {
            recordings: recordings.into_iter().map(convert::recording).collect(),
            cache: Some(cache),
        }))
    }

    async fn lookup_iswc(
        &self,
        request: Request<pb::LookupIswcRequest>,
    ) -> Result<Response<pb::WorksResponse>, Status> {
        let deadline = client_deadline(&request);
        let iswc = request.into_inner().iswc;
        let (works, cache) = self
            .lookup(
                "LookupIswc",
                format!("iswc {iswc}"),
                iswc_request(&iswc),
                deadline,
                model::parse_iswc,
            )
            .await?;
        Ok(Response::new(pb::WorksResponse {
            works: works.into_iter().map(convert::work).collect(),
            cache: Some(cache),
        }))
    }

    async fn lookup_disc_id(
        &self,
        request: Request<pb::LookupDiscIdRequest>,
    ) -> Result<Response<pb::ReleasesResponse>, Status> {
        let deadline = client_deadline(&request);
        let pb::LookupDiscIdRequest { disc_id, toc } = request.into_inner();
        let (releases, cache) = self
            .lookup(
                "LookupDiscId",
                format!("discid {disc_id}"),
                discid_request(&disc_id, toc.as_deref()),
                deadline,
                model::parse_discid,
            )
            .await?;
        Ok(Response::new(pb::ReleasesResponse {
            releases: releases.into_iter().map(convert::release).collect(),
            cache: Some(cache),
        }))
    }

    async fn lookup_barcode(
        &self,
        request: Request<pb::LookupBarcodeRequest>,
    ) -> Result<Response<pb::ReleasesResponse>, Status> {
        let deadline = client_deadline(&request);
        let barcode = request.into_inner().barcode;
        let (releases, cache) = self
            .lookup(
                "LookupBarcode",
                format!("barcode {barcode}"),
                barcode_request(&barcode),
                deadline,
                model::parse_release_list,
            )
            .await?;
        // The search also matches barcodes it only resembles; only equal ones count.
        let releases = releases
            .into_iter()
            .filter(|r| r.barcode.as_deref() == Some(barcode.as_str()))
            .map(convert::release)
            .collect();
        Ok(Response::new(pb::ReleasesResponse {
            releases,
            cache: Some(cache),
        }))
    }

    async fn lookup_url(
        &self,
        request: Request<pb::LookupUrlRequest>,
    ) -> Result<Response<pb::LookupUrlResponse>, Status> {
        let deadline = client_deadline(&request);
        let url = request.into_inner().url;
        let (links, cache) = self
            .lookup(
                "LookupUrl",
                format!("url {url}"),
                url_request(&url),
                deadline,
                model::parse_url,
            )
            .await?;
        Ok(Response::new(pb::LookupUrlResponse {
            mbid: links.mbid.to_string(),
            resource: links.resource,
            relations: convert::relations(links.relations),
            cache: Some(cache),
        }))
    }
}

/// The `inc=` of a page of a work's recordings.
const WORK_RECORDINGS_INC: &str = "artist-credits+isrcs";
/// Browse pages: MusicBrainz's default and largest.
const DEFAULT_LIMIT: u32 = 25;
const MAX_LIMIT: u32 = 100;

/// `resource?<by>=<mbid>` with MusicBrainz's paging, as the key the page
/// is stored under.
fn browse_request(
    resource: &str,
    by: &str,
    request: &pb::WorkListRequest,
    inc: Option<&str>,
) -> Result<Ws2Request, ApiError> {
    let mbid = musicmeta_shared::mbid::Mbid::parse(&request.mbid)
        .map_err(|e| ApiError::InvalidArgument(format!("invalid mbid: {e}")))?;
    let limit = match request.limit {
        0 => DEFAULT_LIMIT,
        n if n <= MAX_LIMIT => n,
        n => {
            return Err(ApiError::InvalidArgument(format!(
                "limit {n} is over {MAX_LIMIT}"
            )));
        }
    };
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query
        .append_pair(by, &mbid.to_string())
        .append_pair("limit", &limit.to_string())
        .append_pair("offset", &request.offset.to_string());
    if let Some(inc) = inc {
        query.append_pair("inc", inc);
    }
    DocumentLookups::request(resource, Some(&query.finish()))
}

#[tonic::async_trait]
impl WorkService for IdentifierApi {
    async fn browse_artist_works(
        &self,
        request: Request<pb::WorkListRequest>,
    ) -> Result<Response<pb::WorksPage>, Status> {
        let deadline = client_deadline(&request);
        let request = request.into_inner();
        let what = format!("works of artist {}", request.mbid);
        let (page, cache) = self
            .lookup(
                "BrowseArtistWorks",
                what,
                browse_request("work", "artist", &request, None),
                deadline,
                model::parse_work_page,
            )
            .await?;
        Ok(Response::new(pb::WorksPage {
            works: page.items.into_iter().map(convert::work).collect(),
            total: page.total,
            offset: page.offset,
            cache: Some(cache),
        }))
    }

    async fn browse_work_recordings(
        &self,
        request: Request<pb::WorkListRequest>,
    ) -> Result<Response<pb::RecordingsPage>, Status> {
        let deadline = client_deadline(&request);
        let request = request.into_inner();
        let what = format!("recordings of work {}", request.mbid);
        let (page, cache) = self
            .lookup(
                "BrowseWorkRecordings",
                what,
                browse_request("recording", "work", &request, Some(WORK_RECORDINGS_INC)),
                deadline,
                model::parse_recording_page,
            )
            .await?;
        Ok(Response::new(pb::RecordingsPage {
            recordings: page.items.into_iter().map(convert::recording).collect(),
            total: page.total,
            offset: page.offset,
            cache: Some(cache),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every request the service makes is one the ws/2 grammar accepts,
    /// and a malformed identifier is refused in MusicBrainz's words.
    #[test]
    fn requests_are_valid_ws2() {
        isrc_request("USSUB0200002").unwrap();
        iswc_request("T-900.755.682-3").unwrap();
        discid_request("hcwQmxWsG3GdAQvfBa1SCpp4FuU-", None).unwrap();
        discid_request("hcwQmxWsG3GdAQvfBa1SCpp4FuU-", Some("1 2 157005 150 77950")).unwrap();
        barcode_request("0602537518357").unwrap();
        url_request("http://www.nirvana.com/").unwrap();
        assert!(matches!(
            isrc_request("nope"),
            Err(ApiError::InvalidArgument(_))
        ));
        assert!(matches!(
            iswc_request("T-1"),
            Err(ApiError::InvalidArgument(_))
        ));
        assert!(matches!(
            barcode_request("1 OR x"),
            Err(ApiError::InvalidArgument(_))
        ));
        assert!(matches!(
            barcode_request(""),
            Err(ApiError::InvalidArgument(_))
        ));
        let list = |mbid: &str, limit| pb::WorkListRequest {
            mbid: mbid.into(),
            offset: 0,
            limit,
        };
        let artist = "72c536dc-7137-4477-a521-567eeb840fa8";
        browse_request("work", "artist", &list(artist, 0), None).unwrap();
        browse_request(
            "recording",
            "work",
            &list(artist, 100),
            Some(WORK_RECORDINGS_INC),
        )
        .unwrap();
        assert!(browse_request("work", "artist", &list(artist, 101), None).is_err());
        assert!(browse_request("work", "artist", &list("72c536dc", 0), None).is_err());
    }
}
