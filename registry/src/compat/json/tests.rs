//! Cases from Confluent's own JSON Schema diff tests (its `diff-schema-examples`
//! and `diff-combined-schema-examples` resources): the same schemas must give the
//! same difference types at the same paths and the same verdict. Confluent lists
//! differences in hash order, so they are compared as sets.

use super::*;
use serde_json::json;

fn check(n: usize, original: Value, update: Value, want: &[&str], compatible: bool) {
    let got: Vec<String> = changes(&original, &update).iter().map(|d| format!("{} {}", d.kind, d.path)).collect();
    let mut got_sorted = got.clone();
    got_sorted.sort();
    let mut want_sorted: Vec<String> = want.iter().map(|s| s.to_string()).collect();
    want_sorted.sort();
    assert_eq!(got_sorted, want_sorted, "row {n}: {original} -> {update}");
    assert_eq!(differences(&original, &update).is_empty(), compatible, "row {n} verdict: {got:?}");
}

fn prop1(s: Value) -> Value {
    json!({"type": "object", "properties": {"prop1": s}})
}

#[test]
fn confluent_diff_examples() {
    let s = json!({"type": "string"});
    let cases: Vec<(usize, Value, Value, Vec<&str>, bool)> = vec![
        (1, json!({"properties": {}}), json!({}), vec![], true),
        (2, json!({"id": "something"}), json!({"id": "something_else"}), vec!["ID_CHANGED #/"], true),
        (3, json!({"description": "a"}), json!({"description": "b"}), vec!["DESCRIPTION_CHANGED #/"], true),
        (4, json!({"type": "object"}), json!({"type": "array"}), vec!["TYPE_CHANGED #/"], false),
        (
            5,
            json!({"type": "string", "minLength": 10}),
            json!({"type": "string", "minLength": 11}),
            vec!["MIN_LENGTH_INCREASED #/minLength"],
            false,
        ),
        (
            6,
            json!({"type": "string", "minLength": 11}),
            json!({"type": "string", "minLength": 10}),
            vec!["MIN_LENGTH_DECREASED #/minLength"],
            true,
        ),
        (
            7,
            json!({"type": "string", "maxLength": 10}),
            json!({"type": "string", "maxLength": 12}),
            vec!["MAX_LENGTH_INCREASED #/maxLength"],
            true,
        ),
        (
            8,
            json!({"type": "string", "maxLength": 12}),
            json!({"type": "string", "maxLength": 10}),
            vec!["MAX_LENGTH_DECREASED #/maxLength"],
            false,
        ),
        (
            9,
            json!({"type": "string", "pattern": "uuid"}),
            json!({"type": "string"}),
            vec!["PATTERN_REMOVED #/pattern"],
            true,
        ),
        (
            10,
            json!({"type": "string", "pattern": "date-time"}),
            json!({"type": "string", "pattern": "uuid"}),
            vec!["PATTERN_CHANGED #/pattern"],
            false,
        ),
        (
            11,
            json!({"type": "number", "maximum": 10}),
            json!({"type": "number"}),
            vec!["MAXIMUM_REMOVED #/maximum"],
            true,
        ),
        (
            12,
            json!({"type": "number", "maximum": 10}),
            json!({"type": "number", "maximum": 11}),
            vec!["MAXIMUM_INCREASED #/maximum"],
            true,
        ),
        (
            13,
            json!({"type": "number", "maximum": 11}),
            json!({"type": "number", "maximum": 10}),
            vec!["MAXIMUM_DECREASED #/maximum"],
            false,
        ),
        (
            14,
            json!({"type": "number", "minimum": 10}),
            json!({"type": "number", "minimum": 11}),
            vec!["MINIMUM_INCREASED #/minimum"],
            false,
        ),
        (
            15,
            json!({"type": "number", "minimum": 11}),
            json!({"type": "number", "minimum": 10}),
            vec!["MINIMUM_DECREASED #/minimum"],
            true,
        ),
        (
            16,
            json!({"type": "number", "multipleOf": 10}),
            json!({"type": "number"}),
            vec!["MULTIPLE_OF_REMOVED #/multipleOf"],
            true,
        ),
        (
            17,
            json!({"type": "number", "multipleOf": 10}),
            json!({"type": "number", "multipleOf": 2}),
            vec!["MULTIPLE_OF_REDUCED #/multipleOf"],
            true,
        ),
        (
            18,
            json!({"type": "number", "multipleOf": 10}),
            json!({"type": "number", "multipleOf": 11}),
            vec!["MULTIPLE_OF_CHANGED #/multipleOf"],
            false,
        ),
        (19, json!({"type": "number"}), json!({"type": "integer"}), vec!["TYPE_NARROWED #/"], false),
        (20, json!({"type": "integer"}), json!({"type": "number"}), vec!["TYPE_EXTENDED #/"], true),
        (
            21,
            json!({"not": {"type": "number"}}),
            json!({"not": {"type": "integer"}}),
            vec!["NOT_TYPE_NARROWED #/not"],
            true,
        ),
        (
            22,
            json!({"not": {"type": "integer"}}),
            json!({"not": {"type": "number"}}),
            vec!["NOT_TYPE_EXTENDED #/not"],
            false,
        ),
        (
            23,
            json!({"type": "string", "enum": ["red"]}),
            json!({"type": "string"}),
            vec!["PRODUCT_TYPE_NARROWED #/"],
            true,
        ),
        (
            24,
            json!({"allOf": [s, {"enum": ["red"]}]}),
            json!({"allOf": [s, {"enum": ["blue"]}]}),
            vec!["COMBINED_TYPE_SUBSCHEMAS_CHANGED #/"],
            false,
        ),
        (
            25,
            json!({"allOf": [s, {"enum": ["red"]}]}),
            json!({"allOf": [{"enum": ["red", "blue"]}, s]}),
            vec!["ENUM_ARRAY_EXTENDED #/allOf/1/enum"],
            true,
        ),
        (
            26,
            json!({"properties": {"foo": {"const": "red"}}}),
            json!({"properties": {"foo": {"const": "blue"}}}),
            vec!["ENUM_ARRAY_CHANGED #/properties/foo/const"],
            false,
        ),
        (27, json!({"type": ["object"]}), json!({"type": ["object", "array"]}), vec!["SUM_TYPE_EXTENDED #/"], true),
        (
            28,
            json!({"oneOf": [s]}),
            json!({"oneOf": [{"type": "number"}]}),
            vec!["COMBINED_TYPE_SUBSCHEMAS_CHANGED #/"],
            false,
        ),
        (29, json!({"oneOf": [s]}), json!({"oneOf": [{"type": "number"}, s]}), vec!["SUM_TYPE_EXTENDED #/"], true),
        (
            30,
            json!({"properties": {"foo": s}}),
            json!({"properties": {"bar": s}}),
            vec![
                "PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL #/properties/bar",
                "PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL #/properties/foo",
            ],
            false,
        ),
        (
            31,
            json!({"properties": {"foo": s}}),
            json!({"properties": {"foo": {"type": "number"}}}),
            vec!["TYPE_CHANGED #/properties/foo"],
            false,
        ),
        (
            32,
            json!({"properties": {"foo": s}, "additionalProperties": false}),
            json!({"properties": {"foo": s, "bar": {"type": "number"}}, "additionalProperties": false}),
            vec!["OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL #/properties/bar"],
            true,
        ),
        (
            33,
            json!({"properties": {"foo": s}, "additionalProperties": false, "patternProperties": {"^S_": s, "^I_": {"type": "integer"}}}),
            json!({"properties": {"foo": s, "I_123": {"type": "number"}}, "additionalProperties": false, "patternProperties": {"^S_": s, "^I_": {"type": "integer"}}}),
            vec![
                "TYPE_EXTENDED #/properties/I_123",
                "PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL #/properties/I_123",
                "OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL #/properties/I_123",
            ],
            true,
        ),
        (
            34,
            json!({"properties": {"foo": s}, "additionalProperties": s}),
            json!({"properties": {"foo": s, "bar": s}, "additionalProperties": s}),
            vec![
                "PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL #/properties/bar",
                "OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL #/properties/bar",
            ],
            true,
        ),
        (
            35,
            json!({"properties": {"foo": s}, "additionalProperties": s}),
            json!({"properties": {"foo": s, "bar": {"type": "number"}}, "additionalProperties": s}),
            vec![
                "TYPE_CHANGED #/properties/bar",
                "PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL #/properties/bar",
                "OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL #/properties/bar",
            ],
            false,
        ),
        (
            36,
            json!({"properties": {"foo": s}, "additionalProperties": s}),
            json!({"properties": {"foo": s, "bar": s}, "required": ["bar"], "additionalProperties": s}),
            vec![
                "PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL #/properties/bar",
                "REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL #/properties/bar",
            ],
            false,
        ),
        (
            37,
            json!({"properties": {"foo": s, "I_123": {"type": "integer"}}, "additionalProperties": false}),
            json!({"properties": {"foo": s}, "additionalProperties": false, "patternProperties": {"^S_": s, "^I_": {"type": "number"}}}),
            vec![
                "TYPE_EXTENDED #/properties/I_123",
                "PROPERTY_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL #/properties/I_123",
            ],
            true,
        ),
        (
            38,
            json!({"properties": {"foo": s, "bar": s}, "additionalProperties": false}),
            json!({"properties": {"foo": s}, "additionalProperties": s}),
            vec![
                "PROPERTY_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL #/properties/bar",
                "ADDITIONAL_PROPERTIES_ADDED #/additionalProperties",
            ],
            true,
        ),
        (
            39,
            json!({"properties": {"foo": s, "bar": {"type": "number"}}, "additionalProperties": false}),
            json!({"properties": {"foo": s}, "additionalProperties": s}),
            vec![
                "TYPE_CHANGED #/properties/bar",
                "PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL #/properties/bar",
                "ADDITIONAL_PROPERTIES_ADDED #/additionalProperties",
            ],
            false,
        ),
        (
            40,
            json!({"properties": {"foo": s, "bar": s}, "additionalProperties": false}),
            json!({"properties": {"foo": s}, "additionalProperties": {"oneOf": [{"type": "null"}, s]}}),
            vec![
                "SUM_TYPE_EXTENDED #/properties/bar",
                "PROPERTY_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL #/properties/bar",
                "ADDITIONAL_PROPERTIES_ADDED #/additionalProperties",
            ],
            true,
        ),
        (
            41,
            json!({"properties": {"foo": s}}),
            json!({"properties": {"foo": s, "bar": {"type": "number"}}}),
            vec!["PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL #/properties/bar"],
            false,
        ),
        (
            43,
            json!({"properties": {"foo": {"type": "number"}, "bar": s}, "dependencies": {"foo": ["bar"]}}),
            json!({"properties": {"foo": {"type": "number"}, "bar": s}, "dependencies": {"bar": ["foo"]}}),
            vec!["DEPENDENCY_ARRAY_ADDED #/dependencies/bar", "DEPENDENCY_ARRAY_REMOVED #/dependencies/foo"],
            false,
        ),
        (
            44,
            json!({"properties": {"foo": s}, "required": ["foo"]}),
            json!({"properties": {"foo": s}}),
            vec!["REQUIRED_ATTRIBUTE_REMOVED #/required/foo"],
            true,
        ),
        (
            45,
            json!({"properties": {"foo": s}}),
            json!({"properties": {"foo": s}, "required": ["foo"]}),
            vec!["REQUIRED_ATTRIBUTE_ADDED #/required/foo"],
            false,
        ),
        (
            46,
            json!({"properties": {"foo": s}, "required": ["foo"]}),
            json!({"properties": {"foo": s}, "required": ["bar"]}),
            vec!["REQUIRED_ATTRIBUTE_REMOVED #/required/foo"],
            true,
        ),
        (
            47,
            json!({"maxProperties": 2}),
            json!({"maxProperties": 1}),
            vec!["MAX_PROPERTIES_DECREASED #/maxProperties"],
            false,
        ),
        (48, json!({"type": "array"}), json!({"type": "array", "items": s}), vec!["SCHEMA_ADDED #/items"], false),
        (49, json!({"type": "array", "items": s}), json!({"type": "array"}), vec!["SCHEMA_REMOVED #/items"], true),
        (
            50,
            json!({"type": "array", "items": [s, {"type": "number"}]}),
            json!({"type": "array"}),
            vec!["ITEM_REMOVED_FROM_OPEN_CONTENT_MODEL #/items/0", "ITEM_REMOVED_FROM_OPEN_CONTENT_MODEL #/items/1"],
            true,
        ),
        (
            51,
            json!({"type": "array", "items": [s, {"type": "number"}], "additionalItems": s}),
            json!({"type": "array", "items": [s, {"type": "number"}, {"type": "number"}], "additionalItems": s}),
            vec!["TYPE_CHANGED #/items/2", "ITEM_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL #/items/2"],
            false,
        ),
        (
            52,
            json!({"type": "array", "items": [s], "additionalItems": false}),
            json!({"type": "array", "items": [s, {"type": "number"}], "additionalItems": false}),
            vec!["ITEM_ADDED_TO_CLOSED_CONTENT_MODEL #/items/1"],
            true,
        ),
        (
            53,
            json!({"type": "array", "uniqueItems": true}),
            json!({"type": "array"}),
            vec!["UNIQUE_ITEMS_REMOVED #/uniqueItems"],
            true,
        ),
        (
            54,
            json!({"type": "array", "items": {"$ref": "#/definitions/someRef"}, "definitions": {"someRef": s}}),
            json!({"type": "array", "items": {"$ref": "#/definitions/someRef"}, "definitions": {"someRef": {"type": "number"}}}),
            vec!["TYPE_CHANGED #/items"],
            false,
        ),
        (55, s.clone(), json!({"$ref": "#/definitions/someRef", "definitions": {"someRef": s}}), vec![], true),
        (
            56,
            json!({"properties": {}, "additionalProperties": false}),
            json!({"properties": {}}),
            vec!["ADDITIONAL_PROPERTIES_ADDED #/additionalProperties"],
            true,
        ),
        (
            57,
            json!({"additionalProperties": true}),
            json!({"additionalProperties": false}),
            vec!["ADDITIONAL_PROPERTIES_REMOVED #/additionalProperties"],
            false,
        ),
        (
            58,
            json!({"additionalProperties": true}),
            json!({"additionalProperties": {"type": "number"}}),
            vec!["ADDITIONAL_PROPERTIES_NARROWED #/additionalProperties"],
            false,
        ),
        (
            59,
            json!({"additionalProperties": true}),
            json!({"additionalProperties": true, "properties": {"foo": true}}),
            vec!["PROPERTY_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL #/properties/foo"],
            true,
        ),
        (
            60,
            json!({"additionalProperties": false}),
            json!({"additionalProperties": false, "properties": {"foo": false}}),
            vec!["OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL #/properties/foo"],
            true,
        ),
        (
            61,
            json!({"additionalProperties": false, "properties": {"foo": false}}),
            json!({"additionalProperties": false}),
            vec!["PROPERTY_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL #/properties/foo"],
            true,
        ),
        (
            62,
            json!({"additionalItems": true}),
            json!({"additionalItems": false}),
            vec!["ADDITIONAL_ITEMS_REMOVED #/additionalItems"],
            false,
        ),
        (63, s.clone(), json!({"oneOf": [{"type": "number"}, s]}), vec!["SUM_TYPE_EXTENDED #/"], true),
        (
            64,
            json!({"type": "null"}),
            json!({"oneOf": [{"type": "number"}, {"type": "null"}]}),
            vec!["SUM_TYPE_EXTENDED #/"],
            true,
        ),
        (
            65,
            json!({"type": "string", "maxLength": 3}),
            json!({"oneOf": [{"type": "number"}, s]}),
            vec!["MAX_LENGTH_REMOVED #/maxLength", "SUM_TYPE_EXTENDED #/"],
            true,
        ),
        (
            67,
            prop1(json!({"allOf": [{"enum": ["one", "two", "three"]}, s, {"maxLength": 5}]})),
            prop1(json!({"allOf": [{"maxLength": 5}, {"enum": ["one", "two", "three"]}, s]})),
            vec![],
            true,
        ),
        (68, prop1(json!({"allOf": [s, s]})), prop1(json!({"allOf": [s]})), vec![], true),
        (
            69,
            prop1(json!({"oneOf": [{"type": "string", "maxLength": 5}]})),
            prop1(
                json!({"oneOf": [{"type": "boolean"}, {"type": "number"}, {"title": "my string", "type": "string", "maxLength": 8}]}),
            ),
            vec![
                "SUM_TYPE_EXTENDED #/properties/prop1",
                "TITLE_CHANGED #/properties/prop1/oneOf/0",
                "MAX_LENGTH_INCREASED #/properties/prop1/oneOf/0/maxLength",
            ],
            true,
        ),
        (
            70,
            prop1(json!({"oneOf": [{"type": "number"}, s]})),
            prop1(json!({"oneOf": [s]})),
            vec!["SUM_TYPE_NARROWED #/properties/prop1"],
            false,
        ),
        (
            71,
            prop1(json!({"allOf": [{"enum": ["one", "two", "three"]}, s]})),
            prop1(json!({"allOf": [s]})),
            vec!["PRODUCT_TYPE_NARROWED #/properties/prop1"],
            true,
        ),
        (
            72,
            prop1(json!({"allOf": [s]})),
            prop1(json!({"allOf": [{"enum": ["one", "two", "three"]}, s]})),
            vec!["PRODUCT_TYPE_EXTENDED #/properties/prop1"],
            false,
        ),
        (
            73,
            prop1(json!({"oneOf": [s]})),
            prop1(json!({"anyOf": [{"type": "number"}, s]})),
            vec!["COMBINED_TYPE_EXTENDED #/properties/prop1", "SUM_TYPE_EXTENDED #/properties/prop1"],
            true,
        ),
        (
            74,
            prop1(json!({"anyOf": [{"type": "number"}, s]})),
            prop1(json!({"oneOf": [s]})),
            vec!["COMBINED_TYPE_CHANGED #/properties/prop1"],
            false,
        ),
        (
            75,
            prop1(json!({"oneOf": [s]})),
            prop1(json!({"allOf": [s]})),
            vec!["COMBINED_TYPE_EXTENDED #/properties/prop1"],
            true,
        ),
        (
            76,
            prop1(json!({"oneOf": [s]})),
            prop1(json!({"allOf": [{"type": "number"}, s]})),
            vec!["COMBINED_TYPE_CHANGED #/properties/prop1"],
            false,
        ),
        (
            77,
            prop1(s.clone()),
            prop1(json!({"anyOf": [{"type": "number"}, s]})),
            vec!["SUM_TYPE_EXTENDED #/properties/prop1"],
            true,
        ),
        (78, prop1(s.clone()), prop1(json!({"allOf": [s]})), vec![], true),
        (
            79,
            prop1(s.clone()),
            prop1(json!({"allOf": [{"type": "number"}, s]})),
            vec!["TYPE_CHANGED #/properties/prop1"],
            false,
        ),
    ];
    assert_eq!(cases.len(), 77);
    for (n, o, u, want, compatible) in cases {
        check(n, o, u, &want, compatible);
    }
}

#[test]
fn draft_2020_12_prefix_items_are_the_tuple_and_items_what_follows() {
    let d = "https://json-schema.org/draft/2020-12/schema";
    check(
        80,
        json!({"$schema": d, "type": "array", "prefixItems": [{"type": "string"}, {"type": "number"}]}),
        json!({"$schema": d, "type": "array"}),
        &["ITEM_REMOVED_FROM_OPEN_CONTENT_MODEL #/items/0", "ITEM_REMOVED_FROM_OPEN_CONTENT_MODEL #/items/1"],
        true,
    );
    check(
        81,
        json!({"$schema": d, "items": true}),
        json!({"$schema": d, "items": false}),
        &["ADDITIONAL_ITEMS_REMOVED #/additionalItems"],
        false,
    );
}

#[test]
fn references_to_defs_recursion_and_messages() {
    // `$defs` and `definitions` both resolve, and a recursive schema equals itself.
    let tree = json!({"$defs": {"node": {"type": "object", "properties": {"kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}}}},
        "$ref": "#/$defs/node"});
    assert!(changes(&tree, &tree).is_empty());
    let old = json!({"definitions": {"n": {"type": "integer"}}, "properties": {"a": {"$ref": "#/$defs/n"}}});
    let new = json!({"properties": {"a": {"type": "number"}}});
    assert_eq!(changes(&old, &new), vec![Difference { kind: "TYPE_EXTENDED", path: "#/properties/a".into() }]);
    let msgs = incompatible(&json!({"type": "string"}), &json!({"type": "number"}), "new", "old");
    assert_eq!(msgs, vec!["{errorType:\"TYPE_CHANGED\", description:\"A type at path '#/' is different between the new schema and the old schema\"}"]);
    let msgs = incompatible(
        &json!({"properties": {}, "additionalProperties": false}),
        &json!({"properties": {"b": {"type": "string"}}, "required": ["b"], "additionalProperties": false}),
        "new",
        "old",
    );
    assert_eq!(msgs, vec!["{errorType:\"REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL\", description:\"The new schema has an unopen content model and has a required property at path '#/properties/b' which is missing in the old schema\"}"]);
}
