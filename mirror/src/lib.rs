//! weir-mirror: MirrorMaker 2-compatible replication between Kafka clusters.
//!
//! This first part holds what MM2 users and tools see of a replicator before any
//! record moves: the MM2 properties file (`properties`, `config`: clusters,
//! flows, per-flow and per-client settings with MM2's precedence and defaults),
//! the topic, group and config-property filters (`filter`), the replication
//! policies that name remote and internal topics and detect cycles (`policy`),
//! and the binary records of MM2's internal topics (`formats`). The flows
//! themselves, talking to both clusters as an ordinary Kafka client, come next
//! (issue 17).

pub mod config;
pub mod error;
pub mod filter;
pub mod formats;
pub mod policy;
pub mod properties;

pub use config::{ClientKind, Flow, MirrorConfig, Mode};
pub use error::MirrorError;
pub use policy::Policy;
