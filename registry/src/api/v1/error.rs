//! Quay's API error body: `{"status","title","type","detail","error_message","error_type"}`.

use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use crate::service::Error;

/// An error as an `/api/v1` client sees it.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    /// Quay's error type: invalid_request, invalid_token, insufficient_scope, not_found …
    pub kind: &'static str,
    pub detail: String,
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: u16, kind: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            kind,
            detail: detail.into(),
            retry_after: None,
        }
    }

    pub fn invalid_request(detail: impl Into<String>) -> ApiError {
        ApiError::new(400, "invalid_request", detail)
    }

    pub fn not_found(detail: impl Into<String>) -> ApiError {
        ApiError::new(404, "not_found", detail)
    }

    /// No credentials: 401; credentials without the right: 403.
    pub fn unauthorized(anonymous: bool) -> ApiError {
        if anonymous {
            ApiError::new(401, "invalid_token", "Requires authentication")
        } else {
            ApiError::new(403, "insufficient_scope", "Unauthorized")
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind, self.detail)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        self.response_on("")
    }
}

impl ApiError {
    /// The response, with the problem `type` URL under `base`
    /// (`scheme://host`; the scope's error handler fills it in).
    pub fn response_on(&self, base: &str) -> HttpResponse {
        let mut res = HttpResponse::build(self.status);
        if let Some(after) = self.retry_after {
            res.insert_header(("Retry-After", after.to_string()));
        }
        res.json(json!({
            "status": self.status.as_u16(),
            "title": self.kind,
            "type": format!("{base}/api/v1/error/{}", self.kind),
            "detail": self.detail,
            "error_message": self.detail,
            "error_type": self.kind,
        }))
    }
}

/// Rewrites API errors so their `type` is an absolute URL on the host the
/// client called, as Quay answers.
pub fn absolute_problem_type<B>(res: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let rebuilt = res
        .response()
        .error()
        .and_then(|e| e.as_error::<ApiError>())
        .map(|api| {
            let info = res.request().connection_info();
            api.response_on(&format!("{}://{}", info.scheme(), info.host()))
        });
    Ok(ErrorHandlerResponse::Response(match rebuilt {
        Some(new) => res.into_response(new).map_into_right_body(),
        None => res.map_into_left_body(),
    }))
}

impl From<Error> for ApiError {
    fn from(e: Error) -> ApiError {
        match e {
            Error::InvalidRequest(m) => ApiError::invalid_request(m),
            Error::NotFound(m) => ApiError::not_found(m),
            Error::TagImmutable(m) => ApiError::new(409, "tag_immutable", m),
            Error::QuotaExceeded => ApiError::new(403, "insufficient_scope", "Quota has been exceeded on namespace"),
            Error::Unauthenticated(m) => ApiError::new(401, "invalid_token", m),
            Error::Forbidden(m) => ApiError::new(403, "insufficient_scope", m),
            Error::TooManyAttempts(after) => ApiError {
                retry_after: Some(after),
                ..ApiError::new(
                    429,
                    "too_many_requests",
                    "Too many failed login attempts; try again later",
                )
            },
            Error::NameUnknown | Error::ManifestUnknown | Error::TagExpired | Error::BlobUnknown => {
                ApiError::not_found(e.to_string())
            }
            other @ (Error::Db(_) | Error::Storage(_)) => {
                tracing::error!(error = %other, "API request failed");
                ApiError::new(500, "internal_error", "internal error")
            }
            other => ApiError::invalid_request(other.to_string()),
        }
    }
}
