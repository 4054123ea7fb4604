//! Who is calling, once authenticated.

/// An authenticated agent: its subject (the name of its corner of Vault) and its scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub subject: String,
    /// Sorted and without duplicates, so the forwarded header is canonical.
    pub scopes: Vec<String>,
    /// The id of the registry API key that proved it (forwarded as `x-agent-key-id`, so the
    /// console can show when each key was last used); `None` for any other credential.
    pub key_id: Option<String>,
}

impl Identity {
    pub fn new(subject: impl Into<String>, scopes: impl IntoIterator<Item = String>) -> Self {
        let mut scopes: Vec<String> = scopes.into_iter().collect();
        scopes.sort();
        scopes.dedup();
        Self {
            subject: subject.into(),
            scopes,
            key_id: None,
        }
    }

    /// The same identity, proven by the registry key `key_id`.
    pub fn with_key_id(mut self, key_id: &str) -> Self {
        self.key_id = Some(key_id.to_string());
        self
    }

    /// Whether the agent holds every scope `required` names: one scope, or several separated
    /// by spaces like an OAuth `scope` string (`"write delete"`: both).
    pub fn has_scope(&self, required: &str) -> bool {
        required.split_ascii_whitespace().all(|scope| {
            self.scopes
                .binary_search_by(|s| s.as_str().cmp(scope))
                .is_ok()
        })
    }

    /// The same identity with only the scopes `allowed` also holds (a person's token grants at
    /// most what the registry gives them).
    pub fn within(mut self, allowed: &Identity) -> Self {
        self.scopes.retain(|s| allowed.has_scope(s));
        self
    }

    /// Scopes as forwarded upstream: space-separated, like an OAuth `scope` claim.
    pub fn scopes_header(&self) -> String {
        self.scopes.join(" ")
    }
}

/// A subject names a folder in Vault and travels in a header, so only a conservative
/// character set is accepted anywhere a subject is created. Lower case only: Vault folds
/// policy names to lower case, so `RT-1` and `rt-1` would share one policy (and, compared
/// without case, one identity); two subjects are never the same name in two spellings.
pub fn is_valid_subject(subject: &str) -> bool {
    is_subject_spelling(subject) && !subject.bytes().any(|b| b.is_ascii_uppercase())
}

/// The alphabet of earlier versions, upper case included: only to name (and remove) agents of
/// a registry written before subjects were lower case.
pub fn is_subject_spelling(subject: &str) -> bool {
    !subject.is_empty()
        && subject.len() <= MAX_SUBJECT
        && subject
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        && subject != "."
        && subject != ".."
}

/// Subjects of people signed in through the OAuth authorization server start with this; no
/// agent's name may (the registry refuses it), so a user can never be mapped onto an agent.
pub const USER_PREFIX: &str = "user.";

/// Whether `subject` may name an agent: a valid subject outside the people's names. Every
/// credential but the authorization server's tokens names agents.
pub fn is_agent_subject(subject: &str) -> bool {
    is_valid_subject(subject) && !is_user_subject(subject)
}

/// Whether `subject` names a signed-in person rather than an agent.
pub fn is_user_subject(subject: &str) -> bool {
    subject.starts_with(USER_PREFIX)
}

/// The subject of the person whose identity provider calls them `claim` (its `sub`, or the
/// configured claim): `user.` and the claim with every byte outside `a-z 0-9` written as `_`
/// and two lower-case hex digits. `_` only ever starts such an escape, so two different claims
/// never give one subject (`Ann`, `ann` and `_41nn` are three people). After the prefix only
/// `a-z 0-9 _` appear: no `..` (which Vault's file storage refuses in a Transit key's path) and
/// no trailing `-` (which Transit's key names refuse). `None` when the claim is empty or its
/// subject would be longer than a subject may be.
pub fn user_subject(claim: &str) -> Option<String> {
    use std::fmt::Write;
    if claim.is_empty() {
        return None;
    }
    let mut subject = String::from(USER_PREFIX);
    for byte in claim.bytes() {
        if byte.is_ascii_lowercase() || byte.is_ascii_digit() {
            subject.push(byte as char);
        } else {
            write!(subject, "_{byte:02x}").expect("writing to a String");
        }
        if subject.len() > MAX_SUBJECT {
            return None;
        }
    }
    Some(subject)
}

/// Longest subject.
pub const MAX_SUBJECT: usize = 128;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_map_to_distinct_subjects_outside_the_agents_names() {
        let claims = [
            "ann",
            "Ann",
            "_41nn",
            "auth0|5f7c",
            "00u1AbC",
            "a b",
            "ä",
            "..",
            "john.doe",
            "john_doe",
            "x-",
        ];
        let subjects: Vec<String> = claims.iter().map(|c| user_subject(c).unwrap()).collect();
        assert_eq!(subjects[0], "user.ann");
        assert_eq!(subjects[1], "user._41nn");
        assert_eq!(subjects[2], "user._5f41nn");
        assert_eq!(subjects[3], "user.auth0_7c5f7c");
        assert_eq!(subjects[6], "user._c3_a4");
        assert_eq!(subjects[8], "user.john_2edoe");
        assert_eq!(subjects[10], "user.x_2d");
        let mut unique = subjects.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), claims.len(), "{subjects:?}");
        for subject in &subjects {
            assert!(
                is_valid_subject(subject) && is_user_subject(subject),
                "{subject}"
            );
            let name = &subject[USER_PREFIX.len()..];
            assert!(!name.contains('.') && !name.ends_with('-'), "{subject}");
        }
        assert_eq!(user_subject(""), None);
        // 123 bytes pass through, one more does not fit; escapes count three each.
        assert!(user_subject(&"a".repeat(123)).is_some());
        assert_eq!(user_subject(&"a".repeat(124)), None);
        assert_eq!(user_subject(&"A".repeat(42)), None);
    }

    #[test]
    fn several_required_scopes_are_all_needed() {
        let agent = Identity::new("a", ["write".to_string(), "read".to_string()]);
        assert!(agent.has_scope("write") && agent.has_scope("read write"));
        assert!(!agent.has_scope("write delete") && !agent.has_scope("delete"));
    }

    #[test]
    fn scopes_are_sorted_and_deduplicated() {
        let id = Identity::new("a", ["write", "read", "write"].map(String::from));
        assert_eq!(id.scopes, ["read", "write"]);
        assert!(id.has_scope("read"));
        assert!(!id.has_scope("delete"));
        assert_eq!(id.scopes_header(), "read write");
    }

    #[test]
    fn subjects_are_restricted() {
        for ok in ["agent_api", "agent-b", "a.b", "a1"] {
            assert!(is_valid_subject(ok), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "a b",
            "a\nb",
            "ä",
            &"x".repeat(129),
            "A1",
            "rT-1",
        ] {
            assert!(!is_valid_subject(bad), "{bad:?}");
        }
        // An earlier registry's upper-case names can still be named (to remove them).
        assert!(is_subject_spelling("RT-1") && !is_subject_spelling("a/b"));
    }
}
