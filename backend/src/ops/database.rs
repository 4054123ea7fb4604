//! Dynamic database credentials, renewed and revoked only by the agent they were issued to.

use schemars::JsonSchema;
use serde::Deserialize;
use utoipa::ToSchema;

use super::Allowed;
use super::input::{RoleName, allowed_role};
use super::{Operation, Traits};
use crate::error::ApiError;
use crate::vault::Vault;
use crate::vault::database::{DbCredentials, Lease, Revoked};

/// `db.issue_creds`; `POST /db/creds/{role}`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DbIssueCreds {
    /// The database role, e.g. `readonly`.
    pub role: RoleName,
}

impl Operation for DbIssueCreds {
    const NAME: &'static str = "db.issue_creds";
    const DESCRIPTION: &'static str = "Issue short-lived database credentials for a role (e.g. readonly). Only this agent can renew or revoke them.";
    const TRAITS: Traits = Traits::adds().open_world();
    type Output = DbCredentials;

    async fn run(
        &self,
        vault: &Vault,
        agent: &Allowed<'_, Self>,
    ) -> Result<DbCredentials, ApiError> {
        let roles = vault.roles_for(agent.into()).await?;
        let role = allowed_role(&roles.database, Some(&self.role))?;
        Ok(vault.db_issue(agent.into(), role).await?)
    }
}

/// `db.renew`; `POST /db/renew`.
#[derive(Debug, Clone, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DbRenew {
    /// A lease issued to this agent by `db.issue_creds`.
    pub lease_id: String,
    /// Requested extension in seconds; Vault caps it at the role's maximum.
    #[serde(default)]
    pub increment: Option<u64>,
}

impl Operation for DbRenew {
    const NAME: &'static str = "db.renew";
    const DESCRIPTION: &'static str = "Extend a database lease this agent was issued.";
    const TRAITS: Traits = Traits::adds().idempotent().open_world();
    type Output = Lease;

    async fn run(&self, vault: &Vault, agent: &Allowed<'_, Self>) -> Result<Lease, ApiError> {
        Ok(vault
            .db_renew(agent.into(), &self.lease_id, self.increment)
            .await?)
    }
}

/// `db.revoke`; `POST /db/revoke`.
#[derive(Debug, Clone, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DbRevoke {
    /// A lease issued to this agent by `db.issue_creds`.
    pub lease_id: String,
}

impl Operation for DbRevoke {
    const NAME: &'static str = "db.revoke";
    const DESCRIPTION: &'static str =
        "Revoke a database lease this agent was issued; the database user is dropped.";
    const TRAITS: Traits = Traits::removes().idempotent().open_world();
    type Output = Revoked;

    async fn run(&self, vault: &Vault, agent: &Allowed<'_, Self>) -> Result<Revoked, ApiError> {
        Ok(vault.db_revoke(agent.into(), &self.lease_id).await?)
    }

    fn summary(&self) -> String {
        format!(
            "revoke the database lease {:?} (its database user is dropped)",
            self.lease_id
        )
    }
}
