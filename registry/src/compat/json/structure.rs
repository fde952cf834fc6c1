//! Objects and arrays: properties and items against open, closed and partially
//! open content models, `required`, `dependencies`, `additional*` and their bounds.

use serde_json::Value;

use super::load::{additional, items, load, open_object, partial_object, Keyed, Kind, Node};
use super::Cx;

impl<'a> Cx<'a> {
    /// Compares a property or item with the schema a partially open content model
    /// gives it: the differences found count, and `kinds` says covered or not.
    fn against_partial(&mut self, at: &str, o: &Node<'a>, u: &Node<'a>, kinds: [&'static str; 2]) {
        let mut sub = self.sub();
        sub.path.push(at.to_string());
        sub.compare(o, u);
        let covered = sub.compatible();
        self.out.extend(sub.out);
        self.add_at(at, if covered { kinds[0] } else { kinds[1] });
    }

    pub(super) fn object(&mut self, o: &Node<'a>, u: &Node<'a>) {
        let props = |n: &Node<'a>| Keyed(n.get("properties").and_then(Value::as_object));
        let required = |n: &Node<'a>| -> Vec<String> {
            n.get("required")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
                .unwrap_or_default()
        };
        let (op, up) = (props(o), props(u));
        let (or, ur) = (required(o), required(u));
        for k in op.keys().filter(|k| up.get(k).is_some()) {
            match (or.contains(k), ur.contains(k)) {
                (true, false) => self.add_at(&format!("required/{k}"), "REQUIRED_ATTRIBUTE_REMOVED"),
                (false, true) => {
                    let with_default = up.get(k).is_some_and(|p| load(p, self.roots.1).has_default());
                    let kind =
                        if with_default { "REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED" } else { "REQUIRED_ATTRIBUTE_ADDED" };
                    self.add_at(&format!("required/{k}"), kind);
                }
                _ => {}
            }
        }
        let keys: Vec<&String> = op.keys().chain(up.keys().filter(|k| op.get(k).is_none())).collect();
        for k in keys {
            let at = format!("properties/{k}");
            match (op.get(k), up.get(k)) {
                (Some(ov), None) => {
                    let on = load(ov, self.roots.0);
                    if open_object(u) {
                        self.add_at(&at, "PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL");
                    } else if let Some(s) = partial_object(u, k) {
                        let s = load(s, self.roots.1);
                        self.against_partial(
                            &at,
                            &on,
                            &s,
                            [
                                "PROPERTY_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
                                "PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
                            ],
                        );
                    } else if on.kind == Kind::False {
                        self.add_at(&at, "PROPERTY_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL");
                    } else {
                        self.add_at(&at, "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL");
                    }
                }
                (None, Some(uv)) => {
                    let un = load(uv, self.roots.1);
                    if open_object(o) {
                        self.add_at(
                            &at,
                            if un.kind == Kind::Empty {
                                "PROPERTY_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL"
                            } else {
                                "PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL"
                            },
                        );
                        continue;
                    }
                    if let Some(s) = partial_object(o, k) {
                        let s = load(s, self.roots.0);
                        self.against_partial(
                            &at,
                            &s,
                            &un,
                            [
                                "PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
                                "PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
                            ],
                        );
                    }
                    let kind = match (ur.contains(k), un.has_default()) {
                        (true, true) => "REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_UNOPEN_CONTENT_MODEL",
                        (true, false) => "REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL",
                        _ => "OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL",
                    };
                    self.add_at(&at, kind);
                }
                (Some(ov), Some(uv)) => {
                    let (on, un) = (load(ov, self.roots.0), load(uv, self.roots.1));
                    self.at(&at, &on, &un);
                }
                (None, None) => {}
            }
        }
        self.dependencies(o, u);
        let (oa, ua) = (additional(o, "additionalProperties"), additional(u, "additionalProperties"));
        self.additional(
            "additionalProperties",
            oa,
            ua,
            [
                "ADDITIONAL_PROPERTIES_ADDED",
                "ADDITIONAL_PROPERTIES_REMOVED",
                "ADDITIONAL_PROPERTIES_NARROWED",
                "ADDITIONAL_PROPERTIES_EXTENDED",
            ],
        );
        bound!(self, o, u, "maxProperties", "MAX_PROPERTIES");
        bound!(self, o, u, "minProperties", "MIN_PROPERTIES");
    }

    fn dependencies(&mut self, o: &Node<'a>, u: &Node<'a>) {
        let deps = |n: &Node<'a>| Keyed(n.get("dependencies").and_then(Value::as_object));
        let (od, ud) = (deps(o), deps(u));
        let keys: Vec<&String> = od.keys().chain(ud.keys().filter(|k| od.get(k).is_none())).collect();
        for k in keys {
            let at = format!("dependencies/{k}");
            match (od.get(k), ud.get(k)) {
                (Some(Value::Array(a)), Some(Value::Array(b))) => {
                    let (a, b): (Vec<&Value>, Vec<&Value>) = (a.iter().collect(), b.iter().collect());
                    let up = a.iter().all(|x| b.contains(x));
                    let down = b.iter().all(|x| a.contains(x));
                    match (up, down) {
                        (true, true) => {}
                        (true, false) => self.add_at(&at, "DEPENDENCY_ARRAY_EXTENDED"),
                        (false, true) => self.add_at(&at, "DEPENDENCY_ARRAY_NARROWED"),
                        (false, false) => self.add_at(&at, "DEPENDENCY_ARRAY_CHANGED"),
                    }
                }
                (Some(Value::Array(_)), None) => self.add_at(&at, "DEPENDENCY_ARRAY_REMOVED"),
                (None, Some(Value::Array(_))) => self.add_at(&at, "DEPENDENCY_ARRAY_ADDED"),
                (Some(_), None) => self.add_at(&at, "DEPENDENCY_SCHEMA_REMOVED"),
                (None, Some(_)) => self.add_at(&at, "DEPENDENCY_SCHEMA_ADDED"),
                (Some(a), Some(b)) => {
                    let (a, b) = (load(a, self.roots.0), load(b, self.roots.1));
                    self.at(&at, &a, &b);
                }
                (None, None) => {}
            }
        }
    }

    /// `additionalProperties` / `additionalItems`: (permits, schema).
    fn additional(
        &mut self,
        key: &str,
        o: (bool, Option<&'a Value>),
        u: (bool, Option<&'a Value>),
        kinds: [&'static str; 4],
    ) {
        if o.0 != u.0 {
            self.add_at(key, if u.0 { kinds[0] } else { kinds[1] });
            return;
        }
        match (o.1, u.1) {
            (None, Some(_)) => self.add_at(key, kinds[2]),
            (Some(_), None) => self.add_at(key, kinds[3]),
            (Some(a), Some(b)) => {
                let (a, b) = (load(a, self.roots.0), load(b, self.roots.1));
                self.at(key, &a, &b);
            }
            (None, None) => {}
        }
    }

    pub(super) fn array(&mut self, o: &Node<'a>, u: &Node<'a>) {
        let (oi, ui) = (items(o, self.roots.0), items(u, self.roots.1));
        self.optional("items", oi.all, ui.all);
        let (ot, ut) = (oi.tuple, ui.tuple);
        for i in 0..ot.len().max(ut.len()) {
            let at = format!("items/{i}");
            match (ot.get(i), ut.get(i)) {
                (Some(a), Some(b)) => {
                    let (a, b) = (load(a, self.roots.0), load(b, self.roots.1));
                    self.at(&at, &a, &b);
                }
                (Some(a), None) => {
                    let a = load(a, self.roots.0);
                    if ui.open() {
                        self.add_at(&at, "ITEM_REMOVED_FROM_OPEN_CONTENT_MODEL");
                    } else if let Some(s) = ui.additional.1 {
                        let s = load(s, self.roots.1);
                        self.against_partial(
                            &at,
                            &a,
                            &s,
                            [
                                "ITEM_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
                                "ITEM_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
                            ],
                        );
                    } else if a.kind == Kind::False {
                        self.add_at(&at, "ITEM_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL");
                    } else {
                        self.add_at(&at, "ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL");
                    }
                }
                (None, Some(b)) => {
                    let b = load(b, self.roots.1);
                    if oi.open() {
                        self.add_at(
                            &at,
                            if b.kind == Kind::Empty {
                                "ITEM_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL"
                            } else {
                                "ITEM_ADDED_TO_OPEN_CONTENT_MODEL"
                            },
                        );
                    } else if let Some(s) = oi.additional.1 {
                        let s = load(s, self.roots.0);
                        self.against_partial(
                            &at,
                            &s,
                            &b,
                            [
                                "ITEM_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
                                "ITEM_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
                            ],
                        );
                    } else {
                        self.add_at(&at, "ITEM_ADDED_TO_CLOSED_CONTENT_MODEL");
                    }
                }
                (None, None) => {}
            }
        }
        self.additional(
            "additionalItems",
            oi.additional,
            ui.additional,
            [
                "ADDITIONAL_ITEMS_ADDED",
                "ADDITIONAL_ITEMS_REMOVED",
                "ADDITIONAL_ITEMS_NARROWED",
                "ADDITIONAL_ITEMS_EXTENDED",
            ],
        );
        bound!(self, o, u, "maxItems", "MAX_ITEMS");
        bound!(self, o, u, "minItems", "MIN_ITEMS");
        let unique = |n: &Node<'a>| n.get("uniqueItems").and_then(Value::as_bool).unwrap_or(false);
        match (unique(o), unique(u)) {
            (true, false) => self.add_at("uniqueItems", "UNIQUE_ITEMS_REMOVED"),
            (false, true) => self.add_at("uniqueItems", "UNIQUE_ITEMS_ADDED"),
            _ => {}
        }
    }
}
