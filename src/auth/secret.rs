//! Bearer secrets: API keys, session ids and CSRF tokens, 256 bits each from the OS random
//! source. The server stores only SHA-256 digests of keys and session ids, so a leaked
//! database does not hand out working credentials; a fast hash suffices because a 256-bit
//! random secret cannot be guessed, unlike a password.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What every API key starts with, so a key is recognisable (by people and secret scanners).
pub const KEY_MARKER: &str = "tsk_";
/// Characters of a key shown in lists and logs to tell keys apart: the marker and 8 more.
pub const PREFIX_CHARS: usize = 12;
/// Random bytes in every secret.
const SECRET_BYTES: usize = 32;
/// Characters of 32 bytes in unpadded base64.
const ENCODED_CHARS: usize = 43;

/// A freshly made API key. `secret` is shown to its owner once and never stored; `prefix`
/// is stored and shown in lists; `hash` is stored and looked up.
#[derive(Clone, PartialEq, Eq)]
pub struct NewKey {
    /// The whole key, `tsk_` and 43 base64url characters.
    pub secret: String,
    /// The first [`PREFIX_CHARS`] characters of `secret`.
    pub prefix: String,
    /// [`hash_secret`] of `secret`.
    pub hash: String,
}

impl fmt::Debug for NewKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewKey")
            .field("secret", &"<redacted>")
            .field("prefix", &self.prefix)
            .field("hash", &self.hash)
            .finish()
    }
}

/// 256 random bits from the OS, base64url without padding.
///
/// # Panics
/// If the OS random source fails (no `getrandom(2)` and no `/dev/urandom`): there is no
/// safe way to carry on making credentials without it.
fn random_token() -> String {
    let mut bytes = [0u8; SECRET_BYTES];
    getrandom::getrandom(&mut bytes).expect("the OS random source failed");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A new API key with its prefix and hash. Panics only if the OS random source fails.
pub fn new_api_key() -> NewKey {
    let secret = format!("{KEY_MARKER}{}", random_token());
    NewKey {
        prefix: secret[..PREFIX_CHARS].to_owned(),
        hash: hash_secret(&secret),
        secret,
    }
}

/// The lowercase hex SHA-256 of `secret`: what is stored for keys and session ids.
pub fn hash_secret(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    let mut hex = String::with_capacity(2 * digest.len());
    for b in digest {
        hex.push(char::from(HEX[usize::from(b >> 4)]));
        hex.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    hex
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The prefix of `secret` if it is shaped like an API key (`tsk_` and 43 base64url
/// characters), else `None`: a cheap check before any lookup, and the key for rate limits.
pub fn key_prefix(secret: &str) -> Option<&str> {
    let body = secret.strip_prefix(KEY_MARKER)?;
    let shaped = body.len() == ENCODED_CHARS
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    shaped.then(|| &secret[..PREFIX_CHARS])
}

/// A new session: the id for the cookie, and its [`hash_secret`] to store. Panics only if
/// the OS random source fails.
pub fn new_session() -> (String, String) {
    let id = random_token();
    let hash = hash_secret(&id);
    (id, hash)
}

/// A new CSRF token (256 random bits, base64url). Panics only if the OS random source fails.
pub fn new_csrf_token() -> String {
    random_token()
}

/// Whether two secrets are equal, in time that depends on their lengths only: for comparing
/// a presented CSRF token with the session's.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_keys_are_shaped_and_hashed() {
        let key = new_api_key();
        assert_eq!(key.secret.len(), 4 + 43);
        assert!(key.secret.starts_with("tsk_"));
        assert_eq!(key.prefix.len(), 12);
        assert!(key.secret.starts_with(&key.prefix));
        assert_eq!(key.hash, hash_secret(&key.secret));
        assert_eq!(key_prefix(&key.secret), Some(key.prefix.as_str()));
        assert_ne!(new_api_key().secret, key.secret);
    }

    #[test]
    fn debug_redacts_the_secret() {
        let key = new_api_key();
        let shown = format!("{key:?}");
        assert!(!shown.contains(&key.secret), "{shown}");
        assert!(shown.contains("<redacted>"));
        assert!(shown.contains(&key.prefix));
    }

    #[test]
    fn hash_is_hex_sha256() {
        assert_eq!(
            hash_secret("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn key_prefix_refuses_what_is_not_a_key() {
        let body = "A".repeat(43);
        assert_eq!(key_prefix(&format!("tsk_{body}")), Some("tsk_AAAAAAAA"));
        assert_eq!(key_prefix(&format!("tsk_{body}A")), None);
        assert_eq!(key_prefix(&format!("tsk_{}", &body[1..])), None);
        assert_eq!(key_prefix(&format!("tsx_{body}")), None);
        assert_eq!(key_prefix(&format!("tsk_{}+", &body[1..])), None);
        assert_eq!(key_prefix(&format!("tsk_{}é", &body[2..])), None);
        assert_eq!(key_prefix(""), None);
        assert_eq!(key_prefix("tsk_"), None);
    }

    #[test]
    fn sessions_and_tokens_are_random() {
        let (id, hash) = new_session();
        assert_eq!(id.len(), 43);
        assert_eq!(hash, hash_secret(&id));
        assert_ne!(new_session().0, id);
        let token = new_csrf_token();
        assert_eq!(token.len(), 43);
        assert!(URL_SAFE_NO_PAD.decode(&token).is_ok_and(|b| b.len() == 32));
        assert_ne!(new_csrf_token(), token);
    }

    #[test]
    fn same_secret_compares() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "ab"));
        assert!(same_secret("", ""));
    }
}
