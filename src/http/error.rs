//! The one place where error codes become HTTP statuses ([`status`]), and where an error
//! becomes a response: the status, the code in `X-Tessera-Error`, a one-line plain-text
//! reason.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};

use crate::access::AccessError;
use crate::error::{Code, Coded};
use crate::iiif::ParseError;
use crate::render::RenderError;
use crate::source::SourceError;
use crate::store::AssetError;
use crate::store::templates::TemplateStoreError;
use crate::template::batch::BatchError;
use crate::template::model::Invalid;

/// Any error a request can end in: the layers' errors, and the HTTP edge's own.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error(transparent)]
    Batch(#[from] BatchError),
    #[error(transparent)]
    Access(#[from] AccessError),
    #[error("no such route")]
    NoRoute,
    #[error("method not allowed: use GET, HEAD or OPTIONS")]
    Method,
    #[error("background task failed: {0}")]
    Task(#[source] actix_web::error::BlockingError),
    #[error("admin API: send Authorization: Bearer <admin.token>")]
    Unauthorized,
    #[error("admin API: {0}")]
    Forbidden(&'static str),
    #[error("URL longer than {0} bytes")]
    UriTooLong(usize),
    /// A request body, path part or parameter that is not what the endpoint takes.
    #[error("{reason}")]
    Input { code: Code, reason: String },
}

impl HttpError {
    /// Bad input with its code and a reason for the client.
    pub fn input(code: Code, reason: impl Into<String>) -> HttpError {
        HttpError::Input {
            code,
            reason: reason.into(),
        }
    }
}

impl From<SourceError> for HttpError {
    fn from(e: SourceError) -> Self {
        HttpError::Render(e.into())
    }
}

impl From<AssetError> for HttpError {
    fn from(e: AssetError) -> Self {
        HttpError::Render(e.into())
    }
}

impl From<crate::store::StoreError> for HttpError {
    fn from(e: crate::store::StoreError) -> Self {
        HttpError::Render(e.into())
    }
}

impl From<TemplateStoreError> for HttpError {
    fn from(e: TemplateStoreError) -> Self {
        HttpError::Render(e.into())
    }
}

impl From<crate::store::team::TeamError> for HttpError {
    fn from(e: crate::store::team::TeamError) -> Self {
        HttpError::Access(e.into())
    }
}

impl From<Invalid> for HttpError {
    fn from(e: Invalid) -> Self {
        HttpError::Render(RenderError::InvalidTemplate(e))
    }
}

impl Coded for HttpError {
    fn code(&self) -> Code {
        match self {
            HttpError::Parse(e) => e.code(),
            HttpError::Render(e) => e.code(),
            HttpError::Batch(e) => e.code(),
            HttpError::Access(e) => e.code(),
            HttpError::NoRoute => Code::NoRoute,
            HttpError::Method => Code::MethodNotAllowed,
            HttpError::Task(_) => Code::Internal,
            HttpError::Unauthorized => Code::Unauthorized,
            HttpError::Forbidden(_) => Code::Forbidden,
            HttpError::UriTooLong(_) => Code::UriTooLong,
            HttpError::Input { code, .. } => *code,
        }
    }
}

/// The status every code is answered with: the one table.
pub fn status(code: Code) -> StatusCode {
    match code {
        Code::NoRoute
        | Code::NotFound
        | Code::TemplateNotFound
        | Code::ProjectNotFound
        | Code::DataSetNotFound
        | Code::PrincipalNotFound => StatusCode::NOT_FOUND,
        Code::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        Code::BadIdentifier
        | Code::BadSyntax
        | Code::BadRegion
        | Code::BadSize
        | Code::TooLarge
        | Code::BadCsv
        | Code::BadBody
        | Code::BadVersion
        | Code::BadName
        | Code::UnknownField
        | Code::Expired
        | Code::BadUpload => StatusCode::BAD_REQUEST,
        Code::UploadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        Code::UnsupportedFormat | Code::SourceTooLarge | Code::UnsupportedSource => {
            StatusCode::NOT_IMPLEMENTED
        }
        Code::UnreadableSource
        | Code::PlanFailed
        | Code::ResizeFailed
        | Code::EncodeFailed
        | Code::OverlayFailed
        | Code::CacheFailed
        | Code::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        Code::CatalogueUnavailable | Code::Overloaded | Code::PyramidPending => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        Code::Unauthorized => StatusCode::UNAUTHORIZED,
        Code::Forbidden | Code::Refused | Code::NotAllowed | Code::FourEyes | Code::CsrfRefused => {
            StatusCode::FORBIDDEN
        }
        Code::InvalidTemplate | Code::BadRows => StatusCode::UNPROCESSABLE_ENTITY,
        Code::NoDraft
        | Code::DraftLocked
        | Code::NotSubmitted
        | Code::ReviewRequired
        | Code::Conflict => StatusCode::CONFLICT,
        Code::RateLimited | Code::LoginThrottled | Code::QuotaExceeded => {
            StatusCode::TOO_MANY_REQUESTS
        }
        Code::UriTooLong => StatusCode::URI_TOO_LONG,
    }
}

/// The response for an error with `code` and `reason`; `retry_after` seconds for 429.
fn response(code: Code, reason: &str, retry_after: Option<u64>) -> HttpResponse {
    let status = status(code);
    let mut res = HttpResponse::build(status);
    res.insert_header((header::CONTENT_TYPE, "text/plain; charset=utf-8"))
        // A failure must not stick in a browser or CDN cache.
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("X-Tessera-Error", HeaderValue::from_static(code.as_str())));
    if status == StatusCode::UNAUTHORIZED {
        res.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
    }
    if let Some(seconds) = retry_after {
        res.insert_header((header::RETRY_AFTER, seconds.to_string()));
    } else if status == StatusCode::SERVICE_UNAVAILABLE {
        res.insert_header((header::RETRY_AFTER, "2"));
    }
    if status == StatusCode::METHOD_NOT_ALLOWED {
        res.insert_header((header::ALLOW, "GET, HEAD, OPTIONS"));
    }
    // One line: newlines in a reason (from a decoder, say) would break the contract.
    res.body(format!("{}\n", reason.replace(['\r', '\n'], " ")))
}

impl ResponseError for HttpError {
    fn status_code(&self) -> StatusCode {
        status(self.code())
    }

    fn error_response(&self) -> HttpResponse {
        let code = self.code();
        if status(code).is_server_error() {
            tracing::error!(code = code.as_str(), error = %self, "request failed");
        }
        let retry_after = match self {
            HttpError::Render(e) => match e.root() {
                RenderError::RateLimited(seconds) | RenderError::QuotaExceeded(seconds) => {
                    Some(*seconds)
                }
                _ => None,
            },
            HttpError::Access(e) => e.retry_after(),
            _ => None,
        };
        response(code, &self.to_string(), retry_after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every code, its status and its header text: a change here is a change to the API.
    const TABLE: &[(Code, u16, &str)] = &[
        (Code::NoRoute, 404, "no_route"),
        (Code::MethodNotAllowed, 405, "method_not_allowed"),
        (Code::BadIdentifier, 400, "bad_identifier"),
        (Code::BadSyntax, 400, "bad_syntax"),
        (Code::UnsupportedFormat, 501, "unsupported_format"),
        (Code::BadRegion, 400, "bad_region"),
        (Code::BadSize, 400, "bad_size"),
        (Code::TooLarge, 400, "too_large"),
        (Code::NotFound, 404, "not_found"),
        (Code::SourceTooLarge, 501, "source_too_large"),
        (Code::UnsupportedSource, 501, "unsupported_source"),
        (Code::UnreadableSource, 500, "unreadable_source"),
        (Code::CatalogueUnavailable, 503, "catalogue_unavailable"),
        (Code::PlanFailed, 500, "plan_failed"),
        (Code::ResizeFailed, 500, "resize_failed"),
        (Code::EncodeFailed, 500, "encode_failed"),
        (Code::OverlayFailed, 500, "overlay_failed"),
        (Code::CacheFailed, 500, "cache_failed"),
        (Code::Internal, 500, "internal"),
        (Code::Overloaded, 503, "overloaded"),
        (Code::PyramidPending, 503, "pyramid_pending"),
        (Code::Unauthorized, 401, "unauthorized"),
        (Code::Forbidden, 403, "forbidden"),
        (Code::TemplateNotFound, 404, "template_not_found"),
        (Code::InvalidTemplate, 422, "invalid_template"),
        (Code::NoDraft, 409, "no_draft"),
        (Code::Refused, 403, "refused"),
        (Code::RateLimited, 429, "rate_limited"),
        (Code::UriTooLong, 414, "uri_too_long"),
        (Code::BadCsv, 400, "bad_csv"),
        (Code::BadBody, 400, "bad_body"),
        (Code::BadVersion, 400, "bad_version"),
        (Code::BadName, 400, "bad_name"),
        (Code::UnknownField, 400, "unknown_field"),
        (Code::Expired, 400, "expired"),
        (Code::DraftLocked, 409, "draft_locked"),
        (Code::NotSubmitted, 409, "not_submitted"),
        (Code::FourEyes, 403, "four_eyes"),
        (Code::ReviewRequired, 409, "review_required"),
        (Code::NotAllowed, 403, "not_allowed"),
        (Code::ProjectNotFound, 404, "project_not_found"),
        (Code::PrincipalNotFound, 404, "principal_not_found"),
        (Code::Conflict, 409, "conflict"),
        (Code::LoginThrottled, 429, "login_throttled"),
        (Code::CsrfRefused, 403, "csrf_refused"),
        (Code::QuotaExceeded, 429, "quota_exceeded"),
        (Code::BadUpload, 400, "bad_upload"),
        (Code::UploadTooLarge, 413, "upload_too_large"),
        (Code::BadRows, 422, "bad_rows"),
        (Code::DataSetNotFound, 404, "dataset_not_found"),
    ];

    #[test]
    fn every_code_has_its_status_and_header() {
        assert_eq!(TABLE.len(), Code::ALL.len(), "a code is missing from TABLE");
        for &(code, want, text) in TABLE {
            let res = response(code, "why\nnot", None);
            assert_eq!(res.status().as_u16(), want, "{code}");
            assert_eq!(
                res.headers().get("x-tessera-error").unwrap(),
                text,
                "{code}"
            );
            assert_eq!(
                res.headers().get("cache-control").unwrap(),
                "no-store",
                "{code}"
            );
            let retry = res.headers().get("retry-after");
            assert_eq!(retry.is_some(), want == 503, "{code}: Retry-After");
        }
    }

    #[test]
    fn errors_of_every_layer_name_their_code() {
        use crate::iiif::PlanError;
        use crate::pipeline::PipelineError;
        use crate::pipeline::admission::Overloaded;
        let cases: Vec<(HttpError, Code)> = vec![
            (ParseError::Path.into(), Code::NoRoute),
            (ParseError::Size("x".into()).into(), Code::BadSyntax),
            (
                ParseError::UnsupportedFormat("jp2".into()).into(),
                Code::UnsupportedFormat,
            ),
            (
                RenderError::from(PlanError::RegionEmpty("0,0,0,0".into())).into(),
                Code::BadRegion,
            ),
            (SourceError::NotFound.into(), Code::NotFound),
            (
                RenderError::from(PipelineError::decode("truncated")).into(),
                Code::UnreadableSource,
            ),
            (
                RenderError::from(Overloaded::QueueFull(3)).into(),
                Code::Overloaded,
            ),
            (
                RenderError::Shared(std::sync::Arc::new(RenderError::RateLimited(7))).into(),
                Code::RateLimited,
            ),
            (HttpError::input(Code::BadName, "no"), Code::BadName),
        ];
        for (e, code) in cases {
            assert_eq!(e.code(), code, "{e}");
            assert_eq!(e.error_response().status(), status(code), "{e}");
        }
        let limited = HttpError::from(RenderError::Shared(std::sync::Arc::new(
            RenderError::RateLimited(7),
        )));
        assert_eq!(
            limited
                .error_response()
                .headers()
                .get("retry-after")
                .unwrap(),
            "7"
        );
    }
}
