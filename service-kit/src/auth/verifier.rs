//! Verifies access tokens against user-service's JWKS, cached and refreshed
//! on an unknown `kid` (at most once per cool-down, so a flood of forged
//! kids cannot turn into a flood of JWKS fetches).

use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, RwLock};

use crate::config::AuthSettings;

/// Claims of the fleet's access tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer (user-service).
    pub iss: String,
    /// Subject: a user id, or a client id for service tokens.
    pub sub: String,
    /// Audience: the service(s) the token is for.
    pub aud: Audience,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    /// Issued at, seconds since the epoch.
    pub iat: u64,
    /// Unique token id.
    pub jti: String,
    /// Roles: `customer`, `admin`, `service`.
    #[serde(default)]
    pub roles: Vec<String>,
}

/// `aud` may be a single string or a list (RFC 7519 4.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// One audience.
    One(String),
    /// Several audiences.
    Many(Vec<String>),
}

impl Claims {
    /// Whether the token carries `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

/// Why a token was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No usable bearer token was sent.
    #[error("missing bearer token")]
    Missing,
    /// The token is malformed, expired, for someone else, or forged.
    #[error("invalid token: {0}")]
    Invalid(String),
    /// The keys could not be fetched and none are cached.
    #[error("token keys unavailable: {0}")]
    KeysUnavailable(String),
}

struct Key {
    decoding: DecodingKey,
    algorithm: Algorithm,
}

#[derive(Default)]
struct Cache {
    keys: HashMap<String, Arc<Key>>,
    fetched_at: Option<Instant>,
    /// When a fetch last failed to find a requested kid: further unknown
    /// kids are refused without fetching until the cool-down passes.
    last_miss: Option<Instant>,
}

/// Verifies tokens against a JWKS URL. Cheap to clone.
#[derive(Clone)]
pub struct JwksVerifier {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    jwks_url: String,
    issuer: String,
    audience: String,
    max_age: Duration,
    refetch_cooldown: Duration,
    cache: RwLock<Cache>,
    fetching: Mutex<()>,
}

/// Clock skew tolerated on `exp` and `iat`.
const LEEWAY_SECS: u64 = 30;

impl JwksVerifier {
    /// A verifier for tokens issued to `settings.audience`.
    pub fn new(settings: &AuthSettings) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(3))
            .build()?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                jwks_url: settings.jwks_url.clone(),
                issuer: settings.issuer.clone(),
                audience: settings.audience.clone(),
                max_age: Duration::from_secs(settings.jwks_refresh_secs),
                refetch_cooldown: Duration::from_secs(5),
                cache: RwLock::new(Cache::default()),
                fetching: Mutex::new(()),
            }),
        })
    }

    /// A verifier pinned to `keys`, which never fetches: for the issuer
    /// itself (user-service verifies its own tokens against the keys it
    /// holds). A token signed by any other key is refused as unknown.
    pub fn with_keys(settings: &AuthSettings, keys: &JwkSet) -> anyhow::Result<Self> {
        let verifier = Self::new(settings)?;
        let inner = Inner {
            http: verifier.inner.http.clone(),
            jwks_url: settings.jwks_url.clone(),
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            // Always fresh, and an unknown kid is always within the
            // cool-down: the fetching paths of `key` are never taken.
            max_age: Duration::MAX,
            refetch_cooldown: Duration::MAX,
            cache: RwLock::new(Cache {
                keys: decoding_keys(keys),
                fetched_at: Some(Instant::now()),
                last_miss: Some(Instant::now()),
            }),
            fetching: Mutex::new(()),
        };
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// Verifies signature, `alg`, `exp`, `iss` and `aud`, and returns the claims.
    pub async fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        // `alg: none` and unknown algorithms fail here: they are not in
        // jsonwebtoken's `Algorithm` enum.
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| AuthError::Invalid("malformed token".into()))?;
        let kid = header
            .kid
            .ok_or_else(|| AuthError::Invalid("token has no key id".into()))?;
        let key = self.key(&kid).await?;
        // The algorithm comes from our key, never from the token alone.
        if header.alg != key.algorithm {
            return Err(AuthError::Invalid(
                "token algorithm does not match its key".into(),
            ));
        }
        let mut validation = Validation::new(key.algorithm);
        validation.leeway = LEEWAY_SECS;
        validation.set_issuer(&[&self.inner.issuer]);
        validation.set_audience(&[&self.inner.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        jsonwebtoken::decode::<Claims>(token, &key.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|err| AuthError::Invalid(describe(&err)))
    }

    async fn key(&self, kid: &str) -> Result<Arc<Key>, AuthError> {
        {
            let cache = self.inner.cache.read().await;
            let fresh = cache
                .fetched_at
                .is_some_and(|t| t.elapsed() < self.inner.max_age);
            if let Some(key) = cache.keys.get(kid)
                && fresh
            {
                return Ok(Arc::clone(key));
            }
        }
        // Single flight: one fetch at a time; the others then read its result.
        let _guard = self.inner.fetching.lock().await;
        {
            let cache = self.inner.cache.read().await;
            let recently = cache
                .last_miss
                .is_some_and(|t| t.elapsed() < self.inner.refetch_cooldown);
            if let Some(key) = cache.keys.get(kid)
                && cache
                    .fetched_at
                    .is_some_and(|t| t.elapsed() < self.inner.max_age)
            {
                return Ok(Arc::clone(key));
            }
            if recently {
                return cache
                    .keys
                    .get(kid)
                    .cloned()
                    .ok_or_else(|| AuthError::Invalid("token signed by an unknown key".into()));
            }
        }
        match self.fetch().await {
            Ok(keys) => {
                let mut cache = self.inner.cache.write().await;
                cache.keys = keys;
                cache.fetched_at = Some(Instant::now());
                let found = cache.keys.get(kid).cloned();
                if found.is_none() {
                    cache.last_miss = cache.fetched_at;
                }
                found.ok_or_else(|| AuthError::Invalid("token signed by an unknown key".into()))
            }
            Err(err) => {
                tracing::warn!(error = %err, url = %self.inner.jwks_url, "fetching JWKS failed");
                let mut cache = self.inner.cache.write().await;
                // Keep serving the keys we have; retry after the cool-down.
                let had_keys = !cache.keys.is_empty();
                cache.last_miss = Some(Instant::now());
                match cache.keys.get(kid) {
                    Some(key) => Ok(Arc::clone(key)),
                    None if had_keys => {
                        Err(AuthError::Invalid("token signed by an unknown key".into()))
                    }
                    None => Err(AuthError::KeysUnavailable(err)),
                }
            }
        }
    }

    async fn fetch(&self) -> Result<HashMap<String, Arc<Key>>, String> {
        let response = self
            .inner
            .http
            .get(&self.inner.jwks_url)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("JWKS answered {}", response.status()));
        }
        let set: JwkSet = response.json().await.map_err(|e| e.to_string())?;
        Ok(decoding_keys(&set))
    }
}

/// The usable keys of a JWKS, by kid.
fn decoding_keys(set: &JwkSet) -> HashMap<String, Arc<Key>> {
    let mut keys = HashMap::new();
    for jwk in &set.keys {
        let Some(kid) = jwk.common.key_id.clone() else {
            continue;
        };
        // Only asymmetric signature algorithms are trusted.
        let algorithm = match (&jwk.algorithm, jwk.common.key_algorithm) {
            (AlgorithmParameters::OctetKeyPair(_), Some(KeyAlgorithm::EdDSA) | None) => {
                Algorithm::EdDSA
            }
            (AlgorithmParameters::RSA(_), Some(KeyAlgorithm::RS256) | None) => Algorithm::RS256,
            _ => continue,
        };
        if let Ok(decoding) = DecodingKey::from_jwk(jwk) {
            keys.insert(
                kid,
                Arc::new(Key {
                    decoding,
                    algorithm,
                }),
            );
        }
    }
    keys
}

fn describe(err: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind;
    match err.kind() {
        ErrorKind::ExpiredSignature => "token expired".into(),
        ErrorKind::InvalidIssuer => "token issued by an unexpected issuer".into(),
        ErrorKind::InvalidAudience => "token is not meant for this service".into(),
        ErrorKind::InvalidSignature => "token signature is invalid".into(),
        ErrorKind::ImmatureSignature => "token not valid yet".into(),
        ErrorKind::MissingRequiredClaim(claim) => format!("token lacks the {claim} claim"),
        ErrorKind::InvalidAlgorithm => "token algorithm does not match its key".into(),
        _ => "malformed token".into(),
    }
}
