//! Single-use tickets every replica agrees on, from Vault's response wrapping: a wrapping token
//! unwraps once, whoever holds it and whichever replica asks, until its TTL, after which Vault
//! forgets it by itself. Replicas share nothing but Vault, so this is what makes a 2026-07-28
//! confirmation (`mcp::confirm`) good for one retry even when a replay reaches another replica.

use std::time::Duration;

use rustify_derive::Endpoint;
use serde::Deserialize;
use vaultrs::api::sys::requests::UnwrapRequest;

use super::{Vault, VaultError, exec};

/// `POST sys/wrapping/wrap`: Vault keeps `bound` behind a new wrapping token.
#[derive(Debug, Endpoint)]
#[endpoint(path = "sys/wrapping/wrap", method = "POST", response = "Wrapped")]
struct WrapRequest {
    bound: String,
}

#[derive(Debug, Deserialize)]
struct Wrapped {
    bound: String,
}

impl Vault {
    /// A ticket (a wrapping token) for what `bound` names, good once within `ttl`.
    pub async fn single_use_ticket(
        &self,
        bound: &str,
        ttl: Duration,
    ) -> Result<String, VaultError> {
        self.observed("sys", "wrap", async {
            let client = self.base();
            let mut middleware = client.middle.clone();
            middleware.wrap = Some(format!("{}s", ttl.as_secs().max(1)));
            let request = WrapRequest {
                bound: bound.to_string(),
            };
            let answer = exec::send(&client, request, Some(&middleware)).await?;
            answer
                .wrap_info
                .map(|info| info.token)
                .ok_or(VaultError::Upstream)
        })
        .await
    }

    /// Redeems a ticket for `bound`: true the first time, false when it was used already,
    /// has expired, or is not one of ours for `bound`.
    pub async fn redeem_ticket(&self, ticket: &str, bound: &str) -> Result<bool, VaultError> {
        self.observed("sys", "unwrap", async {
            let request = UnwrapRequest {
                token: Some(ticket.to_string()),
            };
            match exec::data(&self.base(), request).await {
                Ok(data) => Ok(serde_json::from_value::<Wrapped>(data)
                    .is_ok_and(|wrapped| wrapped.bound == bound)),
                // Vault's answer for a used, expired or unknown wrapping token.
                Err(VaultError::Rejected(_)) => Ok(false),
                Err(other) => Err(other),
            }
        })
        .await
    }
}
