//! The agent a Vault call acts for, as this layer takes it: its subject alone (the scopes and
//! key id of the identity are the faces' business, never Vault's).

use std::fmt;
use std::ops::Deref;

use vault_mcp_filter::Identity;
use vault_mcp_filter::identity::is_subject_spelling;

/// A subject spelled as the registry allows (letters, digits, `_ - .`, bounded length), so it
/// can stand as a segment of a Vault path, an entity alias or a key name. Made only from an
/// identity, whose subject was checked where it was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subject<'a>(&'a str);

/// An identity's subject was checked where the identity was made (the edge's assertion, the
/// standalone decision, the stdio command line, the console's sign-in).
impl<'a> From<&'a Identity> for Subject<'a> {
    fn from(identity: &'a Identity) -> Self {
        debug_assert!(is_subject_spelling(&identity.subject), "{identity:?}");
        Self(&identity.subject)
    }
}

impl Deref for Subject<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        self.0
    }
}

impl fmt::Display for Subject<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}
