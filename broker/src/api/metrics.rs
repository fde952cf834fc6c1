//! Per-API request metrics, registered once per broker (after the process
//! installed its metrics recorder), so the request path only bumps handles:
//! `weir_kafka_requests_total`, `weir_kafka_request_bytes_total`,
//! `weir_kafka_response_bytes_total` and the `weir_kafka_request_latency_seconds`
//! histogram, each labelled with Kafka's API name.

use metrics::{Counter, Histogram};

use super::routes::{Route, ROUTES};

pub struct RouteMetrics {
    pub requests: Counter,
    pub request_bytes: Counter,
    pub response_bytes: Counter,
    pub latency: Histogram,
}

pub struct ApiMetrics {
    /// Indexed like [`ROUTES`].
    by_route: Vec<RouteMetrics>,
}

impl ApiMetrics {
    pub fn new() -> ApiMetrics {
        metrics::describe_counter!("weir_kafka_requests_total", "Kafka requests received, by API.");
        metrics::describe_counter!("weir_kafka_request_bytes_total", "Bytes of Kafka request frames, by API.");
        metrics::describe_counter!("weir_kafka_response_bytes_total", "Bytes of Kafka response frames, by API.");
        metrics::describe_histogram!(
            "weir_kafka_request_latency_seconds",
            "Time from a request's arrival to its response being ready (acks=all: after the fsync), by API."
        );
        metrics::describe_counter!(
            "weir_kafka_errors_total",
            "Error codes in Kafka responses (top level, per topic, partition or resource), by API and Kafka's error name."
        );
        metrics::describe_counter!("weir_kafka_connections_total", "Client connections accepted, by listener.");
        metrics::describe_gauge!("weir_kafka_connections_active", "Client connections open now, by listener.");
        let by_route = ROUTES
            .iter()
            .map(|r| RouteMetrics {
                requests: metrics::counter!("weir_kafka_requests_total", "api" => r.name),
                request_bytes: metrics::counter!("weir_kafka_request_bytes_total", "api" => r.name),
                response_bytes: metrics::counter!("weir_kafka_response_bytes_total", "api" => r.name),
                latency: metrics::histogram!("weir_kafka_request_latency_seconds", "api" => r.name),
            })
            .collect();
        ApiMetrics { by_route }
    }

    pub fn of(&self, route: &Route) -> &RouteMetrics {
        &self.by_route[route.index]
    }
}

impl Default for ApiMetrics {
    fn default() -> Self {
        Self::new()
    }
}
