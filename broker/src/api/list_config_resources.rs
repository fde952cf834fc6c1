//! ListConfigResources (key 74, KIP-1142; v0 was ListClientMetricsResources): the
//! resources that have configs, in Kafka's order: groups with configs of their
//! own, client-metrics resources (telemetry subscriptions), the
//! broker as BROKER_LOGGER and as BROKER, then every topic. v0 asks for
//! client-metrics resources only. A type Kafka does not list makes the whole answer
//! UNSUPPORTED_VERSION.

use kafka_protocol::messages::list_config_resources_response::ConfigResource;
use kafka_protocol::messages::{ListConfigResourcesRequest, ListConfigResourcesResponse};
use kafka_protocol::ResponseError;

use super::describe_configs::{
    RESOURCE_BROKER, RESOURCE_BROKER_LOGGER, RESOURCE_CLIENT_METRICS, RESOURCE_GROUP, RESOURCE_TOPIC,
};
use super::{str_bytes, RequestContext};
use crate::auth::{Operation, Resource};

pub fn handle(ctx: &RequestContext, req: ListConfigResourcesRequest) -> ListConfigResourcesResponse {
    if !ctx.authorize(Operation::DescribeConfigs, Resource::Cluster) {
        return ListConfigResourcesResponse::default()
            .with_error_code(ResponseError::ClusterAuthorizationFailed.code());
    }
    let supported: &[i8] = if ctx.version == 0 {
        &[RESOURCE_CLIENT_METRICS]
    } else {
        &[RESOURCE_GROUP, RESOURCE_CLIENT_METRICS, RESOURCE_BROKER_LOGGER, RESOURCE_BROKER, RESOURCE_TOPIC]
    };
    if req.resource_types.iter().any(|t| !supported.contains(t)) {
        return ListConfigResourcesResponse::default().with_error_code(ResponseError::UnsupportedVersion.code());
    }
    let wanted = |t: i8| supported.contains(&t) && (req.resource_types.is_empty() || req.resource_types.contains(&t));
    let b = &ctx.broker;
    let mut out = Vec::new();
    let mut push = |t: i8, name: String| {
        out.push(ConfigResource::default().with_resource_name(str_bytes(name)).with_resource_type(t));
    };
    if wanted(RESOURCE_GROUP) {
        for g in b.configs().groups_with_configs() {
            push(RESOURCE_GROUP, g);
        }
    }
    if wanted(RESOURCE_CLIENT_METRICS) {
        for name in b.client_metrics_resources() {
            push(RESOURCE_CLIENT_METRICS, name);
        }
    }
    let node = b.cluster().node_id().to_string();
    for t in [RESOURCE_BROKER_LOGGER, RESOURCE_BROKER] {
        if wanted(t) {
            push(t, node.clone());
        }
    }
    if wanted(RESOURCE_TOPIC) {
        let mut topics: Vec<String> = b.topics().list().iter().map(|t| t.name.clone()).collect();
        topics.sort();
        for t in topics {
            push(RESOURCE_TOPIC, t);
        }
    }
    ListConfigResourcesResponse::default().with_config_resources(out)
}
