//! Who may put text on the brand's images. Two forms, both with rotating keys (each key has an
//! id; the newest signs, all configured ones verify, a removed one stops verifying):
//!
//! - **signed URLs**: `sig=<key id>.<hex HMAC-SHA256>` over the path and the query sorted by
//!   name (everything but `sig`), with an optional `exp` (Unix seconds) inside what is signed;
//! - **sealed tokens**: the fields themselves, encrypted and authenticated with
//!   XChaCha20-Poly1305 and bound to the template (`name~version`) as associated data, as
//!   `<key id>.<base64url(nonce ‖ ciphertext)>` — personal data stays out of URLs and logs.
//!
//! Pure functions; the clock is a parameter.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Secrets by id; the first one signs and seals.
#[derive(Clone)]
pub struct Keys {
    keys: Vec<(String, Vec<u8>)>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secrets.
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("Keys").field("ids", &ids).finish()
    }
}

fn random_secret() -> Vec<u8> {
    use chacha20poly1305::aead::rand_core::RngCore;
    let mut secret = vec![0u8; 32];
    OsRng.fill_bytes(&mut secret);
    secret
}

/// Keys from their stored form ([`Keys::to_json`]).
pub fn parse_keys(json: &str) -> Result<Keys, String> {
    let pairs: Vec<(String, String)> = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let keys = pairs
        .into_iter()
        .map(|(id, s)| {
            URL_SAFE_NO_PAD
                .decode(s)
                .map(|secret| (id, secret))
                .map_err(|e| e.to_string())
        })
        .collect::<Result<Vec<_>, _>>()?;
    Keys::new(keys).map_err(|e| e.to_string())
}

/// Why keys cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("no keys configured")]
    None,
    #[error("key id '{0}' must be 1 to 32 letters, digits, '-' or '_'")]
    BadId(String),
    #[error("key '{0}' must have at least 32 bytes")]
    Short(String),
}

impl Keys {
    /// `(id, secret)` pairs, newest first.
    pub fn new(keys: Vec<(String, Vec<u8>)>) -> Result<Keys, KeyError> {
        if keys.is_empty() {
            return Err(KeyError::None);
        }
        for (id, secret) in &keys {
            let ok_id = !id.is_empty()
                && id.len() <= 32
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !ok_id {
                return Err(KeyError::BadId(id.clone()));
            }
            if secret.len() < 32 {
                return Err(KeyError::Short(id.clone()));
            }
        }
        Ok(Keys { keys })
    }

    fn current(&self) -> &(String, Vec<u8>) {
        &self.keys[0]
    }

    /// The key ids, newest first.
    pub fn ids(&self) -> Vec<&str> {
        self.keys.iter().map(|(id, _)| id.as_str()).collect()
    }

    /// A fresh random 256-bit key with id `k1`: a new project's.
    pub fn generate() -> Keys {
        Keys {
            keys: vec![("k1".into(), random_secret())],
        }
    }

    /// These keys with a new random one first (`k{n+1}`): it signs and seals from now on,
    /// the older ones still verify, so URLs already sent keep working.
    pub fn rotated(&self) -> Keys {
        let n = self
            .keys
            .iter()
            .filter_map(|(id, _)| id.strip_prefix('k')?.parse::<u32>().ok())
            .max()
            .unwrap_or(0);
        let mut keys = vec![(format!("k{}", n + 1), random_secret())];
        keys.extend(self.keys.iter().cloned());
        Keys { keys }
    }

    /// The stored form: a JSON array of `[id, base64url secret]`, newest first. Secret:
    /// only for the database, never for logs or answers.
    pub fn to_json(&self) -> String {
        let pairs: Vec<(&str, String)> = self
            .keys
            .iter()
            .map(|(id, s)| (id.as_str(), URL_SAFE_NO_PAD.encode(s)))
            .collect();
        serde_json::to_string(&pairs).expect("keys serialise")
    }

    fn get(&self, id: &str) -> Option<&[u8]> {
        self.keys
            .iter()
            .find(|(k, _)| k == id)
            .map(|(_, s)| s.as_slice())
    }

    /// A 32-byte encryption key derived from a secret, so one secret serves both forms
    /// without the HMAC key and the cipher key being the same bytes.
    fn cipher(secret: &[u8]) -> XChaCha20Poly1305 {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("any key length");
        mac.update(b"tessera seal v1");
        XChaCha20Poly1305::new(&mac.finalize().into_bytes())
    }
}

/// Why a signature or token is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("not signed")]
    Missing,
    #[error("malformed")]
    Malformed,
    #[error("signed with a key this server does not have")]
    UnknownKey,
    #[error("does not verify")]
    Tampered,
    #[error("expired")]
    Expired,
}

impl Refused {
    /// A stable machine-readable name, for headers and metrics.
    pub fn code(self) -> &'static str {
        match self {
            Refused::Missing => "unsigned",
            Refused::Malformed => "malformed",
            Refused::UnknownKey => "unknown_key",
            Refused::Tampered => "tampered",
            Refused::Expired => "expired",
        }
    }
}

/// The text a URL's signature covers: the path, then the query without `sig`, sorted by name
/// and value, as `name=value` pairs joined by `&` (values as decoded from the URL).
pub fn signed_text(path: &str, query: &[(String, String)]) -> String {
    let mut pairs: Vec<&(String, String)> = query.iter().filter(|(k, _)| k != "sig").collect();
    pairs.sort();
    let mut out = String::from(path);
    for (i, (k, v)) in pairs.into_iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(&encode_component(k));
        out.push('=');
        out.push_str(&encode_component(v));
    }
    out
}

/// Everything but unreserved characters is escaped, so `&` and `=` inside values cannot
/// forge another pair.
const COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes a query name or value: everything but unreserved characters.
pub fn encode_component(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, COMPONENT).to_string()
}

fn mac(secret: &[u8], text: &str) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("any key length");
    mac.update(text.as_bytes());
    mac
}

/// The `sig` value for `path` and `query` with the current key.
pub fn sign(keys: &Keys, path: &str, query: &[(String, String)]) -> String {
    let (id, secret) = keys.current();
    let tag = mac(secret, &signed_text(path, query))
        .finalize()
        .into_bytes();
    format!("{id}.{tag:x}")
}

/// Checks the `sig` in `query` (and its `exp`, when present, against `now` in Unix seconds).
pub fn verify(
    keys: &Keys,
    path: &str,
    query: &[(String, String)],
    now: u64,
) -> Result<(), Refused> {
    let sig = query
        .iter()
        .find(|(k, _)| k == "sig")
        .map(|(_, v)| v.as_str())
        .ok_or(Refused::Missing)?;
    let (id, tag) = sig.split_once('.').ok_or(Refused::Malformed)?;
    let tag = unhex(tag).ok_or(Refused::Malformed)?;
    let secret = keys.get(id).ok_or(Refused::UnknownKey)?;
    mac(secret, &signed_text(path, query))
        .verify_slice(&tag)
        .map_err(|_| Refused::Tampered)?;
    match query.iter().find(|(k, _)| k == "exp") {
        Some((_, exp)) => match exp.parse::<u64>() {
            Ok(exp) if exp >= now => Ok(()),
            Ok(_) => Err(Refused::Expired),
            Err(_) => Err(Refused::Malformed),
        },
        None => Ok(()),
    }
}

/// What a sealed token carries.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Sealed {
    pub fields: BTreeMap<String, String>,
    /// Unix seconds after which the token is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<u64>,
}

/// Seals `contents` for the template `bound_to` (e.g. `badge~3`) with the current key.
pub fn seal(keys: &Keys, bound_to: &str, contents: &Sealed) -> String {
    let (id, secret) = keys.current();
    let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
    let plain = serde_json::to_vec(contents).expect("fields serialise");
    let sealed = Keys::cipher(secret)
        .encrypt(
            &nonce,
            Payload {
                msg: &plain,
                aad: bound_to.as_bytes(),
            },
        )
        .expect("encryption of a short message cannot fail");
    let mut bytes = nonce.to_vec();
    bytes.extend_from_slice(&sealed);
    format!("{id}.{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// Opens a token sealed for `bound_to`, refusing it when tampered with, sealed for another
/// template, sealed with an unknown key, or expired at `now` (Unix seconds).
pub fn unseal(keys: &Keys, bound_to: &str, token: &str, now: u64) -> Result<Sealed, Refused> {
    let (id, body) = token.split_once('.').ok_or(Refused::Malformed)?;
    let bytes = URL_SAFE_NO_PAD
        .decode(body)
        .map_err(|_| Refused::Malformed)?;
    if bytes.len() < 24 + 16 {
        return Err(Refused::Malformed);
    }
    let secret = keys.get(id).ok_or(Refused::UnknownKey)?;
    let (nonce, sealed) = bytes.split_at(24);
    let plain = Keys::cipher(secret)
        .decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: sealed,
                aad: bound_to.as_bytes(),
            },
        )
        .map_err(|_| Refused::Tampered)?;
    let contents: Sealed = serde_json::from_slice(&plain).map_err(|_| Refused::Malformed)?;
    match contents.exp {
        Some(exp) if exp < now => Err(Refused::Expired),
        _ => Ok(contents),
    }
}

/// A signature's hex as bytes, for hmac's constant-time check (no hex crate is in the
/// dependency tree to do it).
fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_rotate_and_round_trip_through_their_stored_form() {
        let k = Keys::generate();
        assert_eq!(k.ids(), vec!["k1"]);
        let r = k.rotated();
        assert_eq!(r.ids(), vec!["k2", "k1"]);
        let back = parse_keys(&r.to_json()).unwrap();
        assert_eq!(back.keys, r.keys);
        assert!(!format!("{r:?}").contains(&URL_SAFE_NO_PAD.encode(&r.keys[0].1)));
    }

    fn keys(ids: &[&str]) -> Keys {
        Keys::new(
            ids.iter()
                .map(|id| {
                    (
                        id.to_string(),
                        format!("secret of {id}, long enough")
                            .repeat(2)
                            .into_bytes(),
                    )
                })
                .collect(),
        )
        .unwrap()
    }

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const PATH: &str = "/iiif/3/tpl~badge~3/full/max/0/default.jpg";

    #[test]
    fn signatures_verify_and_refuse() {
        let k = keys(&["k2", "k1"]);
        let mut query = q(&[("name", "Ada & Co=1"), ("company", "ACME"), ("exp", "2000")]);
        let sig = sign(&k, PATH, &query);
        let hex = sig.strip_prefix("k2.").unwrap();
        assert!(hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
        let mut upper = query.clone();
        upper.push(("sig".into(), format!("k2.{}", hex.to_uppercase())));
        assert_eq!(verify(&k, PATH, &upper, 1999), Ok(()));
        query.push(("sig".into(), sig.clone()));
        assert_eq!(verify(&k, PATH, &query, 1999), Ok(()));
        // Order of the query does not matter.
        query.reverse();
        assert_eq!(verify(&k, PATH, &query, 1999), Ok(()));
        assert_eq!(verify(&k, PATH, &query, 2001), Err(Refused::Expired));
        let other_path = PATH.replace("~3", "~2");
        assert_eq!(verify(&k, &other_path, &query, 0), Err(Refused::Tampered));
        let mut changed = query.clone();
        changed
            .iter_mut()
            .find(|(k, _)| k == "name")
            .unwrap()
            .1
            .push('!');
        assert_eq!(verify(&k, PATH, &changed, 0), Err(Refused::Tampered));
        // A value cannot be split into two pairs by its `&` and `=`.
        let split = q(&[
            ("name", "Ada "),
            (" Co", "1"),
            ("company", "ACME"),
            ("exp", "2000"),
            ("sig", &sig),
        ]);
        assert_eq!(verify(&k, PATH, &split, 0), Err(Refused::Tampered));
        assert_eq!(
            verify(&k, PATH, &q(&[("name", "x")]), 0),
            Err(Refused::Missing)
        );
        assert_eq!(
            verify(&k, PATH, &q(&[("sig", "k2.zz")]), 0),
            Err(Refused::Malformed)
        );
        // Rotation: a signature by the older key still verifies while it is configured…
        let old = keys(&["k1"]);
        let mut by_old = q(&[("name", "Ada")]);
        by_old.push(("sig".into(), sign(&old, PATH, &by_old)));
        assert_eq!(verify(&k, PATH, &by_old, 0), Ok(()));
        // …and not once it is removed.
        assert_eq!(
            verify(&keys(&["k3", "k2"]), PATH, &by_old, 0),
            Err(Refused::UnknownKey)
        );
    }

    #[test]
    fn sealed_tokens_round_trip_and_refuse() {
        let k = keys(&["k2", "k1"]);
        let contents = Sealed {
            fields: BTreeMap::from([
                ("name".into(), "Zoë".into()),
                ("email".into(), "z@example.org".into()),
            ]),
            exp: Some(5000),
        };
        let token = seal(&k, "badge~3", &contents);
        assert!(!token.contains("Zo") && !token.contains("example"));
        assert_eq!(unseal(&k, "badge~3", &token, 4000), Ok(contents.clone()));
        assert_eq!(unseal(&k, "badge~3", &token, 5001), Err(Refused::Expired));
        assert_eq!(unseal(&k, "badge~4", &token, 0), Err(Refused::Tampered));
        let mut tampered = token.clone().into_bytes();
        let last = tampered.len() - 3;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert_eq!(unseal(&k, "badge~3", &tampered, 0), Err(Refused::Tampered));
        assert_eq!(
            unseal(&keys(&["k9"]), "badge~3", &token, 0),
            Err(Refused::UnknownKey)
        );
        assert_eq!(unseal(&k, "badge~3", "k2.!!", 0), Err(Refused::Malformed));
        // Two seals of the same contents differ (random nonces).
        assert_ne!(seal(&k, "badge~3", &contents), token);
    }

    #[test]
    fn keys_are_checked_and_never_printed() {
        assert_eq!(Keys::new(vec![]).unwrap_err(), KeyError::None);
        assert!(matches!(
            Keys::new(vec![("a b".into(), vec![0; 32])]),
            Err(KeyError::BadId(_))
        ));
        assert!(matches!(
            Keys::new(vec![("a".into(), vec![0; 8])]),
            Err(KeyError::Short(_))
        ));
        let k = keys(&["k1"]);
        assert_eq!(format!("{k:?}"), r#"Keys { ids: ["k1"] }"#);
    }
}
