//! DescribeAcls (key 29). Without an authorizer there are no ACLs to describe:
//! Kafka answers SECURITY_DISABLED, and so does Weir until ACLs exist.

use kafka_protocol::messages::{DescribeAclsRequest, DescribeAclsResponse};
use kafka_protocol::ResponseError;

use super::{str_bytes, RequestContext};

pub fn handle(_ctx: &RequestContext, _req: DescribeAclsRequest) -> DescribeAclsResponse {
    DescribeAclsResponse::default()
        .with_error_code(ResponseError::SecurityDisabled.code())
        .with_error_message(Some(str_bytes("No Authorizer is configured on the broker")))
}
