//! UpdateFeatures (key 57): changes finalized feature levels (see
//! `crate::features`). The first update that fails refuses the whole request with
//! INVALID_UPDATE_VERSION, as Kafka's controller does; v0-v1 answer each feature on
//! success, v2 only at the top.

use kafka_protocol::messages::update_features_response::UpdatableFeatureResult;
use kafka_protocol::messages::{UpdateFeaturesRequest, UpdateFeaturesResponse};
use kafka_protocol::ResponseError;

use super::{blocking, str_bytes, RequestContext};
use crate::auth::{Operation, Resource};
use crate::features::{FeatureError, UpgradeType};

pub async fn handle(ctx: &RequestContext, req: UpdateFeaturesRequest) -> UpdateFeaturesResponse {
    if !ctx.authorize(Operation::Alter, Resource::Cluster) {
        return UpdateFeaturesResponse::default().with_error_code(ResponseError::ClusterAuthorizationFailed.code());
    }
    let updates: Vec<(String, i16, UpgradeType)> = req
        .feature_updates
        .iter()
        .map(|u| {
            let kind = match ctx.version {
                0 if u.allow_downgrade => UpgradeType::SafeDowngrade,
                0 => UpgradeType::Upgrade,
                _ => UpgradeType::from_code(u.upgrade_type),
            };
            (u.feature.to_string(), u.max_version_level, kind)
        })
        .collect();
    let names: Vec<String> = updates.iter().map(|u| u.0.clone()).collect();
    let b = ctx.broker.clone();
    let validate_only = req.validate_only;
    let result = blocking(move || b.update_features(&updates, validate_only)).await;
    let resp = UpdateFeaturesResponse::default().with_error_message(None);
    match result {
        Ok(()) if ctx.version <= 1 => resp.with_results(
            names
                .into_iter()
                .map(|n| UpdatableFeatureResult::default().with_feature(str_bytes(n)).with_error_message(None))
                .collect(),
        ),
        Ok(()) => resp,
        Err(e) => {
            let code = match &e {
                FeatureError::Invalid(_) => ResponseError::InvalidUpdateVersion,
                FeatureError::Broker(b) => super::errors::broker(b),
            };
            resp.with_error_code(code.code()).with_error_message(Some(str_bytes(e.to_string())))
        }
    }
}
