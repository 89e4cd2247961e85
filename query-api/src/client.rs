//! `query-api lookup`: a minimal gRPC client for operators and the demo, so
//! a lookup can be shown without installing grpcurl.

use std::time::Duration;

use musicmeta_proto::v1 as pb;
use musicmeta_proto::v1::metadata_service_client::MetadataServiceClient;
use musicmeta_shared::mbid::EntityType;
use tonic::Request;

/// Looks `mbid` up and renders the answer (the protobuf message, indented).
pub async fn run(
    addr: &str,
    entity_type: EntityType,
    mbid: String,
    timeout: Duration,
) -> Result<String, tonic::Status> {
    let mut client = MetadataServiceClient::connect(addr.to_owned())
        .await
        .map_err(|e| tonic::Status::unavailable(format!("cannot reach {addr}: {e}")))?;
    fn req<T>(message: T, timeout: Duration) -> Request<T> {
        let mut r = Request::new(message);
        r.set_timeout(timeout);
        r
    }
    Ok(match entity_type {
        EntityType::Artist => format!(
            "{:#?}",
            client
                .get_artist(req(pb::GetArtistRequest { mbid }, timeout))
                .await?
                .into_inner()
        ),
        EntityType::ReleaseGroup => format!(
            "{:#?}",
            client
                .get_release_group(req(pb::GetReleaseGroupRequest { mbid }, timeout))
                .await?
                .into_inner()
        ),
        EntityType::Release => format!(
            "{:#?}",
            client
                .get_release(req(pb::GetReleaseRequest { mbid }, timeout))
                .await?
                .into_inner()
        ),
        EntityType::Recording => format!(
            "{:#?}",
            client
                .get_recording(req(pb::GetRecordingRequest { mbid }, timeout))
                .await?
                .into_inner()
        ),
        EntityType::Label => format!(
            "{:#?}",
            client
                .get_label(req(pb::GetLabelRequest { mbid }, timeout))
                .await?
                .into_inner()
        ),
    })
}
