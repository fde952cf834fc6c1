//! RemoveRaftVoter (key 81): refused on Weir's static one-node quorum, as Kafka
//! refuses it at `kraft.version` 0 (see AddRaftVoter).

use kafka_protocol::messages::{RemoveRaftVoterRequest, RemoveRaftVoterResponse};

use super::add_raft_voter::check_voter_change;
use super::{str_bytes, RequestContext};

pub fn handle(ctx: &RequestContext, req: RemoveRaftVoterRequest) -> RemoveRaftVoterResponse {
    let (code, msg) =
        check_voter_change(ctx, req.cluster_id.as_deref(), req.voter_id, req.voter_directory_id, "removing");
    RemoveRaftVoterResponse::default()
        .with_error_code(code.code())
        .with_error_message((!msg.is_empty()).then(|| str_bytes(msg)))
}
