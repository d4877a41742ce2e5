//! Tokens of Go's text/template: text between actions, and the words of
//! `{{ ... }}` actions, with `{{-`/`-}}` trimming and `{{/* */}}` comments.

use super::TemplateError;

/// One token with where it starts (1-based line and column).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Token {
    pub kind: Tok,
    pub line: usize,
    pub col: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    /// Literal text outside actions.
    Text(String),
    /// `{{` (after trimming).
    Open,
    /// `}}`.
    Close,
    /// A keyword or function name (`if`, `printf`).
    Ident(String),
    /// `.Field` starting an operand.
    Field(String),
    /// `.Field` right after another field, variable or `)` (no space): the
    /// next segment of the same chain.
    Chain(String),
    /// `.` alone.
    Dot,
    /// `$` or `$name`.
    Var(String),
    /// A quoted or raw string, unescaped.
    Str(String),
    /// A character constant, as its code point.
    Char(char),
    /// An integer constant.
    Int(i64),
    /// A floating-point constant.
    Float(f64),
    /// `true` / `false`.
    Bool(bool),
    /// `nil`.
    Nil,
    /// `:=`.
    Declare,
    /// `=`.
    Assign,
    /// `|`.
    Pipe,
    /// `(`.
    LParen,
    /// `)`.
    RParen,
    /// `,`.
    Comma,
}

struct Lexer<'a> {
    name: &'a str,
    src: &'a str,
    pos: usize,
    line: usize,
    col: usize,
    out: Vec<Token>,
}

/// Splits `src` into tokens; `name` is used in errors.
pub(super) fn lex(name: &str, src: &str) -> Result<Vec<Token>, TemplateError> {
    let mut lexer = Lexer {
        name,
        src,
        pos: 0,
        line: 1,
        col: 1,
        out: Vec::new(),
    };
    lexer.run()?;
    Ok(lexer.out)
}

impl Lexer<'_> {
    fn error(&self, message: impl Into<String>) -> TemplateError {
        TemplateError::parse(self.name, self.line, self.col, message)
    }

    fn rest(&self) -> &str {
        &self.src[self.pos..]
    }

    /// Moves over `n` bytes, keeping line and column.
    fn advance(&mut self, n: usize) {
        for c in self.src[self.pos..self.pos + n].chars() {
            if c == '\n' {
                self.line += 1;
                self.col = 1;
            } else {
                self.col += 1;
            }
        }
        self.pos += n;
    }

    fn push(&mut self, kind: Tok, line: usize, col: usize) {
        self.out.push(Token { kind, line, col });
    }

    fn run(&mut self) -> Result<(), TemplateError> {
        let mut trim_next_text = false;
        loop {
            let (line, col) = (self.line, self.col);
            let next = self.rest().find("{{");
            let text_len = next.unwrap_or(self.rest().len());
            let mut text = self.rest()[..text_len].to_string();
            let trim_before = next.is_some() && is_left_trim(&self.rest()[text_len..]);
            if trim_next_text {
                text = text.trim_start_matches(is_space).to_string();
            }
            if trim_before {
                text = text.trim_end_matches(is_space).to_string();
            }
            self.advance(text_len);
            if !text.is_empty() {
                self.push(Tok::Text(text), line, col);
            }
            if next.is_none() {
                return Ok(());
            }
            // The action.
            let (line, col) = (self.line, self.col);
            self.advance(2);
            if trim_before {
                self.advance(2); // "- "
            }
            // A comment is the whole action.
            let after_space = self.rest().trim_start_matches(is_space);
            if self.rest().starts_with("/*") || (trim_before && after_space.starts_with("/*")) {
                let skipped = self.rest().len() - after_space.len();
                self.advance(skipped);
                let end = self
                    .rest()
                    .find("*/")
                    .ok_or_else(|| self.error("unclosed comment"))?;
                self.advance(end + 2);
                let closing = self.rest().trim_start_matches(is_space);
                let skipped = self.rest().len() - closing.len();
                if closing.starts_with("-}}") && skipped > 0 {
                    self.advance(skipped + 3);
                    trim_next_text = true;
                } else if self.rest().starts_with("}}") {
                    self.advance(2);
                    trim_next_text = false;
                } else {
                    return Err(self.error("comment ends before closing delimiter"));
                }
                continue;
            }
            self.push(Tok::Open, line, col);
            trim_next_text = self.action()?;
        }
    }

    /// Lexes inside an action up to `}}`; returns whether it was `-}}`.
    fn action(&mut self) -> Result<bool, TemplateError> {
        loop {
            let rest = self.rest();
            if rest.is_empty() {
                return Err(self.error("unclosed action"));
            }
            let (line, col) = (self.line, self.col);
            let c = rest.chars().next().unwrap_or(' ');
            if is_space(c) {
                let spaces = rest.len() - rest.trim_start_matches(is_space).len();
                let after = &rest[spaces..];
                if after.starts_with("-}}") {
                    self.advance(spaces + 3);
                    self.push(Tok::Close, line, col);
                    return Ok(true);
                }
                self.advance(spaces);
                continue;
            }
            if rest.starts_with("}}") {
                self.advance(2);
                self.push(Tok::Close, line, col);
                return Ok(false);
            }
            match c {
                '|' => self.single(Tok::Pipe),
                '(' => self.single(Tok::LParen),
                ')' => self.single(Tok::RParen),
                ',' => self.single(Tok::Comma),
                '=' => self.single(Tok::Assign),
                ':' if rest.starts_with(":=") => {
                    self.advance(2);
                    self.push(Tok::Declare, line, col);
                }
                '"' => {
                    let (text, len) =
                        quoted(rest).ok_or_else(|| self.error("unterminated or malformed quoted string"))?;
                    self.advance(len);
                    self.push(Tok::Str(text), line, col);
                }
                '`' => {
                    let end = rest[1..]
                        .find('`')
                        .ok_or_else(|| self.error("unterminated raw string"))?;
                    let text = rest[1..1 + end].to_string();
                    self.advance(end + 2);
                    self.push(Tok::Str(text), line, col);
                }
                '\'' => {
                    let (ch, len) =
                        char_constant(rest).ok_or_else(|| self.error("malformed character constant"))?;
                    self.advance(len);
                    self.push(Tok::Char(ch), line, col);
                }
                '$' => {
                    let len = 1 + word_len(&rest[1..]);
                    let name = rest[..len].to_string();
                    self.advance(len);
                    self.push(Tok::Var(name), line, col);
                }
                '.' => {
                    let next = rest[1..].chars().next();
                    if next.is_some_and(|n| n.is_ascii_digit()) {
                        self.number(line, col)?;
                    } else {
                        let len = word_len(&rest[1..]);
                        let name = rest[1..1 + len].to_string();
                        // `with.Values`, `merge.Values.a`: a keyword or a
                        // function name is not chained onto (Go chains a
                        // function's result, an error when it runs; here
                        // the field is the function's first argument).
                        let after_keyword = matches!(self.out.last().map(|t| &t.kind), Some(Tok::Ident(_)))
                            && self.src[..self.pos].ends_with(|c: char| c.is_alphanumeric() || c == '_');
                        let joined = !after_keyword
                            && self.src[..self.pos]
                                .chars()
                                .next_back()
                                .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ')' || c == '$');
                        self.advance(1 + len);
                        let kind = match (name.is_empty(), joined) {
                            (true, _) => Tok::Dot,
                            (false, true) => Tok::Chain(name),
                            (false, false) => Tok::Field(name),
                        };
                        self.push(kind, line, col);
                    }
                }
                c if c.is_ascii_digit()
                    || ((c == '-' || c == '+') && rest[1..].starts_with(|d: char| d.is_ascii_digit())) =>
                {
                    self.number(line, col)?;
                }
                c if c.is_alphabetic() || c == '_' => {
                    let len = word_len(rest);
                    let word = rest[..len].to_string();
                    self.advance(len);
                    let kind = match word.as_str() {
                        "true" => Tok::Bool(true),
                        "false" => Tok::Bool(false),
                        "nil" => Tok::Nil,
                        _ => Tok::Ident(word),
                    };
                    self.push(kind, line, col);
                }
                other => return Err(self.error(format!("unexpected {other:?} in action"))),
            }
        }
    }

    fn single(&mut self, kind: Tok) {
        let (line, col) = (self.line, self.col);
        self.advance(1);
        self.push(kind, line, col);
    }

    fn number(&mut self, line: usize, col: usize) -> Result<(), TemplateError> {
        let rest = self.rest();
        let len = rest
            .char_indices()
            .take_while(|(i, c)| {
                c.is_ascii_alphanumeric()
                    || *c == '.'
                    || *c == '_'
                    || (*i == 0 && (*c == '-' || *c == '+'))
                    || ((*c == '-' || *c == '+')
                        && ((rest[..*i].ends_with(['e', 'E']) && !is_hex(rest))
                            || (rest[..*i].ends_with(['p', 'P']) && is_hex(rest))))
            })
            .map(|(i, c)| i + c.len_utf8())
            .last()
            .unwrap_or(0);
        let text: String = rest[..len].chars().filter(|c| *c != '_').collect();
        let (negative, digits) = match text.strip_prefix('-') {
            Some(d) => (true, d),
            None => (false, text.strip_prefix('+').unwrap_or(&text)),
        };
        let int = if let Some(hex) = digits.strip_prefix("0x").or_else(|| digits.strip_prefix("0X")) {
            i64::from_str_radix(hex, 16).ok()
        } else if let Some(oct) = digits.strip_prefix("0o") {
            i64::from_str_radix(oct, 8).ok()
        } else if let Some(bin) = digits.strip_prefix("0b") {
            i64::from_str_radix(bin, 2).ok()
        } else if digits.len() > 1 && digits.starts_with('0') && digits.bytes().all(|b| b.is_ascii_digit()) {
            i64::from_str_radix(&digits[1..], 8).ok()
        } else {
            digits.parse::<i64>().ok()
        };
        let hex_float = is_hex(digits).then(|| hex_float(&digits[2..])).flatten();
        let kind = match (int, hex_float) {
            (Some(v), _) => Tok::Int(if negative { -v } else { v }),
            (None, Some(f)) => Tok::Float(if negative { -f } else { f }),
            (None, None) => match text.parse::<f64>() {
                Ok(v) => Tok::Float(v),
                Err(_) => return Err(self.error(format!("bad number syntax: {:?}", &rest[..len]))),
            },
        };
        self.advance(len);
        self.push(kind, line, col);
        Ok(())
    }
}

fn is_hex(text: &str) -> bool {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    digits.starts_with("0x") || digits.starts_with("0X")
}

/// A hexadecimal float's value (`1p4`, `1.8p1`: mantissa in hex, power of two).
fn hex_float(text: &str) -> Option<f64> {
    let (mantissa, exponent) = text.split_once(['p', 'P'])?;
    let exponent: i32 = exponent.parse().ok()?;
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let mut value = 0f64;
    for digit in whole.chars().chain(fraction.chars()) {
        value = value * 16.0 + f64::from(digit.to_digit(16)?);
    }
    value /= 16f64.powi(i32::try_from(fraction.len()).ok()?);
    Some(value * 2f64.powi(exponent))
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// `{{- ` (the dash must be followed by a space to be a trim marker).
fn is_left_trim(at: &str) -> bool {
    at.starts_with("{{-") && at[3..].starts_with(is_space)
}

fn word_len(text: &str) -> usize {
    text.char_indices()
        .take_while(|(_, c)| c.is_alphanumeric() || *c == '_')
        .map(|(i, c)| i + c.len_utf8())
        .last()
        .unwrap_or(0)
}

/// A Go interpreted string literal at the start of `text`: its value and length.
fn quoted(text: &str) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut chars = text.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, i + 1)),
            '\n' => return None,
            '\\' => {
                let (_, e) = chars.next()?;
                match e {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    '\\' => out.push('\\'),
                    '"' => out.push('"'),
                    '\'' => out.push('\''),
                    'a' => out.push('\x07'),
                    'b' => out.push('\x08'),
                    'f' => out.push('\x0c'),
                    'v' => out.push('\x0b'),
                    'x' | 'u' | 'U' => {
                        let n = match e {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let hex: String = (0..n).filter_map(|_| chars.next().map(|(_, h)| h)).collect();
                        let code = u32::from_str_radix(&hex, 16).ok()?;
                        out.push(char::from_u32(code)?);
                    }
                    _ => return None,
                }
            }
            c => out.push(c),
        }
    }
    None
}

fn char_constant(text: &str) -> Option<(char, usize)> {
    let wrapped = format!("\"{}", &text[1..]);
    let end = text[1..].find('\'')? + 1;
    let inner = &text[1..end];
    let (value, _) = quoted(&format!("\"{inner}\""))?;
    let _ = wrapped;
    let mut chars = value.chars();
    let c = chars.next()?;
    chars.next().is_none().then_some((c, end + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<Tok> {
        lex("t", src).unwrap().into_iter().map(|t| t.kind).collect()
    }

    #[test]
    fn trims_and_comments() {
        assert_eq!(
            kinds("a  {{- .x -}}  b{{/* c */}}d"),
            vec![
                Tok::Text("a".into()),
                Tok::Open,
                Tok::Field("x".into()),
                Tok::Close,
                Tok::Text("b".into()),
                Tok::Text("d".into()),
            ]
        );
        // `{{-3}}` is the number -3, not a trim marker.
        assert_eq!(kinds("{{-3}}"), vec![Tok::Open, Tok::Int(-3), Tok::Close]);
    }

    #[test]
    fn words_of_an_action() {
        assert_eq!(
            kinds(r#"{{ $x := printf "%s\n" .a.b | quote }}"#),
            vec![
                Tok::Open,
                Tok::Var("$x".into()),
                Tok::Declare,
                Tok::Ident("printf".into()),
                Tok::Str("%s\n".into()),
                Tok::Field("a".into()),
                Tok::Chain("b".into()),
                Tok::Pipe,
                Tok::Ident("quote".into()),
                Tok::Close,
            ]
        );
        assert_eq!(
            kinds("{{ 1.5 0x1F 'a' 0x1p4 0x1.8p-1 }}")[1..6],
            [
                Tok::Float(1.5),
                Tok::Int(31),
                Tok::Char('a'),
                Tok::Float(16.0),
                Tok::Float(0.75)
            ]
        );
        assert_eq!(
            kinds("{{- with.Values.x }}")[1..4],
            [
                Tok::Ident("with".into()),
                Tok::Field("Values".into()),
                Tok::Chain("x".into())
            ]
        );
    }

    #[test]
    fn errors_have_positions() {
        let error = lex("t", "line\n  {{ \"open }}").unwrap_err();
        assert_eq!((error.line, error.col), (2, 6));
        assert!(lex("t", "{{ .a ").is_err());
    }
}
