//! `galaxy-standin`: Galaxy's Transaction, Storage, Validation, Alert, Block, Overlay and
//! Auth services as stand-ins (see `torrent_tests::galaxy_standin`), for the end-to-end run
//! and the demo.

use std::io::Write;

use anyhow::{Context, Result};
use clap::Parser;
use torrent_tests::galaxy_standin::{
    AuthStandIn, BlockStandIn, OverlayStandIn, StandIn, wire::GalaxyUtxo,
};

/// Galaxy Transaction, Storage, Validation, Alert, Block, Overlay and Auth stand-ins
/// speaking length-prefixed bincode 2.
#[derive(Debug, Parser)]
struct Args {
    /// Transaction service address.
    #[arg(long, default_value = "127.0.0.1:50052")]
    transaction: String,
    /// Storage service address.
    #[arg(long, default_value = "127.0.0.1:50053")]
    storage: String,
    /// Validation service address.
    #[arg(long, default_value = "127.0.0.1:50057")]
    validation: String,
    /// Alert service address.
    #[arg(long, default_value = "127.0.0.1:50061")]
    alert: String,
    /// Block service address (served when --blocks is given).
    #[arg(long, default_value = "127.0.0.1:50054")]
    block: String,
    /// Folder of raw block files named by height, served by the Block service; pruned
    /// blocks are deleted from it.
    #[arg(long)]
    blocks: Option<std::path::PathBuf>,
    /// Overlay service address.
    #[arg(long, default_value = "127.0.0.1:50056")]
    overlay: String,
    /// Auth service address.
    #[arg(long, default_value = "127.0.0.1:50060")]
    auth: String,
    /// Operator token the Auth service accepts (as subject "operator"); repeatable.
    #[arg(long = "operator-token")]
    operator_tokens: Vec<String>,
    /// Folder for the Block and Overlay databases (redb).
    #[arg(long, default_value = "galaxy-standin")]
    state_dir: std::path::PathBuf,
    /// The token requests must carry.
    #[arg(long, env = "TORRENT_SERVICE_AUTH_TOKEN")]
    auth_token: String,
    /// JSON list of starting UTXOs: [{"txid" (display hex), "vout", "satoshis",
    /// "locking_script" (hex)}].
    #[arg(long)]
    utxos: Option<std::path::PathBuf>,
}

#[derive(serde::Deserialize)]
struct Utxo {
    txid: String,
    vout: u32,
    satoshis: u64,
    locking_script: String,
}

fn main() -> Result<()> {
    let a = Args::parse();
    let mut utxos = Vec::new();
    if let Some(p) = &a.utxos {
        let list: Vec<Utxo> = serde_json::from_slice(
            &std::fs::read(p).with_context(|| format!("reading {}", p.display()))?,
        )
        .with_context(|| {
            format!(
                "{}: expected [{{\"txid\", \"vout\", \"satoshis\", \"locking_script\"}}]",
                p.display()
            )
        })?;
        for u in list {
            let txid: torrent_core::Txid = u
                .txid
                .parse()
                .map_err(|e| anyhow::anyhow!("{}: {e}", u.txid))?;
            utxos.push(GalaxyUtxo {
                txid: txid.to_byte_array(),
                vout: u.vout,
                satoshis: u.satoshis,
                script_pubkey: torrent_core::hex::decode(&u.locking_script)
                    .map_err(|e| anyhow::anyhow!("{e}"))?,
            });
        }
    }
    let s = StandIn::start(&a.transaction, &a.storage, &a.auth_token, &utxos)?;
    let (validation, alert) =
        s.serve_validation_and_alerts(&a.validation, &a.alert, &a.auth_token)?;
    std::fs::create_dir_all(&a.state_dir)
        .with_context(|| format!("creating {}", a.state_dir.display()))?;
    let block = match &a.blocks {
        Some(dir) => Some(
            BlockStandIn::start(
                &a.block,
                dir,
                &a.state_dir.join("block.redb"),
                &a.auth_token,
                10_000,
                1 << 20,
            )
            .with_context(|| format!("Block service over {}", dir.display()))?
            .addr
            .to_string(),
        ),
        None => None,
    };
    let overlay =
        OverlayStandIn::start(&a.overlay, &a.state_dir.join("overlay.redb"), &a.auth_token)?;
    let tokens: Vec<(&str, &str)> = a
        .operator_tokens
        .iter()
        .map(|t| (t.as_str(), "operator"))
        .collect();
    let auth = AuthStandIn::start(&a.auth, &a.auth_token, &tokens, 60)?;
    let mut out = std::io::stdout();
    writeln!(
        out,
        "{}",
        serde_json::json!({
            "transaction": s.transaction.to_string(),
            "storage": s.storage.to_string(),
            "validation": validation.to_string(),
            "alert": alert.to_string(),
            "block": block,
            "overlay": overlay.addr.to_string(),
            "auth": auth.addr.to_string(),
        })
    )?;
    out.flush()?;
    loop {
        std::thread::park();
    }
}
