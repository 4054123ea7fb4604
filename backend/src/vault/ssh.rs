//! SSH: one-time passwords and certificate signing. A signed certificate is valid only for a
//! principal named after the agent, so an agent can never log in as anyone else.

use std::net::IpAddr;

use schemars::JsonSchema;
use serde::Serialize;
use utoipa::ToSchema;
use vaultrs::api::ssh::requests::{GenerateSSHCredsRequest, SignSSHKeyRequest};

use super::{Vault, VaultError, exec};
use vault_mcp_filter::Identity as Agent;

/// Role of the OTP key type.
pub const OTP_ROLE: &str = "otp";
/// Role of the CA key type.
pub const SIGN_ROLE: &str = "agent";

#[derive(Debug, Serialize, JsonSchema, ToSchema)]
pub struct Otp {
    /// The one-time password.
    pub key: String,
    /// The user it is for; absent: the role's default user.
    pub username: Option<String>,
    pub ip: String,
    pub port: u64,
}

#[derive(Debug, Serialize, JsonSchema, ToSchema)]
pub struct SignedKey {
    pub signed_key: String,
    pub serial_number: String,
    /// The only principal the certificate is valid for.
    pub principal: String,
}

impl Vault {
    pub async fn ssh_otp(
        &self,
        agent: &Agent,
        ip: IpAddr,
        username: Option<&str>,
    ) -> Result<Otp, VaultError> {
        let ip = ip.to_string();
        self.observed("ssh", "otp", async {
            let client = self.client_for(agent).await?;
            let mut request = GenerateSSHCredsRequest::builder();
            request.mount(&self.ssh_mount).name(OTP_ROLE).ip(&ip);
            if let Some(username) = username {
                request.username(username);
            }
            let request = request.build().map_err(|_| VaultError::Upstream)?;
            let response = exec::data(&client, request).await?;
            Ok(Otp {
                key: response.key,
                username: username.map(str::to_string),
                ip,
                port: response.port,
            })
        })
        .await
    }

    pub async fn ssh_sign(
        &self,
        agent: &Agent,
        public_key: &str,
        ttl: Option<&str>,
    ) -> Result<SignedKey, VaultError> {
        self.observed("ssh", "sign", async {
            let client = self.client_for(agent).await?;
            let mut request = SignSSHKeyRequest::builder();
            request
                .cert_type("user")
                .valid_principals(agent.subject.clone());
            if let Some(ttl) = ttl {
                request.ttl(ttl);
            }
            let request = request
                .mount(&self.ssh_mount)
                .name(SIGN_ROLE)
                .public_key(public_key)
                .build()
                .map_err(|_| VaultError::Upstream)?;
            let response = exec::data(&client, request).await?;
            Ok(SignedKey {
                signed_key: response.signed_key,
                serial_number: response.serial_number,
                principal: agent.subject.clone(),
            })
        })
        .await
    }
}
