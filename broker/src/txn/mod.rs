//! The transaction coordinator: Kafka's transaction protocol on one node.
//!
//! Every transactional id's metadata lives in `__transaction_state` (compacted,
//! `transaction.state.log.num.partitions` partitions, an id on partition
//! `abs(javaHash(id)) % n`, Kafka's schemas in `records.rs`), as a [`StateTopic`]:
//! a change is written and fsynced before it is acted on. Operations on one id are
//! serialised (striped locks) and run to completion on the calling (blocking)
//! thread: EndTxn writes PrepareCommit/PrepareAbort, then a marker into every
//! partition of the transaction (all appended and their writeback started before
//! the first fdatasync, so the partitions' disk writes overlap; markers into
//! `__consumer_offsets` go through the group coordinator, which then applies or
//! drops the transaction's offsets), then CompleteCommit/CompleteAbort, and only
//! then answers. A broker that dies between the two completes the transaction
//! when it starts again; one whose markers or completion could not be written
//! (a full disk) is completed by the tick, tried again until it is (meanwhile
//! the same EndTxn is answered CONCURRENT_TRANSACTIONS, the other
//! INVALID_TXN_STATE, as Kafka).
//! Coordinator epoch is 0: one node is always the coordinator.
//!
//! Fencing: InitProducerId bumps the epoch (a new producer id once the epoch would
//! overflow); an ongoing transaction of the previous producer is aborted first with
//! a bumped epoch, so the zombie's writes (older epoch) are refused everywhere. A
//! transaction older than its timeout is aborted the same way by the tick. A
//! retried InitProducerId (KIP-360: the same expected producer id and epoch,
//! whose answer was lost) gets the current epoch again rather than being fenced;
//! what it retries is kept in memory, as Kafka keeps lastProducerEpoch.

mod complete;
mod markers;
mod records;
mod state;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use weir_storage::Clock;

pub use records::TxnValue;
pub use state::TxnState;

use crate::error::{BrokerError, TxnError};
use crate::group::Coordinator as Groups;
use crate::internal::{InternalTopic, StateTopic};
use crate::metadata::MetadataStore;
use crate::partition::ReplicaManager;
use crate::settings::TxnSettings;
use state::TxnStates;

pub const TRANSACTION_STATE_TOPIC: &str = "__transaction_state";

/// A transaction (producer id, epoch) and its partitions already marked.
type MarkedPartitions = ((i64, i16), BTreeSet<(String, i32)>);

/// Per partition, added or why not.
pub type PartitionResults = Vec<((String, i32), Result<(), TxnError>)>;
const LOCK_STRIPES: usize = 64;

/// A transactional id as DescribeTransactions and the console show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxnDescription {
    pub transactional_id: String,
    pub state: TxnState,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub timeout_ms: i32,
    /// -1 when no transaction is open.
    pub start_ms: i64,
    pub partitions: BTreeSet<(String, i32)>,
}

pub struct TxnCoordinator {
    store: StateTopic<TxnStates>,
    clock: Arc<dyn Clock>,
    settings: TxnSettings,
    meta: Arc<MetadataStore>,
    partitions: Arc<ReplicaManager>,
    groups: Arc<Groups>,
    locks: Vec<Mutex<()>>,
    /// Per id, the (producer id, epoch) of the last InitProducerId that gave
    /// the current epoch (Kafka's lastProducerEpoch and previousProducerId,
    /// kept in memory as Kafka keeps them): a retry of it, whose answer the
    /// producer never got, is answered with the current epoch, not fenced
    /// (KIP-360).
    last_init: Mutex<HashMap<String, (i64, i16)>>,
    /// Per id, the partitions whose markers a failed completion of the
    /// transaction (producer id, epoch) wrote, so a retry skips them.
    marked: Mutex<HashMap<String, MarkedPartitions>>,
    /// Tests: the marker of this partition fails to be written while set.
    #[cfg(test)]
    fail_marker: Mutex<Option<(String, i32)>>,
}

fn fenced(epoch: i16, current: i16) -> TxnError {
    TxnError::ProducerFenced(format!(
        "There is a newer producer with the same transactionalId which fences the current one (epoch {epoch}, current {current})."
    ))
}

fn mapping(id: &str) -> TxnError {
    TxnError::InvalidProducerIdMapping(format!(
        "The producer attempted to use a producer id which is not currently assigned to its transactional id {id}."
    ))
}

impl TxnCoordinator {
    /// Loads `__transaction_state` and completes every transaction a previous run
    /// left half-way through EndTxn. Blocking.
    pub(crate) fn open(
        topic: InternalTopic,
        meta: Arc<MetadataStore>,
        partitions: Arc<ReplicaManager>,
        groups: Arc<Groups>,
        settings: TxnSettings,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<TxnCoordinator>, BrokerError> {
        let store = StateTopic::open(topic, TxnStates::default())?;
        let c = Arc::new(TxnCoordinator {
            store,
            clock,
            settings,
            meta,
            partitions,
            groups,
            locks: (0..LOCK_STRIPES).map(|_| Mutex::new(())).collect(),
            last_init: Mutex::new(HashMap::new()),
            marked: Mutex::new(HashMap::new()),
            #[cfg(test)]
            fail_marker: Mutex::new(None),
        });
        let unfinished: Vec<(String, TxnValue)> = c
            .store
            .lock()
            .by_id
            .iter()
            .filter(|(_, v)| v.state.is_completing())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (id, v) in unfinished {
            tracing::info!(transactional.id = %id, producer.id = v.producer_id, state = v.state.name(), "completing a transaction left half-way");
            let _l = c.lock(&id);
            // One partition that cannot take its marker now must not keep the
            // broker from starting: the tick tries again.
            if let Err(e) = c.complete(&id, v) {
                tracing::warn!(transactional.id = %id, error = %e, "could not complete a prepared transaction; tried again on each tick");
            }
        }
        tracing::info!(transactional_ids = c.store.lock().by_id.len(), "transaction coordinator loaded");
        Ok(c)
    }

    fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    fn lock(&self, id: &str) -> parking_lot::MutexGuard<'_, ()> {
        let h = crate::group::records::java_string_hash(id) as u32 as usize;
        self.locks[h % self.locks.len()].lock()
    }

    fn current(&self, id: &str) -> Option<TxnValue> {
        self.store.lock().by_id.get(id).cloned()
    }

    /// Writes `value` (None: a tombstone) for `id` and waits for it to be on disk.
    fn persist(&self, id: &str, value: Option<&TxnValue>) -> Result<(), TxnError> {
        let partition = crate::group::records::partition_for(id, self.store.topic().partition_count());
        let entry = (Some(records::encode_key(id)), value.map(TxnValue::encode));
        self.store.write(partition, vec![entry]).map_err(|e| {
            tracing::error!(transactional.id = %id, error = %e, "could not write the transaction log");
            TxnError::CoordinatorNotAvailable
        })
    }

    /// InitProducerId with a transactional id: a producer id and a new epoch that
    /// fences every earlier producer of this id. `expected`: the producer id and
    /// epoch a producer recovering from an abortable error sends (KIP-360).
    pub fn init_producer_id(
        &self,
        id: &str,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
    ) -> Result<(i64, i16), TxnError> {
        if timeout_ms <= 0 || timeout_ms as i64 > self.settings.max_timeout_ms {
            return Err(TxnError::InvalidTransactionTimeout {
                requested: timeout_ms,
                max: self.settings.max_timeout_ms,
            });
        }
        let _l = self.lock(id);
        let now = self.now();
        let Some(mut v) = self.current(id) else {
            let pid = self.meta.allocate_producer_id().map_err(|_| TxnError::CoordinatorNotAvailable)?;
            let v = TxnValue {
                producer_id: pid,
                producer_epoch: 0,
                timeout_ms,
                state: TxnState::Empty,
                partitions: BTreeSet::new(),
                last_update_ms: now,
                start_ms: -1,
            };
            self.persist(id, Some(&v))?;
            tracing::info!(transactional.id = %id, producer.id = pid, "new transactional producer");
            return Ok((pid, 0));
        };
        if v.state.is_completing() {
            return Err(TxnError::ConcurrentTransactions);
        }
        if let Some((pid, epoch)) = expected {
            if pid != v.producer_id || epoch != v.producer_epoch {
                let retry = self.last_init.lock().get(id) == Some(&(pid, epoch)) && v.state != TxnState::Ongoing;
                if retry {
                    return Ok((v.producer_id, v.producer_epoch));
                }
                return Err(fenced(epoch, v.producer_epoch));
            }
        }
        if v.state == TxnState::Ongoing {
            // The previous producer's transaction: aborted under a bumped epoch,
            // which fences that producer.
            v = self.fence_and_abort(id, v, "a new producer initialised with the same transactional id")?;
        }
        let (pid, epoch) = self.next_epoch(&v)?;
        let v = TxnValue {
            producer_id: pid,
            producer_epoch: epoch,
            timeout_ms,
            state: TxnState::Empty,
            partitions: BTreeSet::new(),
            last_update_ms: now,
            start_ms: -1,
        };
        self.persist(id, Some(&v))?;
        let mut last = self.last_init.lock();
        match expected {
            Some(e) => last.insert(id.to_string(), e),
            None => last.remove(id),
        };
        tracing::info!(transactional.id = %id, producer.id = pid, producer.epoch = epoch, "transactional producer (re)initialised");
        Ok((pid, epoch))
    }

    /// The next (producer id, epoch): the epoch + 1, or a new producer id at epoch
    /// 0 when the epoch would reach its maximum.
    fn next_epoch(&self, v: &TxnValue) -> Result<(i64, i16), TxnError> {
        if v.producer_epoch >= i16::MAX - 1 {
            let pid = self.meta.allocate_producer_id().map_err(|_| TxnError::CoordinatorNotAvailable)?;
            Ok((pid, 0))
        } else {
            Ok((v.producer_id, v.producer_epoch + 1))
        }
    }

    /// Aborts an ongoing transaction with the epoch bumped (Kafka's
    /// PrepareEpochFence). Returns the completed state.
    fn fence_and_abort(&self, id: &str, mut v: TxnValue, why: &str) -> Result<TxnValue, TxnError> {
        let epoch = v.producer_epoch.saturating_add(1);
        tracing::info!(transactional.id = %id, producer.id = v.producer_id, producer.epoch = v.producer_epoch, new.epoch = epoch, reason = why, "aborting the open transaction and fencing its producer");
        v.producer_epoch = epoch;
        // A fenced epoch is no one's to retry into.
        self.last_init.lock().remove(id);
        self.write_markers_and_complete(id, v, false)
    }

    /// Checks that `producer_id`/`epoch` is the current producer of `id`.
    fn check_producer(&self, id: &str, v: &TxnValue, producer_id: i64, epoch: i16) -> Result<(), TxnError> {
        if producer_id != v.producer_id {
            return Err(mapping(id));
        }
        if epoch != v.producer_epoch {
            return Err(fenced(epoch, v.producer_epoch));
        }
        Ok(())
    }

    /// AddPartitionsToTxn: adds partitions to the producer's transaction (starting
    /// one). Per partition, the error if any; any error means nothing was added.
    pub fn add_partitions(
        &self,
        id: &str,
        producer_id: i64,
        epoch: i16,
        partitions: Vec<(String, i32)>,
        verify_only: bool,
    ) -> Result<PartitionResults, TxnError> {
        let _l = self.lock(id);
        let Some(mut v) = self.current(id) else { return Err(mapping(id)) };
        self.check_producer(id, &v, producer_id, epoch)?;
        if v.state.is_completing() {
            return Err(TxnError::ConcurrentTransactions);
        }
        if verify_only {
            return Ok(partitions
                .into_iter()
                .map(|tp| {
                    let r = if v.state == TxnState::Ongoing && v.partitions.contains(&tp) {
                        Ok(())
                    } else {
                        Err(TxnError::InvalidTxnState("The partition is not in the transaction.".into()))
                    };
                    (tp, r)
                })
                .collect());
        }
        let unknown: Vec<bool> =
            partitions.iter().map(|(t, p)| !self.meta.topic(t).is_some_and(|m| *p >= 0 && *p < m.partitions)).collect();
        if unknown.iter().any(|u| *u) {
            return Ok(partitions
                .into_iter()
                .zip(unknown)
                .map(|(tp, u)| {
                    (tp, Err(if u { TxnError::UnknownTopicOrPartition } else { TxnError::OperationNotAttempted }))
                })
                .collect());
        }
        let now = self.now();
        let new: Vec<(String, i32)> = partitions.iter().filter(|tp| !v.partitions.contains(*tp)).cloned().collect();
        if !new.is_empty() || v.state != TxnState::Ongoing {
            if v.state != TxnState::Ongoing {
                v.start_ms = now;
                v.partitions.clear();
            }
            v.state = TxnState::Ongoing;
            v.partitions.extend(new);
            v.last_update_ms = now;
            self.persist(id, Some(&v))?;
        }
        Ok(partitions.into_iter().map(|tp| (tp, Ok(()))).collect())
    }

    /// AddOffsetsToTxn: the group's `__consumer_offsets` partition joins the
    /// transaction (TxnOffsetCommit then writes there).
    pub fn add_offsets(&self, id: &str, producer_id: i64, epoch: i16, group: &str) -> Result<(), TxnError> {
        let tp = (crate::group::store::OFFSETS_TOPIC.to_string(), self.groups.partition_for(group));
        let r = self.add_partitions(id, producer_id, epoch, vec![tp], false)?;
        r.into_iter().next().map_or(Ok(()), |(_, r)| r)
    }

    /// EndTxn: commits or aborts the producer's transaction; returns once every
    /// marker is on disk and the transaction is complete.
    pub fn end_txn(&self, id: &str, producer_id: i64, epoch: i16, commit: bool) -> Result<(), TxnError> {
        let _l = self.lock(id);
        let Some(v) = self.current(id) else { return Err(mapping(id)) };
        self.check_producer(id, &v, producer_id, epoch)?;
        match v.state {
            TxnState::Ongoing => self.write_markers_and_complete(id, v, commit).map(|_| ()),
            // A retry of the EndTxn that completed it.
            TxnState::CompleteCommit if commit => Ok(()),
            TxnState::CompleteAbort if !commit => Ok(()),
            // Still completing (a marker could not be written yet): the same
            // result is retried later, the other one is not valid (as Kafka).
            TxnState::PrepareCommit if commit => Err(TxnError::ConcurrentTransactions),
            TxnState::PrepareAbort | TxnState::PrepareEpochFence if !commit => Err(TxnError::ConcurrentTransactions),
            s => Err(TxnError::InvalidTxnState(format!(
                "EndTxn({}) is not valid in state {}",
                if commit { "commit" } else { "abort" },
                s.name()
            ))),
        }
    }

    /// A transactional produce or offset commit of the request's
    /// `transactional_id`: `producer_id` must be that id's, with an open
    /// transaction that holds the partition (KIP-890's verification). Without
    /// the id (which a request carrying transactional records must name, as
    /// Kafka requires) or with another id's producer, it is refused: the id is
    /// what the request was authorized for.
    pub fn verify(
        &self,
        transactional_id: Option<&str>,
        topic: &str,
        partition: i32,
        producer_id: i64,
        epoch: i16,
    ) -> Result<(), TxnError> {
        let Some(transactional_id) = transactional_id else { return Err(TxnError::MissingTransactionalId) };
        let st = self.store.lock();
        let Some((id, v)) = st.by_producer.get(&producer_id).and_then(|id| st.by_id.get(id).map(|v| (id, v))) else {
            return Err(TxnError::InvalidProducerIdMapping(format!(
                "Producer id {producer_id} has no transactional id."
            )));
        };
        if id != transactional_id {
            return Err(TxnError::InvalidProducerIdMapping(format!(
                "Producer id {producer_id} is not the producer of transactional id {transactional_id}."
            )));
        }
        if epoch < v.producer_epoch {
            return Err(fenced(epoch, v.producer_epoch));
        }
        if v.state == TxnState::Ongoing
            && epoch == v.producer_epoch
            && v.partitions.contains(&(topic.to_string(), partition))
        {
            return Ok(());
        }
        Err(TxnError::InvalidTxnState(format!(
            "{topic}-{partition} is not part of an ongoing transaction of producer {producer_id}"
        )))
    }

    /// DescribeTransactions: every id given, or not found.
    pub fn describe(&self, id: &str) -> Option<TxnDescription> {
        let st = self.store.lock();
        st.by_id.get(id).map(|v| TxnDescription {
            transactional_id: id.to_string(),
            state: v.state,
            producer_id: v.producer_id,
            producer_epoch: v.producer_epoch,
            timeout_ms: v.timeout_ms,
            start_ms: if v.state == TxnState::Ongoing { v.start_ms } else { -1 },
            partitions: v.partitions.clone(),
        })
    }

    /// ListTransactions: ids, filtered by state names and producer ids (empty
    /// filters match everything).
    pub fn list(&self, states: &[String], producer_ids: &[i64]) -> Vec<TxnDescription> {
        let ids: Vec<String> = self.store.lock().by_id.keys().cloned().collect();
        let mut out: Vec<TxnDescription> = ids
            .iter()
            .filter_map(|id| self.describe(id))
            .filter(|d| states.is_empty() || states.iter().any(|s| s == d.state.name()))
            .filter(|d| producer_ids.is_empty() || producer_ids.contains(&d.producer_id))
            .collect();
        out.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
        out
    }

    /// Aborts transactions older than their timeout (fencing their producers) and
    /// forgets ids idle for `transactional.id.expiration.ms`. Blocking.
    pub fn tick(&self) {
        let now = self.now();
        let (timed_out, expired, prepared): (Vec<String>, Vec<String>, Vec<String>) = {
            let st = self.store.lock();
            let timed_out = st
                .by_id
                .iter()
                .filter(|(_, v)| v.state == TxnState::Ongoing && v.start_ms + v.timeout_ms as i64 <= now)
                .map(|(k, _)| k.clone())
                .collect();
            let expired = st
                .by_id
                .iter()
                .filter(|(_, v)| {
                    matches!(v.state, TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort)
                        && v.last_update_ms + self.settings.id_expiration_ms <= now
                })
                .map(|(k, _)| k.clone())
                .collect();
            let prepared = st.by_id.iter().filter(|(_, v)| v.state.is_completing()).map(|(k, _)| k.clone()).collect();
            (timed_out, expired, prepared)
        };
        // Transactions whose markers or completion could not be written
        // (EndTxn, a timeout abort or start-up failed part way): tried again,
        // else the id stays unusable and the partitions' LSO stuck.
        for id in prepared {
            let _l = self.lock(&id);
            if let Some(v) = self.current(&id).filter(|v| v.state.is_completing()) {
                if let Err(e) = self.complete(&id, v) {
                    tracing::warn!(transactional.id = %id, error = %e, "could not complete a prepared transaction; tried again on the next tick");
                }
            }
        }
        for id in timed_out {
            let _l = self.lock(&id);
            match self.current(&id) {
                Some(v) if v.state == TxnState::Ongoing && v.start_ms + v.timeout_ms as i64 <= now => {
                    if let Err(e) = self.fence_and_abort(&id, v, "transaction.timeout.ms passed") {
                        tracing::warn!(transactional.id = %id, error = %e, "could not abort a timed-out transaction");
                    }
                }
                _ => {}
            }
        }
        for id in expired {
            let _l = self.lock(&id);
            if self.current(&id).is_some_and(|v| v.last_update_ms + self.settings.id_expiration_ms <= now) {
                tracing::info!(transactional.id = %id, "transactional id expired");
                self.last_init.lock().remove(&id);
                if let Err(e) = self.persist(&id, None) {
                    tracing::warn!(transactional.id = %id, error = %e, "could not expire a transactional id");
                }
            }
        }
    }

    /// Runs the tick every `transaction.abort.timed.out.transaction.cleanup.interval.ms`
    /// until `shutdown` changes.
    pub async fn run_timers(self: Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let mut interval = tokio::time::interval(Duration::from_millis(self.settings.abort_check_interval_ms.max(1)));
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = interval.tick() => {}
                _ = shutdown.changed() => return,
            }
            let me = self.clone();
            crate::blocking(move || me.tick()).await;
        }
    }
}

/// The coordinator's verification for one request's transactional id.
pub struct RequestVerifier<'a> {
    pub coordinator: &'a TxnCoordinator,
    pub transactional_id: Option<&'a str>,
}

impl crate::partition::TxnVerifier for RequestVerifier<'_> {
    fn verify(&self, topic: &str, partition: i32, producer_id: i64, epoch: i16) -> Result<(), TxnError> {
        self.coordinator.verify(self.transactional_id, topic, partition, producer_id, epoch)
    }
}

#[cfg(test)]
mod tests;
