//! DescribeUserScramCredentials (key 50): the mechanisms and iteration counts of
//! users' SCRAM credentials (never the keys). No users named: every user with a
//! credential. A user named twice is answered once, with DUPLICATE_RESOURCE; an
//! unknown one with RESOURCE_NOT_FOUND, as Kafka does.

use kafka_protocol::messages::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResult,
};
use kafka_protocol::messages::{DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse};
use kafka_protocol::ResponseError;

use super::{str_bytes, RequestContext};
use crate::auth::{Operation, Resource};

pub fn handle(ctx: &RequestContext, req: DescribeUserScramCredentialsRequest) -> DescribeUserScramCredentialsResponse {
    let resp = DescribeUserScramCredentialsResponse::default().with_error_message(None);
    if !ctx.authorize(Operation::Describe, Resource::Cluster) {
        return resp.with_error_code(ResponseError::ClusterAuthorizationFailed.code());
    }
    let users = ctx.broker.scram_users();
    let found = |user: &str, infos: &[(i8, i32)]| {
        DescribeUserScramCredentialsResult::default()
            .with_user(str_bytes(user))
            .with_error_message(None)
            .with_credential_infos(
                infos.iter().map(|(m, i)| CredentialInfo::default().with_mechanism(*m).with_iterations(*i)).collect(),
            )
    };
    let named: Vec<String> = req.users.unwrap_or_default().iter().map(|u| u.name.to_string()).collect();
    let results = if named.is_empty() {
        users.iter().map(|(u, infos)| found(u, infos)).collect()
    } else {
        let mut out = Vec::new();
        let mut done = std::collections::HashSet::new();
        for user in &named {
            if !done.insert(user.as_str()) {
                continue;
            }
            let r = if named.iter().filter(|u| *u == user).count() > 1 {
                DescribeUserScramCredentialsResult::default()
                    .with_user(str_bytes(user.clone()))
                    .with_error_code(ResponseError::DuplicateResource.code())
                    .with_error_message(Some(str_bytes(format!(
                        "Cannot describe SCRAM credentials for the same user twice in a single request: {user}"
                    ))))
            } else if let Some(infos) = users.get(user) {
                found(user, infos)
            } else {
                DescribeUserScramCredentialsResult::default()
                    .with_user(str_bytes(user.clone()))
                    .with_error_code(ResponseError::ResourceNotFound.code())
                    .with_error_message(Some(str_bytes(format!(
                        "Attempt to describe a user credential that does not exist: {user}"
                    ))))
            };
            out.push(r);
        }
        out
    };
    resp.with_results(results)
}
