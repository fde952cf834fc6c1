//! End-to-end: the schema-metadata API (Cloudera/Hortonworks style, under
//! `/api/v1/schemaregistry`) over HTTP against a real `weir serve`: schema
//! metadata, versions, a branch merged into MASTER, lifecycle states, search,
//! files and serdes, the error shape, the agreement with the Confluent API, and
//! persistence across a restart.

mod common;

use common::http::{delete, get, post, request_raw, Reply};
use common::Weir;
use serde_json::{json, Value};

const API: &str = "/api/v1/schemaregistry";

fn avro(fields: Value) -> String {
    json!({"type": "record", "name": "Truck", "namespace": "com.example", "fields": fields}).to_string()
}

fn hw_get(weir: &Weir, path: &str) -> Reply {
    get(&weir.registry, &format!("{API}{path}"))
}

fn hw_post(weir: &Weir, path: &str, body: &Value) -> Reply {
    post(&weir.registry, &format!("{API}{path}"), body)
}

/// The error code of a Cloudera-style error body.
fn code(r: &Reply) -> i64 {
    r.json()["responseCode"].as_i64().unwrap_or_else(|| panic!("no responseCode in {}", r.body))
}

fn names(list: &Value) -> Vec<String> {
    list["entities"].as_array().unwrap().iter().map(|e| e["schemaMetadata"]["name"].as_str().unwrap().into()).collect()
}

#[test]
fn schema_metadata_versions_branches_and_states() {
    let mut weir = Weir::start();

    // Metadata.
    let meta = json!({"type": "avro", "schemaGroup": "Kafka", "name": "trucks", "description": "truck events",
                      "compatibility": "BACKWARD", "validationLevel": "ALL", "evolve": true});
    let created = hw_post(&weir, "/schemas", &meta);
    assert_eq!(created.status, 201, "{}", created.body);
    let meta_id = created.json().as_i64().unwrap();
    assert_eq!(hw_post(&weir, "/schemas", &meta).json().as_i64(), Some(meta_id), "creating again answers the id");
    let dup = hw_post(&weir, "/schemas?_throwErrorIfExists=true", &meta);
    assert_eq!((dup.status, code(&dup)), (400, 1111));
    let info = hw_get(&weir, "/schemas/trucks").json();
    assert_eq!(info["id"], json!(meta_id));
    assert_eq!(info["schemaMetadata"]["compatibility"], "BACKWARD");
    assert_eq!(info["schemaMetadata"]["validationLevel"], "ALL");
    assert_eq!(info["schemaMetadata"]["schemaGroup"], "Kafka");
    // The compatibility is the Confluent subject's level.
    assert_eq!(get(&weir.registry, "/config/trucks").json()["compatibilityLevel"], "BACKWARD_TRANSITIVE");
    let missing = hw_get(&weir, "/schemas/nope");
    assert_eq!((missing.status, code(&missing)), (404, 1101));
    assert!(missing.json()["responseMessage"].as_str().unwrap().contains("nope"));
    let bad_type = hw_post(&weir, "/schemas", &json!({"type": "xml", "name": "x"}));
    assert_eq!(bad_type.status, 400);
    let no_name = hw_post(&weir, "/schemas", &json!({"type": "avro"}));
    assert_eq!((no_name.status, code(&no_name)), (400, 1103));

    // Versions on MASTER.
    let v1 = avro(json!([{"name": "id", "type": "long"}]));
    let add =
        hw_post(&weir, "/schemas/trucks/versions?branch=MASTER", &json!({"schemaText": v1, "description": "first"}));
    assert_eq!(add.status, 201, "{}", add.body);
    assert_eq!(add.json(), json!(1));
    assert_eq!(hw_post(&weir, "/schemas/trucks/versions", &json!({"schemaText": v1})).json(), json!(1), "same text");
    let latest = hw_get(&weir, "/schemas/trucks/versions/latest?branch=MASTER").json();
    assert_eq!((latest["version"].clone(), latest["stateId"].clone()), (json!(1), json!(5)));
    assert_eq!(latest["schemaMetadataId"], json!(meta_id));
    assert_eq!(latest["description"], "first");
    let v1_id = latest["id"].as_i64().unwrap();
    assert_eq!(hw_get(&weir, &format!("/schemas/versionsById/{v1_id}")).json(), latest);
    // The same version through the Confluent API.
    let confluent = get(&weir.registry, "/subjects/trucks/versions/1").json();
    assert_eq!(
        serde_json::from_str::<Value>(confluent["schema"].as_str().unwrap()).unwrap(),
        serde_json::from_str::<Value>(&v1).unwrap()
    );

    let bad = hw_post(&weir, "/schemas/trucks/versions", &json!({"schemaText": "{not avro"}));
    assert_eq!((bad.status, code(&bad)), (400, 1107));
    let incompatible = avro(json!([{"name": "id", "type": "long"}, {"name": "speed", "type": "int"}]));
    let r = hw_post(&weir, "/schemas/trucks/versions", &json!({"schemaText": incompatible}));
    assert_eq!((r.status, code(&r)), (400, 1106));
    assert!(r.json()["responseMessage"].as_str().unwrap().contains("speed"), "says which field: {}", r.body);
    let reserved = hw_post(&weir, "/schemas", &json!({"type": "avro", "name": "versions"}));
    assert_eq!((reserved.status, code(&reserved)), (400, 1103));
    // A version uploaded as a file (multipart), as Cloudera's Java client can.
    let form = format!(
        "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"v.avsc\"\r\n\r\n{v1}\r\n--B\r\nContent-Disposition: form-data; name=\"description\"\r\n\r\nagain\r\n--B--\r\n"
    );
    let uploaded = request_raw(
        &weir.registry,
        "POST",
        &format!("{API}/schemas/trucks/versions/upload"),
        "multipart/form-data; boundary=B",
        form.as_bytes(),
    );
    assert_eq!(
        (uploaded.status, uploaded.json()),
        (201, json!(1)),
        "the same text is version 1 again: {}",
        uploaded.body
    );
    let compat = request_raw(
        &weir.registry,
        "POST",
        &format!("{API}/schemas/trucks/compatibility"),
        "application/json",
        incompatible.as_bytes(),
    )
    .json();
    assert_eq!(compat["compatible"], false);
    assert!(compat["errorMessage"].as_str().unwrap().contains("speed"));
    let v2 = avro(json!([{"name": "id", "type": "long"}, {"name": "speed", "type": "int", "default": 0}]));
    let compat = request_raw(
        &weir.registry,
        "POST",
        &format!("{API}/schemas/trucks/compatibility"),
        "application/json",
        v2.as_bytes(),
    )
    .json();
    assert_eq!(compat["compatible"], true);
    assert_eq!(hw_post(&weir, "/schemas/trucks/versions", &json!({"schemaText": v2})).json(), json!(2));

    // A branch from version 1, a version on it, merged into MASTER.
    let branch = hw_post(
        &weir,
        &format!("/schemas/versionsById/{v1_id}/branch"),
        &json!({"name": "experiment", "description": "try"}),
    );
    assert_eq!(branch.status, 200, "{}", branch.body);
    let branch = branch.json();
    assert_eq!((branch["name"].clone(), branch["schemaMetadataName"].clone()), (json!("experiment"), json!("trucks")));
    let again = hw_post(&weir, &format!("/schemas/versionsById/{v1_id}/branch"), &json!({"name": "experiment"}));
    assert_eq!((again.status, code(&again)), (409, 1111));
    let unknown_root = hw_post(&weir, "/schemas/versionsById/9999/branch", &json!({"name": "x"}));
    assert_eq!((unknown_root.status, code(&unknown_root)), (400, 1101));
    let branches: Vec<Value> = hw_get(&weir, "/schemas/trucks/branches").json()["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].clone())
        .collect();
    assert_eq!(branches, vec![json!("MASTER"), json!("experiment")]);
    let v3 = avro(json!([{"name": "id", "type": "long"}, {"name": "driver", "type": "string", "default": ""}]));
    let on_branch = hw_post(
        &weir,
        "/schemas/trucks/versions?branch=experiment",
        &json!({"schemaText": v3, "description": "with driver"}),
    );
    assert_eq!(on_branch.json(), json!(3), "version numbers are unique across branches");
    let branch_versions = hw_get(&weir, "/schemas/trucks/versions?branch=experiment").json();
    let listed: Vec<i64> =
        branch_versions["entities"].as_array().unwrap().iter().map(|v| v["version"].as_i64().unwrap()).collect();
    assert_eq!(listed, vec![3, 1], "the branch's own and its root, newest first");
    let b3 = hw_get(&weir, "/schemas/trucks/versions/3").json();
    let latest_enabled = hw_get(&weir, "/schemas/trucks/versions/latest?branch=experiment").json();
    assert_eq!(latest_enabled["version"], json!(1), "latest is the newest Enabled version");
    assert_eq!((b3["version"].clone(), b3["stateId"].clone()), (json!(3), json!(1)), "branch versions start INITIATED");
    assert_eq!(
        get(&weir.registry, "/subjects/trucks/versions").json(),
        json!([1, 2]),
        "branch versions are not Confluent versions"
    );
    let master_only: Vec<i64> = hw_get(&weir, "/schemas/trucks/versions").json()["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(master_only, vec![2, 1]);
    let merged = hw_post(&weir, &format!("/schemas/{}/merge", b3["id"]), &json!({}));
    assert_eq!(merged.status, 200, "{}", merged.body);
    let merged = merged.json();
    assert_eq!(merged["schemaIdVersion"]["version"], json!(4));
    let m4 = hw_get(&weir, "/schemas/trucks/versions/latest").json();
    assert_eq!(m4["version"], json!(4));
    assert_eq!(m4["mergeInfo"]["schemaBranchName"], "experiment");
    assert_eq!(m4["mergeInfo"]["schemaVersionId"], b3["id"]);
    assert_eq!(get(&weir.registry, "/subjects/trucks/versions").json(), json!([1, 2, 4]));
    // The branch's schema and the merged one share the content-addressed id.
    let by_text = post(&weir.registry, "/subjects/trucks", &json!({"schema": v3})).json();
    assert_eq!(by_text["version"], json!(4));
    // Fingerprint lookup finds a version with the same text.
    let fp = fingerprint(&get(&weir.registry, "/subjects/trucks/versions/4/schema").body);
    let found = hw_get(&weir, &format!("/schemas/versionsByFingerprint/{fp}"));
    assert_eq!(found.status, 200, "{}", found.body);
    assert!(found.json()["version"] == json!(3) || found.json()["version"] == json!(4));

    // Lifecycle states.
    let machine = hw_get(&weir, "/schemas/versions/statemachine").json();
    assert_eq!(machine["states"].as_array().unwrap().len(), 9, "eight states and InReview");
    assert!(machine["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["sourceStateId"] == 5 && t["targetStateId"] == 6));
    let b3_id = b3["id"].as_i64().unwrap();
    let bad_move = hw_post(&weir, &format!("/schemas/versions/{b3_id}/state/disable"), &json!({}));
    assert_eq!(bad_move.status, 400, "INITIATED cannot be disabled");
    for (action, state) in [("startReview", 32), ("4", 4), ("enable", 5), ("disable", 6)] {
        let r = hw_post(&weir, &format!("/schemas/versions/{b3_id}/state/{action}"), &json!("{}"));
        assert_eq!(r.status, 200, "{action}: {}", r.body);
        assert_eq!(hw_get(&weir, &format!("/schemas/versionsById/{b3_id}")).json()["stateId"], json!(state));
    }
    let enabled_only = hw_get(&weir, "/schemas/trucks/versions?branch=experiment&states=5").json();
    assert_eq!(enabled_only["entities"].as_array().unwrap().len(), 1, "only version 1 is ENABLED there");
    // Deleting a MASTER version (archived first) removes it from the Confluent API too.
    let v2_id = hw_get(&weir, "/schemas/trucks/versions/2").json()["id"].as_i64().unwrap();
    let early = hw_post(&weir, &format!("/schemas/versions/{v2_id}/state/delete"), &json!({}));
    assert_eq!((early.status, code(&early)), (400, 1112), "an Enabled version is not deleted");
    for action in ["disable", "archive", "delete"] {
        assert_eq!(hw_post(&weir, &format!("/schemas/versions/{v2_id}/state/{action}"), &json!({})).status, 200);
    }
    assert_eq!(get(&weir.registry, "/subjects/trucks/versions").json(), json!([1, 4]));
    assert_eq!(hw_get(&weir, &format!("/schemas/versionsById/{v2_id}")).status, 404);

    let two_states = hw_get(&weir, "/schemas/trucks/versions?branch=experiment&states=5&states=6").json();
    assert_eq!(two_states["entities"].as_array().unwrap().len(), 2, "states repeat");
    assert_eq!(hw_get(&weir, "/schemas/trucks/versions/-1").json()["version"], json!(4), "-1: the newest");
    assert_eq!(hw_get(&weir, &format!("/schemasById/{meta_id}")).json()["schemaMetadata"]["name"], "trucks");
    assert_eq!(
        hw_get(&weir, "/schemaproviders/").json()["entities"].as_array().unwrap().len(),
        3,
        "a trailing slash works"
    );

    // Search and aggregated views.
    hw_post(
        &weir,
        "/schemas",
        &json!({"type": "avro", "name": "cars", "schemaGroup": "fleet", "description": "car events"}),
    );
    assert_eq!(names(&hw_get(&weir, "/search/schemas?name=ruck").json()), vec!["trucks"]);
    assert_eq!(
        names(&hw_get(&weir, "/search/schemas?description=events&_orderByFields=name,d").json()),
        vec!["trucks", "cars"]
    );
    assert_eq!(names(&hw_get(&weir, "/schemas?schemaGroup=fleet").json()), vec!["cars"]);
    let everything = hw_get(&weir, "/schemas/aggregated?_orderByFields=name,a").json();
    let agg_names: Vec<&str> = everything["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["schemaMetadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(agg_names, vec!["cars", "trucks"]);
    let found = hw_get(&weir, "/search/schemas/aggregated?name=car").json();
    assert_eq!(found["entities"][0]["schemaMetadata"]["name"], "cars");
    assert!(found["entities"][0]["schemaBranches"].is_array());
    assert_eq!(hw_get(&weir, "/search/schemas").json(), json!({"entities": []}), "nothing asked, nothing found");
    // Field search: record fields by name, enclosing namespace and type.
    let speed = hw_get(&weir, "/search/schemas/fields?name=driver&fieldNamespace=com.example&type=string").json();
    let hits: Vec<(String, i64)> = speed["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["schemaName"].as_str().unwrap().to_string(), e["version"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        hits,
        vec![("trucks".to_string(), 3), ("trucks".to_string(), 4)],
        "the branch version and the merged one"
    );
    assert_eq!(hw_get(&weir, "/search/schemas/fields?name=driver&type=int").json(), json!({"entities": []}));

    // Updating metadata: the description and compatibility change, the id and timestamp stay.
    let before = hw_get(&weir, "/schemas/cars").json();
    let update = json!({"type": "avro", "name": "cars", "schemaGroup": "fleet", "description": "all cars",
                        "compatibility": "BOTH", "validationLevel": "LATEST", "evolve": true});
    let updated = hw_post(&weir, "/schemas/cars", &update);
    assert_eq!(updated.status, 200, "{}", updated.body);
    let updated = updated.json();
    assert_eq!(
        (updated["id"].clone(), updated["timestamp"].clone()),
        (before["id"].clone(), before["timestamp"].clone())
    );
    assert_eq!(updated["schemaMetadata"]["description"], "all cars");
    assert_eq!(updated["schemaMetadata"]["compatibility"], "BOTH");
    assert_eq!(get(&weir.registry, "/config/cars").json()["compatibilityLevel"], "FULL");
    let renamed = hw_post(&weir, "/schemas/cars", &json!({"type": "avro", "name": "bikes"}));
    assert_eq!(renamed.status, 400);
    assert_eq!(hw_post(&weir, "/schemas/nothing", &update).status, 400, "the body names another schema");
    let gone = hw_post(&weir, "/schemas/nothing", &json!({"type": "avro", "name": "nothing"}));
    assert_eq!((gone.status, code(&gone)), (404, 1101));

    // Versions of cars: text by number, deletes by number and by id.
    let c1 = json!({"type": "record", "name": "Car", "fields": [{"name": "vin", "type": "string"}]}).to_string();
    assert_eq!(hw_post(&weir, "/schemas/cars/versions", &json!({"schemaText": c1})).json(), json!(1));
    let text = hw_get(&weir, "/schemas/cars/versions/1/schemaText");
    assert_eq!(serde_json::from_str::<Value>(&text.body).unwrap(), serde_json::from_str::<Value>(&c1).unwrap());
    let c2 = json!({"type": "record", "name": "Car", "fields": [{"name": "vin", "type": "string"},
                    {"name": "seats", "type": "int", "default": 4}]})
    .to_string();
    assert_eq!(hw_post(&weir, "/schemas/cars/versions", &json!({"schemaText": c2})).json(), json!(2));
    let c2_id = hw_get(&weir, "/schemas/cars/versions/2").json()["id"].as_i64().unwrap();
    assert_eq!(delete(&weir.registry, &format!("{API}/schemas/versions/{c2_id}")).status, 200);
    assert_eq!(delete(&weir.registry, &format!("{API}/schemas/cars/versions/1")).status, 200);
    let none = hw_get(&weir, "/schemas/cars/versions/1");
    assert_eq!((none.status, code(&none)), (404, 1101));
    assert_eq!(hw_get(&weir, "/schemas/cars/versions").json(), json!({"entities": []}));
    let unknown_compat =
        request_raw(&weir.registry, "POST", &format!("{API}/schemas/none/compatibility"), "text/plain", c1.as_bytes());
    assert_eq!((unknown_compat.status, code(&unknown_compat)), (404, 1101));

    let agg = hw_get(&weir, "/schemas/trucks/aggregated").json();
    assert_eq!(agg["schemaBranches"].as_array().unwrap().len(), 2);

    // Files and serdes.
    let boundary = "XyZ";
    let form = format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"serde.jar\"\r\nContent-Type: application/octet-stream\r\n\r\nPK-not-really-a-jar\r\n--{boundary}--\r\n");
    let up = request_raw(
        &weir.registry,
        "POST",
        &format!("{API}/files"),
        &format!("multipart/form-data; boundary={boundary}"),
        form.as_bytes(),
    );
    assert_eq!(up.status, 200, "{}", up.body);
    let file_id = up.body.trim().to_string();
    assert_eq!(hw_get(&weir, &format!("/files/download/{file_id}")).body, "PK-not-really-a-jar");
    let serdes = json!({"name": "avro", "description": "d", "fileId": file_id, "serializerClassName": "a.S", "deserializerClassName": "a.D"});
    let serdes_id = hw_post(&weir, "/serdes", &serdes).json().as_i64().unwrap();
    assert_eq!(hw_get(&weir, &format!("/serdes/{serdes_id}")).json()["serDesPair"]["serializerClassName"], "a.S");
    let no_file = hw_post(
        &weir,
        "/serdes",
        &json!({"name": "x", "fileId": "999", "serializerClassName": "a", "deserializerClassName": "b"}),
    );
    assert_eq!((no_file.status, code(&no_file)), (404, 1101));
    assert_eq!(hw_post(&weir, &format!("/schemas/trucks/mapping/{serdes_id}"), &json!({})).status, 200);
    assert_eq!(hw_get(&weir, "/schemas/trucks/serdes").json()["entities"][0]["id"], json!(serdes_id));
    assert_eq!(hw_get(&weir, "/serdes").json()["entities"].as_array().unwrap().len(), 1);
    assert_eq!(hw_get(&weir, "/schemas/trucks/aggregated").json()["serDesInfos"][0]["id"], json!(serdes_id));
    let unknown_serdes = hw_post(&weir, "/schemas/trucks/mapping/999", &json!({}));
    assert_eq!((unknown_serdes.status, code(&unknown_serdes)), (404, 1101));
    assert_eq!(hw_post(&weir, &format!("/schemas/cars/mapping/{serdes_id}"), &json!({})).status, 200);
    assert_eq!(delete(&weir.registry, &format!("{API}/schemas/cars/mapping/{serdes_id}")).status, 200);
    assert_eq!(hw_get(&weir, "/schemas/cars/serdes").json(), json!({"entities": []}));

    // A subject registered through the Confluent API is schema metadata too.
    let c = post(
        &weir.registry,
        "/subjects/orders-value/versions",
        &json!({"schema": avro(json!([{"name": "n", "type": "int"}]))}),
    );
    assert_eq!(c.status, 200);
    let orders = hw_get(&weir, "/schemas/orders-value/versions/latest").json();
    assert_eq!((orders["version"].clone(), orders["stateId"].clone()), (json!(1), json!(5)));

    // Everything survives a restart.
    let before = hw_get(&weir, "/schemas/trucks/aggregated").json();
    weir.stop();
    weir.restart();
    assert_eq!(hw_get(&weir, "/schemas/trucks/aggregated").json(), before);
    assert_eq!(hw_get(&weir, &format!("/files/download/{file_id}")).body, "PK-not-really-a-jar");

    // Deleting a branch, then the schema with everything of it.
    let exp_id = branch["id"].as_i64().unwrap();
    let in_use = delete(&weir.registry, &format!("{API}/schemas/branch/{exp_id}"));
    assert_eq!((in_use.status, code(&in_use)), (400, 1112), "its version 3 is Disabled, not Archived");
    assert_eq!(hw_post(&weir, &format!("/schemas/versions/{b3_id}/state/archive"), &json!({})).status, 200);
    assert_eq!(delete(&weir.registry, &format!("{API}/schemas/branch/{exp_id}")).status, 200);
    assert_eq!(hw_get(&weir, "/schemas/trucks/branches").json()["entities"].as_array().unwrap().len(), 1);
    let gone = hw_get(&weir, &format!("/schemas/versionsById/{b3_id}"));
    assert_eq!((gone.status, code(&gone)), (404, 1101));
    assert_eq!(delete(&weir.registry, &format!("{API}/schemas/trucks")).status, 200);
    assert_eq!(hw_get(&weir, "/schemas/trucks").status, 404);
    assert_eq!(get(&weir.registry, "/subjects/trucks/versions").status, 404);
    let unknown = hw_get(&weir, "/no/such/endpoint");
    assert_eq!((unknown.status, code(&unknown)), (404, 1101));
}

/// Lowercase hex MD5 of the Avro Parsing Canonical Form: Cloudera's fingerprint.
fn fingerprint(text: &str) -> String {
    use md5::Digest;
    let canonical = apache_avro::Schema::parse_str(text).unwrap().canonical_form();
    md5::Md5::digest(canonical.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}
