//! Password hashing with argon2id (OWASP parameters: m=19 MiB, t=2, p=1),
//! always on the blocking pool and never more at once than configured, so a
//! flood of logins queues up instead of taking every CPU from the runtime.

use anyhow::Context;
use argon2::{Argon2, PasswordHasher as _, PasswordVerifier as _};
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;
use tokio::sync::{OnceCell, Semaphore};

/// Hashes and verifies passwords. Cheap to clone.
#[derive(Clone)]
pub struct Passwords {
    permits: Arc<Semaphore>,
    /// A hash of a random password, verified against when the account does
    /// not exist, so unknown e-mails take as long as wrong passwords.
    dummy: Arc<OnceCell<String>>,
}

impl Passwords {
    /// At most `max_concurrent` hashes at once (0: one per CPU).
    pub fn new(max_concurrent: usize) -> Self {
        let permits = if max_concurrent == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            max_concurrent
        };
        Self {
            permits: Arc::new(Semaphore::new(permits)),
            dummy: Arc::new(OnceCell::new()),
        }
    }

    /// The PHC string of `password` (argon2id, random salt).
    pub async fn hash(&self, password: &SecretString) -> anyhow::Result<String> {
        let password = password.clone();
        self.blocking(move || {
            Argon2::default()
                .hash_password(password.expose_secret().as_bytes())
                .map(|h| h.to_string())
                .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
        })
        .await
    }

    /// Whether `password` matches `hash`; with no hash (unknown account) a
    /// dummy hash is verified instead and the answer is `false`.
    pub async fn verify(
        &self,
        password: &SecretString,
        hash: Option<String>,
    ) -> anyhow::Result<bool> {
        let (hash, real) = match hash {
            Some(hash) => (hash, true),
            None => (self.dummy_hash().await?, false),
        };
        let password = password.clone();
        let matches = self
            .blocking(move || {
                Ok(Argon2::default()
                    .verify_password(password.expose_secret().as_bytes(), hash.as_str())
                    .is_ok())
            })
            .await?;
        Ok(real && matches)
    }

    async fn dummy_hash(&self) -> anyhow::Result<String> {
        self.dummy
            .get_or_try_init(|| async {
                let random: [u8; 16] = rand::random();
                let password = SecretString::from(base64::Engine::encode(
                    &base64::engine::general_purpose::STANDARD,
                    random,
                ));
                self.hash(&password).await
            })
            .await
            .cloned()
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let _permit = self
            .permits
            .acquire()
            .await
            .context("the hashing semaphore is closed")?;
        tokio::task::spawn_blocking(work)
            .await
            .context("the hashing task failed")?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let passwords = Passwords::new(1);
        let secret = SecretString::from("correct horse battery staple");
        let hash = passwords.hash(&secret).await.unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(passwords.verify(&secret, Some(hash.clone())).await.unwrap());
        let wrong = SecretString::from("correct horse battery stapler");
        assert!(!passwords.verify(&wrong, Some(hash)).await.unwrap());
        assert!(!passwords.verify(&secret, None).await.unwrap());
    }
}
