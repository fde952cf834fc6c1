//! DescribeAcls (key 29): the ACLs a filter matches, grouped by resource
//! pattern. Without an authorizer Kafka answers SECURITY_DISABLED; with one,
//! DESCRIBE on the cluster is needed.

use std::collections::BTreeMap;

use kafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use kafka_protocol::messages::{DescribeAclsRequest, DescribeAclsResponse};
use kafka_protocol::ResponseError;

use super::{str_bytes, RequestContext};
use crate::acl::AclFilter;
use crate::auth::{Operation, Resource};

pub fn handle(ctx: &RequestContext, req: DescribeAclsRequest) -> DescribeAclsResponse {
    let refused = |code: ResponseError, message: &str| {
        DescribeAclsResponse::default().with_error_code(code.code()).with_error_message(Some(str_bytes(message)))
    };
    if !ctx.broker.acls_enabled() {
        return refused(ResponseError::SecurityDisabled, "No Authorizer is configured on the broker");
    }
    if !ctx.authorize(Operation::Describe, Resource::Cluster) {
        return refused(ResponseError::ClusterAuthorizationFailed, "");
    }
    let filter = AclFilter {
        resource_type: req.resource_type_filter,
        name: req.resource_name_filter.map(|n| n.to_string()),
        pattern_type: req.pattern_type_filter,
        principal: req.principal_filter.map(|p| p.to_string()),
        host: req.host_filter.map(|h| h.to_string()),
        operation: req.operation,
        permission: req.permission_type,
    };
    if let Err(why) = filter.validate() {
        return refused(ResponseError::InvalidRequest, &why);
    }
    let mut by_resource: BTreeMap<(i8, String, i8), Vec<AclDescription>> = BTreeMap::new();
    for b in ctx.broker.describe_acls(&filter) {
        by_resource.entry((b.resource_type, b.name.clone(), b.pattern_type)).or_default().push(
            AclDescription::default()
                .with_principal(str_bytes(b.principal))
                .with_host(str_bytes(b.host))
                .with_operation(b.operation)
                .with_permission_type(b.permission),
        );
    }
    let resources = by_resource
        .into_iter()
        .map(|((ty, name, pattern), acls)| {
            DescribeAclsResource::default()
                .with_resource_type(ty)
                .with_resource_name(str_bytes(name))
                .with_pattern_type(pattern)
                .with_acls(acls)
        })
        .collect();
    DescribeAclsResponse::default().with_error_message(None).with_resources(resources)
}
