//! Our signed P2PKH payout transactions against an independent implementation: @bsv/sdk's
//! script interpreter accepts them with their source transactions, and refuses them when one
//! satoshi of an output changes (the signature commits to every output).

use serde_json::{Value, json};
use torrent_core::Satoshis;
use torrent_core::bsv::p2pkh::{Utxo, build_p2pkh};
use torrent_core::bsv::tx::{OutPoint, Transaction, TxIn, TxOut};
use torrent_tests::test_key;

/// Sends each request to @bsv/sdk (tests/interop/txverify.mjs) and returns its replies.
fn sdk(requests: &[Value]) -> Vec<Value> {
    torrent_tests::support::node("txverify.mjs", requests).unwrap()
}

#[test]
fn sdk_accepts_our_payouts_and_refuses_a_changed_satoshi() {
    let wallet = test_key(1);
    let wallet_script = wallet.address().script_pubkey();
    // Funding: a transaction paying the wallet three outputs.
    let funding = Transaction {
        version: 1,
        inputs: vec![TxIn {
            prevout: OutPoint {
                txid: torrent_core::Txid::from_byte_array([7; 32]),
                vout: 0,
            },
            script_sig: vec![0x51],
            sequence: 0xffff_ffff,
        }],
        outputs: [50_000u64, 30_000, 1_000]
            .iter()
            .map(|v| TxOut {
                value: Satoshis(*v),
                script_pubkey: wallet_script.clone(),
            })
            .collect(),
        lock_time: 0,
    };
    let utxos: Vec<Utxo> = (0..3)
        .map(|vout| Utxo {
            outpoint: OutPoint {
                txid: funding.txid(),
                vout,
            },
            value: funding.outputs[vout as usize].value,
            script_pubkey: wallet_script.clone(),
        })
        .collect();
    // A batched payout: three seeders, change back to the wallet.
    let seeders: Vec<TxOut> = (10..13)
        .map(|i| TxOut {
            value: Satoshis(10_000 + u64::from(i)),
            script_pubkey: test_key(i).address().script_pubkey(),
        })
        .collect();
    let tx = build_p2pkh(&wallet, &utxos, &seeders, &wallet_script, 500, Satoshis(1)).unwrap();
    assert_eq!(tx.inputs.len(), 3);
    assert_eq!(tx.outputs.len(), 4, "three payouts and change");
    let out_total: u64 = tx.outputs.iter().map(|o| o.value.to_sat()).sum();
    let fee = 81_000 - out_total;
    let size = tx.encode().len() as u64;
    assert!(
        fee >= size.div_ceil(2) && fee <= (size + 3 * 2).div_ceil(2),
        "fee {fee} for {size} bytes at 500 sat/kB"
    );
    // Deterministic (RFC 6979): building twice gives the same bytes.
    assert_eq!(
        build_p2pkh(&wallet, &utxos, &seeders, &wallet_script, 500, Satoshis(1)).unwrap(),
        tx
    );
    let src = torrent_core::hex::encode(&funding.encode());
    let sources = vec![src.clone(), src.clone(), src];
    let mut tampered = tx.clone();
    tampered.outputs[1].value = Satoshis(tampered.outputs[1].value.to_sat() + 1);
    let mut other_key = tx.clone();
    torrent_core::bsv::p2pkh::sign_all(&test_key(99), &mut other_key, &utxos).unwrap();
    let replies = sdk(&[
        json!({"raw_tx": torrent_core::hex::encode(&tx.encode()), "sources": sources}),
        json!({"raw_tx": torrent_core::hex::encode(&tampered.encode()), "sources": sources}),
        json!({"raw_tx": torrent_core::hex::encode(&other_key.encode()), "sources": sources}),
    ]);
    assert_eq!(replies[0]["valid"], true, "{}", replies[0]);
    // The changed satoshi breaks the signature (CHECKSIG leaves false); another key fails
    // the locking script's pubkey hash.
    assert_eq!(replies[1]["valid"], false);
    assert!(
        replies[1]["error"]
            .as_str()
            .unwrap()
            .contains("must be truthy"),
        "{}",
        replies[1]
    );
    assert_eq!(replies[2]["valid"], false);
    assert!(
        replies[2]["error"]
            .as_str()
            .unwrap()
            .contains("OP_EQUALVERIFY"),
        "{}",
        replies[2]
    );
    // Not enough money is a clear error, not a transaction.
    let err = build_p2pkh(
        &wallet,
        &utxos[2..],
        &seeders,
        &wallet_script,
        500,
        Satoshis(1),
    )
    .unwrap_err();
    assert!(err.to_string().contains("inputs hold 1000 sat"), "{err}");
}
