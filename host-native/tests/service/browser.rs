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
