//! The part of OpenTelemetry's metrics protocol (OTLP, `ExportMetricsServiceRequest`)
//! that clients push with PushTelemetry (KIP-714): resource and data-point
//! attributes, gauges and sums with their number data points. Histograms and
//! summaries are skipped (the metrics KIP-714 defines are gauges and sums). Field
//! numbers follow opentelemetry-proto's `metrics/v1/metrics.proto`.

use prost::Message;

#[derive(Clone, PartialEq, Message)]
pub struct ExportMetricsServiceRequest {
    #[prost(message, repeated, tag = "1")]
    pub resource_metrics: Vec<ResourceMetrics>,
}

#[derive(Clone, PartialEq, Message)]
pub struct ResourceMetrics {
    #[prost(message, optional, tag = "1")]
    pub resource: Option<Resource>,
    #[prost(message, repeated, tag = "2")]
    pub scope_metrics: Vec<ScopeMetrics>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Resource {
    #[prost(message, repeated, tag = "1")]
    pub attributes: Vec<KeyValue>,
}

#[derive(Clone, PartialEq, Message)]
pub struct ScopeMetrics {
    #[prost(message, repeated, tag = "2")]
    pub metrics: Vec<Metric>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Metric {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(message, optional, tag = "5")]
    pub gauge: Option<Gauge>,
    #[prost(message, optional, tag = "7")]
    pub sum: Option<Sum>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Gauge {
    #[prost(message, repeated, tag = "1")]
    pub data_points: Vec<NumberDataPoint>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Sum {
    #[prost(message, repeated, tag = "1")]
    pub data_points: Vec<NumberDataPoint>,
    #[prost(int32, tag = "2")]
    pub aggregation_temporality: i32,
    #[prost(bool, tag = "3")]
    pub is_monotonic: bool,
}

#[derive(Clone, PartialEq, Message)]
pub struct NumberDataPoint {
    #[prost(message, repeated, tag = "7")]
    pub attributes: Vec<KeyValue>,
    #[prost(fixed64, tag = "3")]
    pub time_unix_nano: u64,
    #[prost(double, optional, tag = "4")]
    pub as_double: Option<f64>,
    #[prost(sfixed64, optional, tag = "6")]
    pub as_int: Option<i64>,
}

#[derive(Clone, PartialEq, Message)]
pub struct KeyValue {
    #[prost(string, tag = "1")]
    pub key: String,
    #[prost(message, optional, tag = "2")]
    pub value: Option<AnyValue>,
}

#[derive(Clone, PartialEq, Message)]
pub struct AnyValue {
    #[prost(string, optional, tag = "1")]
    pub string_value: Option<String>,
    #[prost(bool, optional, tag = "2")]
    pub bool_value: Option<bool>,
    #[prost(int64, optional, tag = "3")]
    pub int_value: Option<i64>,
    #[prost(double, optional, tag = "4")]
    pub double_value: Option<f64>,
}

impl AnyValue {
    fn text(&self) -> String {
        if let Some(s) = &self.string_value {
            s.clone()
        } else if let Some(b) = self.bool_value {
            b.to_string()
        } else if let Some(i) = self.int_value {
            i.to_string()
        } else if let Some(d) = self.double_value {
            d.to_string()
        } else {
            String::new()
        }
    }
}

/// One value a client reported: metric name, attributes (resource's, then the
/// point's), value.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    pub name: String,
    pub attributes: Vec<(String, String)>,
    pub value: f64,
}

/// Decodes a payload into its gauge and sum points.
pub fn decode(payload: &[u8]) -> Result<Vec<Point>, prost::DecodeError> {
    let req = ExportMetricsServiceRequest::decode(payload)?;
    let mut out = Vec::new();
    let attrs = |kvs: &[KeyValue]| -> Vec<(String, String)> {
        kvs.iter().map(|kv| (kv.key.clone(), kv.value.as_ref().map(AnyValue::text).unwrap_or_default())).collect()
    };
    for rm in &req.resource_metrics {
        let resource = rm.resource.as_ref().map(|r| attrs(&r.attributes)).unwrap_or_default();
        for sm in &rm.scope_metrics {
            for m in &sm.metrics {
                let points = m.gauge.as_ref().map(|g| &g.data_points).or(m.sum.as_ref().map(|s| &s.data_points));
                for p in points.into_iter().flatten() {
                    let Some(value) = p.as_double.or(p.as_int.map(|i| i as f64)) else { continue };
                    let mut attributes = resource.clone();
                    attributes.extend(attrs(&p.attributes));
                    out.push(Point { name: m.name.clone(), attributes, value });
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauges_and_sums_decode_with_their_attributes() {
        let kv = |k: &str, v: &str| KeyValue {
            key: k.into(),
            value: Some(AnyValue { string_value: Some(v.into()), ..Default::default() }),
        };
        let point = |v: Option<f64>, i: Option<i64>| NumberDataPoint {
            attributes: vec![kv("topic", "t")],
            time_unix_nano: 1,
            as_double: v,
            as_int: i,
        };
        let req = ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(Resource { attributes: vec![kv("client_rack", "r1")] }),
                scope_metrics: vec![ScopeMetrics {
                    metrics: vec![
                        Metric {
                            name: "org.apache.kafka.producer.record.queue.time.avg".into(),
                            gauge: Some(Gauge { data_points: vec![point(Some(1.5), None)] }),
                            sum: None,
                        },
                        Metric {
                            name: "org.apache.kafka.producer.connection.creation.total".into(),
                            gauge: None,
                            sum: Some(Sum {
                                data_points: vec![point(None, Some(3))],
                                aggregation_temporality: 2,
                                is_monotonic: true,
                            }),
                        },
                    ],
                }],
            }],
        };
        let points = decode(&req.encode_to_vec()).unwrap();
        assert_eq!(points.len(), 2);
        assert_eq!(points[0].value, 1.5);
        assert_eq!(points[1].value, 3.0);
        assert_eq!(points[1].attributes, vec![("client_rack".into(), "r1".into()), ("topic".into(), "t".into())]);
        assert!(decode(b"\xff\xff\xff").is_err());
    }
}
