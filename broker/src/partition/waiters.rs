//! Fetches parked on a partition.
//!
//! A long-polling fetch makes one [`FetchWaiter`] and parks it on every partition it
//! reads, before its first read, for as long as it runs. An append wakes only the
//! waiters parked on its partition. `Notify::notify_one` keeps a permit when the
//! fetch is not awaiting yet, so an append that lands between a fetch's read and
//! its wait is not lost. Partitions hold waiters weakly: a finished fetch needs no
//! deregistration; dead entries are dropped on the next wake, or when the list has
//! doubled since the last sweep.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;
use tokio::sync::Notify;

#[derive(Default)]
pub struct FetchWaiter {
    notify: Notify,
    wakes: AtomicU64,
}

impl FetchWaiter {
    pub fn new() -> Arc<FetchWaiter> {
        Arc::new(FetchWaiter::default())
    }

    /// Completes after the next append to a partition this waiter is parked on
    /// (at once when one happened since the last wait).
    pub async fn wait(&self) {
        self.notify.notified().await
    }

    /// How many times a partition woke this waiter.
    pub fn wakes(&self) -> u64 {
        self.wakes.load(Ordering::Relaxed)
    }

    fn wake(&self) {
        self.wakes.fetch_add(1, Ordering::Relaxed);
        self.notify.notify_one();
    }
}

#[derive(Default)]
pub(crate) struct Waiters {
    list: Mutex<Vec<Weak<FetchWaiter>>>,
}

impl Waiters {
    pub(crate) fn register(&self, waiter: &Arc<FetchWaiter>) {
        let mut list = self.list.lock();
        if list.len() >= 8 && list.len().is_power_of_two() {
            list.retain(|w| w.strong_count() > 0);
        }
        list.push(Arc::downgrade(waiter));
    }

    pub(crate) fn wake(&self) {
        let mut list = self.list.lock();
        if list.is_empty() {
            return;
        }
        list.retain(|w| match w.upgrade() {
            Some(w) => {
                w.wake();
                true
            }
            None => false,
        });
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.list.lock().len()
    }
}
