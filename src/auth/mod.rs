//! Credential primitives, kept pure (no HTTP, no SQL) so they are tested on their own and
//! the edge and the store only wire them up:
//!
//! - [`password`]: Argon2id hashes of user passwords, the password policy, and a decoy
//!   verification so a sign-in for an unknown email costs as much as one for a known email.
//! - [`secret`]: API keys, session ids and CSRF tokens from the OS random source. Only
//!   SHA-256 digests are stored: a 256-bit random secret needs no slow hash.
//! - [`throttle`]: a [`LoginThrottle`] slowing repeated failed sign-ins per account and per
//!   client address, with exponential delays.
//! - [`bucket`]: a token-bucket [`RateLimiter`] per API key for the admin API.
//!
//! The throttle and the limiter read a [`Clock`](crate::clock::Clock), so tests set the time,
//! and keep bounded memory: idle entries are dropped and each map holds at most
//! [`MAX_KEYS`] keys.

mod bounded;
pub mod bucket;
pub mod password;
pub mod secret;
pub mod throttle;

pub use bounded::MAX_KEYS;
pub use bucket::{RateDecision, RateLimiter};
pub use password::{check_policy, hash_password, verify_nobody, verify_password};
pub use secret::{
    NewKey, hash_secret, key_prefix, new_api_key, new_csrf_token, new_session, same_secret,
};
pub use throttle::{LoginThrottle, ThrottleSettings};

use crate::error::{Code, Coded};

/// Why a credential operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Argon2 could not hash (a bug or an exhausted allocator, not the user's fault).
    #[error("password hashing failed: {0}")]
    Hash(String),
    /// The password is shorter than the policy allows.
    #[error("the password must have at least {min} characters")]
    PasswordTooShort { min: usize },
    /// The password is longer than the policy allows.
    #[error("the password must have at most {max} characters")]
    PasswordTooLong { max: usize },
}

impl Coded for AuthError {
    fn code(&self) -> Code {
        match self {
            AuthError::Hash(_) => Code::Internal,
            AuthError::PasswordTooShort { .. } | AuthError::PasswordTooLong { .. } => Code::BadBody,
        }
    }
}

/// Nanoseconds since the Unix epoch, negative before it: sub-second time for the throttle
/// and the limiter (the clock may step back; signed arithmetic keeps that harmless).
fn unix_nanos(t: std::time::SystemTime) -> i128 {
    match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    }
}

/// Whole seconds covering `nanos` (rounded up; 0 when not positive): `Retry-After` must not
/// send a client back too early.
fn ceil_secs(nanos: i128) -> u64 {
    if nanos <= 0 {
        0
    } else {
        u64::try_from((nanos + NANOS_PER_SEC - 1) / NANOS_PER_SEC).unwrap_or(u64::MAX)
    }
}

const NANOS_PER_SEC: i128 = 1_000_000_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes() {
        assert_eq!(AuthError::Hash("x".into()).code(), Code::Internal);
        assert_eq!(
            AuthError::PasswordTooShort { min: 10 }.code(),
            Code::BadBody
        );
        assert_eq!(
            AuthError::PasswordTooLong { max: 1024 }.code(),
            Code::BadBody
        );
    }

    #[test]
    fn seconds_round_up() {
        assert_eq!(ceil_secs(-5), 0);
        assert_eq!(ceil_secs(0), 0);
        assert_eq!(ceil_secs(1), 1);
        assert_eq!(ceil_secs(NANOS_PER_SEC), 1);
        assert_eq!(ceil_secs(NANOS_PER_SEC + 1), 2);
        let before = std::time::UNIX_EPOCH - std::time::Duration::from_secs(2);
        assert_eq!(unix_nanos(before), -2 * NANOS_PER_SEC);
    }
}
