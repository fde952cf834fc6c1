//! What the host and the client library do to a measurement, read from /proc: the
//! share of each CPU the hypervisor took away (steal), a process group's CPU time,
//! and the client's allocator settings.
//!
//! On a shared VM, steal is the one thing that moves every broker's latency tail at
//! once; the report shows it beside each latency figure so that a slow row can be
//! told apart from a slow broker. Steal does not show everything: the whole VM can
//! stop for milliseconds without any steal being counted (measured here: both CPUs
//! idle, every thread asleep, for 10 ms at a time). [`PauseProbe`] catches those.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Per-CPU jiffies from /proc/stat: (steal, total).
#[derive(Clone, Debug, Default)]
pub struct CpuTimes(Vec<(u64, u64)>);

impl CpuTimes {
    pub fn now() -> CpuTimes {
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let mut out = Vec::new();
        for line in stat.lines() {
            let mut f = line.split_whitespace();
            let Some(name) = f.next() else { continue };
            if !name.starts_with("cpu") || name == "cpu" {
                continue;
            }
            // user nice system idle iowait irq softirq steal ...
            let v: Vec<u64> = f.take(8).filter_map(|x| x.parse().ok()).collect();
            if v.len() < 8 {
                continue;
            }
            out.push((v[7], v.iter().sum()));
        }
        CpuTimes(out)
    }

    /// Percentage of `cpu`'s time stolen by the host between `self` and `later`.
    pub fn steal_pct(&self, later: &CpuTimes, cpu: usize) -> Option<f64> {
        let (a, b) = (self.0.get(cpu)?, later.0.get(cpu)?);
        let total = b.1.checked_sub(a.1)?;
        (total > 0).then(|| (b.0 - a.0) as f64 * 100.0 / total as f64)
    }
}

/// Host steal on the broker's CPU (0) and the client's (1) during a measurement.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct Steal {
    pub broker_cpu_pct: f64,
    pub client_cpu_pct: f64,
}

impl Steal {
    pub fn between(a: &CpuTimes, b: &CpuTimes) -> Option<Steal> {
        Some(Steal { broker_cpu_pct: a.steal_pct(b, 0)?, client_cpu_pct: a.steal_pct(b, 1)? })
    }
}

/// CPU seconds (user + system) used so far by `pid`, all its threads included.
pub fn process_cpu_secs(pid: i32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which may hold spaces, closed by the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let (utime, stime): (u64, u64) = (f.get(11)?.parse().ok()?, f.get(12)?.parse().ok()?);
    // SAFETY: sysconf only reads.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Some((utime + stime) as f64 / hz)
}

/// Keeps the client's heap: memory librdkafka frees (every produced record is a
/// malloc'ed copy until its delivery report) stays in this process for the next run
/// instead of going back to the kernel. Without it, each run faults in its whole
/// volume of fresh pages again (~100k faults per 400 MB), and on a VM that reports
/// free memory to the host each of those is a host page fault: the client, which
/// is the bottleneck of every produce workload, then measures the host's memory
/// state more than the broker. The same for every broker and for the mock ceiling.
pub fn keep_client_heap() {
    // SAFETY: mallopt only changes allocator parameters; called before any thread.
    unsafe {
        // Never trim the top of the heap (a size_t-sized threshold; i32 in the API,
        // so the largest value it takes).
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
        // Allocations up to 32 MiB (glibc's upper bound for this setting) come from
        // the heap, so librdkafka's request buffers are reused too.
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
    }
}

/// How often each probe thread wakes, and how late a wake-up must be to count.
const PROBE_TICK: Duration = Duration::from_millis(1);
const PROBE_LATE: Duration = Duration::from_millis(3);
/// A stretch in which every CPU's probe was late this long at once is a pause.
const PAUSE_MIN: Duration = Duration::from_millis(2);

/// Watches for moments when no CPU of the machine ran a thread that was due: one
/// thread per CPU, pinned to it, sleeps 1 ms at a time and notes every wake-up that
/// came more than 3 ms late. A busy CPU delays its own probe now and then (the
/// broker and the client each keep one busy), but every CPU's probe late at the
/// same moment means the machine itself did not run: the hypervisor stopped the VM
/// or took both CPUs. About 1,000 short wake-ups a second per CPU, the same for
/// every broker.
pub struct PauseProbe {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<Vec<(Duration, Duration)>>>,
}

/// What a [`PauseProbe`] saw: stretches of more than 2 ms in which every CPU's
/// probe was late.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct Pauses {
    pub count: usize,
    pub total_ms: f64,
    pub longest_ms: f64,
}

impl PauseProbe {
    pub fn start() -> PauseProbe {
        let stop = Arc::new(AtomicBool::new(false));
        let epoch = Instant::now();
        let threads = (0..crate::brokers::cpus().clamp(1, 64))
            .map(|cpu| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    crate::brokers::pin_to(cpu);
                    let mut late = Vec::new();
                    let mut last = epoch.elapsed();
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(PROBE_TICK);
                        let now = epoch.elapsed();
                        if now - last > PROBE_LATE {
                            late.push((last, now));
                        }
                        last = now;
                    }
                    late
                })
            })
            .collect();
        PauseProbe { stop, threads }
    }

    pub fn finish(self) -> Pauses {
        self.stop.store(true, Ordering::Relaxed);
        let lists: Vec<_> = self.threads.into_iter().filter_map(|t| t.join().ok()).collect();
        pauses(&lists)
    }
}

/// The stretches covered by a late interval of every list (each list sorted and
/// disjoint, as one probe thread records them), over [`PAUSE_MIN`].
fn pauses(lists: &[Vec<(Duration, Duration)>]) -> Pauses {
    let Some((first, rest)) = lists.split_first() else { return Pauses::default() };
    let common = rest.iter().fold(first.clone(), |acc, l| intersect(&acc, l));
    let mut p = Pauses::default();
    for (a, b) in common {
        let d = b - a;
        if d > PAUSE_MIN {
            let ms = d.as_secs_f64() * 1e3;
            p.count += 1;
            p.total_ms += ms;
            p.longest_ms = p.longest_ms.max(ms);
        }
    }
    p
}

fn intersect(a: &[(Duration, Duration)], b: &[(Duration, Duration)]) -> Vec<(Duration, Duration)> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        let (s, e) = (a[i].0.max(b[j].0), a[i].1.min(b[j].1));
        if s < e {
            out.push((s, e));
        }
        if a[i].1 < b[j].1 {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(a: u64, b: u64) -> (Duration, Duration) {
        (Duration::from_millis(a), Duration::from_millis(b))
    }

    #[test]
    fn a_pause_is_where_every_cpu_was_late_at_once() {
        // CPU 0 late 10-20 and 50-53; CPU 1 late 15-30, 40-52 and 60-70.
        let lists = vec![vec![ms(10, 20), ms(50, 53)], vec![ms(15, 30), ms(40, 52), ms(60, 70)]];
        // Overlaps: 15-20 (5 ms) and 50-52 (2 ms, not over the 2 ms minimum).
        assert_eq!(pauses(&lists), Pauses { count: 1, total_ms: 5.0, longest_ms: 5.0 });
        // One CPU late alone is not a pause; one CPU in all is its own lateness.
        assert_eq!(pauses(&[vec![ms(0, 10)], vec![]]), Pauses::default());
        assert_eq!(pauses(&[vec![ms(0, 10)]]).count, 1);
        assert_eq!(pauses(&[]), Pauses::default());
    }

    #[test]
    fn cpu_times_and_process_time_are_read() {
        let a = CpuTimes::now();
        assert!(!a.0.is_empty(), "per-CPU lines of /proc/stat");
        let t0 = process_cpu_secs(std::process::id() as i32).expect("own /proc/<pid>/stat");
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while start.elapsed() < std::time::Duration::from_millis(200) {
            x = x.wrapping_mul(31).wrapping_add(7);
        }
        std::hint::black_box(x);
        let t1 = process_cpu_secs(std::process::id() as i32).unwrap();
        assert!(t1 > t0, "200 ms of spinning shows as CPU time ({t0} -> {t1})");
        let b = CpuTimes::now();
        let s = a.steal_pct(&b, 0).expect("cpu0 in both samples");
        assert!((0.0..=100.0).contains(&s));
    }
}
