//! Ed25519 signing keys and their public JWKs (the issuing side: user-service
//! and the test issuer).

use anyhow::Context;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm,
    OctetKeyPairParameters, OctetKeyPairType, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

/// A private Ed25519 key with its key id.
pub struct SigningKey {
    kid: String,
    encoding: EncodingKey,
    public_jwk: Jwk,
}

impl SigningKey {
    /// A fresh random key.
    pub fn generate(kid: impl Into<String>) -> anyhow::Result<Self> {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .map_err(|_| anyhow::anyhow!("generating an Ed25519 key"))?;
        Self::from_pkcs8_der(kid, pkcs8.as_ref())
    }

    /// A key from its PKCS#8 DER encoding.
    pub fn from_pkcs8_der(kid: impl Into<String>, der: &[u8]) -> anyhow::Result<Self> {
        let kid = kid.into();
        let pair = Ed25519KeyPair::from_pkcs8(der)
            .map_err(|e| anyhow::anyhow!("not an Ed25519 PKCS#8 key: {e}"))?;
        let public_jwk = Jwk {
            common: CommonParameters {
                public_key_use: Some(PublicKeyUse::Signature),
                key_algorithm: Some(KeyAlgorithm::EdDSA),
                key_id: Some(kid.clone()),
                ..Default::default()
            },
            algorithm: AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
                key_type: OctetKeyPairType::OctetKeyPair,
                curve: EllipticCurve::Ed25519,
                x: URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()),
            }),
        };
        Ok(Self {
            kid,
            encoding: EncodingKey::from_ed_der(der),
            public_jwk,
        })
    }

    /// The key id (`kid` header of tokens it signs).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public half, as a JWK.
    pub fn public_jwk(&self) -> &Jwk {
        &self.public_jwk
    }

    /// Signs `claims` as a compact JWT with `alg: EdDSA` and this key's `kid`.
    pub fn sign<T: Serialize>(&self, claims: &T) -> anyhow::Result<String> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).context("signing a token")
    }
}

/// The JWKS document publishing `keys`' public halves.
pub fn jwk_set<'a>(keys: impl IntoIterator<Item = &'a SigningKey>) -> JwkSet {
    JwkSet {
        keys: keys.into_iter().map(|k| k.public_jwk.clone()).collect(),
    }
}
