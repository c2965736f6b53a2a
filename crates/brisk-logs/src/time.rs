//! Log timestamps as milliseconds since the Unix epoch, without a time-zone database.
//!
//! PostgreSQL writes `log_timezone`'s abbreviation (`UTC`, `CET`) or an offset (`+03`).
//! Offsets and `UTC`/`GMT`/`Z` are applied; other names are read as UTC, so times in such
//! a log are shifted by the zone's offset but stay in order, which is all the per-minute
//! series, `--since`/`--until` on the log's own clock and the N+1 detector need.

/// Days from 1970-01-01 to a civil date (Howard Hinnant's `days_from_civil`).
pub(crate) fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn number(bytes: &[u8], range: std::ops::Range<usize>) -> Option<i64> {
    let digits = bytes.get(range)?;
    let mut value = 0i64;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        value = value * 10 + i64::from(b - b'0');
    }
    Some(value)
}

/// `YYYY-MM-DD HH:MM:SS[.fff...]` at the start of `text`, as epoch milliseconds (UTC) and its
/// length.
pub fn parse_datetime(text: &str) -> Option<(i64, usize)> {
    let b = text.as_bytes();
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || (b[10] != b' ' && b[10] != b'T')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (number(b, 0..4)?, number(b, 5..7)?, number(b, 8..10)?);
    let (hour, minute, second) = (number(b, 11..13)?, number(b, 14..16)?, number(b, 17..19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut len = 19;
    let mut millis = 0;
    if b.get(19) == Some(&b'.') {
        let digits = b[20..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        let kept = digits.min(3);
        millis = number(b, 20..20 + kept)? * 10i64.pow(3 - kept as u32);
        len = 20 + digits;
    }
    let days = days_from_civil(year, month, day);
    Some((
        (((days * 24 + hour) * 60 + minute) * 60 + second) * 1000 + millis,
        len,
    ))
}

/// A log timestamp, `YYYY-MM-DD HH:MM:SS[.fff] ZONE`, as epoch milliseconds and its length.
pub fn parse_timestamp(text: &str) -> Option<(i64, usize)> {
    let (local, len) = parse_datetime(text)?;
    let rest = text.get(len..)?.strip_prefix(' ')?;
    // Abbreviations (`UTC`, `CEST`) and offsets (`+03`, `-0530`); not `:`, which prefixes
    // such as RDS's `%t:%r:` put right after the zone.
    let zone_len = rest
        .bytes()
        .take_while(|&b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-' || b == b'_')
        .count();
    if zone_len == 0 {
        return None;
    }
    let offset = zone_offset_secs(&rest[..zone_len]);
    Some((local - offset * 1000, len + 1 + zone_len))
}

/// The zone's offset east of UTC in seconds: `+03`, `-05:30`, `+0530`; 0 for names.
pub(crate) fn zone_offset_secs(zone: &str) -> i64 {
    let b = zone.as_bytes();
    let sign = match b.first() {
        Some(b'+') => 1,
        Some(b'-') => -1,
        _ => return 0,
    };
    let digits: Vec<u8> = b[1..].iter().copied().filter(u8::is_ascii_digit).collect();
    let hours = number(&digits, 0..digits.len().min(2)).unwrap_or(0);
    let minutes = if digits.len() >= 4 {
        number(&digits, 2..4).unwrap_or(0)
    } else {
        0
    };
    sign * (hours * 3600 + minutes * 60)
}

/// The civil year and month (1-12) of an epoch time in seconds (Hinnant's `civil_from_days`).
pub(crate) fn year_month(epoch_secs: i64) -> (i64, i64) {
    let z = epoch_secs.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month)
}

/// `%n`: `1765000000.123`, as epoch milliseconds and its length.
pub fn parse_epoch_millis(text: &str) -> Option<(i64, usize)> {
    let b = text.as_bytes();
    let secs_len = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if secs_len == 0 || secs_len > 12 || b.get(secs_len) != Some(&b'.') {
        return None;
    }
    let frac = b[secs_len + 1..]
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .count();
    if frac == 0 {
        return None;
    }
    let secs = number(b, 0..secs_len)?;
    let kept = frac.min(3);
    let millis = number(b, secs_len + 1..secs_len + 1 + kept)? * 10i64.pow(3 - kept as u32);
    Some((secs * 1000 + millis, secs_len + 1 + frac))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_with_zones() {
        assert_eq!(
            parse_timestamp("1970-01-01 00:00:01.5 UTC x"),
            Some((1500, 25))
        );
        let (utc, _) = parse_timestamp("2026-12-06 01:02:03.456 UTC").unwrap();
        assert_eq!(utc, 1_796_518_923_456);
        let (plus, _) = parse_timestamp("2026-12-06 04:02:03.456 +03").unwrap();
        assert_eq!(plus, utc);
        let (minus, _) = parse_timestamp("2026-12-05 19:32:03.456 -0530").unwrap();
        assert_eq!(minus, utc);
        assert_eq!(parse_timestamp("2026-13-06 01:02:03 UTC"), None);
        assert_eq!(parse_timestamp("2026-12-06 01:02:03"), None);
        assert_eq!(year_month(1_796_518_923), (2026, 12));
        assert_eq!(year_month(951_782_400), (2000, 2));
        assert_eq!(year_month(0), (1970, 1));
        assert_eq!(
            parse_epoch_millis("1796518923.456 "),
            Some((1_796_518_923_456, 14))
        );
    }
}
