//! Go's text forms of times and durations, as upstream's JSON encoder prints them.

/// Formats nanoseconds like Go's `time.Duration.String` (`1h2m3.5s`, `1.5ms`, `0s`),
/// which is what `metav1.Duration` marshals to JSON.
pub(crate) fn duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".to_string();
    }
    let mut u = nanos.unsigned_abs();
    let mut out = String::new();
    if nanos < 0 {
        out.push('-');
    }
    if u < 1_000_000_000 {
        // Below one second Go picks the largest unit that keeps the integer part non-zero.
        let (digits, unit) = if u < 1_000 {
            (0, "ns")
        } else if u < 1_000_000 {
            (3, "µs")
        } else {
            (6, "ms")
        };
        out.push_str(&fraction(u, digits));
        out.push_str(unit);
        return out;
    }
    let secs = fraction(u % 60_000_000_000, 9);
    u /= 60_000_000_000;
    if u > 0 {
        let minutes = u % 60;
        let hours = u / 60;
        if hours > 0 {
            out.push_str(&format!("{hours}h"));
        }
        out.push_str(&format!("{minutes}m"));
    }
    out.push_str(&secs);
    out.push('s');
    out
}

/// `v / 10^digits` followed by the non-zero part of its fraction (`1500, 3` -> `1.5`).
fn fraction(v: u64, digits: u32) -> String {
    let scale = 10u64.pow(digits);
    let (int, frac) = (v / scale, v % scale);
    if frac == 0 {
        return int.to_string();
    }
    let frac = format!("{frac:0width$}", width = digits as usize);
    format!("{int}.{}", frac.trim_end_matches('0'))
}

/// Formats Unix seconds + nanoseconds as RFC 3339 in UTC. With `micros`, six fractional
/// digits are always printed (`metav1.MicroTime`, Go's RFC3339Micro layout); without, the
/// fraction is dropped (`metav1.Time`, Go's RFC3339 layout). Like Go's encoder, years
/// outside 0..=9999 are refused.
pub(crate) fn rfc3339(seconds: i64, nanos: i64, micros: bool) -> Result<String, String> {
    // time.Unix normalises nanoseconds outside [0, 1e9) into the seconds.
    let secs = seconds
        .checked_add(nanos.div_euclid(1_000_000_000))
        .ok_or_else(|| "time out of range".to_string())?;
    let nsec = u32::try_from(nanos.rem_euclid(1_000_000_000)).unwrap_or(0);
    let t = chrono::DateTime::from_timestamp(secs, nsec)
        .ok_or_else(|| format!("time {seconds}s out of range"))?;
    let year = chrono::Datelike::year(&t);
    if !(0..=9999).contains(&year) {
        return Err(format!("year {year} outside of range [0,9999]"));
    }
    Ok(if micros {
        format!("{}.{:06}Z", t.format("%Y-%m-%dT%H:%M:%S"), nsec / 1_000)
    } else {
        t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_match_go() {
        // Expected strings from Go's time.Duration.String.
        let cases: &[(i64, &str)] = &[
            (0, "0s"),
            (1, "1ns"),
            (999, "999ns"),
            (1_000, "1µs"),
            (1_500, "1.5µs"),
            (1_000_000, "1ms"),
            (1_500_000, "1.5ms"),
            (1_000_000_000, "1s"),
            (1_500_000_000, "1.5s"),
            (60_000_000_000, "1m0s"),
            (90_000_000_000, "1m30s"),
            (3_600_000_000_000, "1h0m0s"),
            (3_723_500_000_000, "1h2m3.5s"),
            (-1_500_000_000, "-1.5s"),
            (100 * 3_600_000_000_000, "100h0m0s"),
            (i64::MIN, "-2562047h47m16.854775808s"),
        ];
        for (nanos, want) in cases {
            assert_eq!(duration(*nanos), *want, "{nanos}");
        }
    }

    #[test]
    fn times_match_go() {
        let cases: &[(i64, i64, bool, Result<&str, ()>)] = &[
            (0, 0, false, Ok("1970-01-01T00:00:00Z")),
            (
                1_700_000_000,
                999_999_999,
                false,
                Ok("2023-11-14T22:13:20Z"),
            ),
            (
                1_700_000_000,
                123_456_789,
                true,
                Ok("2023-11-14T22:13:20.123456Z"),
            ),
            (1_700_000_000, 0, true, Ok("2023-11-14T22:13:20.000000Z")),
            (-1, 0, false, Ok("1969-12-31T23:59:59Z")),
            (0, -1, true, Ok("1969-12-31T23:59:59.999999Z")),
            (253_402_300_800, 0, false, Err(())),
            (i64::MAX, 0, false, Err(())),
        ];
        for (s, n, micro, want) in cases {
            let got = rfc3339(*s, *n, *micro);
            match want {
                Ok(w) => assert_eq!(got.as_deref(), Ok(*w), "{s} {n}"),
                Err(()) => assert!(got.is_err(), "{s} {n}: {got:?}"),
            }
        }
    }
}
