//! Canonical rendering of `resource.Quantity` strings.
//!
//! Upstream printers call `Quantity.String()`, which prints the canonical form, not the text
//! the user wrote: `1024Mi` prints as `1Gi`, `1.5` as `1500m`, `2000` as `2k`. This mirrors
//! apimachinery's `ParseQuantity` + `CanonicalizeBytes` (pkg/api/resource/quantity.go) for
//! every value that fits in an `i128` mantissa; anything larger is printed as written.

/// How a quantity was written, which decides how it is printed back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// `Ki`, `Mi`, ... suffixes.
    BinarySi,
    /// `m`, `k`, `M`, ... or no suffix.
    DecimalSi,
    /// `e3`, `E-2`.
    DecimalExponent,
}

/// A parsed quantity: `mantissa * 10^scale`, already rounded to nano precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Parsed {
    mantissa: i128,
    scale: i32,
    format: Format,
}

/// Returns the canonical form of a quantity string, or `None` when it does not parse
/// (or is too large for this implementation).
pub(crate) fn canonical(s: &str) -> Option<String> {
    let s = s.trim();
    let q = parse(s)?;
    if s == "0" || keeps_original_text(s, q.format) {
        return Some(s.to_string());
    }
    Some(render(q))
}

/// Mirrors ParseQuantity's fast path, which keeps the text as written when it is already
/// in canonical form (so `1E3` or `+5` print as written).
fn keeps_original_text(s: &str, format: Format) -> bool {
    let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
    let digits_end = unsigned
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(unsigned.len());
    let mut num = unsigned[..digits_end].trim_start_matches('0');
    if num.is_empty() {
        num = "0";
    }
    let rest = &unsigned[digits_end..];
    let (denom, suffix) = match rest.strip_prefix('.') {
        Some(r) => {
            let end = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
            (&r[..end], &r[end..])
        }
        None => ("", rest),
    };
    match format {
        Format::BinarySi => {
            let exponent: i64 = match suffix {
                "Ki" => 10,
                "Mi" => 20,
                "Gi" => 30,
                "Ti" => 40,
                "Pi" => 50,
                _ => 60,
            };
            let precision = 15 - num.len() as i64 - exponent * 3 / 10 - 1;
            if !denom.is_empty() || precision < 0 {
                return false;
            }
            let Ok(value) = num.parse::<i64>() else {
                return false;
            };
            value.checked_mul(1i64 << exponent).is_some() && value & 0x07 != 0
        }
        Format::DecimalSi | Format::DecimalExponent => {
            let exponent: i64 = match suffix {
                "n" => -9,
                "u" => -6,
                "m" => -3,
                "" => 0,
                "k" => 3,
                "M" => 6,
                "G" => 9,
                "T" => 12,
                "P" => 15,
                "E" => 18,
                e => match e[1..].parse::<i64>() {
                    Ok(v) => v,
                    Err(_) => return false,
                },
            };
            let precision = 18 - (num.len() + denom.len()) as i64;
            let scale = exponent - denom.len() as i64;
            let shifted = format!("{num}{denom}");
            precision >= 0
                && scale >= -9
                && scale % 3 == 0
                && !shifted.ends_with("000")
                && !shifted.starts_with('0')
        }
    }
}

/// Canonical form of a JSON quantity value (string or number), `"0"` when absent, mirroring
/// a zero `Quantity` read from a missing map entry.
pub(crate) fn of_value(v: Option<&serde_json::Value>) -> String {
    match v {
        None | Some(serde_json::Value::Null) => "0".to_string(),
        Some(serde_json::Value::String(s)) => canonical(s).unwrap_or_else(|| s.clone()),
        Some(serde_json::Value::Number(n)) => {
            let s = n.to_string();
            canonical(&s).unwrap_or(s)
        }
        Some(other) => other.to_string(),
    }
}

fn parse(s: &str) -> Option<Parsed> {
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut negative = false;
    if i < bytes.len() && (bytes[i] == b'+' || bytes[i] == b'-') {
        negative = bytes[i] == b'-';
        i += 1;
    }
    let int_start = i;
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = &s[int_start..i];
    let mut frac_digits = "";
    if i < bytes.len() && bytes[i] == b'.' {
        i += 1;
        let frac_start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        frac_digits = &s[frac_start..i];
    }
    if int_digits.is_empty() && frac_digits.is_empty() {
        return None;
    }
    let suffix = &s[i..];

    let mut mantissa: i128 = 0;
    for c in int_digits.bytes().chain(frac_digits.bytes()) {
        mantissa = mantissa
            .checked_mul(10)?
            .checked_add(i128::from(c - b'0'))?;
    }
    let mut scale = -i32::try_from(frac_digits.len()).ok()?;

    let format = match suffix {
        "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei" => {
            let power = match suffix {
                "Ki" => 10,
                "Mi" => 20,
                "Gi" => 30,
                "Ti" => 40,
                "Pi" => 50,
                _ => 60,
            };
            mantissa = mantissa.checked_mul(1i128.checked_shl(power)?)?;
            Format::BinarySi
        }
        "" | "n" | "u" | "m" | "k" | "M" | "G" | "T" | "P" | "E" => {
            scale += match suffix {
                "n" => -9,
                "u" => -6,
                "m" => -3,
                "k" => 3,
                "M" => 6,
                "G" => 9,
                "T" => 12,
                "P" => 15,
                "E" => 18,
                _ => 0,
            };
            Format::DecimalSi
        }
        _ => {
            let exp = suffix
                .strip_prefix('e')
                .or_else(|| suffix.strip_prefix('E'))?;
            scale = scale.checked_add(exp.parse::<i32>().ok()?)?;
            Format::DecimalExponent
        }
    };
    if negative {
        mantissa = -mantissa;
    }
    // Upstream keeps nano precision and rounds anything finer away from zero.
    if scale < -9 {
        let shift = u32::try_from(-9 - scale).ok()?;
        let div = 10i128.checked_pow(shift)?;
        let (q, r) = (mantissa / div, mantissa % div);
        mantissa = if r == 0 { q } else { q + mantissa.signum() };
        scale = -9;
    }
    Some(Parsed {
        mantissa,
        scale,
        format,
    })
}

/// The integer value when the quantity has no fractional part.
fn as_integer(q: &Parsed) -> Option<i128> {
    if q.scale >= 0 {
        q.mantissa
            .checked_mul(10i128.checked_pow(u32::try_from(q.scale).ok()?)?)
    } else {
        let div = 10i128.checked_pow(u32::try_from(-q.scale).ok()?)?;
        (q.mantissa % div == 0).then_some(q.mantissa / div)
    }
}

fn render(q: Parsed) -> String {
    if q.mantissa == 0 {
        return "0".to_string();
    }
    let mut format = q.format;
    let mut integer = None;
    if format == Format::BinarySi {
        // Mirrors CanonicalizeBytes: small or fractional binary values print as DecimalSI.
        let small = as_integer(&q).is_some_and(|v| v > -1024 && v < 1024)
            || (q.scale < 0 && (q.mantissa.abs() / 10i128.pow((-q.scale) as u32)) < 1024);
        integer = as_integer(&q);
        if small || integer.is_none() {
            format = Format::DecimalSi;
        }
    }
    match (format, integer) {
        (Format::BinarySi, Some(mut v)) => {
            let mut times = 0;
            while v % 1024 == 0 && times < 6 {
                v /= 1024;
                times += 1;
            }
            let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][times];
            format!("{v}{suffix}")
        }
        _ => {
            let (mut m, mut e) = (q.mantissa, q.scale);
            while m % 10 == 0 {
                m /= 10;
                e += 1;
            }
            match e % 3 {
                1 | -2 => {
                    m *= 10;
                    e -= 1;
                }
                2 | -1 => {
                    m *= 100;
                    e -= 2;
                }
                _ => {}
            }
            let suffix = if format == Format::DecimalExponent {
                if e == 0 {
                    String::new()
                } else {
                    format!("e{e}")
                }
            } else {
                match e {
                    -9 => "n".into(),
                    -6 => "u".into(),
                    -3 => "m".into(),
                    0 => String::new(),
                    3 => "k".into(),
                    6 => "M".into(),
                    9 => "G".into(),
                    12 => "T".into(),
                    15 => "P".into(),
                    18 => "E".into(),
                    _ => format!("e{e}"),
                }
            };
            format!("{m}{suffix}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_forms() {
        // Expected values follow upstream's quantity_test.go canonicalization table.
        let cases = [
            ("0", "0"),
            ("0Mi", "0"),
            ("1", "1"),
            ("100m", "100m"),
            ("0.1", "100m"),
            ("1.5", "1500m"),
            ("1500m", "1500m"),
            ("2000", "2k"),
            ("1500", "1500"),
            ("10000", "10k"),
            ("1Gi", "1Gi"),
            ("1024Mi", "1Gi"),
            ("1536Mi", "1536Mi"),
            ("1.5Gi", "1536Mi"),
            ("512Ki", "512Ki"),
            ("0.5Ki", "512"),
            ("1000Ki", "1000Ki"),
            ("100Mi", "100Mi"),
            ("10Gi", "10Gi"),
            ("1e3", "1e3"),
            ("1E3", "1E3"),
            ("+5", "+5"),
            ("05", "05"),
            ("1000m", "1"),
            ("1024Ki", "1Mi"),
            ("1025Ki", "1025Ki"),
            ("12e6", "12e6"),
            ("1e0", "1e0"),
            ("10e3", "10e3"),
            ("1000e0", "1e3"),
            ("-1", "-1"),
            ("-100m", "-100m"),
            ("1n", "1n"),
            ("0.0000000001", "1n"),
            ("5G", "5G"),
            ("500M", "500M"),
            ("1k", "1k"),
            ("1000k", "1M"),
            ("1.1k", "1100"),
            ("0.5m", "500u"),
        ];
        for (input, want) in cases {
            assert_eq!(canonical(input).as_deref(), Some(want), "input {input}");
        }
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "abc", "1Qi", ".", "1e", "--1"] {
            assert_eq!(canonical(bad), None, "input {bad:?}");
        }
    }

    #[test]
    fn json_values() {
        assert_eq!(of_value(None), "0");
        assert_eq!(of_value(Some(&serde_json::json!("2048Mi"))), "2Gi");
        assert_eq!(of_value(Some(&serde_json::json!(3))), "3");
    }
}
