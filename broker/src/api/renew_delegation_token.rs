//! RenewDelegationToken (key 39): refused as CreateDelegationToken is; expiry -1 as Kafka answers.

use super::create_delegation_token::token_error;
use super::RequestContext;
use kafka_protocol::messages::{RenewDelegationTokenRequest, RenewDelegationTokenResponse};

pub fn handle(ctx: &RequestContext, _req: RenewDelegationTokenRequest) -> RenewDelegationTokenResponse {
    RenewDelegationTokenResponse::default().with_error_code(token_error(ctx).code()).with_expiry_timestamp_ms(-1)
}
