//! SPDX license expressions as matrix.toml declares them (`license =
//! "Apache-2.0"`, `"LGPL-2.1-only AND GPL-2.0-or-later"`): checked for the
//! shape SPDX 2.3 annex D gives (license ids, an optional `+`, `WITH` an
//! exception, `AND` / `OR`, parentheses), so a typo fails at load time,
//! not in a consumer's SBOM tool. Ids are not checked against SPDX's list.

/// Why a text is not an SPDX license expression.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LicenseError {
    /// Nothing at all.
    #[error("it is empty")]
    Empty,
    /// A character no expression holds.
    #[error("`{}` is not allowed in a license expression", .0.escape_default())]
    Character(char),
    /// A token where none belongs.
    #[error("unexpected `{0}`")]
    Unexpected(String),
    /// A token that is not a license id.
    #[error("`{0}` is not a license id (operators are upper case: AND, OR, WITH)")]
    NotAnId(String),
    /// It stops where an id belongs.
    #[error("it ends where a license id belongs")]
    Ends,
    /// `(` without `)`.
    #[error("a `(` is not closed")]
    Unclosed,
    /// Too many parentheses inside each other.
    #[error("parentheses nest too deep")]
    TooDeep,
}

/// Checks an expression's shape; the error names the token.
pub fn check(expression: &str) -> Result<(), LicenseError> {
    let tokens = tokens(expression)?;
    if tokens.is_empty() {
        return Err(LicenseError::Empty);
    }
    let mut at = 0;
    expr(&tokens, &mut at, 0)?;
    match tokens.get(at) {
        None => Ok(()),
        Some(token) => Err(LicenseError::Unexpected(token.clone())),
    }
}

fn tokens(text: &str) -> Result<Vec<String>, LicenseError> {
    let mut out = Vec::new();
    let mut word = String::new();
    for c in text.chars() {
        match c {
            '(' | ')' | ' ' => {
                if !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
                if c != ' ' {
                    out.push(c.to_string());
                }
            }
            c if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+' | ':') => word.push(c),
            other => return Err(LicenseError::Character(other)),
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    Ok(out)
}

/// `term (AND|OR term)*`.
fn expr(tokens: &[String], at: &mut usize, depth: usize) -> Result<(), LicenseError> {
    term(tokens, at, depth)?;
    while let Some(op) = tokens.get(*at) {
        if op != "AND" && op != "OR" {
            break;
        }
        *at += 1;
        term(tokens, at, depth)?;
    }
    Ok(())
}

/// `( expr )` or `id[+] [WITH exception]`.
fn term(tokens: &[String], at: &mut usize, depth: usize) -> Result<(), LicenseError> {
    let Some(token) = tokens.get(*at) else {
        return Err(LicenseError::Ends);
    };
    *at += 1;
    if token == "(" {
        if depth > 16 {
            return Err(LicenseError::TooDeep);
        }
        expr(tokens, at, depth + 1)?;
        return match tokens.get(*at) {
            Some(close) if close == ")" => {
                *at += 1;
                Ok(())
            }
            _ => Err(LicenseError::Unclosed),
        };
    }
    id(token, true)?;
    if tokens.get(*at).is_some_and(|t| t == "WITH") {
        *at += 1;
        let exception = tokens.get(*at).ok_or(LicenseError::Ends)?;
        id(exception, false)?;
        *at += 1;
    }
    Ok(())
}

/// A license id (`Apache-2.0`, `GPL-2.0+`, `LicenseRef-x`,
/// `DocumentRef-a:LicenseRef-b`): a letter first, no operator.
fn id(token: &str, plus: bool) -> Result<(), LicenseError> {
    let bare = if plus {
        token.strip_suffix('+').unwrap_or(token)
    } else {
        token
    };
    let operator = matches!(token, "AND" | "OR" | "WITH" | "(" | ")")
        || matches!(token.to_ascii_uppercase().as_str(), "AND" | "OR" | "WITH");
    let well_formed = bare.starts_with(|c: char| c.is_ascii_alphabetic())
        && !bare.contains('+')
        && bare
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'))
        && (!bare.contains(':') || bare.starts_with("DocumentRef-"));
    if operator || !well_formed {
        return Err(LicenseError::NotAnId(token.to_string()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn spdx_expressions_are_told_from_typos() {
        for good in [
            "Apache-2.0",
            "GPL-2.0-or-later",
            "LGPL-2.1-only AND GPL-2.0-or-later",
            "(MIT OR Apache-2.0) AND BSD-3-Clause",
            "GPL-2.0+ WITH Classpath-exception-2.0",
            "LicenseRef-labring",
            "DocumentRef-x:LicenseRef-y",
        ] {
            assert_eq!(check(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "Apache 2.0",
            "MIT and Apache-2.0",
            "MIT OR",
            "(MIT",
            "MIT)",
            "GPL-2.0 WITH",
            "Apache-2.0, MIT",
            "2.0",
            "AND",
            "MIT/Apache-2.0",
        ] {
            assert!(check(bad).is_err(), "{bad:?} passed");
        }
    }
}
