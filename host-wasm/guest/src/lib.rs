//! # torrent_wasm_guest
//!
//! The only wasm ABI glue over [`torrent_core`]: a `cdylib` that exports `alloc`, `dealloc`
//! and `verify` and imports nothing, so a host can run it under wasmtime with fuel and a
//! memory cap and no capabilities at all. The ABI is written down in `host-wasm/ABI.md`.
//!
//! The raw-pointer handling is confined to the three exported functions below; everything
//! they call is safe core code.
#![allow(unsafe_code)]

use torrent_core::proof::bump::Bump;
use torrent_core::proof::tsc::TscProof;
use torrent_core::{Header, Txid};

/// Verdict: the proof is valid.
pub const VALID: u32 = 0;
/// Verdict: the proof is well formed but does not prove the transaction.
pub const INVALID: u32 = 1;
/// Verdict: the request could not be parsed.
pub const MALFORMED: u32 = 2;

/// Proof format tag: BRC-74 BUMP binary.
pub const FORMAT_BUMP: u8 = 0;
/// Proof format tag: TSC binary.
pub const FORMAT_TSC: u8 = 1;

/// Decides a request (layout in `host-wasm/ABI.md`). Pure and safe: the same function the
/// native differential tests call.
pub fn verify_request(req: &[u8]) -> u32 {
    // format u8 | block height u64 LE | tx count u64 LE | header [80] | txid [32] | proof
    const FIXED: usize = 1 + 8 + 8 + 80 + 32;
    if req.len() < FIXED {
        return MALFORMED;
    }
    let (fixed, proof) = req.split_at(FIXED);
    let format = fixed[0];
    let mut word = [0u8; 8];
    word.copy_from_slice(&fixed[1..9]);
    let height = u64::from_le_bytes(word);
    word.copy_from_slice(&fixed[9..17]);
    let tx_count = u64::from_le_bytes(word);
    let Ok(header) = Header::decode(&fixed[17..97]) else {
        return MALFORMED;
    };
    let mut id = [0u8; 32];
    id.copy_from_slice(&fixed[97..129]);
    let txid = Txid::from_byte_array(id);
    let ok = match format {
        FORMAT_BUMP => match Bump::decode(proof) {
            Ok(b) => b
                .verify(&txid, height, tx_count, &header.merkle_root)
                .is_ok(),
            Err(_) => return MALFORMED,
        },
        FORMAT_TSC => match TscProof::decode(proof) {
            Ok(t) => t
                .verify(&header, tx_count)
                .is_ok_and(|proven| proven == txid),
            Err(_) => return MALFORMED,
        },
        _ => return MALFORMED,
    };
    if ok { VALID } else { INVALID }
}

/// Allocates `len` bytes in guest memory for the host to write a request into.
#[unsafe(no_mangle)]
pub extern "C" fn alloc(len: u32) -> *mut u8 {
    let mut buf = Vec::<u8>::with_capacity(len as usize);
    let ptr = buf.as_mut_ptr();
    core::mem::forget(buf);
    ptr
}

/// Frees a buffer returned by [`alloc`].
///
/// # Safety
/// `ptr` and `len` must come from one earlier `alloc(len)` call, freed once.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dealloc(ptr: *mut u8, len: u32) {
    // SAFETY: the caller passes back exactly what `alloc` returned, with its capacity.
    drop(unsafe { Vec::from_raw_parts(ptr, 0, len as usize) });
}

/// Verifies the request of `len` bytes at `ptr`; returns [`VALID`], [`INVALID`] or
/// [`MALFORMED`].
///
/// # Safety
/// `ptr` must point to `len` initialised bytes inside guest memory (the host writes them
/// into a buffer from [`alloc`]).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn verify(ptr: *const u8, len: u32) -> u32 {
    // SAFETY: guaranteed by the caller, see above.
    let req = unsafe { core::slice::from_raw_parts(ptr, len as usize) };
    verify_request(req)
}
