//! AddRaftVoter (key 80). Weir's metadata quorum is this one node, a static voter
//! set (Kafka's `kraft.version` 0): Kafka refuses voter changes on such a quorum,
//! after checking the cluster id and the voter named, and so does Weir.

use kafka_protocol::messages::{AddRaftVoterRequest, AddRaftVoterResponse};
use kafka_protocol::ResponseError;

use super::{str_bytes, RequestContext};
use crate::auth::{Operation, Resource};

/// Kafka's checks common to adding and removing a voter, in its order.
pub fn check_voter_change(
    ctx: &RequestContext,
    cluster_id: Option<&str>,
    voter_id: i32,
    directory_id: uuid::Uuid,
    verb: &str,
) -> (ResponseError, String) {
    if !ctx.authorize(Operation::Alter, Resource::Cluster) {
        return (ResponseError::ClusterAuthorizationFailed, String::new());
    }
    let ours = ctx.broker.cluster().cluster_id();
    if let Some(id) = cluster_id.filter(|id| *id != ours) {
        return (
            ResponseError::InconsistentClusterId,
            format!("The given id \"{id}\" doesn't match the cluster id \"{ours}\""),
        );
    }
    if voter_id < 0 || directory_id.is_nil() {
        let what = if verb == "adding" { "Add" } else { "Remove" };
        return (ResponseError::InvalidRequest, format!("{what} voter request didn't include a valid voter"));
    }
    (
        ResponseError::UnsupportedVersion,
        format!("Cluster doesn't support {verb} voter because the kraft.version feature is 0"),
    )
}

pub fn handle(ctx: &RequestContext, req: AddRaftVoterRequest) -> AddRaftVoterResponse {
    let (code, msg) =
        check_voter_change(ctx, req.cluster_id.as_deref(), req.voter_id, req.voter_directory_id, "adding");
    AddRaftVoterResponse::default()
        .with_error_code(code.code())
        .with_error_message((!msg.is_empty()).then(|| str_bytes(msg)))
}
