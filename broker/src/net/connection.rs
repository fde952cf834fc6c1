//! One client connection: reads frames, runs requests, writes responses in order.
//!
//! Generic over the two halves of the stream (`AsyncRead` and `AsyncWrite`), so a
//! TLS stream serves the same way as a TCP one. Framing: every request and response is a 4-byte big-endian size followed by that
//! many bytes. Requests of one connection are handled one after another, as Kafka
//! does, so their effects (appends, topic changes) happen in the order they were
//! sent. A handler may hand back a deferred remainder (acks=all waiting for fsync);
//! that runs as its own task so pipelined produces (max.in.flight > 1) share one
//! fsync, and a per-connection queue keeps responses in request order.
//! A frame above `socket.request.max.bytes`, a malformed request, or an unknown API
//! key closes that connection only.

use std::sync::Arc;

use bytes::BytesMut;
use kafka_protocol::messages::ApiKey;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::limits::{ConnectionLimits, Held};
use super::sasl::{Admit, ConnSasl, Step};
use super::Session;
use crate::api::metrics::ApiMetrics;
use crate::api::{self, Outcome};
use crate::handle::BrokerHandle;

/// Responses of one connection that may wait to be written (deferred produces).
const MAX_IN_FLIGHT: usize = 64;

/// APIs whose requests may park for long (Fetch, JoinGroup, SyncGroup): while
/// one waits, the connection watches its socket so that a client that leaves
/// cancels it.
const PARKING_APIS: [i16; 3] = [ApiKey::Fetch as i16, ApiKey::JoinGroup as i16, ApiKey::SyncGroup as i16];

/// How much of a pipelining client's next requests is read ahead while a request
/// is parked; beyond this the socket is left alone until the request ends.
const MAX_EARLY_BYTES: usize = 1 << 20;

/// Room for one read of a request's size and what follows it. Reading the 4-byte
/// size alone, then the body, then finding the socket empty took three `recv`s
/// per request; one read into this much room takes a small request (a fetch, a
/// heartbeat, a one-record produce) whole, and a short read tells the runtime the
/// socket is drained, so the next wait goes straight to epoll. The room stays
/// allocated while a connection waits for its next request.
const READ_ROOM: usize = 4 << 10;

enum Queued {
    Ready(Outcome),
    Task(JoinHandle<Outcome>),
}

/// Writes `parts` in order with vectored writes (as few syscalls as the socket
/// buffer allows, no copying into one buffer first).
async fn write_parts<W: AsyncWrite + Unpin>(wr: &mut W, parts: Vec<bytes::Bytes>) -> std::io::Result<()> {
    use std::io::IoSlice;
    let mut idx = 0;
    let mut off = 0;
    while idx < parts.len() {
        let n = {
            let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity((parts.len() - idx).min(64));
            slices.push(IoSlice::new(&parts[idx][off..]));
            slices.extend(parts[idx + 1..].iter().take(63).map(|p| IoSlice::new(p)));
            wr.write_vectored(&slices).await?
        };
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        let mut left = n;
        while left > 0 {
            let rest = parts[idx].len() - off;
            if left >= rest {
                left -= rest;
                idx += 1;
                off = 0;
            } else {
                off += left;
                left = 0;
            }
        }
        while idx < parts.len() && parts[idx].len() == off {
            idx += 1;
            off = 0;
        }
    }
    Ok(())
}

/// Reads what the socket has into `early`, making room first: [`READ_ROOM`] when
/// less than half of it is left, and room grown by a long read-ahead (up to
/// [`MAX_EARLY_BYTES`] while a request was parked) is given back once taken.
/// Cancel-safe, as `read_buf` is.
async fn read_more<R: AsyncRead + Unpin>(rd: &mut R, early: &mut BytesMut) -> std::io::Result<usize> {
    if early.is_empty() && early.capacity() > MAX_EARLY_BYTES / 16 {
        *early = BytesMut::new();
    }
    if early.capacity() - early.len() < READ_ROOM / 2 {
        early.reserve(READ_ROOM);
    }
    rd.read_buf(early).await
}

/// Reads a `len`-byte frame body into fresh, unzeroed capacity of its own size (a
/// produce frame is up to a MiB; zeroing it first was pure overhead), taking first
/// what was already read into `early` (read with the size, or pipelined while the
/// previous request was parked). Copied, not split off: a request may keep parts
/// of its frame for long (a group member's metadata), and `early` stays the
/// connection's own, reused in place. `None` on EOF or error.
async fn read_frame_after<R: AsyncRead + Unpin>(rd: &mut R, early: &mut BytesMut, len: usize) -> Option<BytesMut> {
    let mut frame = BytesMut::with_capacity(len);
    let from_early = early.len().min(len);
    frame.extend_from_slice(&early[..from_early]);
    bytes::Buf::advance(early, from_early);
    while frame.len() < len {
        // `take` bounds the read to this frame: the capacity may exceed `len`.
        match rd.take((len - frame.len()) as u64).read_buf(&mut frame).await {
            Ok(0) | Err(_) => return None,
            Ok(_) => {}
        }
    }
    Some(frame)
}

pub(super) async fn run<R, W>(
    broker: BrokerHandle,
    metrics: Arc<ApiMetrics>,
    session: Arc<Session>,
    limits: Arc<ConnectionLimits>,
    mut rd: R,
    mut wr: W,
) where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let peer = session.peer;
    // Each response travels with the request memory its request holds (queued.max.request.bytes).
    let (tx, mut rx) = mpsc::channel::<(Queued, Option<Held>)>(MAX_IN_FLIGHT);
    let max_frame = broker.settings().socket_request_max_bytes;
    let idle_ms = broker.settings().connections.idle_ms;

    let mut writer = tokio::spawn(async move {
        while let Some((queued, _held)) = rx.recv().await {
            let outcome = match queued {
                Queued::Ready(o) => Ok(o),
                Queued::Task(t) => t.await,
            };
            match outcome {
                Ok(Outcome::Respond(buf)) => {
                    if let Err(e) = wr.write_all(&buf).await {
                        tracing::debug!(%peer, error = %e, "client went away before its response");
                        return None;
                    }
                }
                Ok(Outcome::RespondParts(parts)) => {
                    if let Err(e) = write_parts(&mut wr, parts).await {
                        tracing::debug!(%peer, error = %e, "client went away before its response");
                        return None;
                    }
                }
                Ok(Outcome::Final(buf, reason)) => {
                    let _ = wr.write_all(&buf).await;
                    let _ = wr.flush().await;
                    tracing::info!(%peer, %reason, "closing connection after the client reads the response");
                    // Kept open: the client closes first (see `linger`).
                    return Some(wr);
                }
                Ok(Outcome::Silent) => continue,
                Ok(Outcome::Deferred(_)) => unreachable!("deferred outcomes are queued as tasks"),
                Ok(Outcome::Close(reason)) => {
                    tracing::warn!(%peer, %reason, "closing connection");
                    return None;
                }
                Err(e) => {
                    tracing::error!(%peer, error = %e, "request handler failed; closing connection");
                    return None;
                }
            }
            // A TLS stream accepts a response into its buffer and may keep part of
            // it there when the socket is full: flush before waiting for the next
            // one, or the client waits for the rest (TCP's flush does nothing).
            if rx.is_empty() {
                if let Err(e) = wr.flush().await {
                    tracing::debug!(%peer, error = %e, "client went away before its response");
                    return None;
                }
            }
        }
        let _ = wr.shutdown().await;
        None
    });

    let mut shutdown = broker.shutdown_signal();
    let mut writer_done = false;
    // The connection ends with a last response (failed authentication).
    let mut linger = false;
    // Bytes read but not yet taken: the start of the next request(s), read with the
    // last one or while it was parked.
    let mut early = BytesMut::new();
    loop {
        if *shutdown.borrow_and_update() {
            break;
        }
        // A throttled client (quotas): its next request waits, as Kafka mutes the channel.
        let muted = session.muted_until_ms.load(std::sync::atomic::Ordering::Acquire) - super::sasl::now_ms();
        if muted > 0 {
            tokio::select! {
                _ = tokio::time::sleep(std::time::Duration::from_millis(muted as u64)) => {}
                _ = shutdown.changed() => break,
            }
        }
        let mut gone = false;
        let waiting = idle(idle_ms);
        tokio::pin!(waiting);
        while early.len() < 4 && !gone {
            // Biased, the read first: a request already buffered never starts the idle timer.
            tokio::select! {
                biased;
                r = read_more(&mut rd, &mut early) => {
                    // EOF or reset: a normal disconnect.
                    gone = matches!(r, Ok(0) | Err(_));
                }
                // The writer stops when a request must close the connection.
                _ = &mut writer => { writer_done = true; gone = true; }
                _ = shutdown.changed() => gone = true,
                _ = &mut waiting => {
                    tracing::info!(%peer, idle_ms, "closing idle connection (connections.max.idle.ms)");
                    gone = true;
                }
            }
        }
        if gone {
            break;
        }
        let len = i32::from_be_bytes([early[0], early[1], early[2], early[3]]);
        bytes::Buf::advance(&mut early, 4);
        if len < 0 {
            tracing::warn!(%peer, size = len, "negative request frame size; closing connection");
            break;
        }
        let max = session.sasl.as_ref().map_or(max_frame, |s| s.max_frame(max_frame));
        if len as usize > max {
            let key = if max == max_frame { "socket.request.max.bytes" } else { "sasl.server.max.receive.size" };
            tracing::warn!(%peer, size = len, max, "request frame exceeds {key}; closing connection");
            break;
        }
        // Request memory first: at the bound the body waits unread in the socket.
        let held = match limits.bounds_request_bytes() {
            true => tokio::select! {
                held = limits.reserve(len as usize) => held,
                _ = shutdown.changed() => break,
            },
            false => None,
        };
        // A client that stops mid-frame holds the connection no longer than an idle one.
        let frame = tokio::select! {
            biased;
            f = read_frame_after(&mut rd, &mut early, len as usize) => f,
            _ = idle(idle_ms) => {
                tracing::info!(%peer, idle_ms, size = len, "closing connection stalled mid-request (connections.max.idle.ms)");
                break;
            }
        };
        let Some(frame) = frame else {
            tracing::debug!(%peer, "connection closed mid-frame");
            break;
        };
        if let Some(sasl) = &session.sasl {
            let key = if frame.len() >= 2 { i16::from_be_bytes([frame[0], frame[1]]) } else { -1 };
            match sasl.admit(key) {
                Admit::Dispatch => {}
                Admit::RawToken => {
                    let queued = match raw_token(&broker, sasl, &frame).await {
                        Ok(buf) => Queued::Ready(Outcome::Respond(buf)),
                        Err(delay) => {
                            // No way to say why in a bare frame: Kafka closes.
                            tokio::time::sleep(delay).await;
                            let close = Queued::Ready(Outcome::Close("SASL authentication failed".into()));
                            let _ = tx.send((close, None)).await;
                            break;
                        }
                    };
                    if tx.send((queued, held)).await.is_err() {
                        break;
                    }
                    continue;
                }
                Admit::Close(reason) => {
                    tracing::warn!(%peer, %reason, "closing connection");
                    break;
                }
            }
        }
        let parks = frame.len() >= 2 && PARKING_APIS.contains(&i16::from_be_bytes([frame[0], frame[1]]));
        let dispatched = api::dispatch(&broker, &metrics, &session, frame.freeze());
        let outcome = if parks {
            // A fetch or join may wait for a long time; if the client goes away
            // meanwhile, drop the request (its waiter goes with it) instead of
            // keeping it, and a shutdown, waiting for nobody.
            tokio::pin!(dispatched);
            loop {
                tokio::select! {
                    biased;
                    out = &mut dispatched => break Some(out),
                    r = read_more(&mut rd, &mut early), if early.len() < MAX_EARLY_BYTES => match r {
                        Ok(0) | Err(_) => break None,
                        Ok(_) => {}
                    },
                    _ = shutdown.changed() => break None,
                }
            }
        } else {
            Some(dispatched.await)
        };
        let Some(outcome) = outcome else {
            tracing::debug!(%peer, "client went away (or shutdown) while its request was parked");
            break;
        };
        let queued = match outcome {
            Outcome::Deferred(rest) => Queued::Task(tokio::spawn(rest)),
            Outcome::Close(reason) => {
                // Answer what came before, then close.
                let _ = tx.send((Queued::Ready(Outcome::Close(reason)), None)).await;
                break;
            }
            last @ Outcome::Final(..) => {
                let _ = tx.send((Queued::Ready(last), None)).await;
                linger = true;
                break;
            }
            other => Queued::Ready(other),
        };
        if tx.send((queued, held)).await.is_err() {
            break; // the writer stopped (closed connection)
        }
    }
    drop(tx);
    let held = match writer_done {
        false => writer.await.ok().flatten(),
        true => None,
    };
    if linger && held.is_some() {
        // Closing a socket with unread input resets it, and a reset can discard the
        // last response before the client reads it: read what the client still
        // sends until it closes (bounded), so the close is an orderly one.
        let mut sink = [0u8; 4096];
        let drain = async {
            while let Ok(n) = rd.read(&mut sink).await {
                if n == 0 {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(LINGER, drain).await;
    }
    drop(held);
    // Not when the broker is stopping (it closed the connection, not the client):
    // a restart finds the records as last written.
    let share_sessions = std::mem::take(&mut *session.share_sessions.lock());
    if !share_sessions.is_empty() && !broker.is_shutting_down() {
        broker.shares().connection_closed(session.id, share_sessions).await;
    }
}

/// Ends after `connections.max.idle.ms`; never when it is not positive.
async fn idle(ms: i64) {
    match ms > 0 {
        true => tokio::time::sleep(std::time::Duration::from_millis(ms as u64)).await,
        false => std::future::pending().await,
    }
}

/// How long a connection closed after its last response waits for the client's close.
const LINGER: std::time::Duration = std::time::Duration::from_secs(2);

/// A bare SASL token (after SaslHandshake v0): the answer as a bare frame, or
/// the delay before closing when the exchange fails.
async fn raw_token(broker: &BrokerHandle, sasl: &ConnSasl, token: &[u8]) -> Result<BytesMut, std::time::Duration> {
    let answer = match sasl.authenticate(broker, token).await {
        Step::Continue(t) | Step::Done { token: t, .. } => t,
        Step::Failed { delay, .. } => return Err(delay),
        Step::IllegalState(_) => return Err(std::time::Duration::ZERO),
    };
    let mut buf = BytesMut::with_capacity(4 + answer.len());
    buf.extend_from_slice(&(answer.len() as i32).to_be_bytes());
    buf.extend_from_slice(&answer);
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;

    use super::read_frame_after;

    async fn read_frame<R: tokio::io::AsyncRead + Unpin>(rd: &mut R, len: usize) -> Option<BytesMut> {
        read_frame_after(rd, &mut BytesMut::new(), len).await
    }

    #[tokio::test]
    async fn a_frame_is_read_whole_across_short_reads_and_not_past_its_end() {
        let (mut tx, mut rx) = tokio::io::duplex(7); // a 7-byte pipe forces short reads
        let writer = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            let body: Vec<u8> = (0..100u8).collect();
            tx.write_all(&body).await.unwrap();
            tx.write_all(b"next").await.unwrap();
        });
        let frame = read_frame(&mut rx, 100).await.expect("whole frame");
        assert_eq!(&frame[..], &(0..100u8).collect::<Vec<_>>()[..]);
        let next = read_frame(&mut rx, 4).await.expect("the following bytes are left for the next frame");
        assert_eq!(&next[..], b"next");
        writer.await.unwrap();
        assert!(read_frame(&mut rx, 1).await.is_none(), "EOF");
    }

    #[tokio::test]
    async fn bytes_read_ahead_while_parked_start_the_next_frame() {
        let mut early = BytesMut::from(&b"abcdefg"[..]);
        let mut rest: &[u8] = b"hij";
        let frame = read_frame_after(&mut rest, &mut early, 4).await.unwrap();
        assert_eq!(&frame[..], b"abcd");
        let frame = read_frame_after(&mut rest, &mut early, 5).await.unwrap();
        assert_eq!(&frame[..], b"efghi", "the rest of the early bytes, then the socket");
        assert!(early.is_empty());
        assert_eq!(rest, b"j");
    }

    type Client = (tokio::io::ReadHalf<tokio::io::DuplexStream>, tokio::io::WriteHalf<tokio::io::DuplexStream>);

    /// A connection of a fresh broker served over an in-memory pipe, its writer
    /// wrapped in a buffer that keeps everything until flushed (as a TLS stream
    /// keeps what the socket could not take).
    fn serve() -> (tempfile::TempDir, tokio::task::JoinHandle<()>, Client) {
        use std::sync::Arc;

        let dir = tempfile::tempdir().unwrap();
        let clock: Arc<dyn weir_storage::Clock> = Arc::new(weir_storage::SystemClock);
        let broker = crate::BrokerHandle::open(dir.path(), crate::BrokerConfig::default(), clock, vec![]).unwrap();
        let (client, server) = tokio::io::duplex(1 << 16);
        let (rd, wr) = tokio::io::split(server);
        let session = Arc::new(crate::net::Session {
            listener: "SSL".into(),
            protocol: crate::net::SecurityProtocol::Ssl,
            peer: "127.0.0.1:1".parse().unwrap(),
            transport_principal: crate::net::Principal::anonymous(),
            sasl: None,
            muted_until_ms: Default::default(),
            software: Default::default(),
            id: crate::net::next_connection_id(),
            share_sessions: Default::default(),
        });
        let metrics = Arc::new(crate::api::metrics::ApiMetrics::new());
        let settings = crate::net::limits::LimitSettings { max_per_ip: 1, ..Default::default() };
        let limits = crate::net::limits::ConnectionLimits::new(&settings).unwrap();
        let wr = tokio::io::BufWriter::with_capacity(1 << 20, wr);
        let conn = tokio::spawn(super::run(broker, metrics, session, limits, rd, wr));
        (dir, conn, tokio::io::split(client))
    }

    /// An ApiVersions v3 request frame; `software_len` pads its client software
    /// name, to make it as long as wanted.
    fn api_versions(correlation_id: i32, software_len: usize) -> BytesMut {
        use bytes::BufMut;
        use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, RequestHeader};
        use kafka_protocol::protocol::{Encodable, StrBytes};

        let mut body = BytesMut::new();
        RequestHeader::default()
            .with_request_api_key(ApiKey::ApiVersions as i16)
            .with_request_api_version(3)
            .with_correlation_id(correlation_id)
            .encode(&mut body, ApiKey::ApiVersions.request_header_version(3))
            .unwrap();
        ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_string("a".repeat(software_len)))
            .with_client_software_version(StrBytes::from_static_str("1"))
            .encode(&mut body, 3)
            .unwrap();
        let mut frame = BytesMut::new();
        frame.put_i32(body.len() as i32);
        frame.extend_from_slice(&body);
        frame
    }

    /// The correlation id of the next response.
    async fn answer(crd: &mut tokio::io::ReadHalf<tokio::io::DuplexStream>) -> i32 {
        use tokio::io::AsyncReadExt;
        let answered = tokio::time::timeout(std::time::Duration::from_secs(5), async {
            let len = crd.read_i32().await.unwrap();
            let mut buf = vec![0u8; len as usize];
            crd.read_exact(&mut buf).await.unwrap();
            i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]])
        })
        .await;
        answered.expect("the response is flushed, not left in the writer's buffer")
    }

    /// Closes the client's side and waits for the connection to end.
    async fn hang_up(conn: tokio::task::JoinHandle<()>, client: Client) {
        drop(client);
        conn.await.unwrap();
    }

    /// Every response must reach the client through a writer that buffers.
    #[tokio::test]
    async fn responses_are_flushed_through_a_buffering_writer() {
        use tokio::io::AsyncWriteExt;

        let (_dir, conn, (mut crd, mut cwr)) = serve();
        for _ in 0..2 {
            cwr.write_all(&api_versions(5, 4)).await.unwrap();
            assert_eq!(answer(&mut crd).await, 5);
        }
        hang_up(conn, (crd, cwr)).await;
    }

    /// One read takes a request's size with what follows: several small requests
    /// in one read, one larger than the read's room, and one arriving a byte at a
    /// time are each answered, in order.
    #[tokio::test]
    async fn requests_read_together_or_in_pieces_are_each_answered_in_order() {
        use tokio::io::AsyncWriteExt;

        let (_dir, conn, (mut crd, mut cwr)) = serve();
        let mut together = BytesMut::new();
        for (id, pad) in [(1, 4), (2, 4), (3, 3 * super::READ_ROOM), (4, 4)] {
            together.extend_from_slice(&api_versions(id, pad));
        }
        cwr.write_all(&together).await.unwrap();
        for id in 1..=4 {
            assert_eq!(answer(&mut crd).await, id);
        }
        for byte in api_versions(5, 4).iter() {
            cwr.write_all(&[*byte]).await.unwrap();
            cwr.flush().await.unwrap();
            tokio::task::yield_now().await;
        }
        assert_eq!(answer(&mut crd).await, 5);
        hang_up(conn, (crd, cwr)).await;
    }

    #[tokio::test]
    async fn eof_mid_frame_is_none() {
        let mut short: &[u8] = b"only ten b";
        assert!(read_frame(&mut short, 11).await.is_none());
    }
}
