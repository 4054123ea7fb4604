//! Command line of the backend: parses arguments and hands over to the library.

use std::path::Path;

use clap::{Parser, Subcommand};
use vault_mcp_bridge::config::Config;
use vault_mcp_bridge::identity::Trust;
use vault_mcp_bridge::telemetry;
use vault_mcp_bridge::vault::policy::{Mounts, agent_policy, agent_roles_policy, service_policy};

/// mimalloc rather than glibc's malloc (docs/PERFORMANCE.md, issue #27).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "vault-mcp-bridge",
    version,
    about = "Vault for AI agents: REST and MCP"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve REST and MCP over HTTP (the default). Configured by environment variables and
    /// an optional config file (see docs/CONFIGURATION.md).
    Serve,
    /// Load and validate the configuration, print it with secrets hidden, and exit.
    CheckConfig,
    /// Serve MCP on stdin/stdout for one agent: `SUBJECT` (required) and `SCOPES`
    /// (space-separated, default "read list"). For MCP clients that launch local servers.
    Stdio,
    /// Print a Vault policy (HCL) for an operator to write: the two every agent's token carries
    /// (`--agents`: each agent its own KV v2 folder and Transit keys; `--agent-roles`: the
    /// database and SSH roles), or the service's own token's (`--service`).
    #[command(group = clap::ArgGroup::new("which").required(true).multiple(false))]
    GenPolicy {
        /// The agents' policy (AGENT_POLICY), templated on each agent's identity entity.
        #[arg(long, group = "which")]
        agents: bool,
        /// The agents' second policy (`{AGENT_POLICY}-roles`): the roles named, plain.
        #[arg(long, group = "which")]
        agent_roles: bool,
        /// The policy of the service's own token (what `serve` needs, and no agent's secret).
        #[arg(long, group = "which")]
        service: bool,
        /// With --service: the token role agents' tokens are made with (AGENT_TOKEN_ROLE).
        #[arg(long, default_value = "vault-mcp-bridge-agent")]
        agent_token_role: String,
        /// With --service: the agents' policy, which the service reads at start with its
        /// `-roles` companion (AGENT_POLICY).
        #[arg(long, default_value = "vault-mcp-bridge-agent")]
        agent_policy: String,
        /// KV v2 mount.
        #[arg(long, default_value = "secret")]
        mount: String,
        /// Folder under the mount holding one sub-folder per agent.
        #[arg(long, default_value = "agents")]
        prefix: String,
        /// Transit mount.
        #[arg(long, default_value = "transit")]
        transit_mount: String,
        /// Transit mount of the keys agents name themselves.
        #[arg(long, default_value = "transit-agents")]
        transit_named_mount: String,
        /// Database secrets engine mount.
        #[arg(long, default_value = "database")]
        database_mount: String,
        /// SSH secrets engine mount.
        #[arg(long, default_value = "ssh")]
        ssh_mount: String,
        /// Database roles agents may use (DATABASE_ROLES, comma-separated).
        #[arg(long, default_value = "readonly")]
        database_roles: String,
        /// SSH OTP roles agents may use (SSH_OTP_ROLES).
        #[arg(long, default_value = "otp")]
        ssh_otp_roles: String,
        /// SSH roles that sign agents' keys (SSH_SIGN_ROLES).
        #[arg(long, default_value = "agent")]
        ssh_sign_roles: String,
        /// PKI secrets engine mount (PKI_MOUNT).
        #[arg(long, default_value = "pki_int")]
        pki_mount: String,
        /// PKI roles that sign agents' client certificates (PKI_ROLES).
        #[arg(long, default_value = "agent")]
        pki_roles: String,
    },
    /// The agent registry: add agents, rotate and revoke their keys, disable, remove. Uses
    /// VAULT_ADDR and VAULT_TOKEN (or AppRole) like `serve`; the edge follows within seconds.
    Agents {
        #[command(subcommand)]
        command: vault_mcp_bridge::registry::cli::AgentsCommand,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(),
        Command::Stdio => stdio(),
        Command::Agents { command } => vault_mcp_bridge::registry::cli::run(command),
        Command::CheckConfig => match Config::load(Path::new("."))
            .and_then(|config| Trust::from_config(&config).map(|_| config))
        {
            Ok(config) => {
                println!("{}", config.summary());
                std::process::ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("error: {error}");
                std::process::ExitCode::from(2)
            }
        },
        Command::GenPolicy {
            agents: _,
            agent_roles,
            service,
            agent_token_role,
            agent_policy: agent_policy_name,
            mount,
            prefix,
            transit_mount,
            transit_named_mount,
            database_mount,
            ssh_mount,
            database_roles,
            ssh_otp_roles,
            ssh_sign_roles,
            pki_mount,
            pki_roles,
        } => {
            let list = |text: &str| -> Vec<String> {
                text.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            };
            let roles = vault_mcp_bridge::config::Roles {
                database: list(&database_roles),
                ssh_otp: list(&ssh_otp_roles),
                ssh_sign: list(&ssh_sign_roles),
                pki: list(&pki_roles),
            };
            let mounts = Mounts {
                kv: &mount,
                prefix: &prefix,
                transit: &transit_mount,
                transit_named: &transit_named_mount,
                database: &database_mount,
                ssh: &ssh_mount,
                pki: &pki_mount,
                roles: &roles,
            };
            let hcl = if service {
                service_policy(&mounts, &agent_token_role, &agent_policy_name)
            } else if agent_roles {
                agent_roles_policy(&mounts)
            } else {
                agent_policy(&mounts)
            };
            print!("{hcl}");
            std::process::ExitCode::SUCCESS
        }
    }
}

fn stdio() -> std::process::ExitCode {
    let subject = std::env::var("SUBJECT").unwrap_or_default();
    if !vault_mcp_filter::identity::is_valid_subject(&subject) {
        eprintln!("error: SUBJECT must name the agent (letters, digits, _ - .)");
        return std::process::ExitCode::from(2);
    }
    let scopes = std::env::var("SCOPES").unwrap_or_else(|_| "read list".into());
    let agent = vault_mcp_bridge::identity::Agent::new(
        subject,
        scopes.split_ascii_whitespace().map(str::to_string),
    );
    // stdio serves one agent that the launching user chose: no edge, no assertion.
    let config = match Config::load(Path::new(".")) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: {error}");
            return std::process::ExitCode::from(2);
        }
    };
    // stdout carries the protocol: logs go to stderr (or LOG_DIR).
    let _telemetry = telemetry::init(
        &config.log_level,
        telemetry::LogFiles::from_config(&config).as_ref(),
    );
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(vault_mcp_bridge::serve_stdio(config, agent)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "stdio server failed");
            std::process::ExitCode::FAILURE
        }
    }
}

fn serve() -> std::process::ExitCode {
    let config = match Config::load(Path::new("."))
        .and_then(|config| Trust::from_config(&config).map(|_| config))
    {
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: {error}");
            return std::process::ExitCode::from(2);
        }
    };
    if let Some(dir) = &config.log_dir
        && let Err(error) = std::fs::create_dir_all(dir)
    {
        eprintln!("error: LOG_DIR {}: {error}", dir.display());
        return std::process::ExitCode::from(2);
    }
    let _telemetry = telemetry::init(
        &config.log_level,
        telemetry::LogFiles::from_config(&config).as_ref(),
    );
    match actix_web::rt::System::new().block_on(vault_mcp_bridge::serve(config)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "server failed");
            // Also where whoever started it looks first, when the logs go to LOG_DIR.
            eprintln!("error: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
