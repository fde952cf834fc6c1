//! The checker: reads back everything after the run (the broker restarted
//! cleanly) and holds it to what the clients were told.
//!
//! - every acknowledged record is in the log exactly once, at the offset it was
//!   acknowledged with (so no offset was given twice), and a producer's records
//!   in one partition are in send order;
//! - no record of an idempotent producer is in the log twice, acknowledged or not;
//! - read_committed shows every committed transaction whole, no aborted one, and
//!   a transaction whose outcome is unknown whole or not at all;
//! - committed group offsets are not below any acknowledged commit;
//! - every acknowledged topic exists, and `retention.ms` holds the last
//!   acknowledged value or one sent after it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{Message, Offset, TopicPartitionList};

use crate::history::{txn_value, value, Ack, CommitState, History, TxnOutcome, TXN_RECORDS};
use crate::workload::{client, committed_offsets, unexplained, GROUPS, PARTITIONS, TOPIC, TXN_PARTITIONS, TXN_TOPIC};

/// Every record of `topic` as (partition, offset, value), read to the end.
fn read_all(bootstrap: &str, topic: &str, partitions: i32, isolation: &str) -> anyhow::Result<Vec<(i32, i64, String)>> {
    let c: BaseConsumer = client(bootstrap)
        .set("group.id", "torture-checker")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("isolation.level", isolation)
        .create()?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    c.assign(&tpl)?;
    let mut at_end: HashSet<i32> = HashSet::new();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(600);
    while at_end.len() < partitions as usize {
        anyhow::ensure!(Instant::now() < deadline, "reading {topic} back did not finish");
        match c.poll(Duration::from_millis(500)) {
            Some(Ok(m)) => {
                let v = m.payload().map(|p| String::from_utf8_lossy(p).into_owned()).unwrap_or_default();
                out.push((m.partition(), m.offset(), v));
            }
            Some(Err(KafkaError::PartitionEOF(p))) => {
                at_end.insert(p);
            }
            Some(Err(e)) => anyhow::bail!("reading {topic}: {e}"),
            None => {}
        }
    }
    Ok(out)
}

/// The idempotent topic against the acknowledgements.
fn records(log: &[(i32, i64, String)], acked: &[Ack]) -> Vec<String> {
    let mut violations = Vec::new();
    let mut at: HashMap<(i32, i64), &str> = HashMap::new();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (p, o, v) in log {
        if at.insert((*p, *o), v).is_some() {
            violations.push(format!("{TOPIC}-{p} offset {o} was read twice"));
        }
        *seen.entry(v).or_default() += 1;
    }
    for (v, n) in &seen {
        if *n > 1 {
            violations.push(format!("record {v} is in the log {n} times"));
        }
    }
    let mut order: BTreeMap<(u32, i32), Vec<(u64, i64)>> = BTreeMap::new();
    for a in acked {
        let want = value(a.producer, a.seq);
        match at.get(&(a.partition, a.offset)) {
            Some(v) if *v == want => {}
            Some(v) => violations
                .push(format!("acknowledged {want} at {TOPIC}-{}@{} but that offset holds {v}", a.partition, a.offset)),
            None => violations.push(format!("acknowledged {want} at {TOPIC}-{}@{} is missing", a.partition, a.offset)),
        }
        order.entry((a.producer, a.partition)).or_default().push((a.seq, a.offset));
    }
    for ((producer, partition), mut acks) in order {
        acks.sort();
        if let Some(w) = acks.windows(2).find(|w| w[1].1 <= w[0].1) {
            violations.push(format!(
                "producer {producer} in partition {partition}: seq {} at offset {} but seq {} at offset {}",
                w[0].0, w[0].1, w[1].0, w[1].1
            ));
        }
    }
    violations
}

/// The transactional topic, read committed, against the outcomes.
fn transactions(log: &[(i32, i64, String)], txns: &[(u64, TxnOutcome)]) -> Vec<String> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (_, _, v) in log {
        *seen.entry(v).or_default() += 1;
    }
    let mut violations = Vec::new();
    for (n, outcome) in txns {
        let present: Vec<usize> =
            (0..TXN_RECORDS).map(|i| seen.get(txn_value(*n, i).as_str()).copied().unwrap_or(0)).collect();
        let whole = present.iter().all(|c| *c == 1);
        let none = present.iter().all(|c| *c == 0);
        let ok = match outcome {
            TxnOutcome::Committed => whole,
            TxnOutcome::Aborted => none,
            TxnOutcome::Unknown => whole || none,
        };
        if !ok {
            violations
                .push(format!("transaction {n} ({outcome:?}): read_committed shows its records {present:?} times"));
        }
    }
    violations
}

pub struct Counts {
    pub records: usize,
    pub txn_records: usize,
}

pub async fn check(
    bootstrap: &str,
    history: &History,
    commits: &HashMap<(String, i32), CommitState>,
    violations: &mut Vec<String>,
) -> anyhow::Result<Counts> {
    let log = read_all(bootstrap, TOPIC, PARTITIONS, "read_uncommitted")?;
    violations.extend(records(&log, &history.acked));
    let txn_log = read_all(bootstrap, TXN_TOPIC, TXN_PARTITIONS, "read_committed")?;
    violations.extend(transactions(&txn_log, &history.txns));

    for group in GROUPS {
        let now = committed_offsets(bootstrap, group).unwrap_or_default();
        violations.extend(unexplained(group, commits, &now));
    }

    let admin: AdminClient<DefaultClientContext> = client(bootstrap).create()?;
    let meta = admin.inner().fetch_metadata(None, Duration::from_secs(10))?;
    let exists: HashSet<&str> = meta.topics().iter().map(|t| t.name()).collect();
    for t in &history.topics {
        if !exists.contains(t.as_str()) {
            violations.push(format!("topic {t} was created (acknowledged) and is gone"));
        }
    }
    if let Some(last) = history.configs.iter().rposition(|(_, acked)| *acked) {
        let allowed: Vec<&str> = history.configs[last..].iter().map(|(v, _)| v.as_str()).collect();
        let r = admin.describe_configs(&[ResourceSpecifier::Topic(TOPIC)], &AdminOptions::new()).await?;
        let got = match r.first() {
            Some(Ok(res)) => res.get("retention.ms").and_then(|e| e.value.clone()),
            _ => None,
        };
        if !got.as_deref().is_some_and(|g| allowed.contains(&g)) {
            violations.push(format!("retention.ms of {TOPIC} is {got:?}, acknowledged {}", allowed[0]));
        }
    }
    Ok(Counts { records: log.len(), txn_records: txn_log.len() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ack(producer: u32, seq: u64, partition: i32, offset: i64) -> Ack {
        Ack { producer, seq, partition, offset }
    }
    fn rec(partition: i32, offset: i64, v: &str) -> (i32, i64, String) {
        (partition, offset, v.to_string())
    }

    #[test]
    fn a_faithful_log_passes() {
        let log = [rec(0, 0, "p0-0"), rec(0, 1, "p0-32"), rec(1, 0, "p0-1"), rec(1, 1, "p1-1")];
        let acked = [ack(0, 0, 0, 0), ack(0, 32, 0, 1), ack(0, 1, 1, 0)];
        assert!(records(&log, &acked).is_empty());
    }

    #[test]
    fn lost_moved_duplicated_and_reordered_records_are_caught() {
        let acked = [ack(0, 0, 0, 0), ack(0, 32, 0, 1)];
        let missing = records(&[rec(0, 0, "p0-0")], &acked);
        assert!(missing[0].contains("p0-32") && missing[0].contains("missing"), "{missing:?}");
        let reused = records(&[rec(0, 0, "p0-0"), rec(0, 1, "p9-9")], &acked);
        assert!(reused[0].contains("holds p9-9"), "{reused:?}");
        let twice = records(&[rec(0, 0, "p0-0"), rec(0, 1, "p0-32"), rec(0, 2, "p0-32")], &acked);
        assert!(twice.iter().any(|v| v.contains("2 times")), "{twice:?}");
        let reordered = records(&[rec(0, 0, "p0-32"), rec(0, 1, "p0-0")], &[ack(0, 0, 0, 1), ack(0, 32, 0, 0)]);
        assert!(reordered.iter().any(|v| v.contains("seq 0 at offset 1 but seq 32 at offset 0")), "{reordered:?}");
    }

    #[test]
    fn transactions_are_all_or_nothing_as_their_outcome_says() {
        let whole = |n: u64| (0..TXN_RECORDS).map(|i| rec(0, i as i64, &txn_value(n, i))).collect::<Vec<_>>();
        let mut log = whole(0);
        log.extend(whole(2));
        log.push(rec(0, 99, &txn_value(3, 0)));
        let txns =
            [(0, TxnOutcome::Committed), (1, TxnOutcome::Aborted), (2, TxnOutcome::Unknown), (4, TxnOutcome::Unknown)];
        assert!(transactions(&log, &txns).is_empty());
        let bad = transactions(&log, &[(1, TxnOutcome::Committed), (2, TxnOutcome::Aborted), (3, TxnOutcome::Unknown)]);
        assert_eq!(bad.len(), 3, "{bad:?}");
    }

    #[test]
    fn a_committed_offset_is_the_last_acknowledged_or_one_attempted_since() {
        let key = |p: i32| ("g".to_string(), p);
        let commits = HashMap::from([
            (key(0), CommitState { acked: Some(10), since: vec![12, 11] }),
            (key(1), CommitState { acked: Some(5), since: vec![] }),
            (key(2), CommitState { acked: None, since: vec![3] }),
        ]);
        let seen = |o0: i64, o1: Option<i64>| {
            let mut m = HashMap::from([(0, o0), (2, 0)]);
            m.extend(o1.map(|o| (1, o)));
            crate::workload::unexplained("g", &commits, &m)
        };
        for o0 in [10, 11, 12] {
            assert!(seen(o0, Some(5)).is_empty(), "{o0}");
        }
        // An older commit's offset, one never attempted, or none at all.
        assert_eq!(seen(9, Some(5)).len(), 1);
        assert_eq!(seen(13, Some(5)).len(), 1);
        assert_eq!(seen(10, None).len(), 1);
        assert_eq!(seen(10, Some(4)).len(), 1);
        // Another group's commits are not this one's.
        assert!(crate::workload::unexplained("h", &commits, &HashMap::new()).is_empty());
    }
}
