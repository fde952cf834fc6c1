//! The Kafka listener: accepts connections and runs each one.
//!
//! Framing: every request and response is a 4-byte big-endian size followed by that
//! many bytes. Requests of one connection are handled one after another, as Kafka
//! does, so their effects (appends, topic changes) happen in the order they were
//! sent. A handler may hand back a deferred remainder (acks=all waiting for fsync);
//! that runs as its own task so pipelined produces (max.in.flight > 1) share one
//! fsync, and a per-connection queue keeps responses in request order.
//! A frame above `socket.request.max.bytes`, a malformed request, or an unknown API
//! key closes that connection only.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};

use crate::api::{self, Outcome};
use crate::Shared;

/// Responses of one connection that may wait to be written (deferred produces).
const MAX_IN_FLIGHT: usize = 64;
/// How long shutdown waits for connections to finish in-flight requests.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

enum Queued {
    Ready(Outcome),
    Task(JoinHandle<Outcome>),
}

pub async fn serve(shared: Arc<Shared>, listener: TcpListener) {
    let mut shutdown = shared.shutdown.subscribe();
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    metrics::counter!("weir_kafka_connections_total").increment(1);
                    conns.spawn(connection(shared.clone(), stream, peer));
                }
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            _ = shutdown.changed() => break,
        }
    }
    drop(listener);
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async { while conns.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!(open = conns.len(), "connections still busy after drain timeout; closing them");
        conns.abort_all();
    }
}

/// Writes `parts` in order with vectored writes (as few syscalls as the socket
/// buffer allows, no copying into one buffer first).
async fn write_parts(wr: &mut tokio::net::tcp::OwnedWriteHalf, parts: Vec<bytes::Bytes>) -> std::io::Result<()> {
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

/// Reads a `len`-byte frame body into fresh, unzeroed capacity (a produce frame is
/// up to a MiB; zeroing it first was pure overhead). `None` on EOF or error.
async fn read_frame<R: tokio::io::AsyncRead + Unpin>(rd: &mut R, len: usize) -> Option<BytesMut> {
    let mut frame = BytesMut::with_capacity(len);
    while frame.len() < len {
        // `take` bounds the read to this frame: the capacity may exceed `len`.
        match rd.take((len - frame.len()) as u64).read_buf(&mut frame).await {
            Ok(0) | Err(_) => return None,
            Ok(_) => {}
        }
    }
    Some(frame)
}

async fn connection(shared: Arc<Shared>, stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = stream.into_split();
    let (tx, mut rx) = mpsc::channel::<Queued>(MAX_IN_FLIGHT);
    let max_frame = shared.config.get_i64("socket.request.max.bytes").max(0) as usize;

    let mut writer = tokio::spawn(async move {
        while let Some(queued) = rx.recv().await {
            let outcome = match queued {
                Queued::Ready(o) => Ok(o),
                Queued::Task(t) => t.await,
            };
            match outcome {
                Ok(Outcome::Respond(buf)) => {
                    if let Err(e) = wr.write_all(&buf).await {
                        tracing::debug!(%peer, error = %e, "client went away before its response");
                        return;
                    }
                }
                Ok(Outcome::RespondParts(parts)) => {
                    if let Err(e) = write_parts(&mut wr, parts).await {
                        tracing::debug!(%peer, error = %e, "client went away before its response");
                        return;
                    }
                }
                Ok(Outcome::Silent) => {}
                Ok(Outcome::Deferred(_)) => unreachable!("deferred outcomes are queued as tasks"),
                Ok(Outcome::Close(reason)) => {
                    tracing::warn!(%peer, %reason, "closing connection");
                    return;
                }
                Err(e) => {
                    tracing::error!(%peer, error = %e, "request handler failed; closing connection");
                    return;
                }
            }
        }
        let _ = wr.shutdown().await;
    });

    let mut shutdown = shared.shutdown.subscribe();
    let mut writer_done = false;
    loop {
        if *shutdown.borrow_and_update() {
            break;
        }
        let mut size = [0u8; 4];
        tokio::select! {
            r = rd.read_exact(&mut size) => {
                if r.is_err() {
                    break; // EOF or reset: a normal disconnect.
                }
            }
            // The writer stops when a request must close the connection.
            _ = &mut writer => { writer_done = true; break; }
            _ = shutdown.changed() => break,
        }
        let len = i32::from_be_bytes(size);
        if len < 0 {
            tracing::warn!(%peer, size = len, "negative request frame size; closing connection");
            break;
        }
        if len as usize > max_frame {
            tracing::warn!(%peer, size = len, max = max_frame, "request frame exceeds socket.request.max.bytes; closing connection");
            break;
        }
        let Some(frame) = read_frame(&mut rd, len as usize).await else {
            tracing::debug!(%peer, "connection closed mid-frame");
            break;
        };
        let queued = match api::dispatch(shared.clone(), frame.freeze(), peer).await {
            Outcome::Deferred(rest) => Queued::Task(tokio::spawn(rest)),
            Outcome::Close(reason) => {
                // Answer what came before, then close.
                let _ = tx.send(Queued::Ready(Outcome::Close(reason))).await;
                break;
            }
            other => Queued::Ready(other),
        };
        if tx.send(queued).await.is_err() {
            break; // the writer stopped (closed connection)
        }
    }
    drop(tx);
    if !writer_done {
        let _ = writer.await;
    }
}

#[cfg(test)]
mod tests {
    use super::read_frame;

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
    async fn eof_mid_frame_is_none() {
        let mut short: &[u8] = b"only ten b";
        assert!(read_frame(&mut short, 11).await.is_none());
    }
}
