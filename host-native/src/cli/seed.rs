//! Seeder mode (`torrent_service seed`): fetch chosen bundles from the swarm, verify them
//! independently of the BitTorrent engine (pieces, headers, txid merkle roots), then seed
//! them announcing with the seeder's passkey, until Ctrl-C.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use torrent_core::bencode::Limits;
use torrent_core::metainfo::Metainfo;

use crate::cli::args::SeedArgs;
use crate::config::Config;
use crate::http::registry::BundleEntry as Entry;
use crate::swarm::session::{AddMode, BitTorrent, EngineOptions, Rqbit};

fn get(url: &str) -> Result<Vec<u8>> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(std::time::Duration::from_secs(60)))
        .build()
        .into();
    let mut resp = agent
        .get(url)
        .call()
        .with_context(|| format!("GET {url}"))?;
    resp.body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_vec()
        .with_context(|| format!("reading {url}"))
}

/// Runs `seed`.
///
/// # Errors
/// Missing settings, an unreachable registry, or a bundle that fails verification.
pub(crate) fn run(args: &SeedArgs) -> Result<ExitCode> {
    let config = Config::load(args.config.as_deref())?;
    let registry = config
        .seed_registry
        .clone()
        .context("seed needs seed_registry: the service's HTTP address, e.g. http://host:8080")?;
    let announce = config.seed_announce.clone().context(
        "seed needs seed_announce: the announce URL with your passkey that `register` printed",
    )?;
    let registry = registry.trim_end_matches('/').to_string();
    let list: Vec<Entry> = serde_json::from_slice(&get(&format!("{registry}/v1/bundles"))?)
        .context("the registry's /v1/bundles is not a bundle list")?;
    let chosen: Vec<Entry> = list
        .into_iter()
        .filter(|e| {
            args.first.is_none_or(|f| e.summary.last >= f)
                && args.last.is_none_or(|l| e.summary.first <= l)
        })
        .collect();
    if chosen.is_empty() {
        bail!("the registry at {registry} lists no bundle in the chosen range");
    }
    let dir = config.data_dir.join("seed");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(seed(config, dir, chosen, announce))
}

async fn seed(
    config: Config,
    dir: PathBuf,
    chosen: Vec<Entry>,
    announce: String,
) -> Result<ExitCode> {
    let host = config.listen_host.as_str();
    let port = match config.peer_port {
        0 => std::net::TcpListener::bind((host, 0))?.local_addr()?.port(),
        p => p,
    };
    let listen = format!("{host}:{port}")
        .parse()
        .with_context(|| format!("listen_host {host:?} is not an IP address"))?;
    let engine: Arc<dyn BitTorrent> = Arc::new(
        Rqbit::start(
            &dir,
            &EngineOptions {
                listen,
                announce_port: config.announce_port.unwrap_or(port),
                dht: config.dht,
            },
        )
        .await?,
    );
    let mut names = Vec::new();
    for e in &chosen {
        let bytes = get(&e.torrent_url)?;
        let m = Metainfo::parse(&bytes, &Limits::default())
            .map_err(|err| anyhow::anyhow!("{}: {err}", e.torrent_url))?;
        if m.infohash_v1 != Some(e.summary.infohash_v1) {
            bail!(
                "{}: the torrent's info-hash is {}, the registry says {}",
                e.torrent_url,
                m.infohash_v1
                    .map(|h| h.to_string())
                    .unwrap_or_else(|| "missing".into()),
                e.summary.infohash_v1
            );
        }
        if m.info.get("bsv").is_none() {
            bail!(
                "{}: not a bundle (no `bsv` dictionary in info)",
                e.torrent_url
            );
        }
        let ours = m.with_announce(&announce);
        let path = dir.join(format!("{}.torrent", e.summary.name));
        std::fs::write(&path, &ours).with_context(|| format!("writing {}", path.display()))?;
        let data = dir.join(&e.summary.name);
        let ih = engine
            .add(ours, &data, AddMode::Fetch { only_files: None })
            .await?;
        tracing::info!(bundle = %e.summary.name, "fetching");
        engine.wait_complete(ih).await?;
        let (m, view) = crate::offload::inspect::inspect(&path)?;
        let report = tokio::task::spawn_blocking({
            let data = data.clone();
            move || crate::offload::inspect::verify(&m, &view, &data)
        })
        .await??;
        if !report.ok() {
            bail!(
                "{}: downloaded data failed verification: bad pieces {:?}, bad files {:?}, {:?}",
                e.summary.name,
                report.bad_pieces,
                report.bad_files,
                report.bsv_errors
            );
        }
        tracing::info!(bundle = %e.summary.name, pieces = report.good_pieces, "verified; seeding");
        names.push(e.summary.name.clone());
    }
    let ready = serde_json::json!({
        "seeding": names,
        "peer": engine.listen_addr().map(|a| a.to_string()),
        "dir": dir.display().to_string(),
    });
    crate::outln!("{ready}");
    crate::service::shutdown_signal().await;
    tracing::info!("seeder stopping");
    Ok(ExitCode::SUCCESS)
}
