//! Percentiles and formatting of the figures.

use std::time::Duration;

/// p50/p99/max of a sample, in seconds (signed, because watch lag measured from the write's
/// acknowledgement can be negative: the event may reach a watcher before the writer's
/// response does).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub count: usize,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

/// Nearest-rank percentile (the value at rank ceil(p/100 * n)) of an ascending slice.
fn nearest_rank(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Summarizes seconds; `None` for an empty sample.
pub fn summarize(mut secs: Vec<f64>) -> Option<Summary> {
    if secs.is_empty() {
        return None;
    }
    secs.sort_by(f64::total_cmp);
    Some(Summary {
        count: secs.len(),
        p50: nearest_rank(&secs, 50.0),
        p99: nearest_rank(&secs, 99.0),
        max: secs[secs.len() - 1],
    })
}

/// Summarizes durations.
pub fn summarize_durations(d: &[Duration]) -> Option<Summary> {
    summarize(d.iter().map(Duration::as_secs_f64).collect())
}

/// Seconds as a short human figure: `850us`, `12.3ms`, `1.42s`.
pub fn fmt_secs(s: f64) -> String {
    let a = s.abs();
    if a < 1e-3 {
        format!("{:.0}us", s * 1e6)
    } else if a < 1.0 {
        format!("{:.1}ms", s * 1e3)
    } else {
        format!("{s:.2}s")
    }
}

/// Bytes as MiB.
pub fn fmt_mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0))
}

/// Renders rows as a plain-text table with left-aligned columns.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(c.len());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i > 0 {
                s.push_str("  ");
            }
            s.push_str(&format!("{:<w$}", c, w = widths[i]));
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(header.to_vec());
    out.push_str(&line(
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect(),
    ));
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_nearest_rank() {
        let cases: Vec<(Vec<f64>, f64, f64, f64)> = vec![
            (vec![1.0], 1.0, 1.0, 1.0),
            (vec![3.0, 1.0, 2.0], 2.0, 3.0, 3.0),
            ((1..=100).map(f64::from).collect(), 50.0, 99.0, 100.0),
            ((1..=1000).map(f64::from).collect(), 500.0, 990.0, 1000.0),
            (vec![-2.0, 5.0], -2.0, 5.0, 5.0),
        ];
        for (input, p50, p99, max) in cases {
            let s = summarize(input.clone()).unwrap();
            assert_eq!((s.p50, s.p99, s.max), (p50, p99, max), "{input:?}");
            assert_eq!(s.count, input.len());
        }
        assert_eq!(summarize(vec![]), None);
    }

    #[test]
    fn formats() {
        assert_eq!(fmt_secs(0.000_25), "250us");
        assert_eq!(fmt_secs(0.0123), "12.3ms");
        assert_eq!(fmt_secs(1.5), "1.50s");
        assert_eq!(fmt_secs(-0.002), "-2.0ms");
        assert_eq!(fmt_mib(3 * 1024 * 1024), "3.0 MiB");
    }

    #[test]
    fn table_aligns_columns() {
        let t = table(
            &["a", "bbb"],
            &[
                vec!["xxxx".into(), "1".into()],
                vec!["y".into(), "22".into()],
            ],
        );
        assert_eq!(t, "a     bbb\n----  ---\nxxxx  1\ny     22\n");
    }
}
