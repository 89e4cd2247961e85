//! The `musicmeta.v1.MetadataService` gRPC handlers.
//!
//! Handlers only parse the request, call the cache policy and wrap its
//! answer; the client's deadline (`grpc-timeout`) bounds how long a miss may
//! wait. They serve the service's wire view (`musicmeta_proto::wire`): the
//! entity goes out as the bytes the policy encoded when it read it.

use musicmeta_musicbrainz::model;
use musicmeta_musicbrainz::ws2::Resource;
use musicmeta_proto::v1 as pb;
use musicmeta_proto::wire::{self, metadata_service_server::MetadataService};
use musicmeta_shared::db::{EntityRepository, PgStore};
use musicmeta_shared::domain::{Artist, Label, Recording, Release, ReleaseGroup};
use musicmeta_shared::mbid::Mbid;
use musicmeta_shared::telemetry;
use opentelemetry::context::FutureExt as _;
use prost::Message;
use std::collections::HashMap;
use tonic::{Request, Response, Status};
use tracing::{Instrument, info_span};

use crate::convert;
use crate::deadline::client_deadline;
use crate::documents::{self, DocumentLookups};
use crate::error::ApiError;
use crate::hot::Hot;
use crate::policy::{Answer, CachePolicy};

/// The production cache policy: the PostgreSQL repositories.
pub type Policy = CachePolicy<PgStore>;

#[derive(Debug, Clone)]
pub struct MetadataApi {
    policy: Policy,
    /// Works, which are answered from their stored ws/2 document.
    documents: DocumentLookups,
}

impl MetadataApi {
    pub fn new(policy: Policy, documents: DocumentLookups) -> Self {
        Self { policy, documents }
    }
}

impl MetadataApi {
    /// One lookup RPC: a span that continues the caller's trace (W3C
    /// `traceparent` metadata), the cache policy, the conversion.
    async fn serve<T, M, R>(
        &self,
        method: &'static str,
        request: Request<M>,
        mbid: impl FnOnce(&M) -> &str,
        answer: impl FnOnce(Answer) -> R,
    ) -> Result<Response<R>, Status>
    where
        T: Hot,
        PgStore: EntityRepository<T>,
    {
        let mbid = mbid(request.get_ref()).to_owned();
        let span = info_span!("rpc", method, mbid = %mbid.chars().take(64).collect::<String>());
        let trace = if request.metadata().contains_key("traceparent") {
            telemetry::continue_trace(&span, &trace_headers(request.metadata()))
        } else {
            opentelemetry::Context::current()
        };
        let deadline = client_deadline(&request);
        async move {
            let found = self.policy.get::<T>(&mbid, deadline).await?;
            Ok(Response::new(answer(found)))
        }
        .instrument(span)
        .with_context(trace)
        .await
    }
}

/// The W3C trace-context entries of a call's metadata.
fn trace_headers(metadata: &tonic::metadata::MetadataMap) -> HashMap<String, String> {
    ["traceparent", "tracestate"]
        .into_iter()
        .filter_map(|k| Some((k.to_owned(), metadata.get(k)?.to_str().ok()?.to_owned())))
        .collect()
}

#[tonic::async_trait]
impl MetadataService for MetadataApi {
    async fn get_artist(
        &self,
        request: Request<pb::GetArtistRequest>,
    ) -> Result<Response<wire::GetArtistResponse>, Status> {
        self.serve::<Artist, _, _>(
            "GetArtist",
            request,
            |r| &r.mbid,
            |a| wire::GetArtistResponse {
                cache: Some(convert::cache_info(&a)),
                artist: a.body,
            },
        )
        .await
    }

    async fn get_release_group(
        &self,
        request: Request<pb::GetReleaseGroupRequest>,
    ) -> Result<Response<wire::GetReleaseGroupResponse>, Status> {
        self.serve::<ReleaseGroup, _, _>(
            "GetReleaseGroup",
            request,
            |r| &r.mbid,
            |a| wire::GetReleaseGroupResponse {
                cache: Some(convert::cache_info(&a)),
                release_group: a.body,
            },
        )
        .await
    }

    async fn get_release(
        &self,
        request: Request<pb::GetReleaseRequest>,
    ) -> Result<Response<wire::GetReleaseResponse>, Status> {
        self.serve::<Release, _, _>(
            "GetRelease",
            request,
            |r| &r.mbid,
            |a| wire::GetReleaseResponse {
                cache: Some(convert::cache_info(&a)),
                release: a.body,
            },
        )
        .await
    }

    async fn get_recording(
        &self,
        request: Request<pb::GetRecordingRequest>,
    ) -> Result<Response<wire::GetRecordingResponse>, Status> {
        self.serve::<Recording, _, _>(
            "GetRecording",
            request,
            |r| &r.mbid,
            |a| wire::GetRecordingResponse {
                cache: Some(convert::cache_info(&a)),
                recording: a.body,
            },
        )
        .await
    }

    async fn get_label(
        &self,
        request: Request<pb::GetLabelRequest>,
    ) -> Result<Response<wire::GetLabelResponse>, Status> {
        self.serve::<Label, _, _>(
            "GetLabel",
            request,
            |r| &r.mbid,
            |a| wire::GetLabelResponse {
                cache: Some(convert::cache_info(&a)),
                label: a.body,
            },
        )
        .await
    }

    async fn get_work(
        &self,
        request: Request<pb::GetWorkRequest>,
    ) -> Result<Response<wire::GetWorkResponse>, Status> {
        let deadline = client_deadline(&request);
        let raw = request.into_inner().mbid;
        let span =
            info_span!("rpc", method = "GetWork", mbid = %raw.chars().take(64).collect::<String>());
        async move {
            let mbid = Mbid::parse(&raw)
                .map_err(|e| ApiError::InvalidArgument(format!("invalid mbid: {e}")))?;
            let what = format!("work {mbid}");
            let request = DocumentLookups::superset(Resource::Work, &mbid.to_string())?;
            let fetched = self.documents.get(&request, &what, deadline).await?;
            let work = documents::read(&what, &fetched.body, model::parse_work)?;
            let mut cache = fetched.cache;
            if fetched.moved {
                cache.redirected_from = Some(mbid.to_string());
            }
            Ok(Response::new(wire::GetWorkResponse {
                work: convert::work(work).encode_to_vec().into(),
                cache: Some(cache),
            }))
        }
        .instrument(span)
        .await
    }
}
