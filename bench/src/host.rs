//! What the host and the client library do to a measurement, read from /proc: the
//! share of each CPU the hypervisor took away (steal), a process group's CPU time,
//! and the client's allocator settings.
//!
//! On a shared VM, steal is the one thing that moves every broker's latency tail at
//! once; the report shows it beside each latency figure so that a slow row can be
//! told apart from a slow broker.

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

#[cfg(test)]
mod tests {
    use super::*;

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
