//! Typed errors to the Kafka error codes clients understand. The only place where
//! the broker's domain errors become wire codes.

use kafka_protocol::ResponseError;
use weir_storage::StorageError;

use crate::error::{BrokerError, GroupError, TopicError, TxnError};
use crate::partition::AppendError;

/// Storage failures as Kafka reports them per partition.
pub fn storage(e: &StorageError) -> ResponseError {
    match e {
        StorageError::Io { .. } | StorageError::DiskFull { .. } | StorageError::Offline { .. } => {
            ResponseError::KafkaStorageError
        }
        // The log is closing (shutdown, topic deletion): clients refresh metadata and
        // retry, which is what a restart needs.
        StorageError::Closed => ResponseError::NotLeaderOrFollower,
        StorageError::CorruptBatch { .. } | StorageError::InvalidRecord { .. } => ResponseError::CorruptMessage,
        StorageError::UnsupportedMagic { .. } => ResponseError::UnsupportedForMessageFormat,
        StorageError::MessageTooLarge { .. } => ResponseError::MessageTooLarge,
        StorageError::OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange,
        StorageError::OutOfOrderSequence { .. } => ResponseError::OutOfOrderSequenceNumber,
        StorageError::InvalidProducerEpoch { .. } => ResponseError::InvalidProducerEpoch,
        #[allow(unreachable_patterns)]
        _ => ResponseError::UnknownServerError,
    }
}

pub fn broker(e: &BrokerError) -> ResponseError {
    match e {
        BrokerError::Storage(s) => storage(s),
        BrokerError::Config(_) => ResponseError::InvalidConfig,
        BrokerError::Topic(t) => topic(t),
        BrokerError::NotOpen(_) => ResponseError::UnknownTopicOrPartition,
        BrokerError::Io { .. } | BrokerError::Metadata(_) | BrokerError::Corrupt { .. } => {
            ResponseError::KafkaStorageError
        }
        BrokerError::DataDirLocked { .. } | BrokerError::Bind { .. } => ResponseError::UnknownServerError,
    }
}

pub fn topic(e: &TopicError) -> ResponseError {
    match e {
        TopicError::InvalidName(_) | TopicError::Collides { .. } => ResponseError::InvalidTopicException,
        TopicError::AlreadyExists(_) => ResponseError::TopicAlreadyExists,
        TopicError::UnknownTopic(_) => ResponseError::UnknownTopicOrPartition,
        TopicError::UnknownTopicId(_) => ResponseError::UnknownTopicId,
        TopicError::InvalidPartitions(_) => ResponseError::InvalidPartitions,
        TopicError::InvalidReplicationFactor(_) => ResponseError::InvalidReplicationFactor,
        TopicError::InvalidReplicaAssignment(_) => ResponseError::InvalidReplicaAssignment,
        TopicError::InvalidRequest(_) => ResponseError::InvalidRequest,
        TopicError::DeletionDisabled => ResponseError::TopicDeletionDisabled,
        TopicError::InvalidConfig(_) => ResponseError::InvalidConfig,
        TopicError::Broker(b) => broker(b),
    }
}

pub fn append(e: &AppendError) -> ResponseError {
    match e {
        AppendError::NotEnoughReplicas(_) => ResponseError::NotEnoughReplicas,
        AppendError::InternalTopic(_) => ResponseError::InvalidTopicException,
        AppendError::NoRecords => ResponseError::CorruptMessage,
        AppendError::RecordListTooLarge { .. } => ResponseError::RecordListTooLarge,
        AppendError::InvalidRecord(_) | AppendError::KeylessRecords { .. } => ResponseError::InvalidRecord,
        AppendError::TransactionalBatch => ResponseError::InvalidTxnState,
        AppendError::MirrorTopic { .. } | AppendError::NotAMirror { .. } => ResponseError::InvalidRequest,
        AppendError::CopyGap { .. } => ResponseError::OutOfOrderSequenceNumber,
        AppendError::Txn(TxnError::ProducerFenced(_)) => ResponseError::InvalidProducerEpoch,
        AppendError::Txn(TxnError::InvalidProducerIdMapping(_)) => ResponseError::InvalidProducerIdMapping,
        AppendError::Txn(TxnError::MissingTransactionalId) => ResponseError::TransactionalIdAuthorizationFailed,
        AppendError::Txn(_) => ResponseError::InvalidTxnState,
        AppendError::Storage(s) => storage(s),
    }
}

pub fn group(e: &GroupError) -> ResponseError {
    match e {
        GroupError::InvalidGroupId => ResponseError::InvalidGroupId,
        GroupError::InvalidSessionTimeout => ResponseError::InvalidSessionTimeout,
        GroupError::UnknownMemberId(_) => ResponseError::UnknownMemberId,
        GroupError::MemberIdRequired => ResponseError::MemberIdRequired,
        GroupError::InconsistentGroupProtocol => ResponseError::InconsistentGroupProtocol,
        GroupError::FencedInstanceId(_) => ResponseError::FencedInstanceId,
        GroupError::IllegalGeneration => ResponseError::IllegalGeneration,
        GroupError::RebalanceInProgress => ResponseError::RebalanceInProgress,
        GroupError::GroupMaxSizeReached(_) => ResponseError::GroupMaxSizeReached,
        GroupError::NonEmptyGroup => ResponseError::NonEmptyGroup,
        GroupError::GroupIdNotFound(_) => ResponseError::GroupIdNotFound,
        GroupError::GroupSubscribedToTopic => ResponseError::GroupSubscribedToTopic,
        GroupError::OffsetMetadataTooLarge => ResponseError::OffsetMetadataTooLarge,
        GroupError::UnknownTopicOrPartition => ResponseError::UnknownTopicOrPartition,
        GroupError::CoordinatorNotAvailable => ResponseError::CoordinatorNotAvailable,
        GroupError::StaleMemberEpoch => ResponseError::StaleMemberEpoch,
        GroupError::FencedMemberEpoch(_) => ResponseError::FencedMemberEpoch,
        GroupError::UnreleasedInstanceId(_) => ResponseError::UnreleasedInstanceId,
        GroupError::UnsupportedAssignor(_) => ResponseError::UnsupportedAssignor,
        GroupError::InvalidRegularExpression(_) => ResponseError::InvalidRegularExpression,
        GroupError::InvalidRequest(_) => ResponseError::InvalidRequest,
        GroupError::ProducerFenced => ResponseError::ProducerFenced,
        GroupError::UnstableOffsetCommit => ResponseError::UnstableOffsetCommit,
    }
}

/// Transaction coordinator errors for a request of `version`, where PRODUCER_FENCED
/// exists from `fenced_since` (older clients know INVALID_PRODUCER_EPOCH).
pub fn txn(e: &TxnError, version: i16, fenced_since: i16) -> ResponseError {
    match e {
        TxnError::InvalidTransactionTimeout { .. } => ResponseError::InvalidTransactionTimeout,
        TxnError::ConcurrentTransactions => ResponseError::ConcurrentTransactions,
        TxnError::ProducerFenced(_) if version >= fenced_since => ResponseError::ProducerFenced,
        TxnError::ProducerFenced(_) => ResponseError::InvalidProducerEpoch,
        TxnError::InvalidProducerIdMapping(_) => ResponseError::InvalidProducerIdMapping,
        TxnError::InvalidTxnState(_) => ResponseError::InvalidTxnState,
        TxnError::UnknownTopicOrPartition => ResponseError::UnknownTopicOrPartition,
        TxnError::OperationNotAttempted => ResponseError::OperationNotAttempted,
        TxnError::CoordinatorNotAvailable => ResponseError::CoordinatorNotAvailable,
        TxnError::TransactionalIdNotFound(_) => ResponseError::TransactionalIdNotFound,
        TxnError::MissingTransactionalId => ResponseError::TransactionalIdAuthorizationFailed,
    }
}

/// Group error codes for an OffsetCommit of `version`: clients before v9 know no
/// STALE_MEMBER_EPOCH and get ILLEGAL_GENERATION.
pub fn commit(e: &GroupError, version: i16) -> i16 {
    match e {
        GroupError::StaleMemberEpoch if version < 9 => ResponseError::IllegalGeneration.code(),
        GroupError::GroupIdNotFound(_) if version < 9 => ResponseError::IllegalGeneration.code(),
        other => group(other).code(),
    }
}

/// `0` or the code of the error.
pub fn group_code(r: &Result<(), GroupError>) -> i16 {
    r.as_ref().err().map_or(0, |e| group(e).code())
}

/// Share-group coordinator errors.
pub fn share(e: &crate::share::ShareError) -> ResponseError {
    use crate::share::ShareError;
    match e {
        ShareError::InvalidRequest(_) => ResponseError::InvalidRequest,
        ShareError::UnknownMember { .. } => ResponseError::UnknownMemberId,
        ShareError::FencedEpoch { .. } => ResponseError::FencedMemberEpoch,
        ShareError::NotShareGroup(_) | ShareError::GroupNotFound(_) => ResponseError::GroupIdNotFound,
        ShareError::GroupFull(_) => ResponseError::GroupMaxSizeReached,
        ShareError::NotEmpty(_) => ResponseError::NonEmptyGroup,
        ShareError::Storage(_) => ResponseError::CoordinatorNotAvailable,
        ShareError::ReadLog(_) => ResponseError::KafkaStorageError,
    }
}

/// Share-session errors.
pub fn share_session(e: &crate::share::SessionError) -> ResponseError {
    use crate::share::SessionError;
    match e {
        SessionError::NotFound => ResponseError::ShareSessionNotFound,
        SessionError::InvalidEpoch => ResponseError::InvalidShareSessionEpoch,
        SessionError::LimitReached => ResponseError::ShareSessionLimitReached,
        SessionError::InvalidRequest(_) => ResponseError::InvalidRequest,
    }
}
