use super::*;

const MM2: &str = r#"
# A typical MM2 file: two clusters, one flow, a few overrides.
clusters = A, B
A.bootstrap.servers = a1:9092,a2:9092
B.bootstrap.servers = b1:9092
security.protocol = PLAINTEXT
B.security.protocol = SASL_SSL
B.sasl.mechanism = SCRAM-SHA-512
A->B.enabled = true
A->B.topics = orders, pay.*
topics.exclude = .*-tmp
A->B.consumer.fetch.min.bytes = 1024
A.consumer.fetch.min.bytes = 2048
A->B.producer.linger.ms = 5
B.producer.compression.type = zstd
replication.factor = 1
emit.checkpoints.interval.seconds = 10
sync.group.offsets.enabled = true
tasks.max = 4
consumer.max.poll.records = 7
"#;

#[test]
fn flows_settings_and_mm2_defaults() {
    let c = MirrorConfig::parse(MM2, &[]).unwrap();
    assert_eq!(c.clusters, ["A", "B"]);
    assert_eq!(c.flows.len(), 1, "B->A is not enabled");
    let f = &c.flows[0];
    assert_eq!(f.name(), "A->B");
    assert!(f.topics.matches("orders") && f.topics.matches("payments"));
    assert!(!f.topics.matches("payments-tmp"), "the top-level exclude applies to the flow");
    assert!(!f.topics.matches("audit"));
    assert!(f.groups.matches("billing") && !f.groups.matches("console-consumer-1"));
    assert_eq!(f.policy, Policy::default_policy());
    assert_eq!(f.replication_factor, 1);
    assert_eq!(f.emit_checkpoints, Some(Duration::from_secs(10)));
    assert_eq!(f.sync_group_offsets, Some(Duration::from_secs(60)));
    assert_eq!(f.refresh_topics, Some(Duration::from_secs(5)), "new topics within 5 s");
    assert_eq!(f.emit_heartbeats, Some(Duration::from_secs(1)));
    assert_eq!((f.offset_lag_max, f.offset_syncs_on_target, f.exactly_once, f.mode), (100, false, false, Mode::Copy));
    assert!(f.sync_topic_configs && f.config_properties_exclude.matches("min.insync.replicas"));
    assert_eq!(c.unused, ["tasks.max", "consumer.max.poll.records"], "MM2 ignores a top-level consumer.* too");
}

#[test]
fn clients_resolve_with_mm2s_precedence() {
    let c = MirrorConfig::parse(MM2, &[]).unwrap();
    let f = &c.flows[0];
    let consumer = c.client(f, "A", ClientKind::Consumer);
    assert_eq!(consumer["bootstrap.servers"], "a1:9092,a2:9092");
    assert_eq!(consumer["security.protocol"], "PLAINTEXT", "top-level client keys reach every cluster");
    assert_eq!(consumer["fetch.min.bytes"], "2048", "A.consumer.* over A->B.consumer.*");
    assert_eq!(
        (consumer["enable.auto.commit"].as_str(), consumer["auto.offset.reset"].as_str()),
        ("false", "earliest")
    );
    let producer = c.client(f, "B", ClientKind::Producer);
    assert_eq!(producer["bootstrap.servers"], "b1:9092");
    assert_eq!(producer["security.protocol"], "SASL_SSL", "the cluster's own over top level");
    assert_eq!(producer["sasl.mechanism"], "SCRAM-SHA-512");
    assert_eq!(producer["linger.ms"], "5");
    assert_eq!(producer["compression.type"], "zstd");
    assert!(!producer.contains_key("fetch.min.bytes"));
    let admin = c.client(f, "B", ClientKind::Admin);
    assert_eq!(admin["bootstrap.servers"], "b1:9092");
}

#[test]
fn flow_overrides_policies_and_clusters_selection() {
    let text = "clusters=A,B,C\nA.bootstrap.servers=a:1\nB.bootstrap.servers=b:1\nC.bootstrap.servers=c:1\n\
                A->B.enabled=true\nA->C.enabled=true\nB->A.enabled=TRUE\n\
                replication.policy.class=org.apache.kafka.connect.mirror.IdentityReplicationPolicy\n\
                A->C.replication.policy.class=DefaultReplicationPolicy\nA->C.replication.policy.separator=_\n\
                C.exactly.once.source.support=enabled\nA->C.mirror.mode=preserve\noffset-syncs.topic.location=target\n";
    let c = MirrorConfig::parse(text, &[]).unwrap();
    let names: Vec<String> = c.flows.iter().map(Flow::name).collect();
    assert_eq!(names, ["A->B", "A->C", "B->A"]);
    assert!(matches!(&c.flows[0].policy, Policy::Identity { source_alias: Some(a), .. } if a == "A"));
    assert_eq!(c.flows[1].policy, Policy::Default { separator: "_".into(), internal_separator: true });
    // Exactly once is the target's setting; a preserved copy is exactly once
    // by construction and needs no transactions.
    assert_eq!(c.flows[1].mode, Mode::Preserve);
    assert!(!c.flows[1].exactly_once && !c.flows[0].exactly_once);
    let copying = MirrorConfig::parse(&text.replace("A->C.mirror.mode=preserve", ""), &[]).unwrap();
    assert!(copying.flows[1].exactly_once && !copying.flows[0].exactly_once);
    assert_eq!(copying.flows[1].mode, Mode::Copy);
    assert!(c.flows.iter().all(|f| f.offset_syncs_on_target));
    // --clusters: only flows into the listed clusters.
    let only_a = MirrorConfig::parse(text, &["A".into()]).unwrap();
    assert_eq!(only_a.flows.iter().map(Flow::name).collect::<Vec<_>>(), ["B->A"]);
    let err = MirrorConfig::parse(text, &["Z".into()]).unwrap_err().to_string();
    assert!(err.contains("No source->target replication flows."), "{err}");
}

#[test]
fn bad_values_stop_start_up_naming_the_key() {
    let base = "clusters=A,B\nA.bootstrap.servers=a:1\nB.bootstrap.servers=b:1\nA->B.enabled=true\n";
    for (extra, key) in [
        ("A->B.emit.checkpoints.interval.seconds=soon\n", "A->B.emit.checkpoints.interval.seconds"),
        ("sync.group.offsets.enabled=yes\n", "sync.group.offsets.enabled"),
        ("replication.factor=0\n", "replication.factor"),
        ("topics=(orders\n", "topics"),
        ("replication.policy.class=com.example.Mine\n", "replication.policy.class"),
        ("offset-syncs.topic.location=middle\n", "offset-syncs.topic.location"),
        ("B.exactly.once.source.support=always\n", "B.exactly.once.source.support"),
        ("mirror.mode=fast\n", "mirror.mode"),
    ] {
        let err = MirrorConfig::parse(&format!("{base}{extra}"), &[]).unwrap_err().to_string();
        assert!(err.contains(key), "{extra}: {err}");
    }
    assert!(MirrorConfig::parse("A.bootstrap.servers=a:1\n", &[]).unwrap_err().to_string().contains("clusters"));
    let err =
        MirrorConfig::parse("clusters=A,B\nA.bootstrap.servers=a:1\nA->B.enabled=true\n", &[]).unwrap_err().to_string();
    assert!(err.contains("B.bootstrap.servers"), "{err}");
}
