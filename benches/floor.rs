//! The compression floor of a build: the least time any builder needs for
//! the layers a matrix store holds, given the same compression. Every
//! unique gzip layer is decompressed first (not timed); then, timed, every
//! 1 MiB block is compressed with matrix's own block compressor (same
//! level, on every core) and every plain layer is hashed once. Reading,
//! tar, hashing the compressed output and writing are left out: that is
//! the work a builder could overlap with compression, and what
//! `benches/build.sh` compares matrix's wall time against.
//! Usage: cargo bench --bench floor -- STORE [LEVEL]   (LEVEL defaults to 6)

use std::io::Read;
use std::time::Instant;

use rayon::prelude::*;

/// A unit of floor work.
enum Work<'a> {
    Deflate(&'a [u8]),
    Hash(&'a [u8]),
}

fn main() {
    let mut args = std::env::args().skip(1).filter(|arg| arg != "--bench");
    let store = args.next().expect("usage: floor STORE [LEVEL]");
    let level: i32 = args
        .next()
        .map_or(6, |text| text.parse().expect("a gzip level 0-9"));
    let blobs = std::path::Path::new(&store).join("blobs/sha256");
    let mut tars: Vec<Vec<u8>> = Vec::new();
    let mut plain: Vec<Vec<u8>> = Vec::new();
    for entry in std::fs::read_dir(&blobs).expect("a store with blobs/sha256") {
        let bytes = std::fs::read(entry.expect("a blob").path()).expect("a readable blob");
        if bytes.starts_with(&[0x1f, 0x8b]) {
            let mut tar = Vec::new();
            flate2::read::MultiGzDecoder::new(bytes.as_slice())
                .read_to_end(&mut tar)
                .expect("a gzip layer");
            tars.push(tar);
        } else if bytes.len() > 512 && &bytes[257..262] == b"ustar" {
            plain.push(bytes);
        }
    }
    let mut work: Vec<Work<'_>> = Vec::new();
    for tar in &tars {
        work.extend(tar.chunks(matrix::oci::GZIP_BLOCK).map(Work::Deflate));
    }
    work.extend(plain.iter().map(|bytes| Work::Hash(bytes)));
    // Largest first, so no core idles at the end on one long hash.
    work.sort_by_key(|item| match item {
        Work::Deflate(block) | Work::Hash(block) => std::cmp::Reverse(block.len()),
    });
    let deflate_bytes: usize = tars.iter().map(Vec::len).sum();
    let hash_bytes: usize = plain.iter().map(Vec::len).sum();
    let (start, cpu_start) = (Instant::now(), cpu_seconds());
    let out: usize = work
        .par_iter()
        .map_init(Vec::new, |buffer, item| match item {
            Work::Deflate(block) => matrix::oci::gzip_member_into(block, level, buffer).expect("compressed"),
            Work::Hash(bytes) => {
                std::hint::black_box(matrix::digest::Sha256::of(bytes));
                0
            }
        })
        .sum();
    let seconds = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_start;
    println!(
        "floor {seconds:.3} s ({cpu:.2} s CPU): gzip level {level} over {:.0} MB -> {:.0} MB on {} threads, sha256 over {:.0} MB",
        deflate_bytes as f64 / 1e6,
        out as f64 / 1e6,
        rayon::current_num_threads(),
        hash_bytes as f64 / 1e6
    );
}

/// User plus system CPU time of this process so far.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage writes into the struct it is given.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}
