//! # torrent_wasm_host
//!
//! Runs `torrent_wasm_guest` (torrent_core's verification compiled to wasm) inside
//! wasmtime, so that proofs from untrusted seeders are checked by code that can touch
//! nothing: the module imports nothing, each call gets a fresh `Store` with a fuel budget
//! and a memory cap, and every trap becomes a typed [`SandboxError`], never a crash and
//! never a "valid". The ABI is in `host-wasm/ABI.md`.
//!
//! The module is compiled once per [`Sandbox`] (cranelift); a call costs an instantiation
//! plus the verification. Batches amortize the instantiation.

use std::path::PathBuf;

use torrent_core::verdict::{Verdict, VerifyRequest};
use wasmtime::{Config, Engine, Instance, Module, Store, StoreLimits, StoreLimitsBuilder, Trap};

/// File name of the guest module.
pub const GUEST_FILE: &str = "torrent_wasm_guest.wasm";

/// The guest built and embedded by the build script, or why there is none.
#[cfg(embedded_guest)]
static EMBEDDED: Result<&[u8], &str> = Ok(include_bytes!(concat!(
    env!("OUT_DIR"),
    "/torrent_wasm_guest.wasm"
)));
#[cfg(not(embedded_guest))]
static EMBEDDED: Result<&[u8], &str> = Err(include_str!(concat!(
    env!("OUT_DIR"),
    "/no_guest_reason.txt"
)));

/// Returns where `cargo build -p torrent_wasm_guest --target wasm32-unknown-unknown
/// --release` puts the guest, honouring `CARGO_TARGET_DIR`.
pub fn guest_wasm_path() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target
        .join("wasm32-unknown-unknown/release")
        .join(GUEST_FILE)
}

/// The guest module's bytes: `TORRENT_WASM_GUEST` (a path) when set, else the module built
/// and embedded with this crate.
///
/// # Errors
/// [`SandboxError::NotBuilt`].
pub fn guest_bytes() -> Result<Vec<u8>, SandboxError> {
    if let Some(p) = std::env::var_os("TORRENT_WASM_GUEST") {
        return std::fs::read(&p).map_err(|e| {
            SandboxError::NotBuilt(format!(
                "TORRENT_WASM_GUEST={}: {e}",
                PathBuf::from(&p).display()
            ))
        });
    }
    EMBEDDED.map(<[u8]>::to_vec).map_err(|reason| {
        SandboxError::NotBuilt(format!(
            "this build has no wasm guest ({reason}): `rustup target add wasm32-unknown-unknown` and rebuild, or set TORRENT_WASM_GUEST"
        ))
    })
}

/// Caps of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Fuel (about one unit per wasm instruction).
    pub fuel: u64,
    /// Largest linear memory, bytes.
    pub memory: usize,
}

impl Default for Limits {
    /// 2,000,000,000 fuel (about a second of guest code) and 64 MiB: far above what a batch
    /// of [`MAX_BATCH`] proofs needs, far below what could hurt the host.
    fn default() -> Self {
        Self {
            fuel: 2_000_000_000,
            memory: 64 << 20,
        }
    }
}

/// Requests sent to the guest in one call at most; longer batches are split.
pub const MAX_BATCH: usize = 1024;

/// Why the sandbox gave no verdict.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SandboxError {
    /// No guest module available.
    #[error("wasm guest not available: {0}")]
    NotBuilt(String),
    /// The module does not compile, imports something, or lacks an export.
    #[error("wasm module refused: {0}")]
    Module(String),
    /// The call used its whole fuel budget (a loop that does not end, or a huge input).
    #[error("the guest ran out of fuel ({0} units)")]
    OutOfFuel(u64),
    /// The guest tried to grow its memory past the cap.
    #[error("the guest hit the memory cap of {0} bytes")]
    Memory(usize),
    /// Any other trap.
    #[error("the guest trapped: {0}")]
    Trap(String),
    /// The guest's answer could not be read, or refused the request.
    #[error("the guest's answer: {0}")]
    Answer(String),
}

/// A compiled guest and the caps its calls run under.
pub struct Sandbox {
    engine: Engine,
    module: Module,
    limits: Limits,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Sandbox {
    /// The project's guest (see [`guest_bytes`]) under `limits`.
    ///
    /// # Errors
    /// [`SandboxError::NotBuilt`] or [`SandboxError::Module`].
    pub fn guest(limits: Limits) -> Result<Self, SandboxError> {
        Self::from_module(&guest_bytes()?, limits)
    }

    /// Any module (wasm binary or text) meant to follow the ABI, under `limits`.
    ///
    /// # Errors
    /// [`SandboxError::Module`] when it does not compile or imports anything.
    pub fn from_module(wasm: &[u8], limits: Limits) -> Result<Self, SandboxError> {
        let mut config = Config::new();
        config.consume_fuel(true);
        // Deep recursion traps instead of reaching the host's stack.
        config.max_wasm_stack(1 << 20);
        let engine = Engine::new(&config).map_err(|e| SandboxError::Module(format!("{e:#}")))?;
        let module =
            Module::new(&engine, wasm).map_err(|e| SandboxError::Module(format!("{e:#}")))?;
        if let Some(i) = module.imports().next() {
            return Err(SandboxError::Module(format!(
                "the module imports {}::{}; the guest must import nothing",
                i.module(),
                i.name()
            )));
        }
        Ok(Self {
            engine,
            module,
            limits,
        })
    }

    /// The caps in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    fn map(&self, e: &wasmtime::Error) -> SandboxError {
        if e.downcast_ref::<Trap>() == Some(&Trap::OutOfFuel) {
            return SandboxError::OutOfFuel(self.limits.fuel);
        }
        let text = format!("{e:#}");
        if text.contains("growing memory") || text.contains("memory minimum size") {
            return SandboxError::Memory(self.limits.memory);
        }
        SandboxError::Trap(text)
    }

    /// Verifies one request.
    ///
    /// # Errors
    /// [`SandboxError`]: the caps stopped the guest, or its answer was unusable.
    pub fn verify(&self, req: &VerifyRequest) -> Result<Verdict, SandboxError> {
        let mut v = self.call(std::slice::from_ref(req))?;
        v.pop()
            .ok_or_else(|| SandboxError::Answer("no verdict".into()))
    }

    /// Verifies a batch, [`MAX_BATCH`] requests per guest call.
    ///
    /// # Errors
    /// As [`Sandbox::verify`], for the first failing call.
    pub fn verify_all(&self, reqs: &[VerifyRequest]) -> Result<Vec<Verdict>, SandboxError> {
        let mut out = Vec::with_capacity(reqs.len());
        for chunk in reqs.chunks(MAX_BATCH) {
            out.extend(self.call(chunk)?);
        }
        Ok(out)
    }

    /// One guest call, also returning the fuel it used (about one unit per instruction).
    ///
    /// # Errors
    /// As [`Sandbox::verify`].
    pub fn call_metered(
        &self,
        reqs: &[VerifyRequest],
    ) -> Result<(Vec<Verdict>, u64), SandboxError> {
        self.call_inner(reqs)
    }

    fn call(&self, reqs: &[VerifyRequest]) -> Result<Vec<Verdict>, SandboxError> {
        self.call_inner(reqs).map(|(v, _)| v)
    }

    /// One guest call: a fresh store with the caps, the request in, the answer out.
    fn call_inner(&self, reqs: &[VerifyRequest]) -> Result<(Vec<Verdict>, u64), SandboxError> {
        let input = bincode::serde::encode_to_vec(reqs, bincode::config::standard())
            .map_err(|e| SandboxError::Answer(format!("encoding the request: {e}")))?;
        let len = i32::try_from(input.len())
            .map_err(|_| SandboxError::Answer("request over 2 GiB".into()))?;
        let limits: StoreLimits = StoreLimitsBuilder::new()
            .memory_size(self.limits.memory)
            .instances(1)
            .memories(1)
            .tables(4)
            .trap_on_grow_failure(true)
            .build();
        let mut store = Store::new(&self.engine, limits);
        store.limiter(|l| l);
        store
            .set_fuel(self.limits.fuel)
            .map_err(|e| SandboxError::Module(format!("{e:#}")))?;
        let instance = Instance::new(&mut store, &self.module, &[]).map_err(|e| self.map(&e))?;
        let missing =
            |what: &str, e: wasmtime::Error| SandboxError::Module(format!("export {what}: {e:#}"));
        let memory = instance
            .get_memory(&mut store, "memory")
            .ok_or_else(|| SandboxError::Module("no exported memory".into()))?;
        let alloc = instance
            .get_typed_func::<i32, i32>(&mut store, "alloc")
            .map_err(|e| missing("alloc(i32) -> i32", e))?;
        let verify = instance
            .get_typed_func::<(i32, i32), i64>(&mut store, "verify")
            .map_err(|e| missing("verify(i32, i32) -> i64", e))?;
        let ptr = alloc.call(&mut store, len).map_err(|e| self.map(&e))?;
        let at = usize::try_from(ptr as u32).unwrap_or(usize::MAX);
        memory.write(&mut store, at, &input).map_err(|e| {
            SandboxError::Answer(format!("alloc gave an address outside memory: {e}"))
        })?;
        let packed = verify
            .call(&mut store, (ptr, len))
            .map_err(|e| self.map(&e))? as u64;
        let (out_at, out_len) = ((packed >> 32) as usize, (packed & 0xffff_ffff) as usize);
        // Bounded by the memory cap: the answer lies inside the guest's memory or is refused.
        let data = memory.data(&store);
        let answer = data
            .get(out_at..out_at.saturating_add(out_len))
            .ok_or_else(|| {
                SandboxError::Answer(format!("answer at {out_at}+{out_len} lies outside memory"))
            })?;
        let (resp, _): (Result<Vec<Verdict>, String>, usize) =
            bincode::serde::decode_from_slice(answer, bincode::config::standard())
                .map_err(|e| SandboxError::Answer(format!("does not decode: {e}")))?;
        let verdicts = resp.map_err(SandboxError::Answer)?;
        if verdicts.len() != reqs.len() {
            return Err(SandboxError::Answer(format!(
                "{} verdicts for {} requests",
                verdicts.len(),
                reqs.len()
            )));
        }
        let used = self.limits.fuel - store.get_fuel().unwrap_or(0);
        Ok((verdicts, used))
    }
}
