//! Protobuf payloads in Confluent's wire format (after the magic byte and
//! schema id): the message indexes naming which message of the file the data
//! is, then the message. Indexes are a zigzag varint count, then that many
//! zigzag varints, each an index among the messages at that nesting level; a
//! lone 0 byte is the first top-level message. Shown and read as protobuf's
//! canonical JSON mapping.

use prost_reflect::{DynamicMessage, FileDescriptor, MessageDescriptor};
use serde_json::Value;

fn varint(data: &mut &[u8]) -> Result<u64, String> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = data.split_first().ok_or("truncated message indexes")?;
        *data = rest;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err("a message index varint is too long".into())
}

fn zigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The message indexes at the start of `data`, and the message after them.
pub fn message_indexes(mut data: &[u8]) -> Result<(Vec<usize>, &[u8]), String> {
    let count = zigzag(varint(&mut data)?);
    if count == 0 {
        return Ok((vec![0], data));
    }
    if !(1..=64).contains(&count) {
        return Err(format!("{count} message indexes"));
    }
    let mut path = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let i = zigzag(varint(&mut data)?);
        path.push(usize::try_from(i).map_err(|_| format!("message index {i}"))?);
    }
    Ok((path, data))
}

fn message_at(file: &FileDescriptor, path: &[usize]) -> Result<MessageDescriptor, String> {
    let mut m = file.messages().nth(path[0]).ok_or_else(|| format!("the schema has no message {}", path[0]))?;
    for &i in &path[1..] {
        let child = m.child_messages().nth(i);
        m = child.ok_or_else(|| format!("{} has no nested message {i}", m.full_name()))?;
    }
    Ok(m)
}

/// Decodes a Protobuf payload (indexes and message) of the compiled schema
/// `file` (`super::compile_file`) as JSON.
pub fn decode_message(file: &FileDescriptor, data: &[u8]) -> Result<Value, String> {
    let (path, body) = message_indexes(data)?;
    let desc = message_at(file, &path)?;
    let msg =
        DynamicMessage::decode(desc.clone(), body).map_err(|e| format!("not a {} message: {e}", desc.full_name()))?;
    serde_json::to_value(&msg).map_err(|e| e.to_string())
}

/// Encodes JSON as the schema's first message, indexes first (a lone 0).
pub fn encode_message(file: &FileDescriptor, value: &Value) -> Result<Vec<u8>, String> {
    let desc = message_at(file, &[0])?;
    let msg = DynamicMessage::deserialize(desc.clone(), value.clone())
        .map_err(|e| format!("the value does not fit {}: {e}", desc.full_name()))?;
    let mut out = Vec::new();
    put_varint(&mut out, 0);
    prost::Message::encode(&msg, &mut out).map_err(|e| e.to_string())?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_are_zigzag_varints() {
        assert_eq!(message_indexes(&[0, 9]).unwrap(), (vec![0], &[9u8][..]));
        // Two indexes: 1 then 0 (zigzag: 2 -> 1, 4 -> 2, 2 -> 1, 0 -> 0).
        assert_eq!(message_indexes(&[4, 2, 0, 7]).unwrap(), (vec![1, 0], &[7u8][..]));
        assert!(message_indexes(&[]).is_err());
        assert!(message_indexes(&[4, 2]).is_err(), "truncated");
    }

    #[test]
    fn round_trip_through_json() {
        let schema =
            "syntax = \"proto3\";\nmessage Order { int64 id = 1; string note = 2; }\nmessage Other { bool b = 1; }\n";
        let file = super::super::compile_file(schema, &[]).unwrap();
        let value = serde_json::json!({ "id": "7", "note": "rush" });
        let bytes = encode_message(&file, &value).unwrap();
        assert_eq!(bytes[0], 0, "the first message");
        assert_eq!(decode_message(&file, &bytes).unwrap(), value);
        // Index 1: the second message.
        let mut other = vec![2, 2];
        other.extend([8, 1]);
        assert_eq!(decode_message(&file, &other).unwrap(), serde_json::json!({ "b": true }));
    }
}
