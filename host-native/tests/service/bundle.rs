//! Bundles end to end through the binary: determinism, real blocks, real tools (libtorrent,
//! Transmission, mktorrent), bad input and killed runs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use torrent_core::Network;
use torrent_core::bsv::block::{Block, BlockLimits};
use torrent_tests::{blk_blocks_1_to_255, read_vector};

use crate::common::{bin, temp};

fn run(args: &[&str]) -> Output {
    bin().args(args).env("RUST_LOG", "warn").output().unwrap()
}

fn ok_json(args: &[&str]) -> Value {
    let out = run(args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Genesis plus blocks 1..=255 as raw files named by height.
fn dir_0_255(dir: &Path) -> Vec<Vec<u8>> {
    let mut blocks = vec![read_vector("block-000000-genesis.bin").unwrap()];
    blocks.extend(blk_blocks_1_to_255().unwrap());
    for (h, b) in blocks.iter().enumerate() {
        std::fs::write(dir.join(format!("{h:09}.bin")), b).unwrap();
    }
    blocks
}

/// The same blocks as one blk file, frames in a shuffled order.
fn blk_shuffled(path: &Path, blocks: &[Vec<u8>]) {
    let mut order: Vec<usize> = (0..blocks.len()).collect();
    // A fixed permutation: reverse pairs and rotate, no RNG needed.
    order.reverse();
    order.rotate_left(77);
    let mut out = Vec::new();
    for i in order {
        out.extend_from_slice(&Network::Mainnet.disk_magic());
        out.extend_from_slice(&(blocks[i].len() as u32).to_le_bytes());
        out.extend_from_slice(&blocks[i]);
    }
    std::fs::write(path, out).unwrap();
}

fn lt(args: &[&str]) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/interop/lt.py");
    let out = Command::new("/usr/bin/python3")
        .arg(script)
        .args(args)
        .output()
        .expect("python3-libtorrent is installed by tests/run_tests.sh");
    assert!(
        out.status.success(),
        "lt.py {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn torrents(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "torrent"))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

/// Blocks 0–255 as raw files named by height (`dir:` source) and as one blk file in a
/// shuffled order (`blk:` source), in `temp(name)`: the folder, the blocks, and both
/// sources.
fn source_0_255(name: &str) -> (PathBuf, Vec<Vec<u8>>, String, String) {
    let src = temp(name);
    let blocks = dir_0_255(&src);
    let blk = src.join("shuffled").join("blk00000.dat");
    std::fs::create_dir_all(blk.parent().unwrap()).unwrap();
    blk_shuffled(&blk, &blocks);
    let dir_src = format!("dir:{}", s(&src));
    let blk_src = format!("blk:{}", s(&blk));
    (src, blocks, dir_src, blk_src)
}

/// `bundle` of blocks 0–255 from `source` into `out` in `format`: the complete ranges of
/// 100 (its `--json`), then the tail 200..=255, which is not a complete range of 100,
/// explicitly.
fn bundle_0_255(source: &str, out: &Path, format: &str) -> Value {
    let j = ok_json(&[
        "bundle",
        "--source",
        source,
        "--out",
        s(out),
        "--bundle-blocks",
        "100",
        "--format",
        format,
        "--json",
    ]);
    let tail = ok_json(&[
        "bundle",
        "--source",
        source,
        "--out",
        s(out),
        "--first",
        "200",
        "--last",
        "255",
        "--format",
        format,
        "--json",
    ]);
    assert_eq!(tail["name"], "bsv-mainnet-000000200-000000255");
    assert_eq!(tail["files"].as_array().unwrap().len(), 112);
    assert_eq!(tail["infohash_v2"].is_string(), format == "hybrid");
    j
}

/// Two runs from a `dir:` source into two folders and one from a shuffled blk file make
/// the same bundles (names, torrents byte for byte, info hashes and magnets in `--json`),
/// in v1 and hybrid format.
#[test]
fn bundles_of_blocks_0_to_255_are_deterministic_across_runs_dirs_and_read_orders() {
    let (src, _, dir_src, blk_src) = source_0_255("bundle_src");
    for format in ["v1", "hybrid"] {
        let (a, b, c) = (
            temp(&format!("bundle_a{format}")),
            temp(&format!("bundle_b{format}")),
            temp(&format!("bundle_c{format}")),
        );
        let ja = bundle_0_255(&dir_src, &a, format);
        let jb = bundle_0_255(&dir_src, &b, format);
        let jc = bundle_0_255(&blk_src, &c, format);
        let names: Vec<&str> = ja
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "bsv-mainnet-000000000-000000099",
                "bsv-mainnet-000000100-000000199"
            ]
        );
        let (ta, tb, tc) = (torrents(&a), torrents(&b), torrents(&c));
        assert_eq!(ta.len(), 3);
        assert_eq!(ta, tb, "two runs into two directories differ ({format})");
        assert_eq!(
            ta, tc,
            "reading blk frames in another order changed the torrent ({format})"
        );
        for o in ja.as_array().unwrap() {
            assert!(o["magnet"].as_str().unwrap().starts_with(&format!(
                "magnet:?xt=urn:btih:{}",
                o["infohash_v1"].as_str().unwrap()
            )));
        }
        // Same names and info-hashes in the JSON of all three runs (paths differ).
        let key = |j: &Value| -> Vec<(Value, Value, Value)> {
            j.as_array()
                .unwrap()
                .iter()
                .map(|o| {
                    (
                        o["name"].clone(),
                        o["infohash_v1"].clone(),
                        o["infohash_v2"].clone(),
                    )
                })
                .collect()
        };
        assert_eq!(key(&ja), key(&jb));
        assert_eq!(key(&ja), key(&jc));
        for d in [a, b, c] {
            let _ = std::fs::remove_dir_all(d);
        }
    }
    let _ = std::fs::remove_dir_all(&src);
}

/// Every bundle of blocks 0–255 verifies with `inspect --verify` (pieces, headers in
/// `info`, txid files against merkle roots; each block's hash and transaction count), and
/// libtorrent agrees on the info hashes and its own check of our data passes, in v1 and
/// hybrid format.
#[test]
fn every_bundle_of_blocks_0_to_255_verifies_with_inspect_and_libtorrent() {
    let (src, blocks, dir_src, _) = source_0_255("bundle_verify_src");
    for format in ["v1", "hybrid"] {
        let a = temp(&format!("bundle_verify_{format}"));
        bundle_0_255(&dir_src, &a, format);
        let ta = torrents(&a);
        assert_eq!(ta.len(), 3);
        for (name, _) in &ta {
            let t = a.join(name);
            let v = ok_json(&["inspect", s(&t), "--verify", s(&a), "--json"]);
            assert_eq!(
                v["verify"]["bad_pieces"].as_array().unwrap().len(),
                0,
                "{name}"
            );
            assert!(
                v["verify"]["bsv_errors"].as_array().unwrap().is_empty(),
                "{name}: {}",
                v["verify"]
            );
            assert_eq!(v["network"], "mainnet");
            for blk in v["blocks"].as_array().unwrap() {
                let h = blk["height"].as_u64().unwrap() as usize;
                let block = Block::decode(&blocks[h], &BlockLimits::default()).unwrap();
                assert_eq!(
                    blk["hash"].as_str().unwrap(),
                    block.header.block_hash().to_string()
                );
                assert_eq!(blk["tx_count"].as_u64().unwrap(), block.txs.len() as u64);
            }
            // libtorrent agrees on the info-hashes and its own check of our data passes.
            let li = lt(&["info", s(&t)]);
            assert_eq!(li["infohash_v1"], v["infohash_v1"]);
            assert_eq!(li["infohash_v2"], v["infohash_v2"].clone());
            assert_eq!(li["num_pieces"], v["pieces"]);
            let check = lt(&["check", s(&t), s(&a)]);
            assert_eq!(check["pieces_have"], check["num_pieces"], "{name}: {check}");
            assert_eq!(check["is_seeding"], true);
        }
        let _ = std::fs::remove_dir_all(&a);
    }
    let _ = std::fs::remove_dir_all(&src);
}

/// The txid files of a bundle hold each block's txids in order, in v1 and hybrid format.
#[test]
fn txid_files_hold_each_blocks_txids_in_order() {
    let (src, blocks, dir_src, _) = source_0_255("bundle_txids_src");
    for format in ["v1", "hybrid"] {
        let a = temp(&format!("bundle_txids_{format}"));
        bundle_0_255(&dir_src, &a, format);
        let data = a.join("bsv-mainnet-000000100-000000199/txids");
        for h in [100usize, 170, 199] {
            let block = Block::decode(&blocks[h], &BlockLimits::default()).unwrap();
            let name = format!("{h:09}-{}.txids", block.header.block_hash());
            let want: Vec<u8> = block
                .txids()
                .iter()
                .flat_map(|t| t.to_byte_array())
                .collect();
            assert_eq!(std::fs::read(data.join(name)).unwrap(), want);
        }
        let _ = std::fs::remove_dir_all(&a);
    }
    let _ = std::fs::remove_dir_all(&src);
}

#[test]
fn real_blocks_384189_and_413567_bundle_and_real_tools_read_them() {
    let src = temp("bundle_real_src");
    for f in ["block-384189.bin", "block-413567.bin"] {
        std::fs::write(src.join(f), read_vector(f).unwrap()).unwrap();
    }
    let src_arg = format!("dir:{}", s(&src));
    for format in ["v1", "hybrid"] {
        let out = temp(&format!("bundle_real_{format}"));
        for h in ["384189", "413567"] {
            // Small pieces so the block spans many of them (and v2 piece layers exist).
            let j = ok_json(&[
                "bundle",
                "--source",
                &src_arg,
                "--out",
                s(&out),
                "--first",
                h,
                "--last",
                h,
                "--format",
                format,
                "--piece-size",
                "65536",
                "--tracker",
                "http://127.0.0.1:6969/announce",
                "--web-seed",
                "http://127.0.0.1:8080/webseed/",
                "--json",
            ]);
            let t = PathBuf::from(j["torrent"].as_str().unwrap());
            let ours = ok_json(&["inspect", s(&t), "--verify", s(&out), "--json"]);
            assert!(ours["verify"]["bad_pieces"].as_array().unwrap().is_empty());
            assert!(ours["verify"]["bsv_errors"].as_array().unwrap().is_empty());
            assert_eq!(ours["infohash_v1"], j["infohash_v1"]);
            assert_eq!(ours["announce"], "http://127.0.0.1:6969/announce");
            let li = lt(&["info", s(&t)]);
            assert_eq!(li["infohash_v1"], ours["infohash_v1"]);
            assert_eq!(li["infohash_v2"], ours["infohash_v2"]);
            assert_eq!(li["num_pieces"], ours["pieces"]);
            assert_eq!(li["piece_length"], ours["piece_length"]);
            // Same files, same sizes, same pad files, same order.
            let lf: Vec<(String, u64, bool)> = li["files"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| {
                    (
                        f["path"].as_str().unwrap().to_string(),
                        f["size"].as_u64().unwrap(),
                        f["pad"].as_bool().unwrap(),
                    )
                })
                .collect();
            let of: Vec<(String, u64, bool)> = ours["files"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| {
                    (
                        format!(
                            "{}/{}",
                            ours["name"].as_str().unwrap(),
                            f["path"].as_str().unwrap()
                        ),
                        f["length"].as_u64().unwrap(),
                        f["pad"].as_bool().unwrap(),
                    )
                })
                .collect();
            assert_eq!(lf, of);
            assert_eq!(
                of.iter().filter(|f| f.2).count(),
                1,
                "one pad file between block and txids"
            );
            let check = lt(&["check", s(&t), s(&out)]);
            assert_eq!(check["pieces_have"], check["num_pieces"], "{check}");
            if format == "v1" {
                let ts = Command::new("transmission-show")
                    .arg(&t)
                    .output()
                    .expect("transmission-cli is installed by tests/run_tests.sh");
                assert!(ts.status.success());
                let text = String::from_utf8_lossy(&ts.stdout);
                assert!(
                    text.contains(&format!("Hash: {}", j["infohash_v1"].as_str().unwrap())),
                    "{text}"
                );
                for f in j["files"].as_array().unwrap() {
                    assert!(
                        text.contains(f.as_str().unwrap()),
                        "transmission-show lacks {f}:\n{text}"
                    );
                }
            }
        }
        let _ = std::fs::remove_dir_all(&out);
    }
    let _ = std::fs::remove_dir_all(&src);
}

#[test]
fn inspect_reads_torrents_made_by_mktorrent_and_libtorrent() {
    let root = temp("bundle_foreign");
    let content = root.join("content");
    std::fs::create_dir_all(content.join("sub")).unwrap();
    std::fs::write(content.join("a.bin"), vec![1u8; 100_000]).unwrap();
    std::fs::write(content.join("sub/b.bin"), vec![2u8; 33_333]).unwrap();
    std::fs::write(content.join("c.txt"), b"hello torrent").unwrap();
    let mk = root.join("mk.torrent");
    let st = Command::new("mktorrent")
        .args(["-l", "15", "-a", "http://127.0.0.1:6969/announce", "-o"])
        .arg(&mk)
        .arg(&content)
        .output()
        .expect("mktorrent is installed by tests/run_tests.sh");
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let lt1 = root.join("lt1.torrent");
    let lt2 = root.join("lt2.torrent");
    lt(&["create", s(&content), s(&lt1), "v1", "16384"]);
    lt(&["create", s(&content), s(&lt2), "hybrid", "16384"]);
    for t in [&mk, &lt1, &lt2] {
        let ours = ok_json(&["inspect", s(t), "--verify", s(&root), "--json"]);
        let li = lt(&["info", s(t)]);
        assert_eq!(ours["infohash_v1"], li["infohash_v1"], "{}", t.display());
        assert_eq!(ours["infohash_v2"], li["infohash_v2"], "{}", t.display());
        assert_eq!(ours["pieces"], li["num_pieces"]);
        assert_eq!(ours["name"], "content");
        let v = &ours["verify"];
        assert!(
            v["bad_pieces"].as_array().unwrap().is_empty()
                && v["bad_files"].as_array().unwrap().is_empty(),
            "{}: {v}",
            t.display()
        );
        assert!(
            ours["blocks"].as_array().unwrap().is_empty(),
            "not a bundle"
        );
    }
    // A changed byte is found by --verify, with exit code 1.
    std::fs::write(content.join("c.txt"), b"hello torrenT").unwrap();
    let out = run(&["inspect", s(&mk), "--verify", s(&root)]);
    assert_eq!(out.status.code(), Some(1));
    let _ = std::fs::remove_dir_all(&root);
}

/// Files under `dir` whose name ends in `.part`, or `.torrent` files.
fn leftovers(dir: &Path) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let mut parts = Vec::new();
    let mut torrents = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().ends_with(".part") {
                parts.push(p);
            } else if p.extension().is_some_and(|x| x == "torrent") {
                torrents.push(p);
            }
        }
    }
    (parts, torrents)
}

/// Runs `bundle`, expects failure with one line on stderr containing every `needle`, and no
/// .torrent or .part file left behind.
fn expect_failure(source: &str, range: (&str, &str), needles: &[&str]) {
    let out_dir = temp("bundle_bad_out");
    let out = run(&[
        "bundle",
        "--source",
        source,
        "--out",
        s(&out_dir),
        "--first",
        range.0,
        "--last",
        range.1,
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("torrent_service:"))
        .collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    for n in needles {
        assert!(lines[0].contains(n), "{:?} lacks {n:?}", lines[0]);
    }
    let (parts, torrents) = leftovers(&out_dir);
    assert!(
        parts.is_empty() && torrents.is_empty(),
        "{parts:?} {torrents:?}"
    );
    let _ = std::fs::remove_dir_all(&out_dir);
}

#[test]
fn bad_input_gets_one_clear_error_and_nothing_half_written() {
    // Truncated block: named, with how far the decoder got.
    let src = temp("bundle_bad_src");
    let raw = read_vector("block-413567.bin").unwrap();
    std::fs::write(src.join("413567.bin"), &raw[..raw.len() - 100]).unwrap();
    expect_failure(
        &format!("dir:{}", s(&src)),
        ("413567", "413567"),
        &["block 413567", "truncated after 999787 bytes"],
    );
    // One flipped byte inside a transaction: the merkle root no longer matches.
    let mut bad = raw.clone();
    bad[500_000] ^= 0x55;
    std::fs::write(src.join("413567.bin"), &bad).unwrap();
    expect_failure(
        &format!("dir:{}", s(&src)),
        ("413567", "413567"),
        &["block 413567"],
    );
    let _ = std::fs::remove_dir_all(&src);

    // Heights 0..=255 with one block missing, and with a block whose `prev` does not link.
    let src = temp("bundle_bad_chain");
    let blocks = dir_0_255(&src);
    std::fs::remove_file(src.join(format!("{:09}.bin", 42))).unwrap();
    expect_failure(
        &format!("dir:{}", s(&src)),
        ("0", "99"),
        &["height 42 is missing"],
    );
    std::fs::write(src.join(format!("{:09}.bin", 42)), &blocks[43]).unwrap();
    expect_failure(
        &format!("dir:{}", s(&src)),
        ("0", "99"),
        &["block 42 points to", "block 41 is"],
    );
    let _ = std::fs::remove_dir_all(&src);

    // A corrupt blk frame: the file and offset are named.
    let src = temp("bundle_bad_blk");
    let mut blk = read_vector("blocks-000001-000255.blk").unwrap();
    blk[215 + 8] = 0x00; // second frame's magic
    std::fs::write(src.join("blk00000.dat"), &blk).unwrap();
    let out = run(&[
        "bundle",
        "--source",
        &format!("blk:{}", s(&src.join("blk00000.dat"))),
        "--out",
        s(&src.join("o")),
        "--first",
        "1",
        "--last",
        "5",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr.contains("offset 223") || stderr.contains("height 2 is missing"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&src);

    // Corrupt and truncated torrents.
    let dir = temp("bundle_bad_torrent");
    let src = temp("bundle_bad_torrent_src");
    std::fs::write(
        src.join("170.bin"),
        read_vector("block-000170.bin").unwrap(),
    )
    .unwrap();
    let j = ok_json(&[
        "bundle",
        "--source",
        &format!("dir:{}", s(&src)),
        "--out",
        s(&dir),
        "--first",
        "170",
        "--last",
        "170",
        "--json",
    ]);
    let t = std::fs::read(j["torrent"].as_str().unwrap()).unwrap();
    for (name, bytes) in [
        ("truncated", t[..t.len() / 2].to_vec()),
        ("garbage", b"this is not bencode".to_vec()),
        ("no_info", b"d8:announce3:urle".to_vec()),
        ("bad_pieces", {
            let mut x = t.clone();
            let i = x.windows(6).position(|w| w == b"pieces").unwrap();
            x[i + 6] = b'9'; // length prefix of the piece string
            x
        }),
    ] {
        let p = dir.join(format!("{name}.torrent"));
        std::fs::write(&p, &bytes).unwrap();
        let out = run(&["inspect", s(&p)]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert!(
            stderr.contains("is not a valid torrent"),
            "{name}: {stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "{name}: {stderr}");
    }
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&src);
}

#[test]
fn killed_runs_restart_to_the_identical_torrent() {
    use torrent_tests::chain_gen::{ChainSpec, OutputFormat, write_chain};
    let chain = temp("bundle_kill_chain");
    write_chain(
        &ChainSpec {
            blocks: 4,
            txs_per_block: 20_000,
            block_size: Some(12 << 20),
            seed: 11,
            start_time: 1_500_000_000,
            payout: None,
            stake_for: None,
            repeat_coinbase: None,
            tx_counts: &[],
        },
        &chain,
        OutputFormat::Both,
    )
    .unwrap();
    // A `dir` source hard-links block files; a `blk` source copies byte ranges.
    for source in [
        format!("dir:{}", s(&chain.join("raw"))),
        format!("blk:{}", s(&chain.join("blk"))),
    ] {
        let args = |out: &Path| -> Vec<String> {
            [
                "bundle",
                "--source",
                &source,
                "--out",
                s(out),
                "--network",
                "regtest",
                "--first",
                "0",
                "--last",
                "3",
                "--piece-size",
                "1048576",
                "--json",
            ]
            .map(String::from)
            .to_vec()
        };
        let clean = temp("bundle_kill_clean");
        let reference = ok_json(&args(&clean).iter().map(String::as_str).collect::<Vec<_>>());
        let reference_torrent = std::fs::read(reference["torrent"].as_str().unwrap()).unwrap();
        let out = temp("bundle_kill_out");
        let mut killed_before_torrent = 0;
        for delay_ms in [5u64, 20, 60, 120, 250] {
            let mut child = bin()
                .args(args(&out))
                .env("RUST_LOG", "warn")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(std::time::Duration::from_millis(delay_ms));
            let _ = child.kill(); // SIGKILL
            let _ = child.wait();
            // Whatever is under a final name is complete: the .torrent, if any, is the
            // reference, and every finished block file equals its source.
            let (_parts, torrents) = leftovers(&out);
            match torrents.as_slice() {
                [] => killed_before_torrent += 1,
                [t] => assert_eq!(
                    std::fs::read(t).unwrap(),
                    reference_torrent,
                    "after {delay_ms} ms"
                ),
                more => panic!("{more:?}"),
            }
            let data = out.join(reference["name"].as_str().unwrap()).join("blocks");
            for e in std::fs::read_dir(&data).into_iter().flatten().flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.ends_with(".part") {
                    continue;
                }
                let h: u64 = name[..9].parse().unwrap();
                let want = std::fs::read(chain.join("raw").join(format!("{h:09}.bin"))).unwrap();
                assert_eq!(
                    std::fs::read(e.path()).unwrap(),
                    want,
                    "{name} after {delay_ms} ms"
                );
            }
            // Restart to completion: the same torrent as a clean run.
            let again = ok_json(&args(&out).iter().map(String::as_str).collect::<Vec<_>>());
            assert_eq!(again["infohash_v1"], reference["infohash_v1"]);
            assert_eq!(
                std::fs::read(again["torrent"].as_str().unwrap()).unwrap(),
                reference_torrent
            );
            let (parts, _) = leftovers(&out);
            assert!(parts.is_empty(), "{parts:?}");
            std::fs::remove_dir_all(&out).unwrap();
            std::fs::create_dir_all(&out).unwrap();
        }
        assert!(
            killed_before_torrent > 0,
            "no kill landed before the torrent was written"
        );
        for d in [&clean, &out] {
            let _ = std::fs::remove_dir_all(d);
        }
    }
    let _ = std::fs::remove_dir_all(chain);
}
