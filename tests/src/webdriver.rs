//! Headless Chromium over WebDriver (Debian `chromium` and `chromium-driver`), for the
//! web-spv page's browser test and the end-to-end run. Plain W3C WebDriver calls over HTTP:
//! no browser-automation crate to build, and every failure is an error naming the call.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

/// The W3C key of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A chromedriver process and one headless Chromium session; both end on drop.
pub struct Chromium {
    driver: Child,
    base: String,
    agent: ureq::Agent,
    session: String,
}

impl std::fmt::Debug for Chromium {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chromium")
            .field("base", &self.base)
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

impl Chromium {
    /// Starts chromedriver on a free loopback port and opens a headless session whose
    /// profile lives in `profile` (the launch flags of env's notes).
    ///
    /// # Errors
    /// chromedriver missing or not ready within 20 s, or the session refused.
    pub fn start(profile: &Path) -> Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("chromedriver (tests/run_tests.sh installs chromium-driver)")?;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let mut me = Self {
            driver,
            base: format!("http://127.0.0.1:{port}"),
            agent,
            session: String::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = me
                .agent
                .get(format!("{}/status", me.base))
                .call()
                .ok()
                .and_then(|mut r| r.body_mut().read_json::<Value>().ok())
                .is_some_and(|v| v["value"]["ready"] == true);
            if ready {
                break;
            }
            if Instant::now() > deadline {
                bail!("chromedriver on port {port} not ready after 20 s");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let v = me.call(
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
        )?;
        me.session = v["sessionId"]
            .as_str()
            .context("no sessionId in the new session")?
            .to_string();
        Ok(me)
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
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
        .with_context(|| format!("{method} {url}"))?;
        let v: Value = resp
            .body_mut()
            .read_json()
            .with_context(|| format!("{method} {path}: not JSON"))?;
        if let Some(e) = v["value"].get("error") {
            bail!("{method} {path}: {e}: {}", v["value"]["message"]);
        }
        Ok(v["value"].clone())
    }

    fn s(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    /// Opens `url`.
    ///
    /// # Errors
    /// WebDriver errors.
    pub fn goto(&self, url: &str) -> Result<()> {
        self.call("POST", &self.s("/url"), Some(json!({ "url": url })))
            .map(drop)
    }

    /// The first element matching `css`.
    ///
    /// # Errors
    /// No such element, or WebDriver errors.
    pub fn find(&self, css: &str) -> Result<String> {
        let v = self.call(
            "POST",
            &self.s("/element"),
            Some(json!({"using": "css selector", "value": css})),
        )?;
        Ok(v[ELEMENT]
            .as_str()
            .with_context(|| format!("{css}: no element reference"))?
            .to_string())
    }

    /// How many elements match `css`.
    ///
    /// # Errors
    /// WebDriver errors.
    pub fn count(&self, css: &str) -> Result<usize> {
        let v = self.call(
            "POST",
            &self.s("/elements"),
            Some(json!({"using": "css selector", "value": css})),
        )?;
        Ok(v.as_array().map_or(0, Vec::len))
    }

    /// The visible text of the first element matching `css`.
    ///
    /// # Errors
    /// No such element, or WebDriver errors.
    pub fn text(&self, css: &str) -> Result<String> {
        let e = self.find(css)?;
        Ok(self
            .call("GET", &self.s(&format!("/element/{e}/text")), None)?
            .as_str()
            .unwrap_or_default()
            .to_string())
    }

    /// Clicks the first element matching `css`.
    ///
    /// # Errors
    /// No such element, or WebDriver errors.
    pub fn click(&self, css: &str) -> Result<()> {
        let e = self.find(css)?;
        self.call("POST", &self.s(&format!("/element/{e}/click")), None)
            .map(drop)
    }

    /// Replaces the value of the input matching `css` with `text`.
    ///
    /// # Errors
    /// No such element, or WebDriver errors.
    pub fn type_into(&self, css: &str, text: &str) -> Result<()> {
        let e = self.find(css)?;
        self.call("POST", &self.s(&format!("/element/{e}/clear")), None)?;
        self.call(
            "POST",
            &self.s(&format!("/element/{e}/value")),
            Some(json!({ "text": text })),
        )
        .map(drop)
    }

    /// Waits until the text of `css` starts with `prefix`; returns it.
    ///
    /// # Errors
    /// Still not there after `timeout` (the last text is named), or WebDriver errors.
    pub fn wait_text(&self, css: &str, prefix: &str, timeout: Duration) -> Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let t = self.text(css)?;
            if t.starts_with(prefix) {
                return Ok(t);
            }
            if Instant::now() > deadline {
                bail!("{css} stayed {t:?}, wanted {prefix:?}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Saves a PNG screenshot of the page at `path`; returns its size.
    ///
    /// # Errors
    /// WebDriver or I/O errors, or data that is not a PNG.
    pub fn screenshot(&self, path: &Path) -> Result<u64> {
        let b64 = self.call("GET", &self.s("/screenshot"), None)?;
        let png = base64_decode(b64.as_str().context("screenshot: not a string")?);
        if png.get(1..4) != Some(b"PNG") {
            bail!("screenshot: not a PNG");
        }
        std::fs::write(path, &png).with_context(|| format!("writing {}", path.display()))?;
        Ok(png.len() as u64)
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.call("DELETE", &self.s(""), None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Standard base64 (with or without padding), as WebDriver sends screenshots.
pub fn base64_decode(s: &str) -> Vec<u8> {
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

#[cfg(test)]
mod tests {
    #[test]
    fn base64_decodes_padded_and_unpadded() {
        assert_eq!(super::base64_decode("aGVsbG8="), b"hello");
        assert_eq!(super::base64_decode("aGVsbG8"), b"hello");
        assert_eq!(super::base64_decode("iVBORw0KGgo="), b"\x89PNG\r\n\x1a\n");
    }
}
