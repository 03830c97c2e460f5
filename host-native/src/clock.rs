//! The one wall clock of the service: every timestamp it records or compares (announces,
//! ledger entries, payouts, block ages) comes from here, so a module never asks another
//! for the time. Bottom floor: uses nothing of this crate.

use std::time::{SystemTime, UNIX_EPOCH};

use torrent_core::time::UnixMillis;

/// The current time (0 before 1970, `u64::MAX` past the year 584 million).
pub(crate) fn now() -> UnixMillis {
    UnixMillis(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0),
    )
}

/// The current time in whole Unix seconds (block timestamps are in seconds).
pub(crate) fn now_secs() -> u64 {
    now().0 / 1000
}
