//! What SPV wallets use (issue 19): raw transactions and atomic BEEFs of archived txids over
//! JSON and gRPC, checked by the core and by @bsv/sdk with this service as its chain tracker
//! (`BlockHeadersService`), on real mainnet blocks 170, 277647, 384189 and 413567 and on
//! generated edge-case blocks; the transaction's bytes fetched from the swarm (only the
//! pieces holding them) when the block file is gone; offsets added to a bundle written
//! before they were recorded.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use torrent_core::Txid;
use torrent_core::bsv::beef::Beef;
use torrent_core::bsv::block::{Block, BlockLimits};
use torrent_core::bsv::tx::txid_of;
use torrent_service::proto as pb;
use torrent_tests::chain_gen::{ChainSpec, OutputFormat, write_chain};

use crate::common::{
    Service, bundle_cli, free_port, get, metric, metrics, node, post, temp, vectors, wait_for,
};

/// Status, headers and body of `GET url`.
fn fetch(url: &str) -> (u16, BTreeMap<String, String>, Vec<u8>) {
    let mut r = torrent_tests::support::agent()
        .get(url)
        .call()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let headers = r
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    (
        r.status().as_u16(),
        headers,
        r.body_mut().read_to_vec().unwrap(),
    )
}

/// A block file of the repository's real blocks.
fn real_block(height: u64) -> PathBuf {
    let v = vectors();
    let padded = v.join(format!("block-{height:06}.bin"));
    if padded.exists() {
        padded
    } else {
        v.join(format!("block-{height}.bin"))
    }
}

/// A block's height, raw transactions and txids.
type TestBlock = (u64, Vec<Vec<u8>>, Vec<Txid>);

/// The transactions of each block of a `dir:` source folder.
fn blocks_of(src: &Path) -> Vec<TestBlock> {
    let mut out: Vec<_> = std::fs::read_dir(src)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let height: u64 = path.file_stem().unwrap().to_str().unwrap().parse().unwrap();
            let b = Block::decode(&std::fs::read(&path).unwrap(), &BlockLimits::default()).unwrap();
            let raws = b.txs.iter().map(|t| t.encode()).collect();
            (height, raws, b.txids())
        })
        .collect();
    out.sort_by_key(|b| b.0);
    out
}

/// Every transaction of `blocks` from the service at `http`: raw (bin and hex) and BEEF,
/// each checked by the core; returns the items for spv.mjs.
fn fetch_all(http: &str, blocks: &[TestBlock]) -> Vec<Value> {
    let mut items = Vec::new();
    for (height, raws, txids) in blocks {
        for (i, (raw, txid)) in raws.iter().zip(txids).enumerate() {
            let (status, h, body) = fetch(&format!("http://{http}/v1/tx/{txid}"));
            assert_eq!(status, 200, "{txid}: {}", String::from_utf8_lossy(&body));
            assert_eq!(&body, raw, "raw tx {txid}");
            assert_eq!(txid_of(&body), *txid);
            assert_eq!(h["content-type"], "application/octet-stream");
            assert_eq!(h["x-block-height"], height.to_string());
            assert_eq!(h["x-tx-index"], i.to_string());
            let (status, _, beef) = fetch(&format!("http://{http}/v1/tx/{txid}/beef"));
            assert_eq!(status, 200, "{}", String::from_utf8_lossy(&beef));
            let parsed = Beef::decode(&beef).unwrap();
            let subject = parsed.subject_tx().unwrap();
            assert_eq!(subject.txid, *txid);
            assert_eq!(subject.raw.as_ref(), Some(raw));
            let bump = &parsed.bumps[subject.bump.unwrap()];
            assert_eq!(bump.block_height(), *height);
            items.push(serde_json::json!({
                "txid": txid.to_string(),
                "beef": torrent_core::hex::encode(&beef),
                "raw": torrent_core::hex::encode(raw),
                "height": height,
                "coinbase": i == 0,
            }));
        }
    }
    items
}

/// Writes a regtest chain whose block `h` has `counts[h]` transactions under `dir/chain`;
/// returns what was generated.
fn counted_chain(
    dir: &Path,
    counts: &'static [u64],
    seed: u64,
) -> Vec<torrent_tests::chain_gen::GeneratedBlock> {
    write_chain(
        &ChainSpec {
            blocks: counts.len() as u64,
            txs_per_block: 1,
            block_size: None,
            seed,
            start_time: 1_500_000_000,
            payout: None,
            stake_for: None,
            repeat_coinbase: None,
            tx_counts: counts,
        },
        &dir.join("chain"),
        OutputFormat::Raw,
    )
    .unwrap()
}

/// Waits until the service at `http` proves the last transaction of every block.
fn wait_indexed(http: &str, blocks: &[TestBlock]) {
    wait_for("every block indexed", 60, || {
        blocks.iter().all(|(_, _, txids)| {
            get(
                &format!("http://{http}/v1/proof/{}", txids.last().unwrap()),
                None,
            )
            .0 == 200
        })
    });
}

/// @bsv/sdk verifies every item against the service at `http` as its chain tracker; returns
/// its report after checking that everything verified and every changed BEEF failed.
fn sdk_verifies(http: &str, items: Vec<Value>) -> Value {
    let n = items.len();
    let r = node(
        "spv.mjs",
        &[serde_json::json!({"tracker": format!("http://{http}"), "items": items})],
    )
    .remove(0);
    assert_eq!(r["failures"], serde_json::json!([]), "{r}");
    assert_eq!(r["checked"], n);
    assert_eq!(r["verified"], n);
    assert_eq!(r["tampered"], 2 * n);
    assert_eq!(r["tampered_rejected"], 2 * n);
    r
}

/// Runs the JavaScript of README's wallet section (after `<!-- wallet-example -->`) with
/// Node against the service at `http` for `txid`; returns what it printed.
fn readme_wallet_example(http: &str, txid: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let code = readme
        .split("<!-- wallet-example -->\n```js\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .expect("README has the wallet example");
    assert!(code.lines().count() <= 10, "ten lines at most:\n{code}");
    // Beside tests/interop/node_modules, where Node finds @bsv/sdk.
    let script = root.join(format!(
        "tests/interop/readme-wallet-{}.mjs",
        std::process::id()
    ));
    std::fs::write(&script, code).unwrap();
    let out = std::process::Command::new("node")
        .arg(&script)
        .arg(txid)
        .env("TORRENT_SERVICE", format!("http://{http}"))
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&script);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn real_transactions_come_raw_and_as_atomic_beef_that_the_sdk_verifies_against_us() {
    let dir = temp("spv_real");
    let src = dir.join("src");
    std::fs::create_dir_all(&src).unwrap();
    for h in [170u64, 277_647, 384_189, 413_567] {
        std::fs::copy(real_block(h), src.join(format!("{h}.bin"))).unwrap();
    }
    let blocks = blocks_of(&src);
    let svc = Service::start_with(
        &dir,
        &format!(
            "block_source = \"dir:{}\"\nbundle_blocks = 1\naging_scan_interval_s = 1\nprune = false\nbittorrent = false\nrate_limit_per_ip = 0\n",
            src.display()
        ),
    );
    let http = svc.ready["http"].as_str().unwrap().to_string();
    let last = blocks[3].2.last().unwrap().to_string();
    wait_indexed(&http, &blocks);
    let items = fetch_all(&http, &blocks);
    assert_eq!(items.len(), 2 + blocks[1].2.len() + 564 + 1557);
    let r = sdk_verifies(&http, items);
    assert_eq!(r["coinbases"], 4);
    // The stock MerklePath.verify of @bsv/sdk 2.1.0 refuses a coinbase more than 100 blocks
    // below the tip (413567): 170, 277647 and 384189; README says so for wallet developers.
    assert_eq!(r["stock_coinbase_refused"], 3);

    // The README's wallet example, run as it is written there.
    let first_payment = blocks[0].2[1].to_string();
    assert_eq!(
        readme_wallet_example(&http, &first_payment),
        format!("{first_payment} verified")
    );

    // Hex, gRPC, and the same bytes everywhere.
    let (status, h, hex) = fetch(&format!("http://{http}/v1/tx/{last}?format=hex"));
    assert_eq!(
        (status, h["content-type"].as_str()),
        (200, "text/plain; charset=utf-8")
    );
    assert_eq!(
        torrent_core::hex::decode(std::str::from_utf8(&hex).unwrap()).unwrap(),
        *blocks[3].1.last().unwrap()
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let grpc = format!("http://{}", svc.ready["grpc"].as_str().unwrap());
    let mut client = rt
        .block_on(pb::proof_service_client::ProofServiceClient::connect(grpc))
        .unwrap();
    for (height, raws, txids) in &blocks {
        for i in [0, txids.len() - 1] {
            let req = pb::GetTransactionRequest {
                txid: txids[i].to_string(),
                height: None,
            };
            let t = rt
                .block_on(client.get_transaction(req.clone()))
                .unwrap()
                .into_inner();
            assert_eq!(
                (t.raw_tx.as_slice(), t.height, t.index),
                (raws[i].as_slice(), *height, i as u64)
            );
            let b = rt.block_on(client.get_beef(req)).unwrap().into_inner();
            let (_, _, json) = fetch(&format!("http://{http}/v1/tx/{}/beef", txids[i]));
            assert_eq!(b.beef, json, "one BEEF over both transports");
        }
    }

    // The chain tracker's routes, as the Block Headers Service answers them.
    let tip = crate::common::get_json(&format!("http://{http}/api/v1/chain/tip/longest"), None);
    assert_eq!(tip["height"], 413_567);
    assert_eq!(tip["state"], "LONGEST_CHAIN");
    let header = crate::common::block(413_567).header;
    assert_eq!(tip["header"]["hash"], header.block_hash().to_string());
    assert_eq!(tip["header"]["merkleRoot"], header.merkle_root.to_string());
    let verify = |body: Value| {
        let (status, text) = post(
            &format!("http://{http}/api/v1/chain/merkleroot/verify"),
            Some(&body),
            None,
        );
        (
            status,
            serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text)),
        )
    };
    let root = header.merkle_root.to_string();
    let other = crate::common::block(384_189).header.merkle_root.to_string();
    let (status, v) = verify(serde_json::json!([{"blockHeight": 413_567, "merkleRoot": root}]));
    assert_eq!(
        (status, v["confirmationState"].as_str()),
        (200, Some("CONFIRMED")),
        "{v}"
    );
    assert_eq!(
        v["confirmations"][0]["blockHash"],
        header.block_hash().to_string()
    );
    // A true root at another height, and a height this archive does not hold.
    let (_, v) = verify(serde_json::json!([{"blockHeight": 413_567, "merkleRoot": other}]));
    assert_eq!(v["confirmationState"], "INVALID");
    let (_, v) = verify(serde_json::json!([
        {"blockHeight": 413_567, "merkleRoot": root},
        {"blockHeight": 413_568, "merkleRoot": root}
    ]));
    assert_eq!(v["confirmationState"], "UNABLE_TO_VERIFY");
    assert_eq!(v["confirmations"][0]["confirmation"], "CONFIRMED");
    for bad in [
        serde_json::json!([]),
        serde_json::json!({"blockHeight": 1}),
        serde_json::json!("x"),
    ] {
        let (status, v) = verify(bad);
        assert_eq!(status, 400, "{v}");
        assert_eq!(v["code"], "ErrVerifyMerklerootsBadBody");
    }

    // Bad requests: one clear JSON error each, and the service goes on serving.
    let unknown = "00".repeat(32);
    for (path, want) in [
        (format!("/v1/tx/{unknown}"), 404),
        (format!("/v1/tx/{unknown}/beef"), 404),
        (format!("/v1/tx/%20{last}"), 400),
        (format!("/v1/tx/{last}%0A"), 400),
        (format!("/v1/proof/%20{last}"), 400),
        (format!("/v1/tx/{last}?format=json"), 400),
        (format!("/v1/tx/{last}?height=12"), 404),
        ("/v1/tx/abc".to_string(), 400),
        ("/v1/proof/".to_string(), 400),
        ("/v1/tx/".to_string(), 400),
    ] {
        let (status, h, body) = fetch(&format!("http://{http}{path}"));
        assert_eq!(status, want, "{path}: {}", String::from_utf8_lossy(&body));
        assert!(h["content-type"].starts_with("application/json"), "{path}");
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert!(
            v["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{path}: {v}"
        );
    }
    assert_eq!(fetch(&format!("http://{http}/v1/tx/{last}")).0, 200);
    let text = metrics(&http);
    assert!(
        metric(
            &text,
            "torrent_proof_requests_total{method=\"json_beef\",outcome=\"ok\"}"
        )
        .is_some_and(|n| n >= 2123.0),
        "{text}"
    );
    svc.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Blocks where other implementations failed: a coinbase-only block, odd counts (the last
/// transaction pairs with itself, go-bc#89), and counts around powers of two; every txid of
/// each comes as raw tx, BUMP, TSC and BEEF, checked by the core and by @bsv/sdk.
#[test]
fn edge_case_blocks_prove_every_transaction_in_every_format() {
    const COUNTS: &[u64] = &[
        1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 1,
    ];
    let dir = temp("spv_edges");
    counted_chain(&dir, COUNTS, 19);
    let src = dir.join("chain/raw");
    let blocks = blocks_of(&src);
    for ((_, _, txids), n) in blocks.iter().zip(COUNTS) {
        assert_eq!(txids.len() as u64, *n);
    }
    let svc = Service::start_with(
        &dir,
        &format!(
            "network = \"regtest\"\nblock_source = \"dir:{}\"\nbundle_blocks = 4\naging_scan_interval_s = 1\nprune = false\nbittorrent = false\nrate_limit_per_ip = 0\n",
            src.display()
        ),
    );
    let http = svc.ready["http"].as_str().unwrap().to_string();
    // Bundles of 4 blocks: the last complete one ends at height 19 (20 stays in the source).
    let held: Vec<_> = blocks.iter().filter(|b| b.0 < 20).cloned().collect();
    wait_indexed(&http, &held);
    let mut sdk_bumps = Vec::new();
    for (height, _, txids) in &held {
        let header = torrent_core::Header::decode(
            &torrent_core::hex::decode(
                crate::common::get_json(&format!("http://{http}/v1/headers?from={height}"), None)
                    [0]["header"]
                    .as_str()
                    .unwrap(),
            )
            .unwrap(),
        )
        .unwrap();
        let n = txids.len() as u64;
        for (i, txid) in txids.iter().enumerate() {
            let v = crate::common::get_json(&format!("http://{http}/v1/proof/{txid}"), None);
            let bump = torrent_core::hex::decode(v["bump"].as_str().unwrap()).unwrap();
            crate::common::check(
                *height,
                &header,
                n,
                i as u64,
                txid,
                &bump,
                &v["tsc"].to_string(),
            );
            sdk_bumps.push(serde_json::json!({
                "txid": txid.to_string(),
                "bump": v["bump"],
                "merkle_root": header.merkle_root.to_string(),
            }));
        }
    }
    let r = &node("merklepath.mjs", &[Value::from(sdk_bumps.clone())])[0];
    assert_eq!(r["checked"], sdk_bumps.len());
    assert_eq!(r["mismatches"], serde_json::json!([]), "@bsv/sdk disagrees");
    let items = fetch_all(&http, &held);
    let total: u64 = COUNTS[..20].iter().sum();
    assert_eq!(items.len() as u64, total);
    let r = sdk_verifies(&http, items);
    assert_eq!(r["coinbases"], 20);
    svc.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A block file gone from the bundle store: its transaction comes from a seeder of another
/// miner's copy (libtorrent, announcing to our tracker), as only the pieces that hold it,
/// checked against the txid; the block file is not fetched. A bundle written before offsets
/// were recorded gets them from its block files at the next start.
#[test]
fn a_transaction_of_a_missing_block_file_comes_from_the_swarm_as_its_pieces_only() {
    let dir = temp("spv_swarm");
    let ports = (free_port(), free_port(), free_port(), free_port());
    let svc = crate::proofs::start(&dir, ports);
    let src = dir.join("src");
    let blocks = blocks_of(&src);
    svc.stop();
    let name = "bsv-mainnet-000413567-000413567";
    let data = dir.join("data");
    let other = dir.join("other");
    bundle_cli(
        &src,
        &other,
        (413_567, 413_567),
        &["--piece-size", "262144"],
    );
    // The block file of 413567 is gone (pruned bundle data); 384189's offsets are gone (a
    // bundle written by an older version).
    let blocks_dir = data.join("bundles").join(name).join("blocks");
    let block_file = std::fs::read_dir(&blocks_dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::remove_file(&block_file).unwrap();
    let old = data.join("offsets/bsv-mainnet-000384189-000384189.offsets");
    std::fs::remove_file(&old).unwrap();

    let svc = Service::start_with(&dir, "");
    let http = svc.ready["http"].as_str().unwrap().to_string();
    wait_for("offsets added to the older bundle", 30, || old.exists());
    let (_lt, _out, ready) = crate::common::lt_seed(
        other.join(format!("{name}.torrent")).to_str().unwrap(),
        &other,
        &format!("http://127.0.0.1:{}/announce", ports.0),
    );
    assert_eq!(ready["seeding"], true);
    let (_, raws, txids) = &blocks[1];
    // The tracker lists the seeder once it has announced.
    let mut got = None;
    wait_for("a transaction of 413567 from the swarm", 60, || {
        let r = fetch(&format!("http://{http}/v1/tx/{}", txids[700]));
        let ok = r.0 == 200;
        got = Some(r);
        ok
    });
    let (_, h, body) = got.unwrap();
    assert_eq!(&body, &raws[700]);
    assert_eq!(h["x-source"], "swarm");
    // Asked again: from the cache, not fetched again.
    let (_, h, _) = fetch(&format!("http://{http}/v1/tx/{}", txids[700]));
    assert_eq!(h["x-source"], "cache");
    // Its BEEF, and another transaction, each fetched as the pieces that hold it.
    let (status, _, beef) = fetch(&format!("http://{http}/v1/tx/{}/beef", txids[1500]));
    assert_eq!(status, 200);
    assert_eq!(
        Beef::decode(&beef)
            .unwrap()
            .subject_tx()
            .unwrap()
            .raw
            .as_ref(),
        Some(&raws[1500])
    );
    // The block file here (left by the seeding session's failed check, all zeros where the
    // block was) neither served them nor was rewritten: only pieces travelled.
    let here = std::fs::read(&block_file).unwrap_or_default();
    assert!(
        !here
            .windows(raws[700].len())
            .any(|w| w == raws[700].as_slice())
    );
    let text = metrics(&http);
    assert_eq!(
        metric(&text, "torrent_tx_swarm_fetches_total"),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        metric(&text, "torrent_proof_swarm_fetches_total"),
        Some(0.0),
        "{text}"
    );
    // The whole block over SV Node's REST route: fetched from the swarm, checked against
    // its header, streamed.
    let block_hash = crate::common::block(413_567).header.block_hash();
    let (status, h, body) = fetch(&format!("http://{http}/rest/block/{block_hash}.bin"));
    assert_eq!(
        status,
        200,
        "{}",
        String::from_utf8_lossy(&body[..body.len().min(200)])
    );
    assert_eq!(h["content-type"], "application/octet-stream");
    assert_eq!(body, std::fs::read(real_block(413_567)).unwrap());
    // 384189 from its block file, at the offsets the migration recorded.
    let (_, raws, txids) = &blocks[0];
    for i in [0, 1, 300, 563] {
        let (status, h, body) = fetch(&format!("http://{http}/v1/tx/{}", txids[i]));
        assert_eq!((status, h["x-source"].as_str()), (200, "local"));
        assert_eq!(&body, &raws[i]);
    }
    svc.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// SV Node's REST interface both ways: an archive answers the routes in SV Node's shapes,
/// and a second instance with `block_source = "rest:URL"` offloads from it the very same
/// torrents (same names, same info-hashes).
#[test]
fn an_archive_answers_sv_node_rest_and_another_instance_offloads_from_it() {
    const COUNTS: &[u64] = &[1, 3, 4, 2, 5, 9, 1, 7];
    let dir = temp("spv_rest");
    let generated = counted_chain(&dir.join("a"), COUNTS, 7);
    let chain = dir.join("a/chain");
    let cfg = "network = \"regtest\"\nbundle_blocks = 4\naging_scan_interval_s = 1\nprune = false\nbittorrent = false\nrate_limit_per_ip = 0\n";
    let a = Service::start_with(
        &dir.join("a"),
        &format!(
            "block_source = \"dir:{}\"\n{cfg}",
            chain.join("raw").display()
        ),
    );
    let a_http = a.ready["http"].as_str().unwrap().to_string();
    let names = |http: &str| -> BTreeMap<String, String> {
        crate::common::bundles(http)
            .into_iter()
            .map(|b| {
                (
                    b["name"].as_str().unwrap().to_string(),
                    b["infohash_v1"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    };
    wait_for("both bundles indexed", 60, || {
        crate::common::get(
            &format!("http://{a_http}/rest/blockhashbyheight/7.hex"),
            None,
        )
        .0 == 200
    });
    let url = |p: &str| format!("http://{a_http}{p}");
    let hash = |i: usize| generated[i].hash.to_string();

    // chaininfo.json: SV Node's keys, the archive's tip.
    let (status, h, body) = fetch(&url("/rest/chaininfo.json"));
    assert_eq!(
        (status, h["content-type"].as_str()),
        (200, "application/json")
    );
    let info: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(info["chain"], "regtest");
    assert_eq!(info["blocks"], 7);
    assert_eq!(info["bestblockhash"], hash(7));
    assert_eq!(info["chainwork"].as_str().unwrap().len(), 64);
    for key in [
        "headers",
        "difficulty",
        "mediantime",
        "verificationprogress",
        "pruned",
        "softforks",
    ] {
        assert!(info.get(key).is_some(), "chaininfo.json has {key}: {info}");
    }
    // Headers from a hash, ascending, as many as asked and held.
    let headers = |n: usize| -> Vec<u8> {
        (0..n)
            .flat_map(|i| torrent_core::hex::decode(&generated[i].header).unwrap())
            .collect()
    };
    let (status, _, body) = fetch(&url(&format!("/rest/headers/5/{}.bin", hash(0))));
    assert_eq!((status, body), (200, headers(5)));
    let (_, _, body) = fetch(&url(&format!("/rest/headers/2000/{}.bin", hash(0))));
    assert_eq!(body, headers(8));
    let (_, _, body) = fetch(&url(&format!("/rest/headers/1/{}.hex", hash(0))));
    assert_eq!(
        String::from_utf8(body).unwrap(),
        format!("{}\n", generated[0].header)
    );
    // Blocks and transactions, byte for byte.
    for (i, g) in generated.iter().enumerate() {
        let raw = std::fs::read(g.raw.as_ref().unwrap()).unwrap();
        let (status, h, body) = fetch(&url(&format!("/rest/block/{}.bin", hash(i))));
        assert_eq!(
            (status, h["content-length"].clone()),
            (200, raw.len().to_string())
        );
        assert_eq!(body, raw);
        let block = Block::decode(&raw, &BlockLimits::default()).unwrap();
        let last = block.txs.last().unwrap();
        let (status, _, body) = fetch(&url(&format!("/rest/tx/{}.bin", last.txid())));
        assert_eq!((status, body), (200, last.encode()));
    }
    // SV Node's errors: text/plain, the message, CRLF.
    let unknown = "11".repeat(32);
    for (path, want, text) in [
        (
            format!("/rest/block/{unknown}.bin"),
            404,
            format!("{unknown} not found\r\n"),
        ),
        (
            format!("/rest/tx/{unknown}.bin"),
            404,
            format!("{unknown} not found\r\n"),
        ),
        (
            format!("/rest/headers/5/{unknown}.bin"),
            400,
            format!("Block not found: {unknown}\r\n"),
        ),
        (
            format!("/rest/headers/2001/{}.bin", hash(0)),
            400,
            "Header count out of range: 2001\r\n".into(),
        ),
        (
            "/rest/block/xyz.bin".into(),
            400,
            "Invalid hash: xyz\r\n".into(),
        ),
        (
            format!("/rest/block/{}.json", hash(0)),
            404,
            "output format not found (available: .bin, .hex)\r\n".into(),
        ),
        (
            "/rest/blockhashbyheight/99.hex".into(),
            404,
            "Block height out of range\r\n".into(),
        ),
    ] {
        let (status, h, body) = fetch(&url(&path));
        assert_eq!(
            (status, String::from_utf8_lossy(&body).into_owned()),
            (want, text),
            "{path}"
        );
        assert_eq!(h["content-type"], "text/plain", "{path}");
    }

    // Another instance offloads from A's REST interface: the same torrents.
    std::fs::create_dir_all(dir.join("b")).unwrap();
    let b = Service::start_with(
        &dir.join("b"),
        &format!("block_source = \"rest:http://{a_http}\"\n{cfg}"),
    );
    let b_http = b.ready["http"].as_str().unwrap().to_string();
    wait_for("B's two bundles", 60, || {
        names(&b_http).len() == 2 && names(&b_http).values().all(|ih| !ih.is_empty())
    });
    assert_eq!(names(&b_http), names(&a_http));
    let raw = std::fs::read(generated[6].raw.as_ref().unwrap()).unwrap();
    let txid = Block::decode(&raw, &BlockLimits::default())
        .unwrap()
        .txids()[0];
    wait_for("B proves a transaction it read over REST", 60, || {
        get(&format!("http://{b_http}/v1/proof/{txid}"), None).0 == 200
    });
    b.stop();
    a.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// The REST source against SV Node's documented answers, replayed by a small server: the
/// chain walked from the network's genesis (SV Node has no height route), headers in pages,
/// blocks with their `Content-Length`; the bundles are those the `bundle` command makes of
/// the same blocks from a folder.
#[test]
fn the_rest_source_reads_an_sv_node_and_makes_the_same_bundles() {
    let dir = temp("spv_svnode");
    let src = dir.join("src");
    crate::common::block_dir(&src);
    let (node, svc, http) = offloading_from_sv_node(&dir, &src);
    wait_for("four bundles from the SV Node", 120, || {
        let b = crate::common::bundles(&http);
        b.len() == 4
            && b.iter()
                .all(|b| b["infohash_v1"].as_str().is_some_and(|s| !s.is_empty()))
    });
    let out = dir.join("cli");
    let cli = bundle_cli(&src, &out, (64, 127), &[]);
    let ours = crate::common::bundles_by_name(&http);
    let name = cli["name"].as_str().unwrap();
    assert_eq!(ours[name]["infohash_v1"], cli["infohash_v1"], "{ours:?}");
    assert!(node.requests() > 256, "every block was read over REST");
    svc.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A REST server whose chain ends with a header without its work (block 255's nonce
/// changed: its parent link intact, and no child to break): the walk refuses it, nothing is
/// offloaded, and the operator is told (`block_source_unavailable`).
#[test]
fn the_rest_source_refuses_headers_without_their_work() {
    let dir = temp("spv_svnode_bad");
    let src = dir.join("src");
    crate::common::block_dir(&src);
    let mut last = std::fs::read(src.join("255.bin")).unwrap();
    last[76] ^= 1;
    std::fs::write(src.join("255.bin"), &last).unwrap();
    let (_node, svc, http) = offloading_from_sv_node(&dir, &src);
    wait_for("the source refused and alerted", 30, || {
        metric(
            &metrics(&http),
            "torrent_service_alerts_total{kind=\"block_source_unavailable\"}",
        )
        .is_some_and(|n| n >= 1.0)
    });
    assert!(crate::common::bundles(&http).is_empty());
    svc.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A stand-in SV Node over the blocks in `src`, and a service in `dir` offloading from its
/// REST port in bundles of 64.
fn offloading_from_sv_node(dir: &Path, src: &Path) -> (SvNode, Service, String) {
    let node = SvNode::start(src);
    let svc = Service::start_with(
        dir,
        &format!(
            "block_source = \"rest:http://{}\"\nbundle_blocks = 64\naging_scan_interval_s = 1\nprune = false\nbittorrent = false\nrate_limit_per_ip = 0\n",
            node.addr
        ),
    );
    let http = svc.ready["http"].as_str().unwrap().to_string();
    (node, svc, http)
}

/// A stand-in for SV Node's REST port (its `-rest` routes as `src/rest.cpp` answers them) over
/// a folder of mainnet blocks `0.bin` ..: `chaininfo.json`, `headers/<n>/<hash>.bin`,
/// `block/<hash>.bin` with `Content-Length`; anything else 404 with an empty body (SV Node
/// has no `blockhashbyheight`).
struct SvNode {
    addr: std::net::SocketAddr,
    served: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl SvNode {
    fn start(src: &Path) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut blocks: Vec<(String, Vec<u8>)> = Vec::new();
        for h in 0.. {
            let Ok(raw) = std::fs::read(src.join(format!("{h}.bin"))) else {
                break;
            };
            let hash = torrent_core::Header::decode(&raw[..80])
                .unwrap()
                .block_hash()
                .to_string();
            blocks.push((hash, raw));
        }
        let blocks = std::sync::Arc::new(blocks);
        let served = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let count = std::sync::Arc::clone(&served);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (blocks, count) = (
                    std::sync::Arc::clone(&blocks),
                    std::sync::Arc::clone(&count),
                );
                std::thread::spawn(move || serve_sv(stream, &blocks, &count));
            }
        });
        Self { addr, served }
    }

    fn requests(&self) -> u64 {
        self.served.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Answers one connection's requests as SV Node's REST does.
fn serve_sv(
    stream: std::net::TcpStream,
    blocks: &[(String, Vec<u8>)],
    count: &std::sync::atomic::AtomicU64,
) {
    use std::io::{BufRead, Write};
    let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
    let mut out = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                break;
            }
        }
        count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = line.split(' ').nth(1).unwrap_or("").to_string();
        let at = |hash: &str| blocks.iter().position(|(h, _)| h == hash);
        let (status, ctype, body): (&str, &str, Vec<u8>) = if path == "/rest/chaininfo.json" {
            let tip = blocks.len() - 1;
            let json = serde_json::json!({
                "chain": "main", "blocks": tip, "headers": tip, "bestblockhash": blocks[tip].0,
                "difficulty": 1.0, "mediantime": 1_231_731_025, "verificationprogress": 1.0,
                "chainwork": format!("{:064x}", (tip as u64 + 1) << 32), "pruned": false,
                "softforks": [{"id": "bip34", "version": 2, "reject": {"status": false}}],
            });
            (
                "200 OK",
                "application/json",
                format!("{json}\n").into_bytes(),
            )
        } else if let Some(rest) = path.strip_prefix("/rest/headers/") {
            let (n, file) = rest.split_once('/').unwrap_or(("", ""));
            let hash = file.trim_end_matches(".bin");
            match (n.parse::<usize>(), at(hash)) {
                (Ok(n), Some(i)) if (1..=2000).contains(&n) => {
                    let body = blocks[i..]
                        .iter()
                        .take(n)
                        .flat_map(|(_, b)| b[..80].to_vec())
                        .collect();
                    ("200 OK", "application/octet-stream", body)
                }
                (Ok(_), None) => (
                    "400 Bad Request",
                    "text/plain",
                    format!("Block not found: {hash}\r\n").into_bytes(),
                ),
                _ => (
                    "400 Bad Request",
                    "text/plain",
                    format!("Header count out of range: {n}\r\n").into_bytes(),
                ),
            }
        } else if let Some(file) = path.strip_prefix("/rest/block/") {
            let hash = file.trim_end_matches(".bin");
            match at(hash) {
                Some(i) => ("200 OK", "application/octet-stream", blocks[i].1.clone()),
                None => (
                    "404 Not Found",
                    "text/plain",
                    format!("{hash} not found\r\n").into_bytes(),
                ),
            }
        } else {
            ("404 Not Found", "text/plain", Vec::new())
        };
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        if out
            .write_all(head.as_bytes())
            .and_then(|()| out.write_all(&body))
            .is_err()
        {
            return;
        }
    }
}
