//! End-to-end: the schema registry's Confluent REST API over HTTP against a real
//! `weir serve`: every endpoint, the error codes clients see, restart persistence,
//! concurrent registration, references, and `_schemas` holding Confluent's format
//! (read and written by plain Kafka clients).

mod common;

use std::time::Duration;

use common::clients::*;
use common::http::{delete, get, post, put};
use common::Weir;
use rdkafka::consumer::Consumer;
use rdkafka::producer::{BaseRecord, Producer};
use rdkafka::Offset;
use serde_json::{json, Value};

fn avro(fields: Value) -> String {
    json!({"type": "record", "name": "User", "namespace": "com.example", "fields": fields}).to_string()
}

fn register(weir: &Weir, subject: &str, body: Value) -> (u16, Value) {
    let r = post(&weir.registry, &format!("/subjects/{subject}/versions"), &body);
    (r.status, r.json())
}

#[test]
fn the_confluent_api_end_to_end() {
    let weir = Weir::start();
    let r = &weir.registry;

    // Basics.
    assert_eq!(get(r, "/").json(), json!({}));
    assert_eq!(get(r, "/contexts").json(), json!(["."]));
    let types = get(r, "/schemas/types");
    assert_eq!(types.content_type, "application/vnd.schemaregistry.v1+json");
    assert_eq!(types.json(), json!(["JSON", "PROTOBUF", "AVRO"]));
    assert_eq!(get(r, "/subjects").json(), json!([]));
    assert_eq!(get(r, "/config").json(), json!({"compatibilityLevel": "BACKWARD"}));
    assert_eq!(get(r, "/mode").json(), json!({"mode": "READWRITE"}));

    // Register; the same schema again (other whitespace) is the same id and version.
    let v1 = avro(json!([{"name": "id", "type": "long"}]));
    let (s, b) = register(&weir, "users-value", json!({"schema": v1}));
    assert_eq!((s, b.clone()), (200, json!({"id": 1})));
    let spaced = v1.replace(',', " ,  ");
    assert_eq!(register(&weir, "users-value", json!({"schema": spaced})).1, json!({"id": 1}));
    assert_eq!(get(r, "/subjects/users-value/versions").json(), json!([1]));
    // The same schema in another subject keeps its id.
    assert_eq!(register(&weir, "other", json!({"schema": v1})).1, json!({"id": 1}));

    // Reading back.
    let latest = get(r, "/subjects/users-value/versions/latest").json();
    assert_eq!(
        (latest["subject"].clone(), latest["version"].clone(), latest["id"].clone()),
        (json!("users-value"), json!(1), json!(1))
    );
    assert!(latest.get("schemaType").is_none(), "AVRO is implied");
    assert_eq!(get(r, "/subjects/users-value/versions/1").json(), latest);
    assert_eq!(get(r, "/subjects/users-value/versions/-1").json(), latest);
    let raw: Value = serde_json::from_str(&get(r, "/subjects/users-value/versions/1/schema").body).unwrap();
    assert_eq!(raw["name"], "User");
    assert_eq!(get(r, "/schemas/ids/1").json()["schema"], latest["schema"]);
    assert_eq!(get(r, "/schemas/ids/1/subjects").json(), json!(["other", "users-value"]));
    assert_eq!(
        get(r, "/schemas/ids/1/versions").json(),
        json!([{"subject": "other", "version": 1}, {"subject": "users-value", "version": 1}])
    );
    let found = post(r, "/subjects/users-value", &json!({"schema": v1})).json();
    assert_eq!((found["id"].clone(), found["version"].clone()), (json!(1), json!(1)));

    // Errors.
    assert_eq!(get(r, "/subjects/nope/versions").error_code(), 40401);
    assert_eq!(get(r, "/subjects/users-value/versions/9").error_code(), 40402);
    assert_eq!(get(r, "/schemas/ids/99").error_code(), 40403);
    assert_eq!(get(r, "/subjects/users-value/versions/abc").error_code(), 42202);
    let bad = register(&weir, "users-value", json!({"schema": "{\"type\": \"record\"}"}));
    assert_eq!((bad.0, bad.1["error_code"].clone()), (422, json!(42201)));
    assert_eq!(
        post(r, "/subjects/users-value", &json!({"schema": avro(json!([{"name": "x", "type": "int"}]))})).error_code(),
        40403
    );
    assert_eq!(post(r, "/subjects/nope", &json!({"schema": v1})).error_code(), 40401);
    assert_eq!(get(r, "/no/such/path").status, 404);

    // Compatibility (BACKWARD by default): a field without a default is refused.
    let v2_bad = avro(json!([{"name": "id", "type": "long"}, {"name": "email", "type": "string"}]));
    let (s, b) = register(&weir, "users-value", json!({"schema": v2_bad}));
    assert_eq!((s, b["error_code"].clone()), (409, json!(409)));
    assert!(b["message"].as_str().unwrap().contains("email"), "{b}");
    let c =
        post(r, "/compatibility/subjects/users-value/versions/latest?verbose=true", &json!({"schema": v2_bad})).json();
    assert_eq!(c["is_compatible"], false);
    assert!(c["messages"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m.as_str().unwrap().contains("READER_FIELD_MISSING_DEFAULT_VALUE")));
    let v2 = avro(json!([{"name": "id", "type": "long"}, {"name": "email", "type": "string", "default": ""}]));
    assert_eq!(
        post(r, "/compatibility/subjects/users-value/versions", &json!({"schema": v2})).json(),
        json!({"is_compatible": true})
    );
    assert_eq!(register(&weir, "users-value", json!({"schema": v2})).1, json!({"id": 2}));
    assert_eq!(get(r, "/subjects/users-value/versions").json(), json!([1, 2]));

    // Config.
    assert_eq!(get(r, "/config/users-value").error_code(), 40408);
    assert_eq!(get(r, "/config/users-value?defaultToGlobal=true").json(), json!({"compatibilityLevel": "BACKWARD"}));
    assert_eq!(
        put(r, "/config/users-value", &json!({"compatibility": "NONE"})).json(),
        json!({"compatibility": "NONE"})
    );
    assert_eq!(get(r, "/config/users-value").json(), json!({"compatibilityLevel": "NONE"}));
    assert_eq!(register(&weir, "users-value", json!({"schema": v2_bad})).1, json!({"id": 3}), "NONE accepts anything");
    assert_eq!(put(r, "/config", &json!({"compatibility": "SOMETIMES"})).error_code(), 42203);
    assert_eq!(
        put(r, "/config", &json!({"compatibility": "FULL_TRANSITIVE"})).json(),
        json!({"compatibility": "FULL_TRANSITIVE"})
    );
    assert_eq!(delete(r, "/config/users-value").json(), json!({"compatibilityLevel": "NONE"}));
    assert_eq!(delete(r, "/config/users-value").error_code(), 40408);
    assert_eq!(delete(r, "/config").json(), json!({"compatibilityLevel": "FULL_TRANSITIVE"}));
    assert_eq!(get(r, "/config").json(), json!({"compatibilityLevel": "BACKWARD"}));

    // Mode.
    assert_eq!(put(r, "/mode/users-value", &json!({"mode": "READONLY"})).json(), json!({"mode": "READONLY"}));
    assert_eq!(
        register(
            &weir,
            "users-value",
            json!({"schema": avro(json!([{"name": "id", "type": "long"}, {"name": "z", "type": "int", "default": 1}]))})
        )
        .1["error_code"],
        42205
    );
    assert_eq!(put(r, "/mode", &json!({"mode": "SIDEWAYS"})).error_code(), 42204);
    assert_eq!(put(r, "/mode", &json!({"mode": "IMPORT"})).error_code(), 42205, "subjects exist");
    assert_eq!(delete(r, "/mode/users-value").json(), json!({"mode": "READONLY"}));
    assert_eq!(get(r, "/mode/users-value").error_code(), 40409);
    assert_eq!(get(r, "/mode/users-value?defaultToGlobal=true").json(), json!({"mode": "READWRITE"}));
    // IMPORT mode on a fresh subject: ids and versions are given.
    assert_eq!(put(r, "/mode/imported", &json!({"mode": "IMPORT"})).json(), json!({"mode": "IMPORT"}));
    let imported = avro(json!([{"name": "legacy", "type": "string"}]));
    assert_eq!(register(&weir, "imported", json!({"schema": imported, "id": 100, "version": 7})).1, json!({"id": 100}));
    assert_eq!(get(r, "/subjects/imported/versions").json(), json!([7]));
    assert_eq!(
        register(&weir, "imported", json!({"schema": v1, "id": 100, "version": 8})).1["error_code"],
        42205,
        "id 100 is another schema: Confluent's 'Overwrite new schema with id 100 is not permitted.'"
    );
    assert_eq!(
        register(&weir, "users-value", json!({"schema": v1, "id": 555})).1["error_code"],
        42205,
        "ids are chosen only when importing"
    );

    // Deletes: soft first, then permanent.
    assert_eq!(delete(r, "/subjects/users-value/versions/1?permanent=true").error_code(), 40407);
    assert_eq!(delete(r, "/subjects/users-value/versions/1").json(), json!(1));
    assert_eq!(delete(r, "/subjects/users-value/versions/1").error_code(), 40406);
    assert_eq!(get(r, "/subjects/users-value/versions").json(), json!([2, 3]));
    assert_eq!(get(r, "/subjects/users-value/versions?deleted=true").json(), json!([1, 2, 3]));
    assert_eq!(get(r, "/subjects/users-value/versions/1").error_code(), 40402);
    assert_eq!(get(r, "/subjects/users-value/versions/1?deleted=true").json()["id"], 1);
    assert_eq!(get(r, "/schemas/ids/1").json()["schema"], latest["schema"], "ids stay resolvable after a soft delete");
    assert_eq!(delete(r, "/subjects/users-value/versions/1?permanent=true").json(), json!(1));
    assert_eq!(delete(r, "/subjects/users-value?permanent=true").error_code(), 40405);
    assert_eq!(delete(r, "/subjects/users-value").json(), json!([2, 3]));
    assert_eq!(delete(r, "/subjects/users-value").error_code(), 40404);
    assert_eq!(get(r, "/subjects/users-value/versions").error_code(), 40401);
    assert!(!get(r, "/subjects").json().as_array().unwrap().contains(&json!("users-value")));
    assert!(get(r, "/subjects?deleted=true").json().as_array().unwrap().contains(&json!("users-value")));
    assert_eq!(get(r, "/subjects?deletedOnly=true").json(), json!(["users-value"]));
    assert_eq!(delete(r, "/subjects/users-value?permanent=true").json(), json!([2, 3]));
    assert_eq!(get(r, "/subjects?deleted=true").json(), json!(["imported", "other"]));
    assert_eq!(get(r, "/schemas/ids/2").error_code(), 40403, "no version uses id 2 any more");
    assert_eq!(get(r, "/schemas/ids/1").json()["schema"], latest["schema"], "'other' still uses id 1");
    // New versions continue after permanently deleted ones; ids never repeat.
    assert_eq!(
        register(&weir, "users-value", json!({"schema": v2})).1,
        json!({"id": 2}),
        "the same content keeps its id"
    );
    assert_eq!(
        register(&weir, "fresh", json!({"schema": avro(json!([{"name": "n", "type": "int"}]))})).1,
        json!({"id": 101})
    );
}

#[test]
fn json_protobuf_references_and_url_encoded_subjects() {
    let weir = Weir::start();
    let r = &weir.registry;
    let js =
        json!({"type": "object", "properties": {"a": {"type": "integer"}}, "additionalProperties": false}).to_string();
    assert_eq!(register(&weir, "orders-value", json!({"schemaType": "JSON", "schema": js})).1, json!({"id": 1}));
    assert_eq!(get(r, "/subjects/orders-value/versions/1").json()["schemaType"], "JSON");
    let narrowed =
        json!({"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": false}).to_string();
    let (s, b) = register(&weir, "orders-value", json!({"schemaType": "JSON", "schema": narrowed}));
    assert_eq!(s, 409, "{b}");
    let widened =
        json!({"type": "object", "properties": {"a": {"type": "number"}}, "additionalProperties": false}).to_string();
    assert_eq!(register(&weir, "orders-value", json!({"schemaType": "JSON", "schema": widened})).1, json!({"id": 2}));
    assert_eq!(
        register(&weir, "orders-value", json!({"schemaType": "JSON", "schema": "[1, 2"})).1["error_code"],
        42201
    );

    let proto = "syntax = \"proto3\";\npackage shop;\nmessage Order {\n  int64 id = 1;\n  string note = 2;\n}\n";
    assert_eq!(register(&weir, "shop-value", json!({"schemaType": "PROTOBUF", "schema": proto})).1, json!({"id": 3}));
    let changed = proto.replace("string note = 2;", "double note = 2;");
    assert_eq!(register(&weir, "shop-value", json!({"schemaType": "PROTOBUF", "schema": changed})).0, 409);
    let added = proto.replace("string note = 2;", "string note = 2;\n  bool paid = 3;");
    assert_eq!(register(&weir, "shop-value", json!({"schemaType": "PROTOBUF", "schema": added})).1, json!({"id": 4}));
    assert_eq!(
        register(&weir, "shop-value", json!({"schemaType": "PROTOBUF", "schema": "message {"})).1["error_code"],
        42201
    );
    assert_eq!(register(&weir, "shop-value", json!({"schemaType": "XML", "schema": "<a/>"})).1["error_code"], 42201);

    // Avro references: User uses Address from another subject.
    let address = json!({"type": "record", "name": "Address", "namespace": "com.example", "fields": [{"name": "city", "type": "string"}]}).to_string();
    assert_eq!(register(&weir, "address", json!({"schema": address})).1, json!({"id": 5}));
    let user = json!({"type": "record", "name": "User", "namespace": "com.example", "fields": [{"name": "home", "type": "com.example.Address"}]}).to_string();
    assert_eq!(
        register(&weir, "user", json!({"schema": user})).1["error_code"],
        42201,
        "unknown type without the reference"
    );
    let refs = json!([{"name": "com.example.Address", "subject": "address", "version": 1}]);
    assert_eq!(register(&weir, "user", json!({"schema": user, "references": refs})).1, json!({"id": 6}));
    assert_eq!(get(r, "/subjects/user/versions/1").json()["references"], refs);
    assert_eq!(get(r, "/schemas/ids/6").json()["references"], refs);
    assert_eq!(get(r, "/subjects/address/versions/1/referencedby").json(), json!([6]));
    assert_eq!(delete(r, "/subjects/address/versions/1").error_code(), 42206);
    assert_eq!(delete(r, "/subjects/address").error_code(), 42206);
    let dangling = json!([{"name": "x", "subject": "address", "version": 9}]);
    assert_eq!(register(&weir, "user", json!({"schema": user, "references": dangling})).1["error_code"], 42201);

    // Subjects with '/' (record-name strategies, contexts) work URL-encoded.
    assert_eq!(register(&weir, "team%2Fpayments-value", json!({"schema": address})).1, json!({"id": 5}));
    assert!(get(r, "/subjects").json().as_array().unwrap().contains(&json!("team/payments-value")));
    assert_eq!(get(r, "/subjects/team%2Fpayments-value/versions/latest").json()["subject"], "team/payments-value");

    // /schemas lists versions, with prefix and latestOnly.
    let all = get(r, "/schemas?subjectPrefix=orders").json();
    assert_eq!(all.as_array().unwrap().len(), 2);
    let latest = get(r, "/schemas?subjectPrefix=orders&latestOnly=true").json();
    assert_eq!(latest.as_array().unwrap().len(), 1);
    assert_eq!(latest[0]["version"], 2);
    // The Cloudera-style mount point serves the same API.
    assert_eq!(get(r, "/api/v1/confluent/subjects/orders-value/versions").json(), json!([1, 2]));
}

#[test]
fn state_survives_restarts_and_concurrent_registrations_get_one_id() {
    let mut weir = Weir::start_restartable(&[]);
    let schema = avro(json!([{"name": "id", "type": "long"}, {"name": "v", "type": "string"}]));
    let registry = weir.registry.clone();
    let ids: Vec<Value> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let (registry, schema) = (registry.clone(), schema.clone());
                s.spawn(move || {
                    let subject = if i % 2 == 0 { "race-a" } else { "race-b" };
                    post(&registry, &format!("/subjects/{subject}/versions"), &json!({"schema": schema})).json()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(ids.iter().all(|i| *i == json!({"id": 1})), "{ids:?}");
    assert_eq!(get(&registry, "/subjects/race-a/versions").json(), json!([1]));
    assert_eq!(get(&registry, "/subjects/race-b/versions").json(), json!([1]));
    put(&registry, "/config/race-a", &json!({"compatibility": "FORWARD"}));

    // A clean restart, then a crash: everything acknowledged is there.
    assert_eq!(weir.stop().code(), Some(0));
    weir.restart();
    let r = weir.registry.clone();
    assert_eq!(get(&r, "/subjects").json(), json!(["race-a", "race-b"]));
    assert_eq!(get(&r, "/config/race-a").json(), json!({"compatibilityLevel": "FORWARD"}));
    let v2 = avro(json!([{"name": "id", "type": "long"}]));
    assert_eq!(post(&r, "/subjects/race-b/versions", &json!({"schema": v2})).json(), json!({"id": 2}));
    weir.kill();
    weir.restart();
    let r = weir.registry.clone();
    assert_eq!(get(&r, "/subjects/race-b/versions").json(), json!([1, 2]));
    assert_eq!(get(&r, "/schemas/ids/2").json()["schema"], serde_json::from_str::<Value>(&v2).unwrap().to_string());
    let v3 = avro(json!([{"name": "x", "type": "long", "default": 0}]));
    assert_eq!(post(&r, "/subjects/race-b/versions", &json!({"schema": v3})).json(), json!({"id": 3}), "ids continue");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemas_topic_holds_confluent_records_that_kafka_clients_read_and_write() {
    let weir = Weir::start();
    let r = &weir.registry;
    let schema = avro(json!([{"name": "id", "type": "long"}]));
    assert_eq!(post(r, "/subjects/t-value/versions", &json!({"schema": schema})).json(), json!({"id": 1}));
    put(r, "/config", &json!({"compatibility": "FULL"}));

    // Read _schemas as a plain Kafka consumer.
    let end = consumer(&weir.addr).fetch_watermarks("_schemas", 0, DEADLINE).unwrap().1;
    assert!(end >= 2);
    let recs = read_raw(&weir.addr, "_schemas", end as usize);
    let keys: Vec<Value> = recs.iter().map(|(k, _)| serde_json::from_slice(k.as_ref().unwrap()).unwrap()).collect();
    assert_eq!(keys[0], json!({"keytype": "SCHEMA", "subject": "t-value", "version": 1, "magic": 1}));
    let v: Value = serde_json::from_slice(recs[0].1.as_ref().unwrap()).unwrap();
    assert_eq!(
        (v["subject"].clone(), v["version"].clone(), v["id"].clone(), v["deleted"].clone()),
        (json!("t-value"), json!(1), json!(1), json!(false))
    );
    assert!(keys.contains(&json!({"keytype": "CONFIG", "subject": null, "magic": 0})));

    // Another tool writes a schema in Confluent's format: the registry serves it.
    let (p, deliveries) = producer(&weir.addr, &[]);
    let key = json!({"keytype": "SCHEMA", "subject": "external", "version": 1, "magic": 1}).to_string();
    let value = json!({"subject": "external", "version": 1, "id": 42, "schemaType": "JSON", "schema": "{\"type\":\"string\"}", "deleted": false}).to_string();
    p.send(BaseRecord::with_opaque_to("_schemas", Box::new(0usize)).partition(0).key(&key).payload(&value)).unwrap();
    p.flush(DEADLINE).unwrap();
    assert_eq!(deliveries.acked().len(), 1);
    let got = get(r, "/subjects/external/versions/1").json();
    assert_eq!((got["id"].clone(), got["schemaType"].clone()), (json!(42), json!("JSON")));
    assert_eq!(get(r, "/schemas/ids/42").json()["schema"], "{\"type\":\"string\"}");
    // New ids go above every id seen.
    let other = avro(json!([{"name": "n", "type": "int"}]));
    assert_eq!(post(r, "/subjects/x/versions", &json!({"schema": other})).json(), json!({"id": 43}));
    std::thread::sleep(Duration::from_millis(1));
}

/// A record's key and value.
type Raw = (Option<Vec<u8>>, Option<Vec<u8>>);

/// Keys and values of the first `n` records of partition 0.
fn read_raw(addr: &str, topic: &str, n: usize) -> Vec<Raw> {
    use rdkafka::Message;
    let c = consumer(addr);
    let mut tpl = rdkafka::TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning).unwrap();
    c.assign(&tpl).unwrap();
    let mut out = Vec::new();
    let started = std::time::Instant::now();
    while out.len() < n {
        assert!(started.elapsed() < DEADLINE);
        if let Some(Ok(m)) = c.poll(Duration::from_millis(100)) {
            out.push((m.key().map(<[u8]>::to_vec), m.payload().map(<[u8]>::to_vec)));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broker_refuses_records_without_a_registered_schema_id_on_validating_topics() {
    let weir = Weir::start();
    let r = &weir.registry;
    create_topic(&weir.addr, "validated", 1, &[("confluent.value.schema.validation", "true")]).await;
    create_topic(&weir.addr, "free", 1, &[]).await;
    let id = post(
        r,
        "/subjects/validated-value/versions",
        &json!({"schema": avro(json!([{"name": "id", "type": "long"}]))}),
    )
    .json()["id"]
        .as_i64()
        .unwrap() as i32;
    let framed = |id: i32, body: &[u8]| {
        let mut v = vec![0u8];
        v.extend_from_slice(&id.to_be_bytes());
        v.extend_from_slice(body);
        v
    };
    let send_one = |topic: &str, value: Vec<u8>| -> Result<(), rdkafka::types::RDKafkaErrorCode> {
        use rdkafka::producer::{FutureProducer, FutureRecord};
        let p: FutureProducer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &weir.addr)
            .set("message.timeout.ms", "20000")
            .create()
            .unwrap();
        let rec = FutureRecord::<(), Vec<u8>>::to(topic).partition(0).payload(&value);
        futures_lite_block_on(p.send(rec, Duration::from_secs(20)))
            .map(|_| ())
            .map_err(|(e, _)| e.rdkafka_error_code().unwrap())
    };
    assert_eq!(send_one("validated", framed(id, b"\x02")), Ok(()));
    assert_eq!(send_one("validated", b"no schema id".to_vec()), Err(rdkafka::types::RDKafkaErrorCode::InvalidRecord));
    assert_eq!(send_one("validated", framed(id + 1000, b"\x02")), Err(rdkafka::types::RDKafkaErrorCode::InvalidRecord));
    assert_eq!(send_one("free", b"anything goes".to_vec()), Ok(()));
    let end = consumer(&weir.addr).fetch_watermarks("validated", 0, DEADLINE).unwrap().1;
    assert_eq!(end, 1, "the refused records were not written");
    // A schema registered now is accepted at once.
    let id2 = post(r, "/subjects/later/versions", &json!({"schema": avro(json!([{"name": "z", "type": "string"}]))}))
        .json()["id"]
        .as_i64()
        .unwrap() as i32;
    assert_eq!(send_one("validated", framed(id2, b"\x00")), Ok(()));
}

/// Drives a future to completion on this thread (the producer's futures need no runtime).
fn futures_lite_block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(f))
}

/// When the store itself fails (here: someone deleted `_schemas` under the
/// registry), requests get Confluent's 50001 and the process keeps serving Kafka.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_store_answers_50001_and_the_broker_survives() {
    use rdkafka::admin::AdminOptions;
    let weir = Weir::start();
    let r = weir.registry.clone();
    let first = post(&r, "/subjects/a/versions", &json!({"schema": avro(json!([{"name": "x", "type": "int"}]))}));
    assert_eq!(first.status, 200, "{}", first.body);
    let deleted = admin(&weir.addr).delete_topics(&["_schemas"], &AdminOptions::new()).await.unwrap();
    assert!(deleted.iter().all(|d| d.is_ok()), "{deleted:?}");
    let r2 = r.clone();
    let after = tokio::task::spawn_blocking(move || {
        post(&r2, "/subjects/b/versions", &json!({"schema": avro(json!([{"name": "y", "type": "long"}]))}))
    })
    .await
    .unwrap();
    assert_eq!((after.status, after.error_code()), (500, 50001), "{}", after.body);
    // Kafka keeps working.
    create_topic(&weir.addr, "still-here", 1, &[]).await;
    let md = consumer(&weir.addr).fetch_metadata(Some("still-here"), DEADLINE).unwrap();
    assert_eq!(md.topics()[0].partitions().len(), 1);
}

/// Issue 21: a reference at version -1 is the referenced subject's latest version
/// (stored resolved), `"references": null` is none, and a version that a
/// soft-deleted schema still references cannot be deleted (42206) until the
/// referrer is deleted permanently.
#[test]
fn latest_version_references_and_deletes_blocked_by_soft_deleted_referrers() {
    let weir = Weir::start();
    let r = &weir.registry;
    let address = json!({"type": "record", "name": "Address", "namespace": "com.example", "fields": [{"name": "city", "type": "string"}]}).to_string();
    assert_eq!(register(&weir, "addr", json!({"schema": address, "references": null})).0, 200, "null references");
    let address2 = json!({"type": "record", "name": "Address", "namespace": "com.example", "fields": [
        {"name": "city", "type": "string"}, {"name": "zip", "type": ["null", "string"], "default": null}]})
    .to_string();
    assert_eq!(register(&weir, "addr", json!({"schema": address2})).0, 200);
    let user = json!({"type": "record", "name": "User", "namespace": "com.example", "fields": [{"name": "home", "type": "com.example.Address"}]}).to_string();
    let latest = json!([{"name": "com.example.Address", "subject": "addr", "version": -1}]);
    let (s, b) = register(&weir, "user", json!({"schema": user, "references": latest}));
    assert_eq!(s, 200, "{b}");
    let stored = get(r, "/subjects/user/versions/1").json();
    assert_eq!(stored["references"][0]["version"], 2, "stored as the version it resolved to: {stored}");
    // Looking the schema up with -1 finds the same version.
    let found = post(r, "/subjects/user", &json!({"schema": user, "references": latest})).json();
    assert_eq!(found["version"], 1, "{found}");

    // Soft-deleting the referrer does not free addr version 2.
    assert_eq!(delete(r, "/subjects/user/versions/1").status, 200);
    let refused = delete(r, "/subjects/addr/versions/2");
    assert_eq!(refused.status, 422);
    assert_eq!(refused.json()["error_code"], 42206, "{}", refused.json());
    assert_eq!(
        refused.json()["message"],
        "One or more references exist to the schema {magic=1,keytype=SCHEMA,subject=addr,version=2}."
    );
    assert_eq!(delete(r, "/subjects/user/versions/1?permanent=true").status, 200);
    assert_eq!(delete(r, "/subjects/addr/versions/2").status, 200, "freed by the permanent delete");
}
