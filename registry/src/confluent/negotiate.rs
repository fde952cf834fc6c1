//! Content negotiation as Confluent's REST layer does it. Responses are
//! `application/vnd.schemaregistry.v1+json` (server weight 1),
//! `application/vnd.schemaregistry+json` (0.9) or `application/json` (0.5): the
//! type with the highest client `q` times server weight wins, and an `Accept`
//! that admits none of them is 406. A request body may be any of the three or
//! `application/octet-stream` (also assumed when there is no `Content-Type`);
//! anything else is 415. The body is read as JSON whatever its charset
//! parameter says, UTF-8/16/32 told apart by its first bytes, as Jackson does.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::{ApiError, CONTENT_TYPE};

const PRODUCED: [(&str, f32); 3] =
    [(CONTENT_TYPE, 1.0), ("application/vnd.schemaregistry+json", 0.9), ("application/json", 0.5)];
const CONSUMED: [&str; 4] =
    [CONTENT_TYPE, "application/vnd.schemaregistry+json", "application/json", "application/octet-stream"];

/// The media type (lower case, parameters dropped) and its `q`.
fn ranges(accept: &str) -> Vec<(String, f32)> {
    accept
        .split(',')
        .filter_map(|part| {
            let mut it = part.split(';');
            let ty = it.next()?.trim().to_ascii_lowercase();
            if ty.is_empty() {
                return None;
            }
            let q = it
                .filter_map(|p| p.split_once('='))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
                .and_then(|(_, v)| v.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            Some((ty, q))
        })
        .collect()
}

/// The response type for an `Accept` header; None: nothing we produce.
pub fn choose(accept: Option<&str>) -> Option<&'static str> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else { return Some(CONTENT_TYPE) };
    let ranges = ranges(accept);
    let mut best: Option<(&'static str, f32)> = None;
    for (ty, weight) in PRODUCED {
        let (main, _) = ty.split_once('/').expect("a media type");
        // The most specific range that matches decides the client's q for this type.
        let q = ranges
            .iter()
            .filter_map(|(r, q)| {
                let specificity = if r == ty {
                    2
                } else if r.strip_suffix("/*").is_some_and(|m| m == main) {
                    1
                } else if r == "*/*" || r == "*" {
                    0
                } else {
                    return None;
                };
                Some((specificity, *q))
            })
            .max_by_key(|(s, _)| *s)
            .map(|(_, q)| q)
            .unwrap_or(0.0);
        let score = q * weight;
        if score > 0.0 && best.is_none_or(|(_, b)| score > b) {
            best = Some((ty, score));
        }
    }
    best.map(|(t, _)| t)
}

fn body_allowed(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else { return true };
    let ty = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    ty.is_empty() || CONSUMED.contains(&ty.as_str())
}

/// Re-encodes a UTF-16 or UTF-32 JSON body (told by its first bytes, as JSON's
/// RFC 4627 detection does) as UTF-8; other bodies pass unchanged.
pub fn to_utf8(b: &[u8]) -> Option<Vec<u8>> {
    let units16 = |be: bool, skip: usize| -> Option<Vec<u8>> {
        let u: Vec<u16> = b[skip..]
            .chunks_exact(2)
            .map(|c| if be { u16::from_be_bytes([c[0], c[1]]) } else { u16::from_le_bytes([c[0], c[1]]) })
            .collect();
        String::from_utf16(&u).ok().map(String::into_bytes)
    };
    let units32 = |be: bool, skip: usize| -> Option<Vec<u8>> {
        b[skip..]
            .chunks_exact(4)
            .map(|c| {
                let n = if be {
                    u32::from_be_bytes([c[0], c[1], c[2], c[3]])
                } else {
                    u32::from_le_bytes([c[0], c[1], c[2], c[3]])
                };
                char::from_u32(n)
            })
            .collect::<Option<String>>()
            .map(String::into_bytes)
    };
    match b {
        [0xEF, 0xBB, 0xBF, ..] => Some(b[3..].to_vec()),
        [0, 0, 0xFE, 0xFF, ..] => units32(true, 4),
        [0xFF, 0xFE, 0, 0, ..] => units32(false, 4),
        [0xFE, 0xFF, ..] => units16(true, 2),
        [0xFF, 0xFE, ..] => units16(false, 2),
        [0, 0, 0, x, ..] if *x != 0 => units32(true, 0),
        [x, 0, 0, 0, ..] if *x != 0 => units32(false, 0),
        [0, x, ..] if *x != 0 => units16(true, 0),
        [x, 0, ..] if *x != 0 => units16(false, 0),
        _ => None,
    }
}

pub async fn middleware(req: Request, next: Next) -> Response {
    let accept = req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let Some(chosen) = choose(accept) else {
        return ApiError::new(406, 406, "HTTP 406 Not Acceptable").into_response();
    };
    let has_body = matches!(*req.method(), Method::POST | Method::PUT);
    let ct = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    if has_body && !body_allowed(ct) {
        return ApiError::new(415, 415, "HTTP 415 Unsupported Media Type").into_response();
    }
    let req = if has_body {
        // The same bound the handlers' body extractor applies (axum's default).
        let (req, bytes) = match weir_http_security::body::buffer(req, weir_http_security::body::BODY_LIMIT).await {
            Ok(read) => read,
            Err(e) => {
                let status = e.status().as_u16();
                return ApiError::new(status, status as u32, format!("HTTP {status}: {}", e.message())).into_response();
            }
        };
        let (parts, _) = req.into_parts();
        let bytes = match to_utf8(&bytes) {
            Some(converted) => axum::body::Bytes::from(converted),
            None => bytes,
        };
        Request::from_parts(parts, Body::from(bytes))
    } else {
        req
    };
    let mut resp = next.run(req).await;
    if resp.status() == axum::http::StatusCode::METHOD_NOT_ALLOWED {
        return ApiError::new(405, 405, "HTTP 405 Method Not Allowed").into_response();
    }
    let ours = resp.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes() == CONTENT_TYPE.as_bytes());
    if ours && chosen != CONTENT_TYPE {
        resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(chosen));
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_best_weighted_type_wins_and_others_are_refused() {
        assert_eq!(choose(None), Some(CONTENT_TYPE));
        assert_eq!(choose(Some("*/*")), Some(CONTENT_TYPE));
        assert_eq!(choose(Some("application/*")), Some(CONTENT_TYPE));
        assert_eq!(choose(Some("application/json")), Some("application/json"));
        assert_eq!(choose(Some("application/vnd.schemaregistry+json")), Some("application/vnd.schemaregistry+json"));
        assert_eq!(
            choose(Some("application/vnd.schemaregistry.v1+json; q=0.9, application/json; q=0.5")),
            Some(CONTENT_TYPE)
        );
        assert_eq!(choose(Some("application/json, */*;q=0.1")), Some("application/json"));
        assert_eq!(choose(Some("text/html")), None);
        assert_eq!(choose(Some("application/json;q=0")), None);
    }

    #[test]
    fn bodies_in_utf16_and_utf32_are_read_as_json() {
        let s = r#"{"schema": "\"int\""}"#;
        let le16: Vec<u8> = s.encode_utf16().flat_map(u16::to_le_bytes).collect();
        let be16: Vec<u8> = s.encode_utf16().flat_map(u16::to_be_bytes).collect();
        let be32: Vec<u8> = s.chars().flat_map(|c| (c as u32).to_be_bytes()).collect();
        for b in [le16, be16, be32] {
            assert_eq!(to_utf8(&b).as_deref(), Some(s.as_bytes()));
        }
        assert_eq!(to_utf8(s.as_bytes()), None, "UTF-8 passes unchanged");
        assert!(body_allowed(None) && body_allowed(Some("application/json; charset=UTF-8")));
        assert!(!body_allowed(Some("text/plain")));
    }
}
