//! End-to-end: the real `weir` binary driven by librdkafka (the `rdkafka` crate).

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::clients::*;
use common::Weir;
use rdkafka::admin::{AdminOptions, AlterConfig, ConfigSource, NewPartitions, ResourceSpecifier};
use rdkafka::consumer::Consumer;
use rdkafka::{Offset, TopicPartitionList};

const N: usize = 100_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_codec_and_ack_level_round_trips_100k_records() {
    let weir = Weir::start();
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        for acks in ["0", "1", "all"] {
            let topic = format!("e2e-{codec}-acks{acks}");
            create_topic(&weir.addr, &topic, 1, &[]).await;
            let (p, deliveries) =
                producer(&weir.addr, &[("compression.codec", codec), ("acks", acks), ("batch.num.messages", "2000")]);
            for i in 0..N {
                send(&p, &topic, 0, i);
            }
            flush(&p);
            assert_eq!(deliveries.len(), N, "{topic}: delivery reports");
            assert!(deliveries.errors().is_empty(), "{topic}: {:?}", &deliveries.errors()[..1]);
            if acks != "0" {
                // One producer, one partition, in order: record i has offset i.
                for (i, off) in deliveries.acked() {
                    assert_eq!(off, i as i64, "{topic}: offset of record {i}");
                }
            }
            let got = read_partition(&weir.addr, &topic, 0, Offset::Beginning, N);
            for (i, (off, rec)) in got.iter().enumerate() {
                assert_eq!(*off, i as i64, "{topic}: offset");
                assert_eq!(rec, &record(i), "{topic}: record {i}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_in_the_middle_loses_nothing_acknowledged() {
    let mut weir = Weir::start_restartable(&[]);
    let topic = "crash";
    create_topic(&weir.addr, topic, 1, &[]).await;
    let (p, deliveries) = producer(&weir.addr, &[("acks", "all"), ("retries", "1000000"), ("retry.backoff.ms", "50")]);
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
    let acked_before_crash = deliveries.acked().len();
    weir.restart();
    producing.join().unwrap();
    let acked = deliveries.acked();
    assert!(acked.len() > acked_before_crash, "producer made progress after the restart");
    // Everything acknowledged is at the offset it was acknowledged at, unchanged.
    let end = {
        let c = consumer(&weir.addr);
        c.fetch_watermarks(topic, 0, DEADLINE).unwrap().1
    };
    let all = read_partition(&weir.addr, topic, 0, Offset::Beginning, end as usize);
    let by_offset: HashMap<i64, &common::clients::TestRecord> = all.iter().map(|(o, r)| (*o, r)).collect();
    for (i, off) in &acked {
        assert_eq!(by_offset.get(off).copied(), Some(&record(*i)), "acknowledged record {i} at offset {off}");
    }
    assert_eq!(weir.stop().code(), Some(0));
}

/// Segment recycling end to end: the new topic writes into the deleted topic's file
/// (same record shapes, so an old batch starts where the new data ends, with the
/// offset the new log expects next), and after a crash only the new records are there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_topics_file_is_reused_and_a_crash_shows_only_the_new_records() {
    let mut weir = Weir::start_restartable(&[]);
    let produce = |topic: &str, n: usize| {
        let (p, deliveries) = producer(&weir.addr, &[("acks", "all"), ("batch.num.messages", "500")]);
        for i in 0..n {
            send(&p, topic, 0, i);
        }
        flush(&p);
        assert_eq!(deliveries.acked().len(), n, "{topic}: {:?}", deliveries.errors().first());
    };
    create_topic(&weir.addr, "old", 1, &[]).await;
    produce("old", 20_000);
    let r = admin(&weir.addr).delete_topics(&["old"], &AdminOptions::new()).await.expect("delete_topics");
    assert!(r.iter().all(|x| x.is_ok()), "{r:?}");
    let old_dir_gone = || !weir.data_dir.join("old-0").exists();
    assert!(old_dir_gone());

    create_topic(&weir.addr, "new", 1, &[]).await;
    let reused = weir.data_dir.join("new-0").join(format!("{:020}.log", 0));
    let len = std::fs::metadata(&reused).unwrap().len();
    assert!(len > 1_000_000, "the new segment starts in the recycled file ({len} bytes)");
    produce("new", 5_000);
    weir.kill();
    weir.restart();
    let end = consumer(&weir.addr).fetch_watermarks("new", 0, DEADLINE).unwrap().1;
    assert_eq!(end, 5_000, "only the new records survive recovery");
    let got = read_partition(&weir.addr, "new", 0, Offset::Beginning, 5_000);
    for (i, (off, rec)) in got.iter().enumerate() {
        assert_eq!((*off, rec), (i as i64, &record(i)), "record {i}");
    }
    // The old bytes past the end were cut by recovery.
    assert!(std::fs::metadata(&reused).unwrap().len() < len);
    assert_eq!(weir.stop().code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_operations_work_through_librdkafka() {
    let mut weir = Weir::start();
    let a = admin(&weir.addr);
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    create_topic(&weir.addr, "adm", 2, &[("retention.ms", "3600000")]).await;

    // Errors a client understands.
    let bad = rdkafka::admin::NewTopic::new("bad name!", 1, rdkafka::admin::TopicReplication::Fixed(1));
    let dup = rdkafka::admin::NewTopic::new("adm", 1, rdkafka::admin::TopicReplication::Fixed(1));
    let rf3 = rdkafka::admin::NewTopic::new("rf3", 1, rdkafka::admin::TopicReplication::Fixed(3));
    let r = a.create_topics(&[bad, dup, rf3], &opts).await.unwrap();
    let codes: Vec<_> = r.into_iter().map(|x| x.unwrap_err().1).collect();
    use rdkafka::types::RDKafkaErrorCode as E;
    assert_eq!(codes, vec![E::InvalidTopic, E::TopicAlreadyExists, E::InvalidReplicationFactor]);

    // Describe: the override is a dynamic topic config, the rest are defaults.
    let res = a.describe_configs(&[ResourceSpecifier::Topic("adm")], &opts).await.unwrap();
    let cfg = res.into_iter().next().unwrap().unwrap();
    let retention = cfg.get("retention.ms").unwrap();
    assert_eq!(retention.value.as_deref(), Some("3600000"));
    assert_eq!(retention.source, ConfigSource::DynamicTopic);
    assert_eq!(cfg.get("segment.bytes").unwrap().value.as_deref(), Some("1073741824"));
    assert_eq!(cfg.get("segment.bytes").unwrap().source, ConfigSource::Default);

    // Alter (non-incremental: replaces the set), then describe again.
    let alter = AlterConfig::new(ResourceSpecifier::Topic("adm")).set("cleanup.policy", "compact,delete");
    a.alter_configs(&[alter], &opts).await.unwrap().into_iter().for_each(|r| {
        r.unwrap();
    });
    let res = a.describe_configs(&[ResourceSpecifier::Topic("adm")], &opts).await.unwrap();
    let cfg = res.into_iter().next().unwrap().unwrap();
    assert_eq!(cfg.get("cleanup.policy").unwrap().value.as_deref(), Some("compact,delete"));
    assert_eq!(cfg.get("retention.ms").unwrap().source, ConfigSource::Default);
    // An invalid value is refused and changes nothing. (The rdkafka crate drops
    // per-resource AlterConfigs errors, so check the effect; the Python compat suite
    // checks the error code.)
    let bad = AlterConfig::new(ResourceSpecifier::Topic("adm")).set("retention.ms", "-5");
    a.alter_configs(&[bad], &opts).await.unwrap();
    let res = a.describe_configs(&[ResourceSpecifier::Topic("adm")], &opts).await.unwrap();
    let cfg = res.into_iter().next().unwrap().unwrap();
    assert_eq!(cfg.get("cleanup.policy").unwrap().value.as_deref(), Some("compact,delete"));
    assert_eq!(cfg.get("retention.ms").unwrap().value.as_deref(), Some("604800000"));
    // A compacted topic refuses records without a key (as Kafka does), and the
    // records below include some: back to delete, with a retention of our own.
    let alter = AlterConfig::new(ResourceSpecifier::Topic("adm"))
        .set("cleanup.policy", "delete")
        .set("retention.ms", "7200000");
    a.alter_configs(&[alter], &opts).await.unwrap().into_iter().for_each(|r| {
        r.unwrap();
    });

    // Produce to both partitions, then list offsets, look up by time, delete records.
    let (p, deliveries) = producer(&weir.addr, &[("acks", "all")]);
    for i in 0..1000 {
        send(&p, "adm", (i % 2) as i32, i);
    }
    flush(&p);
    assert!(deliveries.errors().is_empty());
    let c = consumer(&weir.addr);
    assert_eq!(c.fetch_watermarks("adm", 0, DEADLINE).unwrap(), (0, 500));
    let mut tpl = TopicPartitionList::new();
    // Record 600 (partition 0, offset 300) has timestamp BASE_TS + 600.
    tpl.add_partition_offset("adm", 0, Offset::Offset(BASE_TS + 600)).unwrap();
    let found = c.offsets_for_times(tpl, DEADLINE).unwrap();
    assert_eq!(found.find_partition("adm", 0).unwrap().offset(), Offset::Offset(300));
    let got = read_partition(&weir.addr, "adm", 0, Offset::Offset(300), 200);
    assert_eq!(got[0].1, record(600));

    let mut del = TopicPartitionList::new();
    del.add_partition_offset("adm", 0, Offset::Offset(120)).unwrap();
    let r = a.delete_records(&del, &opts).await.unwrap();
    assert_eq!(r.find_partition("adm", 0).unwrap().offset(), Offset::Offset(120));
    assert_eq!(c.fetch_watermarks("adm", 0, DEADLINE).unwrap(), (120, 500));

    // More partitions; fewer is refused.
    a.create_partitions(&[NewPartitions::new("adm", 4)], &opts).await.unwrap()[0].clone().unwrap();
    let r = a.create_partitions(&[NewPartitions::new("adm", 3)], &opts).await.unwrap();
    assert_eq!(r[0].clone().unwrap_err().1, E::InvalidPartitions);
    let md = c.fetch_metadata(Some("adm"), DEADLINE).unwrap();
    assert_eq!(md.topics()[0].partitions().len(), 4);

    // Everything survives a restart: topics, configs, offsets, log start.
    assert_eq!(weir.stop().code(), Some(0));
    weir.restart();
    let c = consumer(&weir.addr);
    assert_eq!(c.fetch_watermarks("adm", 0, DEADLINE).unwrap(), (120, 500));
    let a = admin(&weir.addr);
    let res = a.describe_configs(&[ResourceSpecifier::Topic("adm")], &opts).await.unwrap();
    let cfg = res.into_iter().next().unwrap().unwrap();
    assert_eq!(cfg.get("cleanup.policy").unwrap().value.as_deref(), Some("delete"));
    assert_eq!(cfg.get("retention.ms").unwrap().value.as_deref(), Some("7200000"));
    assert_eq!(cfg.get("retention.ms").unwrap().source, ConfigSource::DynamicTopic);

    // Delete: gone from metadata, and the name can be reused from scratch.
    a.delete_topics(&["adm"], &opts).await.unwrap()[0].clone().unwrap();
    let md = c.fetch_metadata(None, DEADLINE).unwrap();
    assert!(md.topics().iter().all(|t| t.name() != "adm"));
    create_topic(&weir.addr, "adm", 1, &[]).await;
    assert_eq!(c.fetch_watermarks("adm", 0, DEADLINE).unwrap(), (0, 0));
}

#[test]
fn a_second_weir_on_the_same_data_dir_fails_clearly_and_sigterm_exits_zero() {
    let mut weir = Weir::start();
    let out = std::process::Command::new(common::bin())
        .args(["serve", "--kafka-addr", "127.0.0.1:0", "--data-dir"])
        .arg(&weir.data_dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("locked by another weir process"), "{err}");
    assert!(err.contains(&weir.pid().to_string()), "names the holder: {err}");
    assert_eq!(weir.stop().code(), Some(0));
    assert!(weir.data_dir.join(".weir_clean_shutdown").exists(), "clean-shutdown marker written");
}
