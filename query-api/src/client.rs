//! `query-api lookup`: a minimal gRPC client for operators and the demo, so
//! a lookup can be shown without installing grpcurl. It prints the answer
//! in the canonical proto3 JSON mapping (what grpcurl prints), one object
//! per call, so it pipes into `jq`.

use std::time::Duration;

use musicmeta_proto::FILE_DESCRIPTOR_SET;
use musicmeta_proto::v1 as pb;
use musicmeta_proto::v1::metadata_service_client::MetadataServiceClient;
use musicmeta_shared::mbid::EntityType;
use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage};
use tonic::{Request, Status};

use crate::auth::AttachToken;

/// Looks `mbid` up and renders the answer as proto3 JSON. `token` is sent
/// as `authorization: Bearer <token>` (needed when `grpc.lookup_token` is
/// set).
pub async fn run(
    addr: &str,
    entity_type: EntityType,
    mbid: String,
    timeout: Duration,
    token: Option<&str>,
) -> Result<String, Status> {
    let channel = tonic::transport::Endpoint::from_shared(addr.to_owned())
        .map_err(|e| Status::invalid_argument(format!("bad address {addr}: {e}")))?
        .connect()
        .await
        .map_err(|e| Status::unavailable(format!("cannot reach {addr}: {e}")))?;
    let attach = token
        .map(AttachToken::new)
        .transpose()
        .map_err(|_| Status::invalid_argument("the token cannot be sent in a header"))?;
    let mut client = MetadataServiceClient::with_interceptor(channel, move |mut r: Request<()>| {
        if let Some(attach) = &attach {
            use tonic::service::Interceptor as _;
            r = attach.clone().call(r)?;
        }
        Ok(r)
    });
    fn req<T>(message: T, timeout: Duration) -> Request<T> {
        let mut r = Request::new(message);
        r.set_timeout(timeout);
        r
    }
    let (name, bytes) = match entity_type {
        EntityType::Artist => (
            "GetArtistResponse",
            client
                .get_artist(req(pb::GetArtistRequest { mbid }, timeout))
                .await?
                .into_inner()
                .encode_to_vec(),
        ),
        EntityType::ReleaseGroup => (
            "GetReleaseGroupResponse",
            client
                .get_release_group(req(pb::GetReleaseGroupRequest { mbid }, timeout))
                .await?
                .into_inner()
                .encode_to_vec(),
        ),
        EntityType::Release => (
            "GetReleaseResponse",
            client
                .get_release(req(pb::GetReleaseRequest { mbid }, timeout))
                .await?
                .into_inner()
                .encode_to_vec(),
        ),
        EntityType::Recording => (
            "GetRecordingResponse",
            client
                .get_recording(req(pb::GetRecordingRequest { mbid }, timeout))
                .await?
                .into_inner()
                .encode_to_vec(),
        ),
        EntityType::Label => (
            "GetLabelResponse",
            client
                .get_label(req(pb::GetLabelRequest { mbid }, timeout))
                .await?
                .into_inner()
                .encode_to_vec(),
        ),
    };
    to_json(&format!("musicmeta.v1.{name}"), &bytes)
        .map_err(|e| Status::internal(format!("cannot render the answer as JSON: {e}")))
}

/// An encoded `musicmeta.v1` message as proto3 JSON, read through the
/// descriptors the proto crate embeds (the same ones reflection serves).
fn to_json(full_name: &str, bytes: &[u8]) -> Result<String, String> {
    let pool = DescriptorPool::decode(FILE_DESCRIPTOR_SET).map_err(|e| e.to_string())?;
    let descriptor = pool
        .get_message_by_name(full_name)
        .ok_or_else(|| format!("no message {full_name}"))?;
    let message = DynamicMessage::decode(descriptor, bytes).map_err(|e| e.to_string())?;
    serde_json::to_string(&message).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_proto3_json_mapping() {
        let answer = pb::GetLabelResponse {
            label: Some(pb::Label {
                mbid: "46f0f4cd-8aab-4b33-b698-f459faf64190".into(),
                name: "Warp".into(),
                label_code: Some(2070),
                ..pb::Label::default()
            }),
            cache: Some(pb::CacheInfo {
                freshness: pb::Freshness::Fresh.into(),
                fetched_at: Some(prost_types::Timestamp {
                    seconds: 1_700_000_000,
                    nanos: 0,
                }),
                redirected_from: None,
            }),
        };
        let json: serde_json::Value = serde_json::from_str(
            &to_json("musicmeta.v1.GetLabelResponse", &answer.encode_to_vec()).unwrap(),
        )
        .unwrap();
        assert_eq!(json["label"]["name"], "Warp");
        assert_eq!(json["label"]["labelCode"], 2070);
        assert_eq!(json["cache"]["freshness"], "FRESHNESS_FRESH");
        assert_eq!(json["cache"]["fetchedAt"], "2023-11-14T22:13:20Z");
    }
}
