//! Portal links: a token that names an account, a customer and an expiry,
//! signed with the server's secret, so a request is authorized without a
//! database lookup.
//!
//! A token is `{claims}.{mac}`: `claims` is the base64url (no padding) of
//! `{account_id}.{customer_id}.{expires_at_ms}`, and `mac` the base64url of
//! HMAC-SHA256 over the encoded claims, with the secret as key. The MAC is
//! checked (in constant time) before the claims are even decoded.
//!
//! The same secret signs the console's values ([`crate::console`]): its
//! sessions and its forms' CSRF tokens. Each kind of value has a purpose
//! whose MAC covers a domain prefix before the text, so a value signed for
//! one purpose never verifies as another's: a portal link is never a
//! session, nor a session a link.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::Sha256;
use tally_event::Timestamp;
use tally_store::{AccountId, CustomerId};

/// Bytes of a generated secret (256 bits).
const GENERATED_SECRET_BYTES: usize = 32;
/// A configured secret shorter than this is refused: 256 bits of text.
pub const MIN_SECRET_BYTES: usize = 32;
/// Bytes of an HMAC-SHA256.
const MAC_BYTES: usize = 32;

/// The key portal links are signed with.
#[derive(Clone, PartialEq, Eq)]
pub struct PortalSecret(Vec<u8>);

impl std::fmt::Debug for PortalSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PortalSecret(…)")
    }
}

/// Why a configured text is not a portal secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the portal secret must be at least {MIN_SECRET_BYTES} bytes long")]
pub struct SecretTooShort;

impl PortalSecret {
    /// A fresh secret from `rng`.
    pub fn generate<R: Rng + ?Sized>(rng: &mut R) -> Self {
        let mut key = vec![0u8; GENERATED_SECRET_BYTES];
        rng.fill(&mut key[..]);
        PortalSecret(key)
    }

    /// A configured secret: its bytes, at least [`MIN_SECRET_BYTES`] of them.
    pub fn from_text(text: &str) -> Result<Self, SecretTooShort> {
        if text.len() < MIN_SECRET_BYTES {
            return Err(SecretTooShort);
        }
        Ok(PortalSecret(text.as_bytes().to_vec()))
    }

    fn mac(&self, purpose: Purpose, text: &str) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.0).expect("hmac takes keys of any length");
        mac.update(purpose.domain().as_bytes());
        mac.update(text.as_bytes());
        mac
    }
}

/// What a signed value is for. Each purpose's MAC covers its own domain
/// prefix, then the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// A portal link's claims.
    PortalLink,
    /// A console session's claims (the session cookie).
    ConsoleSession,
    /// The CSRF token of a signed-in console's forms, over the session id.
    ConsoleCsrf,
    /// The CSRF token of the sign-in form, over the sign-in cookie's nonce.
    SignInCsrf,
}

impl Purpose {
    /// The bytes the MAC covers before the text. A link's is empty, so links
    /// handed out before there were other purposes still open; it covers
    /// base64url text, which has no `:`. Every other prefix is a distinct
    /// name ending with the first `:` of the input: no two purposes ever MAC
    /// the same bytes.
    fn domain(self) -> &'static str {
        match self {
            Purpose::PortalLink => "",
            Purpose::ConsoleSession => "tally-console-session:",
            Purpose::ConsoleCsrf => "tally-console-csrf:",
            Purpose::SignInCsrf => "tally-console-sign-in:",
        }
    }
}

/// What a valid token grants: one customer of one account, until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalClaims {
    /// The account the customer belongs to.
    pub account_id: AccountId,
    /// The only customer the link shows.
    pub customer_id: CustomerId,
    /// The first instant the link no longer opens.
    pub expires_at: Timestamp,
}

/// Why a token is refused. Each answers the same 403: the reason is for logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not `{claims}.{mac}` in base64url, or claims that do not parse.
    #[error("malformed portal token")]
    Malformed,
    /// The MAC does not match the claims (tampered, or another secret).
    #[error("bad portal token signature")]
    Signature,
    /// Valid, but past its expiry.
    #[error("expired portal token")]
    Expired,
}

/// The signed token of `claims`.
pub fn sign(secret: &PortalSecret, claims: &PortalClaims) -> String {
    let text = format!(
        "{}.{}.{}",
        claims.account_id,
        claims.customer_id,
        claims.expires_at.as_millis()
    );
    seal(secret, Purpose::PortalLink, &text)
}

/// The claims of a token signed with `secret` and not expired at `now`.
pub fn verify(
    secret: &PortalSecret,
    token: &str,
    now: Timestamp,
) -> Result<PortalClaims, TokenError> {
    let text = open(secret, Purpose::PortalLink, token)?;
    let claims = decode_claims(&text).ok_or(TokenError::Malformed)?;
    if now >= claims.expires_at {
        return Err(TokenError::Expired);
    }
    Ok(claims)
}

/// `{text}.{mac}`, both base64url: `text` signed for `purpose`.
pub(crate) fn seal(secret: &PortalSecret, purpose: Purpose, text: &str) -> String {
    let encoded = URL_SAFE_NO_PAD.encode(text);
    format!("{encoded}.{}", tag(secret, purpose, &encoded))
}

/// The text of a value [`seal`]ed for `purpose` with `secret`. The MAC is
/// checked before the text is decoded.
pub(crate) fn open(
    secret: &PortalSecret,
    purpose: Purpose,
    token: &str,
) -> Result<String, TokenError> {
    let (encoded, mac) = token.split_once('.').ok_or(TokenError::Malformed)?;
    if !tag_matches(secret, purpose, encoded, mac)? {
        return Err(TokenError::Signature);
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| TokenError::Malformed)?;
    String::from_utf8(bytes).map_err(|_| TokenError::Malformed)
}

/// The base64url MAC of `text` for `purpose`.
pub(crate) fn tag(secret: &PortalSecret, purpose: Purpose, text: &str) -> String {
    URL_SAFE_NO_PAD.encode(secret.mac(purpose, text).finalize().into_bytes())
}

/// Whether `tag` is the MAC of `text` for `purpose`, compared in constant
/// time; `Malformed` when it is not the base64url of a MAC at all.
pub(crate) fn tag_matches(
    secret: &PortalSecret,
    purpose: Purpose,
    text: &str,
    tag: &str,
) -> Result<bool, TokenError> {
    let mac = URL_SAFE_NO_PAD
        .decode(tag)
        .map_err(|_| TokenError::Malformed)?;
    if mac.len() != MAC_BYTES {
        return Err(TokenError::Malformed);
    }
    Ok(secret.mac(purpose, text).verify_slice(&mac).is_ok())
}

/// Claims whose MAC was checked: only a bug in [`sign`] makes them fail.
fn decode_claims(text: &str) -> Option<PortalClaims> {
    let mut parts = text.split('.');
    let account_id = AccountId::parse(parts.next()?).ok()?;
    let customer_id = CustomerId::parse(parts.next()?).ok()?;
    let millis: i64 = parts.next()?.parse().ok()?;
    let expires_at = Timestamp::from_millis(millis).ok()?;
    parts.next().is_none().then_some(PortalClaims {
        account_id,
        customer_id,
        expires_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_734_739_200_000;

    fn secret(text: &str) -> PortalSecret {
        PortalSecret::from_text(&text.repeat(32)).unwrap()
    }

    fn claims() -> PortalClaims {
        PortalClaims {
            account_id: AccountId::parse("acc_aaaaaaaaaaaaaaaaaaaaaa").unwrap(),
            customer_id: CustomerId::parse("cus_bbbbbbbbbbbbbbbbbbbbbb").unwrap(),
            expires_at: at(NOW + 3_600_000),
        }
    }

    fn at(millis: i64) -> Timestamp {
        Timestamp::from_millis(millis).unwrap()
    }

    /// The token with one character of its `part` (0: claims, 1: MAC) changed.
    fn flip(token: &str, part: usize) -> String {
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let first = parts[part].remove(0);
        parts[part].insert(0, if first == 'A' { 'B' } else { 'A' });
        parts.join(".")
    }

    #[test]
    fn a_signed_token_verifies_to_its_claims() {
        let token = sign(&secret("k"), &claims());
        assert_eq!(verify(&secret("k"), &token, at(NOW)), Ok(claims()));
    }

    #[test]
    fn a_token_is_url_safe() {
        let token = sign(&secret("k"), &claims());
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)),
            "{token}"
        );
    }

    #[test]
    fn tampered_claims_are_refused() {
        let token = sign(&secret("k"), &claims());
        assert_eq!(
            verify(&secret("k"), &flip(&token, 0), at(NOW)),
            Err(TokenError::Signature)
        );
        // Claims of another customer, re-encoded, with the first MAC.
        let mut other = claims();
        other.customer_id = CustomerId::parse("cus_cccccccccccccccccccccc").unwrap();
        let forged_claims = sign(&secret("x"), &other);
        let (forged, _) = forged_claims.split_once('.').unwrap();
        let (_, mac) = token.split_once('.').unwrap();
        assert_eq!(
            verify(&secret("k"), &format!("{forged}.{mac}"), at(NOW)),
            Err(TokenError::Signature)
        );
    }

    #[test]
    fn a_tampered_signature_is_refused() {
        let token = sign(&secret("k"), &claims());
        assert_eq!(
            verify(&secret("k"), &flip(&token, 1), at(NOW)),
            Err(TokenError::Signature)
        );
    }

    #[test]
    fn an_expired_token_is_refused_from_its_expiry_on() {
        let token = sign(&secret("k"), &claims());
        let expiry = NOW + 3_600_000;
        assert!(verify(&secret("k"), &token, at(expiry - 1)).is_ok());
        assert_eq!(
            verify(&secret("k"), &token, at(expiry)),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn another_secrets_token_is_refused() {
        let token = sign(&secret("other"), &claims());
        assert_eq!(
            verify(&secret("k"), &token, at(NOW)),
            Err(TokenError::Signature)
        );
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let token = sign(&secret("k"), &claims());
        let (claims_part, _) = token.split_once('.').unwrap();
        for bad in [
            "",
            ".",
            "abc",
            "a.b",
            &format!("{claims_part}.!!"),
            &format!("{claims_part}.AAAA"),
        ] {
            assert_eq!(
                verify(&secret("k"), bad, at(NOW)),
                Err(TokenError::Malformed),
                "{bad}"
            );
        }
    }

    #[test]
    fn short_secrets_are_refused_and_generated_ones_differ() {
        assert_eq!(PortalSecret::from_text("short"), Err(SecretTooShort));
        let mut rng = rand::rng();
        assert_ne!(
            PortalSecret::generate(&mut rng),
            PortalSecret::generate(&mut rng)
        );
    }
}
