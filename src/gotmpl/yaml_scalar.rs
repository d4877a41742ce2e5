//! How go-yaml v2 (Helm's `toYaml`, through sigs.k8s.io/yaml) writes a
//! string: plain when YAML reads it back as the same string, double-quoted
//! when it would read as another type (`"true"`, `"1.5"`, `""`,
//! `"2001-12-14"`) or holds characters only escapes can carry, else
//! single-quoted; long plain and single-quoted values fold at spaces past
//! column 80; multi-line values are literal blocks.

/// Past this column a space becomes a line break (go-yaml's best width).
const BEST_WIDTH: usize = 80;

/// Whether go-yaml v2 resolves a plain `s` to something other than a string.
fn resolves_to_other(s: &str) -> bool {
    if matches!(
        s,
        "" | "~"
            | "null"
            | "Null"
            | "NULL"
            | "y"
            | "Y"
            | "yes"
            | "Yes"
            | "YES"
            | "n"
            | "N"
            | "no"
            | "No"
            | "NO"
            | "true"
            | "True"
            | "TRUE"
            | "false"
            | "False"
            | "FALSE"
            | "on"
            | "On"
            | "ON"
            | "off"
            | "Off"
            | "OFF"
            | ".inf"
            | ".Inf"
            | ".INF"
            | "+.inf"
            | "+.Inf"
            | "+.INF"
            | "-.inf"
            | "-.Inf"
            | "-.INF"
            | ".nan"
            | ".NaN"
            | ".NAN"
            | "<<"
    ) {
        return true;
    }
    let first = s.as_bytes()[0];
    if !(first.is_ascii_digit() || matches!(first, b'-' | b'+' | b'.')) {
        return false;
    }
    let plain = s.replace('_', "");
    if super::funcs::parse_go_int(&plain).is_some() || is_yaml_float(&plain) || is_base60(s) {
        return true;
    }
    // Timestamps: a date first (`2001-12-14`, with or without a time).
    let date = s.get(..10).unwrap_or("");
    date.len() == 10
        && date.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        })
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
fn is_yaml_float(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some(("", fraction)) => digits(fraction),
        Some((whole, fraction)) => digits(whole) && (fraction.is_empty() || digits(fraction)),
        None => digits(mantissa),
    };
    let exponent_ok = exponent.is_none_or(|e| digits(e.strip_prefix(['-', '+']).unwrap_or(e)));
    mantissa_ok && exponent_ok
}

/// `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`
fn is_base60(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (body, fraction) = s.split_once('.').unwrap_or((s, ""));
    let mut parts = body.split(':');
    let head = parts.next().unwrap_or("");
    let rest: Vec<&str> = parts.collect();
    !rest.is_empty()
        && head.starts_with(|c: char| c.is_ascii_digit())
        && head.bytes().all(|b| b.is_ascii_digit() || b == b'_')
        && rest.iter().all(|p| {
            (1..=2).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()) && p.as_bytes()[0] <= b'5'
                || p.len() == 1 && p.as_bytes()[0].is_ascii_digit()
        })
        && fraction.bytes().all(|b| b.is_ascii_digit() || b == b'_')
}

/// What go-yaml's scalar analysis allows for `s`.
struct Allowed {
    plain: bool,
    single: bool,
}

fn printable(c: char) -> bool {
    matches!(c, '\n' | '\u{85}')
        || (' '..='~').contains(&c)
        || ('\u{a0}'..='\u{d7ff}').contains(&c)
        || ('\u{e000}'..='\u{fffd}').contains(&c) && c != '\u{feff}'
        || c >= '\u{10000}'
}

fn analyze(s: &str) -> Allowed {
    let chars: Vec<char> = s.chars().collect();
    let (mut flow_or_block_indicator, mut special, mut space_break) = (false, false, false);
    let blank = |c: Option<&char>| c.is_none_or(|c| *c == ' ' || *c == '\t' || *c == '\n');
    for (i, c) in chars.iter().enumerate() {
        let next_blank = blank(chars.get(i + 1));
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"' | '%' | '@'
                | '`' => {
                    flow_or_block_indicator = true;
                }
                '?' | ':' | '-' if next_blank => flow_or_block_indicator = true,
                _ => {}
            }
        } else {
            match c {
                ':' if next_blank => flow_or_block_indicator = true,
                '#' if chars[i - 1] == ' ' || chars[i - 1] == '\t' => flow_or_block_indicator = true,
                _ => {}
            }
        }
        if !printable(*c) {
            special = true;
        }
        if *c == ' ' && chars.get(i + 1) == Some(&'\n') {
            space_break = true;
        }
    }
    let leading = chars.first().is_some_and(|c| *c == ' ');
    let trailing = chars.last().is_some_and(|c| *c == ' ');
    let plain = !(flow_or_block_indicator || special || leading || trailing || s.contains('\n'));
    Allowed {
        plain,
        single: !(special || space_break),
    }
}

/// go-yaml's double-quoted style.
fn double_quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\0' => out.push_str("\\0"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\x0b' => out.push_str("\\v"),
            '\x0c' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            '\x1b' => out.push_str("\\e"),
            '\u{85}' => out.push_str("\\N"),
            '\u{a0}' => out.push_str("\\_"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            c if printable(c) => out.push(c),
            c if (c as u32) <= 0xff => out.push_str(&format!("\\x{:02X}", c as u32)),
            c if (c as u32) <= 0xffff => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push_str(&format!("\\U{:08X}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// Writes `words` (already escaped) folding at single spaces once past
/// the best width: `column` is where the text starts, `indent` the
/// continuation lines' indent.
fn folded(text: &str, column: usize, indent: usize, quote: Option<char>, width: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::new();
    let mut col = column;
    if let Some(q) = quote {
        out.push(q);
        col += 1;
    }
    let mut previous_space = false;
    for (i, c) in chars.iter().enumerate() {
        let breakable = *c == ' '
            && !previous_space
            && col > width
            && chars.get(i + 1).is_some_and(|n| *n != ' ')
            && (quote.is_none() || (i != 0 && i + 1 != chars.len()));
        if breakable {
            out.push('\n');
            out.push_str(&" ".repeat(indent));
            col = indent;
        } else {
            out.push(*c);
            col += 1;
        }
        previous_space = *c == ' ';
    }
    if let Some(q) = quote {
        out.push(q);
    }
    out
}

/// A map key (a simple key: never folded).
pub(super) fn key(s: &str) -> String {
    if resolves_to_other(s) {
        return double_quoted(s);
    }
    let allowed = analyze(s);
    if allowed.plain {
        s.to_string()
    } else if allowed.single && !s.contains('\n') {
        format!("'{}'", s.replace('\'', "''"))
    } else {
        double_quoted(s)
    }
}

/// A single-line scalar value starting at `column`, continuing at `indent`;
/// `None` when it must be a literal block (it has line breaks).
pub(super) fn value(s: &str, column: usize, indent: usize) -> Option<String> {
    value_within(s, column, indent, BEST_WIDTH)
}

/// As [`value`], never folded (go-yaml v3, `toYamlPretty`).
pub(super) fn value_unfolded(s: &str, column: usize, indent: usize) -> Option<String> {
    value_within(s, column, indent, usize::MAX)
}

fn value_within(s: &str, column: usize, indent: usize, width: usize) -> Option<String> {
    if resolves_to_other(s) {
        return Some(double_quoted(s));
    }
    let allowed = analyze(s);
    if s.contains('\n') {
        return (!allowed.single
            || s.contains('\t')
            || s.chars().any(|c| !printable(c))
            || space_before_break(s))
        .then(|| double_quoted(s));
    }
    Some(if allowed.plain {
        folded(s, column, indent, None, width)
    } else if allowed.single {
        folded(&s.replace('\'', "''"), column, indent, Some('\''), width)
    } else {
        double_quoted(s)
    })
}

fn space_before_break(s: &str) -> bool {
    s.contains(" \n") || s.starts_with(' ') && s.contains('\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_styled_as_go_yaml_v2_styles_them() {
        for (text, styled) in [
            ("1.5", "\"1.5\""),
            ("true", "\"true\""),
            ("", "\"\""),
            ("a: b", "'a: b'"),
            ("it's", "it's"),
            ("#x", "'#x'"),
            ("- x", "'- x'"),
            ("0755", "\"0755\""),
            (" lead", "' lead'"),
            ("tab\there", "\"tab\\there\""),
            ("?q", "?q"),
            ("x:y", "x:y"),
            ("Yes", "\"Yes\""),
            (".5", "\".5\""),
            ("+1", "\"+1\""),
            ("0x1F", "\"0x1F\""),
            ("2001-12-14", "\"2001-12-14\""),
            ("1e3", "\"1e3\""),
            ("é", "é"),
        ] {
            assert_eq!(value(text, 3, 2).unwrap(), styled, "{text:?}");
        }
        let long =
            "aaaa bbbb cccc dddd eeee ffff gggg hhhh iiii jjjj kkkk llll mmmm nnnn oooo pppp qqqq rrrr ssss";
        assert_eq!(
            value(long, 4, 2).unwrap(),
            "aaaa bbbb cccc dddd eeee ffff gggg hhhh iiii jjjj kkkk llll mmmm nnnn oooo pppp\n  qqqq rrrr ssss"
        );
        assert_eq!(
            value("trailing  \nspace", 0, 2).unwrap(),
            "\"trailing  \\nspace\""
        );
        assert!(value("line1\nline2", 0, 2).is_none());
    }
}
