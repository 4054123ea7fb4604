//! SSH: one-time passwords and certificate signing. A signed certificate is valid only for a
//! principal named after the agent, so an agent can never log in as anyone else.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vaultrs::api::ssh::requests::{GenerateSSHCredsRequest, SignSSHKeyRequest};

use super::{Vault, VaultError, exec};
use crate::identity::Agent;

/// Role of the OTP key type.
pub const OTP_ROLE: &str = "otp";
/// Role of the CA key type.
pub const SIGN_ROLE: &str = "agent";

#[derive(Debug, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OtpArgs {
    /// IP address of the host to log in to (within the role's CIDR list).
    pub ip: String,
    /// User on that host; the role's default when absent.
    #[serde(default)]
    pub username: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignArgs {
    /// The SSH public key to sign (`ssh-ed25519 AAAA…`).
    pub public_key: String,
    /// Certificate lifetime, e.g. `30m`; the role's default when absent.
    #[serde(default)]
    pub ttl: Option<String>,
}

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
    pub async fn ssh_otp(&self, agent: &Agent, args: &OtpArgs) -> Result<Otp, VaultError> {
        if args.ip.parse::<std::net::IpAddr>().is_err() {
            return Err(VaultError::Rejected("ip must be an IP address".into()));
        }
        self.observed("ssh", "otp", async {
            let client = self.client_for(agent).await?;
            let mut request = GenerateSSHCredsRequest::builder();
            request.mount(&self.ssh_mount).name(OTP_ROLE).ip(&args.ip);
            if let Some(username) = &args.username {
                request.username(username);
            }
            let request = request.build().map_err(|_| VaultError::Upstream)?;
            let response = exec::data(&client, request).await?;
            Ok(Otp {
                key: response.key,
                username: args.username.clone(),
                ip: args.ip.clone(),
                port: response.port,
            })
        })
        .await
    }

    pub async fn ssh_sign(&self, agent: &Agent, args: &SignArgs) -> Result<SignedKey, VaultError> {
        self.observed("ssh", "sign", async {
            let client = self.client_for(agent).await?;
            let mut request = SignSSHKeyRequest::builder();
            request
                .cert_type("user")
                .valid_principals(agent.subject.clone());
            if let Some(ttl) = &args.ttl {
                request.ttl(ttl.clone());
            }
            let request = request
                .mount(&self.ssh_mount)
                .name(SIGN_ROLE)
                .public_key(&args.public_key)
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
