//! User passwords: Argon2id, memory-hard so a stolen user table is slow to crack, with the
//! OWASP parameters (19 MiB, 2 passes, 1 lane). Hashes are PHC strings carrying their own
//! parameters and salt, so raising the parameters later still verifies old hashes.

use std::sync::LazyLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use super::AuthError;

/// Memory per hash, KiB (OWASP: 19 MiB).
const MEMORY_KIB: u32 = 19_456;
/// Passes over the memory.
const ITERATIONS: u32 = 2;
/// Lanes.
const PARALLELISM: u32 = 1;

/// The fewest characters a password may have.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// The most characters a password may have (long passphrases are welcome, megabytes are not).
pub const MAX_PASSWORD_CHARS: usize = 1024;

fn argon2() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None)
        .expect("the Argon2 parameters are constants within range");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes `password` with a fresh random salt into a PHC string
/// (`$argon2id$v=19$m=19456,t=2,p=1$…`). Check [`check_policy`] first.
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    let mut salt = [0u8; 16];
    getrandom::getrandom(&mut salt).map_err(|e| AuthError::Hash(e.to_string()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| AuthError::Hash(e.to_string()))?;
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Hash(e.to_string()))
}

/// Whether `password` matches the PHC string `phc` (with the parameters `phc` names). A
/// string that is not a PHC hash matches nothing.
pub fn verify_password(phc: &str, password: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(hash) => argon2().verify_password(password.as_bytes(), &hash).is_ok(),
        Err(_) => false,
    }
}

/// A hash no password is checked against for real: built once, with the current parameters
/// and a fixed salt (it protects nothing, it only costs the same).
static NOBODY: LazyLock<String> = LazyLock::new(|| {
    let salt = SaltString::encode_b64(b"tessera-nobody!!").expect("16 bytes make a salt");
    argon2()
        .hash_password(b"no account has this password", &salt)
        .expect("hashing with a fixed salt cannot fail")
        .to_string()
});

/// Spends the work of one [`verify_password`] and matches nothing: call it when the email
/// names no account, so the answer takes as long as for a wrong password and the timing
/// does not tell which emails exist. (The first call also builds the decoy hash, once per
/// process; calling it at start-up moves that cost out of the first sign-in.)
pub fn verify_nobody(password: &str) {
    std::hint::black_box(verify_password(&NOBODY, password));
}

/// Whether `password` is acceptable for a new password: 10 to 1024 characters (Unicode
/// scalar values). Length is the rule that helps; composition rules do not (NIST 800-63B).
pub fn check_policy(password: &str) -> Result<(), AuthError> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        Err(AuthError::PasswordTooShort {
            min: MIN_PASSWORD_CHARS,
        })
    } else if chars > MAX_PASSWORD_CHARS {
        Err(AuthError::PasswordTooLong {
            max: MAX_PASSWORD_CHARS,
        })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_then_verify() {
        let phc = hash_password("correct horse battery").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify_password(&phc, "correct horse battery"));
        assert!(!verify_password(&phc, "correct horse battery "));
        assert!(!verify_password(&phc, ""));
        // A fresh salt each time.
        let again = hash_password("correct horse battery").unwrap();
        assert_ne!(phc, again);
    }

    #[test]
    fn malformed_hashes_match_nothing() {
        assert!(!verify_password("", "anything at all"));
        assert!(!verify_password("not a hash", "not a hash"));
        assert!(!verify_password("$argon2id$v=19$m=19456,t=2,p=1$", "x"));
    }

    #[test]
    fn nobody_has_the_current_parameters() {
        assert!(
            NOBODY.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{}",
            *NOBODY
        );
        assert!(!verify_password(&NOBODY, "correct horse battery"));
        verify_nobody("correct horse battery");
    }

    #[test]
    fn policy_counts_characters() {
        assert_eq!(
            check_policy("123456789"),
            Err(AuthError::PasswordTooShort { min: 10 })
        );
        assert_eq!(check_policy("1234567890"), Ok(()));
        // Characters, not bytes: nine characters in eighteen bytes are too few.
        assert_eq!(
            check_policy("ééééééééé"),
            Err(AuthError::PasswordTooShort { min: 10 })
        );
        assert_eq!(check_policy("éééééééééé"), Ok(()));
        assert_eq!(check_policy(&"x".repeat(1024)), Ok(()));
        assert_eq!(
            check_policy(&"x".repeat(1025)),
            Err(AuthError::PasswordTooLong { max: 1024 })
        );
    }
}
