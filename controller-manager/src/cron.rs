//! Cron schedules as the cronjob controller reads them: the syntax of robfig/cron v3's
//! `ParseStandard` (the library upstream uses), with its error messages.
//! - five fields: minute (0-59), hour (0-23), day of month (1-31), month (1-12 or
//!   `jan`..`dec`), day of week (0-6 or `sun`..`sat`); each a comma list of `*`, `?`, `N`,
//!   `N-M`, with an optional `/step` (`N/step` means `N-max/step`);
//! - `@yearly`, `@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight`, `@hourly`,
//!   `@every <go duration>`;
//! - an optional `TZ=<zone>` or `CRON_TZ=<zone>` prefix (the controller adds `TZ=` itself
//!   for `spec.timeZone`; the apiserver refuses the prefix in new objects);
//! - day of month and day of week combine with OR when both are restricted, with AND when
//!   either is `*`/`?` (robfig's star bit, which a step above 1 clears).
//!
//! Zones are read from the system tz database (`/usr/share/zoneinfo`) through jiff. Times
//! are matched on the zone's civil clock; a civil time that falls in a DST gap is moved
//! forward by the gap, and an ambiguous one takes the earlier instant.

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ToSpan};

/// Why a schedule does not parse; the messages are robfig/cron's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CronError {
    /// the schedule is empty
    #[error("empty spec string")]
    Empty,
    /// the TZ prefix names no known zone
    #[error("provided bad location {0}: unknown time zone {0}")]
    BadLocation(String),
    /// anything else, with robfig's message
    #[error("{0}")]
    Syntax(String),
}

/// How a schedule fires.
#[derive(Debug, Clone, PartialEq)]
enum Kind {
    /// Matching civil times.
    Spec {
        minute: u64,
        hour: u64,
        dom: u64,
        month: u64,
        dow: u64,
        dom_star: bool,
        dow_star: bool,
    },
    /// `@every`: a fixed delay (whole seconds, at least one).
    Every(SignedDuration),
}

/// A parsed schedule with the zone its fields are read in.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    kind: Kind,
    tz: TimeZone,
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// Loads a zone from the system database (`UTC` and `Local` are always known, as in Go's
/// `time.LoadLocation`).
pub fn load_zone(name: &str) -> Result<TimeZone, CronError> {
    match name {
        "" | "UTC" => Ok(TimeZone::UTC),
        "Local" => Ok(TimeZone::try_system().unwrap_or(TimeZone::UTC)),
        _ => TimeZone::get(name).map_err(|_| CronError::BadLocation(name.to_string())),
    }
}

impl Schedule {
    /// Parses a schedule, read in `default_tz` unless it carries a `TZ=` prefix.
    pub fn parse(spec: &str, default_tz: TimeZone) -> Result<Schedule, CronError> {
        let mut spec = spec.trim();
        if spec.is_empty() {
            return Err(CronError::Empty);
        }
        let mut tz = default_tz;
        if spec.starts_with("TZ=") || spec.starts_with("CRON_TZ=") {
            let eq = spec.find('=').unwrap_or(0);
            let end = spec.find(' ').unwrap_or(spec.len());
            tz = load_zone(&spec[eq + 1..end])?;
            spec = spec[end..].trim();
        }
        if let Some(desc) = spec.strip_prefix('@') {
            let std = match desc {
                "yearly" | "annually" => "0 0 1 1 *",
                "monthly" => "0 0 1 * *",
                "weekly" => "0 0 * * 0",
                "daily" | "midnight" => "0 0 * * *",
                "hourly" => "0 * * * *",
                _ => {
                    if let Some(d) = desc.strip_prefix("every ") {
                        let d = crate::duration::parse(d).map_err(|e| {
                            CronError::Syntax(format!("failed to parse duration {spec}: {e}"))
                        })?;
                        // robfig: below one second becomes one second; sub-seconds are cut.
                        let secs = d.as_secs().max(1) as i64;
                        return Ok(Schedule {
                            kind: Kind::Every(SignedDuration::from_secs(secs)),
                            tz,
                        });
                    }
                    return Err(CronError::Syntax(format!(
                        "unrecognized descriptor: {spec}"
                    )));
                }
            };
            return Schedule::parse_fields(std, tz);
        }
        Schedule::parse_fields(spec, tz)
    }

    fn parse_fields(spec: &str, tz: TimeZone) -> Result<Schedule, CronError> {
        let fields: Vec<&str> = spec.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(CronError::Syntax(format!(
                "expected exactly 5 fields, found {}: [{}]",
                fields.len(),
                fields.join(" ")
            )));
        }
        let (minute, _) = field(fields[0], 0, 59, &[], 0)?;
        let (hour, _) = field(fields[1], 0, 23, &[], 0)?;
        let (dom, dom_star) = field(fields[2], 1, 31, &[], 0)?;
        let (month, _) = field(fields[3], 1, 12, &MONTHS, 1)?;
        let (dow, dow_star) = field(fields[4], 0, 6, &DAYS, 0)?;
        Ok(Schedule {
            kind: Kind::Spec {
                minute,
                hour,
                dom,
                month,
                dow,
                dom_star,
                dow_star,
            },
            tz,
        })
    }

    /// The zone the schedule is read in.
    pub fn time_zone(&self) -> &TimeZone {
        &self.tz
    }

    /// The first activation strictly after `t` (robfig `Next`); `None` if there is none
    /// within five years (e.g. `0 0 30 2 *`).
    pub fn next(&self, t: Timestamp) -> Option<Timestamp> {
        match &self.kind {
            Kind::Every(d) => {
                // robfig: t + delay, minus t's sub-second part.
                let whole = Timestamp::from_second(t.as_second()).ok()?;
                whole.checked_add(*d).ok()
            }
            Kind::Spec {
                minute,
                hour,
                dom,
                month,
                dow,
                dom_star,
                dow_star,
            } => {
                let local = t.to_zoned(self.tz.clone()).datetime();
                // The next whole minute after t on the zone's clock.
                let start = local
                    .with()
                    .second(0)
                    .subsec_nanosecond(0)
                    .build()
                    .ok()?
                    .checked_add(1.minute())
                    .ok()?;
                let mut date: Date = start.date();
                let end_year = start.year() + 5;
                let mut first_day = true;
                while date.year() <= end_year {
                    let day_ok = {
                        let d = bit(*dom, date.day() as u32);
                        let w = bit(*dow, date.weekday().to_sunday_zero_offset() as u32);
                        if *dom_star || *dow_star {
                            d && w
                        } else {
                            d || w
                        }
                    };
                    if bit(*month, date.month() as u32) && day_ok {
                        let (h0, m0) = if first_day {
                            (start.hour(), start.minute())
                        } else {
                            (0, 0)
                        };
                        for h in h0..24 {
                            if !bit(*hour, h as u32) {
                                continue;
                            }
                            let mstart = if h == h0 { m0 } else { 0 };
                            for m in mstart..60 {
                                if !bit(*minute, m as u32) {
                                    continue;
                                }
                                let dt = DateTime::new(
                                    date.year(),
                                    date.month(),
                                    date.day(),
                                    h,
                                    m,
                                    0,
                                    0,
                                )
                                .ok()?;
                                let ts = self.tz.to_ambiguous_timestamp(dt).compatible().ok()?;
                                if ts > t {
                                    return Some(ts);
                                }
                            }
                        }
                    }
                    first_day = false;
                    date = date.tomorrow().ok()?;
                }
                None
            }
        }
    }
}

fn bit(set: u64, n: u32) -> bool {
    set & (1u64 << n) != 0
}

fn parse_int(s: &str) -> Result<u32, CronError> {
    let n: i64 = s
        .parse()
        .map_err(|_| {
            CronError::Syntax(format!(
                "failed to parse int from {s}: strconv.Atoi: parsing {s:?}: invalid syntax"
            ))
        })
        .and_then(|n: i64| {
            if n < 0 {
                Err(CronError::Syntax(format!(
                    "negative number ({n}) not allowed: {s}"
                )))
            } else {
                Ok(n)
            }
        })?;
    u32::try_from(n).map_err(|_| {
        CronError::Syntax(format!(
            "failed to parse int from {s}: strconv.Atoi: parsing {s:?}: value out of range"
        ))
    })
}

fn int_or_name(s: &str, names: &[&str], offset: u32) -> Result<u32, CronError> {
    let lower = s.to_ascii_lowercase();
    if let Some(i) = names.iter().position(|n| *n == lower) {
        return Ok(i as u32 + offset);
    }
    parse_int(s)
}

/// One field: the set of allowed values as a bitmask, and whether it was a bare `*`/`?`.
fn field(
    f: &str,
    min: u32,
    max: u32,
    names: &[&str],
    offset: u32,
) -> Result<(u64, bool), CronError> {
    let mut bits = 0u64;
    let mut star = false;
    for expr in f.split(',') {
        let range_and_step: Vec<&str> = expr.split('/').collect();
        let low_high: Vec<&str> = range_and_step[0].split('-').collect();
        let single = low_high.len() == 1;
        let (start, mut end, mut is_star) = if low_high[0] == "*" || low_high[0] == "?" {
            (min, max, true)
        } else {
            let start = int_or_name(low_high[0], names, offset)?;
            let end = match low_high.len() {
                1 => start,
                2 => int_or_name(low_high[1], names, offset)?,
                _ => return Err(CronError::Syntax(format!("too many hyphens: {expr}"))),
            };
            (start, end, false)
        };
        let step = match range_and_step.len() {
            1 => 1,
            2 => {
                let step = parse_int(range_and_step[1])?;
                if single {
                    end = max;
                }
                if step > 1 {
                    is_star = false;
                }
                step
            }
            _ => return Err(CronError::Syntax(format!("too many slashes: {expr}"))),
        };
        if start < min {
            return Err(CronError::Syntax(format!(
                "beginning of range ({start}) below minimum ({min}): {expr}"
            )));
        }
        if end > max {
            return Err(CronError::Syntax(format!(
                "end of range ({end}) above maximum ({max}): {expr}"
            )));
        }
        if start > end {
            return Err(CronError::Syntax(format!(
                "beginning of range ({start}) beyond end of range ({end}): {expr}"
            )));
        }
        if step == 0 {
            return Err(CronError::Syntax(format!(
                "step of range should be a positive number: {expr}"
            )));
        }
        let mut v = start;
        while v <= end {
            bits |= 1 << v;
            v += step;
        }
        star |= is_star;
    }
    Ok((bits, star))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    /// Cases from robfig/cron's spec_test.go `TestActivation`/`TestNext`, in UTC.
    #[test]
    fn next_table() {
        let cases = [
            // (now, spec, want)
            (
                "2012-07-09T14:45:00Z",
                "0/15 * * * *",
                "2012-07-09T15:00:00Z",
            ),
            (
                "2012-07-09T14:59:59Z",
                "0/15 * * * *",
                "2012-07-09T15:00:00Z",
            ),
            (
                "2012-07-09T14:59:00Z",
                "*/1 * * * *",
                "2012-07-09T15:00:00Z",
            ),
            (
                "2012-07-09T15:00:00Z",
                "*/1 * * * *",
                "2012-07-09T15:01:00Z",
            ),
            (
                "2012-07-09T15:00:30Z",
                "*/1 * * * *",
                "2012-07-09T15:01:00Z",
            ),
            // wrap around hours, days, months, years
            (
                "2012-07-09T15:45:00Z",
                "20-35/15 * * * *",
                "2012-07-09T16:20:00Z",
            ),
            (
                "2012-07-09T23:46:00Z",
                "*/15 * * * *",
                "2012-07-10T00:00:00Z",
            ),
            (
                "2012-07-09T23:45:00Z",
                "20-35/15 * * * *",
                "2012-07-10T00:20:00Z",
            ),
            (
                "2012-07-09T23:35:00Z",
                "20-35/15 * 9 7 *",
                "2013-07-09T00:20:00Z",
            ),
            (
                "2012-12-31T21:59:00Z",
                "0 22 * 12 *",
                "2012-12-31T22:00:00Z",
            ),
            ("2012-12-31T23:59:00Z", "0 * 1 1 *", "2013-01-01T00:00:00Z"),
            // leap year
            (
                "2012-07-09T23:35:00Z",
                "0 0 29 Feb *",
                "2016-02-29T00:00:00Z",
            ),
            // day of week / day of month: OR when both restricted, AND with a star
            (
                "2012-07-15T00:00:00Z",
                "0 0 * * Mon",
                "2012-07-16T00:00:00Z",
            ),
            (
                "2012-07-15T00:00:00Z",
                "0 0 1 * Mon",
                "2012-07-16T00:00:00Z",
            ),
            (
                "2012-07-15T00:00:00Z",
                "0 0 1,20 * *",
                "2012-07-20T00:00:00Z",
            ),
            (
                "2012-07-15T00:00:00Z",
                "0 0 */10 * Mon",
                "2012-07-16T00:00:00Z",
            ),
            (
                "2012-07-15T00:00:00Z",
                "0 0 * * 1-5",
                "2012-07-16T00:00:00Z",
            ),
            (
                "2012-07-15T00:00:00Z",
                "0 0 ? * sun",
                "2012-07-22T00:00:00Z",
            ),
            // lists and names
            (
                "2012-07-09T14:45:00Z",
                "5,10,50 * * * *",
                "2012-07-09T14:50:00Z",
            ),
            (
                "2012-07-09T14:45:00Z",
                "0 9 * jan-mar,dec *",
                "2012-12-01T09:00:00Z",
            ),
            // macros
            ("2012-07-09T14:45:00Z", "@hourly", "2012-07-09T15:00:00Z"),
            ("2012-07-09T14:45:00Z", "@daily", "2012-07-10T00:00:00Z"),
            ("2012-07-09T14:45:00Z", "@midnight", "2012-07-10T00:00:00Z"),
            ("2012-07-09T14:45:00Z", "@weekly", "2012-07-15T00:00:00Z"),
            ("2012-07-09T14:45:00Z", "@monthly", "2012-08-01T00:00:00Z"),
            ("2012-07-09T14:45:00Z", "@yearly", "2013-01-01T00:00:00Z"),
            ("2012-07-09T14:45:00Z", "@annually", "2013-01-01T00:00:00Z"),
            (
                "2012-07-09T14:45:00.5Z",
                "@every 90s",
                "2012-07-09T14:46:30Z",
            ),
        ];
        for (now, spec, want) in cases {
            let s = Schedule::parse(spec, TimeZone::UTC).unwrap_or_else(|e| panic!("{spec}: {e}"));
            assert_eq!(s.next(ts(now)), Some(ts(want)), "{spec} after {now}");
        }
    }

    #[test]
    fn impossible_schedule_has_no_next() {
        let s = Schedule::parse("0 0 30 2 *", TimeZone::UTC).unwrap();
        assert_eq!(s.next(ts("2012-07-09T14:45:00Z")), None);
    }

    #[test]
    fn time_zones() {
        // 09:00 in New York (EDT, UTC-4) in July; TZ= and CRON_TZ= prefixes both work.
        for spec in [
            "TZ=America/New_York 0 9 * * *",
            "CRON_TZ=America/New_York 0 9 * * *",
        ] {
            let s = Schedule::parse(spec, TimeZone::UTC).unwrap();
            assert_eq!(
                s.next(ts("2012-07-09T12:00:00Z")),
                Some(ts("2012-07-09T13:00:00Z")),
                "{spec}"
            );
        }
        let s = Schedule::parse("0 9 * * *", load_zone("Europe/Berlin").unwrap()).unwrap();
        assert_eq!(
            s.next(ts("2012-01-09T12:00:00Z")),
            Some(ts("2012-01-10T08:00:00Z"))
        );
        // 02:30 does not exist on 2012-03-11 in New York: moved forward past the gap.
        let s = Schedule::parse("TZ=America/New_York 30 2 * * *", TimeZone::UTC).unwrap();
        assert_eq!(
            s.next(ts("2012-03-11T05:00:00Z")),
            Some(ts("2012-03-11T07:30:00Z"))
        );
        assert_eq!(
            Schedule::parse("TZ=Mars/Olympus 0 9 * * *", TimeZone::UTC),
            Err(CronError::BadLocation("Mars/Olympus".into()))
        );
    }

    /// Error cases and messages from robfig/cron's parser_test.go.
    #[test]
    fn parse_errors() {
        let cases = [
            ("", "empty spec string"),
            ("* * * *", "expected exactly 5 fields, found 4: [* * * *]"),
            ("* * * * * *", "expected exactly 5 fields, found 6"),
            ("60 * * * *", "end of range (60) above maximum (59): 60"),
            ("* 24 * * *", "end of range (24) above maximum (23): 24"),
            ("* * 0 * *", "beginning of range (0) below minimum (1): 0"),
            ("* * * 13 *", "end of range (13) above maximum (12): 13"),
            ("* * * * 7", "end of range (7) above maximum (6): 7"),
            (
                "5-1 * * * *",
                "beginning of range (5) beyond end of range (1): 5-1",
            ),
            (
                "*/0 * * * *",
                "step of range should be a positive number: */0",
            ),
            ("1-2-3 * * * *", "too many hyphens: 1-2-3"),
            ("1/2/3 * * * *", "too many slashes: 1/2/3"),
            ("a * * * *", "failed to parse int from a"),
            ("* * * foo *", "failed to parse int from foo"),
            ("@bogus", "unrecognized descriptor: @bogus"),
            ("@every x", "failed to parse duration @every x"),
        ];
        for (spec, want) in cases {
            let got = Schedule::parse(spec, TimeZone::UTC)
                .err()
                .unwrap_or_else(|| panic!("{spec:?} parsed"))
                .to_string();
            assert!(
                got.starts_with(want),
                "{spec:?}: got {got:?}, want {want:?}"
            );
        }
    }

    #[test]
    fn star_bit_rules() {
        let s = Schedule::parse("*/2 * 1 * *", TimeZone::UTC).unwrap();
        match s.kind {
            Kind::Spec {
                dom_star, dow_star, ..
            } => assert!(!dom_star && dow_star),
            Kind::Every(_) => unreachable!(),
        }
        // A step above 1 clears the star bit: dom `*/2` (odd days) with dow `mon` is an
        // OR. From Monday the 9th: Tuesday the 10th matches neither, Wednesday the 11th
        // is odd; from Sunday the 15th, Monday the 16th matches the weekday (an AND would
        // wait for Monday the 23rd).
        let s = Schedule::parse("0 0 */2 * mon", TimeZone::UTC).unwrap();
        assert_eq!(
            s.next(ts("2012-07-09T01:00:00Z")),
            Some(ts("2012-07-11T00:00:00Z"))
        );
        assert_eq!(
            s.next(ts("2012-07-15T01:00:00Z")),
            Some(ts("2012-07-16T00:00:00Z"))
        );
    }
}
