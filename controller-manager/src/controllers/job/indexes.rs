//! Index sets in the compressed text form of `status.completedIndexes`,
//! `status.failedIndexes` and `successPolicy.rules[].succeededIndexes`: ascending,
//! comma-separated numbers and `a-b` intervals (upstream `orderedIntervals`).

use std::collections::BTreeSet;

/// Parses `"1,3-5"`; entries that do not parse, or lie at or above `limit`, are ignored
/// (upstream `parseIndexesFromString` ignores out-of-range indexes as well).
pub fn parse(s: &str, limit: i32) -> BTreeSet<i32> {
    let mut set = BTreeSet::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a.parse::<i32>(), b.parse::<i32>()),
            None => (part.parse::<i32>(), part.parse::<i32>()),
        };
        if let (Ok(a), Ok(b)) = (a, b) {
            for i in a.max(0)..=b.min(limit - 1) {
                set.insert(i);
            }
        }
    }
    set
}

/// Formats a set as `"1,3-5"`; the empty set is `""`.
pub fn format(set: &BTreeSet<i32>) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut iter = set.iter().copied().peekable();
    while let Some(first) = iter.next() {
        let mut last = first;
        while iter.peek() == Some(&(last + 1)) {
            last += 1;
            iter.next();
        }
        out.push(if first == last {
            first.to_string()
        } else {
            format!("{first}-{last}")
        });
    }
    out.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_table() {
        let cases: [(&str, i32, &[i32], &str); 6] = [
            ("", 10, &[], ""),
            ("0", 10, &[0], "0"),
            ("1,3-5", 10, &[1, 3, 4, 5], "1,3-5"),
            ("0,1,2", 10, &[0, 1, 2], "0-2"),
            ("3-5,1,9-12", 10, &[1, 3, 4, 5, 9], "1,3-5,9"),
            ("x,2", 10, &[2], "2"),
        ];
        for (s, limit, want, text) in cases {
            let got = parse(s, limit);
            assert_eq!(got.iter().copied().collect::<Vec<_>>(), want, "{s}");
            assert_eq!(format(&got), text, "{s}");
        }
    }
}
