use std::net::IpAddr;

use super::model::*;
use super::*;
use crate::net::Principal;

fn acl(ty: i8, name: &str, pattern: i8, principal: &str, host: &str, op: i8, perm: i8) -> AclBinding {
    AclBinding {
        resource_type: ty,
        name: name.into(),
        pattern_type: pattern,
        principal: principal.into(),
        host: host.into(),
        operation: op,
        permission: perm,
    }
}

fn user(name: &str) -> Principal {
    Principal { kind: "User".into(), name: name.into() }
}

const HOST: &str = "10.0.0.7";

fn decide(set: &AclSet, who: &str, op: i8, ty: i8, name: &str) -> Option<bool> {
    set.decide(&user(who), HOST.parse::<IpAddr>().unwrap(), op, ty, name)
}

use model::operation as op;
use model::pattern_type::{LITERAL, PREFIXED};
use model::permission::{ALLOW, DENY};
use model::resource_type::{CLUSTER, GROUP, TOPIC};

#[test]
fn literal_prefixed_and_wildcard_patterns_apply_as_kafka_applies_them() {
    let set = AclSet::build(&[
        acl(TOPIC, "orders", LITERAL, "User:alice", "*", op::READ, ALLOW),
        acl(TOPIC, "pay-", PREFIXED, "User:bob", "*", op::WRITE, ALLOW),
        acl(TOPIC, "*", LITERAL, "User:carol", "*", op::DESCRIBE, ALLOW),
    ]);
    assert_eq!(decide(&set, "alice", op::READ, TOPIC, "orders"), Some(true));
    assert_eq!(decide(&set, "alice", op::WRITE, TOPIC, "orders"), Some(false), "READ does not give WRITE");
    assert_eq!(decide(&set, "alice", op::DESCRIBE, TOPIC, "orders"), Some(true), "READ implies DESCRIBE");
    assert_eq!(decide(&set, "alice", op::READ, TOPIC, "orders2"), Some(false), "the wildcard ACL applies, not hers");
    assert_eq!(decide(&set, "bob", op::WRITE, TOPIC, "pay-eu"), Some(true));
    assert_eq!(decide(&set, "bob", op::WRITE, TOPIC, "pa"), Some(false));
    assert_eq!(decide(&set, "carol", op::DESCRIBE, TOPIC, "anything"), Some(true));
    assert_eq!(decide(&set, "carol", op::READ, TOPIC, "anything"), Some(false));
    assert_eq!(decide(&set, "alice", op::READ, GROUP, "g"), None, "no ACL on the resource");
}

#[test]
fn deny_wins_and_principals_and_hosts_must_match() {
    let set = AclSet::build(&[
        acl(TOPIC, "t", LITERAL, "User:*", "*", op::ALL, ALLOW),
        acl(TOPIC, "t", LITERAL, "User:mallory", "*", op::WRITE, DENY),
        acl(TOPIC, "t", LITERAL, "User:eve", "10.9.9.9", op::ALL, DENY),
        acl(GROUP, "g", LITERAL, "User:dave", "10.0.0.8", op::READ, ALLOW),
        acl(CLUSTER, CLUSTER_NAME, LITERAL, "User:ops", "*", op::ALTER_CONFIGS, ALLOW),
    ]);
    assert_eq!(decide(&set, "anyone", op::WRITE, TOPIC, "t"), Some(true), "User:* with ALL");
    assert_eq!(decide(&set, "mallory", op::WRITE, TOPIC, "t"), Some(false), "DENY beats ALLOW");
    assert_eq!(decide(&set, "mallory", op::READ, TOPIC, "t"), Some(true), "the DENY is for WRITE only");
    assert_eq!(decide(&set, "eve", op::READ, TOPIC, "t"), Some(true), "her DENY is for another host");
    assert_eq!(decide(&set, "dave", op::READ, GROUP, "g"), Some(false), "another host");
    assert_eq!(
        decide(&set, "ops", op::DESCRIBE_CONFIGS, CLUSTER, CLUSTER_NAME),
        Some(true),
        "ALTER_CONFIGS implies it"
    );
    assert_eq!(decide(&set, "ops", op::DESCRIBE, CLUSTER, CLUSTER_NAME), Some(false));
}

#[test]
fn some_topic_allowed_for_idempotent_producers() {
    let host: IpAddr = HOST.parse().unwrap();
    let set = AclSet::build(&[acl(TOPIC, "logs-", PREFIXED, "User:p", "*", op::WRITE, ALLOW)]);
    assert_eq!(set.decide_any(&user("p"), host, op::WRITE, TOPIC), Some(true));
    assert_eq!(set.decide_any(&user("q"), host, op::WRITE, TOPIC), Some(false));
    assert_eq!(set.decide_any(&user("p"), host, op::WRITE, GROUP), None);
    let denied = AclSet::build(&[
        acl(TOPIC, "logs-", PREFIXED, "User:p", "*", op::WRITE, ALLOW),
        acl(TOPIC, "*", LITERAL, "User:p", "*", op::WRITE, DENY),
    ]);
    assert_eq!(denied.decide_any(&user("p"), host, op::WRITE, TOPIC), Some(false), "denied on every topic");
}

#[test]
fn creations_and_filters_are_checked() {
    let ok = acl(TOPIC, "t", LITERAL, "User:a", "*", op::READ, ALLOW);
    assert!(ok.validate().is_ok());
    let bad = |f: &dyn Fn(&mut AclBinding)| {
        let mut a = ok.clone();
        f(&mut a);
        a.validate().unwrap_err()
    };
    assert!(bad(&|a| a.principal = "alice".into()).contains("principal"));
    assert!(bad(&|a| a.operation = op::ANY).contains("operation"));
    assert!(bad(&|a| a.pattern_type = model::pattern_type::MATCH).contains("pattern"));
    assert!(bad(&|a| a.host = "not-an-ip".into()).contains("host"));
    assert!(bad(&|a| {
        a.resource_type = CLUSTER;
        a.name = "other".into()
    })
    .contains(CLUSTER_NAME));
    let matching = |name: &str, pattern: i8| AclFilter {
        resource_type: TOPIC,
        name: Some(name.into()),
        pattern_type: pattern,
        principal: None,
        host: None,
        operation: op::ANY,
        permission: model::permission::ANY,
    };
    let prefixed = acl(TOPIC, "pay-", PREFIXED, "User:b", "*", op::WRITE, ALLOW);
    let wildcard = acl(TOPIC, "*", LITERAL, "User:c", "*", op::READ, ALLOW);
    let f = matching("pay-eu", model::pattern_type::MATCH);
    assert!(f.matches(&prefixed) && f.matches(&wildcard) && !f.matches(&ok));
    let f = matching("pay-", PREFIXED);
    assert!(f.matches(&prefixed) && !f.matches(&wildcard));
    let f = matching("t", model::pattern_type::ANY);
    assert!(f.matches(&ok) && !f.matches(&prefixed));
    assert!(parse_super_users("User:admin; User:ops").unwrap().len() == 2);
    assert!(parse_super_users("admin").is_err());
}
