//! CreatePartitions (key 37).

use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};

use super::{blocking, errors, str_bytes, RequestContext};

pub async fn handle(ctx: &RequestContext, req: CreatePartitionsRequest) -> CreatePartitionsResponse {
    let mut results = Vec::with_capacity(req.topics.len());
    for t in req.topics {
        let name = t.name.0.to_string();
        if !ctx.authorize(crate::auth::Operation::Alter, crate::auth::Resource::Topic(&name)) {
            results.push(
                CreatePartitionsTopicResult::default()
                    .with_name(t.name)
                    .with_error_code(kafka_protocol::ResponseError::TopicAuthorizationFailed.code())
                    .with_error_message(None),
            );
            continue;
        }
        let assignments: Option<Vec<Vec<i32>>> = t
            .assignments
            .filter(|a| !a.is_empty())
            .map(|a| a.into_iter().map(|x| x.broker_ids.into_iter().map(|b| b.0).collect()).collect());
        let b = ctx.broker.clone();
        let validate_only = req.validate_only;
        let count = t.count;
        let r =
            blocking(move || b.topics().create_partitions(&name, count, assignments.as_deref(), validate_only)).await;
        let base = CreatePartitionsTopicResult::default().with_name(t.name);
        results.push(match r {
            Ok(()) => base.with_error_message(None),
            Err(e) => base.with_error_code(errors::topic(&e).code()).with_error_message(Some(str_bytes(e.to_string()))),
        });
    }
    CreatePartitionsResponse::default().with_results(results)
}
