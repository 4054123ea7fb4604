//! SSH: one-time passwords and certificate signing. A signed certificate is valid only for a
//! principal named after the agent, so an agent can never log in as anyone else.

use std::net::IpAddr;

use rustify_derive::Endpoint;
use schemars::JsonSchema;
use serde::Deserialize;
use serde::Serialize;
use utoipa::ToSchema;
use vaultrs::api::ssh::requests::SignSSHKeyRequest;

use super::{Subject, Vault, VaultError, exec};

#[derive(Debug, Serialize, JsonSchema, ToSchema)]
pub struct Otp {
    /// The one-time password.
    pub key: String,
    /// The user it is for: the one asked for, or the role's default user.
    pub username: Option<String>,
    pub ip: String,
    pub port: u64,
}

#[derive(Debug, Serialize, JsonSchema, ToSchema)]
pub struct SignedKey {
    /// The signed certificate (the seed's field).
    pub certificate: String,
    /// The same, under Vault's name for it.
    pub signed_key: String,
    pub serial_number: String,
    /// The only principal the certificate is valid for.
    pub principal: String,
}

/// `POST {mount}/creds/{role}` for an OTP role. vaultrs has the request but its answer leaves
/// out `username`, the user the password was issued for; this one keeps it.
#[derive(Debug, Endpoint)]
#[endpoint(
    path = "{self.mount}/creds/{self.role}",
    method = "POST",
    response = "OtpCreds"
)]
struct OtpRequest {
    #[endpoint(skip)]
    mount: String,
    #[endpoint(skip)]
    role: String,
    ip: String,
    // rustify leaves out a `None`.
    username: Option<String>,
}

#[derive(Debug, Deserialize)]
struct OtpCreds {
    key: String,
    #[serde(default)]
    username: Option<String>,
    port: u64,
}

impl Vault {
    pub async fn ssh_otp(
        &self,
        subject: Subject<'_>,
        role: &str,
        ip: IpAddr,
        username: Option<&str>,
    ) -> Result<Otp, VaultError> {
        let ip = ip.to_string();
        self.as_agent("ssh", "otp", subject, move |client| async move {
            let request = OtpRequest {
                mount: self.ssh_mount.clone(),
                role: role.to_string(),
                ip: ip.clone(),
                username: username.map(str::to_string),
            };
            let response = exec::data(&client, request).await?;
            Ok(Otp {
                key: response.key,
                username: response.username.or(username.map(str::to_string)),
                ip,
                port: response.port,
            })
        })
        .await
    }

    pub async fn ssh_sign(
        &self,
        subject: Subject<'_>,
        role: &str,
        public_key: &str,
        ttl: Option<&str>,
    ) -> Result<SignedKey, VaultError> {
        self.as_agent("ssh", "sign", subject, move |client| async move {
            let mut request = SignSSHKeyRequest::builder();
            request
                .cert_type("user")
                .valid_principals(subject.to_string());
            if let Some(ttl) = ttl {
                request.ttl(ttl);
            }
            let request = request
                .mount(&self.ssh_mount)
                .name(role)
                .public_key(public_key)
                .build()
                .map_err(|_| VaultError::Upstream)?;
            let response = exec::data(&client, request).await?;
            Ok(SignedKey {
                certificate: response.signed_key.clone(),
                signed_key: response.signed_key,
                serial_number: response.serial_number,
                principal: subject.to_string(),
            })
        })
        .await
    }
}
