//! weir-mirror: MirrorMaker 2-compatible replication between Kafka clusters,
//! as an ordinary Kafka client of both (librdkafka through `rdkafka`).
//!
//! What MM2 users and tools see: the MM2 properties file (`properties`,
//! `config`: clusters, flows, per-flow and per-client settings with MM2's
//! precedence and defaults), the topic, group and config-property filters
//! (`filter`, changed at run time through `live`), the replication policies that
//! name remote and internal topics and detect cycles (`policy`), and the binary
//! records of MM2's internal topics (`formats`). The flows themselves (`flow`,
//! `runner`): copy mode, at least once or exactly once (target transactions),
//! with exact offset translation, or preserve mode (Weir targets: batches kept
//! at their offsets through `wire`, with `promote` and `failover`); `status` is
//! what they report (the console's view and the `weir_mirror_*` metrics).

#[cfg(feature = "clients")]
pub mod admin_ffi;
pub mod config;
pub mod error;
#[cfg(feature = "clients")]
pub mod failover;
pub mod filter;
#[cfg(feature = "clients")]
pub mod flow;
pub mod formats;
#[cfg(feature = "clients")]
pub mod group_offsets;
#[cfg(feature = "clients")]
pub mod live;
pub mod policy;
#[cfg(feature = "clients")]
pub mod promote;
pub mod properties;
#[cfg(feature = "clients")]
pub mod runner;
#[cfg(feature = "clients")]
pub mod status;
#[cfg(feature = "clients")]
pub mod wire;

pub use config::{ClientKind, Flow, MirrorConfig, Mode};
pub use error::MirrorError;
pub use policy::Policy;
#[cfg(feature = "clients")]
pub use status::{FlowState, FlowStatus, MirrorStatus, PartitionStatus};
