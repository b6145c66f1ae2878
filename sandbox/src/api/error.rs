//! Error answers: `{"error": {"code": "...", "message": "..."}}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::auth::AuthError;

/// An error answer of the API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// `Retry-After` for 429 answers.
    pub retry_after: Option<HeaderValue>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 400 `invalid_parameter`.
    pub(crate) fn invalid_parameter(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_parameter", message)
    }

    /// 401 `token_expired`.
    pub(crate) fn token_expired() -> ApiError {
        ApiError::from(AuthError::TokenExpired)
    }

    /// 403 `forbidden`.
    pub(crate) fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404 `not_found`.
    pub(crate) fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 429 `rate_limited` with the given `Retry-After`.
    pub(crate) fn rate_limited(retry_after: HeaderValue) -> ApiError {
        ApiError {
            retry_after: Some(retry_after),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many requests; retry later",
            )
        }
    }

    /// 500 `internal`.
    pub(crate) fn internal() -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; retry with backoff",
        )
    }

    /// 503 `unavailable`.
    pub(crate) fn unavailable() -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "service temporarily unavailable",
        )
    }

    /// The JSON body.
    pub(crate) fn body(&self) -> String {
        serde_json::json!({ "error": { "code": self.code, "message": self.message } }).to_string()
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> ApiError {
        let message = e.to_string();
        match e {
            AuthError::InvalidCredentials(_) => {
                ApiError::new(StatusCode::UNAUTHORIZED, "invalid_credentials", message)
            }
            AuthError::TokenExpired => {
                ApiError::new(StatusCode::UNAUTHORIZED, "token_expired", message)
            }
            AuthError::ClockSkew(_) => {
                ApiError::new(StatusCode::UNAUTHORIZED, "clock_skew", message)
            }
            AuthError::InvalidParameter(_) => ApiError::invalid_parameter(message),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            self.body(),
        )
            .into_response();
        if let Some(retry_after) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, retry_after);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_have_exactly_code_and_message() {
        let body: serde_json::Value =
            serde_json::from_str(&ApiError::invalid_parameter("bad limit").body()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"error": {"code": "invalid_parameter", "message": "bad limit"}})
        );
    }

    #[test]
    fn auth_errors_map_to_401_codes() {
        let e = ApiError::from(AuthError::ClockSkew(400));
        assert_eq!((e.status, e.code), (StatusCode::UNAUTHORIZED, "clock_skew"));
        let e = ApiError::from(AuthError::InvalidCredentials("x"));
        assert_eq!(
            (e.status, e.code),
            (StatusCode::UNAUTHORIZED, "invalid_credentials")
        );
        assert_eq!(ApiError::token_expired().code, "token_expired");
    }
}
