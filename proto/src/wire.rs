//! The wire view of `MetadataService`: the same service (name, routes,
//! request types), answering with *wire twins* of its response messages
//! whose entity field is `bytes` holding the entity already encoded.
//!
//! Protobuf encodes an embedded message exactly as a `bytes` field of the
//! same number holding that message's encoding, so a twin is byte for byte
//! the response it stands for, and clients built from the `.proto` decode it
//! as usual. query-api serves this view so a hot lookup sends bytes it
//! encoded once instead of converting and encoding the entity per call; a
//! client may use it to skip decoding the entity (the load generator does).

use prost::bytes::Bytes;

use crate::v1::CacheInfo;

macro_rules! twin {
    ($name:ident, $field:ident, $entity:literal) => {
        #[doc = concat!("The wire twin of `musicmeta.v1.", stringify!($name), "`: `",
                            stringify!($field), "` is an encoded `musicmeta.v1.", $entity, "`.")]
        #[derive(Clone, PartialEq, ::prost::Message)]
        pub struct $name {
            #[prost(bytes = "bytes", tag = "1")]
            pub $field: Bytes,
            #[prost(message, optional, tag = "2")]
            pub cache: ::core::option::Option<CacheInfo>,
        }
    };
}

twin!(GetArtistResponse, artist, "Artist");
twin!(GetReleaseGroupResponse, release_group, "ReleaseGroup");
twin!(GetReleaseResponse, release, "Release");
twin!(GetRecordingResponse, recording, "Recording");
twin!(GetLabelResponse, label, "Label");
twin!(GetWorkResponse, work, "Work");

include!(concat!(
    env!("OUT_DIR"),
    "/wire/musicmeta.v1.MetadataService.rs"
));

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;
    use crate::v1;

    fn cache() -> CacheInfo {
        CacheInfo {
            freshness: v1::Freshness::Stale as i32,
            fetched_at: Some(prost_types::Timestamp {
                seconds: 1_700_000_000,
                nanos: 5,
            }),
            redirected_from: Some("a74b1b7f-71a5-4011-9441-d0b5e4122711".into()),
        }
    }

    /// Encodes the proto message and its twin built from the encoded
    /// entity; they must match byte for byte, and decode into each other.
    macro_rules! check_twin {
        ($name:ident, $field:ident, $entity:expr) => {{
            let entity = $entity;
            let message = v1::$name {
                $field: Some(entity.clone()),
                cache: Some(cache()),
            };
            let twin = $name {
                $field: Bytes::from(entity.encode_to_vec()),
                cache: Some(cache()),
            };
            assert_eq!(
                twin.encode_to_vec(),
                message.encode_to_vec(),
                stringify!($name)
            );
            let decoded = v1::$name::decode(twin.encode_to_vec().as_slice()).unwrap();
            assert_eq!(decoded, message);
            assert_eq!(
                $name::decode(message.encode_to_vec().as_slice()).unwrap(),
                twin
            );
        }};
    }

    #[test]
    fn twins_encode_as_the_proto_messages() {
        let mbid = "b10bbbfc-cf9e-42e0-be17-e2c3e1d2600d".to_owned();
        let credit = v1::ArtistCredit {
            artist: Some(v1::ArtistRef {
                mbid: mbid.clone(),
                name: "The Beatles".into(),
                ..Default::default()
            }),
            credited_name: "Beatles".into(),
            join_phrase: " & ".into(),
        };
        check_twin!(
            GetArtistResponse,
            artist,
            v1::Artist {
                mbid: mbid.clone(),
                name: "The Beatles".into(),
                country: Some("GB".into()),
                ..Default::default()
            }
        );
        check_twin!(
            GetReleaseGroupResponse,
            release_group,
            v1::ReleaseGroup {
                mbid: mbid.clone(),
                title: "Abbey Road".into(),
                artist_credit: vec![credit.clone()],
                ..Default::default()
            }
        );
        check_twin!(
            GetReleaseResponse,
            release,
            v1::Release {
                mbid: mbid.clone(),
                title: "Abbey Road".into(),
                artist_credit: vec![credit.clone()],
                media: vec![v1::Medium {
                    position: 1,
                    tracks: vec![v1::Track {
                        title: "Come Together".into(),
                        artist_credit: vec![credit.clone()],
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }
        );
        check_twin!(
            GetRecordingResponse,
            recording,
            v1::Recording {
                mbid: mbid.clone(),
                title: "Something".into(),
                length_ms: Some(182_000),
                ..Default::default()
            }
        );
        check_twin!(
            GetLabelResponse,
            label,
            v1::Label {
                mbid,
                name: "Apple Records".into(),
                ..Default::default()
            }
        );
    }
}
