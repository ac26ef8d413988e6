//! String-format validators, mirroring upstream's
//! `k8s.io/apimachinery/pkg/util/validation` (`IsDNS1123Label`, `IsQualifiedName`, ...).
//! Each returns the list of upstream messages (empty when valid).

pub(crate) const DNS1123_LABEL_MAX: usize = 63;
pub(crate) const DNS1123_SUBDOMAIN_MAX: usize = 253;
pub(crate) const DNS1035_LABEL_MAX: usize = 63;
const QUALIFIED_NAME_MAX: usize = 63;
const LABEL_VALUE_MAX: usize = 63;

const DNS1123_LABEL_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1035_LABEL_FMT: &str = "[a-z]([-a-z0-9]*[a-z0-9])?";
const QUALIFIED_NAME_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const QUALIFIED_NAME_ERR: &str =
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";

/// Upstream's `validation.MaxLenError`.
pub(crate) fn max_len_error(n: usize) -> String {
    format!("must be no more than {n} characters")
}

/// Upstream's `validation.InclusiveRangeError`.
pub(crate) fn inclusive_range_error(lo: i64, hi: i64) -> String {
    format!("must be between {lo} and {hi}, inclusive")
}

/// Upstream's `validation.RegexError` (note the doubled space before " or " that upstream's
/// formatting produces).
pub(crate) fn regex_error(msg: &str, fmt: &str, examples: &[&str]) -> String {
    if examples.is_empty() {
        return format!("{msg} (regex used for validation is '{fmt}')");
    }
    let mut s = format!("{msg} (e.g. ");
    for (i, e) in examples.iter().enumerate() {
        if i > 0 {
            s.push_str(" or ");
        }
        s.push_str(&format!("'{e}', "));
    }
    s.push_str(&format!("regex used for validation is '{fmt}')"));
    s
}

fn is_lower_alnum(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

fn matches_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && is_lower_alnum(b[0])
        && is_lower_alnum(b[b.len() - 1])
        && b.iter().all(|&c| is_lower_alnum(c) || c == b'-')
}

fn matches_dns1123_subdomain(s: &str) -> bool {
    s.split('.').all(matches_dns1123_label)
}

/// `IsDNS1123Label`.
pub(crate) fn is_dns1123_label(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > DNS1123_LABEL_MAX {
        errs.push(max_len_error(DNS1123_LABEL_MAX));
    }
    if !matches_dns1123_label(s) {
        errs.push(regex_error(
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
            DNS1123_LABEL_FMT,
            &["my-name", "123-abc"],
        ));
    }
    errs
}

/// `IsDNS1123Subdomain`.
pub(crate) fn is_dns1123_subdomain(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > DNS1123_SUBDOMAIN_MAX {
        errs.push(max_len_error(DNS1123_SUBDOMAIN_MAX));
    }
    if !matches_dns1123_subdomain(s) {
        errs.push(regex_error(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
            "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*",
            &["example.com"],
        ));
    }
    errs
}

/// `IsDNS1035Label`.
pub(crate) fn is_dns1035_label(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > DNS1035_LABEL_MAX {
        errs.push(max_len_error(DNS1035_LABEL_MAX));
    }
    let b = s.as_bytes();
    let ok = !b.is_empty()
        && b[0].is_ascii_lowercase()
        && is_lower_alnum(b[b.len() - 1])
        && b.iter().all(|&c| is_lower_alnum(c) || c == b'-');
    if !ok {
        errs.push(regex_error(
            "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character",
            DNS1035_LABEL_FMT,
            &["my-name", "abc-123"],
        ));
    }
    errs
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

fn matches_qualified_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.')
}

/// `IsQualifiedName`: an optional DNS-subdomain prefix and `/`, then a name part.
pub(crate) fn is_qualified_name(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let parts: Vec<&str> = value.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push("prefix part must be non-empty".to_string());
            } else {
                for m in is_dns1123_subdomain(prefix) {
                    errs.push(format!("prefix part {m}"));
                }
            }
            *name
        }
        _ => {
            errs.push(format!(
                "a qualified name {} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
                regex_error(QUALIFIED_NAME_ERR, QUALIFIED_NAME_FMT, &["MyName", "my.name", "123-abc"])
            ));
            return errs;
        }
    };
    if name.is_empty() {
        errs.push("name part must be non-empty".to_string());
    } else if name.len() > QUALIFIED_NAME_MAX {
        errs.push(format!("name part {}", max_len_error(QUALIFIED_NAME_MAX)));
    }
    if !matches_qualified_name_part(name) {
        errs.push(format!(
            "name part {}",
            regex_error(
                QUALIFIED_NAME_ERR,
                QUALIFIED_NAME_FMT,
                &["MyName", "my.name", "123-abc"]
            )
        ));
    }
    errs
}

/// `IsValidLabelValue`.
pub(crate) fn is_valid_label_value(v: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if v.len() > LABEL_VALUE_MAX {
        errs.push(max_len_error(LABEL_VALUE_MAX));
    }
    if !v.is_empty() && !matches_qualified_name_part(v) {
        errs.push(regex_error(
            "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
            "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?",
            &["MyValue", "my_value", "12345"],
        ));
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
