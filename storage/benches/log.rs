//! Append and read throughput of `Log` beside raw baselines, in the same run.
//!
//! * append: 16 KiB RecordBatch (1 KiB records, uncompressed) via `Log::append`
//!   vs a plain `write` of the same bytes to a file.
//! * read: fetch-like ~1 MiB reads via `Log::read` (then copied out, as sending it
//!   would) vs slicing and copying the same byte range of an mmap of the segment.
//!
//! Run: `cargo bench -p weir-storage --bench log`

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use weir_storage::testutil::{BatchBuilder, Record};
use weir_storage::{Log, LogConfig, SystemClock};

const RESET_BYTES: u64 = 256 << 20;

fn batch_16k() -> Vec<u8> {
    BatchBuilder::new(0)
        .timestamp(1_700_000_000_000)
        .records((0..15).map(|i| Record::kv(format!("key-{i:04}"), vec![b'x'; 1024])))
        .build()
}

fn config() -> LogConfig {
    LogConfig { segment_bytes: 1 << 30, retention_ms: -1, ..Default::default() }
}

fn append(c: &mut Criterion) {
    let batch = batch_16k();
    let dir = tempfile::tempdir().unwrap();
    let mut g = c.benchmark_group("append");
    g.throughput(Throughput::Bytes(batch.len() as u64));

    let mut file = File::create(dir.path().join("raw.bin")).unwrap();
    let mut written = 0u64;
    g.bench_function("raw_write", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut start = Instant::now();
            for _ in 0..iters {
                if written >= RESET_BYTES {
                    total += start.elapsed();
                    file.set_len(0).unwrap();
                    file.seek(SeekFrom::Start(0)).unwrap();
                    written = 0;
                    start = Instant::now();
                }
                file.write_all(&batch).unwrap();
                written += batch.len() as u64;
            }
            total + start.elapsed()
        })
    });

    let log = Log::open(dir.path().join("bench-0"), config(), Arc::new(SystemClock), false).unwrap();
    let mut written = 0u64;
    g.bench_function("log_append", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut start = Instant::now();
            for _ in 0..iters {
                if written >= RESET_BYTES {
                    total += start.elapsed();
                    log.truncate_to(log.log_start_offset()).unwrap();
                    written = 0;
                    start = Instant::now();
                }
                log.append(&batch).unwrap();
                written += batch.len() as u64;
            }
            total + start.elapsed()
        })
    });
    g.finish();
}

fn read(c: &mut Criterion) {
    let batch = batch_16k();
    let blen = batch.len();
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path().join("bench-0"), config(), Arc::new(SystemClock), false).unwrap();
    let n_batches = (128 << 20) / blen;
    for _ in 0..n_batches {
        log.append(&batch).unwrap();
    }
    let records_per_batch = 15i64;
    let max_bytes = 1 << 20;
    let per_read = max_bytes / blen; // whole batches that fit
    let seg = std::fs::read_dir(dir.path().join("bench-0"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "log"))
        .unwrap();
    let f = File::open(seg).unwrap();
    // SAFETY: the file is only appended to by this process, and not during the bench.
    let map = unsafe { memmap2::Mmap::map(&f) }.unwrap();
    let mut out = vec![0u8; max_bytes + blen];
    let mut g = c.benchmark_group("read");
    g.throughput(Throughput::Bytes((per_read * blen) as u64));

    let mut i = 0usize;
    g.bench_function("raw_mmap_copy", |b| {
        b.iter(|| {
            i = (i + 7) % (n_batches - per_read);
            let range = &map[i * blen..(i + per_read) * blen];
            out[..range.len()].copy_from_slice(range);
            std::hint::black_box(&out);
        })
    });
    let mut i = 0usize;
    g.bench_function("log_read", |b| {
        b.iter(|| {
            i = (i + 7) % (n_batches - per_read);
            let r = log.read(i as i64 * records_per_batch, max_bytes, true).unwrap();
            assert_eq!(r.records.len(), per_read * blen);
            out[..r.records.len()].copy_from_slice(&r.records);
            std::hint::black_box(&out);
        })
    });
    g.finish();
}

fn short() -> Criterion {
    Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3)).sample_size(30)
}

criterion_group! { name = benches; config = short(); targets = append, read }
criterion_main!(benches);
