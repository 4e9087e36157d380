//! Signing secrets and signatures as the Standard Webhooks specification
//! has them: a secret is `whsec_` and the base64 of its key; a message is
//! signed with HMAC-SHA256 over `{webhook-id}.{webhook-timestamp}.{body}`,
//! and the `webhook-signature` header is `v1,` and the base64 of the MAC
//! (several space-separated signatures when a secret is being rotated).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::Sha256;

/// The prefix of a secret's text.
pub const SECRET_PREFIX: &str = "whsec_";
/// Bytes of a generated key (192 bits).
const GENERATED_KEY_BYTES: usize = 24;
/// A key shorter than this is refused: 128 bits.
const MIN_KEY_BYTES: usize = 16;
/// A key longer than this is refused, as the specification does.
const MAX_KEY_BYTES: usize = 64;

/// A signing secret: its text (`whsec_…`) and the key it stands for.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret {
    text: String,
    key: Vec<u8>,
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(…)")
    }
}

/// Why a text is not a signing secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// It does not start with `whsec_`.
    #[error("must start with whsec_")]
    Prefix,
    /// The part after `whsec_` is not standard base64.
    #[error("must be whsec_ followed by standard base64")]
    Base64,
    /// The key is shorter than 16 or longer than 64 bytes.
    #[error("the key must be 16 to 64 bytes long")]
    Length,
}

impl WebhookSecret {
    /// A fresh secret from `rng`.
    pub fn generate<R: Rng + ?Sized>(rng: &mut R) -> Self {
        let mut key = vec![0u8; GENERATED_KEY_BYTES];
        rng.fill(&mut key[..]);
        let text = format!("{SECRET_PREFIX}{}", STANDARD.encode(&key));
        WebhookSecret { text, key }
    }

    /// The secret `whsec_<base64>` stands for.
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let encoded = text
            .strip_prefix(SECRET_PREFIX)
            .ok_or(SecretError::Prefix)?;
        let key = STANDARD.decode(encoded).map_err(|_| SecretError::Base64)?;
        if !(MIN_KEY_BYTES..=MAX_KEY_BYTES).contains(&key.len()) {
            return Err(SecretError::Length);
        }
        Ok(WebhookSecret {
            text: text.to_owned(),
            key,
        })
    }

    /// The text, `whsec_…`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    fn mac(&self, id: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key).expect("hmac takes keys of any length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }

    /// The `webhook-signature` header of message `id` sent at `timestamp`
    /// (unix seconds) with `body`: `v1,<base64>`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let tag = self.mac(id, timestamp, body).finalize().into_bytes();
        format!("v1,{}", STANDARD.encode(tag))
    }

    /// Whether `header` (space-separated `version,signature` pairs) holds a
    /// `v1` signature of the message by this secret, compared in constant
    /// time. What a receiver runs; the timestamp's age is the receiver's
    /// own check.
    pub fn verify(&self, id: &str, timestamp: i64, body: &[u8], header: &str) -> bool {
        header.split(' ').any(|pair| {
            let Some(encoded) = pair.strip_prefix("v1,") else {
                return false;
            };
            let Ok(tag) = STANDARD.decode(encoded) else {
                return false;
            };
            self.mac(id, timestamp, body).verify_slice(&tag).is_ok()
        })
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    /// The secret, message id, timestamp and body of the Standard Webhooks
    /// specification's example. The expected signature was computed here
    /// with two other implementations, which agree:
    ///
    /// ```text
    /// printf '%s' 'msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{"test": 2432232314}' \
    ///   | openssl dgst -sha256 -mac HMAC -binary \
    ///       -macopt hexkey:$(printf %s MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw | base64 -d | xxd -p -c 256) \
    ///   | base64
    /// python3 -c 'import hmac, hashlib, base64; print(base64.b64encode(hmac.new(
    ///   base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
    ///   b"msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{\"test\": 2432232314}",
    ///   hashlib.sha256).digest()).decode())'
    /// ```
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TIMESTAMP: i64 = 1_614_265_330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn signs_the_fixed_vector() {
        let secret = WebhookSecret::parse(SECRET).unwrap();
        assert_eq!(secret.sign(ID, TIMESTAMP, BODY), SIGNATURE);
        assert!(secret.verify(ID, TIMESTAMP, BODY, SIGNATURE));
    }

    #[test]
    fn a_tampered_message_does_not_verify() {
        let secret = WebhookSecret::parse(SECRET).unwrap();
        assert!(!secret.verify(ID, TIMESTAMP, br#"{"test": 2432232315}"#, SIGNATURE));
        assert!(!secret.verify(ID, TIMESTAMP + 1, BODY, SIGNATURE));
        assert!(!secret.verify("msg_other", TIMESTAMP, BODY, SIGNATURE));
        let flipped = SIGNATURE.replace("g0hM", "g0hN");
        assert!(!secret.verify(ID, TIMESTAMP, BODY, &flipped));
        assert!(!secret.verify(
            ID,
            TIMESTAMP,
            BODY,
            "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        ));
        let other = WebhookSecret::generate(&mut StdRng::seed_from_u64(1));
        assert!(!other.verify(ID, TIMESTAMP, BODY, SIGNATURE));
    }

    #[test]
    fn any_of_several_signatures_verifies() {
        let secret = WebhookSecret::parse(SECRET).unwrap();
        let header = format!("v1,bm90IGl0 {SIGNATURE}");
        assert!(secret.verify(ID, TIMESTAMP, BODY, &header));
    }

    #[test]
    fn generated_secrets_parse_back_and_sign_what_they_verify() {
        let secret = WebhookSecret::generate(&mut StdRng::seed_from_u64(7));
        assert!(secret.as_str().starts_with(SECRET_PREFIX));
        assert_eq!(WebhookSecret::parse(secret.as_str()).unwrap(), secret);
        let signature = secret.sign("msg_1", 42, b"{}");
        assert!(secret.verify("msg_1", 42, b"{}", &signature));
    }

    #[test]
    fn malformed_secrets_are_refused() {
        assert_eq!(WebhookSecret::parse("MfKQ9r8G"), Err(SecretError::Prefix));
        assert_eq!(WebhookSecret::parse("whsec_%%%"), Err(SecretError::Base64));
        assert_eq!(
            WebhookSecret::parse("whsec_c2hvcnQ="),
            Err(SecretError::Length)
        );
        let long = format!("whsec_{}", STANDARD.encode([7u8; 65]));
        assert_eq!(WebhookSecret::parse(&long), Err(SecretError::Length));
    }
}
