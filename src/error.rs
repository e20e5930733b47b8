//! Stable error codes. Every layer has its own error type (`thiserror`, keeping its cause);
//! each error names one [`Code`], and the HTTP edge maps codes to statuses in one table
//! (`http::error::status`). Codes are `snake_case`, sent in `X-Tessera-Error`, and never
//! change meaning once published: clients and dashboards key on them.

/// Declares the codes once: the enum, their text and the list of all of them.
macro_rules! codes {
    ($($(#[doc = $doc:literal])* $variant:ident = $text:literal,)*) => {
        /// A stable, machine-readable name for what went wrong.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Code {
            $($(#[doc = $doc])* $variant,)*
        }

        impl Code {
            /// Every code, in declaration order.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The code as sent in `X-Tessera-Error`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $text,)*
                }
            }
        }
    };
}

codes! {
    /// The path is not a IIIF path (or below no route at all).
    NoRoute = "no_route",
    /// Only GET, HEAD and OPTIONS are served there.
    MethodNotAllowed = "method_not_allowed",
    /// The identifier cannot name an image (empty, `..`, NUL, …).
    BadIdentifier = "bad_identifier",
    /// A region, size, rotation, quality or format segment does not parse.
    BadSyntax = "bad_syntax",
    /// A format IIIF knows but this server does not write.
    UnsupportedFormat = "unsupported_format",
    /// The region lies outside the image or is empty.
    BadRegion = "bad_region",
    /// The size is zero, or larger than the region without `^`.
    BadSize = "bad_size",
    /// The output exceeds `maxWidth`/`maxHeight`/`maxArea` or what the format can store.
    TooLarge = "too_large",
    /// No image has this identifier.
    NotFound = "not_found",
    /// The source has more pixels than `source.max_pixels`.
    SourceTooLarge = "source_too_large",
    /// The source is not an image format Tessera reads.
    UnsupportedSource = "unsupported_source",
    /// The source file could not be read or decoded.
    UnreadableSource = "unreadable_source",
    /// The catalogue database did not answer.
    CatalogueUnavailable = "catalogue_unavailable",
    /// A picture could not be read at the region and size asked (a template's base region
    /// outside its image, say).
    PlanFailed = "plan_failed",
    /// Resizing failed.
    ResizeFailed = "resize_failed",
    /// Encoding the output failed.
    EncodeFailed = "encode_failed",
    /// A template could not be drawn.
    OverlayFailed = "overlay_failed",
    /// The derivative cache could not be read or written.
    CacheFailed = "cache_failed",
    /// A render thread failed (a bug: it is logged).
    Internal = "internal",
    /// Too many renders are running or waiting: retry after `Retry-After`.
    Overloaded = "overloaded",
    /// A flat source too large to read whole is getting its pyramid: retry after
    /// `Retry-After`.
    PyramidPending = "pyramid_pending",
    /// The admin API needs `Authorization: Bearer …`.
    Unauthorized = "unauthorized",
    /// Wrong credentials, or the feature is switched off.
    Forbidden = "forbidden",
    /// No template (or no such version) with this name.
    TemplateNotFound = "template_not_found",
    /// A template document is not valid (the reason names the JSON path).
    InvalidTemplate = "invalid_template",
    /// Publish asked for a template without a draft.
    NoDraft = "no_draft",
    /// A signature or sealed token was refused (`X-Tessera-Refused` says why).
    Refused = "refused",
    /// Too many new renders of one template this minute.
    RateLimited = "rate_limited",
    /// The URL is longer than `templates.max_url_bytes`.
    UriTooLong = "uri_too_long",
    /// A CSV of recipients cannot be sealed.
    BadCsv = "bad_csv",
    /// A request body is not the JSON the endpoint takes.
    BadBody = "bad_body",
    /// A version in an admin path is not a positive number.
    BadVersion = "bad_version",
    /// A template name is not 1 to 64 letters, digits, `-` or `_`.
    BadName = "bad_name",
    /// A field the template does not have.
    UnknownField = "unknown_field",
    /// An expiry time that is already past.
    Expired = "expired",
    /// A submitted draft cannot change until it is approved or rejected.
    DraftLocked = "draft_locked",
    /// Approve or reject asked for a draft that is not submitted.
    NotSubmitted = "not_submitted",
    /// Four eyes: the approver submitted the draft.
    FourEyes = "four_eyes",
    /// The project requires review before publishing.
    ReviewRequired = "review_required",
    /// The principal's role does not allow this in this project.
    NotAllowed = "not_allowed",
    /// No project with this id.
    ProjectNotFound = "project_not_found",
    /// No user, key or member with this id.
    PrincipalNotFound = "principal_not_found",
    /// Something with this name or email exists already.
    Conflict = "conflict",
    /// Too many failed sign-ins for this account or address: retry after `Retry-After`.
    LoginThrottled = "login_throttled",
    /// A state-changing request with a session cookie lacks the right `X-CSRF-Token`.
    CsrfRefused = "csrf_refused",
    /// The project's monthly render quota is used up.
    QuotaExceeded = "quota_exceeded",
    /// An uploaded picture is not an image Tessera reads.
    BadUpload = "bad_upload",
    /// An uploaded picture or data set is over its size limit.
    UploadTooLarge = "upload_too_large",
    /// A data-set upload has bad rows (each listed with its line); nothing was applied.
    BadRows = "bad_rows",
    /// No data set with this name in the project.
    DataSetNotFound = "dataset_not_found",
}

/// An error that names its [`Code`].
pub trait Coded {
    fn code(&self) -> Code;
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A boxed cause, for errors from libraries whose types should not leak into ours.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for c in Code::ALL {
            let s = c.as_str();
            assert!(seen.insert(s), "{s} twice");
            assert!(
                s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{s}"
            );
        }
    }
}
