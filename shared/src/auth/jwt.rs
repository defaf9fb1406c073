//! JSON Web Tokens: verification against a JWKS (RS256, as Cognito signs; ES256, as the local
//! issuer signs) and a local issuer for running without an account.

use super::Principal;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, KeyPair, RsaPublicKeyComponents, UnparsedPublicKey,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

/// Why a token was not accepted (each is a 401 at the edge).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("no bearer token in the Authorization header")]
    Missing,
    #[error("the token is not a well-formed JWT: {0}")]
    Malformed(String),
    #[error("the token is signed with a key this service does not know")]
    UnknownKey,
    #[error("the token's signature is not valid")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token was issued by `{0}`, not by this service's user pool")]
    WrongIssuer(String),
    #[error("the token is for another application")]
    WrongAudience,
    #[error("the key set cannot be read: {0}")]
    Keys(String),
}

/// The claims atende reads.
#[derive(Clone, Debug, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub iss: String,
    pub exp: i64,
    #[serde(default)]
    pub aud: Option<Value>,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default, rename = "cognito:groups")]
    pub groups: Vec<String>,
    #[serde(default)]
    pub email: Option<String>,
}

impl Claims {
    pub fn principal(&self) -> Principal {
        Principal {
            sub: self.sub.clone(),
            groups: self.groups.clone(),
        }
    }

    fn has_audience(&self, audience: &str) -> bool {
        let aud = match &self.aud {
            Some(Value::String(a)) => a == audience,
            Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(audience)),
            _ => false,
        };
        aud || self.client_id.as_deref() == Some(audience)
    }
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
struct Jwk {
    kty: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
    #[serde(default)]
    crv: Option<String>,
    #[serde(default)]
    x: Option<String>,
    #[serde(default)]
    y: Option<String>,
}

#[derive(Deserialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

/// Checks tokens: the signature against the key set, the issuer, the audience (`aud`, or an
/// access token's `client_id`, as API Gateway does) and the expiry.
#[derive(Clone, Debug)]
pub struct Verifier {
    keys: Vec<Jwk>,
    issuer: String,
    audience: String,
}

fn decode(part: &str, what: &str) -> Result<Vec<u8>, AuthError> {
    B64.decode(part)
        .map_err(|e| AuthError::Malformed(format!("{what}: {e}")))
}

impl Verifier {
    /// A verifier of the key set `jwks` (the JSON document a JWKS URL serves).
    pub fn new(jwks: &str, issuer: &str, audience: &str) -> Result<Self, AuthError> {
        let set: Jwks = serde_json::from_str(jwks).map_err(|e| AuthError::Keys(e.to_string()))?;
        if set.keys.is_empty() {
            return Err(AuthError::Keys("the key set is empty".into()));
        }
        Ok(Self {
            keys: set.keys,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
        })
    }

    /// Fetches the key set from `url` (Cognito's
    /// `https://cognito-idp.<region>.amazonaws.com/<pool>/.well-known/jwks.json`).
    pub async fn fetch(url: &str, issuer: &str, audience: &str) -> Result<Self, AuthError> {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| AuthError::Keys(e.to_string()))?;
        let response = client
            .get(url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| AuthError::Keys(format!("{url}: {e}")))?;
        let body = response
            .text()
            .await
            .map_err(|e| AuthError::Keys(format!("{url}: {e}")))?;
        Self::new(&body, issuer, audience)
    }

    /// The token's claims, if everything holds at `now`.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Claims, AuthError> {
        let mut parts = token.trim().split('.');
        let (Some(header), Some(payload), Some(sig), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(AuthError::Malformed("not three dot-separated parts".into()));
        };
        let head: Header = serde_json::from_slice(&decode(header, "header")?)
            .map_err(|e| AuthError::Malformed(format!("header: {e}")))?;
        let signature = decode(sig, "signature")?;
        let signed = &token.trim()[..header.len() + 1 + payload.len()];
        let key = self
            .keys
            .iter()
            .find(|k| head.kid.is_none() || k.kid == head.kid)
            .ok_or(AuthError::UnknownKey)?;
        verify_signature(key, &head.alg, signed.as_bytes(), &signature)?;
        let claims: Claims = serde_json::from_slice(&decode(payload, "payload")?)
            .map_err(|e| AuthError::Malformed(format!("claims: {e}")))?;
        if claims.iss != self.issuer {
            return Err(AuthError::WrongIssuer(claims.iss));
        }
        if !claims.has_audience(&self.audience) {
            return Err(AuthError::WrongAudience);
        }
        if claims.exp <= now.timestamp() {
            return Err(AuthError::Expired);
        }
        Ok(claims)
    }
}

fn verify_signature(key: &Jwk, alg: &str, message: &[u8], sig: &[u8]) -> Result<(), AuthError> {
    let field = |v: &Option<String>, name: &str| -> Result<Vec<u8>, AuthError> {
        let v = v
            .as_deref()
            .ok_or_else(|| AuthError::Keys(format!("a key without `{name}`")))?;
        B64.decode(v)
            .map_err(|e| AuthError::Keys(format!("`{name}`: {e}")))
    };
    match (alg, key.kty.as_str()) {
        ("RS256", "RSA") => {
            let (n, e) = (field(&key.n, "n")?, field(&key.e, "e")?);
            RsaPublicKeyComponents { n: &n, e: &e }
                .verify(&signature::RSA_PKCS1_2048_8192_SHA256, message, sig)
                .map_err(|_| AuthError::BadSignature)
        }
        ("ES256", "EC") if key.crv.as_deref() == Some("P-256") => {
            let mut point = vec![4u8];
            point.extend(field(&key.x, "x")?);
            point.extend(field(&key.y, "y")?);
            UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                .verify(message, sig)
                .map_err(|_| AuthError::BadSignature)
        }
        // "none", HS256 and anything else are never accepted.
        _ => Err(AuthError::UnknownKey),
    }
}

/// Signs tokens for the local runner: a P-256 key made at start, its key set, and tokens in
/// Cognito's shape (`sub`, `cognito:groups`, `client_id`) that `Verifier` checks like any.
pub struct LocalIssuer {
    key: EcdsaKeyPair,
    kid: String,
    issuer: String,
    audience: String,
    rng: SystemRandom,
}

impl LocalIssuer {
    pub fn new(issuer: &str, audience: &str) -> Result<Self, AuthError> {
        let rng = SystemRandom::new();
        let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng)
            .map_err(|_| AuthError::Keys("cannot make a signing key".into()))?;
        let key = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref())
            .map_err(|_| AuthError::Keys("cannot read the signing key".into()))?;
        let kid = hex::encode(&key.public_key().as_ref()[1..9]);
        Ok(Self {
            key,
            kid,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            rng,
        })
    }

    /// The key set, as a JWKS URL would serve it.
    pub fn jwks(&self) -> String {
        let point = self.key.public_key().as_ref();
        json!({ "keys": [{
            "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": self.kid,
            "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..65]),
        }]})
        .to_string()
    }

    /// A verifier of this issuer's tokens.
    pub fn verifier(&self) -> Result<Verifier, AuthError> {
        Verifier::new(&self.jwks(), &self.issuer, &self.audience)
    }

    /// A token for `sub` in `groups`, valid until `expires`.
    pub fn token(
        &self,
        sub: &str,
        email: &str,
        groups: &[&str],
        expires: DateTime<Utc>,
    ) -> Result<String, AuthError> {
        let header = json!({ "alg": "ES256", "typ": "JWT", "kid": self.kid });
        let claims = json!({
            "sub": sub, "email": email, "iss": self.issuer, "client_id": self.audience,
            "token_use": "access", "cognito:groups": groups, "exp": expires.timestamp(),
        });
        let signed = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(claims.to_string())
        );
        let sig = self
            .key
            .sign(&self.rng, signed.as_bytes())
            .map_err(|_| AuthError::Keys("cannot sign".into()))?;
        Ok(format!("{signed}.{}", B64.encode(sig.as_ref())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn now() -> DateTime<Utc> {
        "2026-11-24T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn local_tokens_verify_and_tampering_does_not() {
        let issuer = LocalIssuer::new("atende-local", "atende-desk").unwrap();
        let verifier = issuer.verifier().unwrap();
        let token = issuer
            .token("ana", "ana@x", &["agents"], now() + Duration::hours(1))
            .unwrap();
        let claims = verifier.verify(&token, now()).unwrap();
        assert_eq!(claims.sub, "ana");
        assert_eq!(claims.principal().groups, ["agents"]);
        assert_eq!(
            verifier
                .verify(&token, now() + Duration::hours(2))
                .unwrap_err(),
            AuthError::Expired
        );
        // Another payload under the same signature.
        let parts: Vec<&str> = token.split('.').collect();
        let forged_claims = B64.encode(
            json!({"sub": "carla", "iss": "atende-local", "client_id": "atende-desk",
                   "cognito:groups": ["supervisors"], "exp": now().timestamp() + 3600})
            .to_string(),
        );
        let forged = format!("{}.{forged_claims}.{}", parts[0], parts[2]);
        assert_eq!(
            verifier.verify(&forged, now()).unwrap_err(),
            AuthError::BadSignature
        );
        // "alg": "none" is never accepted.
        let none = format!(
            "{}.{forged_claims}.",
            B64.encode(json!({"alg": "none"}).to_string())
        );
        assert!(verifier.verify(&none, now()).is_err());
        // Another issuer's key, or another issuer or audience.
        let other = LocalIssuer::new("atende-local", "atende-desk").unwrap();
        let theirs = other
            .token("ana", "ana@x", &["agents"], now() + Duration::hours(1))
            .unwrap();
        assert!(verifier.verify(&theirs, now()).is_err());
        let wrong_aud = LocalIssuer::new("atende-local", "other-app").unwrap();
        let v = Verifier::new(&wrong_aud.jwks(), "atende-local", "atende-desk").unwrap();
        let t = wrong_aud
            .token("ana", "ana@x", &[], now() + Duration::hours(1))
            .unwrap();
        assert_eq!(v.verify(&t, now()).unwrap_err(), AuthError::WrongAudience);
        assert!(matches!(
            verifier.verify("abc.def", now()).unwrap_err(),
            AuthError::Malformed(_)
        ));
    }
}
