//! Parallel gzip: the stream is cut into fixed 1 MiB blocks, each
//! compressed on its own (libdeflate, which is about twice as fast per core
//! as zlib at the same level) into one gzip member, and the members are
//! written in order. A concatenation of members is one valid gzip stream
//! (RFC 1952 section 2.2; Go's, zlib's and GNU gzip's readers all read it),
//! and since the block size is fixed the bytes do not depend on how many
//! cores did the work.
//!
//! Blocks are compressed on a pool of their own while the writer goes on
//! reading, tarring and hashing the next ones; it waits only when a window
//! of blocks is in flight. The pool's threads never wait on anything, so a
//! writer waiting for its blocks, or a recipe waiting for a layer another
//! recipe writes, cannot hold up the work it waits for (compressing on the
//! cells' own pool let a worker that was waiting steal a job that waited on
//! itself, a deadlock).

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Uncompressed bytes per member.
pub const BLOCK: usize = 1 << 20;
/// Blocks in flight per stream beyond one per compression thread: enough
/// to keep every core busy while this stream's writer catches up. More
/// only evicts blocks from the cache between the writer reading (and
/// hashing) them and a core compressing them: a window of 8 on 2 cores
/// cost about a tenth more time than 3, measured alternately on the build
/// bench. Memory stays about 2 x window x BLOCK per stream.
const WINDOW_SPARE: usize = 1;

/// One compressed block: its input (to reuse), its output buffer and the
/// member's length, and how long deflating took.
type Done = (Vec<u8>, Vec<u8>, io::Result<usize>, Duration);

/// The pool blocks are compressed on: one thread per core, for the whole
/// process, shared by every stream.
fn compress_pool() -> &'static rayon::ThreadPool {
    static POOL: std::sync::OnceLock<rayon::ThreadPool> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|index| format!("deflate-{index}"))
            .build()
            .unwrap_or_else(|error| panic!("cannot start the compression threads: {error}"))
    })
}

/// A writer that gzips into `inner`, block-parallel and deterministic.
pub struct ParallelGzip<W: Write> {
    inner: W,
    level: i32,
    pool: &'static rayon::ThreadPool,
    /// Blocks in flight at most.
    window: usize,
    /// The block being filled: always `BLOCK` bytes long (zeroed once, when
    /// first allocated), of which the first `filled` are the stream's.
    current: Vec<u8>,
    filled: usize,
    /// Blocks in flight, oldest first.
    pending: VecDeque<mpsc::Receiver<Done>>,
    /// Input blocks and output buffers that came back, reused so a stream
    /// of any size allocates one window of buffers (fresh 1 MiB buffers
    /// cost a page fault per 4 KiB).
    spare_in: Vec<Vec<u8>>,
    spare_out: Vec<Vec<u8>>,
    wrote_any: bool,
    times: GzipTimes,
}

/// Where a stream's time went, for `RUST_LOG=debug`.
#[derive(Debug, Clone, Copy, Default)]
pub struct GzipTimes {
    /// Time spent deflating, summed over every core.
    pub deflate: Duration,
    /// Wall time the writer spent waiting for its blocks to be compressed.
    pub drain: Duration,
}

impl<W: Write> ParallelGzip<W> {
    /// Compresses at `level` (0-9, as gzip's) on the process's compression
    /// pool.
    pub fn new(inner: W, level: u32) -> Self {
        Self::on(compress_pool(), inner, level)
    }

    /// Compresses on `pool` (tests: the bytes must not depend on its size).
    pub fn on(pool: &'static rayon::ThreadPool, inner: W, level: u32) -> Self {
        ParallelGzip {
            inner,
            level: level.min(9) as i32,
            pool,
            window: pool.current_num_threads() + WINDOW_SPARE,
            current: Vec::new(),
            filled: 0,
            pending: VecDeque::new(),
            spare_in: Vec::new(),
            spare_out: Vec::new(),
            wrote_any: false,
            times: GzipTimes::default(),
        }
    }

    /// The free part of the current block (a fresh or reused block if
    /// there is none yet).
    fn room(&mut self) -> &mut [u8] {
        if self.current.is_empty() {
            self.current = self.spare_in.pop().unwrap_or_else(|| vec![0; BLOCK]);
        }
        &mut self.current[self.filled..]
    }

    /// Counts `taken` more bytes into the current block, and hands it to
    /// the pool once it is full.
    fn advance(&mut self, taken: usize) -> io::Result<()> {
        self.filled += taken;
        if self.filled == BLOCK {
            self.submit()?;
        }
        Ok(())
    }

    /// Hands the current block to the pool, first writing the oldest block
    /// out if a window is already in flight.
    fn submit(&mut self) -> io::Result<()> {
        while self.pending.len() >= self.window {
            self.write_oldest()?;
        }
        let block = std::mem::take(&mut self.current);
        let len = std::mem::take(&mut self.filled);
        let (send, receive) = mpsc::sync_channel(1);
        let mut out = self.spare_out.pop().unwrap_or_default();
        let level = self.level;
        self.pool.spawn(move || {
            let start = Instant::now();
            let result = member_into(block.get(..len).unwrap_or_default(), level, &mut out);
            // The writer may have gone (an error); nothing to do then.
            let _ = send.send((block, out, result, start.elapsed()));
        });
        self.pending.push_back(receive);
        Ok(())
    }

    /// Waits for the oldest block in flight and writes its member.
    fn write_oldest(&mut self) -> io::Result<()> {
        let Some(receive) = self.pending.pop_front() else {
            return Ok(());
        };
        let start = Instant::now();
        let (block, out, len, took) = receive
            .recv()
            .map_err(|_| io::Error::other("a compression thread stopped"))?;
        self.times.drain += start.elapsed();
        self.times.deflate += took;
        self.inner.write_all(&out[..len?])?;
        self.wrote_any = true;
        if !block.is_empty() {
            self.spare_in.push(block);
        }
        self.spare_out.push(out);
        Ok(())
    }

    /// Writes what is left and returns the inner writer and where the
    /// time went.
    pub fn finish(mut self) -> io::Result<(W, GzipTimes)> {
        if self.filled > 0 || !self.wrote_any && self.pending.is_empty() {
            self.submit()?;
        }
        while !self.pending.is_empty() {
            self.write_oldest()?;
        }
        Ok((self.inner, self.times))
    }
}

impl<W: Write> Write for ParallelGzip<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let room = self.room();
        let take = room.len().min(buf.len());
        room[..take].copy_from_slice(&buf[..take]);
        self.advance(take)?;
        Ok(take)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<W: Write> super::fill::Fill for ParallelGzip<W> {
    /// Reads straight into the block the pool will compress.
    fn fill_from(&mut self, reader: &mut dyn Read, len: u64, seen: &mut dyn FnMut(&[u8])) -> io::Result<()> {
        let mut left = len;
        while left > 0 {
            let room = self.room();
            let want = room.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            let read = match reader.read(&mut room[..want]) {
                Ok(0) => break,
                Ok(read) => read,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(error),
            };
            seen(&room[..read]);
            left -= read as u64;
            self.advance(read)?;
        }
        super::fill::short_read(left)
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
        let pool: &'static rayon::ThreadPool = Box::leak(Box::new(pool));
        let mut writer = ParallelGzip::on(pool, Vec::new(), 6);
        for chunk in data.chunks(7919) {
            writer.write_all(chunk).unwrap();
        }
        writer.finish().unwrap().0
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
        // Filled from a reader (a layer's files), in runs off the block
        // size, the bytes are the same as written.
        let mut filled = ParallelGzip::new(Vec::new(), 6);
        let mut seen = 0;
        for run in data.chunks(BLOCK / 3 + 5) {
            super::super::fill::Fill::fill_from(&mut filled, &mut &run[..], run.len() as u64, &mut |bytes| {
                seen += bytes.len();
            })
            .unwrap();
        }
        assert_eq!((filled.finish().unwrap().0, seen), (one.clone(), data.len()));
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
