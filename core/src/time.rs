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

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
const fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01 (`civil_from_days`): (year, month 1–12, day).
const fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    (y, m, d)
}

const fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

const fn month_len(y: i64, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Returns the UTC date (year, month, day) of `secs` since the epoch.
pub const fn date_of(secs: u64) -> (i64, u32, u32) {
    civil_from_days((secs / 86_400) as i64)
}

/// Adds calendar months to a Unix time: the same day of the month and time of day, clamped
/// to the last day of a shorter month (31 Jan + 1 month = 28 or 29 Feb), as people count
/// "older than 60 months". Saturates at `u64::MAX`.
pub const fn add_months(secs: u64, months: u32) -> u64 {
    let (y, m, d) = date_of(secs);
    let tod = secs % 86_400;
    let total = (m as i64 - 1) + months as i64;
    let ny = y + total.div_euclid(12);
    let nm = (total.rem_euclid(12) + 1) as u32;
    let nd = if d > month_len(ny, nm) {
        month_len(ny, nm)
    } else {
        d
    };
    let days = days_from_civil(ny, nm, nd);
    if days < 0 {
        return 0;
    }
    match (days as u64).checked_mul(86_400) {
        Some(s) => match s.checked_add(tod) {
            Some(v) => v,
            None => u64::MAX,
        },
        None => u64::MAX,
    }
}

/// Whether a block stamped `block_time` (Unix seconds) is at least `months` calendar months
/// old at `now`.
pub const fn aged_by_months(block_time: u64, months: u32, now: UnixMillis) -> bool {
    add_months(block_time, months) <= now.as_secs()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip_and_known_dates() {
        for z in [-800_000_i64, -1, 0, 1, 10_957, 19_000, 2_000_000] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        // Genesis block time: 2009-01-03 18:15:05 UTC.
        assert_eq!(date_of(1_231_006_505), (2009, 1, 3));
        assert_eq!(date_of(951_782_400), (2000, 2, 29));
    }

    #[test]
    fn months_clamp_to_month_end() {
        // 2020-01-31 12:00 + 1 month = 2020-02-29 12:00 (leap), + 13 = 2021-02-28.
        let jan31 = 1_580_472_000;
        assert_eq!(date_of(add_months(jan31, 1)), (2020, 2, 29));
        assert_eq!(add_months(jan31, 1) % 86_400, 43_200);
        assert_eq!(date_of(add_months(jan31, 13)), (2021, 2, 28));
        assert_eq!(date_of(add_months(jan31, 60)), (2025, 1, 31));
        assert_eq!(add_months(jan31, 0), jan31);
    }

    #[test]
    fn aging_boundary_is_inclusive_to_the_second() {
        let genesis = 1_231_006_505;
        let five_years = add_months(genesis, 60);
        assert_eq!(date_of(five_years), (2014, 1, 3));
        assert!(aged_by_months(
            genesis,
            60,
            UnixMillis::from_secs(five_years)
        ));
        assert!(!aged_by_months(
            genesis,
            60,
            UnixMillis::from_secs(five_years - 1)
        ));
    }
}
