//! Conditional requests (RFC 9110 §13): whether the client's copy is current, decided from
//! the validators it sent and the derivative's entity tag and modification time. Pure.

use std::time::SystemTime;

use crate::clock::unix_seconds;

/// A strong entity tag from the parts that decide a response's bytes.
pub fn etag(parts: &[&[u8]]) -> String {
    format!("\"{}\"", crate::cache::digest(parts))
}

/// The validators a request sent (`If-None-Match`, `If-Modified-Since`), as text.
#[derive(Debug, Clone, Default)]
pub struct Validators {
    pub if_none_match: Option<String>,
    pub if_modified_since: Option<String>,
}

impl Validators {
    /// Whether a GET/HEAD with these validators can be answered 304 Not Modified
    /// (`If-None-Match` wins over `If-Modified-Since`).
    pub fn not_modified(&self, etag: &str, modified: SystemTime) -> bool {
        if let Some(inm) = &self.if_none_match {
            let opaque = |t: &str| t.trim().trim_start_matches("W/").to_string();
            let ours = opaque(etag);
            return inm.split(',').any(|t| t.trim() == "*" || opaque(t) == ours);
        }
        if let Some(since) = self
            .if_modified_since
            .as_deref()
            .and_then(|s| httpdate::parse_http_date(s.trim()).ok())
        {
            return unix_seconds(modified) <= unix_seconds(since);
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn check(inm: Option<&str>, ims: Option<&str>, tag: &str, t: SystemTime) -> bool {
        Validators {
            if_none_match: inm.map(str::to_string),
            if_modified_since: ims.map(str::to_string),
        }
        .not_modified(tag, t)
    }

    #[test]
    fn conditional_requests() {
        let date = |t: SystemTime| httpdate::fmt_http_date(t);
        let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let tag = etag(&[b"a", b"b"]);
        assert_ne!(tag, etag(&[b"ab"]));
        assert!(check(Some(&tag), None, &tag, t));
        assert!(check(Some(&format!("\"x\", W/{tag}")), None, &tag, t));
        assert!(check(Some("*"), None, &tag, t));
        assert!(!check(Some("\"other\""), Some(&date(t)), &tag, t));
        assert!(check(None, Some(&date(t)), &tag, t));
        assert!(!check(
            None,
            Some(&date(t - Duration::from_secs(1))),
            &tag,
            t
        ));
        assert!(!check(None, Some("yesterday"), &tag, t));
        assert!(!check(None, None, &tag, t));
    }
}
