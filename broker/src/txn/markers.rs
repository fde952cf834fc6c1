//! Markers written on a client's request (WriteTxnMarkers): what the transaction
//! coordinator writes at the end of a transaction, exposed as Kafka exposes it, so
//! `kafka-transactions.sh abort` can end a transaction left hanging in a
//! partition.

use weir_storage::ControlType;

use crate::error::BrokerError;
use crate::group::store::OFFSETS_TOPIC;
use crate::BrokerHandle;

impl BrokerHandle {
    /// Writes a COMMIT or ABORT marker for `producer_id` into one partition and
    /// waits until it is on disk. Blocking.
    pub fn write_txn_marker(
        &self,
        topic: &str,
        partition: i32,
        commit: bool,
        producer_id: i64,
        epoch: i16,
        coordinator_epoch: i32,
    ) -> Result<(), BrokerError> {
        let kind = if commit { ControlType::Commit } else { ControlType::Abort };
        if topic == OFFSETS_TOPIC {
            return self.groups().write_marker(partition, kind, producer_id, epoch);
        }
        let p = self
            .partitions()
            .get(topic, partition)
            .filter(|p| !p.is_removed())
            .ok_or_else(|| BrokerError::NotOpen(format!("{topic}-{partition}")))?;
        let info = p.append_control(kind, producer_id, epoch, coordinator_epoch)?;
        p.flush_to(info.last_offset + 1)?;
        Ok(())
    }
}
