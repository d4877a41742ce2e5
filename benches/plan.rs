//! Planning the full matrix: load matrix.toml + lock, judge every
//! candidate, render every tag, check uniqueness. Prints the median.
//! Run: `cargo bench --bench plan`.

use std::time::{Duration, Instant};

use matrix::plan::candidates;
use matrix::{Matrix, Plan};

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("matrix.toml");
    let runs = 30;
    let mut samples = Vec::with_capacity(runs);
    let mut sizes = (0, 0);
    for _ in 0..runs {
        let start = Instant::now();
        let matrix = Matrix::load(&path).expect("matrix.toml loads");
        let plan = Plan::build(&matrix).expect("plans");
        samples.push(start.elapsed());
        sizes = (candidates(&matrix).expect("candidates").len(), plan.cells.len());
    }
    let median = median(samples);
    println!(
        "plan: {} candidate cells -> {} planned; median {:.2} ms over {runs} runs (goal < 50 ms)",
        sizes.0,
        sizes.1,
        median.as_secs_f64() * 1000.0
    );
}
