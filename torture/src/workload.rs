//! The clients: idempotent producers over 32 partitions, a transactional
//! producer committing and aborting, consumers in two groups committing
//! offsets, a sampler of committed offsets, schema registrations, and topic
//! creations and config changes. Each records what it was told in the
//! [`History`]; none stops on an error (the broker is down half the time).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, AlterConfig, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseRecord, FutureProducer, FutureRecord, Producer, ThreadedProducer};
use rdkafka::{Message, Offset, TopicPartitionList};

use crate::history::{txn_value, value, Ack, CommitState, Commits, History, TxnOutcome, TXN_RECORDS};

pub const TOPIC: &str = "torture";
pub const PARTITIONS: i32 = 32;
pub const TXN_TOPIC: &str = "torture-txn";
pub const TXN_PARTITIONS: i32 = 4;
pub const GROUPS: [&str; 2] = ["torture-g1", "torture-g2"];

pub type Shared = Arc<Mutex<History>>;

pub fn client(bootstrap: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap)
        .set("reconnect.backoff.max.ms", "500")
        .set("socket.connection.setup.timeout.ms", "5000");
    c
}

/// A lock that a panicked holder does not poison for the rest of the run.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Creates the workload's topics (before any fault).
pub async fn create_topics(bootstrap: &str) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = client(bootstrap).create()?;
    let topics = [
        NewTopic::new(TOPIC, PARTITIONS, TopicReplication::Fixed(1)),
        NewTopic::new(TXN_TOPIC, TXN_PARTITIONS, TopicReplication::Fixed(1)),
    ];
    for r in admin.create_topics(&topics, &AdminOptions::new()).await? {
        r.map_err(|(t, e)| anyhow::anyhow!("cannot create {t}: {e}"))?;
    }
    Ok(())
}

/// One idempotent producer: records `p{id}-{seq}` to partition `seq % 32`, in
/// rounds of 32 awaited together.
pub async fn idempotent_producer(id: u32, bootstrap: String, history: Shared, stop: Arc<AtomicBool>) {
    let producer: FutureProducer = match client(&bootstrap)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "2")
        // Long enough to outlive any outage of the run: a record fails only
        // when the broker keeps refusing it.
        .set("message.timeout.ms", "300000")
        .create()
    {
        Ok(p) => p,
        Err(e) => {
            lock(&history).violations.push(format!("producer {id}: cannot create: {e}"));
            return;
        }
    };
    let mut seq = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let mut pending = Vec::with_capacity(PARTITIONS as usize);
        for _ in 0..PARTITIONS {
            let v = value(id, seq);
            let partition = (seq % PARTITIONS as u64) as i32;
            let mut record = FutureRecord::<str, str>::to(TOPIC).payload(&v).partition(partition);
            loop {
                match producer.send_result(record) {
                    Ok(f) => {
                        pending.push((seq, f));
                        break;
                    }
                    Err((_, r)) => {
                        record = r;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
            seq += 1;
        }
        for (seq, f) in pending {
            match f.await {
                Ok(Ok(d)) => {
                    lock(&history).acked.push(Ack { producer: id, seq, partition: d.partition, offset: d.offset })
                }
                Ok(Err((e, _))) => {
                    let mut h = lock(&history);
                    h.unacked += 1;
                    if let Some(fatal) = fatal_error(&producer, &e) {
                        h.violations.push(format!("idempotent producer {id}: fatal error: {fatal}"));
                        return;
                    }
                }
                Err(_) => lock(&history).unacked += 1,
            }
        }
    }
    let _ = producer.flush(Duration::from_secs(60));
}

fn fatal_error(p: &FutureProducer, e: &KafkaError) -> Option<String> {
    p.client().fatal_error().map(|(code, why)| format!("{code:?}: {why} (delivery: {e})"))
}

/// The transactional producer: transactions of `TXN_RECORDS` records over the
/// txn topic, three in four committed, the rest aborted.
pub fn transactional_producer(bootstrap: String, history: Shared, stop: Arc<AtomicBool>) {
    let timeout = Duration::from_secs(30);
    let make = || -> Option<ThreadedProducer<rdkafka::producer::DefaultProducerContext>> {
        let p: ThreadedProducer<_> = client(&bootstrap)
            .set("transactional.id", "torture-txn")
            .set("transaction.timeout.ms", "60000")
            .set("message.timeout.ms", "60000")
            .create()
            .ok()?;
        p.init_transactions(timeout).ok()?;
        Some(p)
    };
    let mut producer = None;
    let mut txn = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let Some(p) = producer.as_ref() else {
            producer = make();
            if producer.is_none() {
                std::thread::sleep(Duration::from_millis(500));
            }
            continue;
        };
        if p.begin_transaction().is_err() {
            producer = None;
            continue;
        }
        let n = txn;
        txn += 1;
        let mut sent = true;
        for i in 0..TXN_RECORDS {
            let v = txn_value(n, i);
            let partition = (i as i32) % TXN_PARTITIONS;
            if p.send(BaseRecord::<str, str>::to(TXN_TOPIC).payload(&v).partition(partition)).is_err() {
                sent = false;
            }
        }
        let commit = sent && n % 4 != 3;
        let outcome = if commit {
            match p.commit_transaction(timeout) {
                Ok(()) => TxnOutcome::Committed,
                Err(_) => TxnOutcome::Unknown,
            }
        } else {
            match p.abort_transaction(timeout) {
                Ok(()) => TxnOutcome::Aborted,
                Err(_) => TxnOutcome::Unknown,
            }
        };
        lock(&history).txns.push((n, outcome));
        if outcome == TxnOutcome::Unknown {
            // Whatever state the producer is in, a new one with the same
            // transactional.id fences it and ends its transaction.
            producer = None;
        }
    }
    if let Some(p) = producer {
        let _ = p.flush(Duration::from_secs(30));
    }
}

/// A consumer of `group` over the idempotent topic, committing the offsets it
/// has read every 200 records or second; every commit is noted before it is
/// sent and again when acknowledged.
pub fn consumer(group: &'static str, bootstrap: String, history: Shared, commits: Commits, stop: Arc<AtomicBool>) {
    let consumer: BaseConsumer = match client(&bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "10000")
        .create()
    {
        Ok(c) => c,
        Err(e) => {
            lock(&history).violations.push(format!("consumer {group}: cannot create: {e}"));
            return;
        }
    };
    if let Err(e) = consumer.subscribe(&[TOPIC]) {
        lock(&history).violations.push(format!("consumer {group}: cannot subscribe: {e}"));
        return;
    }
    let mut next: HashMap<i32, i64> = HashMap::new();
    let mut read = 0u64;
    let mut last_commit = std::time::Instant::now();
    while !stop.load(Ordering::Relaxed) {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            next.insert(m.partition(), m.offset() + 1);
            read += 1;
        }
        if !next.is_empty() && (read >= 200 || last_commit.elapsed() > Duration::from_secs(1)) {
            let mut tpl = TopicPartitionList::new();
            for (p, o) in &next {
                let _ = tpl.add_partition_offset(TOPIC, *p, Offset::Offset(*o));
            }
            {
                let mut c = lock(&commits);
                for (p, o) in &next {
                    c.entry((group.to_string(), *p)).or_default().since.push(*o);
                }
            }
            if consumer.commit(&tpl, CommitMode::Sync).is_ok() {
                let mut regressions = 0;
                {
                    let mut c = lock(&commits);
                    for (p, o) in next.drain() {
                        let s = c.entry((group.to_string(), p)).or_default();
                        regressions += u64::from(s.acked.is_some_and(|a| o < a));
                        *s = CommitState { acked: Some(o), since: Vec::new() };
                    }
                }
                let mut h = lock(&history);
                h.consumed += read;
                h.commit_count += 1;
                h.commit_regressions += regressions;
                read = 0;
            }
            last_commit = std::time::Instant::now();
        }
    }
}

/// The groups' committed offsets as the broker reports them.
pub fn committed_offsets(bootstrap: &str, group: &str) -> Option<HashMap<i32, i64>> {
    let c: BaseConsumer = client(bootstrap).set("group.id", group).create().ok()?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition(TOPIC, p);
    }
    let got = c.committed_offsets(tpl, Duration::from_secs(5)).ok()?;
    // A partition answered with an error (the coordinator still loading) says
    // nothing about its offset: no sample.
    if got.elements().iter().any(|e| e.error().is_err()) {
        return None;
    }
    Some(
        got.elements()
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(o) => Some((e.partition(), o)),
                _ => None,
            })
            .collect(),
    )
}

/// Asks for the groups' committed offsets while no commit can start: each must
/// be the last acknowledged commit's or one attempted since.
pub fn offset_sampler(bootstrap: String, history: Shared, commits: Commits, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(700));
        for group in GROUPS {
            let c = lock(&commits);
            let Some(now) = committed_offsets(&bootstrap, group) else { continue };
            let found = unexplained(group, &c, &now);
            drop(c);
            let mut h = lock(&history);
            h.offset_samples += 1;
            h.violations.extend(found);
        }
    }
}

/// `group`'s partitions whose committed offset (`now`) is none its consumer's
/// commits can explain.
pub fn unexplained(group: &str, commits: &HashMap<(String, i32), CommitState>, now: &HashMap<i32, i64>) -> Vec<String> {
    let mut found = Vec::new();
    for ((g, p), s) in commits {
        let Some(acked) = s.acked.filter(|_| g == group) else { continue };
        let seen = now.get(p).copied().unwrap_or(-1);
        if !s.allows(seen) {
            found.push(format!(
                "group {group} partition {p}: committed offset {seen}, not the acknowledged {acked} nor one attempted since {:?} (at {} ms since the epoch)",
                s.since,
                crate::node::epoch_ms()
            ));
        }
    }
    found
}

/// Topic creations and `retention.ms` changes, one a second.
pub async fn admin(bootstrap: String, history: Shared, stop: Arc<AtomicBool>) {
    let Ok(admin) = client(&bootstrap).create::<AdminClient<DefaultClientContext>>() else {
        lock(&history).violations.push("admin: cannot create a client".into());
        return;
    };
    let opts = AdminOptions::new().request_timeout(Some(Duration::from_secs(5)));
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        n += 1;
        if n.is_multiple_of(2) {
            let name = format!("torture-t{n}");
            let t = NewTopic::new(&name, 1, TopicReplication::Fixed(1));
            if let Ok(rs) = admin.create_topics(&[t], &opts).await {
                if rs.iter().all(|r| r.is_ok()) {
                    lock(&history).topics.push(name);
                }
            }
        } else {
            let v = (86_400_000 + n).to_string();
            let i = {
                let mut h = lock(&history);
                h.configs.push((v.clone(), false));
                h.configs.len() - 1
            };
            let change = AlterConfig::new(ResourceSpecifier::Topic(TOPIC)).set("retention.ms", &v);
            if let Ok(rs) = admin.alter_configs(&[change], &opts).await {
                if rs.iter().all(|r| r.is_ok()) {
                    lock(&history).configs[i].1 = true;
                }
            }
        }
    }
}
