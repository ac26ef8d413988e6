//! String-format validators, mirroring upstream's
//! `k8s.io/apimachinery/pkg/util/validation` (`IsDNS1123Label`, `IsQualifiedName`, ...).
//! Each returns the list of upstream messages (empty when valid).

// The name and label validators are shared with the rest of the project through
// rudder-api (one implementation of upstream's messages).
pub(crate) use rudder_api::labels::{
    is_dns1035_label, is_dns1123_label, is_dns1123_subdomain, is_qualified_name, max_len_error,
    regex_error, validate_label_value as is_valid_label_value,
};

pub(crate) const DNS1123_SUBDOMAIN_MAX: usize = 253;

/// Upstream's `validation.InclusiveRangeError`.
pub(crate) fn inclusive_range_error(lo: i64, hi: i64) -> String {
    format!("must be between {lo} and {hi}, inclusive")
}

fn is_lower_alnum(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// Upstream's `path.IsValidPathSegmentName` / `IsValidPathSegmentPrefix`.
pub(crate) fn is_path_segment(s: &str, prefix: bool) -> Vec<String> {
    let mut errs = Vec::new();
    if !prefix && (s == "." || s == "..") {
        errs.push(format!("may not be '{s}'"));
    }
    for bad in ["/", "%"] {
        if s.contains(bad) {
            errs.push(format!("may not contain '{bad}'"));
        }
    }
    errs
}

/// `IsValidPortNum`.
pub(crate) fn is_valid_port_num(p: i64) -> Vec<String> {
    if (1..=65535).contains(&p) {
        Vec::new()
    } else {
        vec![inclusive_range_error(1, 65535)]
    }
}

/// `IsValidPortName` (IANA_SVC_NAME).
pub(crate) fn is_valid_port_name(p: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if p.len() > 15 {
        errs.push(max_len_error(15));
    }
    if !p.bytes().all(|c| is_lower_alnum(c) || c == b'-') {
        errs.push(
            "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".to_string(),
        );
    }
    if !p.bytes().any(|c| c.is_ascii_lowercase()) {
        errs.push("must contain at least one letter (a-z)".to_string());
    }
    if p.contains("--") {
        errs.push("must not contain consecutive hyphens".to_string());
    }
    if p.starts_with('-') || p.ends_with('-') {
        errs.push("must not begin or end with a hyphen".to_string());
    }
    errs
}

/// `IsConfigMapKey` (also used for secret keys).
pub(crate) fn is_config_map_key(k: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if k.len() > DNS1123_SUBDOMAIN_MAX {
        errs.push(max_len_error(DNS1123_SUBDOMAIN_MAX));
    }
    let ok = !k.is_empty()
        && k.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.');
    if !ok {
        errs.push(regex_error(
            "a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
            "[-._a-zA-Z0-9]+",
            &["key.name", "KEY_NAME", "key-name"],
        ));
    }
    if k == "." {
        errs.push("must not be '.'".to_string());
    } else if k == ".." {
        errs.push("must not be '..'".to_string());
    } else if k.starts_with("..") {
        errs.push("must not start with '..'".to_string());
    }
    errs
}

/// Upstream's relaxed `IsRelaxedEnvVarName` (RelaxedEnvironmentVariableValidation, on by
/// default since 1.32).
pub(crate) fn is_env_var_name(n: &str) -> Vec<String> {
    if n.bytes().all(|c| (b' '..=b'~').contains(&c) && c != b'=') {
        Vec::new()
    } else {
        vec!["a valid environment variable name must consist only of printable ASCII characters other than '='".to_string()]
    }
}

/// Whether `s` is an IPv4 or IPv6 address (upstream `netutils.ParseIPSloppy`).
pub(crate) fn is_ip(s: &str) -> bool {
    s.parse::<std::net::IpAddr>().is_ok()
}

/// Upstream's `maskTrailingDash`, used so a generateName prefix may end in `-`.
pub(crate) fn mask_trailing_dash(s: &str) -> String {
    if s.len() > 1 && s.ends_with('-') {
        format!("{}a", &s[..s.len() - 1])
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns1123_label_table() {
        let long = "a".repeat(64);
        let cases: &[(&str, bool)] = &[
            ("a", true),
            ("ab-c", true),
            ("0", true),
            ("a-", false),
            ("-a", false),
            ("A", false),
            ("a.b", false),
            ("", false),
            (&long, false),
        ];
        for (s, ok) in cases {
            assert_eq!(is_dns1123_label(s).is_empty(), *ok, "{s}");
        }
        assert_eq!(
            is_dns1123_label("Foo")[0],
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
        );
    }

    #[test]
    fn dns1123_subdomain_and_1035() {
        for (s, ok) in [
            ("a.b.c", true),
            ("example.com", true),
            ("a..b", false),
            (".a", false),
            ("a_b", false),
        ] {
            assert_eq!(is_dns1123_subdomain(s).is_empty(), ok, "{s}");
        }
        for (s, ok) in [
            ("abc", true),
            ("a-1", true),
            ("1abc", false),
            ("abc-", false),
        ] {
            assert_eq!(is_dns1035_label(s).is_empty(), ok, "{s}");
        }
    }

    #[test]
    fn qualified_names_table() {
        let cases: &[(&str, bool)] = &[
            ("simple", true),
            ("now-with-dashes", true),
            ("1-starts-with-num", true),
            ("1234", true),
            ("simple/simple", true),
            ("example.com/Simple", true),
            ("a.b-c/UPPER_under-dash.dot", true),
            ("nospecialchars%^=@", false),
            ("cantendwithadash-", false),
            ("/simple", false),
            ("simple/", false),
            ("a/b/c", false),
            ("Example.com/simple", false),
        ];
        for (s, ok) in cases {
            assert_eq!(
                is_qualified_name(s).is_empty(),
                *ok,
                "{s}: {:?}",
                is_qualified_name(s)
            );
        }
        assert_eq!(
            is_qualified_name("/a"),
            vec!["prefix part must be non-empty"]
        );
    }

    #[test]
    fn label_values_ports_keys() {
        for (s, ok) in [("", true), ("a_b.c-d", true), ("-a", false), ("a b", false)] {
            assert_eq!(is_valid_label_value(s).is_empty(), ok, "{s}");
        }
        for (s, ok) in [
            ("http", true),
            ("h-1", true),
            ("123", false),
            ("a--b", false),
            ("-ab", false),
            ("HTTP", false),
            ("abcdefghijklmnop", false),
        ] {
            assert_eq!(is_valid_port_name(s).is_empty(), ok, "{s}");
        }
        for (s, ok) in [
            ("key.name", true),
            ("KEY_NAME", true),
            (".a", true),
            ("..a", false),
            (".", false),
            ("a/b", false),
            ("", false),
        ] {
            assert_eq!(is_config_map_key(s).is_empty(), ok, "{s}");
        }
        assert_eq!(is_path_segment("..", false), vec!["may not be '..'"]);
        assert_eq!(
            is_path_segment("a/b%", false),
            vec!["may not contain '/'", "may not contain '%'"]
        );
        assert_eq!(mask_trailing_dash("abc-"), "abca");
        assert!(is_valid_port_num(0).len() == 1 && is_valid_port_num(80).is_empty());
    }
}
