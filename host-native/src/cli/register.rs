//! `torrent_service register` and `ledger stake`: the seeder's and the operator's side of
//! the tracker's registration and stake calls, over plain HTTP.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use torrent_core::Satoshis;
use torrent_core::bsv::beef::Beef;
use torrent_core::bsv::keys::{Address, PrivateKey};
use torrent_core::bsv::tx::{Transaction, TxLimits};
use torrent_core::bsv::{bsm, stake};
use torrent_core::tracker::register::{self, RegistrationRequest};

use crate::cli::args::RegisterArgs;
use crate::ledger::{LogRow, Overview, Payout};
use crate::store::Account;
use crate::tracker::api::{ApiError, ProofUrlSet, Registration, StakeCredited};

/// What `register --json` prints: the registration, and what the stake and proof URL calls
/// that followed it changed.
#[derive(Debug, serde::Serialize)]
struct Registered {
    #[serde(flatten)]
    registration: Registration,
    #[serde(skip_serializing_if = "Option::is_none")]
    stake_txid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    proof_url: Option<String>,
}

/// Returns `host:port` of an `http://host:port[/...]` URL (the registration's domain line).
///
/// # Errors
/// Anything but an http URL with an explicit or default port.
pub(crate) fn domain_of(url: &str) -> Result<String> {
    let rest = url
        .strip_prefix("http://")
        .with_context(|| format!("tracker URL {url:?} must start with http://"))?;
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() {
        bail!("tracker URL {url:?} has no host");
    }
    Ok(if host.contains(':') {
        host.to_string()
    } else {
        format!("{host}:80")
    })
}

/// A seeder's call after registering (`POST /<path>?passkey=K`); the reply of a 200.
fn seeder_call<T: serde::de::DeserializeOwned>(
    tracker: &str,
    path: &str,
    passkey: &str,
    body: &serde_json::Value,
    what: &str,
) -> Result<T> {
    let reply = post_json(
        &format!("{}/{path}?passkey={passkey}", base_url(tracker)),
        body,
        None,
    )?;
    typed(reply, &format!("registered, but {what} was"))
}

fn base_url(url: &str) -> String {
    let rest = url.strip_prefix("http://").unwrap_or(url);
    format!("http://{}", rest.split('/').next().unwrap_or_default())
}

/// An HTTP client that returns error statuses as responses (the service explains them in
/// JSON) and gives up after 30 s.
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(30)))
        .build()
        .into()
}

fn post_json(
    url: &str,
    body: &serde_json::Value,
    token: Option<&str>,
) -> Result<(u16, serde_json::Value)> {
    let agent = agent();
    let mut req = agent.post(url).header("content-type", "application/json");
    if let Some(t) = token {
        req = req.header("authorization", &format!("Bearer {t}"));
    }
    let mut resp = req
        .send(serde_json::to_vec(body)?.as_slice())
        .with_context(|| format!("POST {url}"))?;
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    let json = serde_json::from_str(&text).unwrap_or(serde_json::json!({"error": text}));
    Ok((status, json))
}

/// The typed reply of a call that answered 200, else its refusal as an error (`what` names
/// the call).
fn typed<T: serde::de::DeserializeOwned>(
    (status, reply): (u16, serde_json::Value),
    what: &str,
) -> Result<T> {
    if status != 200 {
        let why = serde_json::from_value::<ApiError>(reply)
            .map_or_else(|_| "no reason given".to_string(), |e| e.error);
        bail!("{what} refused ({status}): {why}");
    }
    serde_json::from_value(reply).with_context(|| format!("{what}: an unexpected reply"))
}

/// Checks, before sending it, that a staking BEEF's transaction names `address` (DESIGN §15):
/// the tracker would refuse it, and the error says what to add.
fn check_stake_commitment(beef_hex: &str, address: &Address) -> Result<()> {
    let bytes = torrent_core::hex::decode(beef_hex).context("the BEEF is not hex")?;
    let beef = Beef::decode(&bytes).map_err(|e| anyhow::anyhow!("invalid BEEF: {e}"))?;
    let raw = beef
        .subject_tx()
        .and_then(|t| t.raw.as_ref())
        .context("the BEEF holds no transaction")?;
    let tx = Transaction::decode(raw, &TxLimits::default())
        .map_err(|e| anyhow::anyhow!("the staking transaction does not parse: {e}"))?;
    let hint = || {
        format!(
            "the staking transaction needs an output with the script {} (OP_FALSE OP_RETURN \"torrent_service stake\" \"{address}\")",
            stake::commitment_hex(address)
        )
    };
    match stake::committed_address(&tx) {
        Ok(a) if a == *address => Ok(()),
        Ok(a) => bail!("it stakes for {a}; {}", hint()),
        Err(e) => bail!("{e}; {}", hint()),
    }
}

/// Runs `register`.
///
/// # Errors
/// An unreadable WIF, an unreachable tracker, or a refused registration (with its reason).
pub(crate) fn run(args: &RegisterArgs) -> Result<ExitCode> {
    let wif = std::fs::read_to_string(&args.wif_file)
        .with_context(|| format!("reading {}", args.wif_file.display()))?;
    let key =
        PrivateKey::from_wif(wif.trim()).context("the WIF file does not hold a valid WIF key")?;
    let domain = domain_of(&args.tracker)?;
    let address = key.address().to_string();
    // The staking BEEF is checked before registering: a refusal then changes nothing.
    let stake_hex = match &args.stake_beef {
        Some(path) => {
            let raw = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            let hex = match std::str::from_utf8(&raw) {
                Ok(t) if torrent_core::hex::decode(t.trim()).is_ok() => t.trim().to_string(),
                _ => torrent_core::hex::encode(&raw),
            };
            check_stake_commitment(&hex, &key.address())
                .with_context(|| format!("{} cannot stake for {address}", path.display()))?;
            Some(hex)
        }
        None => None,
    };
    let mut raw = [0u8; 16];
    getrandom::fill(&mut raw).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let nonce = torrent_core::hex::encode(&raw);
    let issued_at = crate::clock::now().as_secs();
    let msg = register::message(&domain, &address, &nonce, issued_at);
    let signature = bsm::sign(&key, msg.as_bytes()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let req = RegistrationRequest {
        address,
        timestamp: issued_at,
        nonce,
        signature,
    };
    let mut out = Registered {
        registration: typed(
            post_json(
                &format!("{}/register", base_url(&args.tracker)),
                &serde_json::to_value(&req)?,
                None,
            )?,
            "registration",
        )?,
        stake_txid: None,
        proof_url: None,
    };
    let passkey = out.registration.passkey.clone();
    if let Some(hex) = stake_hex {
        let staked: StakeCredited = seeder_call(
            &args.tracker,
            "stake",
            &passkey,
            &serde_json::json!({"beef": hex}),
            "the stake",
        )?;
        out.registration.stake = staked.stake;
        out.stake_txid = Some(staked.txid);
    }
    if let Some(url) = &args.proof_url {
        let set: ProofUrlSet = seeder_call(
            &args.tracker,
            "seeder/proof-url",
            &passkey,
            &serde_json::json!({ "url": url }),
            "the proof URL",
        )?;
        out.proof_url = set.proof_url;
    }
    let r = &out.registration;
    if args.json {
        crate::outln!("{}", serde_json::to_string(&out)?);
    } else {
        crate::outln!("{}", r.announce_url);
        if let (Some(to), Some(commitment), Some(amount)) =
            (&r.stake_address, &r.stake_commitment, r.stake_amount)
            && r.stake < amount
        {
            eprintln!(
                "to stake: pay {amount} sat to {to} in a transaction that also has an output with the script {commitment} (OP_FALSE OP_RETURN \"torrent_service stake\" \"{}\"); once mined, run register again with --stake-beef <its BEEF>",
                r.address
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `ledger stake --credit` against a running service.
///
/// # Errors
/// An unreachable service or a refused call.
pub(crate) fn credit_stake(
    server: &str,
    token: &str,
    address: &str,
    amount: u64,
    json: bool,
) -> Result<ExitCode> {
    let reply = post_json(
        &format!("{}/admin/stake", base_url(server)),
        &serde_json::json!({"address": address, "amount": amount}),
        Some(token),
    )?;
    let a: Account = typed(reply, "stake credit")?;
    if json {
        crate::outln!("{}", serde_json::to_string(&a)?);
    } else {
        crate::outln!("{} now has a stake of {} sat", a.address, a.stake);
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `ledger stake` without `--credit`: every seeder with its stake and activity.
///
/// # Errors
/// An unreachable service or a refused call.
pub(crate) fn list_seeders(server: &str, token: &str, json: bool) -> Result<ExitCode> {
    let v = admin_call(
        "GET",
        &format!("{}/admin/seeders", base_url(server)),
        token,
        None,
    )
    .context("listing seeders")?;
    if json {
        crate::outln!("{v}");
    } else {
        crate::outln!(
            "{:<36} {:>12} {:>9} {:>12} revoked",
            "address",
            "stake (sat)",
            "announces",
            "last seen"
        );
        for a in serde_json::from_value::<Vec<Account>>(v)? {
            crate::outln!(
                "{:<36} {:>12} {:>9} {:>12} {}",
                a.address,
                a.stake,
                a.announces,
                a.last_announce,
                a.revoked
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Calls an operator endpoint; returns the JSON reply of a 200, else the service's reason.
fn admin_call(
    method: &str,
    url: &str,
    token: &str,
    body: Option<&serde_json::Value>,
) -> Result<serde_json::Value> {
    let agent = agent();
    let auth = format!("Bearer {token}");
    let mut resp = if method == "POST" {
        agent
            .post(url)
            .header("authorization", &auth)
            .header("content-type", "application/json")
            .send(serde_json::to_vec(&body.cloned().unwrap_or_default())?.as_slice())
    } else {
        agent.get(url).header("authorization", &auth).call()
    }
    .with_context(|| format!("{method} {url}"))?;
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    let reply: serde_json::Value =
        serde_json::from_str(&text).unwrap_or(serde_json::json!({"error": text}));
    typed((status, reply), &format!("{method} {url}"))
}

fn payout_line(p: &Payout) -> String {
    let paid: Vec<Satoshis> = p
        .outputs
        .iter()
        .filter(|o| !o.change)
        .map(|o| o.satoshis)
        .collect();
    let status = serde_json::to_value(p.status).unwrap_or_default();
    format!(
        "{} {:<9} {} seeders, {} sat, fee {} sat, {} attempts{}",
        p.txid,
        status.as_str().unwrap_or_default(),
        paid.len(),
        paid.iter().copied().sum::<Satoshis>(),
        p.fee,
        p.attempts,
        p.last_error
            .as_deref()
            .map(|e| format!(", last error: {e}"))
            .unwrap_or_default()
    )
}

/// Runs the `ledger` actions other than `stake` against a running service.
///
/// # Errors
/// An unreachable service or a refused call.
pub(crate) fn ledger(
    server: &str,
    token: &str,
    action: &crate::cli::args::LedgerAction,
    json: bool,
) -> Result<ExitCode> {
    use crate::cli::args::LedgerAction as A;
    let base = base_url(server);
    let get = |path: &str| admin_call("GET", &format!("{base}{path}"), token, None);
    let post = |path: &str, body: Option<&serde_json::Value>| {
        admin_call("POST", &format!("{base}{path}"), token, body)
    };
    // `--json` prints the reply as the service sent it; otherwise it is read as its type.
    let print_payout = |v: serde_json::Value| -> Result<()> {
        if json {
            crate::outln!("{v}");
        } else {
            crate::outln!("{}", payout_line(&serde_json::from_value::<Payout>(v)?));
        }
        Ok(())
    };
    match action {
        A::Balances | A::Pending => {
            let v = get("/admin/ledger")?;
            let o: Overview = serde_json::from_value(v.clone())?;
            match (action, json) {
                (A::Pending, true) => {
                    crate::outln!("{}", serde_json::to_string(&o.pending_payouts)?)
                }
                (A::Pending, false) => {
                    for p in &o.pending_payouts {
                        crate::outln!("{}", payout_line(p));
                    }
                }
                (_, true) => crate::outln!("{v}"),
                (_, false) => {
                    crate::outln!(
                        "{:<36} {:>7} {:>10} {:>10} {:>10} {:>10} {:>10}",
                        "address",
                        "active",
                        "stake",
                        "balance",
                        "pending",
                        "paid",
                        "slashed"
                    );
                    for a in &o.accounts {
                        crate::outln!(
                            "{:<36} {:>7} {:>10} {:>10} {:>10} {:>10} {:>10}",
                            a.address,
                            a.active,
                            a.stake,
                            a.balance,
                            a.pending,
                            a.paid,
                            a.slashed
                        );
                    }
                    crate::outln!(
                        "credited {} sat; wallet holds {} sat",
                        o.credited,
                        o.wallet_satoshis
                    );
                }
            }
        }
        A::Payouts => {
            let v = get("/admin/payouts")?;
            if json {
                crate::outln!("{v}");
            } else {
                for p in serde_json::from_value::<Vec<Payout>>(v)? {
                    crate::outln!("{}", payout_line(&p));
                }
            }
        }
        A::History { limit } => {
            let v = get(&format!("/admin/ledger/history?limit={limit}"))?;
            if json {
                crate::outln!("{v}");
            } else {
                for r in serde_json::from_value::<Vec<LogRow>>(v)? {
                    crate::outln!(
                        "{:>6} {:>14} +{:<6} -{:<6} {}",
                        r.seq,
                        r.at,
                        r.credited,
                        r.slashed,
                        serde_json::to_string(&r.entry)?
                    );
                }
            }
        }
        A::Settle => {
            let v = post("/admin/settle", None)?;
            if v.is_null() && !json {
                crate::outln!("nothing to pay: no balance at or above payout_threshold");
            } else {
                print_payout(v)?;
            }
        }
        A::Confirm { txid, block_height } => print_payout(post(
            &format!("/admin/payouts/{txid}/confirm"),
            Some(&serde_json::json!({ "block_height": block_height })),
        )?)?,
        A::Abandon { txid } => {
            print_payout(post(&format!("/admin/payouts/{txid}/abandon"), None)?)?
        }
        A::Stake { .. } => bail!("ledger stake is handled by list_seeders/credit_stake"),
    }
    Ok(ExitCode::SUCCESS)
}
