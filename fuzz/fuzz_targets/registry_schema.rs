//! The registry's schema parsers (Avro, JSON Schema, Protobuf), canonical forms,
//! compatibility checks, and the wire codecs built from a schema.
//!
//! Input: a type byte (modulo 3: Avro, JSON Schema, Protobuf), a byte choosing
//! the compatibility level (modulo 7) and, in its top bit, Confluent's
//! `normalize`, then UTF-8 text: the old schema, a NUL, the new schema, a NUL,
//! and a payload for the new schema's codec (bytes, after the wire header).
//!
//! Checked, beyond "no panic": a schema that parses parses again from its own
//! canonical text; a decoded payload that encodes again decodes to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weir_registry::compat::{check, Level, Previous};
use weir_registry::schema::{check_new, identity, parse, SchemaType};
use weir_registry::wire::Codec;

const LEVELS: [&str; 7] =
    ["NONE", "BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE"];

fuzz_target!(|data: &[u8]| {
    let [ty, level, rest @ ..] = data else { return };
    let ty = [SchemaType::Avro, SchemaType::Json, SchemaType::Protobuf][*ty as usize % 3];
    let normalize = level & 0x80 != 0;
    let level = Level::parse(LEVELS[(*level & 0x7f) as usize % LEVELS.len()]).expect("a level name");
    let mut parts = rest.splitn(3, |b| *b == 0);
    let (Some(old), Some(new)) = (parts.next(), parts.next()) else { return };
    let payload = parts.next().unwrap_or_default();
    let (Ok(old), Ok(new)) = (std::str::from_utf8(old), std::str::from_utf8(new)) else { return };

    let _ = identity(ty, old);
    let _ = check_new(ty, new, &[]);
    let old_parsed = parse(ty, old, &[], normalize);
    let new_parsed = parse(ty, new, &[], normalize);
    if let Ok((canonical, _)) = &new_parsed {
        if let Err(e) = parse(ty, canonical, &[], normalize) {
            panic!("the canonical text of a valid schema does not parse: {e}\n{canonical}");
        }
    }
    if let (Ok((old_text, old_parsed)), Ok((_, new_parsed))) = (&old_parsed, &new_parsed) {
        let previous = [Previous { version: 1, parsed: old_parsed, text: old_text }];
        let _ = check(level, new_parsed, &previous);
    }
    if let Ok((canonical, _)) = &new_parsed {
        if let Ok(codec) = Codec::build(ty, canonical, &[]) {
            if let Ok(value) = codec.decode(payload) {
                if let Ok(bytes) = codec.encode(&value) {
                    let again = codec.decode(&bytes).expect("what the codec encodes decodes");
                    assert_eq!(again, value, "a decoded value survives encode and decode");
                }
            }
        }
    }
});
