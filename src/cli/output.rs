//! Writing results: aligned tables for people on a terminal, tab-separated
//! lines for pipes, JSON for programs.

use std::io::{self, IsTerminal, Write};

/// True when stdout is a terminal (tables, headers and bars only then).
pub fn stdout_is_tty() -> bool {
    io::stdout().is_terminal()
}

/// Prints rows as an aligned table with a header on a terminal, or as
/// tab-separated lines without one when piped.
pub fn print_rows(header: &[&str], rows: &[Vec<String>]) -> io::Result<()> {
    let mut out = io::BufWriter::new(io::stdout().lock());
    if !stdout_is_tty() {
        for row in rows {
            writeln!(out, "{}", row.join("\t"))?;
        }
        return out.flush();
    }
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    writeln!(out, "{}", line(header.to_vec()))?;
    for row in rows {
        writeln!(out, "{}", line(row.iter().map(String::as_str).collect()))?;
    }
    out.flush()
}

/// Prints a value as pretty JSON on stdout.
pub fn print_json<T: serde::Serialize>(value: &T) -> io::Result<()> {
    let mut out = io::BufWriter::new(io::stdout().lock());
    serde_json::to_writer_pretty(&mut out, value).map_err(io::Error::from)?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}
