//! The registry's storage: the compacted `_schemas` topic on this broker (one
//! partition), folded into a [`State`] by the broker's internal-topic store (the
//! same read rule as the broker's own topics). Writes are serialised: under the
//! writer lock the state is first brought up to the log end (records others
//! produced count), the change is computed against it, appended and fsynced, and
//! applied by catching up again before the caller is answered: read-your-writes,
//! and two clients registering one schema at once get one id.

use std::collections::BTreeMap;

use bytes::Bytes;
use parking_lot::Mutex;
use serde_json::Value;
use weir_broker::internal::{KeyValue, StateMachine, StateTopic};
use weir_broker::BrokerHandle;

use crate::error::{ApiError, RegistryError};
use crate::state::{Key, State};

pub const TOPIC: &str = "_schemas";

/// A record to write: key, and value (None: tombstone).
pub type Change = (Key, Option<Value>);

impl StateMachine for State {
    fn apply(&mut self, _partition: i32, r: &KeyValue) {
        let Some(k) = r.key.as_deref() else { return };
        if let Err(e) = State::apply(self, k, r.value.as_deref()) {
            tracing::warn!(offset = r.offset, error = %e, "skipping a _schemas record");
        }
    }
}

pub struct Store {
    log: StateTopic<State>,
    writer: Mutex<()>,
    broker: BrokerHandle,
    /// Parsed schemas for decoding and encoding records (`wire`).
    pub(crate) codecs: crate::wire::Codecs,
}

impl Store {
    pub fn broker(&self) -> &BrokerHandle {
        &self.broker
    }

    /// Creates `_schemas` if needed and replays it. Blocking.
    pub fn open(broker: BrokerHandle) -> Result<Store, RegistryError> {
        let mut configs = BTreeMap::new();
        configs.insert("cleanup.policy".to_string(), "compact".to_string());
        let topic = broker.internal_topic(TOPIC, 1, configs).map_err(weir_broker::BrokerError::from)?;
        let log = StateTopic::open(topic, State::default())?;
        {
            let st = log.lock();
            tracing::info!(subjects = st.subjects.len(), schemas = st.by_id.len(), "schema registry loaded");
        }
        let store = Store { log, writer: Mutex::new(()), broker, codecs: Default::default() };
        {
            let _w = store.writer.lock();
            store.adopt().map_err(|e| RegistryError::Startup(e.message))?;
        }
        Ok(store)
    }

    /// Milliseconds since the epoch, from the broker's clock.
    pub fn now_ms(&self) -> i64 {
        self.broker.clock().now_ms()
    }

    /// Runs `f` on the state, brought up to date first.
    pub fn read<T>(&self, f: impl FnOnce(&State) -> Result<T, ApiError>) -> Result<T, ApiError> {
        self.log.read(f).map_err(ApiError::store)?
    }

    /// Computes changes from the current state, writes them durably, applies them,
    /// and returns what `f` returned. Blocking (fsync): call from a blocking thread.
    pub fn write<T>(&self, f: impl FnOnce(&State) -> Result<(Vec<Change>, T), ApiError>) -> Result<T, ApiError> {
        let _w = self.writer.lock();
        let (records, out) = self.log.read(f).map_err(ApiError::store)??;
        if !records.is_empty() {
            self.append(&records)?;
        }
        self.adopt()?;
        Ok(out)
    }

    fn append(&self, records: &[Change]) -> Result<(), ApiError> {
        let encoded: Vec<(Option<Bytes>, Option<Bytes>)> = records
            .iter()
            .map(|(k, v)| {
                let key = serde_json::to_vec(k).expect("keys serialize");
                (
                    Some(Bytes::from(key)),
                    v.as_ref().map(|v| Bytes::from(serde_json::to_vec(v).expect("values serialize"))),
                )
            })
            .collect();
        self.log.write(0, encoded).map_err(ApiError::store)
    }

    /// Gives subjects and versions that came through the Confluent API (ours or
    /// another tool's) their schema-metadata records: metadata, a MASTER branch,
    /// a version id and state. Also drops the info of MASTER versions deleted
    /// permanently. Called with the writer lock held.
    fn adopt(&self) -> Result<(), ApiError> {
        let now = self.now_ms();
        let changes = self.log.read(|st| adoption(st, now)).map_err(ApiError::store)?;
        if changes.is_empty() {
            return Ok(());
        }
        self.append(&changes)
    }
}

/// The records that give Confluent-side subjects and versions their metadata.
pub fn adoption(st: &State, now: i64) -> Vec<Change> {
    use crate::metadata::{BranchValue, MetadataValue, VersionInfoValue, ENABLED, MASTER};
    let mut out: Vec<Change> = Vec::new();
    let (mut schema_id, mut branch_id, mut version_id) =
        (st.meta.next_schema_id(), st.meta.next_branch_id(), st.meta.next_version_id());
    for (subject, vs) in &st.subjects {
        if !st.meta.schemas.contains_key(subject) {
            let ty = vs.values().next_back().map_or("avro".to_string(), |v| v.schema_type.name().to_ascii_lowercase());
            let m = MetadataValue {
                id: schema_id,
                schema_type: ty,
                schema_group: "Kafka".into(),
                description: String::new(),
                evolve: true,
                validation_level: "ALL".into(),
                timestamp: now,
            };
            schema_id += 1;
            out.push((
                Key::SchemaMetadata { name: subject.clone(), magic: 0 },
                Some(serde_json::to_value(m).expect("serializes")),
            ));
        }
        if !st.meta.branches.contains_key(&(subject.clone(), MASTER.to_string())) {
            let b =
                BranchValue { id: branch_id, description: "MASTER branch".into(), timestamp: now, root_version: None };
            branch_id += 1;
            out.push((
                Key::SchemaBranch { name: subject.clone(), branch: MASTER.into(), magic: 0 },
                Some(serde_json::to_value(b).expect("serializes")),
            ));
        }
        for v in vs.values() {
            if st.meta.versions.contains_key(&(subject.clone(), v.version)) {
                continue;
            }
            let info = VersionInfoValue {
                id: version_id,
                branch: MASTER.into(),
                state_id: ENABLED,
                description: String::new(),
                timestamp: now,
                schema_id: None,
                schema_text: None,
                schema_type: None,
                merge_info: None,
            };
            version_id += 1;
            out.push((
                Key::SchemaVersionInfo { name: subject.clone(), version: v.version, magic: 0 },
                Some(serde_json::to_value(info).expect("serializes")),
            ));
        }
    }
    for ((name, version), info) in &st.meta.versions {
        let gone = st.subjects.get(name).is_none_or(|vs| !vs.contains_key(version));
        if info.branch == MASTER && gone {
            out.push((Key::SchemaVersionInfo { name: name.clone(), version: *version, magic: 0 }, None));
        }
    }
    out
}

impl weir_broker::schema_validation::SchemaIdLookup for Store {
    /// Cheap when the id is known; otherwise catches up first (a schema registered
    /// a moment ago is found).
    fn is_registered(&self, id: i32) -> bool {
        if self.log.lock().id_in_use(id) {
            return true;
        }
        match self.log.read(|st| st.id_in_use(id)) {
            Ok(known) => known,
            Err(e) => {
                tracing::warn!(error = %e, "schema registry could not catch up for validation");
                false
            }
        }
    }
}
