//! Broker errors. [`BrokerError`] is what goes wrong underneath (storage, the
//! metadata log, the process); [`TopicError`] and [`GroupError`] are the domain
//! answers of the topic and group services. None of them carries a Kafka error
//! code: `api/errors.rs` maps them, so in-process users (registry, console,
//! mirror) see typed errors, and only the wire speaks codes. Messages follow
//! Kafka's texts where clients show them.

use std::path::PathBuf;

use uuid::Uuid;
use weir_storage::StorageError;

/// Kafka's default messages (its `Errors` enum) that responses state word for word.
pub mod kafka_message {
    pub const TOPIC_AUTHORIZATION_FAILED: &str = "Topic authorization failed.";
    pub const GROUP_AUTHORIZATION_FAILED: &str = "Group authorization failed.";
    pub const UNKNOWN_TOPIC_OR_PARTITION: &str = "This server does not host this topic-partition.";
}

pub type Result<T, E = BrokerError> = std::result::Result<T, E>;

#[derive(thiserror::Error, Debug)]
pub enum BrokerError {
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    #[error("configuration: {0}")]
    Config(String),
    #[error("metadata log: {0}")]
    Metadata(String),
    /// An internal topic's record that the broker itself cannot decode.
    #[error("{topic}-{partition}: {reason}")]
    Corrupt { topic: String, partition: i32, reason: String },
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "data directory {path} is locked by another weir process{holder}; \
         stop it or choose another --data-dir"
    )]
    DataDirLocked { path: PathBuf, holder: String },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    /// An internal topic could not be created or opened.
    #[error("{0}")]
    Topic(Box<TopicError>),
    #[error("{0} is not open on this broker")]
    NotOpen(String),
}

impl BrokerError {
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        BrokerError::Io { op, path: path.into(), source }
    }
}

impl From<TopicError> for BrokerError {
    fn from(e: TopicError) -> Self {
        match e {
            TopicError::Broker(b) => b,
            other => BrokerError::Topic(Box::new(other)),
        }
    }
}

/// Answers of the topic service (create, delete, partitions, configs).
#[derive(thiserror::Error, Debug)]
pub enum TopicError {
    #[error("{0}")]
    InvalidName(String),
    #[error("Topic '{0}' already exists.")]
    AlreadyExists(String),
    #[error("Topic '{name}' collides with existing topic: {existing}")]
    Collides { name: String, existing: String },
    #[error("{0}")]
    UnknownTopic(String),
    #[error("This server does not host a topic with id {0}.")]
    UnknownTopicId(Uuid),
    #[error("{0}")]
    InvalidPartitions(String),
    #[error("{0}")]
    InvalidReplicationFactor(String),
    #[error("{0}")]
    InvalidReplicaAssignment(String),
    #[error("{0}")]
    InvalidRequest(String),
    #[error("Topic deletion is disabled.")]
    DeletionDisabled,
    #[error("{0}")]
    InvalidConfig(String),
    #[error(transparent)]
    Broker(#[from] BrokerError),
}

impl From<StorageError> for TopicError {
    fn from(e: StorageError) -> Self {
        TopicError::Broker(BrokerError::Storage(e))
    }
}

/// Answers of the group coordinator, named as Kafka names them.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum GroupError {
    #[error("The group id is empty.")]
    InvalidGroupId,
    #[error("The session timeout is outside the broker's group.min/max.session.timeout.ms.")]
    InvalidSessionTimeout,
    #[error("{0}")]
    UnknownMemberId(String),
    /// KIP-394: the member must rejoin with the id it is given.
    #[error("The group member needs to have a valid member id before actually entering a consumer group.")]
    MemberIdRequired,
    #[error("The group member's supported protocols are incompatible with those of existing members.")]
    InconsistentGroupProtocol,
    #[error("{0}")]
    FencedInstanceId(String),
    #[error("The generation is not the group's current one.")]
    IllegalGeneration,
    #[error("The group is rebalancing, so a rejoin is needed.")]
    RebalanceInProgress,
    #[error("{0}")]
    GroupMaxSizeReached(String),
    #[error("The group is not empty.")]
    NonEmptyGroup,
    #[error("{0}")]
    GroupIdNotFound(String),
    #[error("The group is subscribed to the topic.")]
    GroupSubscribedToTopic,
    #[error("The metadata of the committed offset is larger than offset.metadata.max.bytes.")]
    OffsetMetadataTooLarge,
    #[error("{}", kafka_message::UNKNOWN_TOPIC_OR_PARTITION)]
    UnknownTopicOrPartition,
    #[error("The coordinator could not persist the change.")]
    CoordinatorNotAvailable,
    #[error("The member epoch is stale.")]
    StaleMemberEpoch,
    #[error("{0}")]
    FencedMemberEpoch(String),
    #[error("{0}")]
    UnreleasedInstanceId(String),
    #[error("{0}")]
    UnsupportedAssignor(String),
    #[error("{0}")]
    InvalidRegularExpression(String),
    #[error("{0}")]
    InvalidRequest(String),
    /// A transactional offset commit from a producer whose epoch is not the latest.
    #[error("There is a newer producer with the same transactionalId which fences the current one.")]
    ProducerFenced,
    /// OffsetFetch with require_stable while a transaction holds an offset.
    #[error("There are unstable offsets that need to be cleared.")]
    UnstableOffsetCommit,
}

/// Answers of the transaction coordinator, named as Kafka names them.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum TxnError {
    #[error("The transaction timeout {requested} ms is not within 1 and transaction.max.timeout.ms ({max}).")]
    InvalidTransactionTimeout { requested: i32, max: i64 },
    #[error("A previous transaction of this transactional id is still completing.")]
    ConcurrentTransactions,
    /// A newer producer with the same transactional id exists (PRODUCER_FENCED;
    /// INVALID_PRODUCER_EPOCH for clients that predate it).
    #[error("{0}")]
    ProducerFenced(String),
    #[error("{0}")]
    InvalidProducerIdMapping(String),
    #[error("{0}")]
    InvalidTxnState(String),
    #[error("{}", kafka_message::UNKNOWN_TOPIC_OR_PARTITION)]
    UnknownTopicOrPartition,
    #[error("The partition was not added: another partition of the request failed.")]
    OperationNotAttempted,
    #[error("The transaction coordinator could not persist the change.")]
    CoordinatorNotAvailable,
    #[error("{0}")]
    TransactionalIdNotFound(String),
    #[error("Transactional records need the request's transactional id.")]
    MissingTransactionalId,
}
