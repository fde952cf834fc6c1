//! A walk over an Avro binary datum, before apache-avro decodes it, that bounds
//! what decoding it may allocate. apache-avro reserves room for a block's
//! announced item count before reading any item (an 11-byte datum can ask for
//! 40 GiB, and the failed allocation aborts the process), and an array of
//! zero-byte items (nulls) costs memory without costing data. The walk reads
//! the datum as apache-avro will, allocating nothing, and refuses one with
//! more than [`MAX_ITEMS`] array and map items in all or nested deeper than
//! [`MAX_DEPTH`]. Anything else it finds wrong (a datum that ends early, a bad
//! union index, an unknown name) it leaves to apache-avro to report: the walk
//! then stops, and apache-avro stops at the same point, having met only the
//! counts the walk already checked.

use apache_avro::schema::{Name, NamesRef, Namespace, ResolvedSchema, Schema};

/// Array and map items in one datum.
pub const MAX_ITEMS: u64 = 1 << 20;
/// Arrays, maps and records nested in one another (a recursive type's depth).
pub const MAX_DEPTH: usize = 128;

/// Why the walk ended early.
enum Stop {
    /// Over a bound: the datum is refused.
    Limit(String),
    /// Malformed: apache-avro reports it.
    Malformed,
}

type Step = Result<(), Stop>;

/// Checks `data` (a datum of `main`, whose named types may be in `named`)
/// against the bounds.
pub fn check(main: &Schema, named: &[Schema], data: &[u8]) -> Result<(), String> {
    let mut all: Vec<&Schema> = named.iter().collect();
    all.push(main);
    let Ok(resolved) = ResolvedSchema::try_from(all) else { return Ok(()) };
    let mut w = Walk { names: resolved.get_names(), data, items: 0 };
    match w.walk(main, &None, 0) {
        Err(Stop::Limit(why)) => Err(why),
        Ok(()) | Err(Stop::Malformed) => Ok(()),
    }
}

struct Walk<'a> {
    names: &'a NamesRef<'a>,
    data: &'a [u8],
    items: u64,
}

impl Walk<'_> {
    fn varint(&mut self) -> Result<i64, Stop> {
        let mut v: u64 = 0;
        for (i, b) in self.data.iter().enumerate().take(10) {
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                self.data = &self.data[i + 1..];
                return Ok((v >> 1) as i64 ^ -((v & 1) as i64));
            }
        }
        Err(Stop::Malformed)
    }

    fn skip(&mut self, n: u64) -> Step {
        let n = usize::try_from(n).map_err(|_| Stop::Malformed)?;
        self.data = self.data.get(n..).ok_or(Stop::Malformed)?;
        Ok(())
    }

    fn sized(&mut self) -> Step {
        let n = self.varint()?;
        self.skip(u64::try_from(n).map_err(|_| Stop::Malformed)?)
    }

    /// Array or map blocks: a count (negative: its absolute value, then the
    /// block's size in bytes), items, until a zero count.
    fn blocks(&mut self, depth: usize, mut item: impl FnMut(&mut Self, usize) -> Step) -> Step {
        loop {
            let n = self.varint()?;
            if n == 0 {
                return Ok(());
            }
            if n < 0 {
                self.varint()?;
            }
            let n = n.unsigned_abs();
            self.items = self.items.saturating_add(n);
            if self.items > MAX_ITEMS {
                return Err(Stop::Limit(format!("the datum holds more than {MAX_ITEMS} array and map items")));
            }
            for _ in 0..n {
                item(self, depth + 1)?;
            }
        }
    }

    fn walk(&mut self, s: &Schema, ns: &Namespace, depth: usize) -> Step {
        if depth > MAX_DEPTH {
            return Err(Stop::Limit(format!("the datum is nested deeper than {MAX_DEPTH} levels")));
        }
        match s {
            Schema::Null => Ok(()),
            Schema::Boolean => self.skip(1),
            Schema::Int
            | Schema::Long
            | Schema::Date
            | Schema::TimeMillis
            | Schema::TimeMicros
            | Schema::TimestampMillis
            | Schema::TimestampMicros
            | Schema::TimestampNanos
            | Schema::LocalTimestampMillis
            | Schema::LocalTimestampMicros
            | Schema::LocalTimestampNanos
            | Schema::Enum(_) => self.varint().map(drop),
            Schema::Float => self.skip(4),
            Schema::Double => self.skip(8),
            Schema::Duration => self.skip(12),
            Schema::Bytes | Schema::String | Schema::Uuid | Schema::BigDecimal => self.sized(),
            Schema::Fixed(f) => self.skip(f.size as u64),
            Schema::Decimal(d) => self.walk(&d.inner, ns, depth),
            Schema::Array(a) => self.blocks(depth, |w, d| w.walk(&a.items, ns, d)),
            Schema::Map(m) => self.blocks(depth, |w, d| {
                w.sized()?;
                w.walk(&m.types, ns, d)
            }),
            Schema::Union(u) => {
                let i = usize::try_from(self.varint()?).map_err(|_| Stop::Malformed)?;
                let v = u.variants().get(i).ok_or(Stop::Malformed)?;
                self.walk(v, ns, depth)
            }
            Schema::Record(r) => {
                let inner = r.name.fully_qualified_name(ns).namespace;
                r.fields.iter().try_for_each(|f| self.walk(&f.schema, &inner, depth + 1))
            }
            Schema::Ref { name } => {
                let full: Name = name.fully_qualified_name(ns);
                let target = *self.names.get(&full).ok_or(Stop::Malformed)?;
                self.walk(target, &full.namespace, depth)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(text: &str) -> Schema {
        Schema::parse_str(text).unwrap()
    }

    #[test]
    fn announced_counts_and_zero_byte_items_are_bounded() {
        let map = schema(r#"{"type":"map","values":"long"}"#);
        // One block announcing 2^32 entries, then nothing.
        let huge = [0x80, 0x80, 0x80, 0x80, 0x20];
        assert!(check(&map, &[], &huge).unwrap_err().contains("items"));
        let nulls = schema(r#"{"type":"array","items":"null"}"#);
        // Many blocks of 500,000 nulls each: three bytes a block.
        let mut many = Vec::new();
        for _ in 0..3 {
            many.extend([0xc0, 0x84, 0x3d]);
        }
        many.push(0);
        assert!(check(&nulls, &[], &many).unwrap_err().contains("items"));
        assert!(check(&nulls, &[], &many[6..]).is_ok(), "one block is within the bound");
    }

    #[test]
    fn deep_nesting_is_refused_and_ordinary_data_passes() {
        let list = schema(
            r#"{"type":"record","name":"Node","namespace":"n","fields":[{"name":"next","type":["null","Node"]}]}"#,
        );
        let deep: Vec<u8> = std::iter::repeat_n(2u8, 200).chain([0]).collect();
        assert!(check(&list, &[], &deep).unwrap_err().contains("deeper"));
        let shallow: Vec<u8> = std::iter::repeat_n(2u8, 20).chain([0]).collect();
        assert!(check(&list, &[], &shallow).is_ok());
        let rec = schema(
            r#"{"type":"record","name":"R","fields":[{"name":"s","type":"string"},{"name":"m","type":{"type":"map","values":"int"}}]}"#,
        );
        assert!(check(&rec, &[], &[4, b'h', b'i', 2, 2, b'k', 6, 0]).is_ok());
        // Ended early or malformed: left to apache-avro.
        assert!(check(&rec, &[], &[40, b'h']).is_ok());
    }
}
