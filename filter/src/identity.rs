//! Who is calling, once authenticated.

/// An authenticated agent: its subject (the name of its corner of Vault) and its scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub subject: String,
    /// Sorted and without duplicates, so the forwarded header is canonical.
    pub scopes: Vec<String>,
}

impl Identity {
    pub fn new(subject: impl Into<String>, scopes: impl IntoIterator<Item = String>) -> Self {
        let mut scopes: Vec<String> = scopes.into_iter().collect();
        scopes.sort();
        scopes.dedup();
        Self {
            subject: subject.into(),
            scopes,
        }
    }

    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes
            .binary_search_by(|s| s.as_str().cmp(scope))
            .is_ok()
    }

    /// Scopes as forwarded upstream: space-separated, like an OAuth `scope` claim.
    pub fn scopes_header(&self) -> String {
        self.scopes.join(" ")
    }
}

/// A subject names a folder in Vault and travels in a header, so only a conservative
/// character set is accepted anywhere a subject is created.
pub fn is_valid_subject(subject: &str) -> bool {
    !subject.is_empty()
        && subject.len() <= 128
        && subject
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        && subject != "."
        && subject != ".."
}

#[cfg(test)]
mod tests {
    use super::*;

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
        for ok in ["agent_api", "agent-b", "a.b", "A1"] {
            assert!(is_valid_subject(ok), "{ok}");
        }
        for bad in ["", ".", "..", "a/b", "a b", "a\nb", "ä", &"x".repeat(129)] {
            assert!(!is_valid_subject(bad), "{bad:?}");
        }
    }
}
