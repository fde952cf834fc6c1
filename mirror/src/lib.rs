//! weir-mirror: MirrorMaker 2-compatible replication between Kafka clusters.
//!
//! This first part holds what MM2 users and tools see of a replicator before any
//! record moves: the MM2 properties file (`properties`, `config`: clusters,
//! flows, per-flow and per-client settings with MM2's precedence and defaults),
//! the topic, group and config-property filters (`filter`), the replication
//! policies that name remote and internal topics and detect cycles (`policy`),
//! and the binary records of MM2's internal topics (`formats`); and the flows
//! themselves (`flow`, `runner`): copy mode, at least once, as an ordinary Kafka
//! client of both clusters.

pub mod config;
pub mod error;
pub mod filter;
pub mod flow;
pub mod formats;
pub mod live;
pub mod policy;
pub mod properties;
pub mod runner;
pub mod status;

pub use config::{ClientKind, Flow, MirrorConfig, Mode};
pub use error::MirrorError;
pub use policy::Policy;
pub use status::{FlowState, FlowStatus, MirrorStatus, PartitionStatus};
