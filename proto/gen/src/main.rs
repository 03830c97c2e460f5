//! Writes the tonic/prost code and the file descriptor set (for server reflection) of
//! `proto/torrent/v1/proof.proto` into `host-native/generated/`.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = root.join("host-native/generated");
    std::fs::create_dir_all(&out)?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .out_dir(&out)
        .file_descriptor_set_path(out.join("torrent_v1_descriptor.bin"))
        .compile_protos(
            &[root.join("proto/torrent/v1/proof.proto")],
            &[root.join("proto")],
        )?;
    Ok(())
}
