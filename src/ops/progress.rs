//! A progress line on stderr for `weir produce` from a file and `weir
//! consume` into one: records, bytes, rate and, when the total is known, a bar
//! and the share done. Drawn at most five times a second, only when asked
//! (`--progress`) or when stdin (produce) / stdout (consume) is a regular file
//! and stderr a terminal, so pipes and scripts see nothing of it.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

const WIDTH: usize = 30;
const EVERY: Duration = Duration::from_millis(200);

pub struct Progress {
    /// The total in the unit advanced (bytes for produce, records for consume).
    total: Option<u64>,
    unit_is_bytes: bool,
    done: u64,
    records: u64,
    bytes: u64,
    started: Instant,
    drawn: Option<Instant>,
    on: bool,
}

/// Whether `path` (`/dev/stdin`, `/dev/stdout`) is a regular file, and its size.
fn regular_file(path: &str) -> Option<u64> {
    std::fs::metadata(path).ok().filter(|m| m.is_file()).map(|m| m.len())
}

impl Progress {
    /// Producing from stdin: the total is the file's size in bytes.
    pub fn reading_stdin(forced: bool) -> Progress {
        let size = regular_file("/dev/stdin");
        let on = forced || (size.is_some() && std::io::stderr().is_terminal());
        Progress::new(size, true, on)
    }

    /// Consuming to stdout: the total is `-n`'s count, when given.
    pub fn writing_stdout(forced: bool, count: Option<u64>) -> Progress {
        let on = forced || (regular_file("/dev/stdout").is_some() && std::io::stderr().is_terminal());
        Progress::new(count, false, on)
    }

    fn new(total: Option<u64>, unit_is_bytes: bool, on: bool) -> Progress {
        Progress { total, unit_is_bytes, done: 0, records: 0, bytes: 0, started: Instant::now(), drawn: None, on }
    }

    /// One record of `bytes` done.
    pub fn record(&mut self, bytes: u64) {
        self.records += 1;
        self.bytes += bytes;
        self.done += if self.unit_is_bytes { bytes } else { 1 };
        if self.on && self.drawn.is_none_or(|d| d.elapsed() >= EVERY) {
            self.draw();
        }
    }

    /// The last state, and the end of the line.
    pub fn finish(&mut self) {
        if self.on {
            self.draw();
            eprintln!();
        }
    }

    fn draw(&mut self) {
        self.drawn = Some(Instant::now());
        let line = self.line();
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r{line}\x1b[K");
        let _ = err.flush();
    }

    fn line(&self) -> String {
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        let rate = format!("{:.0} records/s, {}/s", self.records as f64 / secs, size(self.bytes as f64 / secs));
        let counts = format!("{} records, {}", self.records, size(self.bytes as f64));
        match self.total.filter(|t| *t > 0) {
            Some(total) => {
                let share = (self.done as f64 / total as f64).min(1.0);
                let full = (share * WIDTH as f64).round() as usize;
                let bar = format!("{}{}", "#".repeat(full), "-".repeat(WIDTH - full));
                format!("[{bar}] {:>3.0}%  {counts}  {rate}", share * 100.0)
            }
            None => format!("{counts}  {rate}"),
        }
    }
}

fn size(b: f64) -> String {
    match b {
        b if b >= 1e9 => format!("{:.1} GB", b / 1e9),
        b if b >= 1e6 => format!("{:.1} MB", b / 1e6),
        b if b >= 1e3 => format!("{:.1} kB", b / 1e3),
        b => format!("{b:.0} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_shows_the_share_and_the_counts() {
        let mut p = Progress::new(Some(100), true, false);
        for _ in 0..5 {
            p.record(10);
        }
        let line = p.line();
        assert!(line.starts_with(&format!("[{}{}]  50%", "#".repeat(15), "-".repeat(15))), "{line}");
        assert!(line.contains("5 records, 50 B"), "{line}");
        let mut open = Progress::new(None, false, false);
        open.record(2_500_000);
        assert!(open.line().starts_with("1 records, 2.5 MB"), "{}", open.line());
    }
}
