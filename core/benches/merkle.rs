//! Merkle root of 1,000,000 txids, and BUMP/TSC build and verify on that tree.
//! Run: `cargo bench -p torrent_core --bench merkle` (see bench/README.md).

use core::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use torrent_core::Txid;
use torrent_core::bsv::hash::sha256d;
use torrent_core::bsv::merkle::{self, MerkleTree};
use torrent_core::proof::bump::Bump;
use torrent_core::proof::tsc::{TargetKind, TscProof};

const N: usize = 1_000_000;

fn txids(n: usize) -> Vec<Txid> {
    (0..n as u64)
        .map(|i| Txid::from_byte_array(sha256d(&i.to_le_bytes())))
        .collect()
}

fn bench_root(c: &mut Criterion) {
    let ids = txids(N);
    let mut g = c.benchmark_group("merkle_root");
    g.throughput(Throughput::Elements(N as u64));
    g.sample_size(10);
    g.bench_function(BenchmarkId::new("streaming_builder", N), |b| {
        b.iter(|| merkle::root(black_box(&ids)).unwrap())
    });
    g.bench_function(BenchmarkId::new("full_tree", N), |b| {
        b.iter(|| MerkleTree::from_txids(black_box(&ids)).unwrap().root())
    });
    g.finish();
}

fn bench_proofs(c: &mut Criterion) {
    let ids = txids(N);
    let tree = MerkleTree::from_txids(&ids).unwrap();
    let root = tree.root();
    let header = torrent_core::Header {
        version: 1,
        prev_blockhash: Default::default(),
        merkle_root: root,
        time: 0,
        bits: 0x207f_ffff,
        nonce: 0,
    };
    let i = 777_777u64;
    let t = ids[i as usize];
    let bump = Bump::build(&tree, 1, &[i]).unwrap();
    let bump_bin = bump.encode();
    let tsc = TscProof::build(&tree, i, &header, TargetKind::MerkleRoot, None).unwrap();
    let mut g = c.benchmark_group("proof_1m_txs");
    g.throughput(Throughput::Elements(1));
    g.bench_function("bump_build", |b| {
        b.iter(|| Bump::build(black_box(&tree), 1, &[black_box(i)]).unwrap())
    });
    g.bench_function("bump_decode_verify", |b| {
        b.iter(|| {
            Bump::decode(black_box(&bump_bin))
                .unwrap()
                .verify(&t, 1, N as u64, &root)
                .unwrap()
        })
    });
    g.bench_function("tsc_build", |b| {
        b.iter(|| {
            TscProof::build(
                black_box(&tree),
                black_box(i),
                &header,
                TargetKind::MerkleRoot,
                None,
            )
            .unwrap()
        })
    });
    g.bench_function("tsc_verify", |b| {
        b.iter(|| black_box(&tsc).verify(&header, N as u64).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench_root, bench_proofs);
criterion_main!(benches);
