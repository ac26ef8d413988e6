//! Go `time.ParseDuration` syntax for flags (`15s`, `5m0s`, `1h30m`, `250ms`), because
//! upstream duration flags accept exactly that.

use std::time::Duration;

/// Parses a Go duration string; negative durations are refused (no flag here takes one).
pub fn parse(s: &str) -> Result<Duration, String> {
    let orig = s;
    let s = s.trim().strip_prefix('+').unwrap_or(s.trim());
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() || s.starts_with('-') {
        return Err(format!("time: invalid duration {orig:?}"));
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("time: missing unit in duration {orig:?}"))?;
        if num_len == 0 {
            return Err(format!("time: invalid duration {orig:?}"));
        }
        let value: f64 = rest[..num_len]
            .parse()
            .map_err(|_| format!("time: invalid duration {orig:?}"))?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            u => return Err(format!("time: unknown unit {u:?} in duration {orig:?}")),
        };
        rest = &rest[unit_len..];
        total += value * scale;
    }
    Ok(Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_table() {
        let ok = [
            ("0", Duration::ZERO),
            ("15s", Duration::from_secs(15)),
            ("5m0s", Duration::from_secs(300)),
            ("1h30m", Duration::from_secs(5400)),
            ("250ms", Duration::from_millis(250)),
            ("1.5s", Duration::from_millis(1500)),
        ];
        for (s, want) in ok {
            assert_eq!(parse(s).unwrap(), want, "{s}");
        }
        for bad in ["", "15", "s", "-1s", "3x", "1..s"] {
            assert!(parse(bad).is_err(), "{bad:?} should fail");
        }
    }
}
