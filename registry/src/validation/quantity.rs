//! Just enough of upstream's `resource.Quantity` to validate and compare quantities.

/// A parsed quantity in units of 10^-9, saturating; values finer than nano round up, as
/// upstream's `Quantity` rounds up to its smallest scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Quantity(pub(crate) i128);

/// Error message upstream's `resource.ErrFormatWrong` produces.
pub(crate) const QUANTITY_FORMAT_ERR: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

/// Parses a Kubernetes quantity string (`100m`, `1.5Gi`, `2e3`, `128974848`).
pub(crate) fn parse(s: &str) -> Option<Quantity> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let (neg, body) = match s.as_bytes()[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let num_end = body
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(body.len());
    let (num, suffix) = body.split_at(num_end);
    if num.is_empty() || num == "." || num.matches('.').count() > 1 {
        return None;
    }
    // (base, exponent): value = num * base^exponent
    let (base, exp): (i128, i32) = match suffix {
        "" => (10, 0),
        "n" => (10, -9),
        "u" => (10, -6),
        "m" => (10, -3),
        "k" => (10, 3),
        "M" => (10, 6),
        "G" => (10, 9),
        "T" => (10, 12),
        "P" => (10, 15),
        "E" => (10, 18),
        "Ki" => (2, 10),
        "Mi" => (2, 20),
        "Gi" => (2, 30),
        "Ti" => (2, 40),
        "Pi" => (2, 50),
        "Ei" => (2, 60),
        other => {
            let rest = other.strip_prefix(['e', 'E'])?;
            let e: i32 = rest.parse().ok()?;
            if !(-40..=40).contains(&e) {
                return None;
            }
            (10, e)
        }
    };
    let (int_part, frac_part) = num.split_once('.').unwrap_or((num, ""));
    // Work in nano units: digits * 10^9 / 10^len(frac).
    let digits: String = format!("{int_part}{frac_part}");
    let mut mantissa: i128 = 0;
    for c in digits.bytes() {
        mantissa = mantissa
            .saturating_mul(10)
            .saturating_add(i128::from(c - b'0'));
    }
    let mut scale10: i32 = 9 - frac_part.len() as i32;
    let mut value = mantissa;
    if base == 2 {
        value = value.saturating_mul(1i128 << exp);
    } else {
        scale10 += exp;
    }
    if scale10 >= 0 {
        for _ in 0..scale10 {
            value = value.saturating_mul(10);
        }
    } else {
        let div = 10i128.checked_pow((-scale10) as u32).unwrap_or(i128::MAX);
        let rounded_up = value % div != 0;
        value = value / div + i128::from(rounded_up);
    }
    Some(Quantity(if neg { -value } else { value }))
}

/// A quantity given as a JSON number or string.
pub(crate) fn parse_value(v: &serde_json::Value) -> Option<Quantity> {
    match v {
        serde_json::Value::String(s) => parse(s),
        serde_json::Value::Number(n) => parse(&n.to_string()),
        _ => None,
    }
}

/// Upstream's canonical `Quantity.String()` for a parsed `input`: binary-suffixed inputs
/// print with the largest exact power-of-1024 suffix, everything else with the largest exact
/// SI suffix (`0.5` -> `500m`, `2000` -> `2k`, `1024Mi` -> `1Gi`). Unparseable input is
/// returned as is.
pub(crate) fn canonical(input: &str) -> String {
    let Some(Quantity(v)) = parse(input) else {
        return input.to_string();
    };
    if v == 0 {
        return "0".to_string();
    }
    const NANO: i128 = 1_000_000_000;
    if input.trim_end().ends_with('i') && v % NANO == 0 {
        let bytes = v / NANO;
        for (shift, suffix) in [
            (60, "Ei"),
            (50, "Pi"),
            (40, "Ti"),
            (30, "Gi"),
            (20, "Mi"),
            (10, "Ki"),
        ] {
            let unit = 1i128 << shift;
            if bytes % unit == 0 {
                return format!("{}{suffix}", bytes / unit);
            }
        }
        return bytes.to_string();
    }
    for (exp, suffix) in [
        (27, "E"),
        (24, "P"),
        (21, "T"),
        (18, "G"),
        (15, "M"),
        (12, "k"),
        (9, ""),
        (6, "m"),
        (3, "u"),
    ] {
        let unit = 10i128.pow(exp);
        if v % unit == 0 {
            return format!("{}{suffix}", v / unit);
        }
    }
    format!("{v}n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_table() {
        for (input, want) in [
            ("0.5", "500m"),
            ("500m", "500m"),
            ("1000m", "1"),
            ("2000", "2k"),
            ("1500", "1500"),
            ("1024Mi", "1Gi"),
            ("1.5Gi", "1536Mi"),
            ("128974848", "128974848"),
            ("0", "0"),
            ("bogus", "bogus"),
        ] {
            assert_eq!(canonical(input), want, "{input}");
        }
    }

    #[test]
    fn parse_table() {
        let cases: &[(&str, Option<i128>)] = &[
            ("1", Some(1_000_000_000)),
            ("100m", Some(100_000_000)),
            ("0.1", Some(100_000_000)),
            ("1Ki", Some(1_024_000_000_000)),
            ("1.5Gi", Some(1_610_612_736_000_000_000)),
            ("2e3", Some(2_000_000_000_000)),
            ("1n", Some(1)),
            ("-1", Some(-1_000_000_000)),
            ("abc", None),
            ("1Qi", None),
            ("", None),
        ];
        for (s, want) in cases {
            assert_eq!(parse(s).map(|q| q.0), *want, "{s}");
        }
        assert_eq!(parse("500m"), parse("0.5"));
        assert!(parse("1Gi") > parse("1G"));
    }
}
