//! The service's own Vault identity: a static `VAULT_TOKEN`, or an AppRole login
//! (`VAULT_ROLE_ID` + `VAULT_SECRET_ID`) whose token is renewed at two thirds of its TTL and
//! replaced by a new login when renewal is refused (max TTL reached, token revoked).

use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use vaultrs::client::{VaultClient, VaultClientSettings};

use super::{Vault, VaultError};

pub struct AppRole {
    pub mount: String,
    pub role_id: String,
    pub secret_id: SecretString,
}

/// How long to wait after a failed login before trying again.
const RETRY: Duration = Duration::from_secs(5);

impl Vault {
    /// A new client for a new token (only at login: renewal keeps the token).
    fn set_token(&self, token: &str) -> Result<(), VaultError> {
        let settings = VaultClientSettings {
            token: token.to_string(),
            ..self.settings.clone()
        };
        let client = Arc::new(VaultClient::new(settings)?);
        *self.client.write().expect("client lock") = client;
        Ok(())
    }

    /// Logs in with the AppRole; returns the token's TTL.
    async fn approle_login(&self, approle: &AppRole) -> Result<Duration, VaultError> {
        let auth = self
            .observed("auth", "login", async {
                Ok(vaultrs::auth::approle::login(
                    &*self.base(),
                    &approle.mount,
                    &approle.role_id,
                    approle.secret_id.expose_secret(),
                )
                .await?)
            })
            .await?;
        self.set_token(&auth.client_token)?;
        Ok(Duration::from_secs(auth.lease_duration))
    }

    /// Before serving: log in when configured for AppRole (a failed first login stops the
    /// start with its reason). Returns the token's TTL, to hand to [`Vault::keep_token_fresh`].
    pub async fn authenticate(&self) -> Result<Option<Duration>, VaultError> {
        match &self.approle {
            Some(approle) => Ok(Some(self.approle_login(approle).await?)),
            None => Ok(None),
        }
    }

    /// Keeps an AppRole token valid for as long as the service runs.
    pub async fn keep_token_fresh(self: Arc<Self>, mut ttl: Duration) {
        let Some(approle) = &self.approle else {
            return;
        };
        loop {
            tokio::time::sleep((ttl * 2 / 3).max(Duration::from_secs(1))).await;
            let renewed = self
                .observed("auth", "renew", async {
                    Ok(vaultrs::token::renew_self(&*self.base(), None).await?)
                })
                .await;
            ttl = match renewed {
                // Vault caps renewals at the max TTL; near it, a new login comes sooner.
                Ok(auth) if auth.lease_duration >= 2 => Duration::from_secs(auth.lease_duration),
                _ => match self.approle_login(approle).await {
                    Ok(ttl) => ttl,
                    Err(error) => {
                        tracing::warn!(%error, "AppRole login failed; retrying");
                        RETRY
                    }
                },
            };
        }
    }
}
