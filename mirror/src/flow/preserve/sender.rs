//! The preserve copy's sender: a thread that writes the copies' Produce
//! requests to the target and reads the answers, so that the flow's thread
//! fetches the next batches from the source meanwhile (the two transfers then
//! run on both CPUs instead of taking turns).
//!
//! Requests reach it through a channel of one (backpressure: the flow fetches
//! at most one round ahead of what the target has taken). On each connection
//! the request after the current one is written before the current one's
//! answer is read, so the target always has the next request queued; when no
//! request waits, every answer still due is read. Answers go back in the order
//! the requests were sent. An I/O error is answered once and ends the thread
//! (the flow fails and starts anew, with a new sender); so does the flow
//! dropping its end.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender as Tx, SyncSender, TryRecvError};
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::messages::ProduceResponse;

use super::Copy;
use crate::error::MirrorError;
use crate::wire::{ProduceConn, TopicPartition};

/// One Produce request: the copies for the partitions one broker leads.
pub(super) struct Request {
    pub addr: String,
    pub copies: Vec<Copy>,
}

/// A request's copies with the target's answer.
pub(super) type Answer = Result<(Vec<Copy>, ProduceResponse), MirrorError>;

pub(super) struct Sender {
    requests: SyncSender<Request>,
    answers: Receiver<Answer>,
    /// Set when the flow lets go: a request still queued is not written.
    closed: Arc<AtomicBool>,
}

impl Drop for Sender {
    fn drop(&mut self) {
        self.closed.store(true, Ordering::SeqCst);
    }
}

impl Sender {
    /// Starts the thread; its requests carry `transactional_id` and each
    /// copy's expected end under the partition tag `expected_end_tag`.
    pub(super) fn start(
        client_id: String,
        transactional_id: &'static str,
        expected_end_tag: i32,
    ) -> Result<Sender, MirrorError> {
        let (requests, rx) = sync_channel::<Request>(1);
        let (tx, answers) = channel();
        let closed = Arc::new(AtomicBool::new(false));
        let flag = closed.clone();
        std::thread::Builder::new()
            .name("mirror-sender".into())
            .spawn(move || run(rx, tx, &flag, &client_id, transactional_id, expected_end_tag))
            .map_err(|e| MirrorError::Kafka { what: "preserve sender".into(), why: e.to_string() })?;
        Ok(Sender { requests, answers, closed })
    }

    /// Hands a request over; waits while the one before it is still queued.
    pub(super) fn send(&self, request: Request) -> Result<(), MirrorError> {
        self.requests.send(request).map_err(|_| stopped())
    }

    /// An answer, if one has come.
    pub(super) fn answer(&self) -> Option<Answer> {
        match self.answers.try_recv() {
            Ok(a) => Some(a),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => Some(Err(stopped())),
        }
    }
}

fn stopped() -> MirrorError {
    MirrorError::Kafka { what: "preserve sender".into(), why: "stopped after an error".into() }
}

type Pending = (String, i32, Vec<Copy>);

fn run(
    requests: Receiver<Request>,
    answers: Tx<Answer>,
    closed: &AtomicBool,
    client_id: &str,
    transactional_id: &str,
    expected_end_tag: i32,
) {
    let mut conns: HashMap<String, ProduceConn> = HashMap::new();
    let mut pending: VecDeque<Pending> = VecDeque::new();
    // Reads one answer and passes it on; false when the thread must end.
    let answer = |conns: &mut HashMap<String, ProduceConn>, (addr, correlation, copies): Pending| -> bool {
        let got = match conns.get_mut(&addr) {
            Some(c) => c.answer(correlation),
            None => Err(MirrorError::Kafka { what: addr.clone(), why: "connection lost".into() }),
        };
        let ok = got.is_ok();
        let _ = answers.send(got.map(|r| (copies, r)));
        ok
    };
    loop {
        let request = match requests.try_recv() {
            Ok(r) => r,
            Err(TryRecvError::Disconnected) => return,
            Err(TryRecvError::Empty) => {
                while let Some(p) = pending.pop_front() {
                    if !answer(&mut conns, p) {
                        return;
                    }
                }
                match requests.recv() {
                    Ok(r) => r,
                    Err(_) => return,
                }
            }
        };
        if closed.load(Ordering::SeqCst) {
            return;
        }
        let parts: Vec<(TopicPartition, Bytes, i64)> =
            request.copies.iter().map(|c| (c.remote.clone(), c.records.clone(), c.expected)).collect();
        let sent = match conns.get_mut(&request.addr) {
            Some(c) => c.send(transactional_id, expected_end_tag, &parts),
            None => ProduceConn::open(&request.addr, client_id).and_then(|mut c| {
                let s = c.send(transactional_id, expected_end_tag, &parts);
                conns.insert(request.addr.clone(), c);
                s
            }),
        };
        match sent {
            Ok(correlation) => pending.push_back((request.addr, correlation, request.copies)),
            Err(e) => {
                let _ = answers.send(Err(e));
                return;
            }
        }
        // The request just written waits at the broker; the ones before it
        // are answered (they were queued first).
        while pending.len() > 1 {
            let p = pending.pop_front().expect("more than one");
            if !answer(&mut conns, p) {
                return;
            }
        }
    }
}
