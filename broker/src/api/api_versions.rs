//! ApiVersions (key 18): the API table clients negotiate versions from.

use kafka_protocol::messages::api_versions_response::{ApiVersion, FinalizedFeatureKey, SupportedFeatureKey};
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};

use super::routes::ROUTES;
use super::{str_bytes, RequestContext};
use crate::features::FEATURES;

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
    // The feature levels are added by `handle`; an error answer carries none.
    ApiVersionsResponse::default().with_error_code(error_code).with_api_keys(api_keys).with_finalized_features_epoch(-1)
}

/// The table and the feature levels (KIP-584). As Kafka, a v3 client is not shown
/// features supported from level 0 (KAFKA-17492: older clients took a 0 minimum for
/// a malformed range), and finalized levels of 0 are left out.
pub fn handle(ctx: &RequestContext, req: ApiVersionsRequest) -> ApiVersionsResponse {
    if ctx.version >= 3 && !req.client_software_name.is_empty() {
        // KIP-511: the first one named on the connection stays.
        let _ =
            ctx.session.software.set((req.client_software_name.to_string(), req.client_software_version.to_string()));
    }
    let resp = response(0);
    if ctx.version < 3 {
        return resp;
    }
    let supported = FEATURES
        .iter()
        .filter(|f| ctx.version >= 4 || f.min > 0)
        .map(|f| {
            SupportedFeatureKey::default().with_name(str_bytes(f.name)).with_min_version(f.min).with_max_version(f.max)
        })
        .collect();
    let finalized = ctx
        .broker
        .finalized_features()
        .into_iter()
        .filter(|(_, level)| *level > 0)
        .map(|(name, level)| {
            FinalizedFeatureKey::default()
                .with_name(str_bytes(name))
                .with_min_version_level(level)
                .with_max_version_level(level)
        })
        .collect();
    resp.with_supported_features(supported)
        .with_finalized_features_epoch(ctx.broker.features_epoch())
        .with_finalized_features(finalized)
}
