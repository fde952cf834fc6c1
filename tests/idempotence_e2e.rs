//! Idempotent producers (librdkafka `enable.idempotence=true`) keep producing through
//! a broker crash: the partition holds every record exactly once, in order.

mod common;

use std::time::{Duration, Instant};

use common::clients::*;
use common::Weir;
use rdkafka::consumer::Consumer;
use rdkafka::Offset;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_producer_survives_a_crash_with_each_record_exactly_once() {
    let mut weir = Weir::start_restartable(&[]);
    let topic = "idem";
    create_topic(&weir.addr, topic, 1, &[]).await;
    let (p, deliveries) = producer(
        &weir.addr,
        &[("enable.idempotence", "true"), ("retry.backoff.ms", "50"), ("batch.num.messages", "500")],
    );
    let total = 60_000;
    let producing = std::thread::spawn(move || {
        for i in 0..total {
            send(&p, topic, 0, i);
            if i % 1000 == 999 {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        flush(&p);
    });
    let started = Instant::now();
    while deliveries.acked().len() < 20_000 {
        assert!(started.elapsed() < DEADLINE, "no progress before the crash");
        std::thread::sleep(Duration::from_millis(5));
    }
    weir.kill();
    weir.restart();
    producing.join().unwrap();
    assert!(deliveries.errors().is_empty(), "{:?}", deliveries.errors().first());
    assert_eq!(deliveries.acked().len(), total);

    let end = consumer(&weir.addr).fetch_watermarks(topic, 0, DEADLINE).unwrap().1;
    let all = read_partition(&weir.addr, topic, 0, Offset::Beginning, end as usize);
    let seen: Vec<usize> = all.iter().map(|(_, r)| (r.timestamp - BASE_TS) as usize).collect();
    assert_eq!(seen.len(), total, "exactly one copy of each record");
    assert!(seen.iter().enumerate().all(|(i, s)| i == *s), "in production order");
    for (i, (_, r)) in all.iter().enumerate() {
        assert_eq!(r, &record(i));
    }
}
