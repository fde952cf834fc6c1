//! The registry's storage: the compacted `_schemas` topic on this broker (one
//! partition), folded into a [`State`]. Writes are serialised: under the writer
//! lock the state is first brought up to the log end (records others produced
//! count), the change is computed against it, appended and fsynced, and applied
//! by catching up again before the caller is answered: read-your-writes, and two
//! clients registering one schema at once get one id.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;
use serde_json::Value;
use weir_broker::Shared;

use crate::error::{ApiError, RegistryError};
use crate::state::{Key, State};

pub const TOPIC: &str = "_schemas";

/// A record to write: key, and value (None: tombstone).
pub type Change = (Key, Option<Value>);

pub struct Store {
    shared: Arc<Shared>,
    state: Mutex<State>,
    writer: Mutex<()>,
}

impl Store {
    /// Creates `_schemas` if needed and replays it.
    pub fn open(shared: Arc<Shared>) -> Result<Store, RegistryError> {
        let mut configs = BTreeMap::new();
        configs.insert("cleanup.policy".to_string(), "compact".to_string());
        shared.ensure_topic(TOPIC, 1, configs)?;
        let store = Store { shared, state: Mutex::new(State::default()), writer: Mutex::new(()) };
        {
            let mut st = store.state.lock();
            store.catch_up(&mut st).map_err(|e| RegistryError::Startup(e.message))?;
            tracing::info!(subjects = st.subjects.len(), schemas = st.by_id.len(), "schema registry loaded");
        }
        Ok(store)
    }

    fn catch_up(&self, st: &mut State) -> Result<(), ApiError> {
        loop {
            let (records, next) =
                self.shared.read_key_values(TOPIC, 0, st.next_offset, 4 << 20).map_err(ApiError::store)?;
            for r in &records {
                let Some(k) = r.key.as_deref() else { continue };
                if let Err(e) = st.apply(k, r.value.as_deref()) {
                    tracing::warn!(offset = r.offset, error = %e, "skipping a _schemas record");
                }
            }
            let done = next == st.next_offset || records.is_empty();
            st.next_offset = next;
            if done {
                return Ok(());
            }
        }
    }

    /// Runs `f` on the state, brought up to date first.
    pub fn read<T>(&self, f: impl FnOnce(&State) -> Result<T, ApiError>) -> Result<T, ApiError> {
        let mut st = self.state.lock();
        self.catch_up(&mut st)?;
        f(&st)
    }

    /// Computes changes from the current state, writes them durably, applies them,
    /// and returns what `f` returned. Blocking (fsync): call from a blocking thread.
    pub fn write<T>(&self, f: impl FnOnce(&State) -> Result<(Vec<Change>, T), ApiError>) -> Result<T, ApiError> {
        let _w = self.writer.lock();
        let changes = {
            let mut st = self.state.lock();
            self.catch_up(&mut st)?;
            f(&st)?
        };
        let (records, out) = changes;
        if !records.is_empty() {
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
            self.shared.append_key_values(TOPIC, 0, encoded).map_err(ApiError::store)?;
            let mut st = self.state.lock();
            self.catch_up(&mut st)?;
        }
        Ok(out)
    }
}

impl weir_broker::schema_validation::SchemaIdLookup for Store {
    /// Cheap when the id is known; otherwise catches up first (a schema registered
    /// a moment ago is found).
    fn is_registered(&self, id: i32) -> bool {
        let mut st = self.state.lock();
        if st.id_in_use(id) {
            return true;
        }
        if let Err(e) = self.catch_up(&mut st) {
            tracing::warn!(error = %e.message, "schema registry could not catch up for validation");
        }
        st.id_in_use(id)
    }
}
