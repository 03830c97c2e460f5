//! The tracker's JSON replies, one type each, shared by the server (`http`, `Tracker`) and the
//! `register` and `ledger stake` commands, so that a field renamed on one side fails to
//! compile on the other instead of reading as an empty string.

use serde::{Deserialize, Serialize};
use torrent_core::Satoshis;

/// Every refusal: what went wrong, and for registrations a machine-readable reason.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ApiError {
    /// For people.
    pub(crate) error: String,
    /// For programs (`replay`, `signature`, `expired`, ...), where there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<String>,
}

/// `POST /register`: the new seeder's passkey and announce URL, and with SPV stakes what its
/// staking transaction must carry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Registration {
    /// The passkey (hex).
    pub(crate) passkey: String,
    /// The announce URL with the passkey.
    pub(crate) announce_url: String,
    /// The seeder's address.
    pub(crate) address: String,
    /// Staked so far.
    pub(crate) stake: Satoshis,
    /// Where to pay a stake (`stake_mode = "spv"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) stake_address: Option<String>,
    /// How much to pay (`stake_mode = "spv"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) stake_amount: Option<Satoshis>,
    /// The output script binding the stake to this seeder (`stake_mode = "spv"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) stake_commitment: Option<String>,
}

/// `POST /stake`: a stake proven by its transaction and credited.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StakeCredited {
    /// The seeder.
    pub(crate) address: String,
    /// Its stake now.
    pub(crate) stake: Satoshis,
    /// The staking transaction.
    pub(crate) txid: String,
    /// What this transaction added.
    pub(crate) credited: Satoshis,
}

/// `POST /seeder/proof-url`: where the seeder now answers proofs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ProofUrlSet {
    /// The seeder.
    pub(crate) address: String,
    /// Its proof server, if any.
    pub(crate) proof_url: Option<String>,
}
