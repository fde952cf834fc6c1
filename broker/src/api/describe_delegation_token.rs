//! DescribeDelegationToken (key 41): refused as CreateDelegationToken is; no tokens, as Kafka answers.

use super::create_delegation_token::token_error;
use super::RequestContext;
use kafka_protocol::messages::{DescribeDelegationTokenRequest, DescribeDelegationTokenResponse};

pub fn handle(ctx: &RequestContext, _req: DescribeDelegationTokenRequest) -> DescribeDelegationTokenResponse {
    DescribeDelegationTokenResponse::default().with_error_code(token_error(ctx).code())
}
