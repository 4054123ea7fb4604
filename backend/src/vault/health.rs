//! Whether Vault can serve: reachable, unsealed, and the service's token valid.

use super::{Vault, VaultError};

impl Vault {
    /// One token self-lookup answers all three: an unreachable Vault fails to connect, a
    /// sealed one answers 503, and an invalid token 403. (`sys/health` is not used: its
    /// fields differ between Vault and OpenBao.)
    pub async fn ready(&self) -> Result<(), VaultError> {
        self.token_ttl().await.map(|_| ())
    }

    /// The same self-lookup, for the seconds the service's token has left (0: no expiry).
    pub async fn token_ttl(&self) -> Result<u64, VaultError> {
        self.observed("sys", "ready", async {
            Ok(vaultrs::token::lookup_self(&*self.base()).await?.ttl)
        })
        .await
    }
}
