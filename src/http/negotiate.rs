//! Small pure helpers for HTTP semantics: content negotiation of info.json and HTTP dates.
//! (Conditional requests are decided by [`crate::render::Validators`].)

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::clock::unix_seconds;

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

/// The `Last-Modified` value for a modification time.
pub fn http_date(t: SystemTime) -> String {
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(unix_seconds(t)))
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
}
