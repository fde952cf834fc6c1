use super::*;

#[test]
fn the_shipped_weir_toml_documents_every_broker_key() {
    let example = include_str!("../../../weir.toml");
    // A key that starts another is quoted (TOML: `"max.connections" = ...`).
    let documented = |k: &str| {
        example.lines().any(|l| {
            let l = l.trim_start_matches(['#', ' ']);
            l.starts_with(&format!("{k} =")) || l.starts_with(&format!("\"{k}\" ="))
        })
    };
    for (key, ..) in BROKER_KEYS {
        assert!(documented(key), "weir.toml does not document broker key {key}");
    }
    for def in TOPIC_CONFIGS {
        let Some((first, _)) = def.synonyms.first() else { continue }; // topic-only keys
        assert!(documented(first), "weir.toml does not document {first} (topic key {})", def.name);
    }
    assert!(BrokerConfig::default().set("group.consumer.assignors", "range,uniform").is_ok());
    assert!(BrokerConfig::default().set("group.consumer.assignors", "sticky").is_err());
}

#[test]
fn the_no_effect_key_list_in_the_docs_matches_the_code() {
    let doc = include_str!("../../../docs/kafka-keys-without-effect.md");
    for (key, ..) in kafka_keys::KAFKA_BROKER_KEYS {
        let listed = doc.contains(&format!("| `{key}` |"));
        assert_eq!(listed, !is_broker_key(key), "{key}: listed {listed}, read by Weir {}", is_broker_key(key));
    }
}

#[test]
fn kafka_keys_weir_does_not_use_are_accepted_type_checked_and_recorded() {
    let mut c = BrokerConfig::default();
    c.set("process.roles", "broker,controller").unwrap();
    c.set("num.io.threads", "8").unwrap();
    assert_eq!(c.no_effect.get("process.roles").map(String::as_str), Some("broker,controller"));
    assert!(!c.set.contains_key("num.io.threads"), "not a setting Weir reads");
    assert!(c.set("num.io.threads", "eight").unwrap_err().to_string().contains("not a number"));
    assert!(c.set("auto.leader.rebalance.enable", "maybe").is_err());
    // Keys Weir reads are not in the no-effect list.
    c.set("num.partitions", "3").unwrap();
    assert!(!c.no_effect.contains_key("num.partitions"));
    let err = c.set("num.io.thread", "8").unwrap_err().to_string();
    assert!(err.contains("did you mean 'num.io.threads'?"), "{err}");
    // Kafka's internal keys are Kafka keys too.
    c.set("unstable.api.versions.enable", "true").unwrap();
    assert!(c.set("unstable.api.versions.enable", "yes").is_err());
    assert_eq!(c.no_effect.get("unstable.api.versions.enable").map(String::as_str), Some("true"));
}

#[test]
fn a_misspelt_key_names_the_nearest_known_one() {
    let err = BrokerConfig::default().set("log.retention.hour", "1").unwrap_err().to_string();
    assert!(err.contains("did you mean 'log.retention.hours'?"), "{err}");
    let err = BrokerConfig::default().set("auto.create.topic.enable", "true").unwrap_err().to_string();
    assert!(err.contains("'auto.create.topics.enable'"), "{err}");
    assert_eq!(nearest_key("no.such.key"), None, "nothing close: no guess");
}

#[test]
fn synonyms_convert_units_and_follow_precedence() {
    let mut b = BrokerConfig::default();
    b.set("log.retention.hours", "2").unwrap();
    let def = topic_config_def("retention.ms").unwrap();
    let (v, src, key) = b.topic_default(def).unwrap();
    assert_eq!((v.as_str(), src, key), ("7200000", source::STATIC_BROKER_CONFIG, "log.retention.hours"));
    b.set("log.retention.ms", "1000").unwrap();
    assert_eq!(b.topic_default(def).unwrap().0, "1000");
    let mut o = BTreeMap::new();
    o.insert("retention.ms".to_string(), "5".to_string());
    assert_eq!(b.log_config(&o).retention_ms, 5);
}

#[test]
fn flush_keys_select_interval_policy() {
    let mut b = BrokerConfig::default();
    assert_eq!(b.log_config(&BTreeMap::new()).flush, FlushPolicy::Durable);
    b.set("log.flush.interval.messages", "9223372036854775807").unwrap();
    assert_eq!(b.log_config(&BTreeMap::new()).flush, FlushPolicy::Interval { messages: i64::MAX, ms: i64::MAX });
}

#[test]
fn bad_values_and_keys_are_refused() {
    let mut b = BrokerConfig::default();
    assert!(b.set("no.such.key", "1").is_err());
    assert!(b.set("auto.create.topics.enable", "yes").is_err());
    assert!(b.set("log.cleanup.policy", "shred").is_err());
    let mut o = BTreeMap::new();
    o.insert("retention.ms".to_string(), "-7".to_string());
    assert!(validate_topic_configs(&o).is_err());
    o.clear();
    o.insert("cleanup.policy".to_string(), "compact,delete".to_string());
    assert!(validate_topic_configs(&o).is_ok());
    o.insert("bogus".to_string(), "1".to_string());
    assert!(validate_topic_configs(&o).is_err());
}

#[test]
fn per_listener_keys_name_their_listener() {
    assert_eq!(listener_key("listener.name.sasl_ssl.max.connections"), Some(("SASL_SSL".into(), "max.connections")));
    assert_eq!(listener_key("listener.name..max.connections"), None);
    assert_eq!(listener_key("listener.name.a.b.max.connections"), None, "a listener name has no dots");
    assert_eq!(listener_key("listener.name.internal.max.connection"), None);
    let mut b = BrokerConfig::default();
    b.set("listener.name.internal.max.connections", "3").unwrap();
    assert!(b.set("listener.name.internal.max.connections", "three").is_err());
    assert!(b.set("listener.name.internal.no.such.key", "1").is_err());
}
