//! DescribeConfigs (key 32): topic configs with their sources and synonyms, and the
//! broker's static configs.

use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use kafka_protocol::ResponseError;

use super::{str_bytes, RequestContext};
use crate::config::{source, BROKER_KEYS, TOPIC_CONFIGS};
use crate::Shared;

pub const RESOURCE_TOPIC: i8 = 2;
pub const RESOURCE_BROKER: i8 = 4;

struct Entry {
    name: &'static str,
    value: Option<String>,
    source: i8,
    read_only: bool,
    ty: i8,
    doc: &'static str,
    synonyms: Vec<(String, Option<String>, i8)>,
}

fn topic_entries(shared: &Shared, overrides: &std::collections::BTreeMap<String, String>) -> Vec<Entry> {
    let mut out = Vec::new();
    for def in TOPIC_CONFIGS {
        let mut synonyms = Vec::new();
        if let Some(v) = overrides.get(def.name) {
            synonyms.push((def.name.to_string(), Some(v.clone()), source::DYNAMIC_TOPIC_CONFIG));
        }
        for (key, _) in def.synonyms {
            if let Some(v) = shared.config.set.get(*key) {
                synonyms.push((key.to_string(), Some(v.clone()), source::STATIC_BROKER_CONFIG));
            }
        }
        if let Some(d) = def.default {
            let name = def.synonyms.first().map_or(def.name, |s| s.0);
            synonyms.push((name.to_string(), Some(d.to_string()), source::DEFAULT_CONFIG));
        }
        let (value, src) = match overrides.get(def.name) {
            Some(v) => (v.clone(), source::DYNAMIC_TOPIC_CONFIG),
            None => match shared.config.topic_default(def) {
                Some((v, s, _)) => (v, s),
                // Unset flush keys: Weir's durable policy applies; nothing to report.
                None => continue,
            },
        };
        out.push(Entry {
            name: def.name,
            value: Some(value),
            source: src,
            read_only: false,
            ty: def.ty as i8,
            doc: def.doc,
            synonyms,
        });
    }
    out
}

fn broker_entries(shared: &Shared) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut push = |name: &'static str, ty: i8, doc: &'static str| {
        let set = shared.config.set.get(name).cloned();
        let value = shared.config.get(name);
        let src = if set.is_some() { source::STATIC_BROKER_CONFIG } else { source::DEFAULT_CONFIG };
        let synonyms = value.clone().map(|v| vec![(name.to_string(), Some(v), src)]).unwrap_or_default();
        out.push(Entry { name, value, source: src, read_only: true, ty, doc, synonyms });
    };
    for (name, _, ty, doc) in BROKER_KEYS {
        push(name, *ty as i8, doc);
    }
    for def in TOPIC_CONFIGS {
        for (key, _) in def.synonyms {
            if !BROKER_KEYS.iter().any(|b| b.0 == *key) {
                push(key, def.ty as i8, def.doc);
            }
        }
    }
    out.sort_by_key(|e| e.name);
    out.dedup_by_key(|e| e.name);
    out
}

pub fn handle(ctx: &RequestContext, req: DescribeConfigsRequest) -> DescribeConfigsResponse {
    let shared = &ctx.shared;
    let mut results = Vec::with_capacity(req.resources.len());
    for r in req.resources {
        let base = DescribeConfigsResult::default()
            .with_resource_type(r.resource_type)
            .with_resource_name(r.resource_name.clone());
        let name = r.resource_name.to_string();
        let entries = match r.resource_type {
            RESOURCE_TOPIC => match shared.meta.topic(&name) {
                Some(t) => topic_entries(shared, &t.configs),
                None => {
                    results.push(
                        base.with_error_code(ResponseError::UnknownTopicOrPartition.code())
                            .with_error_message(Some(str_bytes(format!("Topic '{name}' does not exist.")))),
                    );
                    continue;
                }
            },
            RESOURCE_BROKER if name.is_empty() || name == shared.node_id.to_string() => broker_entries(shared),
            RESOURCE_BROKER => {
                results.push(base.with_error_code(ResponseError::InvalidRequest.code()).with_error_message(Some(
                    str_bytes(format!("Unexpected broker id, expected {} but received {name}", shared.node_id)),
                )));
                continue;
            }
            other => {
                results.push(
                    base.with_error_code(ResponseError::InvalidRequest.code())
                        .with_error_message(Some(str_bytes(format!("Config resource type {other} is not supported")))),
                );
                continue;
            }
        };
        // Null or empty: every config, as Kafka does.
        let wanted =
            r.configuration_keys.filter(|k| !k.is_empty()).map(|k| k.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let configs = entries
            .into_iter()
            .filter(|e| wanted.as_ref().is_none_or(|w| w.iter().any(|k| k == e.name)))
            .map(|e| {
                let mut c = DescribeConfigsResourceResult::default()
                    .with_name(str_bytes(e.name))
                    .with_value(e.value.map(str_bytes))
                    .with_read_only(e.read_only)
                    .with_config_source(e.source)
                    .with_config_type(e.ty);
                if req.include_synonyms {
                    c = c.with_synonyms(
                        e.synonyms
                            .into_iter()
                            .map(|(n, v, s)| {
                                DescribeConfigsSynonym::default()
                                    .with_name(str_bytes(n))
                                    .with_value(v.map(str_bytes))
                                    .with_source(s)
                            })
                            .collect(),
                    );
                }
                if req.include_documentation {
                    c = c.with_documentation(Some(str_bytes(e.doc)));
                }
                c
            })
            .collect();
        results.push(base.with_configs(configs));
    }
    DescribeConfigsResponse::default().with_results(results)
}
