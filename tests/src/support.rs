//! Helpers every test crate and test program uses, written once: HTTP over ureq (every status
//! is an answer), polling until a condition holds, fresh temp folders, and the Node scripts
//! of `tests/interop` (@bsv/sdk).
//!
//! They return `Result`s, for the programs (`e2e`, `first-contact`) that report a failed
//! stage; the service's tests wrap the few they call in panicking one-liners
//! (`host-native/tests/common`).

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;

/// An HTTP client for tests: every status is an answer (never an error), 60 s at most.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// `GET url` (with a bearer `token`): status and body.
///
/// # Errors
/// The request failed (no answer).
pub fn get(url: &str, token: Option<&str>) -> Result<(u16, String)> {
    let mut req = agent().get(url);
    if let Some(t) = token {
        req = req.header("authorization", &format!("Bearer {t}"));
    }
    let mut r = req.call().with_context(|| format!("GET {url}"))?;
    Ok((
        r.status().as_u16(),
        r.body_mut().read_to_string().unwrap_or_default(),
    ))
}

/// `GET url` (with a bearer `token`) answered 200 with JSON: the JSON.
///
/// # Errors
/// No answer, another status, or a body that is not JSON.
pub fn get_json(url: &str, token: Option<&str>) -> Result<Value> {
    let (status, body) = get(url, token)?;
    ensure!(status == 200, "GET {url}: {status} {body}");
    serde_json::from_str(&body).with_context(|| format!("GET {url}: not JSON: {body}"))
}

/// `GET url`: the body's bytes, whatever the status.
///
/// # Errors
/// No answer, or the body could not be read.
pub fn get_bytes(url: &str) -> Result<Vec<u8>> {
    agent()
        .get(url)
        .call()
        .with_context(|| format!("GET {url}"))?
        .body_mut()
        .read_to_vec()
        .with_context(|| format!("GET {url}: body"))
}

/// `POST url` with a JSON `body` (an empty body when `None`) and a bearer `token`: status
/// and body.
///
/// # Errors
/// The request failed (no answer).
pub fn post(url: &str, body: Option<&Value>, token: Option<&str>) -> Result<(u16, String)> {
    let mut req = agent().post(url);
    if let Some(t) = token {
        req = req.header("authorization", &format!("Bearer {t}"));
    }
    let sent = match body {
        Some(b) => req
            .header("content-type", "application/json")
            .send(b.to_string().as_bytes()),
        None => req.send(&[][..]),
    };
    let mut r = sent.with_context(|| format!("POST {url}"))?;
    Ok((
        r.status().as_u16(),
        r.body_mut().read_to_string().unwrap_or_default(),
    ))
}

/// [`post`] with a JSON body: status and the reply as JSON (a body that is not JSON comes
/// back as `{"text": body}`).
///
/// # Errors
/// The request failed (no answer).
pub fn post_json(url: &str, body: &Value, token: Option<&str>) -> Result<(u16, Value)> {
    let (status, text) = post(url, Some(body), token)?;
    Ok((
        status,
        serde_json::from_str(&text).unwrap_or_else(|_| serde_json::json!({ "text": text })),
    ))
}

/// Polls `ok` every 200 ms until it says true (an error counts as not yet, and the last one
/// is reported).
///
/// # Errors
/// `ok` did not hold within `secs`.
pub fn wait_for(what: &str, secs: u64, mut ok: impl FnMut() -> Result<bool>) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut last = String::new();
    loop {
        match ok() {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) => last = format!(" (last error: {e:#})"),
        }
        if Instant::now() > deadline {
            bail!("timed out after {secs} s waiting for {what}{last}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A fresh, empty folder: `ts_<name>_<pid>` under the temp dir (callers put their crate's
/// name in `name`, so that parallel test binaries never share one).
///
/// # Panics
/// The folder cannot be created.
pub fn temp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ts_{name}_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("creating {}: {e}", d.display()));
    d
}

/// A TCP connection to `dst` from source address `src` (Linux routes all of 127/8 to
/// loopback, so 127.0.0.2 is another client to the service).
///
/// # Errors
/// The socket could not be bound or connected.
pub fn connect_from(
    src: std::net::IpAddr,
    dst: std::net::SocketAddr,
) -> Result<std::net::TcpStream> {
    let sock = socket2::Socket::new(
        socket2::Domain::for_address(dst),
        socket2::Type::STREAM,
        None,
    )?;
    sock.bind(&std::net::SocketAddr::new(src, 0).into())
        .with_context(|| format!("binding {src}"))?;
    sock.connect(&dst.into())
        .with_context(|| format!("connecting {src} to {dst}"))?;
    Ok(sock.into())
}

/// Runs `tests/interop/<script>` under Node (@bsv/sdk, installed by `npm ci` in
/// `tests/interop`) with `requests` on its stdin, one JSON document a line; returns its
/// replies, one JSON document a line of its stdout, once it exited with success and answered
/// every request.
///
/// # Errors
/// Node did not run, exited with a failure, or answered with something else.
pub fn node(script: &str, requests: &[Value]) -> Result<Vec<Value>> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("interop")
        .join(script);
    let mut child = Command::new("node")
        .arg(&path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("node; tests/run_tests.sh runs npm ci in tests/interop")?;
    {
        let mut stdin = child.stdin.take().context("node's stdin")?;
        for r in requests {
            writeln!(stdin, "{r}")?;
        }
    }
    let out = BufReader::new(child.stdout.take().context("node's stdout")?)
        .lines()
        .map(|l| Ok(serde_json::from_str(&l?)?))
        .collect::<Result<Vec<Value>>>()
        .with_context(|| format!("{script}'s replies"))?;
    let status = child.wait()?;
    ensure!(status.success(), "{script} exited with {status}");
    ensure!(
        out.len() == requests.len(),
        "{script} answered {} of {} requests (the SDK answers every request)",
        out.len(),
        requests.len()
    );
    Ok(out)
}
