//! The txid index (ADR 0003): one run per bundle, merged when runs of like size pile up,
//! every transaction of the offloaded blocks listed, proofs asked for in a named block, and
//! the index's Prometheus series.

use torrent_core::bsv::block::{Block, BlockLimits};
use torrent_service::proto as pb;
use torrent_tests::chain_gen::{ChainSpec, GeneratedBlock, OutputFormat, write_chain};

use crate::common::{Service, block_dir, get, metric, metrics, temp, wait_for};

/// The first bitcoin payment, transaction 1 of block 170.
const TX_170_1: &str = "f4184fc596403b9d638783cf57adfe4c75c605f6356fbc91338530e9831e9e16";

#[test]
fn every_transaction_is_indexed_and_a_proof_request_may_name_its_block() {
    let dir = temp("index");
    let src = dir.join("src");
    block_dir(&src);
    let svc = Service::start_with(
        &dir,
        &format!(
            "block_source = \"dir:{}\"\nbundle_blocks = 64\naging_scan_interval_s = 1\nprune = false\nbittorrent = false\nrate_limit_per_ip = 0\n",
            src.display()
        ),
    );
    let http = svc.ready["http"].as_str().unwrap().to_string();
    let want: u64 = (0..256)
        .map(|h| {
            let raw = std::fs::read(src.join(format!("{h}.bin"))).unwrap();
            Block::decode(&raw, &BlockLimits::default())
                .unwrap()
                .txids()
                .len() as u64
        })
        .sum();
    // Four bundles, four runs of like size: merged into one as the fourth is indexed.
    wait_for("four bundles indexed and their runs merged", 120, || {
        let text = metrics(&http);
        metric(&text, "torrent_service_index_merges_total") == Some(1.0)
    });
    let text = metrics(&http);
    assert_eq!(metric(&text, "torrent_service_index_runs"), Some(1.0));
    assert_eq!(
        metric(&text, "torrent_service_index_txids"),
        Some(want as f64),
        "every transaction of blocks 0-255"
    );
    assert!(metric(&text, "torrent_service_index_memory_bytes").unwrap() > 0.0);
    assert_eq!(
        file_names(&dir.join("data/index")),
        ["merged-000000000-000000255.run"],
        "the bundles' runs are gone"
    );

    // JSON: the block named, another block, a bad height.
    let proof = |q: &str| get(&format!("http://{http}/v1/proof/{TX_170_1}{q}"), None);
    let (status, body) = proof("?height=170");
    assert_eq!(status, 200, "{body}");
    let a: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (a["height"].as_u64(), a["index"].as_u64()),
        (Some(170), Some(1))
    );
    assert!(a.get("other_heights").is_none(), "one block holds it: {a}");
    assert_eq!(proof("").0, 200, "no height: the block holding it");
    let (status, body) = proof("?height=171");
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("is not in block 171"), "{body}");
    let (status, body) = proof("?height=tall");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("not a block height"), "{body}");

    // gRPC: the same.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let grpc = format!("http://{}", svc.ready["grpc"].as_str().unwrap());
    let mut client = rt
        .block_on(pb::proof_service_client::ProofServiceClient::connect(grpc))
        .unwrap();
    let ask = |height: Option<u64>| pb::GetProofRequest {
        txid: TX_170_1.into(),
        format: 0,
        height,
    };
    let p = rt
        .block_on(client.get_proof(ask(Some(170))))
        .unwrap()
        .into_inner();
    assert_eq!((p.height, p.index), (170, 1));
    assert!(p.other_heights.is_empty());
    let err = rt.block_on(client.get_proof(ask(Some(9)))).unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound, "{err:?}");
    assert!(err.message().contains("is not in block 9"), "{err:?}");

    // Every proof so far came from the stored upper levels: no block's tree was built.
    let text = metrics(&http);
    assert!(metric(&text, "torrent_proof_from_levels_total").unwrap() >= 3.0);
    assert_eq!(metric(&text, "torrent_proof_cache_misses_total"), Some(0.0));

    // The runs survive a restart: the same proofs, no rebuild.
    svc.stop();
    let svc = Service::start_with(&dir, "");
    let http = svc.ready["http"].as_str().unwrap().to_string();
    let text = metrics(&http);
    assert_eq!(metric(&text, "torrent_service_index_runs"), Some(1.0));
    assert_eq!(
        metric(&text, "torrent_service_index_txids"),
        Some(want as f64)
    );
    let (status, body) = get(&format!("http://{http}/v1/proof/{TX_170_1}"), None);
    assert_eq!(status, 200, "{body}");
}

/// A proof reads its chunk of txids and one stored node per level, never the whole txid
/// file; the stored levels are checked against the header, not trusted: damaged, the proof
/// hashes the whole txid file instead and is the same.
#[test]
fn proofs_read_the_stored_upper_levels_and_check_them() {
    let dir = temp("index_levels");
    let (svc, blocks, txids) = offloaded_chain(&dir, (2, 300, 31), None, 2);
    let http = svc.ready["http"].as_str().unwrap().to_string();
    wait_for("the bundle indexed", 120, || {
        metric(&metrics(&http), "torrent_service_index_txids") == Some(600.0)
    });
    // Every transaction's proof, checked against its block's header.
    let prove_all = |http: &str| {
        for (h, block) in txids.iter().enumerate() {
            let header = torrent_core::Header::decode(
                &torrent_core::hex::decode(&blocks[h].header).unwrap(),
            )
            .unwrap();
            for (i, t) in block.iter().enumerate() {
                let (status, body) = get(&format!("http://{http}/v1/proof/{t}"), None);
                assert_eq!(status, 200, "{h}/{i}: {body}");
                let a: serde_json::Value = serde_json::from_str(&body).unwrap();
                assert_eq!(a["index"].as_u64(), Some(i as u64));
                let bump = torrent_core::proof::bump::Bump::decode(
                    &torrent_core::hex::decode(a["bump"].as_str().unwrap()).unwrap(),
                )
                .unwrap();
                assert_eq!(bump.compute_root(t).unwrap(), header.merkle_root, "{h}/{i}");
            }
        }
    };
    prove_all(&http);
    let text = metrics(&http);
    assert_eq!(
        metric(&text, "torrent_proof_from_levels_total"),
        Some(600.0)
    );
    assert_eq!(metric(&text, "torrent_proof_cache_misses_total"), Some(0.0));

    // Every stored node zeroed: each block's tree is built from its txid file once, and the
    // proofs are the same.
    svc.stop();
    let levels = dir.join("data/levels/bsv-regtest-000000000-000000001.levels");
    let mut bytes = std::fs::read(&levels).unwrap();
    bytes[16 + 24 * 2..].fill(0);
    std::fs::write(&levels, bytes).unwrap();
    let svc = Service::start_with(&dir, "");
    let http = svc.ready["http"].as_str().unwrap().to_string();
    prove_all(&http);
    let text = metrics(&http);
    assert_eq!(metric(&text, "torrent_proof_from_levels_total"), Some(0.0));
    assert_eq!(metric(&text, "torrent_proof_cache_misses_total"), Some(2.0));
}

/// A txid in two blocks (BIP 30; here generated: block 4's coinbase is block 1's, in two
/// bundles): both copies are indexed, the proof names either block, and without a height
/// the answer is the higher block's, listing the other.
#[test]
fn a_txid_in_two_blocks_is_proven_in_each_and_the_other_is_listed() {
    let dir = temp("index_bip30");
    let (svc, blocks, txids) = offloaded_chain(&dir, (6, 5, 30), Some((1, 4)), 3);
    let (one, four) = (&txids[1], &txids[4]);
    assert_eq!(one[0], four[0], "the generator repeated the coinbase");
    assert_ne!(one[1], four[1]);
    let http = svc.ready["http"].as_str().unwrap().to_string();
    wait_for("both bundles indexed", 120, || {
        metric(&metrics(&http), "torrent_service_index_runs") == Some(2.0)
    });
    assert_eq!(
        metric(&metrics(&http), "torrent_service_index_txids"),
        Some(30.0),
        "the repeated txid counted in both blocks"
    );
    let proof = |q: &str| -> serde_json::Value {
        let (status, body) = get(&format!("http://{http}/v1/proof/{}{q}", one[0]), None);
        assert_eq!(status, 200, "{q}: {body}");
        serde_json::from_str(&body).unwrap()
    };
    let top = proof("");
    assert_eq!(top["height"], 4, "the higher block by default: {top}");
    assert_eq!(top["other_heights"], serde_json::json!([1]), "{top}");
    let low = proof("?height=1");
    assert_eq!(
        (low["height"].as_u64(), low["index"].as_u64()),
        (Some(1), Some(0))
    );
    assert_eq!(low["other_heights"], serde_json::json!([4]), "{low}");
    assert_ne!(low["block_hash"], top["block_hash"]);
    assert_ne!(low["bump"], top["bump"], "each proof is its own block's");
    let (status, body) = get(&format!("http://{http}/v1/proof/{}?height=2", one[0]), None);
    assert_eq!(status, 404, "{body}");
    // Each proof verifies against its own block's header.
    for (a, h) in [(&top, 4usize), (&low, 1)] {
        let bump = torrent_core::proof::bump::Bump::decode(
            &torrent_core::hex::decode(a["bump"].as_str().unwrap()).unwrap(),
        )
        .unwrap();
        let header =
            torrent_core::Header::decode(&torrent_core::hex::decode(&blocks[h].header).unwrap())
                .unwrap();
        assert_eq!(
            bump.compute_root(&one[0]).unwrap(),
            header.merkle_root,
            "block {h}"
        );
    }
    svc.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A database from before run files (its txid index one redb table, which kept a BIP 30
/// txid in one block only): at start it is migrated, then every bundle is indexed again
/// from its txid files, so the lost copy is provable again and the migrated run is gone.
#[test]
fn a_migrated_database_is_indexed_again_from_the_txid_files() {
    use redb::{ReadableTable, TableDefinition};
    let dir = temp("index_migrated");
    let (svc, _, txids) = offloaded_chain(&dir, (6, 5, 32), Some((1, 4)), 3);
    let http = svc.ready["http"].as_str().unwrap().to_string();
    wait_for("both bundles indexed", 120, || {
        metric(&metrics(&http), "torrent_service_index_runs") == Some(2.0)
    });
    svc.stop();
    // The database as the old version left it: every txid once (the last block indexed
    // wins, so block 1's copy of the repeated coinbase is lost), no runs, no levels.
    let data = dir.join("data");
    let db = redb::Database::open(data.join("torrent_service.redb")).unwrap();
    let w = db.begin_write().unwrap();
    {
        let runs: TableDefinition<'_, &str, u64> = TableDefinition::new("index_runs");
        let mut r = w.open_table(runs).unwrap();
        let names: Vec<String> = r
            .iter()
            .unwrap()
            .map(|e| e.unwrap().0.value().to_string())
            .collect();
        for n in names {
            r.remove(n.as_str()).unwrap();
        }
        let old: TableDefinition<'_, &[u8], (u64, u32)> = TableDefinition::new("txids");
        let mut t = w.open_table(old).unwrap();
        for (h, block) in txids.iter().enumerate() {
            for (i, id) in block.iter().enumerate() {
                t.insert(id.to_byte_array().as_slice(), (h as u64, i as u32))
                    .unwrap();
            }
        }
    }
    w.commit().unwrap();
    drop(db);
    std::fs::remove_dir_all(data.join("index")).unwrap();
    std::fs::remove_dir_all(data.join("levels")).unwrap();

    let svc = Service::start_with(&dir, "");
    let http = svc.ready["http"].as_str().unwrap().to_string();
    let coinbase = txids[1][0];
    wait_for("the lost copy indexed again", 120, || {
        let (status, body) = get(&format!("http://{http}/v1/proof/{coinbase}?height=1"), None);
        status == 200 && body.contains("\"other_heights\":[4]")
    });
    let text = metrics(&http);
    assert_eq!(
        metric(&text, "torrent_service_index_runs"),
        Some(2.0),
        "the bundles' runs only"
    );
    assert_eq!(metric(&text, "torrent_service_index_txids"), Some(30.0));
    assert_eq!(
        file_names(&data.join("index")),
        [
            "bsv-regtest-000000000-000000002.run",
            "bsv-regtest-000000003-000000005.run"
        ]
    );
    // Proofs come from the stored levels again.
    let (status, body) = get(&format!("http://{http}/v1/proof/{}", txids[5][3]), None);
    assert_eq!(status, 200, "{body}");
    assert!(metric(&metrics(&http), "torrent_proof_from_levels_total").unwrap() >= 1.0);
}

/// A generated regtest chain of `blocks` blocks of `txs` transactions (block `to` repeating
/// block `from`'s coinbase when `repeat` says so) and a service offloading it in bundles of
/// `bundle_blocks` without seeding or pruning; returns the service, the blocks and their
/// txids.
fn offloaded_chain(
    dir: &std::path::Path,
    (blocks, txs, seed): (u64, u64, u64),
    repeat: Option<(u64, u64)>,
    bundle_blocks: u64,
) -> (Service, Vec<GeneratedBlock>, Vec<Vec<torrent_core::Txid>>) {
    let chain = dir.join("chain");
    let generated = write_chain(
        &ChainSpec {
            blocks,
            txs_per_block: txs,
            block_size: None,
            seed,
            start_time: 1_600_000_000,
            payout: None,
            stake_for: None,
            repeat_coinbase: repeat,
            tx_counts: &[],
        },
        &chain,
        OutputFormat::Raw,
    )
    .unwrap();
    let txids = generated
        .iter()
        .map(|b| {
            let raw = std::fs::read(b.raw.as_ref().unwrap()).unwrap();
            Block::decode(&raw, &BlockLimits::default())
                .unwrap()
                .txids()
        })
        .collect();
    let svc = Service::start_with(
        dir,
        &format!(
            "network = \"regtest\"\nblock_source = \"dir:{}\"\nbundle_blocks = {bundle_blocks}\naging_scan_interval_s = 1\nprune = false\nbittorrent = false\nrate_limit_per_ip = 0\n",
            chain.join("raw").display()
        ),
    );
    (svc, generated, txids)
}

/// The names of the files in `dir`, sorted.
fn file_names(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
