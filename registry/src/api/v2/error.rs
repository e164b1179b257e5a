//! OCI error JSON: `{"errors":[{"code","message","detail"}]}` with the
//! status each code carries. The one place service errors become wire errors.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::{json, Value};

use crate::api::auth::Refusal;
use crate::oci::{DigestError, NameError};
use crate::service::Error;

/// An error as a /v2 client sees it.
#[derive(Debug)]
pub struct OciError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub detail: Value,
    /// Extra headers, e.g. `Range` on a 416 for an upload.
    pub headers: Vec<(&'static str, String)>,
}

impl OciError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> OciError {
        OciError {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code,
            message: message.into(),
            detail: json!({}),
            headers: Vec::new(),
        }
    }

    pub fn detail(mut self, detail: Value) -> OciError {
        self.detail = detail;
        self
    }

    pub fn header(mut self, name: &'static str, value: String) -> OciError {
        self.headers.push((name, value));
        self
    }

    pub fn name_invalid() -> OciError {
        OciError::new(400, "NAME_INVALID", "invalid repository name")
    }

    pub fn digest_invalid(what: &str) -> OciError {
        OciError::new(400, "DIGEST_INVALID", format!("provided digest is invalid: {what}"))
    }

    pub fn unsupported(message: &str) -> OciError {
        OciError::new(405, "UNSUPPORTED", message)
    }

    /// 503: the database cannot be reached; the client should retry later.
    pub fn unavailable() -> OciError {
        OciError::new(503, "UNAVAILABLE", crate::api::DATABASE_UNAVAILABLE)
            .header("Retry-After", crate::api::RETRY_AFTER_S.to_string())
    }
}

impl std::fmt::Display for OciError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl ResponseError for OciError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status);
        for (k, v) in &self.headers {
            res.insert_header((*k, v.as_str()));
        }
        res.json(json!({"errors": [{"code": self.code, "message": self.message, "detail": self.detail}]}))
    }
}

impl From<Error> for OciError {
    fn from(e: Error) -> OciError {
        if matches!(e, Error::Storage(_)) {
            crate::metrics::METRICS.storage_errors.inc();
        }
        match e {
            Error::NameUnknown => OciError::new(404, "NAME_UNKNOWN", "repository name not known to registry"),
            Error::BlobUnknown => OciError::new(404, "BLOB_UNKNOWN", "blob unknown to registry"),
            Error::BlobUploadUnknown => OciError::new(404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry"),
            Error::BlobUploadInvalid(m) => OciError::new(400, "BLOB_UPLOAD_INVALID", m),
            Error::DigestInvalid => {
                OciError::new(400, "DIGEST_INVALID", "provided digest did not match uploaded content")
            }
            Error::UploadRangeInvalid(offset) => {
                OciError::new(416, "BLOB_UPLOAD_INVALID", "chunk does not start where the upload ends")
                    .header("Range", upload_range(offset))
            }
            Error::UploadInUse => OciError::new(
                409,
                "BLOB_UPLOAD_INVALID",
                "upload is in use by another request; retry when it finishes",
            ),
            Error::BlobRangeInvalid(size) => OciError::new(416, "RANGE_INVALID", "requested range not satisfiable")
                .header("Content-Range", format!("bytes */{size}")),
            Error::ManifestUnknown => OciError::new(404, "MANIFEST_UNKNOWN", "manifest unknown"),
            Error::TagExpired => OciError::new(
                404,
                "TAG_EXPIRED",
                "Tag was deleted or has expired. To pull, revive via time machine",
            ),
            Error::TagImmutable(m) => OciError::new(409, "TAG_IMMUTABLE", m),
            Error::QuotaExceeded => OciError::new(403, "DENIED", "Quota has been exceeded on namespace"),
            Error::ManifestInvalid(m) => OciError::new(400, "MANIFEST_INVALID", format!("manifest invalid: {m}")),
            Error::ManifestUnsupported(m) => OciError::new(
                415,
                "MANIFEST_INVALID",
                format!("manifest media type {m} is not supported"),
            ),
            Error::ManifestBlobUnknown(d) => {
                OciError::new(400, "MANIFEST_BLOB_UNKNOWN", "blob unknown to registry").detail(json!({"digest": d}))
            }
            Error::Unsupported(m) => OciError::unsupported(&m),
            Error::InvalidRequest(m) => OciError::new(400, "INVALID_REQUEST", m),
            Error::NotFound(m) => OciError::new(404, "NAME_UNKNOWN", m),
            Error::Unauthenticated(m) => OciError::new(401, "UNAUTHORIZED", m),
            Error::Forbidden(m) => OciError::new(403, "DENIED", m),
            Error::TooManyAttempts(after) => OciError::new(429, "TOOMANYREQUESTS", "too many failed login attempts")
                .header("Retry-After", after.to_string()),
            Error::RateLimited(m) => OciError::new(429, "TOOMANYREQUESTS", m),
            Error::UpstreamMissing(m) => OciError::new(404, "MANIFEST_UNKNOWN", m),
            Error::Unavailable(m) => {
                OciError::new(503, "UNAVAILABLE", m).header("Retry-After", crate::api::RETRY_AFTER_S.to_string())
            }
            e @ (Error::Db(_) | Error::Storage(_)) if e.is_storage_full() => {
                tracing::error!(error = %e, "storage is full");
                OciError::new(507, "BLOB_UPLOAD_INVALID", STORAGE_FULL)
            }
            e if e.is_unavailable() => {
                tracing::warn!(error = %e, "request failed: database unavailable");
                OciError::unavailable()
            }
            e @ (Error::Db(_) | Error::Storage(_)) => {
                tracing::error!(error = %e, "request failed");
                OciError::new(500, "UNKNOWN", "internal error")
            }
        }
    }
}

impl From<NameError> for OciError {
    fn from(e: NameError) -> OciError {
        match e {
            NameError::Repository => OciError::name_invalid(),
            NameError::Tag => OciError::new(400, "TAG_INVALID", "manifest tag did not match URI"),
        }
    }
}

impl From<DigestError> for OciError {
    fn from(e: DigestError) -> OciError {
        OciError::digest_invalid(&e.to_string())
    }
}

impl From<Refusal> for OciError {
    fn from(r: Refusal) -> OciError {
        match r {
            Refusal::Unauthenticated => OciError::new(
                401,
                "UNAUTHORIZED",
                "access to the requested resource is not authorized",
            ),
            Refusal::Denied => OciError::new(403, "DENIED", "requested access to the resource is denied"),
            Refusal::Failed(e) => e.into(),
        }
    }
}

/// What a client is told when the registry's disk is full.
const STORAGE_FULL: &str = "registry storage is full; nothing was stored, retry once space is freed";

/// The `Range` header value for an upload holding `offset` bytes.
pub fn upload_range(offset: u64) -> String {
    format!("0-{}", offset.saturating_sub(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::DbError;
    use crate::storage::StorageError;

    #[test]
    fn a_full_disk_under_storage_or_database_is_507_not_an_internal_error() {
        let full = [
            Error::Storage(StorageError::Io(std::io::Error::from_raw_os_error(libc::ENOSPC))),
            Error::Storage(StorageError::Io(std::io::Error::from_raw_os_error(libc::EDQUOT))),
            Error::Db(DbError::Query(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::Unknown,
                Box::new("database or disk is full".to_owned()),
            ))),
        ];
        for e in full {
            let what = e.to_string();
            let oci = OciError::from(e);
            assert_eq!(oci.status.as_u16(), 507, "{what}");
            assert_eq!(oci.code, "BLOB_UPLOAD_INVALID");
            assert!(oci.message.contains("storage is full"), "{}", oci.message);
        }
        let other = OciError::from(Error::Storage(StorageError::Io(std::io::Error::other("boom"))));
        assert_eq!(other.status.as_u16(), 500);
    }

    #[test]
    fn an_upload_in_use_is_409_saying_so() {
        let oci = OciError::from(Error::UploadInUse);
        assert_eq!(oci.status.as_u16(), 409);
        assert_eq!(oci.code, "BLOB_UPLOAD_INVALID");
        assert!(oci.message.contains("in use by another request"));
    }
}
