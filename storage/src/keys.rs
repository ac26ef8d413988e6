//! Key-range helpers shared by both backends.
//!
//! Mirrors etcd's `clientv3.GetPrefixRangeEnd`: a prefix query is the half-open byte range
//! `[prefix, prefix_end)`, never a pattern match, so it is served from an ordered index.

/// The first byte string greater than every key starting with `prefix`.
///
/// Keys are UTF-8, so they never contain the byte 0xff; an empty prefix therefore gets the
/// one-byte bound `[0xff]`, which is above every key (SQLite compares TEXT bytewise).
pub(crate) fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut bytes = prefix.as_bytes().to_vec();
    while let Some(last) = bytes.pop() {
        if last < 0xff {
            bytes.push(last + 1);
            return bytes;
        }
    }
    vec![0xff]
}

/// Where a list starts: the prefix itself, or just after `start_after` when that is further.
///
/// `s + "\0"` is the immediate successor of `s` in bytewise order, which turns the exclusive
/// "strictly greater than" of continue tokens into an inclusive lower bound.
pub(crate) fn range_start(prefix: &str, start_after: Option<&str>) -> Vec<u8> {
    match start_after {
        Some(after) => {
            let mut succ = after.as_bytes().to_vec();
            succ.push(0);
            if succ.as_slice() > prefix.as_bytes() {
                succ
            } else {
                prefix.as_bytes().to_vec()
            }
        }
        None => prefix.as_bytes().to_vec(),
    }
}

/// Whether `key` lies in `[start, end)`.
pub(crate) fn in_range(key: &str, start: &[u8], end: &[u8]) -> bool {
    let k = key.as_bytes();
    k >= start && k < end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_table() {
        let cases: &[(&str, &[u8])] = &[
            ("/registry/pods/", b"/registry/pods0"),
            ("a", b"b"),
            ("", &[0xff]),
        ];
        for (prefix, want) in cases {
            assert_eq!(prefix_end(prefix), want.to_vec(), "prefix {prefix:?}");
        }
    }

    #[test]
    fn range_start_table() {
        let cases: &[(&str, Option<&str>, &[u8])] = &[
            ("/p/", None, b"/p/"),
            ("/p/", Some("/p/a"), b"/p/a\0"),
            ("/p/", Some("/a"), b"/p/"),
        ];
        for (prefix, after, want) in cases {
            assert_eq!(range_start(prefix, *after), want.to_vec());
        }
    }

    #[test]
    fn in_range_excludes_sibling_prefix() {
        let end = prefix_end("/registry/pods/");
        assert!(in_range("/registry/pods/a", b"/registry/pods/", &end));
        assert!(!in_range("/registry/podsx/a", b"/registry/pods/", &end));
        assert!(!in_range("/registry/pod", b"/registry/pods/", &end));
    }
}
