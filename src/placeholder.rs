//! The one `{name}` placeholder engine for tag templates, component
//! versions and URLs, and image names: parsed once against the names a
//! use allows (so a typo is an error at load time, not a broken URL at
//! fetch time), then filled from values.

use thiserror::Error;

/// A literal run or a placeholder of a parsed text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Text kept as is.
    Literal(String),
    /// `{name}`.
    Var(String),
}

/// Why a text with placeholders was refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum PlaceholderError {
    /// A `{name}` this use does not know.
    #[error("unknown placeholder `{{{name}}}`; use one of: {allowed}")]
    Unknown {
        /// The name.
        name: String,
        /// The known names, as `{a}, {b}`.
        allowed: String,
    },
    /// A `{` without its `}`.
    #[error("a `{{` has no closing `}}`")]
    Unclosed,
}

/// A text with `{name}` placeholders, checked against the allowed names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placeholders {
    text: String,
    pieces: Vec<Piece>,
}

impl Placeholders {
    /// Parses `text`, allowing only the names in `allowed`.
    pub fn parse(text: &str, allowed: &[&str]) -> Result<Placeholders, PlaceholderError> {
        let mut pieces = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                pieces.push(Piece::Literal(rest[..open].to_string()));
            }
            let after = &rest[open + 1..];
            let close = after.find('}').ok_or(PlaceholderError::Unclosed)?;
            let name = &after[..close];
            if !allowed.contains(&name) {
                return Err(PlaceholderError::Unknown {
                    name: name.to_string(),
                    allowed: allowed
                        .iter()
                        .map(|v| format!("{{{v}}}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
            pieces.push(Piece::Var(name.to_string()));
            rest = &after[close + 1..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Literal(rest.to_string()));
        }
        Ok(Placeholders {
            text: text.to_string(),
            pieces,
        })
    }

    /// The text as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The literal runs and placeholders, in order.
    pub fn pieces(&self) -> &[Piece] {
        &self.pieces
    }

    /// True if the text uses `{name}`.
    pub fn uses(&self, name: &str) -> bool {
        self.pieces
            .iter()
            .any(|piece| matches!(piece, Piece::Var(var) if var == name))
    }

    /// Fills every placeholder from `vars` (a name without a value stays
    /// as written, which parse-time checks make impossible in practice).
    pub fn fill(&self, vars: &[(&str, &str)]) -> String {
        let mut out = String::with_capacity(self.text.len() + 32);
        for piece in &self.pieces {
            match piece {
                Piece::Literal(text) => out.push_str(text),
                Piece::Var(name) => match vars.iter().find(|(key, _)| key == name) {
                    Some((_, value)) => out.push_str(value),
                    None => {
                        out.push('{');
                        out.push_str(name);
                        out.push('}');
                    }
                },
            }
        }
        out
    }
}

crate::error::fault!(bad_input: PlaceholderError);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_checks_and_fills() {
        let url = Placeholders::parse(
            "https://dl.k8s.io/v{version}/bin/linux/{arch}/kubelet",
            &["version", "arch"],
        )
        .unwrap();
        assert_eq!(
            url.fill(&[("arch", "arm64"), ("version", "1.24.4")]),
            "https://dl.k8s.io/v1.24.4/bin/linux/arm64/kubelet"
        );
        assert!(url.uses("arch") && !url.uses("kube"));
        assert_eq!(
            Placeholders::parse("v{kub}", &["kube"]).unwrap_err().to_string(),
            "unknown placeholder `{kub}`; use one of: {kube}"
        );
        assert_eq!(
            Placeholders::parse("v{kube", &["kube"]).unwrap_err(),
            PlaceholderError::Unclosed
        );
        // A value holding braces is not expanded again.
        let image = Placeholders::parse("lvscare:v{sealos}", &["sealos"]).unwrap();
        assert_eq!(image.fill(&[("sealos", "{sealos}")]), "lvscare:v{sealos}");
    }
}
