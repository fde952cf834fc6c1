//! What the target acknowledged, per mirrored partition, kept by the producer's
//! delivery callback. A delivery is looked up by the record's topic name and
//! partition number and carries its upstream offset as the opaque `usize`, so
//! tracking a record allocates nothing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rdkafka::message::Message;
use rdkafka::producer::{DeliveryResult, ProducerContext};
use rdkafka::ClientContext;

use super::Partition;

/// The opaque of records that carry no upstream position (heartbeats, checkpoints).
pub(super) const NO_UPSTREAM: usize = usize::MAX;

/// One mirrored partition's acknowledgements.
#[derive(Clone, Copy, Default)]
pub(super) struct Acked {
    /// The last record acknowledged (upstream, downstream). Deliveries of a
    /// partition arrive in order, so it is also the highest.
    pub last: Option<(i64, i64)>,
    /// The source timestamp of that record (ms), for the lag in time.
    pub last_timestamp: i64,
    /// The last offset sync decided on.
    pub last_sync: Option<(i64, i64)>,
    /// Whether a record was acknowledged since the last checkpoint.
    pub moved: bool,
    /// Records and bytes acknowledged since the metrics were last published.
    pub records: u64,
    pub bytes: u64,
}

#[derive(Default)]
pub(super) struct Delivered {
    /// Remote topic -> its partitions, by number.
    pub partitions: HashMap<String, Vec<Acked>>,
    /// Offset syncs due: a partition's first record, a jump in upstream offsets
    /// (the upstream-downstream distance changes), or `offset.lag.max` records
    /// since the last sync. So between two syncs the distance is constant, and
    /// translation is exact.
    pub due: Vec<(Partition, i64, i64)>,
    pub offset_lag_max: i64,
    pub failed: Option<String>,
    /// Source timestamp to target acknowledgement, per record.
    pub latency: Option<crate::status::Latency>,
}

/// The offset-syncs producer's context: the first delivery failure since it
/// was last taken, so a sync that did not reach its topic is noticed before the
/// positions after it are committed.
#[derive(Default)]
pub(super) struct SyncDeliveries(pub Mutex<Option<String>>);

impl ClientContext for SyncDeliveries {}

impl ProducerContext for SyncDeliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            self.0.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert_with(|| e.to_string());
        }
    }
}

pub(super) struct Deliveries(pub Arc<Mutex<Delivered>>);

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, upstream: usize) {
        let mut d = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match result {
            Ok(_) if upstream == NO_UPSTREAM => {}
            Ok(m) => {
                let (up, down) = (upstream as i64, m.offset());
                let Ok(p) = usize::try_from(m.partition()) else { return };
                let timestamp = m.timestamp().to_millis().unwrap_or(0);
                if let Some(h) = &d.latency {
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_millis() as i64)
                        .unwrap_or(0);
                    h.record((now - timestamp).max(0) as f64 / 1000.0);
                }
                let size = m.payload_len() + m.key().map_or(0, <[u8]>::len);
                let lag_max = d.offset_lag_max;
                if !d.partitions.contains_key(m.topic()) {
                    d.partitions.insert(m.topic().to_string(), Vec::new());
                }
                let parts = d.partitions.get_mut(m.topic()).expect("inserted above");
                if parts.len() <= p {
                    parts.resize(p + 1, Acked::default());
                }
                let a = &mut parts[p];
                let due = match (a.last, a.last_sync) {
                    (Some((lu, ld)), Some((_, sd))) => up - lu != down - ld || down - (sd + 1) >= lag_max,
                    _ => true,
                };
                if due {
                    a.last_sync = Some((up, down));
                }
                a.last = Some((up, down));
                a.last_timestamp = timestamp;
                a.moved = true;
                a.records += 1;
                a.bytes += size as u64;
                if due {
                    d.due.push(((m.topic().to_string(), m.partition()), up, down));
                }
            }
            Err((e, _)) => d.failed = Some(e.to_string()),
        }
    }
}
