//! `vault-mcp-bridge agents …`: the registry for operators at a shell, with the same Vault
//! credentials as `serve` (`VAULT_ADDR` and `VAULT_TOKEN`, or AppRole). Every command calls
//! [`Registry`]; `--json` prints what the HTTP admin routes answer.

use std::path::Path;
use std::sync::Arc;

use clap::{Args, Subcommand};
use vault_mcp_filter::ratelimit::Limit;

use super::{AgentView, Changes, NewAgent, Registry, RegistryError};
use crate::config::Config;
use crate::vault::Vault;
use crate::vault::registry::AgentRoles;
use crate::vault::revocation::Revocation;

#[derive(Debug, Subcommand)]
pub enum AgentsCommand {
    /// Register an agent: its Transit keys, and an API key (printed once). With --user, a
    /// person who signs in through the OAuth authorization server instead (no key).
    Add {
        /// The agent's name; with --user, the person's name at the authorization server (its
        /// subject claim), registered as `user.…`.
        name: String,
        #[arg(long, conflicts_with_all = ["key_sha256", "certificate_cn"])]
        user: bool,
        /// Comma-separated: read, write, list, delete, admin.
        #[arg(long, value_delimiter = ',', required = true)]
        scopes: Vec<String>,
        /// The agent's own rate limit, REQUESTS/SECONDS (e.g. 120/60).
        #[arg(long, value_parser = parse_rate)]
        rate: Option<Limit>,
        /// A limit of its own for one MCP tool, TOOL=REQUESTS/SECONDS (repeatable).
        #[arg(long = "tool-rate", value_parser = parse_tool_rate)]
        tool_rates: Vec<(String, Limit)>,
        /// How many calls of one MCP tool over a long window, across every Envoy,
        /// TOOL=CALLS/SECONDS (repeatable; e.g. db.issue_creds=10/3600).
        #[arg(long = "budget", value_parser = parse_tool_rate)]
        budgets: Vec<(String, Limit)>,
        /// Register an existing key by its SHA-256 (hex) instead of making one.
        #[arg(long)]
        key_sha256: Option<String>,
        #[command(flatten)]
        bindings: Bindings,
        #[arg(long)]
        json: bool,
    },
    /// Change an agent: each option given replaces what it has (the role options together).
    Update {
        name: String,
        #[arg(long, value_delimiter = ',')]
        scopes: Option<Vec<String>>,
        #[arg(long, value_parser = parse_rate)]
        rate: Option<Limit>,
        /// Back to the edge's default rate limit.
        #[arg(long, conflicts_with = "rate")]
        default_rate: bool,
        /// Replaces all its per-tool limits, TOOL=REQUESTS/SECONDS (repeatable).
        #[arg(long = "tool-rate", value_parser = parse_tool_rate)]
        tool_rates: Vec<(String, Limit)>,
        /// No per-tool limits of its own any more.
        #[arg(long, conflicts_with = "tool_rates")]
        no_tool_rates: bool,
        /// Replaces all its budgets, TOOL=CALLS/SECONDS (repeatable).
        #[arg(long = "budget", value_parser = parse_tool_rate)]
        budgets: Vec<(String, Limit)>,
        /// No budgets any more.
        #[arg(long, conflicts_with = "budgets")]
        no_budgets: bool,
        #[command(flatten)]
        bindings: Bindings,
        /// Answer to no client certificate any more.
        #[arg(long, conflicts_with = "certificate_cn")]
        no_certificate: bool,
    },
    /// Every agent: name, state, scopes, keys (ids only).
    List {
        #[arg(long)]
        json: bool,
    },
    /// One agent, as JSON.
    Show {
        name: String,
    },
    /// A new API key (printed once); the old keys stay valid for --grace seconds (default 0).
    RotateKey {
        name: String,
        #[arg(long, default_value_t = 0)]
        grace: u64,
        #[arg(long)]
        json: bool,
    },
    /// Refuse one key from now on (see `show` for the ids).
    RevokeKey {
        name: String,
        key_id: String,
    },
    /// Refuse the agent, whatever credential it presents, and cut off what it holds in Vault:
    /// its tokens stop (its entity is disabled) and its database leases are revoked. Its data
    /// stays; `enable` lets new requests through again.
    Disable {
        name: String,
        /// Print what was revoked as JSON.
        #[arg(long)]
        json: bool,
    },
    Enable {
        name: String,
    },
    /// Bring a registry written by an earlier version up to this one: move agents' signing
    /// keys out of names another agent could take (their public keys are kept, under
    /// `_bridge/retired-keys/`, to verify old signatures outside the bridge), and list the
    /// agents whose names
    /// must be added again in lower case. `serve` refuses to start until it is done.
    Migrate {
        /// Print what was done as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Take the agent out of the registry and cut it off in Vault. Its secrets and Transit
    /// keys stay unless --destroy-data.
    Remove {
        name: String,
        #[arg(long)]
        destroy_data: bool,
        /// Print what was removed and revoked as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// What an agent answers to and may use besides its scopes.
#[derive(Debug, Args)]
pub struct Bindings {
    /// The client-certificate name (its CN without the edge's `mtls.cn_prefix`) it answers to.
    #[arg(long)]
    certificate_cn: Option<String>,
    /// Database roles it may use, of DATABASE_ROLES (default: all of them).
    #[arg(long, value_delimiter = ',')]
    database_roles: Option<Vec<String>>,
    /// SSH OTP roles it may use, of SSH_OTP_ROLES (default: all of them).
    #[arg(long, value_delimiter = ',')]
    ssh_otp_roles: Option<Vec<String>>,
    /// SSH CA roles it may use, of SSH_SIGN_ROLES (default: all of them).
    #[arg(long, value_delimiter = ',')]
    ssh_sign_roles: Option<Vec<String>>,
    /// PKI roles it may have client certificates signed by, of PKI_ROLES (default: all).
    #[arg(long, value_delimiter = ',')]
    pki_roles: Option<Vec<String>>,
}

impl Bindings {
    fn roles(&self) -> Option<AgentRoles> {
        let roles = AgentRoles {
            database: self.database_roles.clone(),
            ssh_otp: self.ssh_otp_roles.clone(),
            ssh_sign: self.ssh_sign_roles.clone(),
            pki: self.pki_roles.clone(),
        };
        (!roles.is_unrestricted()).then_some(roles)
    }
}

fn parse_tool_rate(text: &str) -> Result<(String, Limit), String> {
    let (tool, rate) = text
        .split_once('=')
        .ok_or("expected TOOL=REQUESTS/SECONDS, e.g. kv.write=10/60")?;
    Ok((tool.trim().to_string(), parse_rate(rate)?))
}

fn parse_rate(text: &str) -> Result<Limit, String> {
    let (requests, seconds) = text
        .split_once('/')
        .ok_or("expected REQUESTS/SECONDS, e.g. 120/60")?;
    let limit = Limit {
        requests: requests
            .trim()
            .parse()
            .map_err(|_| "REQUESTS must be a number")?,
        per_seconds: seconds
            .trim()
            .parse()
            .map_err(|_| "SECONDS must be a number")?,
    };
    if limit.requests == 0 || limit.per_seconds == 0 {
        return Err("both numbers must be positive".into());
    }
    Ok(limit)
}

/// Runs one command; the exit code says how it went (1: refused or failed, with the reason).
pub fn run(command: AgentsCommand) -> std::process::ExitCode {
    let config = match Config::load(Path::new(".")) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: {error}");
            return std::process::ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(execute(&config, command)) {
        Ok(output) => {
            print!("{output}");
            std::process::ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn json(value: &impl serde::Serialize) -> String {
    serde_json::to_string_pretty(value).expect("plain data") + "\n"
}

async fn execute(config: &Config, command: AgentsCommand) -> Result<String, RegistryError> {
    let vault = Arc::new(Vault::new(config, crate::telemetry::METRICS.vault_calls())?);
    vault.authenticate().await?;
    let registry = Registry::new(vault);
    Ok(match command {
        AgentsCommand::Add {
            name,
            user,
            scopes,
            rate,
            tool_rates,
            budgets,
            key_sha256,
            bindings,
            json: as_json,
        } => {
            let issued = registry
                .add(NewAgent {
                    subject: name,
                    user,
                    scopes,
                    rate,
                    tool_rates: tool_rates.into_iter().collect(),
                    budgets: budgets.into_iter().collect(),
                    key_sha256,
                    roles: bindings.roles().unwrap_or_default(),
                    certificate: bindings.certificate_cn,
                })
                .await?;
            if as_json {
                json(&issued)
            } else if let Some(key_id) = &issued.key_id {
                let mut out = format!("added agent {} (key id {key_id})\n", issued.subject);
                if let Some(key) = &issued.api_key {
                    out += &format!("API key (shown once, store it now): {key}\n");
                }
                out
            } else {
                format!(
                    "added user {} (signs in through the authorization server)\n",
                    issued.subject
                )
            }
        }
        AgentsCommand::List { json: as_json } => {
            let agents = registry.list().await?;
            if as_json {
                json(&serde_json::json!({ "agents": agents }))
            } else {
                table(&agents)
            }
        }
        AgentsCommand::Show { name } => json(&registry.show(&name).await?),
        AgentsCommand::Update {
            name,
            scopes,
            rate,
            default_rate,
            tool_rates,
            no_tool_rates,
            budgets,
            no_budgets,
            bindings,
            no_certificate,
        } => {
            let changes = Changes {
                enabled: None,
                scopes,
                rate: if default_rate {
                    Some(None)
                } else {
                    rate.map(Some)
                },
                tool_rates: (no_tool_rates || !tool_rates.is_empty())
                    .then(|| tool_rates.into_iter().collect()),
                budgets: (no_budgets || !budgets.is_empty()).then(|| budgets.into_iter().collect()),
                certificate: if no_certificate {
                    Some(None)
                } else {
                    bindings.certificate_cn.clone().map(Some)
                },
                roles: bindings.roles(),
            };
            json(&registry.update(&name, changes).await?)
        }
        AgentsCommand::RotateKey {
            name,
            grace,
            json: as_json,
        } => {
            let issued = registry.rotate_key(&name, grace).await?;
            if as_json {
                json(&issued)
            } else {
                format!(
                    "new key {} for {}; older keys refused {}\nAPI key (shown once, store it now): {}\n",
                    issued.key_id.unwrap_or_default(),
                    issued.subject,
                    if grace == 0 {
                        "from now on".to_string()
                    } else {
                        format!("in {grace} s")
                    },
                    issued.api_key.as_deref().unwrap_or_default()
                )
            }
        }
        AgentsCommand::RevokeKey { name, key_id } => {
            registry.revoke_key(&name, &key_id).await?;
            format!("key {key_id} of {name} revoked\n")
        }
        AgentsCommand::Disable {
            name,
            json: as_json,
        } => {
            let view = registry.set_enabled(&name, false).await?;
            let revoked = view.revoked.unwrap_or_default();
            if as_json {
                json(&serde_json::json!({ "subject": name, "revoked": revoked }))
            } else {
                format!("agent {name} disabled; {}\n", revocation_line(&revoked))
            }
        }
        AgentsCommand::Enable { name } => {
            registry.set_enabled(&name, true).await?;
            format!("agent {name} enabled\n")
        }
        AgentsCommand::Migrate { json: as_json } => {
            let migrated = registry.migrate().await?;
            if as_json {
                json(&migrated)
            } else {
                let mut out = match migrated.signing_keys_moved.as_slice() {
                    [] => "no signing key to move\n".to_string(),
                    moved => format!(
                        "signing keys moved (old public keys kept under _bridge/retired-keys/): {}\n",
                        moved.join(", ")
                    ),
                };
                if !migrated.names_to_redo.is_empty() {
                    out += &format!(
                        "remove and add again in lower case: {}\n",
                        migrated.names_to_redo.join(", ")
                    );
                }
                out
            }
        }
        AgentsCommand::Remove {
            name,
            destroy_data,
            json: as_json,
        } => {
            let removed = registry.remove(&name, destroy_data).await?;
            let cut = revocation_line(&removed.revoked);
            if as_json {
                json(&removed)
            } else if destroy_data {
                format!(
                    "agent {name} removed; {cut}; {} secrets and its Transit keys erased\n",
                    removed.secrets_erased
                )
            } else {
                format!("agent {name} removed; {cut}; its secrets and Transit keys are kept\n")
            }
        }
    })
}

/// What the kill switch did, in a few words.
fn revocation_line(revoked: &Revocation) -> String {
    let tokens = if revoked.entity_disabled {
        "its Vault tokens stopped (entity disabled)"
    } else {
        "it had no Vault token yet"
    };
    let leases = match revoked.leases_revoked.as_slice() {
        [] => "no lease to revoke".to_string(),
        leases => format!("{} leases revoked: {}", leases.len(), leases.join(", ")),
    };
    match revoked.certificates_revoked.as_slice() {
        [] => format!("{tokens}, {leases}"),
        serials => format!(
            "{tokens}, {leases}, {} certificates revoked: {}",
            serials.len(),
            serials.join(", ")
        ),
    }
}

fn table(agents: &[AgentView]) -> String {
    let mut out = format!(
        "{:<32} {:<8} {:<28} {:<5} {}\n",
        "SUBJECT", "ENABLED", "SCOPES", "KEYS", "RATE"
    );
    for agent in agents {
        let rate = agent
            .rate
            .map(|r| format!("{}/{}s", r.requests, r.per_seconds))
            .unwrap_or_else(|| "default".into());
        out += &format!(
            "{:<32} {:<8} {:<28} {:<5} {}\n",
            agent.subject,
            agent.enabled,
            agent.scopes.join(","),
            agent.keys.len(),
            rate
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        assert_eq!(
            parse_rate("120/60"),
            Ok(Limit {
                requests: 120,
                per_seconds: 60
            })
        );
        for bad in ["120", "0/60", "1/0", "a/1", "1/b", ""] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
    }
}
