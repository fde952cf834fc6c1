//! `weir produce TOPIC` and `weir consume TOPIC`, kcat-style: one record per
//! stdin line (a key before `-K`'s delimiter, headers with `-H`), and records
//! printed as their values, a `-f` template (`%t %p %o %k %v %T %h`, kcat's
//! letters) or JSON lines (`--format json`: topic, partition, offset,
//! timestamp, key, value, headers). Keys, values and header values are shown as
//! UTF-8 text, invalid bytes replaced. Through a schema registry (see
//! `encoding`): `produce --value-subject S` (or `--value-schema-id N`, and the
//! `--key-` forms) reads JSON documents and writes them in Confluent's wire
//! format; `consume --decode` shows such keys and values as JSON.

use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::message::{BorrowedMessage, Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use serde_json::json;

use super::{error_message, error_name, Conn, Format};

#[derive(Args, Debug)]
pub struct ProduceArgs {
    pub topic: String,
    /// Split each line into key and value at the first DELIM (e.g. -K :)
    #[arg(short = 'K', long = "key-delimiter", value_name = "DELIM")]
    pub key_delimiter: Option<String>,
    /// The partition to write to (default: the partitioner's choice)
    #[arg(short = 'p', long)]
    pub partition: Option<i32>,
    /// A header for every record, KEY=VALUE (repeatable)
    #[arg(short = 'H', long = "header", value_name = "KEY=VALUE")]
    pub headers: Vec<String>,
    /// Values are JSON, written with this subject's latest schema (Confluent's wire format)
    #[arg(long, value_name = "SUBJECT", conflicts_with = "value_schema_id")]
    pub value_subject: Option<String>,
    /// Values are JSON, written with the schema of this id
    #[arg(long, value_name = "ID")]
    pub value_schema_id: Option<i32>,
    /// Keys are JSON, written with this subject's latest schema
    #[arg(long, value_name = "SUBJECT", conflicts_with = "key_schema_id")]
    pub key_subject: Option<String>,
    /// Keys are JSON, written with the schema of this id
    #[arg(long, value_name = "ID")]
    pub key_schema_id: Option<i32>,
    /// Show progress on stderr (on by default when stdin is a file and stderr a terminal)
    #[arg(long)]
    pub progress: bool,
}

/// Which parts of a record `consume --decode` decodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Decode {
    Key,
    Value,
    Both,
}

#[derive(Args, Debug)]
pub struct ConsumeArgs {
    pub topic: String,
    /// Stop after COUNT records
    #[arg(short = 'n', long = "num", value_name = "COUNT")]
    pub count: Option<u64>,
    /// Where to start in each partition: start, end, an offset, -N (N before the end),
    /// or @TIME (the first record at or after it: epoch ms or 2026-12-05T10:00:00Z)
    /// [default: start; with a group, its committed offsets]
    #[arg(short = 'o', long, allow_hyphen_values = true)]
    pub offset: Option<String>,
    /// Only this partition
    #[arg(short = 'p', long)]
    pub partition: Option<i32>,
    /// Consume as a member of this group, committing its offsets
    #[arg(short = 'g', long)]
    pub group: Option<String>,
    /// Exit at the end of the partitions instead of waiting for more
    #[arg(short = 'e', long)]
    pub exit_at_end: bool,
    /// Print each record with this template: %t topic, %p partition, %o offset, %k key, %v value, %T timestamp, %h headers
    #[arg(short = 'f', long = "template", value_name = "TEMPLATE")]
    pub template: Option<String>,
    /// Decode values (or keys, or both) written in Confluent's wire format through the registry, shown as JSON
    #[arg(long, value_enum, num_args = 0..=1, default_missing_value = "value", value_name = "PART")]
    pub decode: Option<Decode>,
    /// Show progress on stderr (on by default when stdout is a file and stderr a terminal)
    #[arg(long)]
    pub progress: bool,
}

/// Counts failed deliveries and keeps the first error.
#[derive(Default)]
struct Deliveries {
    failed: AtomicU64,
    first: Mutex<Option<String>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            self.failed.fetch_add(1, Ordering::Relaxed);
            let mut first = self.first.lock().unwrap_or_else(|p| p.into_inner());
            first.get_or_insert_with(|| match e.rdkafka_error_code() {
                Some(code) => format!("{}: {}", error_name(code), error_message(code)),
                None => e.to_string(),
            });
        }
    }
}

pub async fn produce(args: ProduceArgs, conn: Conn) -> Result<()> {
    let mut headers = OwnedHeaders::new();
    for kv in &args.headers {
        let Some((k, v)) = kv.split_once('=') else { bail!("-H expects KEY=VALUE, got '{kv}'") };
        headers = headers.insert(Header { key: k, value: Some(v) });
    }
    let producer: BaseProducer<Deliveries> = conn
        .client_config()?
        .set("linger.ms", "5")
        // A producer may create a topic where the broker allows it (kcat and rpk do).
        .set("allow.auto.create.topics", "true")
        .set("message.timeout.ms", (conn.timeout().as_millis() as u64).to_string())
        .create_with_context(Deliveries::default())
        .context("cannot create the producer")?;
    let (key_codec, value_codec) = codecs(&conn, &args).await?;
    let mut sent = 0u64;
    let mut bad = None;
    let mut progress = super::progress::Progress::reading_stdin(args.progress);
    tokio::task::block_in_place(|| -> Result<()> {
        for (n, line) in std::io::stdin().lock().lines().enumerate() {
            let line = line.context("cannot read stdin")?;
            progress.record(line.len() as u64 + 1);
            let (key, value) = match args.key_delimiter.as_deref().and_then(|d| line.split_once(d)) {
                Some((k, v)) => (Some(k), v),
                None => (None, line.as_str()),
            };
            // A line the schema refuses ends the run; what came before is still delivered.
            let (key, value) = match (encode(&key_codec, key), encode(&value_codec, Some(value))) {
                (Ok(k), Ok(v)) => (k, v.unwrap_or_default()),
                (Err(e), _) | (_, Err(e)) => {
                    bad = Some(format!("line {}: {e:#}", n + 1));
                    break;
                }
            };
            let mut rec = BaseRecord::<[u8], [u8]>::to(&args.topic).payload(&value).headers(headers.clone());
            if let Some(k) = &key {
                rec = rec.key(k);
            }
            if let Some(p) = args.partition {
                rec = rec.partition(p);
            }
            let mut rec = Some(rec);
            while let Some(r) = rec.take() {
                match producer.send(r) {
                    Ok(()) => sent += 1,
                    Err((e, r)) if e.rdkafka_error_code() == Some(RDKafkaErrorCode::QueueFull) => {
                        producer.poll(Duration::from_millis(50));
                        rec = Some(r);
                    }
                    Err((e, _)) => bail!("cannot produce to {}: {e}", args.topic),
                }
            }
            producer.poll(Duration::ZERO);
        }
        // Past message.timeout.ms, so that every record has its delivery report.
        producer.flush(conn.timeout() + Duration::from_secs(5)).context("records were not all delivered in time")?;
        progress.finish();
        Ok(())
    })?;
    let d = producer.context();
    let failed = d.failed.load(Ordering::Relaxed);
    if failed > 0 {
        let first = d.first.lock().unwrap_or_else(|p| p.into_inner()).clone().unwrap_or_default();
        bail!("{failed} of {sent} records to {} were not delivered: {first}", args.topic);
    }
    if let Some(bad) = bad {
        bail!("{bad} (the {sent} records before it were produced to {})", args.topic);
    }
    eprintln!("produced {sent} records to {}", args.topic);
    Ok(())
}

fn text(b: Option<&[u8]>) -> Option<String> {
    b.map(|b| String::from_utf8_lossy(b).into_owned())
}

/// A key or value as shown: UTF-8 text, or (decoded through the registry) JSON.
fn shown(v: &Option<serde_json::Value>) -> String {
    match v {
        None => String::new(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// One record in the chosen form, its key and value as [`part`] gives them.
fn render(
    m: &BorrowedMessage<'_>,
    (key, value): (Option<serde_json::Value>, Option<serde_json::Value>),
    template: Option<&str>,
    format: Format,
) -> String {
    let headers: Vec<(String, Option<String>)> =
        m.headers().map(|hs| hs.iter().map(|h| (h.key.to_string(), text(h.value))).collect()).unwrap_or_default();
    let ts = m.timestamp().to_millis();
    if format != Format::Table {
        let hs: Vec<_> = headers.iter().map(|(k, v)| json!({"key": k, "value": v})).collect();
        let doc = json!({
            "topic": m.topic(), "partition": m.partition(), "offset": m.offset(), "timestamp": ts,
            "key": key, "value": value, "headers": hs,
        });
        // YAML: a stream of documents, one per record.
        return match format {
            Format::Yaml => format!("---\n{}", super::yaml(&doc).trim_end()),
            _ => doc.to_string(),
        };
    }
    let Some(t) = template else { return shown(&value) };
    let mut out = String::new();
    let mut chars = t.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(o) => out.push(o),
                None => out.push('\\'),
            }
            continue;
        }
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push_str(m.topic()),
            Some('p') => out.push_str(&m.partition().to_string()),
            Some('o') => out.push_str(&m.offset().to_string()),
            Some('k') => out.push_str(&shown(&key)),
            Some('v') => out.push_str(&shown(&value)),
            Some('T') => out.push_str(&ts.map(|t| t.to_string()).unwrap_or_default()),
            Some('h') => {
                let hs: Vec<String> =
                    headers.iter().map(|(k, v)| format!("{k}={}", v.as_deref().unwrap_or(""))).collect();
                out.push_str(&hs.join(","));
            }
            Some('%') => out.push('%'),
            Some(o) => {
                out.push('%');
                out.push(o);
            }
            None => out.push('%'),
        }
    }
    out
}

/// Where `-o` starts: an offset librdkafka resolves, or a time to look up.
#[derive(Clone, Copy)]
enum Start {
    At(Offset),
    Time(i64),
}

fn start_offset(spec: &str) -> Result<Start> {
    let bad = || format!("-o: '{spec}' is not start, end, an offset, -N or @TIME");
    Ok(match spec {
        "start" | "beginning" | "earliest" => Start::At(Offset::Beginning),
        "end" | "latest" => Start::At(Offset::End),
        t if t.starts_with('@') => Start::Time(super::time::parse_datetime(&t[1..]).with_context(bad)?),
        n if n.starts_with('-') => Start::At(Offset::OffsetTail(n[1..].parse().with_context(bad)?)),
        n => Start::At(Offset::Offset(n.parse().with_context(bad)?)),
    })
}

pub async fn consume(args: ConsumeArgs, conn: Conn) -> Result<()> {
    let mut config = conn.client_config()?;
    config.set("enable.partition.eof", "true").set("auto.offset.reset", "earliest");
    // Commits are ours: exactly the records printed (librdkafka's automatic
    // store and commit could count a record fetched but never printed).
    config.set("enable.auto.commit", "false").set("enable.auto.offset.store", "false");
    // Without a group nothing is committed; librdkafka still wants an id.
    config.set("group.id", args.group.as_deref().unwrap_or("weir-cli"));
    let consumer: BaseConsumer = config.create().context("cannot create the consumer")?;
    let start = match (&args.offset, &args.group) {
        (Some(spec), _) => start_offset(spec)?,
        // The group's committed offsets, else the start (auto.offset.reset).
        (None, Some(_)) => Start::At(Offset::Stored),
        (None, None) => Start::At(Offset::Beginning),
    };
    let timeout = conn.timeout();
    let mut codecs = args.decode.map(|_| super::encoding::Codecs::new(&conn)).transpose()?;
    tokio::task::block_in_place(|| -> Result<()> {
        let md = consumer.fetch_metadata(Some(&args.topic), timeout).context("Metadata request failed")?;
        let Some(t) = md.topics().iter().find(|t| t.name() == args.topic) else {
            bail!("UNKNOWN_TOPIC_OR_PARTITION: topic '{}' is not in the cluster's metadata", args.topic);
        };
        if let Some(e) = t.error() {
            let code = RDKafkaErrorCode::from(e);
            bail!("{}: {} (topic '{}')", error_name(code), error_message(code), args.topic);
        }
        let parts: Vec<i32> =
            t.partitions().iter().map(|p| p.id()).filter(|p| args.partition.is_none_or(|want| want == *p)).collect();
        if parts.is_empty() {
            bail!("UNKNOWN_TOPIC_OR_PARTITION: topic '{}' has no partition {:?}", args.topic, args.partition);
        }
        if args.group.is_some() && args.partition.is_none() && args.offset.is_none() {
            consumer.subscribe(&[&args.topic]).context("cannot subscribe")?;
        } else {
            let mut tpl = TopicPartitionList::new();
            for p in &parts {
                let at = match start {
                    Start::At(o) => o,
                    Start::Time(ms) => Offset::Offset(ms),
                };
                tpl.add_partition_offset(&args.topic, *p, at).context("bad offset")?;
            }
            if let Start::Time(_) = start {
                // Each partition's first offset at or after the time; none: its end.
                tpl = consumer.offsets_for_times(tpl, timeout).context("ListOffsets (by timestamp) failed")?;
                for e in tpl.clone().elements() {
                    if !matches!(e.offset(), Offset::Offset(o) if o >= 0) {
                        tpl.set_partition_offset(&args.topic, e.partition(), Offset::End).context("bad offset")?;
                    }
                }
            }
            consumer.assign(&tpl).context("cannot assign the partitions")?;
        }
        let mut out = std::io::stdout().lock();
        let mut progress = super::progress::Progress::writing_stdout(args.progress, args.count);
        let (mut seen, mut at_end) = (0u64, std::collections::HashSet::new());
        // Next offset to commit per partition, and when the group last got them.
        let mut printed: std::collections::BTreeMap<i32, i64> = Default::default();
        let mut committed_at = std::time::Instant::now();
        let commit = |printed: &std::collections::BTreeMap<i32, i64>| -> Result<()> {
            if args.group.is_none() || printed.is_empty() {
                return Ok(());
            }
            let mut tpl = TopicPartitionList::new();
            for (p, next) in printed {
                tpl.add_partition_offset(&args.topic, *p, Offset::Offset(*next)).context("bad offset")?;
            }
            consumer.commit(&tpl, rdkafka::consumer::CommitMode::Sync).map_err(|e| match e.rdkafka_error_code() {
                Some(code) => anyhow::anyhow!("{}: {} (OffsetCommit)", error_name(code), error_message(code)),
                None => anyhow::anyhow!("OffsetCommit failed: {e}"),
            })
        };
        while args.count.is_none_or(|n| seen < n) {
            if committed_at.elapsed() >= Duration::from_secs(5) {
                out.flush()?;
                commit(&printed)?;
                committed_at = std::time::Instant::now();
            }
            let Some(polled) = consumer.poll(Duration::from_millis(200)) else { continue };
            match polled {
                Ok(m) => {
                    at_end.remove(&m.partition());
                    printed.insert(m.partition(), m.offset() + 1);
                    let parts = (
                        part(&mut codecs, m.key(), matches!(args.decode, Some(Decode::Key | Decode::Both)))?,
                        part(&mut codecs, m.payload(), matches!(args.decode, Some(Decode::Value | Decode::Both)))?,
                    );
                    // A template says where its lines end (`\n`), as kcat's -f does.
                    let line = render(&m, parts, args.template.as_deref(), conn.format);
                    match args.template.is_some() && conn.format == Format::Table {
                        true => write!(out, "{line}")?,
                        false => writeln!(out, "{line}")?,
                    }
                    seen += 1;
                    progress.record(m.payload_len() as u64);
                }
                Err(rdkafka::error::KafkaError::PartitionEOF(p)) => {
                    at_end.insert(p);
                    if args.exit_at_end && at_end.len() >= parts.len() {
                        break;
                    }
                }
                Err(e) => match e.rdkafka_error_code() {
                    Some(code) => bail!("{}: {}", error_name(code), error_message(code)),
                    None => bail!("{e}"),
                },
            }
        }
        out.flush()?;
        progress.finish();
        // What was printed is done with: commit it before leaving the group.
        commit(&printed)
    })
}

/// A schema id and its codec, for one part of the records.
type PartCodec = Option<(i32, std::sync::Arc<weir_registry::wire::Codec>)>;

/// The key and value codecs `produce`'s flags ask for.
async fn codecs(conn: &Conn, args: &ProduceArgs) -> Result<(PartCodec, PartCodec)> {
    if args.key_subject.is_none()
        && args.key_schema_id.is_none()
        && args.value_subject.is_none()
        && args.value_schema_id.is_none()
    {
        return Ok((None, None));
    }
    let mut codecs = super::encoding::Codecs::new(conn)?;
    let mut pick = async |subject: &Option<String>, id: Option<i32>| -> Result<PartCodec> {
        Ok(match (subject, id) {
            (Some(s), _) => Some(codecs.latest(s).await?),
            (None, Some(id)) => Some((id, codecs.codec(id).await?)),
            (None, None) => None,
        })
    };
    let key = pick(&args.key_subject, args.key_schema_id).await?;
    let value = pick(&args.value_subject, args.value_schema_id).await?;
    Ok((key, value))
}

/// The bytes of one part: as given, or its JSON in Confluent's wire format.
fn encode(codec: &PartCodec, text: Option<&str>) -> Result<Option<Vec<u8>>> {
    let Some(text) = text else { return Ok(None) };
    let Some((id, codec)) = codec else { return Ok(Some(text.as_bytes().to_vec())) };
    let json: serde_json::Value = serde_json::from_str(text).context("not a JSON document")?;
    Ok(Some(codec.frame(*id, &json).map_err(|e| anyhow::anyhow!("schema {id}: {e}"))?))
}

/// A key or value to show: its text, or, when decoding and it is in
/// Confluent's wire format, its JSON through the registry. A payload whose
/// schema the registry cannot give is an error: its bytes would mislead.
fn part(
    codecs: &mut Option<super::encoding::Codecs>,
    bytes: Option<&[u8]>,
    decode: bool,
) -> Result<Option<serde_json::Value>> {
    let Some(b) = bytes else { return Ok(None) };
    if let (true, Some(c)) = (decode, codecs.as_mut()) {
        if let Some(decoded) = tokio::runtime::Handle::current().block_on(c.decode(b)) {
            return decoded.map(Some);
        }
    }
    Ok(text(Some(b)).map(serde_json::Value::String))
}
