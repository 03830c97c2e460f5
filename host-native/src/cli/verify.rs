//! `torrent_service verify`: checks a BUMP or TSC proof against a header, natively or in
//! the wasmtime sandbox (`--sandbox`): the same core function either way.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use serde::Serialize;
use torrent_core::proof::bump::Bump;
use torrent_core::proof::tsc::TscProof;
use torrent_core::verdict::{ProofFormat, Verdict as CoreVerdict, VerifyRequest};
use torrent_core::{Header, Txid, hex};

use crate::cli::args::VerifyArgs;

/// A proof in either format.
#[derive(Debug)]
pub(crate) enum AnyProof {
    /// BRC-74.
    Bump(Bump),
    /// TSC.
    Tsc(TscProof),
}

/// Reads `arg` as a file when such a file exists, else as the value itself.
fn inline_or_file(arg: &str) -> Result<Vec<u8>> {
    let p = Path::new(arg);
    if arg.len() < 4096 && p.is_file() {
        return std::fs::read(p).with_context(|| format!("reading {}", p.display()));
    }
    Ok(arg.as_bytes().to_vec())
}

/// Parses a proof given as BUMP hex/JSON/binary or TSC hex/JSON/binary.
///
/// # Errors
/// When the bytes are none of these, with each format's reason.
pub(crate) fn parse_proof(bytes: &[u8]) -> Result<AnyProof> {
    let text = core::str::from_utf8(bytes).ok().map(str::trim);
    if let Some(t) = text.filter(|t| t.starts_with('{')) {
        let v: serde_json::Value = serde_json::from_str(t).context("proof is not valid JSON")?;
        return if v.get("path").is_some() {
            Ok(AnyProof::Bump(Bump::from_json(t).context("BUMP JSON")?))
        } else {
            Ok(AnyProof::Tsc(TscProof::from_json(t).context("TSC JSON")?))
        };
    }
    let raw = match text.map(hex::decode) {
        Some(Ok(b)) => b,
        _ => bytes.to_vec(),
    };
    let bump_err = match Bump::decode(&raw) {
        Ok(b) => return Ok(AnyProof::Bump(b)),
        Err(e) => e,
    };
    match TscProof::decode(&raw) {
        Ok(t) => Ok(AnyProof::Tsc(t)),
        Err(tsc_err) => bail!("proof is neither a BUMP ({bump_err}) nor a TSC proof ({tsc_err})"),
    }
}

fn parse_header(arg: &str) -> Result<Header> {
    let bytes = inline_or_file(arg)?;
    let raw = match core::str::from_utf8(&bytes).map(str::trim) {
        Ok(t) if t.len() == 160 => hex::decode(t).context("header is not hex")?,
        _ => bytes,
    };
    Header::decode(&raw)
        .map_err(|e| anyhow::anyhow!("header must be 80 bytes (160 hex digits): {e}"))
}

#[derive(Serialize)]
struct Verdict {
    valid: bool,
    format: &'static str,
    txid: Txid,
    #[serde(skip_serializing_if = "Option::is_none")]
    index: Option<u64>,
    block_hash: String,
    /// The height checked (a BUMP's), and where it came from: `argument` (`--height`) or
    /// `bump` (the proof's own claim, which only a trusted header chain can confirm).
    #[serde(skip_serializing_if = "Option::is_none")]
    height: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    height_from: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// Where it was decided: `native` or `sandbox`.
    host: &'static str,
}

/// Runs the command: exit 0 for a valid proof, 1 for an invalid one, 2 for bad input (or
/// a sandbox that could not give a verdict).
///
/// # Errors
/// Unparseable arguments, or the sandbox stopped the guest.
pub(crate) fn run(args: &VerifyArgs) -> Result<ExitCode> {
    if args.txid.trim() != args.txid {
        bail!("--txid {:?} has whitespace around it", args.txid);
    }
    let txid: Txid = args.txid.parse().context("--txid must be 64 hex digits")?;
    let header = parse_header(&args.header).context("--header")?;
    let proof = parse_proof(&inline_or_file(&args.proof)?).context("--proof")?;
    // A BUMP names its block's height; without --height that claim is all there is, so the
    // verdict says which height it checked and where it came from.
    let (format, fmt_name, height, bytes) = match &proof {
        AnyProof::Bump(b) => (
            ProofFormat::Bump,
            "bump",
            args.height.unwrap_or(b.block_height()),
            b.encode(),
        ),
        AnyProof::Tsc(t) => (
            ProofFormat::Tsc,
            "tsc",
            args.height.unwrap_or(0),
            t.encode(),
        ),
    };
    let height_from = match (&proof, args.height) {
        (_, Some(_)) => Some("argument"),
        (AnyProof::Bump(_), None) => Some("bump"),
        (AnyProof::Tsc(_), None) => None,
    };
    let req = VerifyRequest {
        format,
        height,
        tx_count: args.tx_count,
        header: header.to_bytes().to_vec(),
        txid: txid.to_byte_array(),
        proof: bytes,
    };
    let decided = if args.sandbox {
        let sandbox = torrent_wasm_host::Sandbox::guest(torrent_wasm_host::Limits::default())
            .context("--sandbox")?;
        sandbox.verify(&req).context("--sandbox")?
    } else {
        torrent_core::verdict::verify(&req)
    };
    let (index, error) = match decided {
        CoreVerdict::Valid { index } => (Some(index), None),
        CoreVerdict::Invalid { reason } | CoreVerdict::Malformed { reason } => (None, Some(reason)),
    };
    let verdict = Verdict {
        valid: error.is_none(),
        format: fmt_name,
        txid,
        index,
        block_hash: header.block_hash().to_string(),
        height: height_from.map(|_| height),
        height_from,
        error,
        host: if args.sandbox { "sandbox" } else { "native" },
    };
    if args.json {
        crate::outln!("{}", serde_json::to_string(&verdict)?);
    } else if let Some(e) = &verdict.error {
        crate::outln!("invalid: {e}");
    } else {
        let at = match height_from {
            Some("argument") => format!(" at height {height}"),
            Some(_) => format!(
                " at height {height} (the height the BUMP claims: pass --height to check it)"
            ),
            None => String::new(),
        };
        crate::outln!(
            "valid: {} is transaction {} of block {}{at}",
            txid,
            verdict.index.unwrap_or_default(),
            verdict.block_hash
        );
    }
    Ok(if verdict.valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
