//! Parallel gzip: the stream is cut into fixed 1 MiB blocks, each
//! compressed on its own (libdeflate, which is about twice as fast per core
//! as zlib at the same level) into one gzip member, and the members are
//! written in order. A concatenation of members is one valid gzip stream
//! (RFC 1952 section 2.2; Go's, zlib's and GNU gzip's readers all read it),
//! and since the block size is fixed the bytes do not depend on how many
//! cores did the work. Memory is bounded by a window of blocks in flight.

use std::io::{self, Write};

use rayon::prelude::*;

/// Uncompressed bytes per member.
pub const BLOCK: usize = 1 << 20;
/// Blocks compressed at once (a few per core keeps every core busy while
/// bounding memory to about 2 x WINDOW x BLOCK).
const WINDOW: usize = 8;

/// A writer that gzips into `inner`, block-parallel and deterministic.
pub struct ParallelGzip<W: Write> {
    inner: W,
    level: i32,
    current: Vec<u8>,
    full: Vec<Vec<u8>>,
    /// Compressed members of the blocks in `full`, with their lengths;
    /// reused, like emptied input blocks in `spare`, so a stream of any
    /// size allocates one window of buffers (fresh 1 MiB buffers cost a
    /// page fault per 4 KiB).
    outs: Vec<(Vec<u8>, usize)>,
    spare: Vec<Vec<u8>>,
    wrote_any: bool,
    times: GzipTimes,
}

/// Where a stream's time went, for `RUST_LOG=debug`.
#[derive(Debug, Clone, Copy, Default)]
pub struct GzipTimes {
    /// Time spent deflating, summed over every core.
    pub deflate: std::time::Duration,
    /// Wall time the writer spent waiting for its blocks to be compressed.
    pub drain: std::time::Duration,
}

impl<W: Write> ParallelGzip<W> {
    /// Compresses at `level` (0-9, as gzip's).
    pub fn new(inner: W, level: u32) -> Self {
        ParallelGzip {
            inner,
            level: level.min(9) as i32,
            current: Vec::with_capacity(BLOCK),
            full: Vec::with_capacity(WINDOW),
            outs: Vec::with_capacity(WINDOW),
            spare: Vec::with_capacity(WINDOW),
            wrote_any: false,
            times: GzipTimes::default(),
        }
    }

    /// Compresses and writes the blocks waiting, in order.
    fn drain(&mut self) -> io::Result<()> {
        if self.full.is_empty() {
            return Ok(());
        }
        let level = self.level;
        self.outs
            .resize_with(self.outs.len().max(self.full.len()), Default::default);
        let start = std::time::Instant::now();
        let took: Vec<io::Result<std::time::Duration>> = self
            .full
            .par_iter()
            .zip(self.outs.par_iter_mut())
            .map(|(block, (out, len))| {
                let start = std::time::Instant::now();
                *len = member_into(block, level, out)?;
                Ok(start.elapsed())
            })
            .collect();
        self.times.drain += start.elapsed();
        for (took, (out, len)) in took.into_iter().zip(&self.outs) {
            self.times.deflate += took?;
            self.inner.write_all(&out[..*len])?;
        }
        for mut block in self.full.drain(..) {
            block.clear();
            self.spare.push(block);
        }
        self.wrote_any = true;
        Ok(())
    }

    /// Writes what is left and returns the inner writer and where the
    /// time went.
    pub fn finish(mut self) -> io::Result<(W, GzipTimes)> {
        if !self.current.is_empty() || !self.wrote_any && self.full.is_empty() {
            let last = std::mem::take(&mut self.current);
            self.full.push(last);
        }
        self.drain()?;
        Ok((self.inner, self.times))
    }
}

impl<W: Write> Write for ParallelGzip<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let room = BLOCK - self.current.len();
        let take = room.min(buf.len());
        self.current.extend_from_slice(&buf[..take]);
        if self.current.len() == BLOCK {
            let next = self.spare.pop().unwrap_or_else(|| Vec::with_capacity(BLOCK));
            let block = std::mem::replace(&mut self.current, next);
            self.full.push(block);
            if self.full.len() == WINDOW {
                self.drain()?;
            }
        }
        Ok(take)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

thread_local! {
    /// One compressor per thread and level (allocating one costs more than
    /// compressing a small block).
    static COMPRESSOR: std::cell::RefCell<Option<(i32, libdeflater::Compressor)>> =
        const { std::cell::RefCell::new(None) };
}

/// Bits of entropy per byte at and above which a block is stored, not
/// deflated: Huffman coding cannot shrink it by more than about half a
/// percent, and matches are rare in such data (already compressed files,
/// random filler). klauspost's deflate, which buildah uses, skips such
/// data the same way. A pure function of the bytes, so output stays
/// deterministic.
const STORE_ENTROPY: f64 = 7.95;

/// Shannon entropy of `block` in bits per byte, estimated from 16 evenly
/// spaced 4 KiB samples of a large block: counting every byte of every
/// block cost a tenth of the compression itself, and the estimate decides
/// the same way on real programs and on compressed data. A pure function
/// of the bytes, so output stays deterministic.
fn entropy(block: &[u8]) -> f64 {
    const SAMPLES: usize = 16;
    const SAMPLE: usize = 4096;
    let mut counts = [0u32; 256];
    let mut total = 0u32;
    let mut count = |bytes: &[u8]| {
        for &byte in bytes {
            counts[byte as usize] += 1;
        }
        total += bytes.len() as u32;
    };
    if block.len() <= SAMPLES * SAMPLE * 2 {
        count(block);
    } else {
        let stride = (block.len() - SAMPLE) / (SAMPLES - 1);
        for index in 0..SAMPLES {
            count(&block[index * stride..index * stride + SAMPLE]);
        }
    }
    let total = f64::from(total);
    counts
        .iter()
        .filter(|&&count| count > 0)
        .map(|&count| {
            let p = f64::from(count) / total;
            -p * p.log2()
        })
        .sum()
}

/// One gzip member of `block` (header mtime 0, so output is repeatable),
/// written to the start of `out` (grown as needed, never shrunk, so a
/// reused buffer is not zeroed again); returns its length. Public so the
/// floor benchmark measures exactly this compression.
pub fn member_into(block: &[u8], level: i32, out: &mut Vec<u8>) -> io::Result<usize> {
    let level = if block.len() >= 4096 && entropy(block) >= STORE_ENTROPY {
        0
    } else {
        level
    };
    COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().is_none_or(|(have, _)| *have != level) {
            let lvl = libdeflater::CompressionLvl::new(level)
                .map_err(|_| io::Error::other(format!("gzip level {level} is not supported")))?;
            *slot = Some((level, libdeflater::Compressor::new(lvl)));
        }
        let (_, compressor) = slot.as_mut().unwrap_or_else(|| unreachable!("set above"));
        let bound = compressor.gzip_compress_bound(block.len());
        if out.len() < bound {
            out.resize(bound, 0);
        }
        compressor
            .gzip_compress(block, out)
            .map_err(|error| io::Error::other(format!("gzip: {error:?}")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn gzip(data: &[u8], threads: usize) -> Vec<u8> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let mut writer = ParallelGzip::new(Vec::new(), 6);
            for chunk in data.chunks(7919) {
                writer.write_all(chunk).unwrap();
            }
            writer.finish().unwrap().0
        })
    }

    #[test]
    fn round_trips_and_ignores_the_core_count() {
        let mut data = Vec::new();
        let mut line = 0u64;
        while data.len() < BLOCK * 9 + 12345 {
            data.extend_from_slice(format!("line {line} of a compressible stream\n").as_bytes());
            line = line
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407)
                >> 40;
        }
        let one = gzip(&data, 1);
        let four = gzip(&data, 4);
        assert_eq!(one, four, "bytes must not depend on the core count");
        let mut back = Vec::new();
        flate2::read::MultiGzDecoder::new(one.as_slice())
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);
        // High-entropy blocks are stored; they still round-trip.
        let mut x: u64 = 0x9e37_79b9;
        let noise: Vec<u8> = (0..BLOCK * 2)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        assert!(entropy(&noise) > STORE_ENTROPY && entropy(&data) < STORE_ENTROPY);
        let packed = gzip(&noise, 2);
        assert!(packed.len() > noise.len(), "stored, not deflated");
        let mut back = Vec::new();
        flate2::read::MultiGzDecoder::new(packed.as_slice())
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, noise);
        // An empty stream is still one valid gzip member.
        let empty = gzip(&[], 2);
        let mut back = Vec::new();
        flate2::read::MultiGzDecoder::new(empty.as_slice())
            .read_to_end(&mut back)
            .unwrap();
        assert!(back.is_empty() && !empty.is_empty());
    }
}
