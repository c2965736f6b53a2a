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
    let mut out = format!("{} {}", parts[first].0, parts[first].1);
    if let Some((n, unit)) = parts.get(first + 1) {
        if *n > 0 {
            out.push_str(&format!(" {n} {unit}"));
        }
    }
    out
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
    fn counts_get_thousands_separators() {
        assert_eq!(format_count(1_739_461_711.0), "1,739,461,711");
        assert_eq!(format_count(999.0), "999");
        assert_eq!(format_count(-12_345.0), "-12,345");
        assert_eq!(format_count(12.5), "12.5");
        assert_eq!(format_count(0.333), "0.33");
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
