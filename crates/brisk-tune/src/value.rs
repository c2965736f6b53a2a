//! Setting values: sizes in kB (PostgreSQL's and PGTune's base unit), and their text.

use serde::{Serialize, Serializer};

use crate::TuneError;

/// A proposed value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A size in kB, written as PGTune writes it: GB or MB when whole, else kB.
    Kb(u64),
    Int(u64),
    Real(f64),
    Text(&'static str),
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Kb(kb) => f.write_str(&format_kb(*kb)),
            Value::Int(n) => write!(f, "{n}"),
            Value::Real(x) => write!(f, "{x}"),
            Value::Text(s) => f.write_str(s),
        }
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

/// `16GB`, `512MB` or `1638kB`.
pub fn format_kb(kb: u64) -> String {
    if kb > 0 && kb % (1024 * 1024) == 0 {
        format!("{}GB", kb / (1024 * 1024))
    } else if kb > 0 && kb % 1024 == 0 {
        format!("{}MB", kb / 1024)
    } else {
        format!("{kb}kB")
    }
}

/// Reads a size a user typed: `16GB`, `16G`, `512MiB`, `1.5TB` (powers of 1024, as
/// PostgreSQL and PGTune count). A bare number is refused: 16 could be GB or bytes.
pub fn parse_size(text: &str) -> Result<u64, TuneError> {
    let bad = || {
        TuneError::BadInput(format!(
            "{text:?} is not a size: write it like 16GB, 512MB or 1TB"
        ))
    };
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(bad)?;
    let (number, unit) = trimmed.split_at(split);
    let number: f64 = number.parse().map_err(|_| bad())?;
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "kb" | "k" | "kib" => 1 << 10,
        "mb" | "m" | "mib" => 1 << 20,
        "gb" | "g" | "gib" => 1 << 30,
        "tb" | "t" | "tib" => 1 << 40,
        _ => return Err(bad()),
    };
    let bytes = number * multiplier as f64;
    if !bytes.is_finite() || bytes < 1.0 || bytes > u64::MAX as f64 {
        return Err(bad());
    }
    Ok(bytes as u64)
}

/// A value of `pg_settings` in kB, when its unit is a size (`kB`, `8kB`, `MB`, `B`).
/// `-1` (auto, as for wal_buffers) and other units give `None`.
pub fn setting_kb(setting: &str, unit: Option<&str>) -> Option<u64> {
    let n: i64 = setting.parse().ok()?;
    let n = u64::try_from(n).ok()?;
    match unit? {
        "B" => Some(n / 1024),
        "kB" => Some(n),
        "8kB" => Some(n * 8),
        "16kB" => Some(n * 16),
        "32kB" => Some(n * 32),
        "MB" => Some(n * 1024),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_users_write_them() {
        assert_eq!(parse_size("16GB").unwrap(), 16 << 30);
        assert_eq!(parse_size("16g").unwrap(), 16 << 30);
        assert_eq!(parse_size("512 MiB").unwrap(), 512 << 20);
        assert_eq!(parse_size("1.5TB").unwrap(), 3 << 39);
        for bad in ["16", "GB", "16XB", "-4GB", "", "0GB", "1e400GB"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes_print_as_pgtune_prints_them() {
        assert_eq!(format_kb(4 << 20), "4GB");
        assert_eq!(format_kb(1536), "1536kB");
        assert_eq!(format_kb(2048), "2MB");
        assert_eq!(setting_kb("16384", Some("8kB")), Some(131_072));
        assert_eq!(setting_kb("-1", Some("8kB")), None);
        assert_eq!(setting_kb("1024", Some("MB")), Some(1 << 20));
    }
}
