//! Drawing progress: indicatif bars when stderr is a terminal, one plain
//! line per finished task otherwise. The library only sends events.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use matrix::progress::{Event, Outcome, Reporter};

/// Bars per task under one overall bar.
struct Bars {
    multi: MultiProgress,
    overall: ProgressBar,
    tasks: Mutex<HashMap<String, ProgressBar>>,
}

impl Bars {
    fn bar(&self, task: &str, total: Option<u64>) -> ProgressBar {
        let mut tasks = self.tasks.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        tasks
            .entry(task.to_string())
            .or_insert_with(|| {
                let bar = self.multi.add(ProgressBar::new(total.unwrap_or(0)));
                let style = ProgressStyle::with_template(
                    "{prefix:>32} {bar:30} {bytes:>10}/{total_bytes:<10} {bytes_per_sec}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar());
                bar.set_style(style);
                bar.set_prefix(task.to_string());
                bar
            })
            .clone()
    }
}

impl Reporter for Bars {
    fn report(&self, event: Event<'_>) {
        match event {
            Event::Started { task, total } => {
                let bar = self.bar(task, total);
                if let Some(total) = total {
                    bar.set_length(total);
                }
                bar.set_position(0);
            }
            Event::Advanced { task, bytes } => self.bar(task, None).inc(bytes),
            Event::Retrying {
                task,
                attempt,
                reason,
            } => {
                self.bar(task, None)
                    .set_message(format!("retry {attempt}: {reason}"));
            }
            Event::Finished { task, outcome } => {
                let bar = self
                    .tasks
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .remove(task);
                if let Some(bar) = bar {
                    bar.finish_and_clear();
                    self.multi.remove(&bar);
                }
                self.overall.inc(1);
                self.overall.set_message(format!("{outcome} {task}"));
            }
        }
    }
}

/// Plain lines for logs and pipes.
struct Lines;

impl Reporter for Lines {
    fn report(&self, event: Event<'_>) {
        match event {
            // Cache hits are the normal case; only work done is worth a line.
            Event::Finished { task, outcome } if outcome != Outcome::Cached => eprintln!("{outcome}: {task}"),
            Event::Finished { .. } => {}
            Event::Retrying {
                task,
                attempt,
                reason,
            } => eprintln!("retry {attempt}: {task}: {reason}"),
            Event::Started { .. } | Event::Advanced { .. } => {}
        }
    }
}

/// Bars on a terminal (unless `NO_COLOR`-style plain output is wanted),
/// lines otherwise. `total` is the number of tasks.
pub fn reporter(total: usize, what: &str) -> Box<dyn Reporter> {
    if !std::io::stderr().is_terminal() {
        return Box::new(Lines);
    }
    let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
    let overall = multi.add(ProgressBar::new(total as u64));
    let style = ProgressStyle::with_template("{prefix:>32} {bar:30} {pos}/{len} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    overall.set_style(style);
    overall.set_prefix(what.to_string());
    Box::new(Bars {
        multi,
        overall,
        tasks: Mutex::new(HashMap::new()),
    })
}

/// The CLI's progress: bars on a terminal, lines otherwise.
pub struct Terminal;

impl matrix::progress::Progress for Terminal {
    fn stage(&self, stage: &str, total: usize) -> Box<dyn Reporter> {
        reporter(total, stage)
    }
}
