//! CreateAcls (key 30). Without an authorizer, SECURITY_DISABLED for every
//! creation, as Kafka answers. With one: ALTER on the cluster is needed
//! (CLUSTER_AUTHORIZATION_FAILED for each creation otherwise); each ACL is
//! checked (INVALID_REQUEST with Kafka's reason) and the valid ones are stored
//! in the metadata log together.

use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::{CreateAclsRequest, CreateAclsResponse};
use kafka_protocol::ResponseError;

use super::{blocking, errors, str_bytes, RequestContext};
use crate::acl::AclBinding;
use crate::auth::{Operation, Resource};

pub const NO_AUTHORIZER: &str = "No Authorizer is configured.";

fn failed(code: ResponseError, message: Option<String>) -> AclCreationResult {
    AclCreationResult::default().with_error_code(code.code()).with_error_message(message.map(str_bytes))
}

pub async fn handle(ctx: &RequestContext, req: CreateAclsRequest) -> CreateAclsResponse {
    let all = |r: AclCreationResult| CreateAclsResponse::default().with_results(vec![r; req.creations.len()]);
    if !ctx.broker.acls_enabled() {
        return all(failed(ResponseError::SecurityDisabled, Some(NO_AUTHORIZER.into())));
    }
    if !ctx.authorize(Operation::Alter, Resource::Cluster) {
        return all(failed(ResponseError::ClusterAuthorizationFailed, None));
    }
    let acls: Vec<AclBinding> = req
        .creations
        .iter()
        .map(|c| AclBinding {
            resource_type: c.resource_type,
            name: c.resource_name.to_string(),
            pattern_type: c.resource_pattern_type,
            principal: c.principal.to_string(),
            host: c.host.to_string(),
            operation: c.operation,
            permission: c.permission_type,
        })
        .collect();
    let (b, by) = (ctx.broker.clone(), ctx.session.principal().to_string());
    let n = acls.len();
    let results = match blocking(move || b.create_acls(acls, &by)).await {
        Ok(outcomes) => outcomes
            .into_iter()
            .map(|o| match o {
                Ok(()) => AclCreationResult::default().with_error_message(None),
                Err(why) => failed(ResponseError::InvalidRequest, Some(why)),
            })
            .collect(),
        Err(e) => vec![failed(errors::broker(&e), Some(e.to_string())); n],
    };
    CreateAclsResponse::default().with_results(results)
}
