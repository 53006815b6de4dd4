//! Token issuing: the Ed25519 keys that sign access tokens (and whose public
//! halves the JWKS publishes), access and service JWTs, and the opaque
//! random tokens (refresh, password reset) of which only a digest is stored.
//!
//! Keys: `jwt.private_key_pem` signs; `jwt.extra_private_key_pem`, when set,
//! is published too without signing (the next key before a rotation, the
//! previous one after it). A key's `kid` is derived from its public key, so
//! it needs no configuration and every replica agrees on it. With no key
//! configured and `jwt.generate_dev_key`, a key is generated on first start
//! and kept in the database (local development only).

mod repository;

use anyhow::Context;
use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use futures::future::BoxFuture;
use jsonwebtoken::jwk::JwkSet;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use service_kit::auth::{ROLE_SERVICE, SigningKey, jwk_set};
use service_kit::client::TokenSource;
use sqlx::PgPool;
use std::sync::Arc;
use uuid::Uuid;

use crate::config::JwtSettings;

/// The keys and the rules of the tokens this service issues.
pub struct KeyRing {
    signing: SigningKey,
    extra: Option<SigningKey>,
    issuer: String,
    access_ttl_secs: u64,
    audiences: Vec<String>,
}

/// A signed token and its lifetime.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The compact JWT.
    pub token: String,
    /// Seconds until it expires.
    pub expires_in: u64,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Audience<'a> {
    One(&'a str),
    Many(&'a [String]),
}

#[derive(Serialize)]
struct TokenClaims<'a> {
    iss: &'a str,
    sub: String,
    aud: Audience<'a>,
    exp: u64,
    iat: u64,
    jti: String,
    roles: Vec<String>,
}

impl KeyRing {
    /// The configured keys, or the database's development key.
    pub async fn load(settings: &JwtSettings, issuer: &str, pool: &PgPool) -> anyhow::Result<Self> {
        let signing = if settings.private_key_pem.expose_secret().trim().is_empty() {
            anyhow::ensure!(
                settings.generate_dev_key,
                "jwt.private_key_pem (APP__JWT__PRIVATE_KEY_PEM) is required when jwt.generate_dev_key is false"
            );
            let der = dev_key(pool).await?;
            key_from_der(&der).context("the stored development key")?
        } else {
            key_from_pem(&settings.private_key_pem).context("jwt.private_key_pem")?
        };
        let extra = if settings
            .extra_private_key_pem
            .expose_secret()
            .trim()
            .is_empty()
        {
            None
        } else {
            Some(
                key_from_pem(&settings.extra_private_key_pem)
                    .context("jwt.extra_private_key_pem")?,
            )
        };
        anyhow::ensure!(
            !settings.audiences.is_empty(),
            "jwt.audiences must name the fleet's services"
        );
        Ok(Self {
            signing,
            extra,
            issuer: issuer.to_owned(),
            access_ttl_secs: settings.access_ttl_secs,
            audiences: settings.audiences.clone(),
        })
    }

    /// The published keys: the signing key and the extra one.
    pub fn jwks(&self) -> JwkSet {
        jwk_set(std::iter::once(&self.signing).chain(self.extra.as_ref()))
    }

    /// The kid of the signing key.
    pub fn signing_kid(&self) -> &str {
        self.signing.kid()
    }

    /// The fleet's services (valid audiences).
    pub fn audiences(&self) -> &[String] {
        &self.audiences
    }

    /// An access token for a user, valid at every service of the fleet.
    pub fn access_token(&self, user_id: Uuid, roles: &[String]) -> anyhow::Result<IssuedToken> {
        self.issue(
            user_id.to_string(),
            Audience::Many(&self.audiences),
            roles.to_vec(),
        )
    }

    /// A service token for `client_id`, valid at `audience` only.
    pub fn service_token(&self, client_id: &str, audience: &str) -> anyhow::Result<IssuedToken> {
        self.issue(
            client_id.to_owned(),
            Audience::One(audience),
            vec![ROLE_SERVICE.to_owned()],
        )
    }

    fn issue(
        &self,
        sub: String,
        aud: Audience<'_>,
        roles: Vec<String>,
    ) -> anyhow::Result<IssuedToken> {
        let now = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or_default();
        let claims = TokenClaims {
            iss: &self.issuer,
            sub,
            aud,
            exp: now + self.access_ttl_secs,
            iat: now,
            jti: Uuid::new_v4().to_string(),
            roles,
        };
        Ok(IssuedToken {
            token: self.signing.sign(&claims)?,
            expires_in: self.access_ttl_secs,
        })
    }
}

/// The development key, generated and stored on first start.
async fn dev_key(pool: &PgPool) -> anyhow::Result<Vec<u8>> {
    if let Some(der) = repository::dev_key(pool).await? {
        return Ok(der);
    }
    let generated = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
        .map_err(|_| anyhow::anyhow!("generating an Ed25519 key"))?;
    // Replicas starting together: the first insert wins, all read it back.
    repository::insert_dev_key(pool, generated.as_ref()).await?;
    tracing::warn!(
        "no jwt.private_key_pem configured: signing with the database's development key"
    );
    repository::dev_key(pool)
        .await?
        .context("the development key vanished")
}

/// A key from a PKCS#8 PEM document; newlines may be real or written `\n`
/// (an environment variable on one line).
pub fn key_from_pem(pem: &SecretString) -> anyhow::Result<SigningKey> {
    let body: String = pem
        .expose_secret()
        .replace("\\n", "\n")
        .replace("-----BEGIN PRIVATE KEY-----", "")
        .replace("-----END PRIVATE KEY-----", "")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let der = STANDARD
        .decode(body)
        .map_err(|_| anyhow::anyhow!("not a PEM document (PKCS#8 `PRIVATE KEY`)"))?;
    key_from_der(&der)
}

/// A key from PKCS#8 DER, its kid derived from the public key: the first 16
/// characters of the base64url SHA-256 of the raw public key.
pub fn key_from_der(der: &[u8]) -> anyhow::Result<SigningKey> {
    let pair = Ed25519KeyPair::from_pkcs8(der)
        .map_err(|_| anyhow::anyhow!("not an Ed25519 PKCS#8 private key"))?;
    let thumbprint = URL_SAFE_NO_PAD.encode(digest(&SHA256, pair.public_key().as_ref()));
    SigningKey::from_pkcs8_der(&thumbprint[..16], der)
}

/// A fresh Ed25519 key as a PKCS#8 PEM document (tests, key generation).
pub fn generate_pem() -> anyhow::Result<String> {
    let der = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
        .map_err(|_| anyhow::anyhow!("generating an Ed25519 key"))?;
    Ok(format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        STANDARD.encode(der.as_ref())
    ))
}

/// A fresh opaque token (256 random bits, base64url) and its digest.
pub fn opaque_token() -> (SecretString, Vec<u8>) {
    let bytes: [u8; 32] = rand::random();
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = token_digest(&token);
    (SecretString::from(token), hash)
}

/// What is stored of an opaque token: its SHA-256. The tokens carry 256
/// random bits, so a fast hash is as good as a slow one here.
pub fn token_digest(token: &str) -> Vec<u8> {
    digest(&SHA256, token.as_bytes()).as_ref().to_vec()
}

/// user-service's own service tokens, minted locally (it is the issuer):
/// used by its outbox relay to call notification-service.
pub struct LocalTokenSource {
    keys: Arc<KeyRing>,
    client_id: String,
    audience: String,
}

impl LocalTokenSource {
    /// Tokens of `client_id` for `audience`.
    pub fn new(keys: Arc<KeyRing>, client_id: &str, audience: &str) -> Self {
        Self {
            keys,
            client_id: client_id.to_owned(),
            audience: audience.to_owned(),
        }
    }
}

impl TokenSource for LocalTokenSource {
    fn token(&self) -> BoxFuture<'_, anyhow::Result<String>> {
        let token = self
            .keys
            .service_token(&self.client_id, &self.audience)
            .map(|t| t.token);
        Box::pin(async move { token })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pem_key_loads_with_a_stable_kid_and_on_one_line() {
        let pem = generate_pem().unwrap();
        let a = key_from_pem(&SecretString::from(pem.clone())).unwrap();
        let one_line = pem.replace('\n', "\\n");
        let b = key_from_pem(&SecretString::from(one_line)).unwrap();
        assert_eq!(a.kid(), b.kid());
        assert_eq!(a.kid().len(), 16);
        assert!(key_from_pem(&SecretString::from("garbage")).is_err());
    }

    #[test]
    fn opaque_tokens_are_random_and_digested() {
        let (a, hash) = opaque_token();
        let (b, _) = opaque_token();
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert_eq!(token_digest(a.expose_secret()), hash);
        assert_eq!(hash.len(), 32);
    }
}
