//! The one place where errors of every layer become HTTP statuses: a stable machine-readable
//! code and a one-line plain-text reason.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};

use crate::iiif::{ParseError, PlanError};
use crate::pipeline::PipelineError;
use crate::source::SourceError;
use crate::store::templates::TemplateStoreError;
use crate::template::signing::Refused;

/// Any error a request can end in.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error("no such route")]
    NoRoute,
    #[error("method not allowed: use GET, HEAD or OPTIONS")]
    Method,
    #[error("render task failed: {0}")]
    Task(String),
    /// The same error, handed to every request that waited for one coalesced render.
    #[error(transparent)]
    Shared(std::sync::Arc<HttpError>),
    #[error("admin API: send Authorization: Bearer <admin.token>")]
    Unauthorized,
    #[error("admin API: {0}")]
    Forbidden(&'static str),
    #[error("cache: {0}")]
    Cache(std::io::Error),
    #[error(transparent)]
    Overloaded(#[from] crate::pipeline::admission::Overloaded),
    #[error("no such template or version")]
    TemplateNotFound,
    #[error("invalid template: {0}")]
    InvalidTemplate(crate::template::model::Invalid),
    #[error("{0}")]
    Templates(#[from] TemplateStoreError),
    #[error("fields refused: signature or token {0}")]
    Refused(Refused),
    #[error("too many new renders of this template; retry in {0} s")]
    RateLimited(u64),
    #[error("URL longer than {0} bytes")]
    UriTooLong(usize),
    #[error("{0}")]
    Batch(#[from] crate::template::batch::BatchError),
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Overlay(#[from] crate::overlay::OverlayError),
}

impl From<crate::store::StoreError> for HttpError {
    fn from(e: crate::store::StoreError) -> Self {
        HttpError::Templates(TemplateStoreError::Store(e))
    }
}

impl HttpError {
    /// The status and a stable code naming the error, for clients, logs and metrics.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            HttpError::Parse(ParseError::UnsupportedFormat(_)) => {
                (StatusCode::NOT_IMPLEMENTED, "unsupported_format")
            }
            HttpError::Parse(ParseError::Identifier(_)) => {
                (StatusCode::BAD_REQUEST, "bad_identifier")
            }
            // A path of the wrong shape (an unescaped `/` in an identifier, say) names no
            // resource: both official validators expect 404 here.
            HttpError::Parse(ParseError::Path) => (StatusCode::NOT_FOUND, "no_route"),
            HttpError::Parse(_) => (StatusCode::BAD_REQUEST, "bad_syntax"),
            HttpError::Plan(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            HttpError::Source(e) | HttpError::Pipeline(PipelineError::Source(e)) => match e {
                SourceError::BadIdentifier(_) => (StatusCode::BAD_REQUEST, "bad_identifier"),
                SourceError::NotFound => (StatusCode::NOT_FOUND, "not_found"),
                SourceError::TooLarge { .. } => (StatusCode::NOT_IMPLEMENTED, "source_too_large"),
                SourceError::Unsupported(_) => (StatusCode::NOT_IMPLEMENTED, "unsupported_source"),
                SourceError::Unreadable(_) => {
                    (StatusCode::INTERNAL_SERVER_ERROR, "unreadable_source")
                }
                SourceError::Store(_) => (StatusCode::SERVICE_UNAVAILABLE, "catalogue_unavailable"),
            },
            HttpError::Pipeline(PipelineError::Plan(_)) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "plan_failed")
            }
            HttpError::Pipeline(PipelineError::Decode(_)) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "decode_failed")
            }
            HttpError::Pipeline(PipelineError::Resize(_)) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "resize_failed")
            }
            HttpError::Pipeline(PipelineError::Encode { .. }) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "encode_failed")
            }
            HttpError::NoRoute => (StatusCode::NOT_FOUND, "no_route"),
            HttpError::Method => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            HttpError::Task(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            HttpError::Shared(inner) => inner.status_and_code(),
            HttpError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            HttpError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            HttpError::Cache(_) => (StatusCode::INTERNAL_SERVER_ERROR, "cache_failed"),
            HttpError::Overloaded(_) => (StatusCode::SERVICE_UNAVAILABLE, "overloaded"),
            HttpError::TemplateNotFound => (StatusCode::NOT_FOUND, "template_not_found"),
            HttpError::InvalidTemplate(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_template"),
            HttpError::Templates(TemplateStoreError::NoDraft(_)) => {
                (StatusCode::CONFLICT, "no_draft")
            }
            HttpError::Templates(TemplateStoreError::Store(_)) => {
                (StatusCode::SERVICE_UNAVAILABLE, "catalogue_unavailable")
            }
            HttpError::Refused(_) => (StatusCode::FORBIDDEN, "refused"),
            HttpError::RateLimited(_) => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            HttpError::UriTooLong(_) => (StatusCode::URI_TOO_LONG, "uri_too_long"),
            HttpError::Batch(_) => (StatusCode::BAD_REQUEST, "bad_csv"),
            HttpError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            HttpError::Overlay(_) => (StatusCode::INTERNAL_SERVER_ERROR, "overlay_failed"),
        }
    }
}

impl HttpError {
    /// The error itself, out of any coalesced-render wrapper.
    fn root(&self) -> &HttpError {
        match self {
            HttpError::Shared(inner) => inner.root(),
            e => e,
        }
    }
}

impl ResponseError for HttpError {
    fn status_code(&self) -> StatusCode {
        self.status_and_code().0
    }

    fn error_response(&self) -> HttpResponse {
        let (status, code) = self.status_and_code();
        if status.is_server_error() {
            tracing::error!(code, error = %self, "request failed");
        }
        let mut res = HttpResponse::build(status);
        res.insert_header((header::CONTENT_TYPE, "text/plain; charset=utf-8"))
            // A failure must not stick in a browser or CDN cache.
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header(("X-Tessera-Error", HeaderValue::from_static(code)));
        if status == StatusCode::UNAUTHORIZED {
            res.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            res.insert_header((header::RETRY_AFTER, "2"));
        }
        if let HttpError::RateLimited(seconds) = self.root() {
            res.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        if status == StatusCode::METHOD_NOT_ALLOWED {
            res.insert_header((header::ALLOW, "GET, HEAD, OPTIONS"));
        }
        // One line: newlines in a reason (from a decoder, say) would break the contract.
        let reason = self.to_string().replace(['\r', '\n'], " ");
        res.body(format!("{reason}\n"))
    }
}
