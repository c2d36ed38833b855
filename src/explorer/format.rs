//! How the explorer writes values (API.md §9): times in UTC as
//! `YYYY-MM-DD HH:MM:SS UTC`, amounts exactly as PROTOCOL.md §1 (through
//! [`Amount`]'s and [`SignedAmount`]'s own text, never a float), fee rates
//! from integers.

use crate::types::{Amount, SignedAmount};

/// Seconds in a day.
const DAY: u64 = 86_400;

/// The proleptic Gregorian date of day `days` after 1970-01-01, as (year,
/// month 1–12, day 1–31): Howard Hinnant's `civil_from_days`, in whole
/// numbers (eras of 400 years, years starting in March).
pub fn civil_from_days(days: u64) -> (u64, u32, u32) {
    // Days since 0000-03-01; every u64 day count of a u64 timestamp fits.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097; // day of era, 0..=146096
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365; // 0..=399
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // 0..=365
    let mp = (5 * doy + 2) / 153; // month from March, 0..=11
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// `YYYY-MM-DD HH:MM:SS UTC` of a Unix timestamp (seconds).
pub fn utc_time(timestamp: u64) -> String {
    let (year, month, day) = civil_from_days(timestamp / DAY);
    let seconds = timestamp % DAY;
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        seconds / 3_600,
        seconds % 3_600 / 60,
        seconds % 60
    )
}

/// The machine form of a time for `<time datetime="…">`: ISO 8601 in UTC.
pub fn iso_time(timestamp: u64) -> String {
    let (year, month, day) = civil_from_days(timestamp / DAY);
    let seconds = timestamp % DAY;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        seconds / 3_600,
        seconds % 3_600 / 60,
        seconds % 60
    )
}

/// An amount as PROTOCOL.md §1 writes it (`1.5`, `0.00000001`, `2`).
pub fn amount(value: Amount) -> String {
    value.to_string()
}

/// A change of balance with its sign: `+1.5`, `-0.25`, `0`.
pub fn delta(units: i64) -> String {
    SignedAmount::from_units(units).to_string_with_sign()
}

/// A signed amount as §1 writes it, `-` for a debit only (the CSV's form).
pub fn signed(units: i64) -> String {
    SignedAmount::from_units(units).to_string()
}

/// Fee per byte of size, in base units with two decimals, truncated
/// (`fee_units / size`, computed in integers).
pub fn fee_rate(fee: Amount, size: usize) -> String {
    let size = size.max(1) as u128;
    let hundredths = u128::from(fee.units()) * 100 / size;
    format!("{}.{:02}", hundredths / 100, hundredths % 100)
}

/// A count with thin groups of three digits (`12 345`), for big numbers
/// that are not amounts.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('\u{202f}');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_utc_calendar_dates() {
        for (timestamp, text) in [
            (0, "1970-01-01 00:00:00 UTC"),
            (59, "1970-01-01 00:00:59 UTC"),
            (86_399, "1970-01-01 23:59:59 UTC"),
            (86_400, "1970-01-02 00:00:00 UTC"),
            (951_782_400, "2000-02-29 00:00:00 UTC"),
            (951_868_799, "2000-02-29 23:59:59 UTC"),
            (951_868_800, "2000-03-01 00:00:00 UTC"),
            (1_700_000_000, "2023-11-14 22:13:20 UTC"),
            (4_102_444_800, "2100-01-01 00:00:00 UTC"),
            (4_107_456_000, "2100-02-28 00:00:00 UTC"),
            (4_107_542_400, "2100-03-01 00:00:00 UTC"),
            (253_402_300_799, "9999-12-31 23:59:59 UTC"),
        ] {
            assert_eq!(utc_time(timestamp), text, "{timestamp}");
        }
        assert_eq!(iso_time(1_700_000_000), "2023-11-14T22:13:20Z");
    }

    /// Day by day for 1,000 years: every date follows the one before, and
    /// leap days fall where the Gregorian rule puts them.
    #[test]
    fn every_day_follows_the_one_before() {
        let leap =
            |y: u64| (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400);
        let month_len = |y: u64, m: u32| match m {
            2 if leap(y) => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        let mut previous = civil_from_days(0);
        assert_eq!(previous, (1970, 1, 1));
        for days in 1..365_250 {
            let (y, m, d) = civil_from_days(days);
            let (py, pm, pd) = previous;
            let expected = if pd < month_len(py, pm) {
                (py, pm, pd + 1)
            } else if pm < 12 {
                (py, pm + 1, 1)
            } else {
                (py + 1, 1, 1)
            };
            assert_eq!((y, m, d), expected, "day {days}");
            previous = (y, m, d);
        }
        // The largest timestamp still has a date.
        assert!(utc_time(u64::MAX).ends_with(" UTC"));
    }

    #[test]
    fn amounts_are_exact() {
        assert_eq!(amount(Amount::from_units(150_000_000)), "1.5");
        assert_eq!(amount(Amount::from_units(1)), "0.00000001");
        assert_eq!(amount(Amount::from_units(349_900_000)), "3.499");
        assert_eq!(amount(Amount::ZERO), "0");
        assert_eq!(amount(Amount::MAX_MONEY), "630000");
        assert_eq!(
            amount(Amount::from_units(62_999_999_999_999)),
            "629999.99999999"
        );
        assert_eq!(delta(150_000_000), "+1.5");
        assert_eq!(delta(-1), "-0.00000001");
        assert_eq!(delta(0), "0");
        assert_eq!(signed(-25_000_000), "-0.25");
        assert_eq!(signed(25_000_000), "0.25");
    }

    #[test]
    fn fee_rates_and_counts() {
        assert_eq!(fee_rate(Amount::from_units(300), 150), "2.00");
        assert_eq!(fee_rate(Amount::from_units(1), 3), "0.33");
        assert_eq!(fee_rate(Amount::from_units(0), 200), "0.00");
        assert_eq!(fee_rate(Amount::from_units(5), 0), "5.00");
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1_000), "1\u{202f}000");
        assert_eq!(count(12_345_678), "12\u{202f}345\u{202f}678");
    }
}
