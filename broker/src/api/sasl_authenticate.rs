//! SaslAuthenticate (key 36): one token of the SASL exchange each way, after a
//! SaslHandshake v1 on a SASL listener (`net::sasl` runs the mechanism). The last
//! answer carries the session lifetime (v1+, KIP-368). A refused exchange is
//! answered with SASL_AUTHENTICATION_FAILED and its reason after the failed-
//! authentication delay, and the connection closes. On other listeners, and
//! out of turn, ILLEGAL_SASL_STATE as Kafka answers it.

use kafka_protocol::messages::{ApiKey, SaslAuthenticateRequest, SaslAuthenticateResponse};
use kafka_protocol::ResponseError;

use super::routes::{decode, BoxFuture};
use super::{encode_response, respond, str_bytes, Outcome, RequestContext};
use crate::net::sasl::Step;

pub fn route(ctx: RequestContext, mut body: bytes::Bytes) -> BoxFuture {
    Box::pin(async move {
        let req: SaslAuthenticateRequest = match decode(&mut body, &ctx) {
            Ok(r) => r,
            Err(e) => return Outcome::Close(e),
        };
        let illegal = |why: &str| {
            SaslAuthenticateResponse::default()
                .with_error_code(ResponseError::IllegalSaslState.code())
                .with_error_message(Some(str_bytes(why)))
        };
        let Some(sasl) = ctx.session.sasl.clone() else {
            return respond(&ctx, &illegal("SaslAuthenticate request received after successful authentication"));
        };
        match sasl.authenticate(&ctx.broker, &req.auth_bytes).await {
            Step::Continue(token) => respond(&ctx, &SaslAuthenticateResponse::default().with_auth_bytes(token.into())),
            Step::Done { token, session_lifetime_ms } => respond(
                &ctx,
                &SaslAuthenticateResponse::default()
                    .with_auth_bytes(token.into())
                    .with_session_lifetime_ms(session_lifetime_ms),
            ),
            Step::IllegalState(why) => respond(&ctx, &illegal(why)),
            Step::Failed { message, delay } => {
                tokio::time::sleep(delay).await;
                let resp = SaslAuthenticateResponse::default()
                    .with_error_code(ResponseError::SaslAuthenticationFailed.code())
                    .with_error_message(Some(str_bytes(message)));
                super::error_codes::count(ApiKey::SaslAuthenticate, &resp);
                match encode_response(ctx.key, ctx.version, ctx.correlation_id, &resp) {
                    Ok(buf) => Outcome::Final(buf, "SASL authentication failed".into()),
                    Err(e) => Outcome::Close(e),
                }
            }
        }
    })
}
