//! Small pure helpers for HTTP semantics: content negotiation of info.json and conditional
//! requests.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Whether an `Accept` header asks for JSON-LD (`application/ld+json`) at least as much as
/// for plain JSON. Without such a preference info.json is served as `application/json`.
pub fn prefers_json_ld(accept: &str) -> bool {
    let q_of = |media: &str| -> Option<f32> {
        accept
            .split(',')
            .filter_map(|item| {
                let mut parts = item.split(';').map(str::trim);
                let kind = parts.next()?;
                if !kind.eq_ignore_ascii_case(media) {
                    return None;
                }
                let q = parts
                    .find_map(|p| p.strip_prefix("q="))
                    .and_then(|q| q.parse().ok())
                    .unwrap_or(1.0);
                Some(q)
            })
            .fold(None, |best: Option<f32>, q| {
                Some(best.map_or(q, |b| b.max(q)))
            })
    };
    match (q_of("application/ld+json"), q_of("application/json")) {
        (Some(ld), Some(json)) => ld > 0.0 && ld >= json,
        (Some(ld), None) => ld > 0.0,
        _ => false,
    }
}

/// A strong entity tag from the parts that decide a response's bytes.
pub fn etag(parts: &[&[u8]]) -> String {
    format!("\"{}\"", crate::cache::digest(parts))
}

/// Whole seconds since the Unix epoch (HTTP dates have no finer resolution); 0 before it.
pub fn unix_seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}

/// The `Last-Modified` value for a modification time.
pub fn http_date(t: SystemTime) -> String {
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(unix_seconds(t)))
}

/// Whether a GET/HEAD with these validators can be answered 304 Not Modified (RFC 9110
/// §13.2.2: `If-None-Match` wins over `If-Modified-Since`).
pub fn not_modified(
    if_none_match: Option<&str>,
    if_modified_since: Option<&str>,
    etag: &str,
    modified: SystemTime,
) -> bool {
    if let Some(inm) = if_none_match {
        let opaque = |t: &str| t.trim().trim_start_matches("W/").to_string();
        let ours = opaque(etag);
        return inm.split(',').any(|t| t.trim() == "*" || opaque(t) == ours);
    }
    if let Some(since) = if_modified_since.and_then(|s| httpdate::parse_http_date(s.trim()).ok()) {
        return unix_seconds(modified) <= unix_seconds(since);
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_ld_negotiation() {
        assert!(prefers_json_ld("application/ld+json"));
        assert!(prefers_json_ld(
            "application/ld+json;profile=\"http://iiif.io/api/image/3/context.json\""
        ));
        assert!(prefers_json_ld("application/json, application/ld+json"));
        assert!(!prefers_json_ld(
            "application/ld+json;q=0.5, application/json"
        ));
        assert!(!prefers_json_ld("application/ld+json;q=0"));
        assert!(!prefers_json_ld("*/*"));
        assert!(!prefers_json_ld(""));
    }

    #[test]
    fn conditional_requests() {
        let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let tag = etag(&[b"a", b"b"]);
        assert_ne!(tag, etag(&[b"ab"]));
        assert!(not_modified(Some(&tag), None, &tag, t));
        assert!(not_modified(
            Some(&format!("\"x\", W/{tag}")),
            None,
            &tag,
            t
        ));
        assert!(not_modified(Some("*"), None, &tag, t));
        assert!(!not_modified(
            Some("\"other\""),
            Some(&http_date(t)),
            &tag,
            t
        ));
        assert!(not_modified(None, Some(&http_date(t)), &tag, t));
        assert!(!not_modified(
            None,
            Some(&http_date(t - Duration::from_secs(1))),
            &tag,
            t
        ));
        assert!(!not_modified(None, Some("yesterday"), &tag, t));
        assert!(!not_modified(None, None, &tag, t));
    }
}
