//! `bundle` and `inspect`: argument handling and output around the library code.

use std::process::ExitCode;

use anyhow::{Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use torrent_core::bundle::TorrentFormat;

use crate::cli::args::{AuditArgs, BundleArgs, FormatArg, InspectArgs};
use crate::config::Config;
use crate::offload::bundle::{BundleOptions, complete_ranges, write_bundle};
use crate::offload::source::{BlockSource, SourceSpec};

/// Runs `bundle`.
///
/// # Errors
/// Bad arguments, a bad source, or a failed bundle (named).
pub(crate) fn bundle(args: &BundleArgs) -> Result<ExitCode> {
    let config = Config::load(args.config.as_deref())?;
    let network = args.network.unwrap_or(config.network);
    let bundle_blocks = args.bundle_blocks.unwrap_or(config.bundle_blocks);
    let max_piece = args.piece_size.unwrap_or(config.piece_size);
    if !max_piece.is_power_of_two() || max_piece < 16 * 1024 {
        bail!("--piece-size must be a power of two of at least 16384, got {max_piece}");
    }
    if bundle_blocks == 0 {
        bail!("--bundle-blocks must be at least 1");
    }
    let format = match args.format {
        Some(FormatArg::V1) => TorrentFormat::V1,
        Some(FormatArg::Hybrid) => TorrentFormat::Hybrid,
        None => config.torrent_format,
    };
    let spec: SourceSpec = args.source.parse()?;
    let galaxy = crate::galaxy::Galaxy::from_config(&config).block;
    let source = BlockSource::open(&spec, network, Some(&galaxy))?;
    let ranges = match (args.first, args.last) {
        (Some(first), Some(last)) => vec![(first, last)],
        (Some(first), None) => vec![torrent_core::bundle::range_of(first, bundle_blocks)],
        _ => complete_ranges(&source, bundle_blocks),
    };
    if ranges.is_empty() {
        bail!(
            "{} holds no complete range of {bundle_blocks} blocks (use --first/--last)",
            source.describe()
        );
    }
    let total: u64 = ranges
        .iter()
        .flat_map(|(a, b)| *a..=*b)
        .filter_map(|h| source.size(h))
        .sum();
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let opts = BundleOptions {
        network,
        max_piece,
        format,
        announce: args.tracker.clone(),
        web_seeds: args.web_seed.clone(),
    };
    std::fs::create_dir_all(&args.out)?;
    let mut outputs = Vec::new();
    for (first, last) in ranges {
        bar.set_message(format!("{first}..={last}"));
        let out = write_bundle(&source, first, last, &args.out, &opts, None, &|n| {
            bar.inc(n)
        })?;
        tracing::info!(name = %out.summary.name, infohash_v1 = %out.summary.infohash_v1, torrent = %out.torrent.display(), "bundle written");
        outputs.push(out);
    }
    bar.finish_and_clear();
    if args.json {
        if args.first.is_some() && outputs.len() == 1 {
            crate::outln!("{}", serde_json::to_string_pretty(&outputs[0])?);
        } else {
            crate::outln!("{}", serde_json::to_string_pretty(&outputs)?);
        }
    } else {
        for o in &outputs {
            crate::outln!(
                "{}  {} ({} files, {} pieces of {} bytes)",
                o.summary.infohash_v1,
                o.torrent.display(),
                o.files.len(),
                o.pieces,
                o.piece_length
            );
            if let Some(v2) = &o.summary.infohash_v2 {
                crate::outln!("  v2 {v2}");
            }
            crate::outln!("  {}", o.summary.magnet);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `inspect`; with `--verify`, exit 1 when the data does not match.
///
/// # Errors
/// An unreadable or malformed torrent.
pub(crate) fn inspect(args: &InspectArgs) -> Result<ExitCode> {
    let (m, mut view) = crate::offload::inspect::inspect(&args.file)?;
    if let Some(dir) = &args.verify {
        view.verify = Some(crate::offload::inspect::verify(&m, &view, dir)?);
    }
    if args.json {
        crate::outln!("{}", serde_json::to_string_pretty(&view)?);
    } else {
        crate::outln!("name          {}", view.name);
        if let Some(h) = &view.infohash_v1 {
            crate::outln!("info-hash v1  {h}");
        }
        if let Some(h) = &view.infohash_v2 {
            crate::outln!("info-hash v2  {h}");
        }
        crate::outln!(
            "pieces        {} x {} bytes ({} bytes, {} of them padding)",
            view.pieces,
            view.piece_length,
            view.total_length,
            view.pad_bytes
        );
        if let Some(n) = &view.network {
            crate::outln!("bundle        {n}, {} blocks", view.blocks.len());
            for b in &view.blocks {
                crate::outln!(
                    "  {:>9} {} {:>8} txs {:>12} bytes",
                    b.height,
                    b.hash,
                    b.tx_count,
                    b.size
                );
            }
        }
        crate::outln!("files");
        for f in &view.files {
            crate::outln!(
                "  {:>12} {}{}",
                f.length,
                f.path,
                if f.pad { "  (pad)" } else { "" }
            );
        }
        crate::outln!("magnet        {}", view.magnet);
        if let Some(r) = &view.verify {
            crate::outln!(
                "verify        {} pieces good, {} bad{}",
                r.good_pieces,
                r.bad_pieces.len(),
                if r.ok() { ", bundle metadata ok" } else { "" }
            );
            for f in &r.bad_files {
                crate::outln!("  missing or wrong length: {f}");
            }
            for e in &r.bsv_errors {
                crate::outln!("  {e}");
            }
        }
    }
    Ok(match &view.verify {
        Some(r) if !r.ok() => ExitCode::FAILURE,
        _ => ExitCode::SUCCESS,
    })
}

/// Runs `audit`: exit 0 when the seeder served every sampled piece correctly.
///
/// # Errors
/// An unreadable or malformed torrent.
pub(crate) fn audit(args: &AuditArgs) -> Result<ExitCode> {
    let (m, _) = crate::offload::inspect::inspect(&args.torrent)?;
    if m.pieces.is_empty() {
        bail!("{} has no v1 pieces to audit", args.torrent.display());
    }
    let mut seed = [0u8; 8];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let picks = crate::swarm::audit::pick_pieces(
        m.pieces.len() as u32,
        args.pieces,
        u64::from_le_bytes(seed),
    );
    let report = crate::swarm::audit::audit_peer(
        args.peer,
        &m,
        &picks,
        std::time::Duration::from_secs(args.timeout),
    );
    if args.json {
        crate::outln!("{}", serde_json::to_string(&report)?);
    } else if report.passed {
        crate::outln!(
            "passed: {} pieces ({} bytes) from {} in {} ms",
            report.pieces_ok,
            report.bytes,
            report.peer,
            report.millis
        );
    } else {
        crate::outln!(
            "failed: {}",
            report.failure.as_deref().unwrap_or("incomplete")
        );
    }
    Ok(if report.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
