//! DeleteAcls (key 31): each filter deletes the ACLs it matches and lists
//! them. Without an authorizer, SECURITY_DISABLED for every filter, as Kafka
//! answers; with one, ALTER on the cluster is needed.

use kafka_protocol::messages::delete_acls_response::{DeleteAclsFilterResult, DeleteAclsMatchingAcl};
use kafka_protocol::messages::{DeleteAclsRequest, DeleteAclsResponse};
use kafka_protocol::ResponseError;

use super::create_acls::NO_AUTHORIZER;
use super::{blocking, errors, str_bytes, RequestContext};
use crate::acl::AclFilter;
use crate::auth::{Operation, Resource};

fn failed(code: ResponseError, message: Option<String>) -> DeleteAclsFilterResult {
    DeleteAclsFilterResult::default().with_error_code(code.code()).with_error_message(message.map(str_bytes))
}

pub async fn handle(ctx: &RequestContext, req: DeleteAclsRequest) -> DeleteAclsResponse {
    let all = |r: DeleteAclsFilterResult| DeleteAclsResponse::default().with_filter_results(vec![r; req.filters.len()]);
    if !ctx.broker.acls_enabled() {
        return all(failed(ResponseError::SecurityDisabled, Some(NO_AUTHORIZER.into())));
    }
    if !ctx.authorize(Operation::Alter, Resource::Cluster) {
        return all(failed(ResponseError::ClusterAuthorizationFailed, None));
    }
    let filters: Vec<AclFilter> = req
        .filters
        .iter()
        .map(|f| AclFilter {
            resource_type: f.resource_type_filter,
            name: f.resource_name_filter.as_ref().map(|n| n.to_string()),
            pattern_type: f.pattern_type_filter,
            principal: f.principal_filter.as_ref().map(|p| p.to_string()),
            host: f.host_filter.as_ref().map(|h| h.to_string()),
            operation: f.operation,
            permission: f.permission_type,
        })
        .collect();
    // Invalid filters are answered alone; the others delete.
    let checked: Vec<Result<AclFilter, String>> = filters.into_iter().map(|f| f.validate().map(|()| f)).collect();
    let valid: Vec<AclFilter> = checked.iter().filter_map(|c| c.as_ref().ok().cloned()).collect();
    let (b, by) = (ctx.broker.clone(), ctx.session.principal().to_string());
    let deleted = blocking(move || b.delete_acls(&valid, &by)).await;
    let mut deleted = match deleted {
        Ok(d) => d.into_iter(),
        Err(e) => return all(failed(errors::broker(&e), Some(e.to_string()))),
    };
    let results = checked
        .into_iter()
        .map(|c| match c {
            Err(why) => failed(ResponseError::InvalidRequest, Some(why)),
            Ok(_) => DeleteAclsFilterResult::default().with_error_message(None).with_matching_acls(
                deleted
                    .next()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|b| {
                        DeleteAclsMatchingAcl::default()
                            .with_error_message(None)
                            .with_resource_type(b.resource_type)
                            .with_resource_name(str_bytes(b.name))
                            .with_pattern_type(b.pattern_type)
                            .with_principal(str_bytes(b.principal))
                            .with_host(str_bytes(b.host))
                            .with_operation(b.operation)
                            .with_permission_type(b.permission)
                    })
                    .collect(),
            ),
        })
        .collect();
    DeleteAclsResponse::default().with_filter_results(results)
}
