//! SSH: one-time passwords, and certificates valid only for the agent's own principal.

use std::net::IpAddr;

use schemars::JsonSchema;
use serde::Deserialize;
use utoipa::ToSchema;

use super::Allowed;
use super::input::{RoleName, allowed_role};
use super::{Operation, Traits};
use crate::error::ApiError;
use crate::vault::Vault;
use crate::vault::ssh::{Otp, SignedKey};

/// `ssh.otp`; `POST /ssh/otp`.
#[derive(Debug, Clone, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SshOtp {
    /// The OTP role (the seed's field); the first allowed one when absent.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub role: Option<RoleName>,
    /// IP address of the host to log in to (within the role's CIDR list).
    #[schema(value_type = String)]
    pub ip: IpAddr,
    /// User on that host; the role's default when absent.
    #[serde(default)]
    pub username: Option<String>,
    /// The seed's port: accepted, but the role decides the port; the answer says which.
    #[serde(default)]
    pub port: Option<u16>,
}

impl Operation for SshOtp {
    const NAME: &'static str = "ssh.otp";
    const DESCRIPTION: &'static str = "A one-time SSH password for a host (by IP) of the OTP role.";
    const TRAITS: Traits = Traits::adds().open_world();
    type Output = Otp;

    async fn run(&self, vault: &Vault, agent: &Allowed<'_, Self>) -> Result<Otp, ApiError> {
        let roles = vault.roles_for(agent.into()).await?;
        let role = allowed_role(&roles.ssh_otp, self.role.as_ref())?;
        Ok(vault
            .ssh_otp(agent.into(), role, self.ip, self.username.as_deref())
            .await?)
    }
}

/// `ssh.sign`; `POST /ssh/sign`.
#[derive(Debug, Clone, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SshSign {
    /// The CA role (the seed's field); the first allowed one when absent.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub role: Option<RoleName>,
    /// The SSH public key to sign (`ssh-ed25519 AAAA…`).
    pub public_key: String,
    /// Certificate lifetime, e.g. `30m`; the role's default when absent.
    #[serde(default)]
    pub ttl: Option<String>,
    /// `user` (the only kind an agent gets); the seed's field.
    #[serde(default)]
    pub cert_type: Option<String>,
    /// The seed's principals: only the agent's own subject (comma-separated, as Vault takes
    /// them); the certificate names exactly that one.
    #[serde(default)]
    pub valid_principals: Option<String>,
}

impl Operation for SshSign {
    const NAME: &'static str = "ssh.sign";
    const DESCRIPTION: &'static str = "Sign an SSH public key as a user certificate valid only for the principal named after this agent.";
    const TRAITS: Traits = Traits::adds().open_world();
    type Output = SignedKey;

    async fn run(&self, vault: &Vault, agent: &Allowed<'_, Self>) -> Result<SignedKey, ApiError> {
        if self.cert_type.as_deref().is_some_and(|kind| kind != "user") {
            return Err(ApiError::NotAllowed(
                "agents get user certificates only".into(),
            ));
        }
        let principals = self.valid_principals.as_deref().unwrap_or_default();
        if principals
            .split(',')
            .map(str::trim)
            .any(|p| !p.is_empty() && p != agent.subject)
        {
            return Err(ApiError::NotAllowed(
                "a certificate is valid only for the agent's own principal".into(),
            ));
        }
        let roles = vault.roles_for(agent.into()).await?;
        let role = allowed_role(&roles.ssh_sign, self.role.as_ref())?;
        Ok(vault
            .ssh_sign(agent.into(), role, &self.public_key, self.ttl.as_deref())
            .await?)
    }
}
