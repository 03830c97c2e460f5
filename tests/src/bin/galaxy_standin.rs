//! `galaxy-standin`: Galaxy's Transaction, Storage, Validation and Alert services as
//! stand-ins (see
//! `torrent_tests::galaxy_standin`), for the end-to-end run and the demo.

use std::io::Write;

use anyhow::{Context, Result};
use clap::Parser;
use torrent_tests::galaxy_standin::{StandIn, wire::GalaxyUtxo};

/// Galaxy Transaction, Storage, Validation and Alert stand-ins speaking length-prefixed
/// bincode 2.
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
    let mut out = std::io::stdout();
    writeln!(
        out,
        "{}",
        serde_json::json!({
            "transaction": s.transaction.to_string(),
            "storage": s.storage.to_string(),
            "validation": validation.to_string(),
            "alert": alert.to_string(),
        })
    )?;
    out.flush()?;
    loop {
        std::thread::park();
    }
}
