//! Human-readable numbers for the terminal renderer: `1,739,461,711`, `48.2 MiB`, `3 d 4 h`.

use crate::Unit;

/// Formats `value` for a person, according to its unit.
pub fn format_value(value: f64, unit: Unit) -> String {
    match unit {
        Unit::Count => format_count(value),
        Unit::Bytes => format_bytes(value),
        Unit::Seconds => format_duration_secs(value),
        Unit::Milliseconds => format_millis(value),
        Unit::Percent => format!("{value:.1}%"),
    }
}

/// Whole numbers get thousands separators; fractions keep up to two decimals.
pub fn format_count(value: f64) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    if value.fract() != 0.0 && value.abs() < 1000.0 {
        let text = format!("{value:.2}");
        return text.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    let rounded = value.round();
    let digits = format!("{}", rounded.abs() as u128);
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if rounded < 0.0 {
        out.push('-');
    }
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// Binary units, as PostgreSQL's `pg_size_pretty` (which says `kB`/`MB` but means powers of
/// 1024); we print the IEC names so nobody has to guess.
pub fn format_bytes(value: f64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut scaled = value;
    let mut unit = 0;
    while scaled.abs() >= 1024.0 && unit < UNITS.len() - 1 {
        scaled /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{} B", format_count(value))
    } else {
        format!("{scaled:.1} {}", UNITS[unit])
    }
}

/// Two most significant units: `45 s`, `12 min 5 s`, `3 d 4 h`.
pub fn format_duration_secs(value: f64) -> String {
    if !value.is_finite() || value < 0.0 {
        return format!("{value} s");
    }
    if value < 10.0 {
        return format!("{value:.1} s");
    }
    let total = value.round() as u64;
    let parts = [
        (total / 86_400, "d"),
        ((total % 86_400) / 3_600, "h"),
        ((total % 3_600) / 60, "min"),
        (total % 60, "s"),
    ];
    let first = parts.iter().position(|(n, _)| *n > 0).unwrap_or(3);
    let mut out = format!("{} {}", format_count(parts[first].0 as f64), parts[first].1);
    if let Some((n, unit)) = parts.get(first + 1) {
        if *n > 0 {
            out.push_str(&format!(" {n} {unit}"));
        }
    }
    out
}

/// A moment as `2025-06-14 09:30 UTC`, from seconds since the Unix epoch. UTC because the
/// server, brisk and the reader may each be in a different zone.
pub fn format_utc_minute(unix_secs: f64) -> String {
    if !unix_secs.is_finite() {
        return format!("{unix_secs} s after 1970");
    }
    let minutes = (unix_secs / 60.0).floor() as i64;
    let (days, minute_of_day) = (minutes.div_euclid(1440), minutes.rem_euclid(1440));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        minute_of_day / 60,
        minute_of_day % 60
    )
}

/// The proleptic Gregorian date of a day number (0 is 1970-01-01), by Howard Hinnant's
/// `civil_from_days` (chrono's and libc++'s algorithm): counts in 400-year eras from
/// 0000-03-01, so leap days fall at the end of each year.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn format_millis(value: f64) -> String {
    if value >= 10_000.0 {
        format_duration_secs(value / 1000.0)
    } else if value >= 100.0 {
        format!("{} ms", format_count(value.round()))
    } else {
        format!("{value:.2} ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_are_utc_dates_and_minutes() {
        assert_eq!(format_utc_minute(0.0), "1970-01-01 00:00 UTC");
        // Expected values from `date -u -d @SECONDS`. 23:59:59 rounds down to the minute.
        assert_eq!(format_utc_minute(951_782_399.0), "2000-02-28 23:59 UTC");
        assert_eq!(format_utc_minute(951_782_400.0), "2000-02-29 00:00 UTC");
        assert_eq!(format_utc_minute(951_868_800.0), "2000-03-01 00:00 UTC");
        // 2100 is not a leap year: 2100-02-28 is followed by 2100-03-01.
        assert_eq!(format_utc_minute(4_107_542_399.0), "2100-02-28 23:59 UTC");
        assert_eq!(format_utc_minute(4_107_542_400.0), "2100-03-01 00:00 UTC");
        assert_eq!(format_utc_minute(1_749_893_400.5), "2025-06-14 09:30 UTC");
        assert_eq!(format_utc_minute(-60.0), "1969-12-31 23:59 UTC");
    }

    #[test]
    fn counts_get_thousands_separators() {
        assert_eq!(format_count(1_739_461_711.0), "1,739,461,711");
        assert_eq!(format_count(999.0), "999");
        assert_eq!(format_count(-12_345.0), "-12,345");
        assert_eq!(format_count(12.5), "12.5");
        assert_eq!(format_count(0.333), "0.33");
    }

    #[test]
    fn every_size_of_number_gets_its_separators() {
        for (value, expected) in [
            (0.0, "0"),
            (1_000.0, "1,000"),
            (39_831.0, "39,831"),
            (100_000.0, "100,000"),
            (1_000_000.0, "1,000,000"),
            (999_999.6, "1,000,000"),
            (1_234.56, "1,235"),
            (-1_000.0, "-1,000"),
            (9_223_372_036_854_775_807.0, "9,223,372,036,854,775,808"),
        ] {
            assert_eq!(format_count(value), expected, "{value}");
        }
        assert_eq!(format_bytes(1_000.0), "1,000 B");
        assert_eq!(format_duration_secs(86_400.0 * 1_500.0), "1,500 d");
        assert_eq!(format_value(12_345.0, Unit::Milliseconds), "12 s");
        assert_eq!(format_value(2_500.0, Unit::Milliseconds), "2,500 ms");
    }

    #[test]
    fn bytes_use_binary_units() {
        assert_eq!(format_bytes(512.0), "512 B");
        assert_eq!(format_bytes(8192.0), "8.0 KiB");
        assert_eq!(format_bytes(50_000_000.0), "47.7 MiB");
    }

    #[test]
    fn durations_show_two_units() {
        assert_eq!(format_duration_secs(3.25), "3.2 s");
        assert_eq!(format_duration_secs(45.0), "45 s");
        assert_eq!(format_duration_secs(725.0), "12 min 5 s");
        assert_eq!(format_duration_secs(273_600.0), "3 d 4 h");
        assert_eq!(format_duration_secs(86_400.0), "1 d");
    }

    #[test]
    fn milliseconds_scale() {
        assert_eq!(format_value(1.234, Unit::Milliseconds), "1.23 ms");
        assert_eq!(format_value(1234.0, Unit::Milliseconds), "1,234 ms");
        assert_eq!(format_value(65_000.0, Unit::Milliseconds), "1 min 5 s");
        assert_eq!(format_value(81.04, Unit::Percent), "81.0%");
    }
}
