//! Time as the core sees it: a value the host passes in, never read from a clock here.

/// Milliseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct UnixMillis(pub u64);

impl UnixMillis {
    /// Builds from whole seconds.
    pub const fn from_secs(s: u64) -> Self {
        Self(s.saturating_mul(1000))
    }

    /// Returns whole seconds.
    pub const fn as_secs(self) -> u64 {
        self.0 / 1000
    }

    /// Returns `self + d`, saturating.
    #[must_use]
    pub fn saturating_add(self, d: core::time::Duration) -> Self {
        Self(
            self.0
                .saturating_add(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        )
    }
}
