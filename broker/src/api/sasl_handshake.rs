//! SaslHandshake (key 17). No listener of this broker authenticates with SASL yet,
//! so a handshake reaches it only on a connection that needs none: Kafka answers
//! that, on a PLAINTEXT listener, with ILLEGAL_SASL_STATE and no mechanisms.

use kafka_protocol::messages::{SaslHandshakeRequest, SaslHandshakeResponse};
use kafka_protocol::ResponseError;

use super::RequestContext;

pub fn handle(_ctx: &RequestContext, _req: SaslHandshakeRequest) -> SaslHandshakeResponse {
    SaslHandshakeResponse::default().with_error_code(ResponseError::IllegalSaslState.code())
}
