//! `torrent_service proof`: the proof server's gRPC client, for people and scripts.

use anyhow::Context;

use torrent_core::verdict::ProofFormat;

use crate::cli::args::ProofArgs;
use crate::proto as pb;

/// `torrent_service proof TXID [--server URL] [--format bump|tsc|json] [--height H]`: asks a running
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
        let reply = client
            .get_proof(pb::GetProofRequest {
                txid: args.txid.clone(),
                format: crate::rpc::grpc::to_wire(args.format) as i32,
                height: args.height,
            })
            .await;
        let p = match reply {
            Ok(r) => r.into_inner(),
            Err(s) => {
                crate::output::print_error_line(&format!("{:?}: {}", s.code(), s.message()));
                return Ok(std::process::ExitCode::from(1));
            }
        };
        match args.format.single() {
            Some(ProofFormat::Bump) => crate::outln!("{}", torrent_core::hex::encode(&p.bump)),
            Some(ProofFormat::Tsc) => crate::outln!("{}", p.tsc_json),
            None => {
                let answer = crate::rpc::grpc::from_wire(p)
                    .map_err(|e| anyhow::anyhow!("the proof server's answer: {e}"))?;
                crate::outln!("{}", serde_json::to_string_pretty(&answer)?);
            }
        }
        Ok(std::process::ExitCode::SUCCESS)
    })
}
