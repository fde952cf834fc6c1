//! Confluent's JSON Schema difference types: which are compatible, and their texts.

/// Confluent's STRICT compatible set, for the difference types this checker finds.
pub const COMPATIBLE: &[&str] = &[
    "ID_CHANGED",
    "DESCRIPTION_CHANGED",
    "TITLE_CHANGED",
    "DEFAULT_CHANGED",
    "SCHEMA_REMOVED",
    "TYPE_EXTENDED",
    "MAX_LENGTH_INCREASED",
    "MAX_LENGTH_REMOVED",
    "MIN_LENGTH_DECREASED",
    "MIN_LENGTH_REMOVED",
    "PATTERN_REMOVED",
    "MAXIMUM_INCREASED",
    "MAXIMUM_REMOVED",
    "MINIMUM_DECREASED",
    "MINIMUM_REMOVED",
    "EXCLUSIVE_MAXIMUM_INCREASED",
    "EXCLUSIVE_MAXIMUM_REMOVED",
    "EXCLUSIVE_MINIMUM_DECREASED",
    "EXCLUSIVE_MINIMUM_REMOVED",
    "MULTIPLE_OF_REDUCED",
    "MULTIPLE_OF_REMOVED",
    "REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED",
    "REQUIRED_ATTRIBUTE_REMOVED",
    "DEPENDENCY_ARRAY_NARROWED",
    "DEPENDENCY_ARRAY_REMOVED",
    "DEPENDENCY_SCHEMA_REMOVED",
    "MAX_PROPERTIES_INCREASED",
    "MAX_PROPERTIES_REMOVED",
    "MIN_PROPERTIES_DECREASED",
    "MIN_PROPERTIES_REMOVED",
    "ADDITIONAL_PROPERTIES_ADDED",
    "ADDITIONAL_PROPERTIES_EXTENDED",
    "PROPERTY_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL",
    "REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_UNOPEN_CONTENT_MODEL",
    "OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL",
    "PROPERTY_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL",
    "PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL",
    "PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
    "PROPERTY_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
    "MAX_ITEMS_INCREASED",
    "MAX_ITEMS_REMOVED",
    "MIN_ITEMS_DECREASED",
    "MIN_ITEMS_REMOVED",
    "UNIQUE_ITEMS_REMOVED",
    "ADDITIONAL_ITEMS_ADDED",
    "ADDITIONAL_ITEMS_EXTENDED",
    "ITEM_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL",
    "ITEM_ADDED_TO_CLOSED_CONTENT_MODEL",
    "ITEM_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL",
    "ITEM_REMOVED_FROM_OPEN_CONTENT_MODEL",
    "ITEM_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
    "ITEM_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
    "ENUM_ARRAY_EXTENDED",
    "COMBINED_TYPE_EXTENDED",
    "PRODUCT_TYPE_NARROWED",
    "SUM_TYPE_EXTENDED",
    "NOT_TYPE_NARROWED",
];

/// One difference: Confluent's type name and the JSON path (`#/properties/a`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    pub kind: &'static str,
    pub path: String,
}

impl Difference {
    pub fn compatible(&self) -> bool {
        COMPATIBLE.contains(&self.kind)
    }

    /// Confluent's text, `reader` and `writer` being "new"/"old" as the level's
    /// direction makes them.
    pub fn message(&self, reader: &str, writer: &str) -> String {
        let p = &self.path;
        let k = self.kind;
        let ends = |s: &str| k.ends_with(s);
        let description = if k == "TYPE_CHANGED"
            || k == "TYPE_NARROWED"
            || k == "COMBINED_TYPE_CHANGED"
            || k == "COMBINED_TYPE_SUBSCHEMAS_CHANGED"
            || k == "ENUM_ARRAY_CHANGED"
        {
            format!("A type at path '{p}' is different between the {reader} schema and the {writer} schema")
        } else if k == "PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL" || k == "ITEM_ADDED_TO_OPEN_CONTENT_MODEL" {
            format!("The {reader} schema has an open content model and has a property or item at path '{p}' which is missing in the {writer} schema")
        } else if k == "REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL" {
            format!("The {reader} schema has an unopen content model and has a required property at path '{p}' which is missing in the {writer} schema")
        } else if ends("REMOVED_FROM_CLOSED_CONTENT_MODEL") {
            format!("The {reader} schema has a closed content model and is missing a property or item present at path '{p}' in the {writer} schema")
        } else if ends("REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL") {
            format!("A property or item is missing in the {reader} schema but present at path '{p}' in the {writer} schema and is not covered by its partially open content model")
        } else if ends("ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL") {
            format!("The {reader} schema has a property or item at path '{p}' which is missing in the {writer} schema and is not covered by its partially open content model")
        } else if ends("_NARROWED") {
            format!("An array or combined type at path '{p}' has fewer elements in the {reader} schema than the {writer} schema")
        } else if ends("_EXTENDED") {
            format!("An array or combined type at path '{p}' has more elements in the {reader} schema than the {writer} schema")
        } else if ends("_INCREASED") || k == "MULTIPLE_OF_EXPANDED" {
            format!("The value at path '{p}' in the {reader} schema is more than its value in the {writer} schema")
        } else if ends("_DECREASED") {
            format!("The value at path '{p}' in the {reader} schema is less than its value in the {writer} schema")
        } else if ends("_CHANGED") {
            format!("The value at path '{p}' is different between the {reader} and {writer} schema")
        } else if ends("_ADDED") || k == "ADDITIONAL_ITEMS_REMOVED" || k == "ADDITIONAL_PROPERTIES_REMOVED" {
            format!("The keyword at path '{p}' in the {reader} schema is not present in the {writer} schema")
        } else {
            String::new()
        };
        format!("{{errorType:\"{k}\", description:\"{description}\"}}")
    }
}
