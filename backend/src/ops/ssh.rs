//! SSH: one-time passwords, and certificates valid only for the agent's own principal.

use std::net::IpAddr;

use schemars::JsonSchema;
use serde::Deserialize;
use utoipa::ToSchema;

use super::{Operation, Traits};
use crate::error::ApiError;
use crate::identity::Agent;
use crate::vault::Vault;
use crate::vault::ssh::{Otp, SignedKey};

/// `ssh.otp`; `POST /ssh/otp`.
#[derive(Debug, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SshOtp {
    /// IP address of the host to log in to (within the role's CIDR list).
    #[schema(value_type = String)]
    pub ip: IpAddr,
    /// User on that host; the role's default when absent.
    #[serde(default)]
    pub username: Option<String>,
}

impl Operation for SshOtp {
    const NAME: &'static str = "ssh.otp";
    const DESCRIPTION: &'static str = "A one-time SSH password for a host (by IP) of the OTP role.";
    const TRAITS: Traits = Traits::adds().open_world();
    type Output = Otp;

    async fn run(self, vault: &Vault, agent: &Agent) -> Result<Otp, ApiError> {
        Ok(vault
            .ssh_otp(agent, self.ip, self.username.as_deref())
            .await?)
    }
}

/// `ssh.sign`; `POST /ssh/sign`.
#[derive(Debug, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SshSign {
    /// The SSH public key to sign (`ssh-ed25519 AAAA…`).
    pub public_key: String,
    /// Certificate lifetime, e.g. `30m`; the role's default when absent.
    #[serde(default)]
    pub ttl: Option<String>,
}

impl Operation for SshSign {
    const NAME: &'static str = "ssh.sign";
    const DESCRIPTION: &'static str = "Sign an SSH public key as a user certificate valid only for the principal named after this agent.";
    const TRAITS: Traits = Traits::adds().open_world();
    type Output = SignedKey;

    async fn run(self, vault: &Vault, agent: &Agent) -> Result<SignedKey, ApiError> {
        Ok(vault
            .ssh_sign(agent, &self.public_key, self.ttl.as_deref())
            .await?)
    }
}
