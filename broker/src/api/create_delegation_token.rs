//! CreateDelegationToken (key 38). Kafka issues tokens only to clients that
//! authenticated with SASL (or TLS with a client certificate), and only when token
//! authentication is enabled (`delegation.token.secret.key`), which Weir does not
//! offer: DELEGATION_TOKEN_REQUEST_NOT_ALLOWED on other connections, else
//! DELEGATION_TOKEN_AUTH_DISABLED, with the owner and requester filled in as Kafka
//! fills them.

use kafka_protocol::messages::{CreateDelegationTokenRequest, CreateDelegationTokenResponse};
use kafka_protocol::ResponseError;

use super::{str_bytes, RequestContext};
use crate::net::SecurityProtocol;

/// Kafka's refusal of a token request on this connection, checked in its order.
pub fn token_error(ctx: &RequestContext) -> ResponseError {
    let s = &ctx.session;
    let anonymous = s.principal().name == "ANONYMOUS";
    match s.protocol {
        SecurityProtocol::Plaintext => ResponseError::DelegationTokenRequestNotAllowed,
        SecurityProtocol::Ssl if anonymous => ResponseError::DelegationTokenRequestNotAllowed,
        _ => ResponseError::DelegationTokenAuthDisabled,
    }
}

pub fn handle(ctx: &RequestContext, req: CreateDelegationTokenRequest) -> CreateDelegationTokenResponse {
    let me = ctx.session.principal();
    let (owner_type, owner_name) = match (&req.owner_principal_type, &req.owner_principal_name) {
        (Some(t), Some(n)) if !n.is_empty() => (t.to_string(), n.to_string()),
        _ => (me.kind.clone(), me.name.clone()),
    };
    let mut resp = CreateDelegationTokenResponse::default()
        .with_error_code(token_error(ctx).code())
        .with_principal_type(str_bytes(owner_type))
        .with_principal_name(str_bytes(owner_name))
        .with_issue_timestamp_ms(-1)
        .with_expiry_timestamp_ms(-1)
        .with_max_timestamp_ms(-1);
    if ctx.version >= 3 {
        resp = resp
            .with_token_requester_principal_type(str_bytes(me.kind.clone()))
            .with_token_requester_principal_name(str_bytes(me.name.clone()));
    }
    resp
}
