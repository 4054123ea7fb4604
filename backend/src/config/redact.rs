//! How `check-config` prints settings that hold, or may hold, a secret: whether they are set.

use secrecy::SecretString;
use serde::Serializer;

/// A secret is shown as set or not, never its value.
pub(super) fn redacted<S: Serializer>(
    secret: &Option<SecretString>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_some(&secret.as_ref().map(|_| "set"))
}

/// The same for a setting that holds no secret when used as documented but could (a JWKS is
/// public keys, unless someone pastes a private one).
pub(super) fn redacted_text<S: Serializer>(
    text: &Option<String>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_some(&text.as_ref().map(|_| "set"))
}
