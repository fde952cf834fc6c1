//! ExpireDelegationToken (key 40): refused as CreateDelegationToken is; expiry -1 as Kafka answers.

use super::create_delegation_token::token_error;
use super::RequestContext;
use kafka_protocol::messages::{ExpireDelegationTokenRequest, ExpireDelegationTokenResponse};

pub fn handle(ctx: &RequestContext, _req: ExpireDelegationTokenRequest) -> ExpireDelegationTokenResponse {
    ExpireDelegationTokenResponse::default().with_error_code(token_error(ctx).code()).with_expiry_timestamp_ms(-1)
}
