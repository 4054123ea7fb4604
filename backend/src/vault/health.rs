//! Whether Vault can serve: reachable, unsealed, and the service's token valid.

use super::{Vault, VaultError};

impl Vault {
    /// One token self-lookup answers all three: an unreachable Vault fails to connect, a
    /// sealed one answers 503, and an invalid token 403. (`sys/health` is not used: its
    /// fields differ between Vault and OpenBao.)
    pub async fn ready(&self) -> Result<(), VaultError> {
        self.observed("sys", "ready", async {
            vaultrs::token::lookup_self(&*self.base()).await?;
            Ok(())
        })
        .await
    }
}
