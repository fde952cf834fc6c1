//! Client quotas with Kafka's entity model: an entity is a set of (type, name)
//! pairs over `user`, `client-id` and `ip`, a missing name meaning the type's
//! default entity; each entity holds quota values (`producer_byte_rate`,
//! `consumer_byte_rate`, `request_percentage`, `controller_mutation_rate`; for `ip`
//! entities `connection_creation_rate`). Kept in the metadata log
//! (`ClientQuotasAltered`), changed with AlterClientQuotas and matched with
//! DescribeClientQuotas filters, each with Kafka's checks and messages.
//! Byte-rate and request-time quotas are enforced by [`throttle`];
//! controller mutation and connection creation rates are stored, not enforced.

pub mod throttle;

use std::collections::BTreeMap;

pub type Entity = BTreeMap<String, Option<String>>;

pub const USER: &str = "user";
pub const CLIENT_ID: &str = "client-id";
pub const IP: &str = "ip";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum KeyType {
    Int,
    Long,
    Double,
}

fn key_type(entity: &Entity, key: &str) -> Option<KeyType> {
    if entity.contains_key(IP) {
        return (key == "connection_creation_rate").then_some(KeyType::Int);
    }
    match key {
        "producer_byte_rate" | "consumer_byte_rate" => Some(KeyType::Long),
        "request_percentage" | "controller_mutation_rate" => Some(KeyType::Double),
        _ => None,
    }
}

/// How a DescribeClientQuotas filter component matches an entity's name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Match {
    Exact(String),
    Default,
    Specified,
}

/// A filter that is refused: UNSUPPORTED_VERSION (unknown type) or INVALID_REQUEST.
#[derive(Debug, PartialEq, Eq)]
pub enum FilterError {
    UnsupportedType(String),
    Invalid(String),
}

/// Kafka's checks of a filter's components `(type, match type, match)`.
pub fn check_filter(components: &[(String, i8, Option<String>)]) -> Result<Vec<(String, Match)>, FilterError> {
    let mut out: Vec<(String, Match)> = Vec::new();
    for (ty, match_type, m) in components {
        if ty.is_empty() {
            return Err(FilterError::Invalid("Invalid empty entity type.".into()));
        }
        if out.iter().any(|(t, _)| t == ty) {
            return Err(FilterError::Invalid(format!("Entity type {ty} cannot appear more than once in the filter.")));
        }
        if ![USER, CLIENT_ID, IP].contains(&ty.as_str()) {
            return Err(FilterError::UnsupportedType(format!("Unsupported entity type {ty}")));
        }
        let matched = match (match_type, m) {
            (0, Some(m)) => Match::Exact(m.clone()),
            (0, None) => {
                return Err(FilterError::Invalid(
                    "Request specified MATCH_TYPE_EXACT, but set match string to null.".into(),
                ))
            }
            (1, None) => Match::Default,
            (1, Some(_)) => {
                return Err(FilterError::Invalid(
                    "Request specified MATCH_TYPE_DEFAULT, but also specified a match string.".into(),
                ))
            }
            (2, None) => Match::Specified,
            (2, Some(_)) => {
                return Err(FilterError::Invalid(
                    "Request specified MATCH_TYPE_SPECIFIED, but also specified a match string.".into(),
                ))
            }
            (n, _) => return Err(FilterError::Invalid(format!("Unknown match type {n}"))),
        };
        out.push((ty.clone(), matched));
    }
    let has = |t: &str| out.iter().any(|(x, _)| x == t);
    if has(IP) && (has(USER) || has(CLIENT_ID)) {
        return Err(FilterError::Invalid(
            "Invalid entity filter component combination. IP filter component should not be used with user or clientId filter component."
                .into(),
        ));
    }
    Ok(out)
}

/// Whether `entity` matches every component (and, when strict, has no other type).
pub fn matches(entity: &Entity, components: &[(String, Match)], strict: bool) -> bool {
    if strict && entity.len() != components.len() {
        return false;
    }
    components.iter().all(|(ty, m)| match (entity.get(ty), m) {
        (Some(Some(name)), Match::Exact(want)) => name == want,
        (Some(None), Match::Default) => true,
        (Some(Some(_)), Match::Specified) => true,
        _ => false,
    })
}

fn describe_entity(entity: &Entity) -> String {
    let parts: Vec<String> =
        entity.iter().map(|(t, n)| format!("{t}={}", n.as_deref().unwrap_or("<default>"))).collect();
    format!("ClientQuotaEntity(entries={{{}}})", parts.join(", "))
}

/// Kafka's checks of one AlterClientQuotas entry: the entity, then each op
/// `(key, value, remove)`. Returns the changes (`None`: remove the key).
pub fn check_entry(entity: &Entity, ops: &[(String, f64, bool)]) -> Result<Vec<(String, Option<f64>)>, String> {
    let mut keys = std::collections::HashSet::new();
    if ops.iter().any(|(k, ..)| !keys.insert(k.as_str())) {
        // Kafka reports a repeated key this way (its duplicate-key error is
        // overwritten by the duplicate-entity one).
        return Err(format!("Ignoring duplicate entity {}", describe_entity(entity)));
    }
    if entity.is_empty() {
        return Err("Invalid empty client quota entity".into());
    }
    for (ty, name) in entity {
        if ![USER, CLIENT_ID, IP].contains(&ty.as_str()) {
            return Err(format!("Unhandled client quota entity type: {ty}"));
        }
        if name.as_deref() == Some("") {
            return Err(format!("Empty {ty} not supported"));
        }
    }
    if entity.contains_key(IP) {
        if entity.contains_key(USER) || entity.contains_key(CLIENT_ID) {
            return Err(
                "Invalid quota entity combination, IP entity shouldnot be combined with User or ClientId".into()
            );
        }
        if let Some(Some(ip)) = entity.get(IP) {
            use std::net::ToSocketAddrs;
            let resolves = ip.parse::<std::net::IpAddr>().is_ok()
                || (ip.as_str(), 0).to_socket_addrs().is_ok_and(|mut a| a.next().is_some());
            if !resolves {
                return Err(format!("{ip} is not a valid IP or resolvable host."));
            }
        }
    }
    let mut out = Vec::with_capacity(ops.len());
    for (key, value, remove) in ops {
        // A removal is not validated (as Kafka): removing what is not there
        // changes nothing.
        if *remove {
            out.push((key.clone(), None));
            continue;
        }
        let Some(ty) = key_type(entity, key) else {
            return Err(format!("Invalid configuration key {key}"));
        };
        // Stored as JSON, which has no infinity or NaN: refused rather than
        // stored as something else.
        if !value.is_finite() {
            return Err(format!("Quota {key} must be a finite number"));
        }
        if *value <= 0.0 {
            return Err(format!("Quota {key} must be greater than 0"));
        }
        let max = match ty {
            KeyType::Int => Some((i32::MAX as f64, "INT")),
            KeyType::Long => Some((i64::MAX as f64, "LONG")),
            KeyType::Double => None,
        };
        if let Some((max, name)) = max {
            if *value > max {
                return Err(format!("Proposed value for {key} is too large for an {name}."));
            }
            if (value - value.round()).abs() > 1e-6 {
                return Err(format!("{key} cannot be a fractional value."));
            }
        }
        out.push((key.clone(), Some(*value)));
    }
    Ok(out)
}

/// One AlterClientQuotas entry's outcome.
pub type AlterOutcome = (Entity, Result<(), String>);

/// One AlterClientQuotas entry: the entity and its ops `(key, value, remove)`.
pub type QuotaEntry = (Entity, Vec<(String, f64, bool)>);

impl crate::BrokerHandle {
    /// Records `bytes` for this user and client against their byte-rate quota
    /// of `kind`; how long the client is throttled (ms).
    pub fn throttle(&self, kind: throttle::Kind, user: &str, client_id: &str, bytes: usize) -> u64 {
        self.core.throttler.record(kind, user, client_id, bytes, self.core.clock.now_ms())
    }

    /// Whether some client has a request-time quota (`request_percentage`).
    pub fn request_quotas(&self) -> bool {
        self.core.throttler.request_quotas()
    }

    /// Every stored entity with its quotas.
    pub fn client_quotas(&self) -> Vec<(Entity, BTreeMap<String, f64>)> {
        self.core.meta.client_quotas()
    }

    /// Checks each entry and stores the accepted ones (unless `validate_only`).
    /// An entity named twice is refused the second time, as Kafka refuses it,
    /// after its first changes were accepted. Blocking.
    pub fn alter_client_quotas(
        &self,
        entries: Vec<QuotaEntry>,
        validate_only: bool,
    ) -> Result<Vec<AlterOutcome>, crate::error::BrokerError> {
        self.core.meta.with_writer(|w| {
            let mut out: Vec<AlterOutcome> = Vec::new();
            for (entity, ops) in entries {
                if let Some(prev) = out.iter_mut().find(|(e, _)| *e == entity) {
                    prev.1 = Err(format!("Ignoring duplicate entity {}", describe_entity(&entity)));
                    continue;
                }
                match check_entry(&entity, &ops) {
                    Ok(changes) => {
                        if !validate_only && !changes.is_empty() {
                            w.commit(crate::metadata::Event::ClientQuotasAltered { entity: entity.clone(), changes })?;
                            tracing::info!(entity = %describe_entity(&entity), "client quota stored");
                        }
                        out.push((entity, Ok(())));
                    }
                    Err(e) => out.push((entity, Err(e))),
                }
            }
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entity(pairs: &[(&str, Option<&str>)]) -> Entity {
        pairs.iter().map(|(t, n)| (t.to_string(), n.map(str::to_string))).collect()
    }

    #[test]
    fn filters_are_checked_and_matched_as_kafka_does() {
        let c = |ty: &str, mt: i8, m: Option<&str>| (ty.to_string(), mt, m.map(str::to_string));
        assert_eq!(
            check_filter(&[c("group", 0, Some("g"))]),
            Err(FilterError::UnsupportedType("Unsupported entity type group".into()))
        );
        assert!(matches!(check_filter(&[c("user", 0, None)]), Err(FilterError::Invalid(_))));
        assert!(matches!(check_filter(&[c("user", 1, None), c("user", 2, None)]), Err(FilterError::Invalid(_))));
        assert!(matches!(check_filter(&[c("ip", 2, None), c("user", 2, None)]), Err(FilterError::Invalid(_))));
        let alice_app = entity(&[("user", Some("alice")), ("client-id", Some("app"))]);
        let default_user = entity(&[("user", None)]);
        let f = check_filter(&[c("user", 0, Some("alice"))]).unwrap();
        assert!(matches(&alice_app, &f, false) && !matches(&alice_app, &f, true));
        let f = check_filter(&[c("user", 1, None)]).unwrap();
        assert!(matches(&default_user, &f, true) && !matches(&alice_app, &f, false));
        let f = check_filter(&[c("user", 2, None), c("client-id", 2, None)]).unwrap();
        assert!(matches(&alice_app, &f, true));
        assert!(matches(&alice_app, &[], false) && !matches(&alice_app, &[], true));
    }

    #[test]
    fn entries_are_checked_as_kafka_checks_them() {
        let op = |k: &str, v: f64| (k.to_string(), v, false);
        let alice = entity(&[("user", Some("alice"))]);
        assert_eq!(
            check_entry(&alice, &[op("producer_byte_rate", 1024.0)]),
            Ok(vec![("producer_byte_rate".into(), Some(1024.0))])
        );
        assert_eq!(
            check_entry(&alice, &[op("connection_creation_rate", 5.0)]),
            Err("Invalid configuration key connection_creation_rate".into())
        );
        assert_eq!(
            check_entry(&alice, &[op("producer_byte_rate", 0.0)]),
            Err("Quota producer_byte_rate must be greater than 0".into())
        );
        assert_eq!(
            check_entry(&alice, &[op("producer_byte_rate", 1.5)]),
            Err("producer_byte_rate cannot be a fractional value.".into())
        );
        assert!(check_entry(&alice, &[op("request_percentage", 12.5)]).is_ok());
        for bad in [f64::INFINITY, f64::NAN] {
            assert_eq!(
                check_entry(&alice, &[op("request_percentage", bad)]),
                Err("Quota request_percentage must be a finite number".into())
            );
        }
        let ip = entity(&[("ip", Some("10.0.0.1"))]);
        assert_eq!(
            check_entry(&ip, &[("producer_byte_rate".into(), 0.0, true)]),
            Ok(vec![("producer_byte_rate".into(), None)]),
            "a removal is not checked against the entity"
        );
        assert!(check_entry(&alice, &[op("producer_byte_rate", 1.0), op("producer_byte_rate", 2.0)])
            .unwrap_err()
            .starts_with("Ignoring duplicate entity"));
        assert_eq!(check_entry(&entity(&[]), &[]), Err("Invalid empty client quota entity".into()));
        assert_eq!(
            check_entry(&entity(&[("group", Some("g"))]), &[]),
            Err("Unhandled client quota entity type: group".into())
        );
        assert_eq!(check_entry(&entity(&[("user", Some(""))]), &[]), Err("Empty user not supported".into()));
        let ip = entity(&[("ip", Some("10.0.0.1"))]);
        assert!(check_entry(&ip, &[op("connection_creation_rate", 5.0)]).is_ok());
        assert_eq!(
            check_entry(&ip, &[op("connection_creation_rate", 3e10)]),
            Err("Proposed value for connection_creation_rate is too large for an INT.".into())
        );
        assert!(check_entry(&entity(&[("ip", Some("10.0.0.1")), ("user", None)]), &[])
            .unwrap_err()
            .contains("shouldnot be combined"));
    }
}
