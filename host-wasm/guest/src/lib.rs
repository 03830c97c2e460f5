//! # torrent_wasm_guest
//!
//! The only wasm ABI glue over [`torrent_core`]: a `cdylib` that exports `alloc`, `dealloc`
//! and `verify` and imports nothing, so a host can run it under wasmtime with fuel and a
//! memory cap and no capabilities at all. Requests and answers are bincode 2 (standard
//! config) of [`torrent_core::verdict`] types; the ABI is written down in `host-wasm/ABI.md`.
//!
//! The raw-pointer handling is confined to the three exported functions below; everything
//! they call is safe core code.
#![allow(unsafe_code)]

use torrent_core::verdict::{Verdict, VerifyRequest, verify_all};

/// The guest's answer: one verdict per request, in order, or why the request bytes could
/// not be read.
pub type Response = Result<Vec<Verdict>, String>;

/// Largest request the guest decodes (the host's memory cap bounds it anyway).
const MAX_REQUEST: usize = 64 << 20;

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_REQUEST>()
}

/// Answers request bytes (bincode of `Vec<VerifyRequest>`) with response bytes (bincode of
/// [`Response`]). Pure and safe: the same function the native differential tests call.
pub fn answer(input: &[u8]) -> Vec<u8> {
    let resp: Response =
        match bincode::serde::decode_from_slice::<Vec<VerifyRequest>, _>(input, config()) {
            Ok((reqs, used)) if used == input.len() => Ok(verify_all(&reqs)),
            Ok((_, used)) => Err(format!(
                "{} trailing bytes after the request",
                input.len() - used
            )),
            Err(e) => Err(format!("request does not decode: {e}")),
        };
    bincode::serde::encode_to_vec(&resp, bincode::config::standard()).unwrap_or_default()
}

/// Allocates `len` bytes in guest memory for the host to write a request into.
#[unsafe(no_mangle)]
pub extern "C" fn alloc(len: u32) -> *mut u8 {
    let mut buf = Vec::<u8>::with_capacity(len as usize);
    let ptr = buf.as_mut_ptr();
    core::mem::forget(buf);
    ptr
}

/// Frees a buffer returned by [`alloc`] or by [`verify`].
///
/// # Safety
/// `ptr` and `len` must come from one earlier `alloc(len)` call, or be the pointer and
/// length `verify` returned, freed once.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dealloc(ptr: *mut u8, len: u32) {
    // SAFETY: the caller passes back exactly a buffer of capacity `len` made here.
    drop(unsafe { Vec::from_raw_parts(ptr, 0, len as usize) });
}

/// Answers the request of `len` bytes at `ptr`; returns the answer's address in the high
/// 32 bits and its length in the low 32 bits. The host reads it, then frees it with
/// `dealloc(address, length)`.
///
/// # Safety
/// `ptr` must point to `len` initialised bytes inside guest memory (the host writes them
/// into a buffer from [`alloc`]).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn verify(ptr: *const u8, len: u32) -> u64 {
    // SAFETY: guaranteed by the caller, see above.
    let req = unsafe { core::slice::from_raw_parts(ptr, len as usize) };
    // A boxed slice has capacity == length, as `dealloc` expects.
    let out = answer(req).into_boxed_slice();
    let n = out.len() as u64;
    let p = Box::into_raw(out).cast::<u8>() as usize as u64;
    (p << 32) | n
}
