//! The web-spv page in headless Chromium (Debian `chromium` and `chromium-driver`), driven
//! over WebDriver, against a running service holding real block 413567: a real proof shows
//! VERIFIED with its merkle path level by level and the header's proof of work, a proof
//! tampered with in the page shows REJECTED, an unknown txid shows NOT FOUND. Screenshots
//! are saved and their paths printed.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use torrent_core::bsv::block::{Block, BlockLimits};

mod common;

use common::{KillOnDrop, Service, free_port, temp, vectors, wait_for};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

struct Driver {
    base: String,
    agent: ureq::Agent,
}

impl Driver {
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.base);
        let mut resp = match (method, body) {
            ("GET", _) => self.agent.get(&url).call(),
            ("DELETE", _) => self.agent.delete(&url).call(),
            (_, b) => self
                .agent
                .post(&url)
                .header("content-type", "application/json")
                .send(b.unwrap_or(json!({})).to_string().as_bytes()),
        }
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let v: Value = resp.body_mut().read_json().unwrap();
        assert!(
            v["value"].get("error").is_none(),
            "{method} {path}: {}",
            v["value"]
        );
        v["value"].clone()
    }

    fn find(&self, session: &str, css: &str) -> String {
        let v = self.call(
            "POST",
            &format!("/session/{session}/element"),
            Some(json!({"using": "css selector", "value": css})),
        );
        v[ELEMENT].as_str().unwrap().to_string()
    }

    fn text(&self, session: &str, css: &str) -> String {
        let e = self.find(session, css);
        self.call("GET", &format!("/session/{session}/element/{e}/text"), None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    fn click(&self, session: &str, css: &str) {
        let e = self.find(session, css);
        self.call(
            "POST",
            &format!("/session/{session}/element/{e}/click"),
            None,
        );
    }

    /// Waits until `#verdict` starts with `prefix`; returns its text.
    fn verdict(&self, session: &str, prefix: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let t = self.text(session, "#verdict");
            if t.starts_with(prefix) {
                return t;
            }
            assert!(
                Instant::now() < deadline,
                "verdict stayed {t:?}, wanted {prefix}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn screenshot(&self, session: &str, name: &str) -> PathBuf {
        let b64 = self.call("GET", &format!("/session/{session}/screenshot"), None);
        let png = base64_decode(b64.as_str().unwrap());
        assert_eq!(&png[1..4], b"PNG");
        let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
        std::fs::write(&path, png).unwrap();
        println!("screenshot: {}", path.display());
        path
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            _ => 63,
        }
    };
    let bytes: Vec<u8> = s
        .bytes()
        .filter(|c| *c != b'=' && !c.is_ascii_whitespace())
        .collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= val(*c) << (18 - 6 * i);
        }
        for i in 0..chunk.len().saturating_sub(1) {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    out
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
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    wait_for("proofs of block 413567", 60, || {
        agent
            .get(format!("http://{http}/v1/proof/{}", txids[5]))
            .call()
            .is_ok_and(|r| r.status() == 200)
    });

    let port = free_port();
    let _driver = KillOnDrop(
        Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver: tests/run_tests.sh installs chromium-driver"),
    );
    let d = Driver {
        base: format!("http://127.0.0.1:{port}"),
        agent,
    };
    wait_for("chromedriver", 20, || {
        d.agent
            .get(format!("{}/status", d.base))
            .call()
            .ok()
            .and_then(|mut r| r.body_mut().read_json::<Value>().ok())
            .is_some_and(|v| v["value"]["ready"] == true)
    });
    let profile = dir.join("chromium-profile");
    let session = d.call(
        "POST",
        "/session",
        Some(json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--window-size=1280,1400",
                    format!("--user-data-dir={}", profile.display()),
                ],
            },
        }}})),
    )["sessionId"]
        .as_str()
        .unwrap()
        .to_string();
    let s = session.as_str();
    d.call(
        "POST",
        &format!("/session/{s}/url"),
        Some(json!({"url": format!("http://{http}/")})),
    );
    d.verdict(s, "Ready");

    // A real transaction: verified in the browser, path and proof of work shown.
    let txid = txids[777].to_string();
    let input = d.find(s, "#txid");
    d.call(
        "POST",
        &format!("/session/{s}/element/{input}/value"),
        Some(json!({"text": txid})),
    );
    d.click(s, "#check");
    let ok = d.verdict(s, "VERIFIED");
    assert!(ok.contains("transaction 777 of block 413567"), "{ok}");
    let rows = d.call(
        "POST",
        &format!("/session/{s}/elements"),
        Some(json!({"using": "css selector", "value": "#path tbody tr"})),
    );
    assert_eq!(
        rows.as_array().unwrap().len(),
        11,
        "1557 transactions: 11 levels"
    );
    let header = d.text(s, "#header");
    assert!(
        header.contains("proof of work") && header.contains("ok: hash"),
        "{header}"
    );
    let shot = d.screenshot(s, "spv-verified.png");
    assert!(std::fs::metadata(&shot).unwrap().len() > 10_000);

    // The same proof with one bit flipped by the page: rejected.
    d.click(s, "#tamper");
    d.click(s, "#check");
    let bad = d.verdict(s, "REJECTED");
    assert!(bad.contains("proof rejected"), "{bad}");
    d.screenshot(s, "spv-rejected.png");

    // Not a transaction of any offloaded block.
    d.call("POST", &format!("/session/{s}/element/{input}/clear"), None);
    d.call(
        "POST",
        &format!("/session/{s}/element/{input}/value"),
        Some(json!({"text": "ab".repeat(32)})),
    );
    d.click(s, "#check");
    d.verdict(s, "NOT FOUND");
    d.call("DELETE", &format!("/session/{s}"), None);
    svc.stop();
    let _ = std::fs::remove_dir_all(&dir);
}
