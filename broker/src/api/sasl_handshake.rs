//! SaslHandshake (key 17): the client names the SASL mechanism it will use. On
//! a SASL listener the connection's authenticator (`net::sasl`) takes it: the
//! mechanisms served come back, with UNSUPPORTED_SASL_MECHANISM for another one
//! (the connection is then closed, as Kafka closes it). v0 means the tokens
//! follow as bare frames; v1, in SaslAuthenticate requests. A second handshake
//! on an authenticated connection starts a KIP-368 re-authentication. On other
//! listeners Kafka answers ILLEGAL_SASL_STATE with no mechanisms.

use kafka_protocol::messages::{SaslHandshakeRequest, SaslHandshakeResponse};
use kafka_protocol::ResponseError;

use super::{str_bytes, RequestContext};
use crate::net::sasl::Handshake;

pub fn handle(ctx: &RequestContext, req: SaslHandshakeRequest) -> SaslHandshakeResponse {
    let Some(sasl) = &ctx.session.sasl else {
        return SaslHandshakeResponse::default().with_error_code(ResponseError::IllegalSaslState.code());
    };
    let mechanisms = sasl.server().mechanism_names().iter().map(|m| str_bytes(m.clone())).collect();
    let error = match sasl.handshake(&req.mechanism, ctx.version == 0) {
        Handshake::Ok => 0,
        Handshake::Unsupported => {
            tracing::info!(peer = %ctx.session.peer, mechanism = %req.mechanism.as_str(),
                "SASL mechanism not enabled (sasl.enabled.mechanisms)");
            ResponseError::UnsupportedSaslMechanism.code()
        }
        Handshake::IllegalState(why) => {
            tracing::info!(peer = %ctx.session.peer, reason = why, "SaslHandshake refused");
            ResponseError::IllegalSaslState.code()
        }
    };
    SaslHandshakeResponse::default().with_error_code(error).with_mechanisms(mechanisms)
}
