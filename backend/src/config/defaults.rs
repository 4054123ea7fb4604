//! The defaults of `Config`'s fields, named in its `#[serde(default = …)]` attributes.

pub fn vault_addr() -> String {
    "http://127.0.0.1:8200".into()
}
pub fn tool_names() -> String {
    "dotted".into()
}
pub fn confirm_tools() -> String {
    "kv.destroy".into()
}
pub fn subscription_poll() -> u64 {
    2
}
pub fn subscriptions_per_agent() -> usize {
    16
}
pub fn confirm_timeout() -> u64 {
    120
}
pub fn vault_timeout() -> u64 {
    10
}
pub fn approle_mount() -> String {
    "approle".into()
}
pub fn kv_mount() -> String {
    "secret".into()
}
pub fn transit_mount() -> String {
    "transit".into()
}
pub fn transit_named_mount() -> String {
    "transit-agents".into()
}
pub fn database_roles() -> String {
    "readonly".into()
}
pub fn ssh_otp_roles() -> String {
    "otp".into()
}
pub fn ssh_sign_roles() -> String {
    "agent".into()
}
pub fn database_mount() -> String {
    "database".into()
}
pub fn ssh_mount() -> String {
    "ssh".into()
}
pub fn pki_roles() -> String {
    "agent".into()
}
pub fn pki_mount() -> String {
    "pki_int".into()
}
pub fn default_prefix() -> String {
    "agents".into()
}
pub fn host() -> String {
    "127.0.0.1".into()
}
pub fn port() -> u16 {
    8089
}
pub fn log_max_mb() -> f64 {
    100.0
}
pub fn log_keep() -> usize {
    5
}
pub fn registry_refresh_seconds() -> u64 {
    5
}
pub fn console_session_minutes() -> u64 {
    30
}
pub fn log_level() -> String {
    "info".into()
}
pub fn assertion_max_age() -> u64 {
    60
}
pub fn yes() -> bool {
    true
}
pub fn agent_token_role() -> String {
    "vault-mcp-bridge-agent".into()
}
pub fn agent_policy() -> String {
    "vault-mcp-bridge-agent".into()
}
pub fn agent_token_ttl() -> u64 {
    900
}
pub fn agent_lease_token_ttl() -> u64 {
    86_400
}
pub fn leeway() -> u64 {
    30
}
pub fn rate() -> u32 {
    60
}
