//! Checks of what operators give: names, scopes, limits, certificate names, roles.

use std::collections::BTreeMap;

use vault_mcp_filter::identity::{
    is_subject_spelling, is_user_subject, is_valid_subject, user_subject,
};
use vault_mcp_filter::mtls::is_valid_certificate_name;
use vault_mcp_filter::ratelimit::Limit;
use vault_mcp_filter::scopes;

use crate::config::Roles;
use crate::vault::registry::AgentRoles;

use super::RegistryError;

/// A new agent's name: valid, and not one of the people's names.
pub fn check_name(subject: &str) -> Result<(), RegistryError> {
    if is_user_subject(subject) {
        Err(RegistryError::PeoplesName(subject.to_string()))
    } else if is_valid_subject(subject) {
        Ok(())
    } else {
        Err(RegistryError::InvalidName(subject.to_string()))
    }
}

/// The subject of a new person, from the name their authorization server gives them.
pub fn person_subject(name: &str) -> Result<String, RegistryError> {
    user_subject(name).ok_or_else(|| RegistryError::InvalidUserName(name.to_string()))
}

/// A name as an earlier version allowed it (upper case too): enough to show, disable or remove
/// an agent that start-up now refuses, never to add one.
pub fn check_existing_name(subject: &str) -> Result<(), RegistryError> {
    if is_subject_spelling(subject) {
        Ok(())
    } else {
        Err(RegistryError::InvalidName(subject.to_string()))
    }
}

pub fn check_scopes(scopes: &[String]) -> Result<Vec<String>, RegistryError> {
    if scopes.is_empty() {
        return Err(RegistryError::NoScopes);
    }
    for scope in scopes {
        if !scopes::KNOWN.contains(&scope.as_str()) {
            return Err(RegistryError::InvalidScope(scope.clone()));
        }
    }
    let mut scopes = scopes.to_vec();
    scopes.sort();
    scopes.dedup();
    Ok(scopes)
}

pub fn check_rate(rate: Option<Limit>) -> Result<(), RegistryError> {
    if rate.is_some_and(|r| r.requests == 0 || r.per_seconds == 0) {
        return Err(RegistryError::InvalidRate);
    }
    Ok(())
}

/// Budgets: as per-tool limits, over a window the edge counts exactly across Envoys.
pub fn check_budgets(
    budgets: BTreeMap<String, Limit>,
) -> Result<BTreeMap<String, Limit>, RegistryError> {
    let budgets = check_tool_limits(budgets)?;
    if let Some((tool, _)) = budgets
        .iter()
        .find(|(_, b)| !vault_mcp_filter::global::is_unit_window(b.per_seconds))
    {
        return Err(RegistryError::BudgetWindow(tool.clone()));
    }
    Ok(budgets)
}

/// Per-tool limits and budgets: positive, for tools the scope table knows, kept under each
/// tool's one name (`kv_write` is `kv.write`, as the edge counts it).
pub fn check_tool_limits(
    limits: BTreeMap<String, Limit>,
) -> Result<BTreeMap<String, Limit>, RegistryError> {
    let mut checked = BTreeMap::new();
    for (tool, limit) in limits {
        let Some(name) = scopes::tool_name(&tool) else {
            return Err(RegistryError::UnknownTool(tool));
        };
        check_rate(Some(limit))?;
        if checked.insert(name.to_string(), limit).is_some() {
            return Err(RegistryError::DuplicateTool(name.to_string()));
        }
    }
    Ok(checked)
}

pub fn check_certificate(name: Option<&str>) -> Result<(), RegistryError> {
    match name {
        Some(name) if !is_valid_certificate_name(name) => {
            Err(RegistryError::InvalidCertificate(name.to_string()))
        }
        _ => Ok(()),
    }
}

/// Every role named must be one the backend is configured to allow (`DATABASE_ROLES`, …).
pub fn check_roles(roles: &AgentRoles, configured: &Roles) -> Result<(), RegistryError> {
    for (engine, asked, allowed) in [
        ("database", &roles.database, &configured.database),
        ("ssh_otp", &roles.ssh_otp, &configured.ssh_otp),
        ("ssh_sign", &roles.ssh_sign, &configured.ssh_sign),
        ("pki", &roles.pki, &configured.pki),
    ] {
        if let Some(role) = asked.iter().flatten().find(|r| !allowed.contains(r)) {
            return Err(RegistryError::InvalidRole {
                engine,
                role: role.clone(),
                configured: allowed.join(", "),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operators_input() {
        assert!(check_name("a/b").is_err() && check_name("agent_x").is_ok());
        assert_eq!(
            check_scopes(&["write".into(), "read".into(), "write".into()]).unwrap(),
            ["read", "write"]
        );
        assert!(check_scopes(&[]).is_err() && check_scopes(&["root".into()]).is_err());
        let zero = Limit {
            requests: 0,
            per_seconds: 1,
        };
        assert!(check_rate(Some(zero)).is_err() && check_rate(None).is_ok());
        let one = Limit {
            requests: 1,
            per_seconds: 1,
        };
        let limits = |pairs: &[(&str, Limit)]| {
            check_tool_limits(pairs.iter().map(|(t, l)| (t.to_string(), *l)).collect())
        };
        assert_eq!(
            limits(&[("kv_write", one)]).unwrap(),
            BTreeMap::from([("kv.write".into(), one)])
        );
        assert!(limits(&[("kv.nope", one)]).is_err());
        assert!(limits(&[("kv.read", zero)]).is_err());
        assert!(matches!(
            limits(&[("kv.write", one), ("kv_write", one)]),
            Err(RegistryError::DuplicateTool(tool)) if tool == "kv.write"
        ));
        assert!(check_certificate(Some("a,b")).is_err() && check_certificate(Some("a.b")).is_ok());
        let configured = Roles {
            database: vec!["readonly".into(), "reporting".into()],
            ssh_otp: vec!["otp".into()],
            ssh_sign: vec![],
            pki: vec!["agent".into()],
        };
        let ok = AgentRoles {
            database: Some(vec!["reporting".into()]),
            ..AgentRoles::default()
        };
        assert!(check_roles(&ok, &configured).is_ok());
        let bad = AgentRoles {
            ssh_sign: Some(vec!["agent".into()]),
            ..AgentRoles::default()
        };
        let error = check_roles(&bad, &configured).unwrap_err().to_string();
        assert!(error.contains("ssh_sign role \"agent\""), "{error}");
        assert_eq!(ok.narrow(&configured).database, ["reporting"]);
        assert_eq!(ok.narrow(&configured).ssh_otp, ["otp"]);
    }
}
