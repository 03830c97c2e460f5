//! The aging scan and the offload pipeline (DESIGN §7): aged ranges become bundles, are
//! indexed, published and seeded, and their blocks leave the block source only through the
//! prune gate (`torrent_core::prune`).
//!
//! Every step is recorded in the database after its work is durable and before the next step
//! starts; every step can be repeated. So a process killed at any instant restarts, reads the
//! stage, and redoes at most one step: the bundle writer re-creates byte-identical files
//! (only complete files ever carry final names), the txid index and its stage commit in one
//! transaction, and deletes happen only after the gate's decision and evidence are committed.
//!
//! Files: this one is the pipeline and the aging scan; `source` reads blocks (folder, blk
//! files, Galaxy), `bundle` writes a bundle in one streaming pass, [`inspect`] checks one.
//!
//! Uses `store`, `swarm` (seeding, audits), `tracker` (who seeds), `ledger` (audit verdicts),
//! `http::registry` (publishing), `alerts`, `galaxy` and `config`. Nothing below it calls it;
//! `service` runs it and `cli` runs its one-shot commands.

pub(crate) mod bundle;
pub mod inspect;
pub(crate) mod rest;
pub(crate) mod source;

use std::collections::HashMap;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use torrent_core::bencode::Limits;
use torrent_core::bundle::bundle_name;
use torrent_core::metainfo::{InfoHashV1, Metainfo};
use torrent_core::prune::{GateConfig, SeederEvidence, Stage, Verdict, evaluate};
use torrent_core::time::{UnixMillis, aged_by_months};

use crate::config::Config;
use crate::offload::bundle::{BundleOptions, complete_ranges, read_meta, write_bundle};
use crate::offload::source::{BlockSource, SourceSpec};
use crate::store::{Account, BundleRecord, Store};

/// How "aged" is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgeRule {
    /// Block time at least this many calendar months before now.
    Months(u32),
    /// Tip height minus height at least this.
    Blocks(u64),
}

impl AgeRule {
    /// The rule a config asks for (`aged_threshold_blocks` wins when set).
    pub fn of(config: &Config) -> Self {
        match config.aged_threshold_blocks {
            Some(b) => Self::Blocks(b),
            None => Self::Months(config.aged_threshold_months),
        }
    }
}

/// The pipeline's fixed inputs.
#[derive(Debug, Clone)]
pub struct Pipeline {
    /// Where blocks come from.
    pub spec: SourceSpec,
    /// Settings (network, bundle size, gate).
    pub config: Config,
    /// The database.
    pub store: Arc<Store>,
    /// The bundle store (`<name>.torrent` and `<name>/`).
    pub bundles: PathBuf,
    /// Bundle settings (announce and web seed URLs included).
    pub opts: BundleOptions,
    /// Where operator alerts go (log, metrics, Galaxy Alert); none in one-shot commands.
    pub book: Option<Arc<crate::ledger::Book>>,
    /// The registry's view of the bundle store, told at once of every bundle written (so
    /// the tracker serves its info-hash without waiting for the next refresh).
    pub catalog: Option<Arc<crate::http::registry::Catalog>>,
}

impl Pipeline {
    /// Opens the block source, hiding heights recorded as pruned.
    ///
    /// # Errors
    /// An unreadable source or database.
    pub fn open_source(&self) -> Result<BlockSource> {
        let galaxy = crate::galaxy::Galaxy::from_config(&self.config).block;
        let mut source = BlockSource::open(&self.spec, self.config.network, Some(&galaxy))?;
        source.hide(&self.store.pruned_heights()?);
        Ok(source)
    }

    /// Whether every block of `[first, last]` is aged at `now`.
    fn aged(&self, source: &BlockSource, first: u64, last: u64, now: UnixMillis) -> Result<bool> {
        match AgeRule::of(&self.config) {
            AgeRule::Blocks(n) => {
                let tip = source.heights().last().unwrap_or(0);
                Ok(tip.saturating_sub(last) >= n)
            }
            AgeRule::Months(m) => {
                for h in first..=last {
                    let meta = read_meta(source, h)?;
                    if !aged_by_months(u64::from(meta.header.time), m, now) {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
        }
    }

    /// The aging scan: records every complete, aged range not yet known as `planned`, and
    /// returns every bundle that still has offload work to do (new and resumed), in height
    /// order.
    ///
    /// # Errors
    /// Source or database errors.
    pub fn scan(&self, source: &BlockSource, now: UnixMillis) -> Result<Vec<BundleRecord>> {
        let known: HashMap<String, BundleRecord> = self
            .store
            .bundles()?
            .into_iter()
            .map(|r| (r.name.clone(), r))
            .collect();
        let mut planned = 0;
        for (first, last) in complete_ranges(source, self.config.bundle_blocks) {
            let name = bundle_name(self.config.network, first, last);
            if known.contains_key(&name) || !self.aged(source, first, last, now)? {
                continue;
            }
            self.store.put_bundle(&BundleRecord {
                name,
                first,
                last,
                stage: Stage::Planned.name().into(),
                infohash_v1: None,
                updated: crate::clock::now_secs(),
                gate_accounts: Vec::new(),
                gate_opened: None,
            })?;
            planned += 1;
        }
        if planned > 0 {
            tracing::info!(planned, "aging scan found new aged ranges");
        }
        let mut todo: Vec<BundleRecord> = self
            .store
            .bundles()?
            .into_iter()
            .filter(|r| r.stage() < Stage::Published)
            .collect();
        todo.sort_by_key(|r| r.first);
        Ok(todo)
    }

    /// Path of a bundle's torrent.
    pub fn torrent_path(&self, name: &str) -> PathBuf {
        self.bundles.join(format!("{name}.torrent"))
    }

    /// Reads and parses a bundle's torrent.
    ///
    /// # Errors
    /// A missing or malformed file.
    pub fn metainfo(&self, name: &str) -> Result<(Vec<u8>, Metainfo)> {
        let path = self.torrent_path(name);
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let m = Metainfo::parse(&bytes, &Limits::default())
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        Ok((bytes, m))
    }

    /// Moves one bundle through `written`, `indexed` and `published` (blocking work).
    ///
    /// # Errors
    /// A bad block (named), I/O or database errors; the stage reached so far stays recorded.
    pub fn advance(
        &self,
        source: &BlockSource,
        mut rec: BundleRecord,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<BundleRecord> {
        loop {
            match rec.stage() {
                Stage::Planned => {
                    let out = write_bundle(
                        source,
                        rec.first,
                        rec.last,
                        &self.bundles,
                        &self.opts,
                        Some(self.store.offsets()),
                        progress,
                    )
                    .with_context(|| format!("offloading {}", rec.name))?;
                    rec.infohash_v1 = Some(out.summary.infohash_v1);
                    if let Some(c) = &self.catalog {
                        c.refresh();
                    }
                    self.set_stage(&mut rec, Stage::Written)?;
                    tracing::info!(name = %rec.name, infohash_v1 = %out.summary.infohash_v1, "bundle written");
                }
                Stage::Written => {
                    let (_, m) = self.metainfo(&rec.name)?;
                    rec.infohash_v1 = m.infohash_v1;
                    rec.stage = Stage::Indexed.name().into();
                    rec.updated = crate::clock::now_secs();
                    let data = self.bundles.join(&rec.name);
                    let headers = header_records(&rec.name, &m)?;
                    let started = std::time::Instant::now();
                    let mut txids = txid_stream(&data, &m)?;
                    let n = self.store.index_txids(&mut txids, &headers, &rec)?;
                    let secs = started.elapsed().as_secs_f64();
                    tracing::info!(name = %rec.name, txids = n, secs, "txid index committed");
                    // Writing and indexing a bundle passes tens of MB through buffers on
                    // blocking threads, each with an allocator arena of its own that keeps
                    // them: without this, the 100 bundles of a 100M-tx chain left 650 MB
                    // resident for a heap of tens of MB (bench/scale.sh, heaptrack).
                    crate::net::conn::release_free_memory();
                }
                Stage::Indexed => {
                    // The embedded registry serves what the bundle store holds, so for it
                    // recording the stage is the publication. With the Galaxy overlay the
                    // Overlay must have the reference first; while it is down the bundle
                    // waits here (nothing is lost) and the next scan tries again.
                    if self.config.overlay == crate::config::OverlayKind::Galaxy {
                        let published = self.publish_to_overlay(&rec);
                        self.condition(
                            "overlay_unavailable",
                            &rec.name,
                            published
                                .as_ref()
                                .err()
                                .map(|e| format!("{}: not published yet: {e:#}", rec.name))
                                .as_deref(),
                        );
                        published?;
                    }
                    self.set_stage(&mut rec, Stage::Published)?;
                    tracing::info!(name = %rec.name, "bundle published");
                }
                _ => return Ok(rec),
            }
        }
    }

    /// After a migration from the old txid table (ADR 0003), indexes every indexed bundle
    /// whose txid files are here again from those files, so that a txid of two blocks
    /// (BIP 30), which the old table listed in one, is found in both, and every block gets
    /// its stored merkle levels; then drops the migrated run where the bundles cover it
    /// ([`Store::finish_reindex`]). A bundle whose files are gone keeps its migrated
    /// entries. Returns how many bundles were indexed again; nothing to do returns 0.
    ///
    /// # Errors
    /// Database errors; a bundle that cannot be read is skipped and logged.
    pub fn reindex_migrated(&self) -> Result<usize> {
        if !self.store.awaits_reindex() {
            return Ok(0);
        }
        let mut done = 0;
        for rec in self.store.bundles()? {
            if rec.stage() < Stage::Indexed {
                continue;
            }
            let again = self.metainfo(&rec.name).and_then(|(_, m)| {
                let headers = header_records(&rec.name, &m)?;
                let mut txids = txid_stream(&self.bundles.join(&rec.name), &m)?;
                self.store.reindex_txids(&mut txids, &headers, &rec.name)
            });
            match again {
                Ok(n) => {
                    done += 1;
                    tracing::info!(name = %rec.name, txids = n, "bundle indexed again after the migration");
                }
                Err(e) => {
                    tracing::warn!(name = %rec.name, "not indexed again, its migrated entries stay: {e:#}")
                }
            }
        }
        self.store.finish_reindex()?;
        Ok(done)
    }

    /// Records the transactions' offsets of every written bundle that has none (written by
    /// a version before they were recorded), from its block files here; a bundle whose
    /// block files are gone is skipped (its transactions are then found by decoding the
    /// block, fetched from the swarm, when asked for). Returns how many bundles got them.
    ///
    /// # Errors
    /// Database errors; a bundle that cannot be read is skipped and logged.
    pub fn add_missing_offsets(&self) -> Result<usize> {
        let mut done = 0;
        for rec in self.store.bundles()? {
            if rec.stage() < Stage::Written || self.store.offsets().has(&rec.name) {
                continue;
            }
            let added = self.metainfo(&rec.name).and_then(|(_, m)| {
                let blocks: Vec<(u64, PathBuf)> = header_records(&rec.name, &m)?
                    .into_iter()
                    .map(|(h, r)| (h, self.bundles.join(&rec.name).join(&r.block_file)))
                    .collect();
                if let Some((_, missing)) = blocks.iter().find(|(_, p)| !p.exists()) {
                    anyhow::bail!("{} is not here", missing.display());
                }
                self.store.offsets().write_from_blocks(&rec.name, &blocks)
            });
            match added {
                Ok(()) => {
                    done += 1;
                    tracing::info!(name = %rec.name, "transaction offsets recorded from the block files");
                }
                Err(e) => {
                    tracing::warn!(name = %rec.name, "transaction offsets not recorded: {e:#}")
                }
            }
        }
        Ok(done)
    }

    /// Sends a bundle's reference (its `.torrent` and magnet) to Galaxy's Overlay service.
    ///
    /// # Errors
    /// The Overlay is unreachable or refuses, or the torrent cannot be read.
    pub fn publish_to_overlay(&self, rec: &BundleRecord) -> Result<()> {
        let (torrent, m) = self.metainfo(&rec.name)?;
        let ih = m
            .infohash_v1
            .with_context(|| format!("{}: no v1 info-hash", rec.name))?;
        let announce: Vec<&str> = m.announce.iter().map(String::as_str).collect();
        let seeds: Vec<&str> = m.url_list.iter().map(String::as_str).collect();
        let reference = crate::galaxy::TorrentRef {
            name: rec.name.clone(),
            network: self.config.network.to_string(),
            first: rec.first,
            last: rec.last,
            infohash_v1: ih.0,
            magnet: m.magnet(&announce, &seeds),
            torrent,
        };
        let overlay = crate::galaxy::Galaxy::from_config(&self.config).overlay;
        match overlay.call::<_, crate::galaxy::OverlayResponse>(
            &crate::galaxy::OverlayRequest::Publish(reference),
        )? {
            crate::galaxy::OverlayResponse::Published => Ok(()),
            crate::galaxy::OverlayResponse::Error { message } => {
                anyhow::bail!("Galaxy Overlay refused {}: {message}", rec.name)
            }
            crate::galaxy::OverlayResponse::Refs(_) => {
                anyhow::bail!("Galaxy Overlay: unexpected answer to Publish")
            }
        }
    }

    /// Reports an alert condition (see [`crate::alerts::Alerts::condition`]); one-shot
    /// commands have no book and only log.
    fn condition(&self, kind: &'static str, key: &str, problem: Option<&str>) {
        if let Some(b) = &self.book {
            b.alerts.condition(kind, key, problem);
        }
    }

    /// Records `stage` for `rec` (durable on return).
    ///
    /// # Errors
    /// Database errors.
    pub fn set_stage(&self, rec: &mut BundleRecord, stage: Stage) -> Result<()> {
        rec.stage = stage.name().into();
        rec.updated = crate::clock::now_secs();
        self.store.put_bundle(rec)
    }

    /// The gate settings of the config.
    pub fn gate_config(&self) -> GateConfig {
        GateConfig {
            min_seeders: self.config.min_seeders,
            audit_max_age: std::time::Duration::from_secs(self.config.audit_max_age_s),
            stake_amount: self.config.stake_amount,
            prefix_v4: self.config.gate_prefix_v4,
            prefix_v6: self.config.gate_prefix_v6,
        }
    }

    /// Gathers the gate's evidence for `rec` from the accounts, the seeders the tracker sees
    /// complete, and the stored audits.
    ///
    /// # Errors
    /// Database errors.
    pub fn evidence(
        &self,
        rec: &BundleRecord,
        accounts: &[Account],
        complete: &[u64],
    ) -> Result<Vec<SeederEvidence>> {
        let Some(ih) = &rec.infohash_v1 else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for a in accounts {
            let audit = self.store.audit(ih, a.id)?.unwrap_or_default();
            out.push(SeederEvidence {
                account: a.id,
                stake: a.stake,
                revoked: a.revoked,
                complete: complete.contains(&a.id),
                last_pass: audit.last_pass.map(UnixMillis),
                last_fail: audit.last_fail.map(UnixMillis),
                audited_at: audit.last_pass_ip,
            });
        }
        Ok(out)
    }

    /// Applies the gate to a bundle at `seeding` (or resumes one at `pruning`): when it
    /// opens, records the decision and its evidence, removes the blocks from the source, and
    /// records `pruned`. Returns the verdict.
    ///
    /// # Errors
    /// Source or database errors (the recorded stage stays where it was).
    pub fn gate_and_prune(
        &self,
        rec: &mut BundleRecord,
        evidence: &[SeederEvidence],
        now: UnixMillis,
    ) -> Result<Verdict> {
        let verdict = evaluate(rec.stage(), evidence, &self.gate_config(), now);
        let Verdict::Open(accounts) = &verdict else {
            return Ok(verdict);
        };
        if !self.config.prune || rec.stage() >= Stage::Pruned {
            return Ok(verdict);
        }
        if rec.stage() == Stage::Seeding {
            rec.gate_accounts.clone_from(accounts);
            rec.gate_opened = Some(now.as_secs());
            self.set_stage(rec, Stage::Pruning)?;
            tracing::info!(name = %rec.name, seeders = ?accounts, "prune gate open");
        }
        let source = self.open_source()?;
        let mut recorded = Vec::new();
        for h in rec.first..=rec.last {
            if !source.remove_block(h)? {
                recorded.push(h);
            }
        }
        if !recorded.is_empty() {
            self.store.mark_pruned(recorded, crate::clock::now_secs())?;
        }
        self.set_stage(rec, Stage::Pruned)?;
        tracing::info!(name = %rec.name, first = rec.first, last = rec.last, "blocks pruned from {}", source.describe());
        Ok(verdict)
    }
}

/// The header store's records of a bundle's blocks, from its `bsv` metadata and file list.
///
/// # Errors
/// A bundle torrent without the metadata the bundle writer puts there.
pub fn header_records(name: &str, m: &Metainfo) -> Result<Vec<(u64, crate::store::HeaderRecord)>> {
    let ih = m
        .infohash_v1
        .with_context(|| format!("{name}: no v1 info-hash"))?;
    let meta =
        torrent_core::bundle::read_bsv(&m.info).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    let mut out = Vec::new();
    for b in &meta.blocks {
        let (height, tx_count) = (b.height, b.tx_count);
        let header = b.header.to_bytes().to_vec();
        let prefix = format!("{height:09}-");
        let find = |dir: &str| {
            m.files
                .iter()
                .find(|f| {
                    !f.pad
                        && f.path.first().map(String::as_str) == Some(dir)
                        && f.path.last().is_some_and(|n| n.starts_with(&prefix))
                })
                .map(|f| f.path.join("/"))
                .with_context(|| format!("{name}: no {dir} file for block {height}"))
        };
        out.push((
            height,
            crate::store::HeaderRecord {
                header,
                tx_count,
                bundle: name.to_string(),
                infohash_v1: ih,
                block_file: find("blocks")?,
                txid_file: find("txids")?,
            },
        ));
    }
    Ok(out)
}

/// A txid with the height of its block and its index there.
pub type Located = (u64, u32, [u8; 32]);

/// Streams `(height, index, txid)` from a bundle's txid files, in torrent order.
///
/// # Errors
/// A txid file that is missing or not a whole number of txids.
pub fn txid_stream(
    data: &Path,
    m: &Metainfo,
) -> Result<impl Iterator<Item = Result<(u64, u32, [u8; 32])>> + use<>> {
    let mut files = Vec::new();
    for f in &m.files {
        if f.pad || f.path.first().map(String::as_str) != Some("txids") {
            continue;
        }
        let rel: PathBuf = f.path.iter().collect();
        let name = f.path.last().cloned().unwrap_or_default();
        let height: u64 = name
            .split('-')
            .next()
            .and_then(|d| d.parse().ok())
            .with_context(|| format!("txid file name {name:?} does not start with a height"))?;
        anyhow::ensure!(
            f.length % 32 == 0,
            "{}: {} bytes is not a whole number of txids",
            rel.display(),
            f.length
        );
        files.push((height, data.join(rel), f.length / 32));
    }
    let mut out: Vec<Box<dyn Iterator<Item = Result<Located>>>> = Vec::new();
    for (height, path, count) in files {
        let file =
            std::fs::File::open(&path).with_context(|| format!("opening {}", path.display()))?;
        let mut r = BufReader::with_capacity(1 << 16, file);
        let mut i: u64 = 0;
        out.push(Box::new(std::iter::from_fn(move || {
            if i == count {
                return None;
            }
            let mut txid = [0u8; 32];
            let res = r
                .read_exact(&mut txid)
                .with_context(|| format!("{} ended at txid {i} of {count}", path.display()))
                .and_then(|()| {
                    u32::try_from(i)
                        .map(|idx| (height, idx, txid))
                        .context("more than 2^32 txs in a block")
                });
            i += 1;
            if res.is_err() {
                i = count;
            }
            Some(res)
        })));
    }
    Ok(out.into_iter().flatten())
}

/// Waits `secs` or until `stop` turns true; returns true when stopping.
async fn pause(stop: &mut tokio::sync::watch::Receiver<bool>, secs: u64) -> bool {
    tokio::select! {
        () = tokio::time::sleep(std::time::Duration::from_secs(secs)) => false,
        _ = stop.wait_for(|v| *v) => true,
    }
}

/// The aging scan and offload, at start and every `aging_scan_interval_s`; then every
/// published bundle is seeded (after a hash check) and recorded as `seeding`.
pub async fn offload_loop(
    p: Arc<Pipeline>,
    engine: Option<Arc<dyn crate::swarm::session::BitTorrent>>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut seeded = std::collections::HashSet::new();
    let pb = Arc::clone(&p);
    match tokio::task::spawn_blocking(move || pb.reindex_migrated()).await {
        Ok(Ok(0)) => {}
        Ok(Ok(n)) => tracing::info!(
            bundles = n,
            "txid index rebuilt from the txid files after the migration"
        ),
        Ok(Err(e)) => tracing::error!("indexing again after the migration: {e:#}"),
        Err(e) => tracing::error!("indexing again after the migration: {e}"),
    }
    let pb = Arc::clone(&p);
    match tokio::task::spawn_blocking(move || pb.add_missing_offsets()).await {
        Ok(Ok(0)) => {}
        Ok(Ok(n)) => tracing::info!(bundles = n, "transaction offsets added to older bundles"),
        Ok(Err(e)) => tracing::error!("adding transaction offsets: {e:#}"),
        Err(e) => tracing::error!("adding transaction offsets: {e}"),
    }
    loop {
        let pb = Arc::clone(&p);
        let offloaded = tokio::task::spawn_blocking(move || -> Result<usize> {
            let source = pb.open_source()?;
            let todo = pb.scan(&source, UnixMillis(crate::clock::now().0))?;
            let mut done = 0;
            for rec in todo {
                let name = rec.name.clone();
                match pb.advance(&source, rec, &|_| {}) {
                    Ok(_) => done += 1,
                    Err(e) => tracing::error!(bundle = %name, "offload failed: {e:#}"),
                }
            }
            Ok(done)
        })
        .await;
        // A block source that cannot be read (a Galaxy Block service that is down, a
        // missing folder) alerts once per outage; the next scan simply tries again.
        match offloaded {
            Ok(Ok(_)) => p.condition("block_source_unavailable", "source", None),
            Ok(Err(e)) => {
                tracing::error!("aging scan: {e:#}");
                let message = format!("aging scan: {e:#}");
                p.condition("block_source_unavailable", "source", Some(&message));
            }
            Err(e) => tracing::error!("aging scan task: {e}"),
        }
        match p.store.bundles() {
            Ok(recs) => {
                for mut rec in recs {
                    if rec.stage() < Stage::Published || seeded.contains(&rec.name) {
                        continue;
                    }
                    if let Some(engine) = &engine {
                        // Announce where the tracker is now (ports can change between runs;
                        // URLs live outside `info`, so the info-hash stays).
                        let torrent = match p.metainfo(&rec.name) {
                            Ok((_, m)) => m.reencode(
                                p.opts.announce.first().map(String::as_str),
                                &p.opts.web_seeds,
                            ),
                            Err(e) => {
                                tracing::error!(bundle = %rec.name, "{e:#}");
                                continue;
                            }
                        };
                        let dir = p.bundles.join(&rec.name);
                        if let Err(e) = engine
                            .add(torrent, &dir, crate::swarm::session::AddMode::Seed)
                            .await
                        {
                            tracing::error!(bundle = %rec.name, "not seeding: {e:#}");
                            continue;
                        }
                        tracing::info!(bundle = %rec.name, "seeding");
                    }
                    seeded.insert(rec.name.clone());
                    if rec.stage() == Stage::Published
                        && let Err(e) = p.set_stage(&mut rec, Stage::Seeding)
                    {
                        tracing::error!(bundle = %rec.name, "{e:#}");
                    }
                }
            }
            Err(e) => tracing::error!("reading bundle records: {e:#}"),
        }
        if pause(&mut stop, p.config.aging_scan_interval_s).await {
            return;
        }
    }
}

/// Every `audit_interval_s`: audits the registered seeders the tracker sees holding our
/// bundles, records the outcomes, and applies the prune gate.
pub async fn gate_loop(
    p: Arc<Pipeline>,
    tracker: Arc<crate::tracker::Tracker>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        if pause(&mut stop, p.config.audit_interval_s).await {
            return;
        }
        if let Err(e) = gate_round(&p, &tracker).await {
            tracing::error!("audit round: {e:#}");
        }
    }
}

/// One audit to run this round, with what recording it needs.
struct PlannedAudit {
    bundle: String,
    ih: InfoHashV1,
    metainfo: Arc<torrent_core::metainfo::Metainfo>,
    target: torrent_core::audit::AuditTarget,
}

/// One audit-and-gate round over every bundle at `seeding` or later (DESIGN §15 "Audits"):
/// core plans at most one audit per (active account, bundle) per audit window, the audits
/// run `audit_concurrency` at a time, and the round stops waiting at
/// `audit_round_deadline_s` (what is still running is counted as cut, recorded as nothing);
/// then the gate is applied to each bundle.
///
/// # Errors
/// Database errors.
pub async fn gate_round(p: &Arc<Pipeline>, tracker: &crate::tracker::Tracker) -> Result<()> {
    let started = std::time::Instant::now();
    let interval = std::time::Duration::from_secs(p.config.audit_interval_s);
    let active = |id: u64| tracker.is_active(id);
    let mut bundles = Vec::new();
    let mut planned = Vec::new();
    for rec in p.store.bundles()? {
        if rec.stage() < Stage::Seeding {
            continue;
        }
        if rec.infohash_v1.is_none() {
            continue;
        }
        let (_, m) = p.metainfo(&rec.name)?;
        let Some(ih) = m.infohash_v1 else {
            continue;
        };
        let peers = tracker.authenticated_seed_peers(&ih);
        let mut seed = [0u8; 8];
        getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        let now = UnixMillis(crate::clock::now().0);
        let mut last = std::collections::BTreeMap::new();
        for (account, _) in &peers {
            if let Some(at) = p.store.audit(&ih, *account)?.and_then(|a| a.last_at()) {
                last.insert(*account, UnixMillis(at));
            }
        }
        let metainfo = Arc::new(m);
        for target in torrent_core::audit::plan(
            &peers,
            active,
            |a| last.get(&a).copied(),
            interval,
            now,
            u64::from_le_bytes(seed),
        ) {
            planned.push(PlannedAudit {
                bundle: rec.name.clone(),
                ih,
                metainfo: Arc::clone(&metainfo),
                target,
            });
        }
        bundles.push((rec, ih, peers));
    }

    // The audits, concurrently, until the deadline.
    let deadline = tokio::time::Instant::now()
        + std::time::Duration::from_secs(p.config.audit_round_deadline_s);
    let per_audit = std::time::Duration::from_secs(p.config.audit_round_deadline_s.min(30));
    let permits = Arc::new(tokio::sync::Semaphore::new(
        p.config.audit_concurrency as usize,
    ));
    // A random order each round: whatever the deadline cuts, it is nobody in particular.
    for i in (1..planned.len()).rev() {
        let j =
            getrandom::u64().map_err(|e| anyhow::anyhow!("no randomness: {e}"))? % (i as u64 + 1);
        planned.swap(i, j as usize);
    }
    let mut running = tokio::task::JoinSet::new();
    let total = planned.len();
    for a in planned {
        let (permits, n) = (Arc::clone(&permits), p.config.audit_pieces);
        running.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let mut seed = [0u8; 8];
            let _ = getrandom::fill(&mut seed);
            let m = Arc::clone(&a.metainfo);
            let addr = a.target.addr;
            let report = tokio::task::spawn_blocking(move || {
                let total = u32::try_from(m.pieces.len()).unwrap_or(u32::MAX);
                let pieces = crate::swarm::audit::pick_pieces(total, n, u64::from_le_bytes(seed));
                crate::swarm::audit::audit_peer(addr, &m, &pieces, per_audit)
            })
            .await;
            (a, report)
        });
    }
    let mut done = 0usize;
    while let Ok(Some(joined)) = tokio::time::timeout_at(deadline, running.join_next()).await {
        let (a, report) = match joined {
            Ok((a, Ok(report))) => (a, report),
            Ok((_, Err(e))) | Err(e) => {
                tracing::error!("an audit task failed: {e}");
                continue;
            }
        };
        done += 1;
        record_audit(p, tracker, &a, &report, &active, interval).await?;
    }
    // Whatever is left is abandoned (each blocking audit ends on its own timeout).
    running.abort_all();
    let cut = (total - done) as u64;
    if cut > 0 {
        tracing::warn!(
            cut,
            total,
            "audit round deadline passed: the rest of this round's audits are dropped"
        );
    }
    tracker.book().metrics.audit_round(
        u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        cut,
    );

    let accounts = p.store.accounts()?;
    for (mut rec, ih, peers) in bundles {
        let active_seeders = tracker.authenticated_seeders(&ih);
        tracker
            .book()
            .alerts
            .seeders_of(&rec.name, active_seeders, p.config.min_seeders as usize);
        if rec.stage() >= Stage::Pruned {
            continue;
        }
        let complete: Vec<u64> = peers.iter().map(|(a, _)| *a).collect();
        let evidence = p.evidence(&rec, &accounts, &complete)?;
        let pb = Arc::clone(p);
        let verdict = tokio::task::spawn_blocking(move || {
            let now = UnixMillis(crate::clock::now().0);
            pb.gate_and_prune(&mut rec, &evidence, now)
        })
        .await??;
        tracing::debug!(?verdict, "prune gate");
    }
    Ok(())
}

/// Records one audit's outcome: the audit record (with the network it reached), then the
/// ledger entry, keyed by (bundle, account, window) so that one window pays at most the
/// bytes one audit verified. An account that went inactive meanwhile gets nothing.
///
/// # Errors
/// Database errors.
async fn record_audit(
    p: &Arc<Pipeline>,
    tracker: &crate::tracker::Tracker,
    a: &PlannedAudit,
    report: &crate::swarm::audit::AuditReport,
    active: &impl Fn(u64) -> bool,
    interval: std::time::Duration,
) -> Result<()> {
    let (account, addr) = (a.target.account, a.target.addr);
    let at = crate::clock::now().0;
    p.store.record_audit(
        &a.ih,
        account,
        report.passed,
        at,
        addr.ip(),
        report.failure.clone(),
    )?;
    if report.passed {
        tracing::info!(bundle = %a.bundle, account, peer = %addr, pieces = ?report.pieces, ms = report.millis, "audit passed");
    } else {
        tracing::warn!(bundle = %a.bundle, account, peer = %addr, failure = report.failure.as_deref().unwrap_or(""), "audit failed");
    }
    let Some(acct) = tracker.account_by_id(account) else {
        return Ok(());
    };
    if report.passed && !active(account) {
        return Ok(());
    }
    // The audit's pieces are verified data this seeder delivered: bulk reward. A failed
    // audit is slashed. One key per (bundle, account, window): a retry records once.
    let window = torrent_core::audit::window(UnixMillis(at), interval);
    let key = format!("audit:{}:{}:w{window}", a.ih, acct.address);
    let entry = if report.passed {
        crate::ledger::Entry::Bulk {
            address: acct.address.clone(),
            bytes: report.bytes,
            bundle: a.bundle.clone(),
        }
    } else {
        crate::ledger::Entry::Slash {
            address: acct.address.clone(),
            reason: crate::ledger::Offence::FailedAudit,
            detail: format!(
                "audit of bundle {} at {addr}: {}",
                a.bundle,
                report.failure.as_deref().unwrap_or("failed")
            ),
        }
    };
    let book = Arc::clone(tracker.book());
    if let Err(e) = tokio::task::spawn_blocking(move || book.record(&key, entry)).await? {
        tracing::error!(seeder = %acct.address, "recording the audit in the ledger: {e:#}");
    }
    Ok(())
}

/// The pipeline's figures, read from the database at each scrape: bundles by stage (every
/// stage present, so that alert rules see the series), audits by result, pruned heights.
#[derive(Debug)]
pub(crate) struct PipelineReport(pub(crate) Arc<Store>);

impl crate::metrics::Report for PipelineReport {
    fn report(&self, out: &mut crate::metrics::Sink<'_, '_>) -> std::fmt::Result {
        let Ok((stages, passes, fails, pruned)) = self.0.pipeline_totals() else {
            return Ok(());
        };
        out.gauges(
            "torrent_service_bundles",
            "Bundles by offload stage.",
            Stage::ALL.iter().map(|st| {
                (
                    [("stage", st.name())],
                    stages.get(st.name()).copied().unwrap_or(0),
                )
            }),
        )?;
        out.counters(
            "torrent_service_audits",
            "Seeder audits by result.",
            [
                ([("result", "pass")], passes),
                ([("result", "fail")], fails),
            ],
        )?;
        out.gauge(
            "torrent_service_pruned_heights",
            "Heights recorded as pruned from a blk source.",
            pruned,
        )
    }
}
