//! The offset syncs a flow translates group offsets with, kept per mirrored
//! partition as upstream offset -> downstream offset.
//!
//! Only changes of the distance between the two are kept: between two of them
//! every upstream offset maps to `downstream + (offset - upstream)` exactly, so
//! the syncs written every `offset.lag.max` records (which MM2's readers need)
//! add nothing here. A sync at upstream `u` removes every kept one at or past
//! `u`: those were written by an earlier run for records it copied but had not
//! committed, which were copied again at the new downstream offsets. At start the
//! store is rebuilt from the offset-syncs topic, so a restart translates what an
//! earlier run mirrored.
//!
//! A partition keeps at most `MAX_PER_PARTITION`. Past that the older half is
//! thinned (every other one dropped), again and again, so the spacing grows with
//! age and a group far behind still gets a checkpoint (an exactly-once flow adds
//! a distance change every transaction, one a second). Across a dropped sync the
//! distance is no longer known, so there translation is MM2's: the record after
//! the last kept sync's, which may re-read records but never skips one.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;

use super::*;

const MAX_PER_PARTITION: usize = 4096;

#[derive(Clone, Copy, Debug)]
struct Kept {
    downstream: i64,
    /// No sync between this one and the next kept one was dropped: the distance
    /// holds up to it.
    exact_after: bool,
}

#[derive(Default)]
pub(super) struct SyncStore {
    by_partition: HashMap<Partition, BTreeMap<i64, Kept>>,
}

impl SyncStore {
    pub fn insert(&mut self, remote: &str, partition: i32, upstream: i64, downstream: i64) {
        let key = (remote.to_string(), partition);
        let syncs = self.by_partition.entry(key).or_default();
        drop(syncs.split_off(&upstream));
        if let Some((&u, k)) = syncs.last_key_value() {
            if downstream.wrapping_sub(upstream) == k.downstream.wrapping_sub(u) {
                return;
            }
        }
        syncs.insert(upstream, Kept { downstream, exact_after: true });
        if syncs.len() > MAX_PER_PARTITION {
            thin(syncs);
        }
    }

    /// The downstream offset of `upstream`, from the last sync at or below it,
    /// and never past the next sync's downstream offset: an offset inside an
    /// upstream gap (compacted away, a transaction marker) maps to the copy of
    /// the first record after the gap.
    pub fn translate(&self, remote: &str, partition: i32, upstream: i64) -> Option<i64> {
        let syncs = self.by_partition.get(&(remote.to_string(), partition))?;
        let (&u, k) = syncs.range(..=upstream).next_back()?;
        let guess = match (upstream == u, k.exact_after) {
            (true, _) => k.downstream,
            (false, true) => k.downstream.saturating_add(upstream - u),
            (false, false) => k.downstream.saturating_add(1),
        };
        match syncs.range((Bound::Excluded(upstream), Bound::Unbounded)).next() {
            Some((_, next)) => Some(guess.min(next.downstream)),
            None => Some(guess),
        }
    }
}

/// Drops every other sync of the older half, the one before each dropped one
/// no longer exact up to the next kept one. The oldest is never dropped.
fn thin(syncs: &mut BTreeMap<i64, Kept>) {
    let older: Vec<i64> = syncs.keys().take(syncs.len() / 2).copied().collect();
    for pair in older.chunks(2) {
        if let [keep, dropped] = pair {
            syncs.remove(dropped);
            if let Some(k) = syncs.get_mut(keep) {
                k.exact_after = false;
            }
        }
    }
}

/// Writing syncs to, and reading them back from, MM2's offset-syncs topic.
impl FlowRunner {
    /// Writes offset syncs: in the open transaction, or through their own
    /// producer, waiting for them.
    pub(super) fn write_syncs(
        &mut self,
        due: Vec<(Partition, i64, i64)>,
        in_transaction: bool,
    ) -> Result<(), MirrorError> {
        if due.is_empty() {
            return Ok(());
        }
        let syncs_topic = self.flow.offset_syncs_topic();
        for ((remote, partition), up, down) in due {
            let Some(topic) = self.upstream_of.get(&remote) else { continue };
            let sync = OffsetSync { topic: topic.clone(), partition, upstream_offset: up, downstream_offset: down };
            let (k, v) = (sync.key(), sync.value());
            if in_transaction {
                let rec: BaseRecord<'_, [u8], [u8], usize> = BaseRecord::with_opaque_to(&syncs_topic, NO_UPSTREAM)
                    .partition(0)
                    .key(k.as_slice())
                    .payload(v.as_slice());
                self.producer.send(rec).map_err(|(e, _)| kafka(&syncs_topic, e))?;
                self.in_transaction = true;
            } else {
                let rec: BaseRecord<'_, [u8], [u8]> =
                    BaseRecord::to(&syncs_topic).partition(0).key(k.as_slice()).payload(v.as_slice());
                self.syncs_producer.send(rec).map_err(|(e, _)| kafka(&syncs_topic, e))?;
            }
            self.syncs.insert(&remote, partition, up, down);
        }
        if in_transaction {
            return Ok(());
        }
        flush(&self.syncs_producer).map_err(|e| kafka(&syncs_topic, e))?;
        // A sync that did not arrive fails the pass before its positions are
        // committed: the flow resumes from the last ones and writes it again.
        match self.syncs_producer.context().0.lock().unwrap_or_else(|p| p.into_inner()).take() {
            Some(why) => Err(kafka(&syncs_topic, why)),
            None => Ok(()),
        }
    }

    /// Rebuilds the offset syncs of this flow's topics from the offset-syncs
    /// topic, so a restarted flow translates what earlier runs mirrored.
    pub(super) fn load_syncs(&mut self) -> Result<(), MirrorError> {
        let topic = self.flow.offset_syncs_topic();
        let cluster = if self.flow.offset_syncs_on_target { &self.flow.target } else { &self.flow.source };
        let mut c = self.cfg.client(&self.flow, cluster, ClientKind::Consumer);
        // librdkafka polls only with a group; this one never joins or commits.
        c.insert("group.id".into(), format!("{}.readers", position_group(&self.flow)));
        // The end is where librdkafka says it is: with transactional syncs the
        // last offsets may be markers or aborted records, never delivered.
        c.insert("enable.partition.eof".into(), "true".into());
        let reader: BaseConsumer = rd_config(&c, &format!("{}|offset-syncs", self.flow.name()))
            .create()
            .map_err(|e| kafka("offset-syncs reader", e))?;
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&topic, 0, Offset::Beginning).map_err(|e| kafka(&topic, e))?;
        reader.assign(&tpl).map_err(|e| kafka(&topic, e))?;
        // A long topic (compaction not yet run) may take any time to read: only
        // a reader that stops getting anything times out.
        let mut deadline = Instant::now() + TIMEOUT;
        loop {
            if Instant::now() > deadline {
                return Err(kafka(&topic, "timed out reading the offset syncs"));
            }
            let m = match reader.poll(Duration::from_millis(100)) {
                None => continue,
                Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => break,
                Some(m) => m.map_err(|e| kafka(&topic, e))?,
            };
            deadline = Instant::now() + TIMEOUT;
            let Ok(sync) = OffsetSync::decode(m.key().unwrap_or_default(), m.payload().unwrap_or_default()) else {
                continue;
            };
            let remote = self.flow.policy.format_remote_topic(&self.flow.source, &sync.topic);
            self.syncs.insert(&remote, sync.partition, sync.upstream_offset, sync.downstream_offset);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translation_is_exact_across_distance_changes() {
        let mut s = SyncStore::default();
        s.insert("A.t", 0, 0, 0);
        s.insert("A.t", 0, 100, 100); // same distance: nothing new
        s.insert("A.t", 0, 151, 150); // a transaction marker at 150 upstream
        assert_eq!(s.by_partition[&("A.t".to_string(), 0)].len(), 2);
        assert_eq!(s.translate("A.t", 0, 120), Some(120));
        assert_eq!(s.translate("A.t", 0, 151), Some(150));
        assert_eq!(s.translate("A.t", 0, 200), Some(199));
        assert_eq!(s.translate("A.t", 1, 5), None);
    }

    #[test]
    fn an_offset_inside_an_upstream_gap_maps_to_the_record_after_it() {
        let mut s = SyncStore::default();
        s.insert("A.t", 0, 0, 0);
        // Upstream 10..19 compacted away: 20 is the 11th record copied.
        s.insert("A.t", 0, 20, 10);
        assert_eq!(s.translate("A.t", 0, 9), Some(9));
        assert_eq!(s.translate("A.t", 0, 10), Some(10));
        assert_eq!(s.translate("A.t", 0, 15), Some(10));
        assert_eq!(s.translate("A.t", 0, 21), Some(11));
    }

    #[test]
    fn a_restart_replaces_what_the_earlier_run_wrote_past_it() {
        let mut s = SyncStore::default();
        s.insert("A.t", 0, 0, 0);
        s.insert("A.t", 0, 50, 49);
        s.insert("A.t", 0, 80, 78);
        // The earlier run committed 60; the copy resumes there at downstream 79.
        s.insert("A.t", 0, 60, 79);
        assert_eq!(s.translate("A.t", 0, 90), Some(109));
        assert_eq!(s.translate("A.t", 0, 55), Some(54));
    }

    #[test]
    fn old_syncs_are_thinned_and_translate_without_skipping() {
        let mut s = SyncStore::default();
        // Every upstream record followed by a marker: upstream 2i is downstream i.
        let n = 20 * MAX_PER_PARTITION as i64;
        for i in 0..n {
            s.insert("A.t", 0, i * 2, i);
        }
        let kept = s.by_partition[&("A.t".to_string(), 0)].len();
        assert!(kept <= MAX_PER_PARTITION, "{kept}");
        // The newest are exact; the oldest is kept; none ever maps past the truth.
        assert_eq!(s.translate("A.t", 0, (n - 1) * 2), Some(n - 1));
        assert_eq!(s.translate("A.t", 0, (n - 100) * 2 + 1), Some(n - 99));
        assert_eq!(s.translate("A.t", 0, 0), Some(0));
        for up in (0..n * 2).step_by(997) {
            let truth = (up + 1) / 2;
            let got = s.translate("A.t", 0, up).expect("covered back to the first sync");
            assert!(got <= truth, "upstream {up}: {got} past {truth}");
            assert!(got > 0 || up == 0, "upstream {up} maps to {got}");
        }
        // The largest offset does not overflow.
        assert_eq!(s.translate("A.t", 0, i64::MAX), Some(i64::MAX - (n - 1)));
    }
}
