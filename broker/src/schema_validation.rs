//! Broker-side schema validation (Confluent's `confluent.key.schema.validation` /
//! `confluent.value.schema.validation` topic configs): on such a topic every
//! produced record's key (or value) must start with the Confluent wire format,
//! magic byte 0 and a 4-byte schema id, and the id must be registered in the
//! schema registry. Otherwise the partition's batches get INVALID_RECORD and
//! nothing of them is written.
//!
//! This is the one place the produce path looks inside records, and only for
//! topics that turned validation on, or that are compacted (every record needs a
//! key there, see [`keyless_records`]). The registry plugs itself in through
//! [`SchemaIdLookup`], so the broker does not depend on it. A null value (a
//! tombstone) is always allowed; a null key is not when keys are validated.

use weir_storage::batch::batches;
use weir_storage::record::decode_records;

use crate::settings::TopicSettings;

/// Answers whether a schema id is registered (implemented by the registry).
pub trait SchemaIdLookup: Send + Sync {
    fn is_registered(&self, id: i32) -> bool;
}

/// The schema id of a key or value in Confluent's wire format (magic byte 0,
/// then the id as a big-endian i32), if it is in that format.
pub fn schema_id(payload: &[u8]) -> Option<i32> {
    (payload.len() >= 5 && payload[0] == 0)
        .then(|| i32::from_be_bytes([payload[1], payload[2], payload[3], payload[4]]))
}

/// `null_ok`: a null passes (values: tombstones); otherwise it is refused.
fn check_field(
    what: &str,
    null_ok: bool,
    bytes: Option<&[u8]>,
    offset_delta: usize,
    lookup: Option<&dyn SchemaIdLookup>,
) -> Result<(), String> {
    let Some(b) = bytes else {
        return if null_ok { Ok(()) } else { Err(format!("record {offset_delta}: the {what} is null")) };
    };
    let Some(id) = schema_id(b) else {
        return Err(format!(
            "record {offset_delta}: the {what} does not start with a schema id (magic byte 0 and 4 bytes)"
        ));
    };
    match lookup {
        Some(l) if l.is_registered(id) => Ok(()),
        Some(_) => Err(format!("record {offset_delta}: the {what} names schema id {id}, which is not registered")),
        None => {
            Err(format!("record {offset_delta}: schema id {id} cannot be checked: the schema registry is not running"))
        }
    }
}

/// Checks every record of `records` (one or more RecordBatches).
pub fn validate(settings: &TopicSettings, records: &[u8], lookup: Option<&dyn SchemaIdLookup>) -> Result<(), String> {
    let (keys, values) = (settings.key_schema_validation, settings.value_schema_validation);
    if !keys && !values {
        return Ok(());
    }
    let mut n = 0;
    for b in batches(records) {
        let (h, bytes) = b.map_err(|e| format!("malformed batch: {e}"))?;
        if h.is_control() {
            continue;
        }
        for r in decode_records(bytes).map_err(|e| format!("undecodable records: {e}"))? {
            if keys {
                check_field("key", false, r.key.as_deref(), n, lookup)?;
            }
            if values {
                check_field("value", true, r.value.as_deref(), n, lookup)?;
            }
            n += 1;
        }
    }
    Ok(())
}

/// Kafka's key rule for compacted topics (`cleanup.policy` containing `compact`):
/// every record needs a key, since compaction keeps the latest record per key.
/// Returns the indexes (within their batch, as Kafka's `record_errors` name them)
/// of the records without one; empty when all have keys. Only compacted topics pay
/// for this look inside the batches.
pub fn keyless_records(records: &[u8]) -> Result<Vec<i32>, String> {
    let mut missing = Vec::new();
    for b in batches(records) {
        let (h, bytes) = b.map_err(|e| format!("malformed batch: {e}"))?;
        if h.is_control() {
            continue;
        }
        let decoded = decode_records(bytes).map_err(|e| format!("malformed records: {e}"))?;
        missing.extend(decoded.iter().enumerate().filter(|(_, r)| r.key.is_none()).map(|(i, _)| i as i32));
    }
    Ok(missing)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::config::BrokerConfig;
    use weir_storage::testutil::{BatchBuilder, Record};

    const KEY_VALIDATION: &str = "confluent.key.schema.validation";
    const VALUE_VALIDATION: &str = "confluent.value.schema.validation";

    fn settings(overrides: &BTreeMap<String, String>) -> TopicSettings {
        TopicSettings::resolve(&BrokerConfig::default(), overrides)
    }

    struct Known;
    impl SchemaIdLookup for Known {
        fn is_registered(&self, id: i32) -> bool {
            id == 7
        }
    }

    fn framed(id: i32, body: &[u8]) -> Vec<u8> {
        let mut v = vec![0];
        v.extend_from_slice(&id.to_be_bytes());
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn keys_values_tombstones_and_compressed_batches() {
        let mut cfg = BTreeMap::new();
        let ok = BatchBuilder::new(0)
            .compression(3)
            .record(Record::kv("k", framed(7, b"x")))
            .record(Record::tombstone("k2"))
            .build();
        let bad = BatchBuilder::new(0).record(Record::kv("k", b"plain")).build();
        let unknown = BatchBuilder::new(0).record(Record::kv("k", framed(8, b"x"))).build();
        assert!(!settings(&cfg).validates_schemas());
        assert!(validate(&settings(&cfg), &bad, None).is_ok(), "off by default");
        cfg.insert(VALUE_VALIDATION.into(), "true".into());
        assert!(validate(&settings(&cfg), &ok, Some(&Known)).is_ok());
        assert!(validate(&settings(&cfg), &bad, Some(&Known)).unwrap_err().contains("does not start with a schema id"));
        assert!(validate(&settings(&cfg), &unknown, Some(&Known)).unwrap_err().contains("schema id 8"));
        assert!(validate(&settings(&cfg), &ok, None).unwrap_err().contains("not running"));
        cfg.insert(KEY_VALIDATION.into(), "true".into());
        assert!(
            validate(&settings(&cfg), &ok, Some(&Known)).unwrap_err().contains("key"),
            "plain keys fail key validation"
        );
        let both = BatchBuilder::new(0).record(Record::kv(framed(7, b"k"), framed(7, b"v"))).build();
        assert!(validate(&settings(&cfg), &both, Some(&Known)).is_ok());
    }
}
