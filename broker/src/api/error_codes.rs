//! `weir_kafka_errors_total{api, error}`: every non-zero error code a
//! response carries (top level, per topic, per partition, per resource),
//! counted under Kafka's API name and Kafka's error name
//! (`UNKNOWN_TOPIC_OR_PARTITION`, ...). A response is walked once before it
//! is encoded: per partition, never per record.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use kafka_protocol::messages::ApiKey;
use kafka_protocol::ResponseError;

/// Visits every error code of a response.
pub trait ErrorCodes {
    fn error_codes(&self, f: &mut dyn FnMut(i16));
}

/// Calls `f` with the `i16` at the end of a path from `v`: `[xs]` visits each
/// element of `xs`, `?x` the value of `x` if present, `.x` the field `x`.
macro_rules! visit {
    ($v:expr, $f:ident; $last:ident) => {
        $f($v.$last)
    };
    ($v:expr, $f:ident; [$each:ident] $($rest:tt)+) => {
        for x in &$v.$each {
            visit!(x, $f; $($rest)+)
        }
    };
    ($v:expr, $f:ident; ?$opt:ident $($rest:tt)+) => {
        if let Some(x) = &$v.$opt {
            visit!(x, $f; $($rest)+)
        }
    };
    ($v:expr, $f:ident; .$field:ident $($rest:tt)+) => {
        visit!(&$v.$field, $f; $($rest)+)
    };
}

/// `ErrorCodes` for a response type, from the paths to its error code fields.
macro_rules! error_codes {
    ($ty:ty: $(($($path:tt)+))*) => {
        impl $crate::api::error_codes::ErrorCodes for $ty {
            fn error_codes(&self, f: &mut dyn FnMut(i16)) {
                $(visit!(self, f; $($path)+);)*
            }
        }
    };
}

mod generated;

/// Kafka's name of an error code (`TopicAlreadyExists` -> `TOPIC_ALREADY_EXISTS`);
/// `UNKNOWN_<code>` for a code this build does not know.
pub fn error_name(code: i16) -> &'static str {
    // Names are few (Kafka defines ~130 codes): made once each, kept for the
    // life of the process.
    static NAMES: LazyLock<Mutex<HashMap<i16, &'static str>>> = LazyLock::new(Default::default);
    let mut names = NAMES.lock().unwrap_or_else(|p| p.into_inner());
    names.entry(code).or_insert_with(|| {
        // Codes this build does not name come back as `Unknown(code)`.
        let name = match ResponseError::try_from_code(code).map(|e| format!("{e:?}")) {
            Some(debug) if !debug.contains('(') => snake_upper(&debug),
            _ => format!("UNKNOWN_{code}"),
        };
        Box::leak(name.into_boxed_str())
    })
}

/// `TopicAlreadyExists` as `TOPIC_ALREADY_EXISTS`.
pub fn snake_upper(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 8);
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// Counts the errors of `body`, a response of API `key`.
pub fn count<R: ErrorCodes>(key: ApiKey, body: &R) {
    let Some(route) = super::routes::route(key as i16) else { return };
    let mut failed = false;
    body.error_codes(&mut |code| {
        if code != 0 {
            failed = true;
            metrics::counter!("weir_kafka_errors_total", "api" => route.name, "error" => error_name(code)).increment(1);
        }
    });
    if failed {
        super::stats::ROUTE_STATS[route.index].record_error();
    }
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
    use kafka_protocol::messages::ProduceResponse;

    use super::*;

    #[test]
    fn names_are_kafkas() {
        assert_eq!(error_name(ResponseError::UnknownTopicOrPartition.code()), "UNKNOWN_TOPIC_OR_PARTITION");
        assert_eq!(error_name(ResponseError::NotLeaderOrFollower.code()), "NOT_LEADER_OR_FOLLOWER");
        assert_eq!(error_name(ResponseError::InvalidTopicException.code()), "INVALID_TOPIC_EXCEPTION");
        assert_eq!(error_name(-1), "UNKNOWN_SERVER_ERROR");
        assert_eq!(error_name(30_000), "UNKNOWN_30000");
    }

    #[test]
    fn every_partition_error_is_visited() {
        let part = |code: i16| PartitionProduceResponse::default().with_error_code(code);
        let resp = ProduceResponse::default().with_responses(vec![
            TopicProduceResponse::default().with_partition_responses(vec![part(0), part(3), part(3)]),
            TopicProduceResponse::default().with_partition_responses(vec![part(87)]),
        ]);
        let mut seen = Vec::new();
        resp.error_codes(&mut |c| seen.push(c));
        assert_eq!(seen, [0, 3, 3, 87]);
    }

    #[test]
    fn paths_through_options_and_fields_are_walked() {
        struct Leaf {
            error_code: i16,
        }
        struct Mid {
            leaves: Vec<Leaf>,
            inner: Leaf,
        }
        struct Top {
            error_code: i16,
            mid: Option<Mid>,
            mids: Vec<Mid>,
        }
        error_codes!(Top: (error_code) (?mid [leaves] error_code) ([mids] .inner error_code));
        let mid = |codes: &[i16], inner: i16| Mid {
            leaves: codes.iter().map(|&error_code| Leaf { error_code }).collect(),
            inner: Leaf { error_code: inner },
        };
        let top = Top { error_code: 1, mid: Some(mid(&[2, 3], 99)), mids: vec![mid(&[], 4), mid(&[98], 5)] };
        let mut seen = Vec::new();
        top.error_codes(&mut |c| seen.push(c));
        assert_eq!(seen, [1, 2, 3, 4, 5]);
        let none = Top { mid: None, ..top };
        seen.clear();
        none.error_codes(&mut |c| seen.push(c));
        assert_eq!(seen, [1, 4, 5]);
    }
}
