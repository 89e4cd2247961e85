//! The `musicmeta.v1` protobuf package, generated at build time from
//! `proto/musicmeta/v1/*.proto` with a vendored `protoc`, so building needs
//! no system protobuf compiler. [`FILE_DESCRIPTOR_SET`] feeds gRPC server
//! reflection; [`wire`] is the view of `MetadataService` that query-api
//! serves.

// Library code returns its errors; `unwrap` is for tests (clippy.toml).
#![warn(clippy::unwrap_used)]
#![allow(missing_debug_implementations)] // generated code

pub mod musicmeta {
    pub mod v1 {
        tonic::include_proto!("musicmeta.v1");
    }
}

pub use musicmeta::v1;

pub mod wire;

/// Encoded descriptors of every message and service in `musicmeta.v1`.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("musicmeta_descriptor");
