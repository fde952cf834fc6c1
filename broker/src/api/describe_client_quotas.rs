//! DescribeClientQuotas (key 48): the stored client quotas whose entity matches
//! the filter (see `crate::quotas`). A refused filter is a top-level error with no
//! entries, as Kafka answers.

use kafka_protocol::messages::describe_client_quotas_response::{EntityData, EntryData, ValueData};
use kafka_protocol::messages::{DescribeClientQuotasRequest, DescribeClientQuotasResponse};
use kafka_protocol::ResponseError;

use super::{str_bytes, RequestContext};
use crate::auth::{Operation, Resource};
use crate::quotas::{check_filter, matches, FilterError};

pub fn handle(ctx: &RequestContext, req: DescribeClientQuotasRequest) -> DescribeClientQuotasResponse {
    let resp = DescribeClientQuotasResponse::default().with_error_message(None);
    if !ctx.authorize(Operation::DescribeConfigs, Resource::Cluster) {
        return resp.with_error_code(ResponseError::ClusterAuthorizationFailed.code()).with_entries(None);
    }
    let components: Vec<(String, i8, Option<String>)> = req
        .components
        .iter()
        .map(|c| (c.entity_type.to_string(), c.match_type, c._match.as_ref().map(|m| m.to_string())))
        .collect();
    let filter = match check_filter(&components) {
        Ok(f) => f,
        Err(e) => {
            let (code, msg) = match e {
                FilterError::UnsupportedType(m) => (ResponseError::UnsupportedVersion, m),
                FilterError::Invalid(m) => (ResponseError::InvalidRequest, m),
            };
            return resp.with_error_code(code.code()).with_error_message(Some(str_bytes(msg))).with_entries(None);
        }
    };
    let entries = ctx
        .broker
        .client_quotas()
        .into_iter()
        .filter(|(entity, _)| matches(entity, &filter, req.strict))
        .map(|(entity, values)| {
            EntryData::default()
                .with_entity(
                    entity
                        .into_iter()
                        .map(|(t, n)| {
                            EntityData::default().with_entity_type(str_bytes(t)).with_entity_name(n.map(str_bytes))
                        })
                        .collect(),
                )
                .with_values(
                    values
                        .into_iter()
                        .map(|(k, v)| ValueData::default().with_key(str_bytes(k)).with_value(v))
                        .collect(),
                )
        })
        .collect();
    resp.with_entries(Some(entries))
}
