//! Why the render service could not answer: the errors of the layers it drives, plus its own.

use std::sync::Arc;

use crate::cache::CacheError;
use crate::error::{Code, Coded};
use crate::iiif::PlanError;
use crate::overlay::OverlayError;
use crate::pipeline::PipelineError;
use crate::pipeline::admission::Overloaded;
use crate::pipeline::pool::PoolError;
use crate::source::SourceError;
use crate::store::templates::TemplateStoreError;
use crate::store::{AssetError, StoreError};
use crate::template::model::Invalid;
use crate::template::signing::Refused;

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Asset(#[from] AssetError),
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error(transparent)]
    Overloaded(#[from] Overloaded),
    #[error(transparent)]
    Pool(#[from] PoolError),
    #[error(transparent)]
    Cache(#[from] CacheError),
    /// The same error, handed to every request that waited for one coalesced render.
    #[error(transparent)]
    Shared(Arc<RenderError>),
    #[error("no such template or version")]
    TemplateNotFound,
    #[error("invalid template: {0}")]
    InvalidTemplate(#[source] Invalid),
    #[error(transparent)]
    Templates(#[from] TemplateStoreError),
    #[error("fields refused: signature or token {0}")]
    Refused(#[source] Refused),
    #[error("too many new renders of this template; retry in {0} s")]
    RateLimited(u64),
    /// The project's monthly render quota is used up; seconds until the month ends.
    #[error("this project's monthly render quota is used up")]
    QuotaExceeded(u64),
    #[error(transparent)]
    Overlay(#[from] OverlayError),
    /// A prepared derivative asked for its bytes twice (a bug).
    #[error("this derivative's render was already taken")]
    Taken,
}

impl RenderError {
    /// A limit of the template's project (render budget, monthly quota), as opposed to a
    /// failure: an email template then answers with its defaults instead.
    pub fn is_over_limit(&self) -> bool {
        matches!(
            self.root(),
            RenderError::RateLimited(_) | RenderError::QuotaExceeded(_)
        )
    }
}

impl From<SourceError> for RenderError {
    fn from(e: SourceError) -> Self {
        RenderError::Asset(e.into())
    }
}

impl From<StoreError> for RenderError {
    fn from(e: StoreError) -> Self {
        RenderError::Asset(e.into())
    }
}

impl RenderError {
    /// The error itself, out of any coalesced-render wrapper.
    pub fn root(&self) -> &RenderError {
        match self {
            RenderError::Shared(inner) => inner.root(),
            e => e,
        }
    }
}

impl Coded for RenderError {
    fn code(&self) -> Code {
        match self {
            RenderError::Plan(e) => e.code(),
            RenderError::Asset(e) => e.code(),
            RenderError::Pipeline(e) => e.code(),
            RenderError::Overloaded(e) => e.code(),
            RenderError::Pool(e) => e.code(),
            RenderError::Cache(e) => e.code(),
            RenderError::Shared(e) => e.code(),
            RenderError::TemplateNotFound => Code::TemplateNotFound,
            RenderError::InvalidTemplate(e) => e.code(),
            RenderError::Templates(e) => e.code(),
            RenderError::Refused(_) => Code::Refused,
            RenderError::RateLimited(_) => Code::RateLimited,
            RenderError::QuotaExceeded(_) => Code::QuotaExceeded,
            RenderError::Taken => Code::Internal,
            RenderError::Overlay(e) => e.code(),
        }
    }
}
