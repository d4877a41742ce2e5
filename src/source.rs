//! Input files held with their text, so every error can name the file,
//! line and column of the value at fault.

use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};

use thiserror::Error;

/// An input file that was wrong: unreadable, not TOML, or a bad value.
#[derive(Debug, Error)]
pub enum InputError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The file is not valid TOML, has a key the schema lacks, or a value
    /// that makes no sense (bad version, unknown CRI, ...).
    #[error("{0}")]
    At(Box<Located>),
}

/// Where in a file a problem is, what it is and how to fix it.
#[derive(Debug)]
pub struct Located {
    /// The file.
    pub path: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// The key path, e.g. `kube.minors[3]`, when known.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
    /// The offending line.
    pub snippet: String,
    /// How to fix it.
    pub help: String,
}

impl std::fmt::Display for Located {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}: ", self.path.display(), self.line, self.column)?;
        if let Some(key) = &self.key {
            write!(f, "`{key}`: ")?;
        }
        write!(f, "{}\n  | {}\n  help: {}", self.message, self.snippet, self.help)
    }
}

/// Largest `matrix.toml` or `matrix.lock` read (today's are a few dozen
/// kilobytes): a bigger file is refused before it is read.
pub const MAX_SOURCE: u64 = 4 << 20;

/// A file's path and text.
#[derive(Debug, Clone)]
pub struct Source {
    /// Where it was read from.
    pub path: PathBuf,
    /// Its whole text (input files are small).
    pub text: String,
}

impl Source {
    /// Reads a file.
    pub fn read(path: &Path) -> Result<Self, InputError> {
        let text = crate::fsutil::read_text_capped(path, MAX_SOURCE).map_err(|source| InputError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Source {
            path: path.to_path_buf(),
            text,
        })
    }

    /// 1-based line and column of a byte offset, and that line's text.
    pub fn locate(&self, offset: usize) -> (usize, usize, String) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = self.text[line_start..offset].chars().count() + 1;
        // The line is shown in the error: a URL's credentials in it are not.
        let snippet = crate::net::redact_text(self.text[line_start..].lines().next().unwrap_or(""));
        (line, column, snippet)
    }

    /// Parses the text as TOML into `T`, turning parser errors into
    /// located ones with a hint.
    pub fn parse<T: serde::de::DeserializeOwned>(&self, schema_help: &str) -> Result<T, InputError> {
        toml::from_str(&self.text).map_err(|error| {
            let span = error.span().unwrap_or(0..0);
            let (line, column, snippet) = self.locate(span.start);
            let message = error.message().trim().to_string();
            let help = if message.starts_with("unknown field") {
                format!("remove the key or fix its spelling; {schema_help}")
            } else if message.starts_with("missing field") {
                format!("add the key; {schema_help}")
            } else {
                schema_help.to_string()
            };
            InputError::At(Box::new(Located {
                path: self.path.clone(),
                line,
                column,
                key: None,
                message,
                snippet,
                help,
            }))
        })
    }

    /// An error about the value at `span` under `key`.
    pub fn invalid(
        &self,
        span: Range<usize>,
        key: impl Into<String>,
        message: impl Into<String>,
        help: impl Into<String>,
    ) -> InputError {
        let (line, column, snippet) = self.locate(span.start);
        InputError::At(Box::new(Located {
            path: self.path.clone(),
            line,
            column,
            key: Some(key.into()),
            message: message.into(),
            snippet,
            help: help.into(),
        }))
    }
}

// Every input error names a file, line and key to fix.
crate::error::fault!(bad_input: InputError);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_counts_lines_and_columns_from_one() {
        let source = Source {
            path: "m.toml".into(),
            text: "a = 1\nbb = 2\n".into(),
        };
        assert_eq!(source.locate(0), (1, 1, "a = 1".into()));
        assert_eq!(source.locate(11), (2, 6, "bb = 2".into()));
        let secret = Source {
            path: "m.toml".into(),
            text: "to = \"https://u:p@ss@m/x\"\n".into(),
        };
        assert_eq!(secret.locate(0).2, "to = \"https://***@m/x\"");
    }
}
