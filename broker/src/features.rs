//! Feature levels (KIP-584): what ApiVersions reports as supported and finalized,
//! and what UpdateFeatures may change.
//!
//! Weir offers the features whose levels change what clients see:
//! `metadata.version` at Kafka 4.1's level (27, 4.1-IV1; Weir's metadata log is
//! its own format, so no other level is offered) and `group.version` 0-1 (1: the
//! KIP-848 consumer protocol is served; 0 turns ConsumerGroupHeartbeat and
//! ConsumerGroupDescribe off, as in Kafka) and `share.version` 0-1 (1: share
//! groups, KIP-932, are served; 0 refuses their APIs). `transaction.version` 2 (KIP-890 part
//! 2) is not offered, so it is left out, as Kafka leaves out features it supports
//! only at level 0. Finalized levels are kept in the metadata log
//! (`FeatureLevelChanged`); a cluster starts at each feature's default.

use std::fmt;

/// A feature this broker supports.
pub struct FeatureDef {
    pub name: &'static str,
    pub min: i16,
    pub max: i16,
    /// The level a new cluster runs at.
    pub default: i16,
}

pub const METADATA_VERSION: &str = "metadata.version";
pub const GROUP_VERSION: &str = "group.version";
pub const SHARE_VERSION: &str = "share.version";

pub const FEATURES: &[FeatureDef] = &[
    FeatureDef { name: GROUP_VERSION, min: 0, max: 1, default: 1 },
    FeatureDef { name: METADATA_VERSION, min: 27, max: 27, default: 27 },
    FeatureDef { name: SHARE_VERSION, min: 0, max: 1, default: 1 },
];

pub fn feature(name: &str) -> Option<&'static FeatureDef> {
    FEATURES.iter().find(|f| f.name == name)
}

/// UpdateFeatures' upgrade types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpgradeType {
    Upgrade,
    SafeDowngrade,
    UnsafeDowngrade,
    Unknown,
}

impl UpgradeType {
    pub fn from_code(code: i8) -> UpgradeType {
        match code {
            1 => UpgradeType::Upgrade,
            2 => UpgradeType::SafeDowngrade,
            3 => UpgradeType::UnsafeDowngrade,
            _ => UpgradeType::Unknown,
        }
    }
}

/// Why a feature cannot be set to a level (Kafka's INVALID_UPDATE_VERSION reasons).
#[derive(Debug, PartialEq, Eq)]
pub struct InvalidUpdate {
    pub feature: String,
    pub level: i16,
    pub reason: String,
}

impl fmt::Display for InvalidUpdate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Invalid update version {} for feature {}. {}", self.level, self.feature, self.reason)
    }
}

/// Kafka's checks of one update, in its order; `current` is the finalized level.
pub fn check_update(
    node_id: i32,
    name: &str,
    level: i16,
    kind: UpgradeType,
    current: i16,
) -> Result<(), InvalidUpdate> {
    let fail = |reason: String| Err(InvalidUpdate { feature: name.to_string(), level, reason });
    if kind == UpgradeType::Unknown {
        return fail("The controller does not support the given upgrade type.".into());
    }
    if level < 0 {
        return fail("A feature version cannot be less than 0.".into());
    }
    let Some(def) = feature(name) else {
        if level > 0 {
            return fail(format!("Local controller {node_id} does not support this feature."));
        }
        return fail(format!("Feature {name} not found."));
    };
    if level < def.min || level > def.max {
        let range = if def.min == def.max { def.min.to_string() } else { format!("{}-{}", def.min, def.max) };
        return fail(format!("Local controller {node_id} only supports versions {range}"));
    }
    if level < current && kind == UpgradeType::Upgrade {
        return fail(
            "Can't downgrade the version of this feature without setting the upgrade type to either safe or unsafe downgrade."
                .into(),
        );
    }
    if level > current && kind != UpgradeType::Upgrade {
        return fail("Can't downgrade to a newer version.".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updates_are_checked_in_kafkas_order_with_its_reasons() {
        let ok = |n, l, k, c| check_update(1, n, l, k, c);
        assert!(ok(GROUP_VERSION, 0, UpgradeType::SafeDowngrade, 1).is_ok());
        assert!(ok(GROUP_VERSION, 1, UpgradeType::Upgrade, 0).is_ok());
        assert!(ok(GROUP_VERSION, 1, UpgradeType::Upgrade, 1).is_ok(), "same level: nothing to do");
        let reason = |n, l, k, c| check_update(1, n, l, k, c).unwrap_err().to_string();
        assert_eq!(
            reason(GROUP_VERSION, 0, UpgradeType::Upgrade, 1),
            "Invalid update version 0 for feature group.version. Can't downgrade the version of this feature \
             without setting the upgrade type to either safe or unsafe downgrade."
        );
        assert!(
            reason(GROUP_VERSION, 1, UpgradeType::SafeDowngrade, 0).ends_with("Can't downgrade to a newer version.")
        );
        assert!(reason(GROUP_VERSION, 2, UpgradeType::Upgrade, 1)
            .ends_with("Local controller 1 only supports versions 0-1"));
        assert!(reason(METADATA_VERSION, 26, UpgradeType::SafeDowngrade, 27).ends_with("only supports versions 27"));
        assert!(reason("transaction.version", 2, UpgradeType::Upgrade, 0).ends_with("does not support this feature."));
        assert!(reason("foo", 0, UpgradeType::Upgrade, 0).ends_with("Feature foo not found."));
        assert!(reason(GROUP_VERSION, -1, UpgradeType::Upgrade, 1).ends_with("cannot be less than 0."));
        assert!(reason(GROUP_VERSION, 1, UpgradeType::Unknown, 1).ends_with("does not support the given upgrade type."));
    }
}

/// Why UpdateFeatures failed.
#[derive(Debug, thiserror::Error)]
pub enum FeatureError {
    #[error("{0}")]
    Invalid(InvalidUpdate),
    #[error(transparent)]
    Broker(#[from] crate::error::BrokerError),
}

impl crate::BrokerHandle {
    /// Each supported feature's finalized level.
    pub fn finalized_features(&self) -> Vec<(&'static str, i16)> {
        self.core.meta.finalized_features()
    }

    /// Grows whenever the metadata changes, as Kafka's finalized-features epoch
    /// (the metadata image's offset) does.
    pub fn features_epoch(&self) -> i64 {
        self.core.meta.end_offset()
    }

    /// Whether KIP-848 consumer groups are served: `consumer` among
    /// `group.coordinator.rebalance.protocols` and `group.version` at least 1.
    pub fn consumer_protocol_enabled(&self) -> bool {
        self.settings().consumer_group.enabled && self.core.meta.finalized_level(GROUP_VERSION) >= 1
    }

    /// Whether share groups (KIP-932) are served: `share.version` at least 1.
    pub fn share_groups_enabled(&self) -> bool {
        self.core.meta.finalized_level(SHARE_VERSION) >= 1
    }

    /// Checks every update (the first failure refuses them all), then stores
    /// them unless `validate_only`. Blocking.
    pub fn update_features(
        &self,
        updates: &[(String, i16, UpgradeType)],
        validate_only: bool,
    ) -> Result<(), FeatureError> {
        let node = self.cluster().node_id();
        self.core.meta.with_writer(|w| {
            let current = self.core.meta.finalized_features();
            for (name, level, kind) in updates {
                let now = current.iter().find(|(n, _)| n == name).map_or(0, |c| c.1);
                check_update(node, name, *level, *kind, now).map_err(FeatureError::Invalid)?;
            }
            if !validate_only {
                for (name, level, _) in updates {
                    if current.iter().any(|(n, l)| n == name && l != level) {
                        w.commit(crate::metadata::Event::FeatureLevelChanged { name: name.clone(), level: *level })?;
                    }
                }
            }
            Ok(())
        })
    }
}
