//! `torrent_service proof`: the proof server's gRPC client, for people and scripts.

use anyhow::Context;

use crate::cli::args::{ProofArgs, ProofFormat};
use crate::proto as pb;

/// `torrent_service proof TXID [--server URL] [--format bump|tsc|json]`: asks a running
/// service over gRPC and prints the proof (exit 1 when the service has none).
///
/// # Errors
/// An unreachable server.
pub(crate) fn run(args: &ProofArgs) -> anyhow::Result<std::process::ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut client = pb::proof_service_client::ProofServiceClient::connect(args.server.clone())
            .await
            .with_context(|| format!("connecting to the proof server {}", args.server))?;
        let format = match args.format {
            ProofFormat::Bump => pb::ProofFormat::Bump,
            ProofFormat::Tsc => pb::ProofFormat::Tsc,
            ProofFormat::Json => pb::ProofFormat::All,
        };
        let reply = client
            .get_proof(pb::GetProofRequest {
                txid: args.txid.clone(),
                format: format as i32,
            })
            .await;
        let p = match reply {
            Ok(r) => r.into_inner(),
            Err(s) => {
                crate::output::print_error_line(&format!("{:?}: {}", s.code(), s.message()));
                return Ok(std::process::ExitCode::from(1));
            }
        };
        match args.format {
            ProofFormat::Bump => {
                crate::outln!("{}", torrent_core::hex::encode(&p.bump))
            }
            ProofFormat::Tsc => crate::outln!("{}", p.tsc_json),
            ProofFormat::Json => {
                let tsc: serde_json::Value =
                    serde_json::from_str(&p.tsc_json).unwrap_or(serde_json::Value::Null);
                let v = serde_json::json!({
                    "txid": p.txid,
                    "height": p.height,
                    "block_hash": p.block_hash,
                    "tx_count": p.tx_count,
                    "index": p.index,
                    "header": torrent_core::hex::encode(&p.header),
                    "bump": torrent_core::hex::encode(&p.bump),
                    "tsc": tsc,
                    "infohash_v1": p.infohash_v1,
                    "bundle": p.bundle,
                    "txid_file": p.txid_file,
                    "elapsed_us": p.elapsed_us,
                    "source": p.source,
                });
                crate::outln!("{}", serde_json::to_string_pretty(&v)?);
            }
        }
        Ok(std::process::ExitCode::SUCCESS)
    })
}
