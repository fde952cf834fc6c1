//! CreateAcls (key 30): SECURITY_DISABLED for every creation while no authorizer is
//! configured, as Kafka answers.

use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::{CreateAclsRequest, CreateAclsResponse};
use kafka_protocol::ResponseError;

use super::{str_bytes, RequestContext};

pub const NO_AUTHORIZER: &str = "No Authorizer is configured.";

pub fn handle(_ctx: &RequestContext, req: CreateAclsRequest) -> CreateAclsResponse {
    let results = req
        .creations
        .iter()
        .map(|_| {
            AclCreationResult::default()
                .with_error_code(ResponseError::SecurityDisabled.code())
                .with_error_message(Some(str_bytes(NO_AUTHORIZER)))
        })
        .collect();
    CreateAclsResponse::default().with_results(results)
}
