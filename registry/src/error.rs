//! Errors: `RegistryError` for start-up and storage, `ApiError` for what an HTTP
//! client gets, in Confluent's shape: `{"error_code": 40401, "message": "..."}`
//! with the HTTP status the code's first digits name (404, 409, 422, 500).

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use weir_broker::BrokerError;

pub const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("schema registry storage: {0}")]
    Broker(#[from] BrokerError),
    #[error("cannot bind the schema registry listener {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
    #[error("schema registry start-up failed: {0}")]
    Startup(String),
}

impl From<weir_http_security::HttpSecurityError> for RegistryError {
    fn from(e: weir_http_security::HttpSecurityError) -> RegistryError {
        match e {
            weir_http_security::HttpSecurityError::Bind { addr, source } => RegistryError::Bind { addr, source },
            other => RegistryError::Startup(other.to_string()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    pub status: u16,
    pub code: u32,
    pub message: String,
}

impl ApiError {
    pub fn new(status: u16, code: u32, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into() }
    }
    pub fn subject_not_found(s: &str) -> ApiError {
        ApiError::new(404, 40401, format!("Subject '{s}' not found."))
    }
    pub fn version_not_found(v: &str) -> ApiError {
        ApiError::new(404, 40402, format!("Version {v} not found."))
    }
    pub fn schema_not_found() -> ApiError {
        ApiError::new(404, 40403, "Schema not found")
    }
    pub fn invalid_schema(why: impl Into<String>) -> ApiError {
        ApiError::new(422, 42201, why)
    }
    pub fn invalid_version(v: &str) -> ApiError {
        ApiError::new(
            422,
            42202,
            format!("The specified version '{v}' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\""),
        )
    }
    pub fn not_permitted(why: impl Into<String>) -> ApiError {
        ApiError::new(422, 42205, why)
    }
    pub fn store(e: impl std::fmt::Display) -> ApiError {
        ApiError::new(500, 50001, format!("Error in the backend data store: {e}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::json!({"error_code": self.code, "message": self.message});
        (status, [(header::CONTENT_TYPE, CONTENT_TYPE)], body.to_string()).into_response()
    }
}
