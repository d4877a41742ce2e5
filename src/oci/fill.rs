//! Writers that take a file's bytes straight from its reader. A layer's
//! files are most of its bytes; reading them into the block the compressor
//! works on, and hashing them there, saves two copies of every byte and an
//! 8 KiB write through the whole writer chain per 8 KiB, which is what
//! `io::copy` through tar's builder did.

use std::io::{self, BufRead, Read, Write};

use crate::digest::HashingWriter;

/// A writer that can be filled from a reader.
pub trait Fill: Write {
    /// Writes exactly `len` bytes read from `reader`, showing each run of
    /// them to `seen` as it goes. A reader that ends early is an error
    /// (the file shrank while it was read), never a short entry.
    fn fill_from(&mut self, reader: &mut dyn Read, len: u64, seen: &mut dyn FnMut(&[u8])) -> io::Result<()> {
        // Read in 1 MiB gulps (a system call per 8 KiB otherwise).
        let mut reader = io::BufReader::with_capacity(1 << 20, reader.take(len));
        let mut left = len;
        loop {
            let run = reader.fill_buf()?;
            if run.is_empty() {
                break;
            }
            seen(run);
            self.write_all(run)?;
            let taken = run.len();
            reader.consume(taken);
            left -= taken as u64;
        }
        short_read(left)
    }
}

/// The error for a reader that ended `left` bytes early, if it did.
pub(super) fn short_read(left: u64) -> io::Result<()> {
    match left {
        0 => Ok(()),
        left => Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("the file ended {left} bytes early: it changed while it was read"),
        )),
    }
}

impl<W: Write> Fill for io::BufWriter<W> {}
impl<W: Write> Fill for zstd::stream::write::Encoder<'_, W> {}

impl<W: Fill> Fill for HashingWriter<W> {
    fn fill_from(&mut self, reader: &mut dyn Read, len: u64, seen: &mut dyn FnMut(&[u8])) -> io::Result<()> {
        let (inner, mut hash) = self.split();
        inner.fill_from(reader, len, &mut |run| {
            hash(run);
            seen(run);
        })
    }
}
