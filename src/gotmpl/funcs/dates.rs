//! Date functions of sprig on a fixed clock: `now` is the Unix epoch, and
//! a date is its Unix seconds (UTC; zones are read as UTC), so renders
//! repeat. Layouts are Go's (`2006-01-02T15:04:05Z07:00`).

use super::args::{string, to_int};
use super::{Outcome, Problem};
use crate::gotmpl::Value;

/// Go's zero time in Unix seconds (what `toDate` gives for bad input).
const ZERO_TIME: i64 = -62_135_596_800;

pub(super) fn now(_: &[Value]) -> Outcome {
    Ok(Value::Int(0))
}

/// Seconds of a date argument (a time from `now`/`toDate`, or a number).
fn seconds(value: &Value) -> i64 {
    match value {
        Value::Int(i) => *i,
        Value::Float(f) => *f as i64,
        _ => 0,
    }
}

/// Year, month, day of days since 1970-01-01 (proleptic Gregorian).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// Days since 1970-01-01 of a civil date.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let month = i64::from(month);
    let doy = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
];

/// Go's layout tokens, longest first where one is a prefix of another.
const TOKENS: &[&str] = &[
    "January",
    "Monday",
    "2006",
    "-07:00:00",
    "-07:00",
    "-0700",
    "-07",
    "Z07:00",
    "Z0700",
    "Z07",
    "Jan",
    "Mon",
    "MST",
    "002",
    "01",
    "02",
    "_2",
    "03",
    "04",
    "05",
    "06",
    "15",
    "PM",
    "pm",
    ".000000000",
    ".000000",
    ".000",
    ".999999999",
    ".999999",
    ".999",
    "1",
    "2",
    "3",
    "4",
    "5",
];

/// Formats Unix seconds with a Go layout, in UTC.
fn format(layout: &str, secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rest = secs.rem_euclid(86_400);
    let (year, month, day) = civil(days);
    let (hour, minute, second) = (rest / 3600, rest / 60 % 60, rest % 60);
    let weekday = DAYS[days.rem_euclid(7) as usize];
    let month_name = MONTHS[month as usize - 1];
    let yday = days - days_from_civil(year, 1, 1) + 1;
    let mut out = String::new();
    let mut i = 0;
    while i < layout.len() {
        let here = &layout[i..];
        let Some(token) = TOKENS.iter().find(|t| here.starts_with(**t)) else {
            let c = here.chars().next().unwrap_or(' ');
            out.push(c);
            i += c.len_utf8();
            continue;
        };
        let hour12 = if hour % 12 == 0 { 12 } else { hour % 12 };
        let text = match *token {
            "January" => month_name.to_string(),
            "Jan" => month_name[..3].to_string(),
            "Monday" => weekday.to_string(),
            "Mon" => weekday[..3].to_string(),
            "2006" => format!("{year:04}"),
            "06" => format!("{:02}", year.rem_euclid(100)),
            "01" => format!("{month:02}"),
            "1" => month.to_string(),
            "02" => format!("{day:02}"),
            "_2" => format!("{day:>2}"),
            "2" => day.to_string(),
            "002" => format!("{yday:03}"),
            "15" => format!("{hour:02}"),
            "03" => format!("{hour12:02}"),
            "3" => hour12.to_string(),
            "04" => format!("{minute:02}"),
            "4" => minute.to_string(),
            "05" => format!("{second:02}"),
            "5" => second.to_string(),
            "PM" => (if hour >= 12 { "PM" } else { "AM" }).to_string(),
            "pm" => (if hour >= 12 { "pm" } else { "am" }).to_string(),
            "MST" => "UTC".to_string(),
            "Z07:00" | "Z0700" | "Z07" => "Z".to_string(),
            "-07:00" => "+00:00".to_string(),
            "-0700" => "+0000".to_string(),
            "-07" => "+00".to_string(),
            "-07:00:00" => "+00:00:00".to_string(),
            t if t.starts_with(".0") => format!(".{}", "0".repeat(t.len() - 1)),
            _ => String::new(),
        };
        out.push_str(&text);
        i += token.len();
    }
    out
}

pub(super) fn date(a: &[Value]) -> Outcome {
    Ok(Value::Str(format(string(a, 0)?, seconds(&a[1]))))
}

pub(super) fn date_in_zone(a: &[Value]) -> Outcome {
    string(a, 2)?;
    Ok(Value::Str(format(string(a, 0)?, seconds(&a[1]))))
}

pub(super) fn html_date(a: &[Value]) -> Outcome {
    Ok(Value::Str(format("2006-01-02", seconds(&a[0]))))
}

pub(super) fn html_date_in_zone(a: &[Value]) -> Outcome {
    Ok(Value::Str(format("2006-01-02", seconds(&a[0]))))
}

pub(super) fn unix_epoch(a: &[Value]) -> Outcome {
    Ok(Value::Str(seconds(&a[0]).to_string()))
}

/// Go's `time.ParseDuration`, in whole seconds.
fn parse_duration(text: &str) -> Option<i64> {
    let (sign, mut rest) = match text.strip_prefix('-') {
        Some(r) => (-1.0, r),
        None => (1.0, text.strip_prefix('+').unwrap_or(text)),
    };
    if rest == "0" {
        return Some(0);
    }
    let mut total = 0.0;
    while !rest.is_empty() {
        let number_len = rest.find(|c: char| !c.is_ascii_digit() && c != '.')?;
        let number: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
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
            _ => return None,
        };
        total += number * scale;
        rest = &rest[unit_len..];
    }
    Some((sign * total) as i64)
}

pub(super) fn date_modify(a: &[Value]) -> Outcome {
    let modifier = string(a, 0)?;
    match parse_duration(modifier) {
        Some(delta) => Ok(Value::Int(seconds(&a[1]) + delta)),
        None => Err(Problem::bad(0, &a[0], "time: invalid duration")),
    }
}

/// Go's `time.Duration.String` of whole seconds (`1h2m3s`).
fn duration_text(secs: i64) -> String {
    if secs == 0 {
        return "0s".into();
    }
    let sign = if secs < 0 { "-" } else { "" };
    let secs = secs.unsigned_abs();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{sign}{s}s"),
        (0, _) => format!("{sign}{m}m{s}s"),
        _ => format!("{sign}{h}h{m}m{s}s"),
    }
}

/// `duration`: seconds (a string) as Go prints a duration.
pub(super) fn duration(a: &[Value]) -> Outcome {
    // sprig takes a string or an int64; template numbers are int or
    // float64, which it reads as 0.
    let secs = match &a[0] {
        Value::Str(s) => s.parse().unwrap_or(0),
        _ => 0,
    };
    Ok(Value::Str(duration_text(secs)))
}

/// `durationRound`: the largest whole unit (`2h`, `3d`, `1y`).
pub(super) fn duration_round(a: &[Value]) -> Outcome {
    let secs = match &a[0] {
        Value::Str(s) => parse_duration(s).unwrap_or(0),
        other => to_int(other),
    }
    .unsigned_abs();
    let text = match secs {
        s if s >= 365 * 86_400 => format!("{}y", s / (365 * 86_400)),
        s if s >= 30 * 86_400 => format!("{}mo", s / (30 * 86_400)),
        s if s >= 86_400 => format!("{}d", s / 86_400),
        s if s >= 3600 => format!("{}h", s / 3600),
        s if s >= 60 => format!("{}m", s / 60),
        s => format!("{s}s"),
    };
    Ok(Value::Str(text))
}

/// `ago`: how long before `now` (the epoch) a date is.
pub(super) fn ago(a: &[Value]) -> Outcome {
    Ok(Value::Str(duration_text(-seconds(&a[0]))))
}

/// Parses `text` with a Go layout of numeric fields; seconds in UTC.
fn parse(layout: &str, text: &str) -> Option<i64> {
    let (mut year, mut month, mut day, mut hour, mut minute, mut second) =
        (1i64, 1u32, 1u32, 0i64, 0i64, 0i64);
    let (mut i, mut j) = (0, 0);
    let number = |text: &str, j: &mut usize, width: usize| -> Option<i64> {
        let digits: String = text[*j..]
            .chars()
            .take(width)
            .take_while(char::is_ascii_digit)
            .collect();
        if digits.is_empty() {
            return None;
        }
        *j += digits.len();
        digits.parse().ok()
    };
    while i < layout.len() {
        let here = &layout[i..];
        if let Some(token) = ["2006", "01", "02", "15", "04", "05", "Z07:00", "MST"]
            .iter()
            .find(|t| here.starts_with(**t))
        {
            match *token {
                "2006" => year = number(text, &mut j, 4)?,
                "01" => month = u32::try_from(number(text, &mut j, 2)?).ok()?,
                "02" => day = u32::try_from(number(text, &mut j, 2)?).ok()?,
                "15" => hour = number(text, &mut j, 2)?,
                "04" => minute = number(text, &mut j, 2)?,
                "05" => second = number(text, &mut j, 2)?,
                _ => {
                    let zone_len = text[j..]
                        .find(|c: char| c.is_whitespace())
                        .unwrap_or(text.len() - j);
                    j += zone_len;
                }
            }
            i += token.len();
        } else {
            let c = here.chars().next()?;
            if !text[j..].starts_with(c) {
                return None;
            }
            i += c.len_utf8();
            j += c.len_utf8();
        }
    }
    if j != text.len() || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

pub(super) fn to_date(a: &[Value]) -> Outcome {
    Ok(Value::Int(
        parse(string(a, 0)?, string(a, 1)?).unwrap_or(ZERO_TIME),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_layouts_format_and_parse() {
        let t = parse("2006-01-02 15:04:05", "2024-02-29 13:45:07").unwrap();
        assert_eq!(
            format("Mon Jan _2 15:04:05 MST 2006", t),
            "Thu Feb 29 13:45:07 UTC 2024"
        );
        assert_eq!(format("2006-01-02T15:04:05Z07:00", 0), "1970-01-01T00:00:00Z");
        assert_eq!(duration_text(95), "1m35s");
        assert_eq!(parse_duration("1h30m"), Some(5400));
    }
}
