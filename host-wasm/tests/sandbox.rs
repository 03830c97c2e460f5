//! The sandbox against the native core: the same verdicts on 10,000+ proofs, valid and
//! corrupted in many ways, from real blocks and from random trees; and hostile modules (a
//! loop that never ends, memory that grows without bound, imports, garbage answers) are
//! stopped by the caps with typed errors while the host goes on verifying.

use torrent_core::Header;
use torrent_core::Txid;
use torrent_core::bsv::block::{Block, BlockLimits};
use torrent_core::bsv::merkle::MerkleTree;
use torrent_core::proof::bump::Bump;
use torrent_core::proof::tsc::{TargetKind, TscProof};
use torrent_core::verdict::{ProofFormat, Verdict, VerifyRequest, verify};
use torrent_wasm_host::{Limits, Sandbox, SandboxError};

/// xorshift64*: deterministic, so a failure names a reproducible case.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A header committing to `root` (its proof of work is not the point here).
fn header_for(root: torrent_core::MerkleRoot, salt: u32) -> Header {
    let mut h = Header::decode(&[0u8; 80]).unwrap();
    h.merkle_root = root;
    h.nonce = salt;
    h
}

/// Proofs for random positions of one block, then corrupted copies of each.
fn cases(
    rng: &mut Rng,
    tree: &MerkleTree,
    txids: &[Txid],
    header: &Header,
    height: u64,
    out: &mut Vec<(VerifyRequest, Option<bool>)>,
) {
    let n = txids.len() as u64;
    let hb = header.to_bytes().to_vec();
    for _ in 0..8 {
        let i = rng.below(n);
        let bump = Bump::build(tree, height, &[i]).unwrap().encode();
        let tsc = TscProof::build(tree, i, header, TargetKind::BlockHash, None)
            .unwrap()
            .encode();
        let txid = txids[i as usize].to_byte_array();
        for (format, proof) in [(ProofFormat::Bump, bump), (ProofFormat::Tsc, tsc)] {
            let base = VerifyRequest {
                format,
                height,
                tx_count: n,
                header: hb.clone(),
                txid,
                proof,
            };
            // The proof as built: valid.
            out.push((base.clone(), Some(true)));
            // One flipped bit anywhere in the proof: usually refused, sometimes harmless
            // (a flag bit of a node the path does not use).
            let mut c = base.clone();
            let at = rng.below(c.proof.len() as u64) as usize;
            c.proof[at] ^= 1 << rng.below(8);
            out.push((c, None));
            // Cut short: never valid.
            let mut c = base.clone();
            c.proof.truncate(rng.below(c.proof.len() as u64) as usize);
            out.push((c, Some(false)));
            // Another transaction of the block (sometimes the same one).
            let mut c = base.clone();
            c.txid = txids[rng.below(n) as usize].to_byte_array();
            let same = c.txid == base.txid;
            out.push((c, same.then_some(true)));
            // Another transaction count: refused when it changes the tree's shape.
            let mut c = base.clone();
            c.tx_count = n + 1 + rng.below(3);
            out.push((c, None));
            // Another height: refused for a BUMP, which names its block; TSC does not.
            let mut c = base.clone();
            c.height = height ^ 1;
            out.push((c, Some(format == ProofFormat::Tsc)));
            // A header committing to another root: never valid.
            let mut c = base.clone();
            c.header[36 + rng.below(32) as usize] ^= 0x80;
            out.push((c, Some(false)));
            // A header one byte short: never valid.
            let mut c = base;
            c.header.pop();
            out.push((c, Some(false)));
        }
    }
}

fn requests() -> Vec<(VerifyRequest, Option<bool>)> {
    let mut rng = Rng(0x005e_ed0f_7e57);
    let mut out = Vec::new();
    for (file, height) in [("block-384189.bin", 384_189), ("block-413567.bin", 413_567)] {
        let block = Block::decode(
            &torrent_tests::read_vector(file).unwrap(),
            &BlockLimits::default(),
        )
        .unwrap();
        let txids = block.txids();
        let tree = MerkleTree::from_txids(&txids).unwrap();
        for _ in 0..4 {
            cases(&mut rng, &tree, &txids, &block.header, height, &mut out);
        }
    }
    while out.len() < 10_000 {
        let n = 1 + rng.below(3000) as usize;
        let txids: Vec<Txid> = (0..n)
            .map(|_| {
                let mut b = [0u8; 32];
                for c in b.chunks_mut(8) {
                    c.copy_from_slice(&rng.next().to_le_bytes());
                }
                Txid::from_byte_array(b)
            })
            .collect();
        let tree = MerkleTree::from_txids(&txids).unwrap();
        let header = header_for(tree.root(), rng.next() as u32);
        let height = rng.below(1_000_000);
        cases(&mut rng, &tree, &txids, &header, height, &mut out);
    }
    // Plain garbage too.
    for len in [0usize, 1, 7, 80, 200] {
        out.push((
            VerifyRequest {
                format: ProofFormat::Bump,
                height: 0,
                tx_count: 0,
                header: vec![0xab; len],
                txid: [0; 32],
                proof: vec![0xcd; len],
            },
            Some(false),
        ));
    }
    out
}

#[test]
fn sandbox_and_native_agree_on_ten_thousand_proofs() {
    let (reqs, expected): (Vec<VerifyRequest>, Vec<Option<bool>>) = requests().into_iter().unzip();
    assert!(reqs.len() >= 10_000);
    let sandbox = Sandbox::guest(Limits::default()).expect("the build embeds the guest");
    let native: Vec<Verdict> = reqs.iter().map(verify).collect();
    let boxed = sandbox.verify_all(&reqs).unwrap();
    assert_eq!(boxed.len(), native.len());
    let mut counts = [0usize; 3];
    for (i, (a, b)) in native.iter().zip(&boxed).enumerate() {
        assert_eq!(a, b, "request {i}: native and sandbox disagree");
        if let Some(want) = expected[i] {
            assert_eq!(a.is_valid(), want, "request {i}: {a:?}");
        }
        counts[match a {
            Verdict::Valid { .. } => 0,
            Verdict::Invalid { .. } => 1,
            Verdict::Malformed { .. } => 2,
        }] += 1;
    }
    println!(
        "{} requests: {} valid, {} invalid, {} malformed, identical natively and in wasmtime",
        reqs.len(),
        counts[0],
        counts[1],
        counts[2]
    );
    assert!(counts.iter().all(|c| *c > 1000), "{counts:?}");
    // One at a time gives the same as the batch.
    for r in reqs.iter().step_by(97) {
        assert_eq!(sandbox.verify(r).unwrap(), verify(r));
    }
}

/// The ABI's exports around a `verify` body of our choosing.
fn hostile(body: &str) -> Vec<u8> {
    format!(
        r#"(module
            (memory (export "memory") 1)
            (func (export "alloc") (param i32) (result i32) i32.const 1024)
            (func (export "dealloc") (param i32 i32))
            (func (export "verify") (param i32 i32) (result i64) {body}))"#
    )
    .into_bytes()
}

#[test]
fn hostile_modules_are_stopped_by_the_caps_and_the_host_goes_on() {
    let limits = Limits {
        fuel: 50_000_000,
        memory: 8 << 20,
    };
    let req = requests().swap_remove(0).0;
    let forever = Sandbox::from_module(&hostile("(loop (br 0)) i64.const 0"), limits).unwrap();
    assert_eq!(
        forever.verify(&req),
        Err(SandboxError::OutOfFuel(50_000_000))
    );
    let greedy = Sandbox::from_module(
        &hostile(
            "(loop (br_if 0 (i32.ne (memory.grow (i32.const 16)) (i32.const -1)))) i64.const 0",
        ),
        limits,
    )
    .unwrap();
    assert_eq!(greedy.verify(&req), Err(SandboxError::Memory(8 << 20)));
    let deep = Sandbox::from_module(
        br#"(module
            (memory (export "memory") 1)
            (func (export "alloc") (param i32) (result i32) i32.const 1024)
            (func $down (param i32) (result i32) (call $down (local.get 0)))
            (func (export "verify") (param i32 i32) (result i64) (drop (call $down (i32.const 0))) i64.const 0))"#,
        limits,
    )
    .unwrap();
    assert!(
        matches!(deep.verify(&req), Err(SandboxError::Trap(_))),
        "stack overflow traps"
    );
    let liar = Sandbox::from_module(&hostile("i64.const 0x7fffffff00000010"), limits).unwrap();
    assert!(
        matches!(liar.verify(&req), Err(SandboxError::Answer(_))),
        "an answer outside memory"
    );
    let garbage = Sandbox::from_module(&hostile("i64.const 0x0000000000000010"), limits).unwrap();
    assert!(
        matches!(garbage.verify(&req), Err(SandboxError::Answer(_))),
        "zeros are no answer"
    );
    let importer = Sandbox::from_module(
        br#"(module (import "env" "clock" (func)) (memory (export "memory") 1))"#,
        limits,
    );
    assert!(matches!(importer, Err(SandboxError::Module(m)) if m.contains("imports env::clock")));
    assert!(matches!(
        Sandbox::from_module(b"\0asm garbage", limits),
        Err(SandboxError::Module(_))
    ));
    // The real guest under the same caps still answers.
    let guest = Sandbox::guest(limits).unwrap();
    assert_eq!(guest.verify(&req).unwrap(), verify(&req));
}
