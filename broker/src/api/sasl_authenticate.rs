//! SaslAuthenticate (key 36): as SaslHandshake, Kafka's answer on a listener that
//! does not authenticate with SASL.

use kafka_protocol::messages::{SaslAuthenticateRequest, SaslAuthenticateResponse};
use kafka_protocol::ResponseError;

use super::{str_bytes, RequestContext};

pub fn handle(_ctx: &RequestContext, _req: SaslAuthenticateRequest) -> SaslAuthenticateResponse {
    SaslAuthenticateResponse::default()
        .with_error_code(ResponseError::IllegalSaslState.code())
        .with_error_message(Some(str_bytes("SaslAuthenticate request received after successful authentication")))
}
