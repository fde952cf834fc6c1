//! ApiVersions (key 18): the API table clients negotiate versions from.

use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};

use super::routes::ROUTES;
use super::RequestContext;

/// The response, built from the same table that routes requests.
pub fn response(error_code: i16) -> ApiVersionsResponse {
    let mut api_keys: Vec<ApiVersion> = ROUTES
        .iter()
        .map(|r| {
            ApiVersion::default()
                .with_api_key(r.key as i16)
                .with_min_version(r.versions.min)
                .with_max_version(r.versions.max)
        })
        .collect();
    api_keys.sort_by_key(|a| a.api_key);
    // No feature levels: finalized_features_epoch stays -1 so the tagged fields are
    // omitted (old librdkafka rejects responses that carry them).
    ApiVersionsResponse::default().with_error_code(error_code).with_api_keys(api_keys).with_finalized_features_epoch(-1)
}

pub fn handle(_ctx: &RequestContext, _req: ApiVersionsRequest) -> ApiVersionsResponse {
    response(0)
}
