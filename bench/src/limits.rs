//! The machine's limits, measured in the same run as the brokers: loopback TCP
//! between two processes, sequential write + fdatasync to the data directory's
//! disk, buffered writes into the page cache (new pages, and pages already cached),
//! the CPU per MB of only receiving and writing (the floor under a broker's), and
//! (in main) the client's own ceiling against librdkafka's mock cluster.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::FileExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// The other end of the loopback test: accepts one connection, reads it to the
/// end, and writes back the byte count.
pub fn tcp_sink(port: u16) -> Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", port))?;
    println!("ready");
    std::io::stdout().flush()?;
    let (mut s, _) = listener.accept()?;
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    s.write_all(&total.to_be_bytes())?;
    Ok(())
}

/// MB/s of `bytes` sent over loopback to a sink process pinned to CPU 0.
pub fn loopback_tcp(bytes: u64) -> Result<f64> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.args(["tcp-sink", "--port", &port.to_string()]).stdout(Stdio::piped());
    pin_child(&mut cmd, 0);
    let mut child = cmd.spawn()?;
    let mut line = [0u8; 6];
    child.stdout.as_mut().unwrap().read_exact(&mut line).context("sink start")?;
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    let buf = vec![7u8; 1 << 20];
    let started = Instant::now();
    let mut sent = 0u64;
    while sent < bytes {
        s.write_all(&buf)?;
        sent += buf.len() as u64;
    }
    s.shutdown(std::net::Shutdown::Write)?;
    let mut echo = [0u8; 8];
    s.read_exact(&mut echo)?;
    let secs = started.elapsed().as_secs_f64();
    child.wait()?;
    if u64::from_be_bytes(echo) != sent {
        bail!("sink counted {} of {sent} bytes", u64::from_be_bytes(echo));
    }
    Ok(sent as f64 / secs / 1e6)
}

/// MB/s of sequential `chunk`-byte writes, each followed by fdatasync, for `secs`,
/// to a file in `dir` (the disk the brokers' data directories are on).
pub fn fdatasync_write(dir: &Path, chunk: usize, secs: f64) -> Result<f64> {
    let path = dir.join("fdatasync-probe");
    let f = std::fs::File::create(&path)?;
    let buf = vec![0x5au8; chunk];
    let started = Instant::now();
    let mut off = 0u64;
    while started.elapsed() < Duration::from_secs_f64(secs) {
        f.write_all_at(&buf, off)?;
        f.sync_data()?;
        off += chunk as u64;
    }
    let rate = off as f64 / started.elapsed().as_secs_f64() / 1e6;
    drop(f);
    std::fs::remove_file(&path)?;
    Ok(rate)
}

/// MB/s of buffered 1 MiB writes (no sync) of `bytes` into a new file in `dir`, then
/// of rewriting the same range: (pages the kernel must allocate, pages already
/// cached). Every broker that keeps a log, in files or in its heap, pays the first
/// rate for new data. On a VM whose balloon reports free memory back to the host
/// (virtio-balloon free page reporting), the first touch of a page the guest has not
/// used recently is a host page fault, and the first rate falls by up to 10x; it
/// depends on what the machine freed in the seconds before, so it is measured once,
/// after a pause that lets memory freed by the earlier probes be reported.
pub fn page_cache_write(dir: &Path, bytes: u64) -> Result<(f64, f64)> {
    std::thread::sleep(Duration::from_secs(5));
    let path = dir.join("page-cache-probe");
    let f = std::fs::File::create(&path)?;
    let buf = vec![0x5au8; 1 << 20];
    let pass = || -> Result<f64> {
        let started = Instant::now();
        let mut off = 0u64;
        while off < bytes {
            f.write_all_at(&buf, off)?;
            off += buf.len() as u64;
        }
        Ok(off as f64 / started.elapsed().as_secs_f64() / 1e6)
    };
    let new = pass()?;
    let cached = pass()?;
    drop(f);
    std::fs::remove_file(&path)?;
    Ok((new, cached))
}

/// The sending process of [`receive_write_cpu`]: connects and writes `bytes` in
/// 1 MiB writes, then closes.
pub fn tcp_source(port: u16, bytes: u64) -> Result<()> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    let buf = vec![7u8; 1 << 20];
    let mut sent = 0u64;
    while sent < bytes {
        s.write_all(&buf)?;
        sent += buf.len() as u64;
    }
    Ok(())
}

/// CPU time of the calling thread, in seconds.
fn thread_cpu_secs() -> f64 {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid clock id and a valid pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    t.tv_sec as f64 + t.tv_nsec as f64 / 1e9
}

/// Pins the process `cmd` starts to one CPU.
fn pin_child(cmd: &mut Command, cpu: usize) {
    // SAFETY: only async-signal-safe calls (sched_setaffinity) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            pin_thread(cpu);
            Ok(())
        });
    }
}

/// Pins the calling thread to one CPU (the suite's broker CPU is 0, its client's 1).
fn pin_thread(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is valid; the call affects this thread only.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// The floor under any broker's CPU per MB produced, on this machine: a thread
/// on the broker's CPU that only receives 1 MiB frames over loopback (from a
/// process on the client's CPU) and writes each into a new file in `dir` (no
/// parsing, CRC, index or answer), with writeback of each MiB started at once
/// when `writeback` (as page-cache Weir starts it). Milliseconds of that thread's
/// CPU per MB.
pub fn receive_write_cpu(dir: &Path, bytes: u64, writeback: bool) -> Result<f64> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let path = dir.join("receive-write-probe");
    let file = std::fs::File::create(&path)?;
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.args(["tcp-source", "--port", &port.to_string(), "--bytes", &bytes.to_string()]);
    pin_child(&mut cmd, 1);
    let mut child = cmd.spawn()?;
    let receiver = std::thread::spawn(move || -> Result<(u64, f64)> {
        pin_thread(0);
        // Not a blocking accept: a source that never connects must not hang the run.
        listener.set_nonblocking(true)?;
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut s = loop {
            match listener.accept() {
                Ok((s, _)) => break s,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Err(e) => return Err(e).context("the sending process did not connect"),
            }
        };
        s.set_nonblocking(false)?;
        let mut buf = vec![0u8; 1 << 20];
        let started = thread_cpu_secs();
        let mut off = 0u64;
        loop {
            let mut fill = 0;
            while fill < buf.len() {
                match s.read(&mut buf[fill..])? {
                    0 => break,
                    n => fill += n,
                }
            }
            if fill == 0 {
                break;
            }
            file.write_all_at(&buf[..fill], off)?;
            if writeback {
                use std::os::fd::AsRawFd;
                // SAFETY: a valid descriptor and a range inside the file.
                let r = unsafe {
                    libc::sync_file_range(file.as_raw_fd(), off as i64, fill as i64, libc::SYNC_FILE_RANGE_WRITE)
                };
                if r != 0 {
                    return Err(std::io::Error::last_os_error()).context("sync_file_range");
                }
            }
            off += fill as u64;
            if fill < buf.len() {
                break;
            }
        }
        Ok((off, thread_cpu_secs() - started))
    });
    let got = receiver.join().expect("receiver thread");
    if got.is_err() {
        let _ = child.kill();
    }
    child.wait()?;
    std::fs::remove_file(&path)?;
    let (received, cpu) = got?;
    if received < bytes {
        bail!("received {received} of {bytes} bytes");
    }
    Ok(cpu * 1e3 / (received as f64 / 1e6))
}

/// Every limit of the report, measured on `root`'s disk (small sizes when `quick`).
pub fn measure(out: &mut crate::report::Limits, root: &Path, quick: bool) {
    eprintln!("limits:");
    out.loopback_mb = loopback_tcp(if quick { 1 << 30 } else { 4 << 30 }).ok();
    out.fdatasync_mb = fdatasync_write(root, 1 << 20, if quick { 1.0 } else { 3.0 }).ok();
    out.fdatasync_small_mb = fdatasync_write(root, 64 << 10, if quick { 1.0 } else { 3.0 }).ok();
    match page_cache_write(root, if quick { 256 << 20 } else { 1 << 30 }) {
        Ok((new, cached)) => {
            out.page_cache_new_mb = Some(new);
            out.page_cache_cached_mb = Some(cached);
        }
        Err(e) => eprintln!("  page-cache write: {e:#}"),
    }
    // A floor, so the lowest of three: the first run may take pages the host has
    // reclaimed (see `page_cache_write`) and cost several times the others.
    let bytes = if quick { 256 << 20 } else { 2 << 30 };
    let floor = |writeback: bool| {
        (0..3)
            .filter_map(|_| {
                receive_write_cpu(root, bytes, writeback)
                    .inspect_err(|e| eprintln!("  receive and write (writeback {writeback}): {e:#}"))
                    .ok()
            })
            .reduce(f64::min)
    };
    out.receive_write_ms = floor(false);
    out.receive_write_writeback_ms = floor(true);
    eprintln!("  {out:?}");
}
