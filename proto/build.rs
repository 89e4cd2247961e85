//! Generates the tonic/prost code, the reflection descriptor set, and the
//! wire view of `MetadataService` (see `src/wire.rs`).

use std::path::PathBuf;

use tonic_build::manual::{Builder, Method, Service};

/// `MetadataService`'s methods: (Rust name, RPC name, request, response).
const METADATA_METHODS: [(&str, &str, &str); 6] = [
    ("get_artist", "GetArtist", "Artist"),
    ("get_release_group", "GetReleaseGroup", "ReleaseGroup"),
    ("get_release", "GetRelease", "Release"),
    ("get_recording", "GetRecording", "Recording"),
    ("get_label", "GetLabel", "Label"),
    ("get_work", "GetWork", "Work"),
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    let well_known = protoc_bin_vendored::include_path()?;
    let well_known = well_known
        .to_str()
        .ok_or("protoc include path is not UTF-8")?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc);
    let protos = [
        "musicmeta/v1/entities.proto",
        "musicmeta/v1/metadata_service.proto",
        "musicmeta/v1/admin_service.proto",
        "musicmeta/v1/catalog_service.proto",
        "musicmeta/v1/identifier_service.proto",
        "musicmeta/v1/work_service.proto",
    ];
    for proto in protos {
        println!("cargo:rerun-if-changed={proto}");
    }
    tonic_prost_build::configure()
        .file_descriptor_set_path(out_dir.join("musicmeta_descriptor.bin"))
        .compile_with_config(config, &protos, &[".", well_known])?;

    // The same service, routes and request types, answering with the wire
    // twins of its responses; `wire::tests` checks the twins byte for byte.
    let mut service = Service::builder()
        .name("MetadataService")
        .package("musicmeta.v1");
    for (name, route, entity) in METADATA_METHODS {
        service = service.method(
            Method::builder()
                .name(name)
                .route_name(route)
                .input_type(format!("crate::v1::{route}Request"))
                .output_type(format!("crate::wire::{route}Response"))
                .codec_path("tonic_prost::ProstCodec")
                .comment(format!("`{route}`, whose `{entity}` travels pre-encoded."))
                .build(),
        );
    }
    let wire_dir = out_dir.join("wire");
    std::fs::create_dir_all(&wire_dir)?;
    Builder::new()
        .out_dir(&wire_dir)
        .compile(&[service.build()]);
    Ok(())
}
