//! AlterUserScramCredentials (key 51): adds, replaces and deletes users' SCRAM
//! credentials (see `crate::scram`), one result per user with Kafka's codes.

use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::{AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse};
use kafka_protocol::ResponseError;

use super::{blocking, errors, str_bytes, RequestContext};
use crate::auth::{Operation, Resource};
use crate::scram::{ScramError, Upsertion};

fn code(e: &ScramError) -> ResponseError {
    match e {
        ScramError::Duplicate => ResponseError::DuplicateResource,
        ScramError::EmptyUser | ScramError::TooFewIterations | ScramError::TooManyIterations => {
            ResponseError::UnacceptableCredential
        }
        ScramError::UnknownMechanism => ResponseError::UnsupportedSaslMechanism,
        ScramError::NotFound => ResponseError::ResourceNotFound,
    }
}

pub async fn handle(ctx: &RequestContext, req: AlterUserScramCredentialsRequest) -> AlterUserScramCredentialsResponse {
    let result = |user: String| AlterUserScramCredentialsResult::default().with_user(str_bytes(user));
    if !ctx.authorize(Operation::Alter, Resource::Cluster) {
        let users =
            req.deletions.iter().map(|d| d.name.to_string()).chain(req.upsertions.iter().map(|u| u.name.to_string()));
        return AlterUserScramCredentialsResponse::default().with_results(
            users
                .map(|u| {
                    result(u).with_error_code(ResponseError::ClusterAuthorizationFailed.code()).with_error_message(None)
                })
                .collect(),
        );
    }
    let deletions: Vec<(String, i8)> = req.deletions.iter().map(|d| (d.name.to_string(), d.mechanism)).collect();
    let upsertions: Vec<Upsertion> = req
        .upsertions
        .into_iter()
        .map(|u| Upsertion {
            user: u.name.to_string(),
            mechanism: u.mechanism,
            iterations: u.iterations,
            salt: u.salt.to_vec(),
            salted_password: u.salted_password.to_vec(),
        })
        .collect();
    let all: Vec<String> =
        deletions.iter().map(|d| d.0.clone()).chain(upsertions.iter().map(|u| u.user.clone())).collect();
    let b = ctx.broker.clone();
    let results = match blocking(move || b.alter_scram(&deletions, &upsertions)).await {
        Ok(outcomes) => outcomes
            .into_iter()
            .map(|(user, e)| match e {
                None => result(user).with_error_message(None),
                Some(e) => {
                    result(user).with_error_code(code(&e).code()).with_error_message(Some(str_bytes(e.message())))
                }
            })
            .collect(),
        Err(e) => {
            let c = errors::broker(&e).code();
            all.into_iter()
                .map(|u| result(u).with_error_code(c).with_error_message(Some(str_bytes(e.to_string()))))
                .collect()
        }
    };
    AlterUserScramCredentialsResponse::default().with_results(results)
}
