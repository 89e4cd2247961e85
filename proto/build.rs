//! Generates the tonic/prost code and the reflection descriptor set.

use std::path::PathBuf;

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
    ];
    for proto in protos {
        println!("cargo:rerun-if-changed={proto}");
    }
    tonic_prost_build::configure()
        .file_descriptor_set_path(out_dir.join("musicmeta_descriptor.bin"))
        .compile_with_config(config, &protos, &[".", well_known])?;
    Ok(())
}
