//! The BitTorrent session behind a trait of ours ([`BitTorrent`]), implemented with librqbit.
//!
//! The rest of the service only seeds a bundle from its folder after a hash check, fetches a
//! bundle (or some of its files) into a folder, and reads progress. Keeping that surface
//! small is what lets the engine be swapped (DESIGN §6): librqbit brings choking, piece
//! picking and the DHT; web seeds and audits are ours.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use librqbit::{
    AddTorrent, AddTorrentOptions, AddTorrentResponse, ListenerMode, ListenerOptions, Session,
    SessionOptions, TorrentStatsState, api::TorrentIdOrHash,
};

/// A boxed future, so that the trait stays object-safe.
pub(crate) type BoxFut<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

/// How a torrent is added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddMode {
    /// The data is complete in the folder: hash-check it, then seed. Fails if the check
    /// finds anything missing or wrong.
    Seed,
    /// Download into the folder (resuming what is there); `only_files` selects files by
    /// index in the torrent's file list.
    Fetch {
        /// Files to fetch; all when `None`.
        only_files: Option<Vec<usize>>,
    },
}

/// Progress of one torrent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TorrentStatus {
    /// `checking`, `live`, `paused` or `error`.
    pub state: &'static str,
    /// The error, in state `error`.
    pub error: Option<String>,
    /// Bytes held and verified.
    pub have_bytes: u64,
    /// Bytes wanted.
    pub total_bytes: u64,
    /// Bytes uploaded to peers this session.
    pub uploaded_bytes: u64,
    /// Every wanted byte is held.
    pub finished: bool,
}

/// What the service needs of a BitTorrent engine.
pub trait BitTorrent: Send + Sync {
    /// Adds a torrent (or finds it already added); returns its v1 info-hash.
    fn add<'a>(&'a self, torrent: Vec<u8>, dir: &'a Path, mode: AddMode) -> BoxFut<'a, [u8; 20]>;
    /// Resolves once every wanted byte of `ih` is held and verified.
    fn wait_complete(&self, ih: [u8; 20]) -> BoxFut<'_, ()>;
    /// Progress of `ih`, if added.
    fn status(&self, ih: &[u8; 20]) -> Option<TorrentStatus>;
    /// Stops seeding `ih`; its files stay.
    fn remove(&self, ih: [u8; 20]) -> BoxFut<'_, ()>;
    /// The address peers connect to.
    fn listen_addr(&self) -> Option<SocketAddr>;
}

/// Settings of the engine.
#[derive(Debug, Clone)]
pub(crate) struct EngineOptions {
    /// Where the peer listener binds.
    pub listen: SocketAddr,
    /// Port announced to trackers (needed on loopback, where librqbit announces none).
    pub announce_port: u16,
    /// Enable the mainline DHT.
    pub dht: bool,
}

/// The librqbit engine.
pub(crate) struct Rqbit {
    session: Arc<Session>,
}

impl std::fmt::Debug for Rqbit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rqbit")
            .field("listen", &self.session.listen_addr())
            .finish()
    }
}

impl Rqbit {
    /// Starts a session: TCP only (uTP on loopback only slows tests and benches down), no
    /// UPnP, no local service discovery, no persistence (our database is the truth; every
    /// start re-checks what it seeds), DHT as configured.
    ///
    /// # Errors
    /// A port that cannot be bound.
    pub(crate) async fn start(default_dir: &Path, opts: &EngineOptions) -> Result<Self> {
        let mut so = SessionOptions {
            persistence: None,
            fastresume: false,
            disable_local_service_discovery: true,
            listen: Some(ListenerOptions {
                mode: ListenerMode::TcpOnly,
                listen_addr: opts.listen,
                enable_upnp_port_forwarding: false,
                announce_port: Some(opts.announce_port),
                ipv4_only: opts.listen.is_ipv4(),
                ..ListenerOptions::default()
            }),
            ..SessionOptions::default()
        };
        if !opts.dht {
            so.dht = None;
        } else if let Some(d) = so.dht.as_mut() {
            d.persistence = None;
        }
        let session = Session::new_with_opts(default_dir.to_path_buf(), so)
            .await
            .with_context(|| format!("starting the BitTorrent session on {}", opts.listen))?;
        Ok(Self { session })
    }
}

fn state_name(s: &TorrentStatsState) -> &'static str {
    match s {
        TorrentStatsState::Initializing { .. } => "checking",
        TorrentStatsState::Live => "live",
        TorrentStatsState::Paused => "paused",
        TorrentStatsState::Error => "error",
    }
}

impl BitTorrent for Rqbit {
    fn add<'a>(&'a self, torrent: Vec<u8>, dir: &'a Path, mode: AddMode) -> BoxFut<'a, [u8; 20]> {
        Box::pin(async move {
            let only_files = match &mode {
                AddMode::Seed => None,
                AddMode::Fetch { only_files } => only_files.clone(),
            };
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            let opts = AddTorrentOptions {
                overwrite: true,
                output_folder: Some(dir.display().to_string()),
                only_files,
                ..AddTorrentOptions::default()
            };
            let handle = match self
                .session
                .add_torrent(AddTorrent::from_bytes(torrent), Some(opts))
                .await
                .context("adding the torrent to the BitTorrent session")?
            {
                AddTorrentResponse::Added(_, h) => h,
                // Someone else (a fetch, an earlier seed) owns it: leave it alone.
                AddTorrentResponse::AlreadyManaged(_, h) => return Ok(h.info_hash().0),
                AddTorrentResponse::ListOnly(_) => bail!("the session only listed the torrent"),
            };
            handle
                .wait_until_initialized()
                .await
                .with_context(|| format!("hash check of {}", dir.display()))?;
            let ih = handle.info_hash().0;
            if mode == AddMode::Seed {
                let st = handle.stats();
                if !st.finished {
                    // By id, not by info-hash: a fetch of the same torrent may have
                    // replaced this one meanwhile, and must not be deleted under it.
                    let _ = self
                        .session
                        .delete(TorrentIdOrHash::Id(handle.id()), false)
                        .await;
                    bail!(
                        "{}: the hash check found {} of {} bytes; not seeding incomplete data",
                        dir.display(),
                        st.progress_bytes,
                        st.total_bytes
                    );
                }
            }
            Ok(ih)
        })
    }

    fn wait_complete(&self, ih: [u8; 20]) -> BoxFut<'_, ()> {
        Box::pin(async move {
            let h = self
                .session
                .get(TorrentIdOrHash::Hash(librqbit::dht::Id20::new(ih)))
                .context("torrent not in the session")?;
            h.wait_until_completed().await
        })
    }

    fn status(&self, ih: &[u8; 20]) -> Option<TorrentStatus> {
        let h = self
            .session
            .get(TorrentIdOrHash::Hash(librqbit::dht::Id20::new(*ih)))?;
        let s = h.stats();
        Some(TorrentStatus {
            state: state_name(&s.state),
            error: s.error,
            have_bytes: s.progress_bytes,
            total_bytes: s.total_bytes,
            uploaded_bytes: s.uploaded_bytes,
            finished: s.finished,
        })
    }

    fn remove(&self, ih: [u8; 20]) -> BoxFut<'_, ()> {
        Box::pin(
            self.session
                .delete(TorrentIdOrHash::Hash(librqbit::dht::Id20::new(ih)), false),
        )
    }

    fn listen_addr(&self) -> Option<SocketAddr> {
        self.session.listen_addr()
    }
}
