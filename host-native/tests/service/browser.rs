//! The web-spv page in headless Chromium (Debian `chromium` and `chromium-driver`), driven
//! over WebDriver, against a running service holding real block 413567: a real proof shows
//! VERIFIED with its merkle path level by level and the header's proof of work, a proof
//! tampered with in the page shows REJECTED, an unknown txid shows NOT FOUND. Screenshots
//! are saved and their paths printed.

use std::path::PathBuf;
use std::time::Duration;

use torrent_core::bsv::block::{Block, BlockLimits};
use torrent_tests::webdriver::Chromium;

use crate::common::{Service, temp, vectors, wait_for};

/// Saves a screenshot under the test target's temp dir and prints its path.
fn shot(c: &Chromium, name: &str) -> u64 {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let size = c.screenshot(&path).unwrap();
    println!("screenshot: {}", path.display());
    size
}

#[test]
fn the_spv_page_verifies_a_real_proof_and_rejects_a_tampered_one() {
    let dir = temp("browser");
    let src = dir.join("src");
    std::fs::create_dir_all(&src).unwrap();
    let raw = std::fs::read(vectors().join("block-413567.bin")).unwrap();
    std::fs::write(src.join("413567.bin"), &raw).unwrap();
    let txids = Block::decode(&raw, &BlockLimits::default())
        .unwrap()
        .txids();
    let svc = Service::start_with(
        &dir,
        &format!(
            "block_source = \"dir:{}\"\nbundle_blocks = 1\naging_scan_interval_s = 1\nprune = false\nbittorrent = false\n",
            src.display()
        ),
    );
    let http = svc.ready["http"].as_str().unwrap().to_string();
    wait_for("proofs of block 413567", 60, || {
        torrent_tests::support::get(&format!("http://{http}/v1/proof/{}", txids[5]), None)
            .is_ok_and(|(status, _)| status == 200)
    });

    let c = Chromium::start(&dir.join("chromium-profile")).unwrap();
    let wait = Duration::from_secs(30);
    c.goto(&format!("http://{http}/")).unwrap();
    c.wait_text("#verdict", "Ready", wait).unwrap();

    // A real transaction: verified in the browser, path and proof of work shown.
    let txid = txids[777].to_string();
    c.type_into("#txid", &txid).unwrap();
    c.click("#check").unwrap();
    let ok = c.wait_text("#verdict", "VERIFIED", wait).unwrap();
    assert!(ok.contains("transaction 777 of block 413567"), "{ok}");
    assert_eq!(
        c.count("#path tbody tr").unwrap(),
        11,
        "1557 transactions: 11 levels"
    );
    let header = c.text("#header").unwrap();
    assert!(
        header.contains("proof of work") && header.contains("ok: hash"),
        "{header}"
    );
    assert!(shot(&c, "spv-verified.png") > 10_000);

    // The same proof with one bit flipped by the page: rejected.
    c.click("#tamper").unwrap();
    c.click("#check").unwrap();
    let bad = c.wait_text("#verdict", "REJECTED", wait).unwrap();
    assert!(bad.contains("proof rejected"), "{bad}");
    shot(&c, "spv-rejected.png");

    // Not a transaction of any offloaded block.
    c.type_into("#txid", &"ab".repeat(32)).unwrap();
    c.click("#check").unwrap();
    c.wait_text("#verdict", "NOT FOUND", wait).unwrap();
    drop(c);
    svc.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// The page's verifier cannot load: the page says so and why, instead of "Loading…".
/// `web_spv_dir` points at a folder first empty (no glue), then holding the glue the binary
/// embeds but not the wasm; a service without the override serves both and the page is
/// ready.
#[test]
fn the_page_says_why_when_its_verifier_cannot_load() {
    let dir = temp("browser-missing");
    let pkg = dir.join("pkg");
    std::fs::create_dir_all(&pkg).unwrap();
    let svc = Service::start_with(
        &dir,
        &format!("bittorrent = false\nweb_spv_dir = \"{}\"\n", pkg.display()),
    );
    let http = svc.ready["http"].as_str().unwrap().to_string();
    let embedded_dir = temp("browser-embedded");
    let embedded = Service::start_with(&embedded_dir, "bittorrent = false\n");
    let embedded_http = embedded.ready["http"].as_str().unwrap().to_string();

    let c = Chromium::start(&dir.join("chromium-profile")).unwrap();
    let wait = Duration::from_secs(30);
    c.goto(&format!("http://{http}/")).unwrap();
    let text = c
        .wait_text("#verdict", "The verifier could not load", wait)
        .unwrap();
    assert!(text.contains("web_spv.js: 404"), "{text}");
    assert!(
        !text.contains(&pkg.display().to_string()),
        "the server's path is not shown: {text}"
    );
    shot(&c, "spv-no-glue.png");

    // The glue is there, the wasm is not.
    let mut r = ureq::get(format!("http://{embedded_http}/pkg/web_spv.js"))
        .call()
        .unwrap();
    std::fs::write(pkg.join("web_spv.js"), r.body_mut().read_to_vec().unwrap()).unwrap();
    c.goto(&format!("http://{http}/")).unwrap();
    let text = c
        .wait_text("#verdict", "The verifier could not load", wait)
        .unwrap();
    assert!(text.contains("web_spv_bg.wasm: 404"), "{text}");
    shot(&c, "spv-no-wasm.png");

    // The binary's own copies: ready.
    c.goto(&format!("http://{embedded_http}/")).unwrap();
    c.wait_text("#verdict", "Ready", wait).unwrap();
    drop(c);
    svc.stop();
    embedded.stop();
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&embedded_dir);
}

/// A lying server: it holds the real mainnet blocks 0..201 but block 100 replaced by a
/// forged one whose header links to block 99 and meets the real difficulty of the time
/// (bits 0x1d00ffff, mined once, about 2^32 hashes: `tests/vectors/forged/`), over a
/// coinbase it invented. Checking the header's own proof of work, as the page once did,
/// would say VERIFIED; the page ties the header to the checkpoint compiled in instead, so it
/// says REJECTED and why. A real transaction of the same server is VERIFIED, and confirmed
/// by an independent chain tracker the user names (another service, another origin).
#[test]
fn the_spv_page_rejects_a_forged_header_whose_proof_of_work_holds() {
    use torrent_core::Network;
    let dir = temp("browser-forged");
    let src = dir.join("src");
    crate::common::block_dir(&src);
    let forged = std::fs::read(vectors().join("../forged/block-000100-forged.bin")).unwrap();
    let block = Block::decode(&forged, &BlockLimits::default()).unwrap();
    let real_99 = Block::decode(
        &std::fs::read(src.join("99.bin")).unwrap(),
        &BlockLimits::default(),
    )
    .unwrap();
    assert_eq!(block.header.prev_blockhash, real_99.header.block_hash());
    assert_eq!(block.header.bits, 0x1d00_ffff);
    block
        .header
        .check_pow(Network::Mainnet)
        .expect("the forged header meets its target");
    std::fs::write(src.join("100.bin"), &forged).unwrap();
    let forged_txid = block.txids()[0].to_string();
    let first_payment = "f4184fc596403b9d638783cf57adfe4c75c605f6356fbc91338530e9831e9e16";
    // Bundles of 101 blocks: 0..=100 (the forged 100 links to the real 99) and 101..=201
    // (whose first block's parent, the real 100, lies outside it), so that the lying
    // server's header store holds the real chain around its forgery.
    let config = |src: &std::path::Path| {
        format!(
            "block_source = \"dir:{}\"\nbundle_blocks = 101\naging_scan_interval_s = 1\nprune = false\nbittorrent = false\n",
            src.display()
        )
    };
    let liar = Service::start_with(&dir, &config(&src));
    let http = liar.ready["http"].as_str().unwrap().to_string();
    // An honest service of the real blocks, named by the user as chain tracker.
    let honest_dir = temp("browser-honest");
    let honest_src = honest_dir.join("src");
    crate::common::block_dir(&honest_src);
    let honest = Service::start_with(&honest_dir, &config(&honest_src));
    let tracker = format!("http://{}", honest.ready["http"].as_str().unwrap());
    for h in [&http, &tracker.trim_start_matches("http://").to_string()] {
        wait_for("blocks 0..201 offloaded", 60, || {
            torrent_tests::support::get(&format!("http://{h}/v1/proof/{first_payment}"), None)
                .is_ok_and(|(status, _)| status == 200)
        });
    }

    let c = Chromium::start(&dir.join("chromium-profile")).unwrap();
    let wait = Duration::from_secs(30);
    c.goto(&format!("http://{http}/")).unwrap();
    c.wait_text("#verdict", "Ready", wait).unwrap();
    c.type_into("#txid", &forged_txid).unwrap();
    c.click("#check").unwrap();
    let bad = c.wait_text("#verdict", "REJECTED", wait).unwrap();
    assert!(bad.contains("not on the best chain"), "{bad}");
    assert!(
        bad.contains("block 101"),
        "the real block 101 does not link to it: {bad}"
    );
    let header = c.text("#header").unwrap();
    assert!(
        header.contains("ok: hash"),
        "its own proof of work holds: {header}"
    );
    shot(&c, "spv-forged.png");

    // A real transaction of the same server, with the independent tracker named.
    c.type_into("#txid", first_payment).unwrap();
    c.type_into("#tracker", &tracker).unwrap();
    c.click("#check").unwrap();
    let ok = c.wait_text("#verdict", "VERIFIED", wait).unwrap();
    assert!(ok.contains("transaction 1 of block 170"), "{ok}");
    let header = c.text("#header").unwrap();
    assert!(header.contains("to the checkpoint at 170"), "{header}");
    assert!(
        header.contains(&format!("confirmed by the chain tracker {tracker}")),
        "{header}"
    );
    shot(&c, "spv-tracker.png");
    drop(c);
    liar.stop();
    honest.stop();
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&honest_dir);
}
