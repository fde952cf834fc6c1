//! AlterClientQuotas (key 49): sets and removes client quotas per entity (see
//! `crate::quotas`), one result per entity with Kafka's codes. Quotas are stored;
//! Weir does not throttle by them yet.

use kafka_protocol::messages::alter_client_quotas_response::{EntityData, EntryData};
use kafka_protocol::messages::{AlterClientQuotasRequest, AlterClientQuotasResponse};
use kafka_protocol::ResponseError;

use super::{blocking, errors, str_bytes, RequestContext};
use crate::auth::{Operation, Resource};
use crate::quotas::{Entity, QuotaEntry};

fn entity_data(entity: &Entity) -> Vec<EntityData> {
    entity
        .iter()
        .map(|(t, n)| {
            EntityData::default().with_entity_type(str_bytes(t.clone())).with_entity_name(n.clone().map(str_bytes))
        })
        .collect()
}

pub async fn handle(ctx: &RequestContext, req: AlterClientQuotasRequest) -> AlterClientQuotasResponse {
    let entries: Vec<QuotaEntry> = req
        .entries
        .iter()
        .map(|e| {
            let entity: Entity = e
                .entity
                .iter()
                .map(|c| (c.entity_type.to_string(), c.entity_name.as_ref().map(|n| n.to_string())))
                .collect();
            (entity, e.ops.iter().map(|o| (o.key.to_string(), o.value, o.remove)).collect())
        })
        .collect();
    let refuse = |entries: &[QuotaEntry], code: ResponseError, msg: Option<String>| {
        let out = entries
            .iter()
            .map(|(e, _)| {
                EntryData::default()
                    .with_entity(entity_data(e))
                    .with_error_code(code.code())
                    .with_error_message(msg.clone().map(str_bytes))
            })
            .collect();
        AlterClientQuotasResponse::default().with_entries(out)
    };
    if !ctx.authorize(Operation::AlterConfigs, Resource::Cluster) {
        return refuse(&entries, ResponseError::ClusterAuthorizationFailed, None);
    }
    let b = ctx.broker.clone();
    let validate_only = req.validate_only;
    let for_errors = entries.clone();
    match blocking(move || b.alter_client_quotas(entries, validate_only)).await {
        Ok(outcomes) => AlterClientQuotasResponse::default().with_entries(
            outcomes
                .into_iter()
                .map(|(entity, r)| {
                    let e = EntryData::default().with_entity(entity_data(&entity));
                    match r {
                        Ok(()) => e.with_error_message(None),
                        Err(m) => e
                            .with_error_code(ResponseError::InvalidRequest.code())
                            .with_error_message(Some(str_bytes(m))),
                    }
                })
                .collect(),
        ),
        Err(e) => refuse(&for_errors, errors::broker(&e), Some(e.to_string())),
    }
}
