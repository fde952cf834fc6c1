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
//! earlier run mirrored. Each partition keeps its newest `MAX_PER_PARTITION`.

use std::collections::{BTreeMap, HashMap};

use super::Partition;

const MAX_PER_PARTITION: usize = 4096;

#[derive(Default)]
pub(super) struct SyncStore {
    by_partition: HashMap<Partition, BTreeMap<i64, i64>>,
}

impl SyncStore {
    pub fn insert(&mut self, remote: &str, partition: i32, upstream: i64, downstream: i64) {
        let key = (remote.to_string(), partition);
        let syncs = self.by_partition.entry(key).or_default();
        drop(syncs.split_off(&upstream));
        if let Some((&u, &d)) = syncs.last_key_value() {
            if downstream - upstream == d - u {
                return;
            }
        }
        syncs.insert(upstream, downstream);
        while syncs.len() > MAX_PER_PARTITION {
            syncs.pop_first();
        }
    }

    /// The downstream offset of `upstream`, from the last sync at or below it,
    /// and never past the next sync's downstream offset: an offset inside an
    /// upstream gap (compacted away, a transaction marker) maps to the copy of
    /// the first record after the gap.
    pub fn translate(&self, remote: &str, partition: i32, upstream: i64) -> Option<i64> {
        let syncs = self.by_partition.get(&(remote.to_string(), partition))?;
        let (&u, &d) = syncs.range(..=upstream).next_back()?;
        let exact = d + (upstream - u);
        match syncs.range(upstream + 1..).next() {
            Some((_, &next)) => Some(exact.min(next)),
            None => Some(exact),
        }
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
    fn the_newest_syncs_are_kept() {
        let mut s = SyncStore::default();
        for i in 0..(MAX_PER_PARTITION as i64 + 10) {
            s.insert("A.t", 0, i * 2, i);
        }
        assert_eq!(s.by_partition[&("A.t".to_string(), 0)].len(), MAX_PER_PARTITION);
        assert_eq!(s.translate("A.t", 0, 0), None);
        let last = MAX_PER_PARTITION as i64 + 9;
        assert_eq!(s.translate("A.t", 0, last * 2), Some(last));
    }
}
