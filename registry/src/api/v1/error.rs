//! Quay's API error body: `{"status","title","type","detail","error_message","error_type"}`,
//! and `GET /api/v1/error/{type}`, which describes each `type`.

use super::doc::{self, Mount};
use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use serde_json::json;

use crate::service::Error;

/// Declares [`ErrorType`] from one table, so every type has its name and
/// its description and is listed in [`ErrorType::ALL`].
macro_rules! error_types {
    ($($variant:ident => $name:literal, $description:literal;)+) => {
        /// The error types an API error can carry; each has a page at
        /// `/api/v1/error/{type}`, which the error body links to.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ErrorType {
            $($variant,)+
        }

        impl ErrorType {
            pub const ALL: &'static [ErrorType] = &[$(ErrorType::$variant,)+];

            /// The name clients see in `title` and `error_type`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorType::$variant => $name,)+
                }
            }

            /// What an error of this type means.
            pub fn description(self) -> &'static str {
                match self {
                    $(ErrorType::$variant => $description,)+
                }
            }
        }
    };
}

error_types! {
    InvalidRequest => "invalid_request",
        "The request is malformed: a parameter or body field is missing, has a value that is not allowed, or repeats.";
    InvalidToken => "invalid_token",
        "No valid credentials came with the request: none were sent, or the token or password is wrong, expired or revoked.";
    InsufficientScope => "insufficient_scope",
        "The credentials are valid but do not allow this action: the account lacks the permission or the token lacks the scope.";
    FreshLoginRequired => "fresh_login_required", "This action needs a recent login: sign in again and repeat it.";
    NotFound => "not_found", "The resource does not exist, or the caller may not see it.";
    TagImmutable => "tag_immutable", "The tag is immutable: it cannot be moved, deleted or expired.";
    TooManyRequests => "too_many_requests",
        "Too many attempts or queued requests in a short time; wait (for the time given in Retry-After, when sent), then try again.";
    InvalidSignature => "invalid_signature", "The signed link was altered or signed with another key.";
    LinkExpired => "link_expired", "The signed link has expired; ask for a new one.";
    ReadOnly => "read_only", "The registry or the repository is read-only, so changes are refused.";
    ExternalServiceTimeout => "external_service_timeout",
        "A service the registry depends on did not answer in time; retrying may succeed.";
    DownstreamIssue => "downstream_issue", "A service the registry depends on failed.";
    InvalidResponse => "invalid_response", "A service the registry depends on gave an answer that could not be used.";
    ExceedsLicense => "exceeds_license", "The action is beyond what this installation allows.";
    InternalError => "internal_error", "The registry failed to complete the request; the server log has the cause.";
}

impl ErrorType {
    pub fn parse(name: &str) -> Option<ErrorType> {
        ErrorType::ALL.iter().copied().find(|t| t.as_str() == name)
    }
}

/// An error as an `/api/v1` client sees it.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub kind: ErrorType,
    pub detail: String,
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: u16, kind: ErrorType, detail: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            kind,
            detail: detail.into(),
            retry_after: None,
        }
    }

    pub fn invalid_request(detail: impl Into<String>) -> ApiError {
        ApiError::new(400, ErrorType::InvalidRequest, detail)
    }

    pub fn not_found(detail: impl Into<String>) -> ApiError {
        ApiError::new(404, ErrorType::NotFound, detail)
    }

    /// No credentials: 401; credentials without the right: 403.
    pub fn unauthorized(anonymous: bool) -> ApiError {
        if anonymous {
            ApiError::new(401, ErrorType::InvalidToken, "Requires authentication")
        } else {
            ApiError::new(403, ErrorType::InsufficientScope, "Unauthorized")
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind.as_str(), self.detail)
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
        let kind = self.kind.as_str();
        let mut body = json!({
            "status": self.status.as_u16(),
            "title": kind,
            "type": type_url(base, self.kind),
            "detail": self.detail,
            "error_message": self.detail,
            "error_type": kind,
        });
        // Quay's rate limits answer with `abort(429, message=…)`.
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            body["message"] = json!(self.detail);
        }
        res.json(body)
    }
}

fn type_url(base: &str, kind: ErrorType) -> String {
    format!("{base}/api/v1/error/{}", kind.as_str())
}

/// `scheme://host` as the client called it.
fn base_of(req: &HttpRequest) -> String {
    let info = req.connection_info();
    format!("{}://{}", info.scheme(), info.host())
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.mount(doc::resource("/error/{type}").route(doc::get().to(describe)));
}

/// `GET /api/v1/error/{type}`: `{type, title, description}`; open to anyone.
async fn describe(req: HttpRequest, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let kind = ErrorType::parse(&path).ok_or_else(|| ApiError::not_found(format!("No error type {path}")))?;
    Ok(HttpResponse::Ok().json(json!({
        "type": type_url(&base_of(&req), kind),
        "title": kind.as_str(),
        "description": kind.description(),
    })))
}

/// Rewrites API errors so their `type` is an absolute URL on the host the
/// client called, as Quay answers.
pub fn absolute_problem_type<B>(res: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let rebuilt = res
        .response()
        .error()
        .and_then(|e| e.as_error::<ApiError>())
        .map(|api| api.response_on(&base_of(res.request())));
    Ok(ErrorHandlerResponse::Response(match rebuilt {
        Some(new) => res.into_response(new).map_into_right_body(),
        None => res.map_into_left_body(),
    }))
}

impl From<Error> for ApiError {
    fn from(e: Error) -> ApiError {
        if matches!(e, Error::Storage(_)) {
            crate::metrics::METRICS.storage_errors.inc();
        }
        match e {
            Error::InvalidRequest(m) => ApiError::invalid_request(m),
            Error::NotFound(m) => ApiError::not_found(m),
            Error::TagImmutable(m) => ApiError::new(409, ErrorType::TagImmutable, m),
            Error::QuotaExceeded => ApiError::new(
                403,
                ErrorType::InsufficientScope,
                "Quota has been exceeded on namespace",
            ),
            Error::Unauthenticated(m) => ApiError::new(401, ErrorType::InvalidToken, m),
            Error::Forbidden(m) => ApiError::new(403, ErrorType::InsufficientScope, m),
            Error::TooManyAttempts(after) => ApiError {
                retry_after: Some(after),
                ..ApiError::new(
                    429,
                    ErrorType::TooManyRequests,
                    "Too many failed login attempts; try again later",
                )
            },
            Error::RateLimited(m) => ApiError::new(429, ErrorType::TooManyRequests, m),
            Error::Unavailable(m) => ApiError {
                retry_after: Some(crate::api::RETRY_AFTER_S),
                ..ApiError::new(503, ErrorType::DownstreamIssue, m)
            },
            Error::UpstreamMissing(m) => ApiError::not_found(m),
            Error::NameUnknown | Error::ManifestUnknown | Error::TagExpired | Error::BlobUnknown => {
                ApiError::not_found(e.to_string())
            }
            other @ (Error::Db(_) | Error::Storage(_)) if other.is_storage_full() => {
                tracing::error!(error = %other, "storage is full");
                ApiError::new(
                    507,
                    ErrorType::DownstreamIssue,
                    "registry storage is full; nothing was changed, retry once space is freed",
                )
            }
            other if other.is_unavailable() => {
                tracing::warn!(error = %other, "API request failed: database unavailable");
                ApiError {
                    retry_after: Some(crate::api::RETRY_AFTER_S),
                    ..ApiError::new(503, ErrorType::DownstreamIssue, crate::api::DATABASE_UNAVAILABLE)
                }
            }
            other @ (Error::Db(_) | Error::Storage(_)) => {
                tracing::error!(error = %other, "API request failed");
                ApiError::new(500, ErrorType::InternalError, "internal error")
            }
            other => ApiError::invalid_request(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorType;

    #[test]
    fn every_error_type_is_found_by_its_own_name_and_described() {
        for &t in ErrorType::ALL {
            assert_eq!(ErrorType::parse(t.as_str()), Some(t), "{t:?}");
            assert!(!t.description().is_empty(), "{t:?}");
        }
        assert_eq!(ErrorType::parse("no_such_type"), None);
    }

    #[test]
    fn a_full_disk_is_507_in_quays_shape_not_an_internal_error() {
        let full = crate::storage::StorageError::Io(std::io::Error::from_raw_os_error(libc::ENOSPC));
        let e = super::ApiError::from(crate::service::Error::Storage(full));
        assert_eq!(e.status.as_u16(), 507);
        assert_eq!(e.kind, ErrorType::DownstreamIssue);
        assert!(e.detail.contains("storage is full"), "{}", e.detail);
    }
}
