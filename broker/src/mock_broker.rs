//! A broker opened in-process on a temporary directory with a mock clock, for
//! the coordinators' unit tests: nothing sleeps; time moves only when a test
//! advances the clock.

use std::collections::BTreeMap;
use std::sync::Arc;

use weir_storage::{Clock, MockClock};

use crate::config::BrokerConfig;
use crate::handle::BrokerHandle;
use crate::topics::CreateTopic;

pub(crate) struct MockBroker {
    pub dir: tempfile::TempDir,
    pub clock: Arc<MockClock>,
    broker: Option<BrokerHandle>,
    config: Vec<(&'static str, &'static str)>,
}

impl MockBroker {
    /// A broker with `config` set over the defaults.
    pub fn new(config: &[(&'static str, &'static str)]) -> MockBroker {
        let mut m = MockBroker {
            dir: tempfile::tempdir().unwrap(),
            clock: Arc::new(MockClock::new(1_000_000)),
            broker: None,
            config: config.to_vec(),
        };
        m.reopen();
        m
    }

    /// Opens the broker (again) on the same data directory: a restart.
    pub fn reopen(&mut self) {
        if let Some(b) = self.broker.take() {
            b.close().unwrap();
        }
        let mut c = BrokerConfig::default();
        for (k, v) in &self.config {
            c.set(k, v).unwrap();
        }
        let clock: Arc<dyn Clock> = self.clock.clone();
        self.broker = Some(BrokerHandle::open(self.dir.path(), c, clock, vec![]).unwrap());
    }

    pub fn broker(&self) -> &BrokerHandle {
        self.broker.as_ref().unwrap()
    }

    /// Creates `name` with `partitions` partitions; its id.
    pub fn topic(&self, name: &str, partitions: i32) -> uuid::Uuid {
        let req = CreateTopic {
            name: name.into(),
            partitions,
            replication_factor: -1,
            assignments: vec![],
            configs: BTreeMap::new(),
        };
        self.broker().topics().create(req, false).unwrap().id
    }
}

/// Declares a test fixture `$name` wrapping a [`MockBroker`] (and reaching its
/// methods through it), for a module's own helpers to be added on.
macro_rules! fixture {
    ($name:ident) => {
        struct $name($crate::mock_broker::MockBroker);

        impl std::ops::Deref for $name {
            type Target = $crate::mock_broker::MockBroker;
            fn deref(&self) -> &Self::Target {
                &self.0
            }
        }

        impl std::ops::DerefMut for $name {
            fn deref_mut(&mut self) -> &mut Self::Target {
                &mut self.0
            }
        }
    };
}
pub(crate) use fixture;
